"""
The relay's factory: one L{RelayState} shared by every connection, the
connection-level limits, and the clock the timers run on.
"""

from __future__ import annotations

from typing import Dict, List, Optional

import attr
from twisted.internet.interfaces import IAddress, IDelayedCall, IReactorTime
from twisted.internet.protocol import Factory, Protocol

from ..twistedtypes import defaultReactor
from .limits import TurnShare
from .memory import Trimmer, findTrimmer
from .protocol import LEAST_LINES, YIELD_LINES, RefusingProtocol, RelayProtocol, peerHost
from .state import RelayConfig, RelayState
from .textlog import QuickLogger

#: The namespace of the state's events: what it was when the state logged
#: them itself, so an operator's filters keep working.
STATE_LOG_NAMESPACE = "securechat.relay.state.RelayState"


@attr.s(frozen=True, slots=True, auto_attribs=True)
class ConnectionSettings:
    """Per-connection limits; defaults documented in docs/operations.md."""

    floodBurst: int = 40
    floodRate: float = 8.0
    sendq: int = 1024 * 1024
    maxClients: int = 4096
    maxPerIP: int = 32
    registrationTimeout: float = 30.0
    pingInterval: float = 120.0
    pingTimeout: float = 60.0
    #: Least seconds between two flushes; 0 flushes at the end of every
    #: reactor turn (see L{RelayFactory._scheduleFlush}).
    flushInterval: float = 0.0


#: Seconds after a connection that held a backlog is lost before free memory
#: is handed back to the system: the cuts of a wave of slow readers come
#: together, and one trim serves them all.
TRIM_DELAY = 1.0


class RelayFactory(Factory):
    """Builds a L{RelayProtocol} per connection, refusing those over the limits."""

    log = QuickLogger()
    # Twisted's stubs make Factory generic in the one protocol type it
    # builds; this one also builds RefusingProtocol, which no parameter names.
    protocol = RelayProtocol  # type: ignore[assignment]

    def __init__(
        self,
        config: RelayConfig = RelayConfig(),
        settings: ConnectionSettings = ConnectionSettings(),
        clock: Optional[IReactorTime] = None,
    ) -> None:
        self.clock = clock = defaultReactor(clock)
        self.settings = settings
        self.state = RelayState(
            config, now=clock.seconds, onPending=self._scheduleFlush, log=QuickLogger(namespace=STATE_LOG_NAMESPACE)
        )
        self.connections: Dict[RelayProtocol, str] = {}
        self.perHost: Dict[str, int] = {}
        self._dirty: List[RelayProtocol] = []
        self._flushCall: Optional[IDelayedCall] = None
        self._lastFlush = 0.0
        self.trimmer: Optional[Trimmer] = findTrimmer()
        self._trimCall: Optional[IDelayedCall] = None
        #: The peers waiting for their next slice of lines, and how many each gets.
        self.turnShare = TurnShare(YIELD_LINES, LEAST_LINES)

    def buildProtocol(self, addr: Optional[IAddress]) -> Protocol:
        host = peerHost(addr)
        if len(self.connections) >= self.settings.maxClients:
            self.log.warn("refusing {host}: server full", host=host)
            return RefusingProtocol("Server is full")
        if self.perHost.get(host, 0) >= self.settings.maxPerIP:
            self.log.warn("refusing {host}: too many connections from it", host=host)
            return RefusingProtocol("Too many connections from your host")
        protocol = self.protocol()
        protocol.factory = self
        self.connections[protocol] = host
        self.perHost[host] = self.perHost.get(host, 0) + 1
        return protocol

    def connectionClosed(self, protocol: RelayProtocol) -> None:
        """Free the slot a connection held (called once, from connectionLost)."""
        host = self.connections.pop(protocol, None)
        if host is None:
            return
        sendq = getattr(protocol, "sendq", None)
        if sendq is not None and sendq.backlog and self.trimmer is not None and self._trimCall is None:
            # It was holding bytes for a peer that did not read them: once
            # the wave it came with is gone, give the memory back.
            self._trimCall = self.clock.callLater(TRIM_DELAY, self._trim)
        left = self.perHost[host] - 1
        if left:
            self.perHost[host] = left
        else:
            del self.perHost[host]

    def stopFactory(self) -> None:
        """No longer listening: a pending trim is not worth keeping a timer for."""
        call, self._trimCall = self._trimCall, None
        if call is not None and call.active():
            call.cancel()

    def _trim(self) -> None:
        self._trimCall = None
        if self.trimmer is not None:
            self.trimmer()

    def wantsFlush(self, protocol: RelayProtocol) -> None:
        """C{protocol} has queued output: write it out at the end of this turn."""
        self._dirty.append(protocol)
        self._scheduleFlush()

    def _scheduleFlush(self) -> None:
        """
        One flush per reactor turn serves everyone: a C{callLater(0)} runs
        after every event of the current poll has been handled, so messages
        that arrive together leave together, in one write per recipient.
        """
        if self._flushCall is None:
            interval = self.settings.flushInterval
            delay = 0.0
            if interval:
                # An operator's trade (--flush-interval): at most one
                # flush per interval, so the messages of several turns
                # reach each member in one send, for up to that much
                # latency; a relay quieter than that still flushes at once.
                delay = max(0.0, self._lastFlush + interval - self.clock.seconds())
            self._flushCall = self.clock.callLater(delay, self.flush)

    def flush(self) -> None:
        """Deliver waiting room messages, then write out every queued output."""
        if self.settings.flushInterval:
            self._lastFlush = self.clock.seconds()
        try:
            self.state.deliverPending()
            dirty, self._dirty = self._dirty, []
            for protocol in dirty:
                protocol.flush()
        finally:
            # Cleared last: what deliverPending queues is written by this
            # same flush, without scheduling another.
            self._flushCall = None
