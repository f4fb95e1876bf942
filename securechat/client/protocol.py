"""
The Twisted adapter between one connection and a L{ClientSession}.

It owns only what needs a transport: splitting received bytes into lines
(with the wire module's bounded splitter, so one over-long line from a
hostile server costs only itself) and writing what the session sends.
"""

from __future__ import annotations

from typing import Optional

from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from ..wire import LineSplitter, TooLong
from .session import ClientSession

#: Lines we accept from a server: its LINELEN plus the prefix it adds, with
#: room to spare for servers that advertise more; a hard bound all the same.
RECEIVE_MAX_LINE = 16 * 1024


class IRCClientProtocol(Protocol):
    """One connection of a L{ClientSession} to an IRC server."""

    log = Logger()

    def __init__(self, session: ClientSession, reconnecting: bool = True) -> None:
        self.session = session
        self.reconnecting = reconnecting
        self.splitter = LineSplitter(RECEIVE_MAX_LINE)
        self._gone = False

    def connectionMade(self) -> None:
        noDelay = getattr(self.transport, "setTcpNoDelay", None)
        if noDelay is not None:
            noDelay(True)
        self.session.connectionMade(self._write)

    def _write(self, data: bytes) -> None:
        if not self._gone:
            self.transport.write(data)

    def dataReceived(self, data: bytes) -> None:
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
        why = reason.getErrorMessage() if reason is not None else "connection closed"
        self.session.connectionLost(why, self.reconnecting)

    def loseConnection(self) -> None:
        self.transport.loseConnection()


class IRCClientFactory(Factory):
    """Builds protocols that share one session (it survives reconnects)."""

    def __init__(self, session: ClientSession) -> None:
        self.session = session
        self.reconnecting = True
        self.current: Optional[IRCClientProtocol] = None

    def buildProtocol(self, addr: object) -> IRCClientProtocol:
        protocol = IRCClientProtocol(self.session, self.reconnecting)
        protocol.factory = self
        self.current = protocol
        return protocol
