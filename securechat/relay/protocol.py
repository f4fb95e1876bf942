"""
The Twisted adapter between one TCP (or TLS) connection and L{RelayState}.

It owns what needs a transport or a clock: splitting received bytes into
lines, pacing a flooding peer by not reading from it, dropping a peer that
does not drain what we send, and the registration and ping timeouts.
Everything else is the state's business.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, List, Optional, Sequence, Union

from twisted.internet import interfaces
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.internet.protocol import Protocol
from twisted.python.failure import Failure
from zope.interface import implementer

from ..keepalive import DEAD, PING, Keepalive
from ..twistedtypes import TransportUser
from ..wire import MAX_CLIENT_TAGS, LineSplitter, TooLong, WireError, parseLine
from .limits import SendQueue, TokenBucket, TurnShare
from .sendnow import SendNow, directSender, releaseBuffers
from .state import Client, RelayState
from .textlog import QuickLogger

if TYPE_CHECKING:  # pragma: no cover
    from .factory import RelayFactory

#: How long a closing connection may take to flush before we cut it.
CLOSE_GRACE = 10.0
#: Lines split from received bytes at a time, at least (see L{RelayProtocol._split}):
#: empty lines cost no token, so a run of them still takes few passes.
SPLIT_LINES = 64
#: Lines of one peer handled in one go, at most (see L{RelayProtocol._drain}):
#: then the reactor takes a turn before the next ones.  With the flood bucket
#: opened, one read of short lines can hold thousands of commands; handled
#: in one go they stalled every other peer for as long (the soak's witness
#: saw 0.2-1.5 s during churn).  64 of the costliest (JOIN, NICK in many
#: rooms, a bad line's logged warning: tens of microseconds each) keep one
#: slice to a few milliseconds (128 let the witness's p99 in churn reach
#: 37-109 ms, 64 kept it at 13-41 ms: docs/performance.md), and a read of
#: chat lines rarely holds as many.
YIELD_LINES = 64
#: Lines a peer may have handled before yielding, at least, when many wait
#: for their slice (see L{TurnShare}): the others share L{YIELD_LINES} a
#: turn.  With a slice of 64 each, four fuzz peers made a turn of 4-13 ms
#: of CPU (up to two slices each: the one that was waiting, then a read),
#: and the soak's witness, which waits about two turns, saw 68-90 ms on a
#: machine that lent the relay a third of a core (docs/performance.md).
LEAST_LINES = 8
#: The connection's phases (L{RelayProtocol.phase}): reading; not reading
#: until the flood bucket refills, or until the next reactor turn after
#: its share of lines (L{TurnShare}, L{YIELD_LINES} at most); closing (ERROR written, or cut, or lost: nothing
#: more is read, and nothing more is queued).
OPEN = "open"
THROTTLED = "throttled"
CLOSING = "closing"
#: What a peer without an IP address (a C{unix:} socket) is called.
LOCAL_HOST = "localhost"
#: What L{RelayProtocol._pending} is while no split line waits: one shared
#: empty tuple.  A deque of its own cost every idle connection 768 bytes
#: (a quarter of what it cost the relay), for lines it held a moment a read.
NO_LINES: Sequence[Union[bytes, TooLong]] = ()


def _discard(data: bytes) -> None:
    """What a gone client's C{write} becomes: nothing is queued for it."""


def _nothing() -> None:
    """What a gone client's C{close} becomes: it is closed already."""


def peerHost(address: object) -> str:
    """
    The host of a peer's address.  A C{UNIXAddress} has no C{host} (and
    usually no name): it is L{LOCAL_HOST}, so a C{unix:} endpoint serves
    clients instead of failing in C{connectionMade}.
    """
    return getattr(address, "host", None) or LOCAL_HOST


@implementer(interfaces.IPushProducer)
class _SendQueueGuard:
    """
    Registered with the transport as a streaming producer so that Twisted
    tells us when the peer stops draining what we write (see L{SendQueue}).
    One per connection, so without a C{__dict__}.
    """

    __slots__ = ("sendq",)

    def __init__(self, sendq: SendQueue) -> None:
        self.sendq = sendq

    def pauseProducing(self) -> None:
        self.sendq.pause()

    def resumeProducing(self) -> None:
        self.sendq.resume()

    def stopProducing(self) -> None:
        """The connection is going; nothing to stop."""


