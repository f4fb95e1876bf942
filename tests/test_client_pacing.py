"""
Issue 23, point 1: paced, just-in-time sealing.  A paste leaves the
client at the server's pace and each line is sealed when it leaves, so a
receiver never finds it older than the freshness window.  Driven by
task.Clock: a relay's flood bucket (the relay's own L{TokenBucket}, with
its default figures) reads alice's lines, and bob judges them when they
come through.
"""

from __future__ import annotations

from typing import List, Optional

import attr
from twisted.internet.defer import inlineCallbacks
from twisted.internet.error import ConnectionLost
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from securechat.client.adapters.protocol import IRCClientFactory
from securechat.client.core import events as ev
from securechat.client.core.pacing import DEFAULT_PACE, NGIRCD_PACE, UNKNOWN_PACE, Pace, Pacer, paceOf
from securechat.client.core.rules import PACE_PROGRESS_EVERY, CommandError
from securechat.client.core.session import ClientSession
from securechat.client.core.wording import pacedNote, paceProgressNote, pasteQuestion
from securechat.client.faces.commands import Console, formatEvent
from securechat.client.faces.console import PASTE_END, PASTE_START, ConsoleTerminal
from securechat.codec import TEST_KDF, derive_room_keys
from securechat.relay.factory import ConnectionSettings, RelayFactory
from securechat.relay.limits import TokenBucket
from securechat.wire import parseLine

from .test_client_console import FakeScreen, Recorder, offlineClient
from .test_client_support import WAIT, LoopbackCase, patchCommands

START = 1_700_000_000.0
ROOM = "#lab"
ALICE = "alice!~alice@127.0.0.1"
BOB = "bob!~bob@127.0.0.1"


def registerLines(nick: str, prefix: str) -> bytes:
    return (
        ":irc.test 001 %s :Welcome %s\r\n"
        ":irc.test 005 %s CASEMAPPING=rfc1459 LINELEN=512 NICKLEN=30 :are supported\r\n"
        % (nick, prefix, nick)
    ).encode("utf-8")


def joinLine(prefix: str) -> bytes:
    return (":%s JOIN %s" % (prefix, ROOM)).encode("utf-8")


class PacerTests(SynchronousTestCase):
    """The bucket alone: burst, then rate; lines written outside the queue cost too."""

    def test_burstThenRate(self):
        pacer = Pacer(Pace(burst=3, rate=2.0), 0.0)
        for _n in range(3):
            self.assertTrue(pacer.ready(0.0))
            pacer.spent(0.0)
        self.assertFalse(pacer.ready(0.0))
        self.assertAlmostEqual(pacer.waitTime(0.0), 0.5)
        self.assertFalse(pacer.ready(0.49))
        self.assertTrue(pacer.ready(0.5))

    def test_chunksMayOwe(self):
        """A message's chunks all go together: the bucket goes below zero, the next waits longer."""
        pacer = Pacer(Pace(burst=2, rate=1.0), 0.0)
        pacer.spent(0.0, 5)
        self.assertAlmostEqual(pacer.tokens, -3.0)
        self.assertAlmostEqual(pacer.waitTime(0.0), 4.0)
        self.assertAlmostEqual(pacer.eta(0.0, 2), 5.0)

    def test_neverAboveBurst(self):
        pacer = Pacer(Pace(burst=2, rate=1.0), 0.0)
        pacer.spent(0.0, 2)
        self.assertEqual(pacer.eta(1000.0, 4), 2.0)

    def test_refillOnNewConnection(self):
        pacer = Pacer(Pace(burst=4, rate=1.0), 0.0)
        pacer.spent(0.0, 10)
        pacer.refill(1.0)
        self.assertEqual(pacer.tokens, 4.0)

    def test_defaultLeavesSlackBelowTheRelay(self):
        """Our relay's defaults (docs/operations.md): the pace stays below them."""
        settings = ConnectionSettings()
        self.assertLess(DEFAULT_PACE.burst, settings.floodBurst)
        self.assertLess(DEFAULT_PACE.rate, settings.floodRate)

    def test_badPace(self):
        self.assertRaises(ValueError, Pace, 0, 1.0)
        self.assertRaises(ValueError, Pace, 1, 0.0)


