"""
C{securechat demo}: every layer against every attack, in one process.

On loopback ports it picks itself, the demo starts our relay, the
malicious relay (L{securechat.mitm}) in front of it, and for each (layer,
attack) three headless clients (L{securechat.client.headless}) that
connect through the malicious one: alice sends, the relay attacks bob's
copy, carol is the other member (the one a message gets re-attributed
to, and the one who sends the end-of-run sentinel).  It records whether
the relay could read the body, whether bob accepted the attacked message
as genuine, and what bob reported, then prints the matrix.

Time: every client's codec clock and the malicious relay's timers run on
one virtual clock, so "40 s later" or "61 s for the reassembly timeout"
takes no time, and the lab's sender clock shift (-45 s) is that clock
minus 45 s for alice only (a relay cannot change a clock).  Keys are
derived once per room (with the default Argon2id parameters, or the
cheap test ones with C{--fast-kdf}) and shared by every run.

Exit status: 0 when every layer stopped what docs/security.md claims it
stops (L{securechat.mitm.matrix.CLAIMS}), 1 otherwise, 2 for bad usage.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import time
from functools import partial
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, TextIO, Tuple

import attr
from twisted.internet import defer, endpoints, task
from twisted.python.failure import Failure

from .client import events as ev
from .client.headless import ClientTimeout, HeadlessClient, connect
from .codec import DEFAULT_KDF, LAYERS, TEST_KDF, KdfParams, RoomKeys, derive_room_keys, rfc1459_casefold
from .mitm.attacks import Selector, makeAttack
from .mitm.matrix import (
    BY_NAME,
    ERROR,
    SCENARIO_NAMES,
    Cell,
    Observation,
    Received,
    Scenario,
    failures,
    judge,
    renderJson,
    renderMarkdown,
    renderText,
)
from .mitm.proxy import TO_CLIENT, MitmFactory, Plan, Seen
from .relay.factory import ConnectionSettings, RelayFactory
from .wire import WireError, parseLine

ROOM = "#lab"
OTHER_ROOM = "#ops"
ROOMS = (ROOM, OTHER_ROOM)
LOOPBACK = "tcp:0:interface=127.0.0.1"
#: Seconds any one step of a run may take before the run is reported as an error.
STEP_TIMEOUT = 10.0
#: Generous connection limits: every run opens three fresh connections.
DEMO_SETTINGS = ConnectionSettings(maxPerIP=4096, floodBurst=1000, floodRate=1000.0)
#: A body long enough to need several chunks on every layer.
LONG_BODY_REPEAT = 30
#: The relay "read" a body if it saw this many of its first characters.
READ_MARKER_CHARS = 16
#: How long the demo waits, at the end, for its connections to close.
STOP_GRACE = 5.0
STOP_POLL = 0.01
EXIT_OK = 0
EXIT_FAILED = 1

class VirtualTime:
    """
    The demo's clock: real time plus an offset the demo advances, with
    the malicious relay's timers on it, so held lines come out when the
    clients' codec clocks say the time has passed.
    """

    def __init__(self, real: Callable[[], float] = time.time) -> None:
        self._real = real
        self.offset = 0.0
        self.timers = task.Clock()

    def now(self) -> float:
        return self._real() + self.offset

    def shifted(self, seconds: float) -> Callable[[], float]:
        return lambda: self.now() + seconds

    def advance(self, seconds: float) -> None:
        self.offset += seconds
        self.timers.advance(seconds)


@attr.s(frozen=True, slots=True, auto_attribs=True)
class DemoOptions:
    layers: Tuple[str, ...] = LAYERS
    scenarios: Tuple[str, ...] = SCENARIO_NAMES
    kdf: KdfParams = DEFAULT_KDF
    verbose: bool = False


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Report:
    cells: Tuple[Cell, ...]
    seconds: float
    kdf: KdfParams
    transcripts: Tuple[Tuple[str, str, Tuple[str, ...]], ...] = ()  # (attack, layer, lines)


def bodiesFor(scenario: Scenario, run: int) -> Tuple[str, ...]:
    """Distinct, recognisable bodies for one run (so the relay's log can be searched)."""
    if scenario.longBody:
        text = " ".join("chunk-test-%d-%02d" % (run, i) for i in range(LONG_BODY_REPEAT))
        return ("run %d long message: %s" % (run, text),)
    return tuple("run %d: meet at the north door at 10:0%d" % (run, i) for i in range(scenario.messages))


class Runner:
    """Plays scenarios through a relay and the malicious relay in front of it."""

    def __init__(self, reactor: Any, options: DemoOptions) -> None:
        self.reactor = reactor
        self.options = options
        self.time = VirtualTime()
        self.keys: Dict[str, RoomKeys] = {}
        self.ports: List[Any] = []
        self.relay: Optional[RelayFactory] = None
        self.mitm: Optional[MitmFactory] = None
        self.mitmEndpoint = ""
        self.run = 0

    @defer.inlineCallbacks
    def start(self):
        reactor = self.reactor
        self.relay = RelayFactory(settings=DEMO_SETTINGS, clock=reactor)
        relayPort = yield endpoints.serverFromString(reactor, LOOPBACK).listen(self.relay)
        self.ports.append(relayPort)
        upstream = endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", relayPort.getHost().port)
        self.mitm = MitmFactory(upstream, Plan(), self.time.timers)
        mitmPort = yield endpoints.serverFromString(reactor, LOOPBACK).listen(self.mitm)
        self.ports.append(mitmPort)
        self.mitmEndpoint = "tcp:127.0.0.1:%d" % (mitmPort.getHost().port,)
        if any(layer != "plain" for layer in self.options.layers):
            # One passphrase for the demo's members, random per run of the demo.
            passphrase = secrets.token_bytes(16)
            for room in ROOMS:
                self.keys[room] = derive_room_keys(
                    passphrase, rfc1459_casefold(room), self.options.kdf
                )

    @defer.inlineCallbacks
    def stop(self):
        """Let the last connections close and the relay flush, then stop listening."""
        waited = 0.0
        while (self.relay.connections or self.mitm.connections) and waited < STOP_GRACE:
            yield task.deferLater(self.reactor, STOP_POLL, lambda: None)
            waited += STOP_POLL
        yield task.deferLater(self.reactor, 0, lambda: None)
        for port in self.ports:
            yield port.stopListening()

    @defer.inlineCallbacks
    def play(self, scenario: Scenario, layer: str):
        """One run; fires with (cell, transcript lines)."""
        self.run += 1
        run = self.run
        nicks = ["%s%02d" % (name, run % 100) for name in ("alice", "bob", "carol")]
        seen: List[Seen] = []
        tap = seen.append
        self.mitm.taps.append(tap)
        self.mitm.plan = Plan(
            partial(makeAttack, scenario.attack, 1, **dict(scenario.parameters, as_nick=nicks[2], to_room=OTHER_ROOM)),
            Selector(sender=nicks[0], target=ROOM, receiver=nicks[1]),
        )
        clients: List[HeadlessClient] = []
        try:
            yield self._clients(nicks, layer, clients)
            observation = yield self._exchange(scenario, clients, seen, run)
            cell = judge(scenario, layer, observation)
        except (ClientTimeout, defer.TimeoutError, defer.CancelledError) as exc:
            cell = Cell(scenario.name, layer, ERROR, False, False, False, detail=str(exc) or type(exc).__name__)
        finally:
            self.mitm.taps.remove(tap)
            yield defer.gatherResults([client.quit() for client in clients], consumeErrors=True)
        return cell, tuple(_transcript(seen))

    @defer.inlineCallbacks
    def _clients(self, nicks: Sequence[str], layer: str, clients: List[HeadlessClient]):
        """Connect one client per nick (into C{clients}, in order), join, set keys."""
        started: Dict[str, HeadlessClient] = {}
        connecting = [
            connect(
                self.reactor,
                self.mitmEndpoint,
                nick,
                clock=self.time.now,
                kdf_params=self.options.kdf,
                timeout=STEP_TIMEOUT,
            ).addCallback(partial(started.__setitem__, nick))
            for nick in nicks
        ]
        try:
            yield defer.gatherResults(connecting, consumeErrors=True).addErrback(_firstError)
        finally:
            # Whatever connected is the caller's to close, even if another failed.
            clients.extend(started[nick] for nick in nicks if nick in started)
        joined = []
        for client in clients:
            for room in ROOMS:
                joined.append(client.wait_for(_joined(room), STEP_TIMEOUT))
                client.join(room)
            if layer != "plain":
                for room in ROOMS:
                    client.set_keys(room, self.keys[room], layer)
        yield defer.gatherResults(joined, consumeErrors=True).addErrback(_firstError)

    @defer.inlineCallbacks
    def _exchange(self, scenario: Scenario, clients: Sequence[HeadlessClient], seen: List[Seen], run: int):
        alice, bob, carol = clients
        got: List[ev.Event] = []
        unsubscribe = bob.listen(got.append)
        try:
            if scenario.senderShift:
                alice.set_clock(self.time.shifted(scenario.senderShift))
            bodies = bodiesFor(scenario, run)
            lines = sum(alice.send(ROOM, body).lines for body in bodies)
            # Lines cannot come back before we return to the reactor.
            yield _whenSeen(self.reactor, self.mitm, alice.nick, bob.nick, lines)
            # carol's line reaches bob on the same connection, after alice's:
            # once bob has it, he has handled everything delivered so far.
            sentinels = ["run %d: end of run" % (run,)]
            yield self._sentinel(carol, bob, sentinels[-1])
            if scenario.advance:
                # Held lines come out, unfinished messages time out.
                self.time.advance(scenario.advance)
                sentinels.append("run %d: end of run, %gs later" % (run, scenario.advance))
                yield self._sentinel(carol, bob, sentinels[-1])
        finally:
            unsubscribe()
        accepted = tuple(
            Received(e.sender, e.target, e.body, e.reordered, e.missing)
            for e in got
            if isinstance(e, ev.IncomingMessage) and not (e.sender == carol.nick and e.body in sentinels)
        )
        reasons = tuple(e.reason for e in got if isinstance(e, ev.RejectedMessage))
        markers = [body[:READ_MARKER_CHARS].encode("utf-8") for body in bodies]
        relayRead = any(marker in s.raw for s in seen for marker in markers)
        return Observation(alice.nick, ROOM, bodies, accepted, reasons, relayRead)


    def _sentinel(self, carol: HeadlessClient, bob: HeadlessClient, text: str) -> defer.Deferred:
        """carol says C{text} in the room; fires once bob has accepted it."""
        done = bob.wait_for(_message(carol.nick, text), STEP_TIMEOUT)
        carol.send(ROOM, text)
        return done


def _firstError(failure):
    """gatherResults wraps failures; re-raise the first underlying one."""
    return failure.value.subFailure


def _joined(room: str) -> Callable[[ev.Event], bool]:
    folded = rfc1459_casefold(room)
    return lambda e: isinstance(e, ev.Joined) and e.me and rfc1459_casefold(e.room) == folded


def _message(sender: str, body: str) -> Callable[[ev.Event], bool]:
    return lambda e: isinstance(e, ev.IncomingMessage) and e.sender == sender and e.body == body


def _whenSeen(reactor: Any, mitm: MitmFactory, sender: str, receiver: str, lines: int) -> defer.Deferred:
    """
    Fires once the real relay has passed the malicious one C{lines}
    PRIVMSG lines from C{sender} for C{receiver}: by then the attack has
    handled them all (held lines are on the virtual clock).
    """
    result: defer.Deferred = defer.Deferred()
    count = [0]

    def tap(seen: Seen) -> None:
        if seen.direction != TO_CLIENT or seen.client != receiver or result.called:
            return
        try:
            message = parseLine(seen.raw)
        except WireError:
            return
        if message.command == "PRIVMSG" and message.sourceNick == sender:
            count[0] += 1
            if count[0] >= lines:
                result.callback(count[0])

    def untap(passthrough: Any) -> Any:
        if tap in mitm.taps:
            mitm.taps.remove(tap)
        return passthrough

    mitm.taps.append(tap)
    result.addTimeout(STEP_TIMEOUT, reactor)
    return result.addBoth(untap)


def _transcript(seen: Iterable[Seen]) -> List[str]:
    """The message lines the relay saw in one run (registration chatter left out)."""
    out = []
    for s in seen:
        try:
            command = parseLine(s.raw).command
        except WireError:
            command = ""
        if command in ("PRIVMSG", "NOTICE"):
            note = "   [%s]" % (s.note,) if s.note else ""
            out.append("%-13s %-8s %s%s" % (s.direction, s.client, s.raw.decode("utf-8", "replace"), note))
    return out


@defer.inlineCallbacks
def runDemo(reactor: Any, options: DemoOptions, progress: Optional[Callable[[str], None]] = None):
    """Play every selected scenario on every selected layer; fires with a L{Report}."""
    started = time.monotonic()
    runner = Runner(reactor, options)
    yield runner.start()
    cells: List[Cell] = []
    transcripts = []
    try:
        for name in options.scenarios:
            scenario = BY_NAME[name]
            for layer in options.layers:
                cell, lines = yield runner.play(scenario, layer)
                cells.append(cell)
                if options.verbose:
                    transcripts.append((name, layer, lines))
                if progress is not None:
                    progress("%-12s %-10s %s" % (name, layer, cell.verdict))
    finally:
        yield runner.stop()
    return Report(tuple(cells), time.monotonic() - started, options.kdf, tuple(transcripts))


# Command line.


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="securechat demo",
        description="Every codec layer against every attack of a malicious relay, in one process.",
    )
    p.add_argument("--layer", action="append", choices=LAYERS, help="only this layer (repeatable)")
    p.add_argument("--attack", action="append", choices=SCENARIO_NAMES, help="only this attack (repeatable)")
    output = p.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print the matrix as JSON")
    output.add_argument("--markdown", action="store_true", help="print the matrix as a Markdown table (for the docs)")
    p.add_argument("--verbose", action="store_true", help="show the raw message lines the relay saw in each run")
    p.add_argument("--fast-kdf", action="store_true", help="derive room keys with the cheap test parameters")
    return p


