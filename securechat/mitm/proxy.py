"""
The malicious relay's Twisted adapter: a line proxy in front of a real relay.

Each client that connects gets its own upstream connection, so to the real
relay the proxy is invisible and every message to a room arrives once per
member, on that member's connection: the proxy can treat bob's copy and
carol's differently.  Client-to-relay lines are forwarded as they are;
relay-to-client lines go through the current L{Plan}: the lines its
selector matches are handed to that connection's attack, the rest are
forwarded byte for byte.  Every line is logged (a malicious relay logs
everything) and shown to the taps, which is how the demo learns whether a
body was readable.

Delayed deliveries run on the injected clock, so tests and the demo can
hold a line "40 seconds" without waiting.

Flow control: each side's transport is the other's producer, so a client
that stops reading stops the proxy reading from the relay, and the relay's
SendQ limit applies as it would without the proxy in between.
"""

from __future__ import annotations

from typing import Callable, Dict, List, Optional

import attr
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IAddress, IDelayedCall, IReactorTime, IStreamClientEndpoint
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from ..numerics import RPL_WELCOME
from ..twistedtypes import TransportUser, defaultReactor
from ..wire import CRLF, LineSplitter, TooLong, WireError, parseLine
from .attacks import Attack, Emission, Intercepted, Read, Selector
from .roster import Roster

#: The proxy carries whatever the relay allows; it must not be the tighter limit.
PROXY_MAX_LINE = 64 * 1024
TO_RELAY = "client->relay"
TO_CLIENT = "relay->client"
#: Lines the attack delivered in place of (or besides) what the relay sent.
FROM_ATTACK = "attack->client"
#: Lines the attack kept from the client (shown with the line it dropped).
DROPPED_BY_ATTACK = "attack->dropped"
UNREGISTERED = "*"


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Plan:
    """Which lines to attack, and how: C{makeAttack} builds one attack per connection."""

    makeAttack: Callable[[], Attack] = Read
    selector: Selector = Selector()


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Seen:
    """One line as the proxy saw it, for the taps (raw is without CRLF)."""

    direction: str
    client: str
    raw: bytes
    note: str = ""


Tap = Callable[[Seen], None]


