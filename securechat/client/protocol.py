"""
The Twisted adapter between one connection and a L{ClientSession}.

It owns only what needs a transport: splitting received bytes into lines
(with the wire module's bounded splitter, so one over-long line from a
hostile server costs only itself) and writing what the session sends.
"""

from __future__ import annotations

from typing import Optional

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from ..wire import LineSplitter, TooLong
from .session import RECEIVE_MAX_LINE, ClientSession
#: A server silent this long gets a PING from us...
IDLE_PING = 120.0
#: ...and if still silent this much later, the connection is presumed dead
#: and cut, so that the ClientService reconnects instead of waiting forever
#: on a half-open TCP connection.
PING_TIMEOUT = 60.0
PING_TOKEN = "securechat-keepalive"


class IRCClientProtocol(Protocol):
    """One connection of a L{ClientSession} to an IRC server."""

    log = Logger()

    def __init__(
        self,
        session: ClientSession,
        reconnecting: bool = True,
        clock: Optional[IReactorTime] = None,
    ) -> None:
        self.session = session
        self.reconnecting = reconnecting
        self.clock = clock
        self.splitter = LineSplitter(RECEIVE_MAX_LINE)
        self._gone = False
        self._lastHeard = 0.0
        self._pingedAt: Optional[float] = None
        self._timer: Optional[IDelayedCall] = None

    def connectionMade(self) -> None:
        if self.clock is None:
            from twisted.internet import reactor

            self.clock = reactor  # type: ignore[assignment]
        noDelay = getattr(self.transport, "setTcpNoDelay", None)
        if noDelay is not None:
            noDelay(True)
        self._lastHeard = self.clock.seconds()
        self._timer = self.clock.callLater(IDLE_PING, self._checkAlive)
        self.session.connectionMade(self._write)

    def _checkAlive(self) -> None:
        """One timer per connection, re-armed here: a busy connection costs nothing per line."""
        now = self.clock.seconds()
        if self._pingedAt is not None and self._lastHeard < self._pingedAt:
            if now - self._pingedAt >= PING_TIMEOUT:
                self._timer = None
                self.log.warn("server silent for {s:.0f} s; reconnecting", s=now - self._lastHeard)
                self.transport.abortConnection()
                return
            self._timer = self.clock.callLater(PING_TIMEOUT - (now - self._pingedAt), self._checkAlive)
            return
        self._pingedAt = None
        idle = now - self._lastHeard
        if idle >= IDLE_PING:
            self._pingedAt = now
            self._write(b"PING :" + PING_TOKEN.encode("ascii") + b"\r\n")
            self._timer = self.clock.callLater(PING_TIMEOUT, self._checkAlive)
        else:
            self._timer = self.clock.callLater(IDLE_PING - idle, self._checkAlive)

    def _write(self, data: bytes) -> None:
        if not self._gone:
            self.transport.write(data)

    def dataReceived(self, data: bytes) -> None:
        self._lastHeard = self.clock.seconds()
        for item in self.splitter.feed(data):
            if self._gone:
                return
            if isinstance(item, TooLong):
                self.log.warn("server sent a line of {size} bytes; dropped", size=item.size)
                continue
            if not item:
                continue
            try:
                self.session.lineReceived(item)
            except Exception as exc:  # the protocol boundary: one bad line must not kill us
                self.log.failure("bug handling a server line", Failure(exc))

    def connectionLost(self, reason: Optional[Failure] = None) -> None:
        self._gone = True
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        why = reason.getErrorMessage() if reason is not None else "connection closed"
        self.session.connectionLost(why, self.reconnecting)

    def loseConnection(self) -> None:
        self.transport.loseConnection()


class IRCClientFactory(Factory):
    """Builds protocols that share one session (it survives reconnects)."""

    def __init__(self, session: ClientSession, clock: Optional[IReactorTime] = None) -> None:
        self.session = session
        self.clock = clock
        self.reconnecting = True
        self.current: Optional[IRCClientProtocol] = None

    def buildProtocol(self, addr: object) -> IRCClientProtocol:
        protocol = IRCClientProtocol(self.session, self.reconnecting, self.clock)
        protocol.factory = self
        self.current = protocol
        return protocol
