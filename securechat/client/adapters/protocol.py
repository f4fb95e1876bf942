"""
The Twisted adapter between one connection and a L{ClientSession}.

It owns only what needs a transport: splitting received bytes into lines
(with the wire module's bounded splitter, so one over-long line from a
hostile server costs only itself), writing what the session sends, and
bounding what a server that does not read can make us hold (L{SENDQ}).
"""

from __future__ import annotations

from typing import Optional, Set

from twisted.internet.interfaces import IDelayedCall, IPushProducer, IReactorTime
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from ...keepalive import DEAD, PING, Keepalive
from ...twistedtypes import TransportUser, defaultReactor
from ...wire import LineSplitter, TooLong
from ..core.session import RECEIVE_MAX_LINE, ClientSession

#: A server silent this long gets a PING from us...
IDLE_PING = 120.0
#: ...and if still silent this much later, the connection is presumed dead
#: and cut, so that the ClientService reconnects instead of waiting forever
#: on a half-open TCP connection.
PING_TIMEOUT = 60.0
PING_TOKEN = "securechat-keepalive"
#: Bytes we may queue for a server beyond the transport's own buffer (64
#: KiB) once it stops reading, like the relay's SendQ: past it, we
#: disconnect.  A server that sends PINGs and never reads cannot make us
#: queue PONGs without limit.
SENDQ = 1024 * 1024
#: A server that has drained nothing of what we sent for this long is cut:
#: what we send meanwhile (messages the user believes sent) goes nowhere.
SEND_STALL = 120.0
#: Why reading from the server is paused: the user interface cannot keep up
#: (JSON mode's stdout, the console's terminal; see L{IRCClientFactory}).
SLOW_CONSUMER = "consumer"
#: The connection's phases (L{IRCClientProtocol.phase}): open; cut by us
#: (the server stalled or overflowed our send queue: nothing more is read
#: or written); lost.
OPEN = "open"
CUT = "cut"
LOST = "lost"


@implementer(IPushProducer)
class _SendQueueGuard:
    """
    Registered with the transport as a streaming producer, so that Twisted
    tells us when the server stops draining what we write.
    """

    def __init__(self, protocol: IRCClientProtocol) -> None:
        self.protocol = protocol

    def pauseProducing(self) -> None:
        self.protocol._writesBlocked()

    def resumeProducing(self) -> None:
        self.protocol._writesDrained()

    def stopProducing(self) -> None:
        pass