def _show(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def _redacted(line: bytes) -> bytes:
    """
    A client's line as logged and shown: a C{PASS} keeps its command but
    not the server password, which the real relay keeps off argv and out
    of its own logs.
    """
    try:
        isPass = parseLine(line).command == "PASS"
    except WireError:  # e.g. a password that is not UTF-8: judged on the bytes
        isPass = line.split(b" ", 1)[0].upper() == b"PASS"
    return b"PASS <redacted>" if isPass else line


class MitmFactory(Factory):
    """Accepts clients and pairs each with its own connection to the real relay."""

    log = Logger()

    def __init__(
        self,
        upstream: IStreamClientEndpoint,
        plan: Plan = Plan(),
        clock: Optional[IReactorTime] = None,
    ) -> None:
        self.upstream = upstream
        self.plan = plan
        self.clock = defaultReactor(clock)
        self.roster = Roster()
        #: What attacks remember across connections (L{Intercepted.ledger}).
        self.ledger: Dict[str, object] = {}
        self.taps: List[Tap] = []
        self.connections: List[MitmServerProtocol] = []

    def buildProtocol(self, addr: Optional[IAddress]) -> Protocol:
        protocol = MitmServerProtocol()
        protocol.factory = self
        return protocol

    def saw(self, seen: Seen) -> None:
        """Log one line and show it to the taps."""
        if seen.note:
            self.log.info(
                "{direction} {client}: {line} [{note}]",
                direction=seen.direction,
                client=seen.client,
                line=_show(seen.raw),
                note=seen.note,
            )
        else:
            self.log.info(
                "{direction} {client}: {line}",
                direction=seen.direction,
                client=seen.client,
                line=_show(seen.raw),
            )
        for tap in list(self.taps):
            tap(seen)


#: A client connection's phases (L{MitmServerProtocol.phase}): its relay
#: connection is being made (what it sends waits); lines flow both ways;
#: the attack cut it (nothing more is delivered to it); it is gone.
CONNECTING = "connecting"
RELAYING = "relaying"
CUT = "cut"
CLOSED = "closed"


class MitmServerProtocol(TransportUser, Protocol):
    """Faces one client; owns that client's upstream connection and attack."""

    factory: MitmFactory

    def __init__(self) -> None:
        self.nick = UNREGISTERED
        self.upstream: Optional[MitmClientProtocol] = None
        self._early: List[bytes] = []
        self._splitter = LineSplitter(PROXY_MAX_LINE)
        self._calls: List[IDelayedCall] = []
        #: L{CONNECTING}, L{RELAYING}, L{CUT} or L{CLOSED}.
        self.phase = CONNECTING
        self.attack: Attack = Read()
        self.selector = Selector()

    def connectionMade(self) -> None:
        factory = self.factory
        factory.connections.append(self)
        plan = factory.plan
        self.attack = plan.makeAttack()
        self.selector = plan.selector
        # Read nothing from the client until its relay connection exists.
        self.tcp.pauseProducing()
        client = MitmClientProtocol(self)
        connecting: Deferred = factory.upstream.connect(_Once(client))
        connecting.addCallbacks(self._upstreamUp, self._upstreamFailed)

    def _upstreamUp(self, client: MitmClientProtocol) -> None:
        if self.phase is CLOSED:
            client.tcp.loseConnection()
            return
        self.phase = RELAYING
        self.upstream = client
        self.tcp.registerProducer(client.tcp, True)
        client.tcp.registerProducer(self.tcp, True)
        early, self._early = self._early, []
        for data in early:
            client.tcp.write(data)
        self.tcp.resumeProducing()

    def _upstreamFailed(self, reason: Failure) -> None:
        self.factory.log.warn("cannot reach the upstream relay: {error}", error=reason.getErrorMessage())
        if self.phase is not CLOSED:
            self.tcp.write(b"ERROR :Closing Link: upstream relay unreachable\r\n")
            self.tcp.loseConnection()

    def dataReceived(self, data: bytes) -> None:
        for item in self._splitter.feed(data):
            if isinstance(item, TooLong):
                self.factory.log.warn("dropped a {size}-byte line from a client", size=item.size)
                continue
            self.factory.saw(Seen(TO_RELAY, self.nick, _redacted(item)))
            self._toRelay(item + CRLF)

    def _toRelay(self, data: bytes) -> None:
        if self.upstream is None:
            self._early.append(data)
        else:
            self.upstream.tcp.write(data)

    def fromRelay(self, raw: bytes) -> None:
        """One line from the real relay towards this client."""
        try:
            message = parseLine(raw)
        except WireError:
            self.factory.saw(Seen(TO_CLIENT, self.nick, raw))
            self.deliver(raw)
            return
        roster = self.factory.roster
        roster.feed(message)
        if message.command == RPL_WELCOME and message.params:
            self.nick = message.params[0]
        elif (
            message.command == "NICK"
            and message.params
            and message.sourceNick is not None
            and roster.casefold(message.sourceNick) == roster.casefold(self.nick)
        ):
            # Our client's own nick change, echoed by the relay.
            self.nick = message.params[0]
        line = Intercepted(raw, message, self.nick, roster, self.factory.ledger)
        if self.attack.wholeConnection:
            self._emit(self.attack.process(line), raw)
            return
        if not self.selector.matches(line, roster.casefold):
            self.factory.saw(Seen(TO_CLIENT, self.nick, raw))
            self.deliver(raw)
            return
        self._emit(self.attack.process(line), raw)

    def _emit(self, emissions: List[Emission], original: bytes) -> None:
        if emissions == [Emission(original)]:
            # The attack let this one through as it was: not an attacked line.
            self.factory.saw(Seen(TO_CLIENT, self.nick, original))
            self.deliver(original)
            return
        self.factory.saw(Seen(TO_CLIENT, self.nick, original, "attack %s" % (self.attack.name,)))
        for emission in emissions:
            if emission.close:
                self.factory.saw(Seen(DROPPED_BY_ATTACK, self.nick, original, emission.note))
                self.phase = CUT
                self.tcp.loseConnection()
            elif not emission.raw:
                self.factory.saw(Seen(DROPPED_BY_ATTACK, self.nick, original, emission.note))
            elif emission.delay > 0:
                self._calls.append(self.factory.clock.callLater(emission.delay, self._late, emission))
            else:
                self._send(emission)

    def _late(self, emission: Emission) -> None:
        self._calls = [call for call in self._calls if call.active()]
        self._send(emission)

    def _send(self, emission: Emission) -> None:
        """Deliver an attack's line; show the taps what the attack made of it."""
        self.deliver(emission.raw)
        if emission.note:
            self.factory.saw(Seen(FROM_ATTACK, self.nick, emission.raw, emission.note))

    def deliver(self, raw: bytes) -> None:
        if self.phase is not CUT and self.phase is not CLOSED:
            self.tcp.write(raw + CRLF)

    def upstreamLost(self) -> None:
        """The real relay closed our side: let held lines out, then close the client."""
        for emission in self.attack.flush():
            self.deliver(emission.raw)
        self.tcp.loseConnection()

    def connectionLost(self, reason: Optional[Failure] = None) -> None:
        self.phase = CLOSED
        if self.nick != UNREGISTERED:
            # Its relay connection closes too; if it was alone in a room,
            # nobody behind the proxy will see its QUIT.
            self.factory.roster.forget(self.nick)
        for call in self._calls:
            if call.active():
                call.cancel()
        self._calls = []
        if self in self.factory.connections:
            self.factory.connections.remove(self)
        if self.upstream is not None:
            self.upstream.tcp.loseConnection()


class MitmClientProtocol(TransportUser, Protocol):
    """Faces the real relay on behalf of one client."""

    def __init__(self, downstream: MitmServerProtocol) -> None:
        self.downstream = downstream
        self._splitter = LineSplitter(PROXY_MAX_LINE)

    def dataReceived(self, data: bytes) -> None:
        for item in self._splitter.feed(data):
            if isinstance(item, TooLong):
                self.downstream.factory.log.warn("dropped a {size}-byte line from the relay", size=item.size)
                continue
            self.downstream.fromRelay(item)

    def connectionLost(self, reason: Optional[Failure] = None) -> None:
        self.downstream.upstreamLost()


class _Once(Factory):
    """A client factory that hands out one prepared protocol."""

    noisy = False

    def __init__(self, protocol: Protocol) -> None:
        self._protocol = protocol

    def buildProtocol(self, addr: Optional[IAddress]) -> Protocol:
        return self._protocol