class LearntPaceTests(SynchronousTestCase):
    """The pace follows what the server says it runs (004), unless one was chosen."""

    def session(self, **kw) -> ClientSession:
        session = ClientSession("alice", lambda e: None, clock=lambda: 0.0, **kw)
        session.connectionMade(lambda line: None)
        return session

    def myinfo(self, session: ClientSession, version: str) -> None:
        session.lineReceived((":irc.test 004 alice irc.test %s iow bklmnost" % (version,)).encode())

    def test_table(self):
        self.assertEqual(paceOf("securechat-1.0"), DEFAULT_PACE)
        self.assertEqual(paceOf("ngircd-26.1"), NGIRCD_PACE)
        self.assertEqual(paceOf("UnrealIRCd-6.1"), UNKNOWN_PACE)
        self.assertLess(NGIRCD_PACE.rate, DEFAULT_PACE.rate)

    def test_learntFrom004(self):
        for version, pace in (("ngircd-26.1", NGIRCD_PACE), ("solanum-1.0", UNKNOWN_PACE),
                              ("securechat-0.1", DEFAULT_PACE)):
            session = self.session()
            self.myinfo(session, version)
            self.assertEqual(session.pacer.pace, pace, version)
            self.assertLessEqual(session.pacer.tokens, pace.burst)

    def test_chosenPaceStays(self):
        chosen = Pace(100, 50.0)
        session = self.session(pace=chosen)
        self.myinfo(session, "ngircd-26.1")
        self.assertEqual(session.pacer.pace, chosen)

    def test_learningKeepsWhatWasSpent(self):
        pacer = Pacer(DEFAULT_PACE, 0.0)
        pacer.spent(0.0, 28)
        pacer.learn(NGIRCD_PACE)
        self.assertEqual(pacer.tokens, 2.0)
        pacer = Pacer(DEFAULT_PACE, 0.0)
        pacer.learn(NGIRCD_PACE)
        self.assertEqual(pacer.tokens, NGIRCD_PACE.burst)


class Relay:
    """
    A relay's reading side, as ours does it: one flood token per line read
    from alice (the bucket of L{securechat.relay.limits} with the relay's
    default figures); what it reads in #lab goes on to bob.
    """

    def __init__(self, clock: Clock, transport: StringTransport, bob: ClientSession) -> None:
        settings = ConnectionSettings()
        self.clock = clock
        self.transport = transport
        self.bob = bob
        self.bucket = TokenBucket(settings.floodBurst, settings.floodRate, clock.seconds())
        self.unread: List[bytes] = []

    def turn(self) -> None:
        data = self.transport.value()
        self.transport.clear()
        self.unread.extend(line for line in data.split(b"\r\n") if line)
        now = self.clock.seconds()
        while self.unread and self.bucket.take(now):
            message = parseLine(self.unread.pop(0))
            if message.command == "PRIVMSG" and message.params[0] == ROOM:
                self.bob.lineReceived((":%s PRIVMSG %s :%s" % (ALICE, ROOM, message.params[1])).encode("utf-8"))