class RelayProtocol(TransportUser, Keepalive, Protocol):
    """One client connection of the relay."""

    log = QuickLogger()
    factory: RelayFactory

    def __init__(self) -> None:
        self.client: Optional[Client] = None
        # Lines split from received bytes (see _split), the next at _pendingAt.
        self._pending = NO_LINES
        self._pendingAt = 0
        # Received bytes not split into lines yet (see _split), from _unreadAt.
        self._unread = b""
        self._unreadAt = 0
        self._outbox: List[bytes] = []
        self._sendNow: Optional[SendNow] = None
        #: L{OPEN}, L{THROTTLED} or L{CLOSING}.
        self.phase = OPEN
        self._resumeCall: Optional[IDelayedCall] = None
        #: Fires once, at the registration timeout; the keepalive's timer
        #: takes over then (see L{_registrationTimedOut}).
        self._registrationCall: Optional[IDelayedCall] = None
        self._keepaliveCall: Optional[IDelayedCall] = None
        self._abortCall: Optional[IDelayedCall] = None

    # Connection life.

    def connectionMade(self) -> None:
        factory = self.factory
        settings = factory.settings
        self.clock: IReactorTime = factory.clock
        now = self.clock.seconds()
        self.keepaliveInterval = settings.pingInterval
        self.keepaliveTimeout = settings.pingTimeout
        self.lastHeard = now
        self.host = peerHost(self.tcp.getPeer())
        self.splitter = LineSplitter(factory.state.config.maxLine, MAX_CLIENT_TAGS)
        self.bucket = TokenBucket(settings.floodBurst, settings.floodRate, now)
        self.sendq = SendQueue(settings.sendq)
        self.tcp.registerProducer(_SendQueueGuard(self.sendq), True)
        noDelay = getattr(self.transport, "setTcpNoDelay", None)
        if noDelay is not None:
            noDelay(True)
        self._sendNow = directSender(self.transport)
        self.client = Client(self._write, self._close, self.host)
        self._registrationCall = self.clock.callLater(
            settings.registrationTimeout, self._registrationTimedOut
        )
        self.log.info("connect from {host}", host=self.host)

    def connectionLost(self, reason: Optional[Failure] = None) -> None:
        for call in (self._registrationCall, self._keepaliveCall, self._resumeCall, self._abortCall):
            if call is not None and call.active():
                call.cancel()
        self._registrationCall = self._keepaliveCall = self._resumeCall = self._abortCall = None
        self.factory.turnShare.done(self)
        self.phase = CLOSING
        self._pending, self._pendingAt = NO_LINES, 0
        self._unread = b""
        del self._outbox[:]
        client = self.client
        if client is not None:
            why = client.quitReason or "Connection closed"
            self.factory.state.remove(client, why)
            self.log.info(
                "disconnect {nick}@{host}: {reason}",
                nick=client.nick or "*",
                host=self.host,
                reason=why,
            )
            # The client's callbacks are our bound methods: a cycle (us ->
            # client -> us) that only the cyclic GC would reclaim, and with
            # us the transport and the up to SendQ + 64 KiB it still holds
            # for a reader cut for not reading.  Break it now.
            client.write = _discard
            client.close = _nothing
        # The direct sender closes over the transport.
        self._sendNow = None
        # And whoever may still hold us or the transport (a log observer
        # keeping events, whose source is this protocol) keeps no buffers.
        releaseBuffers(self.transport)
        self.factory.connectionClosed(self)

    # Reading.

    def dataReceived(self, data: bytes) -> None:
        # Not activity yet: only a complete line is (see _split), so a peer
        # that trickles a line it never finishes is pinged like a silent one.
        phase = self.phase
        if phase is CLOSING:
            return
        if self._unread:
            self._unread = self._unread[self._unreadAt:] + data
            self._unreadAt = 0
        else:
            self._unread = data
        if phase is OPEN:
            self._drain()

    def _split(self, now: float) -> None:
        """
        Split into lines only about what the bucket can pay for now (at
        least L{SPLIT_LINES}); leave the rest as received bytes.  One read
        may hold tens of thousands of short lines, minutes of reading at the
        flood rate: held as bytes, they cost their size, where split lines
        would cost many times it for as long as the reading takes.
        """
        data, start = self._unread, self._unreadAt
        allowed = max(self.bucket.available(now), SPLIT_LINES)
        if allowed > SPLIT_LINES and data.count(b"\n", start) <= allowed:
            cut = -1  # a generous bucket pays for all of it: one pass in C
        else:
            cut = start - 1
            for _ in range(allowed):
                cut = data.find(b"\n", cut + 1)
                if cut < 0:
                    break
        if cut < 0:
            self._unread, self._unreadAt = b"", 0
            lines = self.splitter.feed(data[start:] if start else data)
        else:
            self._unreadAt = cut + 1
            lines = self.splitter.feed(data[start : cut + 1])
        if lines:
            # The idle check's activity: a complete line (an over-long one
            # included), never bytes of a line still unfinished.
            self.lastHeard = now  # Keepalive.heard, inline: once per read
        # Called only once the lines before are all handled: these replace them.
        self._pending, self._pendingAt = lines, 0

    def _drain(self) -> None:
        """
        Handle received lines while the peer has tokens, its share of a
        turn at most (L{TurnShare}: L{YIELD_LINES} when no other peer waits)
        before the reactor gets a turn; else stop reading.
        """
        share: TurnShare = self.factory.turnShare
        state = self.factory.state
        client = self.client
        assert client is not None, "connectionMade made it"
        bucket = self.bucket
        pending, at = self._pending, self._pendingAt
        messageLines = state.messageLines
        now = self.clock.seconds()
        budget = share.slice()
        while self.phase is not CLOSING:
            if at >= len(pending):
                if len(self._unread) <= self._unreadAt:
                    self._unread, self._unreadAt = b"", 0
                    self._pending, self._pendingAt = NO_LINES, 0
                    return
                self._split(now)
                pending, at = self._pending, 0
                continue
            if budget:
                # Nearly every line: a message to one target, routed on
                # bytes, as many in a row as the budget and the bucket
                # allow, in one call (which writes nothing that closes).
                try:
                    done = messageLines(client, pending, at, min(len(pending), at + budget), bucket, now)
                except Exception as exc:  # the protocol boundary: nothing escapes
                    self._bug(client, exc)
                    return
                if done > at:
                    budget -= done - at
                    at = done
                    self._pendingAt = at
                    if at >= len(pending) or not budget:
                        continue
            # A line of another shape (messageLines stopped at it), an
            # empty one, or one the bucket cannot pay for.
            item = pending[at]
            if item == b"":
                at += 1
                self._pendingAt = at
                continue
            if not budget:
                share.wait(self)
                self._pause(0.0)  # the others' turn; ours goes on in the next
                return
            if not bucket.take(now):
                delay = bucket.waitTime(now)
                self.log.debug("throttling {host} for {delay:.3f}s", host=self.host, delay=delay)
                self._pause(delay)
                return
            budget -= 1
            at += 1
            self._pendingAt = at
            try:
                self._lineReceived(state, client, item)
            except Exception as exc:  # the protocol boundary: nothing escapes
                self._bug(client, exc)
                return

    def _bug(self, client: Client, exc: Exception) -> None:
        """A line raised: log it, and drop that client (never the relay)."""
        self.log.failure(
            "bug handling a line from {host}; dropping that client",
            Failure(exc),
            host=self.host,
        )
        client.quitReason = "Internal error"
        self._abort()

    def _lineReceived(self, state: RelayState, client: Client, item: Union[bytes, TooLong]) -> None:
        if isinstance(item, TooLong):
            self.log.warn(
                "line too long from {host} ({size} bytes), dropped",
                host=self.host,
                size=item.size,
            )
            state.inputTooLong(client, item.tags)
            return
        try:
            message = parseLine(item)
        except WireError as e:
            self.log.warn("bad line from {host}: {error}", host=self.host, error=str(e))
            state.badLine(client, e.code, str(e))
            return
        state.handle(client, message)

    def _pause(self, delay: float) -> None:
        """Stop reading, and handling what was read, for C{delay} seconds."""
        if self.phase is OPEN:
            self.phase = THROTTLED
            self.tcp.pauseProducing()
        self._resumeCall = self.clock.callLater(delay, self._unthrottle)

    def _unthrottle(self) -> None:
        self._resumeCall = None
        self.factory.turnShare.done(self)
        if self.phase is THROTTLED:
            self.phase = OPEN
        self._drain()
        if self.phase is OPEN:
            self.tcp.resumeProducing()

    # Writing.

    def _write(self, data: bytes) -> None:
        """
        Queue C{data} for this peer.  The factory flushes every queue once per
        reactor turn, so a peer that many messages reach in one turn costs one
        C{transport.write}, not one per message: the fan-out hot path.
        """
        outbox = self._outbox
        if not outbox:
            if self.phase is CLOSING:
                return
            factory = self.factory
            factory._dirty.append(self)  # wantsFlush, inline: once per peer and turn
            if factory._flushCall is None:
                factory._scheduleFlush()
        outbox.append(data)

    def flush(self) -> None:
        """Hand what is queued to the transport; drop a peer past its SendQ."""
        outbox = self._outbox
        if not outbox:
            return
        data = outbox[0] if len(outbox) == 1 else b"".join(outbox)
        outbox.clear()
        sendq = self.sendq
        # Only bytes written while the transport is already full count: the
        # write that fills it (and makes Twisted pause us) is held by the
        # transport's own buffer, however big one turn's output was, so a
        # healthy reader that got a large burst is not taken for a slow one.
        blocked = sendq.blocked
        if self._sendNow is not None and not blocked:
            data = self._sendNow(data)
            if not data:
                return
        self.tcp.write(data)
        if blocked and not sendq.written(len(data)):
            client = self.client
            assert client is not None, "connectionMade made it"
            self.log.warn(
                "SendQ exceeded for {nick}@{host} ({backlog} bytes), dropping",
                nick=client.nick or "*",
                host=self.host,
                backlog=sendq.backlog,
            )
            client.quitReason = "SendQ exceeded"
            self.tcp.write(b"ERROR :SendQ exceeded\r\n")
            # It does not read: gone at once, so its queue is freed now and
            # its peers see it quit now.
            self._abort()

    def _close(self) -> None:
        """Flush what was written, then close; cut the line if that stalls."""
        if self.phase is CLOSING:
            return
        self.flush()
        if self.phase is CLOSING:  # the flush passed the SendQ and aborted
            return
        self.phase = CLOSING
        self._pending, self._pendingAt = NO_LINES, 0
        self._unread = b""
        self.tcp.loseConnection()
        self._abortCall = self.clock.callLater(CLOSE_GRACE, self._abort)

    def _abort(self) -> None:
        self.phase = CLOSING
        del self._outbox[:]
        call, self._abortCall = self._abortCall, None
        if call is not None and call.active():
            call.cancel()
        self.tcp.abortConnection()

    # Timers.

    def _registrationTimedOut(self) -> None:
        """Close an unregistered peer; start the keepalive for a registered one."""
        self._registrationCall = None
        if self.phase is CLOSING:
            # Closing already (a QUIT, an ERROR): the client's phase is
            # CLOSING too, which is not "unregistered"; its reason stands.
            return
        client = self.client
        assert client is not None, "connectionMade made it"
        if client.registered:
            self._checkIdle()
            return
        self.log.info("registration timeout for {host}", host=self.host)
        client.quitReason = "Registration timed out"
        self.factory.state.error(client, "Closing Link: %s (Registration timed out)" % (self.host,))

    def _checkIdle(self) -> None:
        """One keepalive timer per connection, re-armed here (see L{Keepalive})."""
        now = self.clock.seconds()
        # While throttled we are not reading from it: its lines (a PONG
        # among them) wait in its socket because of our pause, not its silence.
        action, delay = self.check(now, listening=self.phase is not THROTTLED)
        if action == DEAD:
            self._keepaliveCall = None
            client = self.client
            assert client is not None, "connectionMade made it"
            client.quitReason = "Ping timeout: %d seconds" % (int(now - self.lastHeard),)
            self.factory.state.error(client, "Closing Link: %s (%s)" % (self.host, client.quitReason))
            return
        if action == PING:
            server = self.factory.state.config.serverName
            self._write(b"PING :" + server.encode("utf-8") + b"\r\n")
        self._keepaliveCall = self.clock.callLater(delay, self._checkIdle)


class RefusingProtocol(Protocol):
    """Says why a connection over the limits is refused, then closes it."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def connectionMade(self) -> None:
        transport = self.transport
        assert transport is not None, "connectionMade is called with one"
        transport.write(b"ERROR :Closing Link: " + self.reason.encode("utf-8") + b"\r\n")
        transport.loseConnection()