def optionsFromArgs(args: argparse.Namespace) -> DemoOptions:
    def ordered(chosen: Optional[List[str]], universe: Sequence[str]) -> Tuple[str, ...]:
        return tuple(item for item in universe if chosen is None or item in chosen)

    return DemoOptions(
        layers=ordered(args.layer, LAYERS),
        scenarios=ordered(args.attack, SCENARIO_NAMES),
        kdf=TEST_KDF if args.fast_kdf else DEFAULT_KDF,
        verbose=args.verbose,
    )


def describeKdf(kdf: KdfParams) -> str:
    which = "cheap TEST parameters, for tests only" if kdf == TEST_KDF else "the default parameters"
    return "Argon2id, %s (t=%d, p=%d, m=%d KiB), derived once per room and shared by every run" % (
        which,
        kdf.iterations,
        kdf.lanes,
        kdf.memory_cost,
    )


def render(report: Report, args: argparse.Namespace) -> str:
    if args.json:
        return renderJson(
            report.cells,
            {"seconds": round(report.seconds, 2), "kdf": attr.asdict(report.kdf), "ok": not failures(report.cells)},
        )
    if args.markdown:
        return renderMarkdown(report.cells)
    out = []
    details = {(c.scenario, c.layer): c for c in report.cells}
    for attack, layer, lines in report.transcripts:
        out.append("== %s on %s: what the relay saw" % (attack, layer))
        out.extend("  " + line for line in lines)
        cell = details[attack, layer]
        out.append("  => %s%s" % (cell.verdict, ": " + cell.detail if cell.detail else ""))
    if out:
        out.append("")
    out.append(renderText(report.cells))
    out.append("Keys: %s." % (describeKdf(report.kdf),))
    out.append(
        "Time: one virtual clock for the clients and the malicious relay (delays take no time); "
        "the sender clock shift is applied to the sender's codec clock, since a relay cannot change a clock."
    )
    bad = failures(report.cells)
    if bad:
        out.append("FAILED: %s" % (", ".join("%s on %s (%s)" % (c.scenario, c.layer, c.verdict) for c in bad),))
    else:
        out.append("Every layer stopped every attack docs/security.md says it stops.")
    out.append("%d runs in %.1f s." % (len(report.cells), report.seconds))
    return "\n".join(out) + "\n"


def main(argv: Optional[Sequence[str]] = None, out: TextIO = sys.stdout) -> int:
    """Run the demo on the global reactor; the exit status says whether every claim held."""
    args = parser().parse_args(argv)
    options = optionsFromArgs(args)
    from twisted.internet import reactor

    outcome: List[Any] = []

    def start() -> None:
        progress = None if (args.json or args.markdown) else partial(_progress, sys.stderr)
        finished = runDemo(reactor, options, progress)
        finished.addBoth(outcome.append)
        finished.addBoth(lambda ignored: reactor.stop())

    reactor.callWhenRunning(start)
    reactor.run()
    result = outcome[0]
    if isinstance(result, Failure):
        result.raiseException()
    out.write(render(result, args))
    return exitStatus(result)


def exitStatus(report: Report) -> int:
    """Non-zero when a layer did not stop what the docs claim it stops."""
    return EXIT_FAILED if failures(report.cells) else EXIT_OK


def _progress(stream: TextIO, line: str) -> None:
    stream.write(line + "\n")
    stream.flush()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