class PacedPasteTests(SynchronousTestCase):
    """A 400-line paste on fernet-ttl through a relay with its default flood limits."""

    def setUp(self):
        self.clock = Clock()
        self.clock.advance(START)
        self.aliceEvents: List[ev.Event] = []
        self.bobEvents: List[ev.Event] = []
        self.alice = ClientSession("alice", self.aliceEvents.append, clock=self.clock.seconds)
        self.factory = IRCClientFactory(self.alice, self.clock)
        self.protocol = self.factory.buildProtocol(None)
        self.transport = StringTransport()
        self.protocol.makeConnection(self.transport)
        self.protocol.dataReceived(registerLines("alice", ALICE))
        self.alice.join(ROOM)
        self.protocol.dataReceived(joinLine(ALICE) + b"\r\n")
        self.bob = ClientSession("bob", self.bobEvents.append, clock=self.clock.seconds)
        self.bob.connectionMade(lambda line: None)
        for line in registerLines("bob", BOB).split(b"\r\n"):
            if line:
                self.bob.lineReceived(line)
        self.bob.join(ROOM)
        self.bob.lineReceived(joinLine(BOB))
        self.bob.lineReceived(joinLine(ALICE))
        keys = derive_room_keys(b"pw", ROOM, TEST_KDF)
        self.alice.setKeys(ROOM, keys, "fernet-ttl")
        self.bob.setKeys(ROOM, keys, "fernet-ttl")
        self.relay = Relay(self.clock, self.transport, self.bob)
        self.lines = ["line %03d of the paste" % (n,) for n in range(400)]

    def paste(self) -> None:
        for line in self.lines:
            self.alice.sendMessage(ROOM, line)

    def deliver(self, limit: float = 300.0) -> None:
        """Turn the relay every 50 ms until bob has all, or C{limit} simulated seconds."""
        end = self.clock.seconds() + limit
        while self.clock.seconds() < end and len(self.heard()) + len(self.refused()) < len(self.lines):
            self.relay.turn()
            self.clock.advance(0.05)

    def heard(self):
        return [e.body for e in self.bobEvents if isinstance(e, ev.IncomingMessage)]

    def refused(self):
        return [e.reason for e in self.bobEvents if isinstance(e, ev.RejectedMessage)]

    def test_arrivesWholeInOrderFresh(self):
        self.paste()
        paced = [e for e in self.aliceEvents if isinstance(e, ev.Paced)]
        self.assertGreater(len(paced), 300)
        self.assertEqual([e.ahead for e in paced], list(range(len(paced))))
        self.deliver()
        self.assertEqual(self.refused(), [])
        self.assertEqual(self.heard(), self.lines)
        sent = [e.body for e in self.aliceEvents if isinstance(e, ev.Sent)]
        self.assertEqual(sent, self.lines)
        progress = [e for e in self.aliceEvents if isinstance(e, ev.PaceProgress)]
        self.assertEqual(progress[-1], ev.PaceProgress(len(paced), 0, 0.0, 0))
        self.assertEqual(
            [e.sent for e in progress[:-1]],
            list(range(PACE_PROGRESS_EVERY, len(paced), PACE_PROGRESS_EVERY)),
        )
        self.assertEqual(self.alice.waiting, 0)

    def test_sealedWhenTypedWouldExpire(self):
        """
        The lesson, and the proof that the test above can fail: without the
        pace (lines sealed as typed, as before), the relay's pace makes the
        tail expire.
        """
        self.alice.pacedBy(None)
        self.paste()
        self.deliver()
        self.assertIn("expired", self.refused())

    def test_nothingLeavesWhileTheSocketIsFull(self):
        self.paste()
        self.transport.clear()
        waiting = self.alice.waiting
        self.transport.producer.pauseProducing()
        self.clock.advance(30)
        self.assertEqual(self.transport.value(), b"")
        self.assertEqual(self.alice.waiting, waiting)
        self.transport.producer.resumeProducing()
        self.assertGreater(len(self.transport.value()), 0)
        self.assertLess(self.alice.waiting, waiting)

    def test_lostConnectionSaysWhatWasNotSent(self):
        self.paste()
        self.clock.advance(5)
        waiting = self.alice.waiting
        self.assertGreater(waiting, 0)
        self.protocol.connectionLost(Failure(ConnectionLost()))
        unsent = [e for e in self.aliceEvents if isinstance(e, ev.Unsent)]
        self.assertEqual([e.body for e in unsent], self.lines[-waiting:])
        self.assertIn("connection was lost", unsent[0].reason)
        last = [e for e in self.aliceEvents if isinstance(e, ev.PaceProgress)][-1]
        self.assertEqual((last.waiting, last.unsent), (0, waiting))
        self.assertEqual(self.alice.waiting, 0)
        self.assertEqual(self.clock.getDelayedCalls() and [c for c in self.clock.getDelayedCalls()
                         if c.func == self.protocol._releasePaced], [])

    def test_keyDroppedMeanwhileIsRefusedNotSentInClear(self):
        """A message that waited is judged when it leaves: a key gone by then refuses it."""
        self.paste()
        self.alice.conversationsPart._keyring.judging(ROOM).keys = None
        self.transport.clear()
        self.deliver(limit=60)
        self.assertNotIn(b"line 399", self.transport.value())
        unsent = [e for e in self.aliceEvents if isinstance(e, ev.Unsent)]
        self.assertEqual(len(unsent), len([e for e in self.aliceEvents if isinstance(e, ev.Paced)]))

    def test_setToPlainMeanwhileIsRefusedNotSentInClear(self):
        """
        Lines typed for the keyed room wait; the user sets it to plain
        (/layer! plain) before they leave: they are refused, each said, not
        sent in clear (as a line waiting for its key is).
        """
        self.paste()
        paced = len([e for e in self.aliceEvents if isinstance(e, ev.Paced)])
        self.alice.setLayer(ROOM, "plain", force=True)
        self.deliver(limit=60)
        sent = [e.body for e in self.aliceEvents if isinstance(e, ev.Sent)]
        self.assertEqual(sent, self.lines[:-paced])
        self.assertEqual((self.heard(), self.refused()), (self.lines[:-paced], []))
        unsent = [e for e in self.aliceEvents if isinstance(e, ev.Unsent)]
        self.assertEqual([e.body for e in unsent], self.lines[-paced:])
        self.assertIn("typed for a keyed conversation", unsent[0].reason)
        # Typed on plain now: sent in clear, as chosen.
        self.alice.sendMessage(ROOM, "said in clear on purpose")
        self.deliver(limit=10)
        self.assertIn("said in clear on purpose", [e.body for e in self.aliceEvents if isinstance(e, ev.Sent)])

    def test_boundedQueue(self):
        self.alice.pacedBy(lambda delay: None)
        for _n in range(40):
            self.alice.sendMessage(ROOM, "x")
        self.alice.conversationsPart._outboxChars = 1024 * 1024
        self.assertRaises(CommandError, self.alice.sendMessage, ROOM, "one too many")