class IRCClientProtocol(TransportUser, Keepalive, Protocol):
    """One connection of a L{ClientSession} to an IRC server."""

    keepaliveInterval = IDLE_PING
    keepaliveTimeout = PING_TIMEOUT

    log = Logger()

    def __init__(
        self,
        session: ClientSession,
        reconnecting: bool = True,
        clock: Optional[IReactorTime] = None,
        sendq: int = SENDQ,
        sendStall: float = SEND_STALL,
    ) -> None:
        self.session = session
        self.reconnecting = reconnecting
        self.clock = defaultReactor(clock)
        self.splitter = LineSplitter(RECEIVE_MAX_LINE)
        #: L{OPEN}, L{CUT} or L{LOST}.
        self.phase = OPEN
        self._timer: Optional[IDelayedCall] = None
        #: The send queue: bytes written since the transport's buffer filled.
        self.sendq = sendq
        self.sendStall = sendStall
        self.backlog = 0
        self.writesBlocked = False
        self._stallTimer: Optional[IDelayedCall] = None
        self._pausedBy: Set[str] = set()
        self._cutReason: Optional[str] = None
        #: When the session's send queue lets its next message go.
        self._paceTimer: Optional[IDelayedCall] = None

    def connectionMade(self) -> None:
        noDelay = getattr(self.transport, "setTcpNoDelay", None)
        if noDelay is not None:
            noDelay(True)
        self.heard(self.clock.seconds())
        self._timer = self.clock.callLater(IDLE_PING, self._checkAlive)
        self.tcp.registerProducer(_SendQueueGuard(self), True)
        factory = getattr(self, "factory", None)
        if factory is not None and factory.consumerPaused:
            self.pauseReading(SLOW_CONSUMER)
        self.session.connectionMade(self._write)
        self.session.pacedBy(self._schedulePace)

    # The session's send queue (see securechat.client.core.pacing).

    def _schedulePace(self, delay: float) -> None:
        """Call the session's L{ClientSession.releasePaced} in C{delay} seconds (one timer)."""
        if self.phase is not OPEN:
            return
        if self._paceTimer is not None and self._paceTimer.active():
            self._paceTimer.cancel()
        self._paceTimer = self.clock.callLater(delay, self._releasePaced)

    def _releasePaced(self) -> None:
        self._paceTimer = None
        if self.phase is OPEN:
            self.session.releasePaced()

    # Flow control: bounded memory whatever the server does.

    def pauseReading(self, why: str) -> None:
        """Stop reading from the server (for C{why}) until L{resumeReading}."""
        if not self._pausedBy and self.phase is OPEN:
            self.tcp.pauseProducing()
        self._pausedBy.add(why)

    def resumeReading(self, why: str) -> None:
        """Read again, once nothing else holds reading paused."""
        if why not in self._pausedBy:
            return
        self._pausedBy.discard(why)
        if not self._pausedBy and self.phase is OPEN:
            # Not silent, only unheard while we did not listen.
            self.heard(self.clock.seconds())
            self.tcp.resumeProducing()

    @property
    def readingPaused(self) -> bool:
        return bool(self._pausedBy)

    def _writesBlocked(self) -> None:
        """
        The transport's buffer is full (or, on TLS, the handshake is not
        done yet): count what we still write, and give the server
        L{SEND_STALL} seconds to drain.  Reading goes on, so a TLS handshake
        completes and the keepalive hears the server; what we read makes
        us write (a PONG per PING), and L{_write} cuts past L{SENDQ}.
        """
        if self.phase is not OPEN or self.writesBlocked:
            # Twisted says it again on every write while its buffer is full:
            # the count goes on from the first time.
            return
        self.writesBlocked = True
        self.backlog = 0
        if self._stallTimer is None:
            self._stallTimer = self.clock.callLater(self.sendStall, self._stalled)
        # The server reads us slower than our pace says: what waits stays unsealed.
        self.session.setDrainBlocked(True)

    def _writesDrained(self) -> None:
        self.writesBlocked = False
        self.backlog = 0
        if self._stallTimer is not None:
            if self._stallTimer.active():
                self._stallTimer.cancel()
            self._stallTimer = None
        if self.phase is OPEN:
            self.session.setDrainBlocked(False)

    def _stalled(self) -> None:
        self._stallTimer = None
        self._cut("the server read nothing we sent for %d s (send queue stalled)" % (self.sendStall,))

    def _cut(self, reason: str) -> None:
        """Drop the connection now (nothing queued would ever leave), saying why."""
        if self.phase is not OPEN:
            return
        self.log.warn("disconnecting: {reason}", reason=reason)
        self._cutReason = reason
        self.pauseReading("cut")  # not one more byte: the rest of this read is not handled either
        self.phase = CUT
        self.tcp.abortConnection()

    def _checkAlive(self) -> None:
        """One timer per connection, re-armed here (see L{Keepalive})."""
        now = self.clock.seconds()
        # While we are not listening (see pauseReading), silence proves nothing.
        action, delay = self.check(now, listening=not self._pausedBy)
        if action == DEAD:
            self._timer = None
            self.log.warn("server silent for {s:.0f} s; reconnecting", s=now - self.lastHeard)
            self.tcp.abortConnection()
            return
        if action == PING:
            self._write(b"PING :" + PING_TOKEN.encode("ascii") + b"\r\n")
        self._timer = self.clock.callLater(delay, self._checkAlive)

    def _write(self, data: bytes) -> None:
        if self.phase is not OPEN:
            return
        if self.writesBlocked:
            if self.backlog + len(data) > self.sendq:
                self._cut(
                    "send queue exceeded: the server is not reading (over %d bytes waiting)" % (self.sendq,)
                )
                return
            self.backlog += len(data)
        self.tcp.write(data)
        if data.startswith(b"QUIT"):
            self._leaving()

    def _leaving(self) -> None:
        """
        We said QUIT: the close follows.  Unregister our producer first: a
        registered one keeps a TLS transport from sending its close_notify,
        and the close would wait until the server gave up on us.  A server
        that never drains is still cut by the stall timer.
        """
        if getattr(self.transport, "producer", None) is not None:
            self.tcp.unregisterProducer()

    def dataReceived(self, data: bytes) -> None:
        self.heard(self.clock.seconds())
        for item in self.splitter.feed(data):
            if self.phase is not OPEN:
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
        self.phase = LOST
        for timer in (self._timer, self._stallTimer, self._paceTimer):
            if timer is not None and timer.active():
                timer.cancel()
        self._timer = self._stallTimer = self._paceTimer = None
        if self._cutReason is not None:
            why = self._cutReason
        else:
            why = reason.getErrorMessage() if reason is not None else "connection closed"
        self.session.connectionLost(why, self.reconnecting)

    def loseConnection(self) -> None:
        self._leaving()
        self.tcp.loseConnection()


@implementer(IPushProducer)
class SlowConsumerGuard:
    """
    Register with the user interface's output (the console's terminal) as a
    streaming producer: while that output is backed up, the factory's
    connections are not read, so what the server sends waits in its socket.
    """

    def __init__(self, factory: IRCClientFactory) -> None:
        self.factory = factory

    def pauseProducing(self) -> None:
        self.factory.pauseReading()

    def resumeProducing(self) -> None:
        self.factory.resumeReading()

    def stopProducing(self) -> None:
        pass


class IRCClientFactory(Factory):
    """Builds protocols that share one session (it survives reconnects)."""

    def __init__(
        self,
        session: ClientSession,
        clock: Optional[IReactorTime] = None,
        sendq: int = SENDQ,
        sendStall: float = SEND_STALL,
    ) -> None:
        self.session = session
        self.clock = clock
        self.reconnecting = True
        self.current: Optional[IRCClientProtocol] = None
        self.sendq = sendq
        self.sendStall = sendStall
        #: Whether the user interface asked us to stop reading (it is backed up).
        self.consumerPaused = False

    def buildProtocol(self, addr: object) -> IRCClientProtocol:
        protocol = IRCClientProtocol(self.session, self.reconnecting, self.clock, self.sendq, self.sendStall)
        protocol.factory = self
        self.current = protocol
        return protocol

    def pauseReading(self) -> None:
        """
        The user interface cannot keep up (JSON mode's stdout is full): stop
        reading from the server, on this connection and the next ones, so
        that what the server sends waits in its socket, not in our memory.
        """
        self.consumerPaused = True
        if self.current is not None:
            self.current.pauseReading(SLOW_CONSUMER)

    def resumeReading(self) -> None:
        """The user interface drained: read from the server again."""
        self.consumerPaused = False
        if self.current is not None:
            self.current.resumeReading(SLOW_CONSUMER)
