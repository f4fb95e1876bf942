"""
The proxy's Twisted adapters: the server side the IRC client connects to
(L{DownstreamFactory}), and, for each IRC client, one connection to the
real server made with the client's own adapter
(L{securechat.client.adapters.protocol.IRCClientProtocol}: its bounded send queue,
its keepalive, its pause), driving the core's upstream side.

One IRC client at a time: a second connection is told so and closed (a
bouncer serving several clients of one user would have to show each
client the others' sent messages; not done here).  What either side does
not read is bounded: while the IRC client does not drain what we write,
the server is not read (its data waits in its socket); what we write
meanwhile counts against L{CLIENT_SENDQ}, past which the client is cut.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, cast

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from ..client.adapters.drain import Drain
from ..client.adapters.protocol import IRCClientFactory, IRCClientProtocol
from ..client.core.session import NotConnected
from ..wire import MAX_TAGS, LineSplitter, TooLong, formatMessage
from .core import Links, ProxyCore

#: Lines from the IRC client: RFC 1459's 512 bytes, plus tags as IRCv3 allows.
CLIENT_MAX_LINE = 512
#: Bytes we may write to an IRC client that stopped reading (our own
#: notices: the server is not read meanwhile) before it is cut.
CLIENT_SENDQ = 1024 * 1024
#: Why the server is not read while the IRC client is backed up.
CLIENT_BACKED_UP = "irc-client"
ONE_CLIENT = "Closing link: this securechat proxy serves one IRC client at a time"


class DownstreamProtocol(Protocol):
    """One IRC client's connection to the proxy."""

    log = Logger()

    def __init__(self, factory: DownstreamFactory) -> None:
        self.owner = factory
        self.splitter = LineSplitter(CLIENT_MAX_LINE, MAX_TAGS)
        self.refused = False
        self.gone = False
        self.writesBlocked = False
        self.backlog = 0

    @property
    def _transport(self) -> Any:
        """The TCP/TLS transport: a producer's consumer, with abortConnection (not plain ITransport)."""
        return self.transport

    def connectionMade(self) -> None:
        if self.owner.active is not None:
            self.refused = True
            self._transport.write(formatMessage("ERROR", (ONE_CLIENT,)))
            self._transport.loseConnection()
            return
        self.owner.active = self
        self._transport.registerProducer(Drain(self._blocked), True)
        self.log.info("IRC client connected from {peer}", peer=str(self._transport.getPeer()))
        self.owner.core.clientConnected(self.write)

    def dataReceived(self, data: bytes) -> None:
        for item in self.splitter.feed(data):
            if self.gone or self.refused:
                return
            if isinstance(item, TooLong):
                # Dropped whole: never a cut message going out in clear.
                self.owner.core.tell("a line of %d bytes from your IRC client was too long: not sent" % (item.size,))
                continue
            if not item:
                continue
            try:
                self.owner.core.clientLine(item)
            except Exception as exc:  # the protocol boundary: one bad line must not kill us
                self.log.failure("bug handling an IRC client line", Failure(exc))

    def write(self, data: bytes) -> None:
        if self.gone:
            return
        if self.writesBlocked:
            if self.backlog + len(data) > CLIENT_SENDQ:
                self.log.warn("the IRC client reads nothing: disconnecting it")
                self.gone = True
                self._transport.abortConnection()
                return
            self.backlog += len(data)
        self._transport.write(data)

    def _blocked(self, blocked: bool) -> None:
        if blocked == self.writesBlocked:
            return
        self.writesBlocked = blocked
        self.backlog = 0
        upstream = self.owner.upstreamProtocol()
        if upstream is not None:
            if blocked:
                upstream.pauseReading(CLIENT_BACKED_UP)
            else:
                upstream.resumeReading(CLIENT_BACKED_UP)

    def close(self, reason: str) -> None:
        self.gone = True
        self._transport.loseConnection()

    def connectionLost(self, reason: Optional[Failure] = None) -> None:
        self.gone = True
        if self.refused:
            return
        self.log.info("IRC client left")
        if self.owner.active is self:
            self.owner.active = None
        self.owner.core.clientLost()
        self.owner.closeUpstream()


class DownstreamFactory(Factory):
    """Listens for the IRC client; connects to the server for it."""

    log = Logger()

    def __init__(
        self, makeCore: Callable[[Links], ProxyCore], reactor: Any, endpoint: IStreamClientEndpoint
    ) -> None:
        self.reactor = reactor
        self.endpoint = endpoint
        self.noisy = False
        self.active: Optional[DownstreamProtocol] = None
        self.upstream: Optional[IRCClientFactory] = None
        self._connecting: Optional[Deferred] = None
        #: The core, built with this factory as its links to the connections.
        self.core = makeCore(self)

    def openUpstream(self) -> None:
        """L{Links}: the core asks for the server connection."""
        self.connectUpstream()

    def buildProtocol(self, addr: object) -> DownstreamProtocol:
        protocol = DownstreamProtocol(self)
        protocol.factory = self
        return protocol

    def upstreamProtocol(self) -> Optional[IRCClientProtocol]:
        return self.upstream.current if self.upstream is not None else None

    def connectUpstream(self) -> None:
        factory = IRCClientFactory(cast(Any, self.core.upstream), self.reactor)
        factory.reconnecting = False
        factory.noisy = False
        self.upstream = factory
        if self.active is not None and self.active.writesBlocked:
            factory.pauseReading()
        connecting = self.endpoint.connect(factory)
        self._connecting = connecting

        def connected(protocol: Any) -> None:
            self._connecting = None

        def failed(reason: Failure) -> None:
            self._connecting = None
            if self.upstream is factory:
                self.upstream = None
            if self.active is not None:
                why = reason.getErrorMessage()
                self.log.warn("cannot reach the server: {why}", why=why)
                self.active.write(
                    formatMessage("ERROR", ("Closing link: securechat proxy cannot reach the server: " + why,))
                )
                self.active.close(why)

        connecting.addCallbacks(connected, failed)

    def closeClient(self, reason: str) -> None:
        if self.active is not None:
            self.active.close(reason)

    def closeUpstream(self) -> None:
        if self._connecting is not None:
            connecting, self._connecting = self._connecting, None
            connecting.cancel()
        factory, self.upstream = self.upstream, None
        if factory is None or factory.current is None:
            return
        try:
            self.core.session.quit("IRC client left the securechat proxy")
        except NotConnected:
            pass
        factory.current.loseConnection()