class WordingTests(SynchronousTestCase):
    def test_console(self):
        first = ev.Paced(ROOM, "hello", 0, 3.2)
        self.assertIn("sealed when it leaves", pacedNote(first))
        self.assertIn("hello", pacedNote(first))
        self.assertNotIn("hello", pacedNote(first, echo=False))
        self.assertTrue(formatEvent(first, "12:00"))
        self.assertEqual(formatEvent(ev.Paced(ROOM, "again", 1, 3.5), "12:00"), [])
        progress = ev.PaceProgress(50, 300, 41.0, 2)
        self.assertIn("50 sent, 300 waiting, about 41 s", paceProgressNote(progress))
        self.assertIn("2 NOT SENT", paceProgressNote(progress))
        self.assertIn("send queue empty: 400 sent", paceProgressNote(ev.PaceProgress(400, 0, 0.0, 0)))
        self.assertIn("paste 400 lines to #lab", pasteQuestion(400, 48.0, ROOM))
        self.assertIn("about 48 s", pasteQuestion(400, 48.0, ROOM))


#: How much faster than real time the loopback test runs.
SPEEDUP = 5


class PacedLoopbackTests(LoopbackCase):
    """
    The same paste through our relay on 127.0.0.1, time running five times
    faster so the test takes seconds, not a minute: the relay's flood
    bucket at its default burst (40) and five times its default rate,
    alice's pace five times the default, bob's freshness window about a
    fifth of the default (3 s + 1 s skew for 30 s + 5 s).  Sealed when
    typed, the tail would wait 9 s at the relay and expire (checked by
    hand: with C{alice.session.pacedBy(None)} this test fails).
    """

    timeout = 120

    @inlineCallbacks
    def setUp(self):
        settings = ConnectionSettings()
        self.relay = RelayFactory(settings=attr.evolve(settings, floodRate=settings.floodRate * SPEEDUP))
        yield self.startRelay(0)

    @inlineCallbacks
    def test_pasteArrivesWholeInOrderFresh(self):
        fast = Pace(DEFAULT_PACE.burst, DEFAULT_PACE.rate * SPEEDUP)
        alice = yield self.client("alice", pace=fast)
        bob = yield self.client("bob", ttl=3, maxSkew=1)
        yield self.joined(ROOM, alice, bob)
        keys = derive_room_keys(b"pw", ROOM, TEST_KDF)
        bob.session.setKeys(ROOM, keys, "fernet-ttl")
        alice.session.setKeys(ROOM, keys, "fernet-ttl")
        heard: List[ev.Event] = []
        bob.listen(lambda e: heard.append(e) if isinstance(e, (ev.IncomingMessage, ev.RejectedMessage)) else None)
        lines = ["line %03d of the paste" % (n,) for n in range(400)]
        drained = alice.waitFor(lambda e: isinstance(e, ev.PaceProgress) and not e.waiting, WAIT * 6)
        for line in lines:
            alice.send(ROOM, line)
        done = yield drained
        self.assertEqual(done.unsent, 0)
        last = bob.waitFor(lambda e: isinstance(e, ev.IncomingMessage) and e.body == lines[-1], WAIT)
        if not any(isinstance(e, ev.IncomingMessage) and e.body == lines[-1] for e in heard):
            yield last
        self.assertEqual([e for e in heard if isinstance(e, ev.RejectedMessage)], [])
        self.assertEqual([e.body for e in heard], lines)


class PasteTests(SynchronousTestCase):
    """A paste in the console is asked about first: how many lines, how long at the pace."""

    def setUp(self):
        self.client = offlineClient()
        self.screen = Recorder()
        self.console = Console(
            self.client, self.screen.show, self.screen.ask, self.screen.quits.append, current=ROOM,
            clock=lambda: 0.0,
        )
        self.client.session.conversationsPart.pacer = Pacer(DEFAULT_PACE, 0.0)

    def test_askedWithCountAndTime(self):
        self.console.paste(["line %d" % (n,) for n in range(400)])
        [(prompt, answer)] = self.screen.asked
        seconds = round((400 - DEFAULT_PACE.burst) / DEFAULT_PACE.rate)
        self.assertEqual(prompt, pasteQuestion(400, seconds, ROOM))
        self.assertIn("paste 400 lines to #lab", prompt)
        self.assertIn("about %d s" % (seconds,), prompt)

    def test_declined(self):
        self.console.paste(["one", "two", "three"])
        self.screen.asked[0][1](b"n")
        self.assertIn("paste of 3 lines to #lab not sent", self.screen.last())

    def test_acceptedButNotConnectedSaysWhatWasNotSent(self):
        self.console.paste(["one", "two", "three"])
        self.screen.asked[0][1](b"y")
        self.assertIn("3 of 3 lines NOT SENT: not connected", self.screen.last())

    def test_pastedLinesAreTextNotCommands(self):
        sent = []
        patchCommands(self, self.client, send=lambda target, text, force: sent.append((target, text)))
        self.console.paste(["/quit", "two"])
        self.screen.asked[0][1](b"yes")
        self.assertEqual(sent, [(ROOM, "/quit"), (ROOM, "two")])
        self.assertEqual(self.screen.quits, [])

    def test_oneLineIsJustALine(self):
        sent = []
        patchCommands(self, self.client, send=lambda target, text, force: sent.append(text))
        self.console.paste(["", "hello"])
        self.assertEqual(self.screen.asked, [])
        self.assertEqual(sent, ["hello"])


class BracketedPasteTests(SynchronousTestCase):
    """The terminal: what comes between the bracketed-paste marks goes to Console.paste together."""

    def setUp(self):
        self.client = offlineClient()
        self.fake = FakeScreen(80, 10)
        self.pastes: List[List[str]] = []
        self.typed: List[str] = []

        def makeConsole(terminal):
            console = Console(self.client, terminal.show, terminal.ask, lambda r: None, current=ROOM)
            console.paste = self.pastes.append
            console.line = self.typed.append
            return console

        self.screen = ConsoleTerminal(makeConsole, lambda: " alice", (self.fake.width, self.fake.height))
        self.screen.terminal = self.fake
        self.screen.connectionMade()

    def type(self, data: bytes) -> None:
        for byte in data:
            self.screen.keystrokeReceived(bytes([byte]), None)

    def test_pasteGoesTogether(self):
        self.screen.unhandledControlSequence(PASTE_START)
        self.type(b"one\rtwo\rthree\rhalf")
        self.screen.unhandledControlSequence(PASTE_END)
        self.assertEqual(self.pastes, [["one", "two", "three"]])
        self.assertEqual(self.typed, [])
        self.assertEqual("".join(self.screen.buffer), "half")
        self.type(b"\r")
        self.assertEqual(self.typed, ["half"])

    def test_typedLinesAreNotAPaste(self):
        self.type(b"one\rtwo\r")
        self.assertEqual((self.pastes, self.typed), ([], ["one", "two"]))

    def test_pasteNeverAnswersAQuestion(self):
        """
        While a question is asked (the paste's y/N, a passphrase), pasted
        lines neither answer it nor run after it as typed lines.
        """
        answers: List[Optional[bytes]] = []
        self.screen.ask("paste 400 lines to #lab? [y/N]", answers.append)
        self.screen.unhandledControlSequence(PASTE_START)
        self.type(b"y\r/quit\rhello\r")
        self.screen.unhandledControlSequence(PASTE_END)
        self.assertEqual((answers, self.typed, self.pastes), ([], [], []))
        self.type(b"n\r")
        self.assertEqual(answers, [b"n"])
        self.assertEqual(self.typed, [])

    def test_onePastedLineWaitsForTheUsersEnter(self):
        answers: List[Optional[bytes]] = []
        self.screen.ask("passphrase for #lab: ", answers.append)
        self.screen.unhandledControlSequence(PASTE_START)
        self.type(b"correct horse\r")
        self.screen.unhandledControlSequence(PASTE_END)
        self.assertEqual(answers, [])
        self.type(b"\r")
        self.assertEqual(answers, [b"correct horse"])

    def test_modeAskedAndGivenBack(self):
        self.assertIn(b"\x1b[?2004l", self.screen.restoreSequence())
