"""
Tests for L{securechat.mitm.attacks}: each attack fed lines, sans-IO.

Where an attack's point is what the receiver makes of it, the lines come
from a real L{Conversation} and go into another, so these tests also pin
the lesson: aes-ctr is malleable, Fernet's MAC is not fooled.
"""

from __future__ import annotations

from typing import List, Optional

from twisted.trial.unittest import SynchronousTestCase

from securechat.codec import TEST_KDF, Accepted, Conversation, Rejected, derive_room_keys
from securechat.mitm import attacks, tokens
from securechat.mitm.attacks import Emission, Intercepted, Selector, makeAttack
from securechat.mitm.roster import Roster
from securechat.wire import Message, parseLine

ROOM = "#lab"
OTHER_ROOM = "#ops"
PASSPHRASE = b"correct horse battery staple"
MAX_PAYLOAD = 400
NOW = 1_700_000_000.0

_KEYS = {}


def keys(room: str):
    if room not in _KEYS:
        _KEYS[room] = derive_room_keys(PASSPHRASE, room, TEST_KDF)
    return _KEYS[room]


def conversation(layer: str, room: str = ROOM) -> Conversation:
    return Conversation(room, layer, None if layer == "plain" else keys(room), clock=lambda: NOW)


def intercept(
    text: str, sender: str = "alice", target: str = ROOM, receiver: str = "bob", roster: Optional[Roster] = None
) -> Intercepted:
    raw = (":%s!%s@127.0.0.1 PRIVMSG %s :%s" % (sender, sender, target, text)).encode("utf-8")
    return Intercepted(raw, parseLine(raw), receiver, roster or Roster())


def sealed(layer: str, body: str, maxPayload: int = MAX_PAYLOAD) -> List[Intercepted]:
    """The lines alice's client sends for C{body}, as bob's copy arriving."""
    return [intercept(text) for text in conversation(layer).encode("alice", body, maxPayload)]


def receive(layer: str, emissions: List[Emission], room: str = ROOM):
    """What bob's conversation makes of the delivered lines (delays ignored)."""
    bob = conversation(layer, room)
    results = []
    for emission in emissions:
        if not emission.raw:
            continue
        message = parseLine(emission.raw)
        results.extend(bob.receive(message.sourceNick, message.params[1]))
    return results


def run(attack, lines: List[Intercepted]) -> List[Emission]:
    out = []
    for line in lines:
        out.extend(attack.process(line))
    return out


class InterceptedTests(SynchronousTestCase):
    def test_accessors(self) -> None:
        line = intercept("hello world")
        self.assertEqual((line.sender, line.target, line.text), ("alice", ROOM, "hello world"))

    def test_rewritten(self) -> None:
        line = intercept("hello world")
        self.assertEqual(
            line.rewritten(sender="carol", target="#ops", text="bye"),
            b":carol!alice@127.0.0.1 PRIVMSG #ops bye",
        )
        self.assertEqual(line.rewritten(), b":alice!alice@127.0.0.1 PRIVMSG #lab :hello world")


class SelectorTests(SynchronousTestCase):
    def test_emptySelectorMatchesEveryPrivmsg(self) -> None:
        self.assertTrue(Selector().matches(intercept("x")))

    def test_filtersAreCasefolded(self) -> None:
        line = intercept("x", sender="Alice[1]", target="#Lab", receiver="BOB")
        self.assertTrue(Selector(sender="alice{1}", target="#lab", receiver="bob").matches(line))
        self.assertFalse(Selector(sender="carol").matches(line))
        self.assertFalse(Selector(target="#ops").matches(line))
        self.assertFalse(Selector(receiver="carol").matches(line))

    def test_otherCommandsAreNotMatched(self) -> None:
        raw = b":alice!a@h JOIN #lab"
        line = Intercepted(raw, parseLine(raw), "bob")
        self.assertFalse(Selector().matches(line))
        raw = b":alice!a@h NOTICE #lab :hi"
        line = Intercepted(raw, parseLine(raw), "bob")
        self.assertFalse(Selector().matches(line))
        self.assertTrue(Selector(commands=("NOTICE",)).matches(line))


class BudgetTests(SynchronousTestCase):
    def test_timesBoundsTheLinesChanged(self) -> None:
        attack = makeAttack("duplicate", times=1)
        first, second = intercept("one"), intercept("two")
        self.assertEqual(len(attack.process(first)), 2)
        self.assertEqual(attack.process(second), [Emission(second.raw)])

    def test_unboundedByDefault(self) -> None:
        attack = makeAttack("duplicate")
        for _ in range(5):
            self.assertEqual(len(attack.process(intercept("x"))), 2)

    def test_makeAttackIgnoresForeignParameters(self) -> None:
        attack = makeAttack("replay", delay=3.0, count=4, index=None)
        self.assertEqual(attack.delay, 3.0)
        self.assertRaises(KeyError, makeAttack, "no-such-attack")

    def test_everyAttackHasANameAndSummary(self) -> None:
        for name, cls in attacks.ATTACKS.items():
            self.assertEqual(cls.name, name)
            self.assertTrue(cls.summary)


class ReadReplayDuplicateTests(SynchronousTestCase):
    def test_readForwards(self) -> None:
        line = intercept("hello")
        self.assertEqual([e.raw for e in makeAttack("read").process(line)], [line.raw])

    def test_replayAtOnce(self) -> None:
        line = intercept("hello")
        out = makeAttack("replay").process(line)
        self.assertEqual([(e.raw, e.delay) for e in out], [(line.raw, 0.0), (line.raw, 0.0)])

    def test_replayLater(self) -> None:
        line = intercept("hello")
        out = makeAttack("replay", delay=60.0).process(line)
        self.assertEqual([(e.raw, e.delay) for e in out], [(line.raw, 0.0), (line.raw, 60.0)])

    def test_duplicate(self) -> None:
        line = intercept("hello")
        self.assertEqual([e.raw for e in makeAttack("duplicate").process(line)], [line.raw, line.raw])

    def test_fernetAcceptsAReplayButFlagsItLate(self) -> None:
        results = receive("fernet", run(makeAttack("replay"), sealed("fernet", "hello")))
        self.assertEqual([type(r) for r in results], [Accepted, Accepted])
        self.assertEqual([r.reordered for r in results], [False, True])

    def test_fernetTtlRejectsAReplay(self) -> None:
        results = receive("fernet-ttl", run(makeAttack("replay"), sealed("fernet-ttl", "hello")))
        self.assertIsInstance(results[0], Accepted)
        self.assertEqual(results[1].reason, "replayed")


class BitFlipTests(SynchronousTestCase):
    def test_plainTextIsChangedSilently(self) -> None:
        out = run(makeAttack("bit-flip"), [intercept("pay 100")])
        self.assertEqual(parseLine(out[0].raw).params[1], "pay 101")

    def test_aesCtrIsMalleable(self) -> None:
        """The flipped bit lands in the body: accepted, altered, unnoticed."""
        results = receive("aes-ctr", run(makeAttack("bit-flip"), sealed("aes-ctr", "pay 100")))
        self.assertEqual(len(results), 1)
        self.assertIsInstance(results[0], Accepted)
        self.assertEqual(results[0].body, "pay 101")

    def test_aesCtrMalleableAcrossChunks(self) -> None:
        body = "x" * 300 + "pay 100"
        lines = sealed("aes-ctr", body, maxPayload=120)
        self.assertGreater(len(lines), 2)
        results = receive("aes-ctr", run(makeAttack("bit-flip"), lines))
        self.assertEqual([r.body for r in results], ["x" * 300 + "pay 101"])

    def test_fernetDetects(self) -> None:
        for layer in ("fernet", "fernet-ttl"):
            results = receive(layer, run(makeAttack("bit-flip"), sealed(layer, "pay 100")))
            self.assertEqual([r.reason for r in results], ["tampered"], layer)

    def test_onlyTheLastChunkCounts(self) -> None:
        lines = sealed("fernet", "y" * 300, maxPayload=120)
        attack = makeAttack("bit-flip", times=1)
        out = run(attack, lines)
        self.assertEqual([e.raw for e in out[:-1]], [line.raw for line in lines[:-1]])
        self.assertNotEqual(out[-1].raw, lines[-1].raw)
        self.assertEqual(attack.remaining, 0)


class TruncateTests(SynchronousTestCase):
    def test_plain(self) -> None:
        out = run(makeAttack("truncate", count=2), [intercept("pay 1000")])
        self.assertEqual(parseLine(out[0].raw).params[1], "pay 10")

    def test_aesCtrAcceptsATruncatedBody(self) -> None:
        results = receive("aes-ctr", run(makeAttack("truncate"), sealed("aes-ctr", "pay 1000 now")))
        self.assertEqual(len(results), 1)
        self.assertIsInstance(results[0], Accepted)
        self.assertTrue("pay 1000 now".startswith(results[0].body))
        self.assertLess(len(results[0].body), len("pay 1000 now"))

    def test_fernetDetects(self) -> None:
        results = receive("fernet", run(makeAttack("truncate"), sealed("fernet", "pay 1000 now")))
        self.assertEqual([r.reason for r in results], ["tampered"])

    def test_onlyTheLastChunkIsCut(self) -> None:
        lines = sealed("fernet", "y" * 300, maxPayload=120)
        self.assertGreater(len(lines), 2)
        attack = makeAttack("truncate", times=1)
        out = run(attack, lines)
        self.assertEqual([e.raw for e in out[:-1]], [line.raw for line in lines[:-1]])
        self.assertLess(len(out[-1].raw), len(lines[-1].raw))
        self.assertEqual(attack.remaining, 0)


class DropChunkTests(SynchronousTestCase):
    def test_dropsTheChosenChunk(self) -> None:
        lines = sealed("fernet", "z" * 300, maxPayload=120)
        out = run(makeAttack("drop-chunk", index=2), lines)
        delivered = [e.raw for e in out if e.raw]
        self.assertEqual(delivered, [line.raw for line in lines if line.raw != lines[1].raw])
        self.assertEqual([e.note for e in out if not e.raw], ["dropped"])

    def test_keyedReceiverReportsIncompleteAfterTimeout(self) -> None:
        now = [NOW]
        bob = Conversation(ROOM, "fernet", keys(ROOM), clock=lambda: now[0])
        for emission in run(makeAttack("drop-chunk", index=2), sealed("fernet", "z" * 300, maxPayload=120)):
            if emission.raw:
                self.assertEqual(bob.receive("alice", parseLine(emission.raw).params[1]), [])
        now[0] += 61
        self.assertEqual([r.reason for r in bob.expire()], ["incomplete"])

    def test_plainDropsTheIndexthLine(self) -> None:
        lines = [intercept("one"), intercept("two"), intercept("three")]
        out = run(makeAttack("drop-chunk", index=2), lines)
        self.assertEqual([e.raw for e in out if e.raw], [lines[0].raw, lines[2].raw])


class DropTests(SynchronousTestCase):
    def test_dropsWholeMessagesAfterLettingSomeThrough(self) -> None:
        alice = conversation("fernet")
        bodies = ["one", "t" * 300, "three"]
        lines = [[intercept(t) for t in alice.encode("alice", body, 120)] for body in bodies]
        self.assertGreater(len(lines[1]), 1)
        attack = makeAttack("drop", times=1, after=1)
        out = run(attack, [line for message in lines for line in message])
        delivered = [e.raw for e in out if e.raw]
        self.assertEqual(delivered, [line.raw for line in lines[0] + lines[2]])
        self.assertEqual(len([e for e in out if not e.raw]), len(lines[1]))
        # Its last chunk seen, a dropped message is forgotten (memory stays bounded).
        self.assertEqual(attack._dropping, set())

    def test_theNextMessageShowsTheGap(self) -> None:
        alice = conversation("fernet")
        lines = [intercept(t) for body in ("one", "two", "three") for t in alice.encode("alice", body, MAX_PAYLOAD)]
        results = receive("fernet", run(makeAttack("drop", times=1, after=1), lines))
        self.assertEqual([(r.body, r.missing) for r in results], [("one", 0), ("three", 1)])

    def test_plainLinesAreMessages(self) -> None:
        lines = [intercept("one"), intercept("two")]
        out = run(makeAttack("drop"), lines)
        self.assertEqual([e.raw for e in out if e.raw], [])


class ReorderTests(SynchronousTestCase):
    def test_swapsWithTheNext(self) -> None:
        first, second, third = intercept("1"), intercept("2"), intercept("3")
        attack = makeAttack("reorder", times=1)
        self.assertEqual(attack.process(first), [])
        self.assertEqual([e.raw for e in attack.process(second)], [second.raw, first.raw])
        self.assertEqual([e.raw for e in attack.process(third)], [third.raw])

    def test_flushReleasesTheHeldLine(self) -> None:
        attack = makeAttack("reorder")
        line = intercept("1")
        attack.process(line)
        self.assertEqual([e.raw for e in attack.flush()], [line.raw])
        self.assertEqual(attack.flush(), [])

    def test_sequenceNumbersShowIt(self) -> None:
        alice = conversation("fernet")
        lines = [intercept(t) for body in ("first", "second") for t in alice.encode("alice", body, MAX_PAYLOAD)]
        results = receive("fernet", run(makeAttack("reorder", times=1), lines))
        self.assertEqual([(r.body, r.reordered) for r in results], [("second", False), ("first", True)])


class DelayAndClockShiftTests(SynchronousTestCase):
    def test_delayDefaultsPastTheTtlWindow(self) -> None:
        line = intercept("hello")
        out = makeAttack("delay").process(line)
        self.assertEqual([(e.raw, e.delay) for e in out], [(line.raw, attacks.PAST_TTL_DELAY)])
        self.assertGreater(attacks.PAST_TTL_DELAY, 30 + 5)

    def test_clockShiftForwardsAndCarriesTheOffset(self) -> None:
        """A relay cannot change a clock: the shift is for the demo to apply at the sender."""
        line = intercept("hello")
        attack = makeAttack("clock-shift")
        self.assertEqual(attack.process(line), [Emission(line.raw)])
        self.assertEqual(attack.senderClockOffset, -45.0)
        self.assertEqual(makeAttack("clock-shift", delay=-10.0).senderClockOffset, -10.0)


class ForgeTests(SynchronousTestCase):
    def test_plainForgeryIsAccepted(self) -> None:
        out = run(makeAttack("forge"), [intercept("hello")])
        self.assertEqual(out[0].raw, intercept("hello").raw)
        results = receive("plain", out)
        self.assertEqual(len(results), 2)
        self.assertTrue(results[1].body.startswith(tokens.FORGED_PLAIN_PREFIX))
        self.assertEqual(results[1].sender, "alice")

    def test_forgeryIsTheSizeOfTheLineSeen(self) -> None:
        """
        The forgery is sized from the piece on the line, never from its
        claimed i/n, which any member can write: 1/99999999999999 made the
        proxy build a line of that many pieces (MemoryError, or a 40 MB line).
        """
        for total in (1, 100_000, 99_999_999_999_999):
            text = "+sc2 fernet %s 1/%d %s" % ("A" * 22, total, "B" * 400)
            [genuine, forged] = run(makeAttack("forge"), [intercept(text)])
            self.assertLessEqual(len(forged.raw), len(genuine.raw) + 4)
            self.assertGreater(len(forged.raw), len(genuine.raw) - 20)

    def test_keyedLayersRejectTheForgery(self) -> None:
        for layer in ("aes-ctr", "fernet", "fernet-ttl"):
            results = receive(layer, run(makeAttack("forge"), sealed(layer, "hello")))
            self.assertIsInstance(results[0], Accepted, layer)
            self.assertIsInstance(results[1], Rejected, layer)
            self.assertIn(results[1].reason, ("tampered", "malformed"), layer)


class ReattributeTests(SynchronousTestCase):
    def test_plainIsReattributedSilently(self) -> None:
        results = receive("plain", run(makeAttack("reattribute", as_nick="carol"), [intercept("hi")]))
        self.assertEqual([(r.sender, r.body) for r in results], [("carol", "hi")])

    def test_aesCtrSealedSenderIsRewrittenToo(self) -> None:
        """Malleability: the relay XORs the known nick, the envelope check passes."""
        results = receive("aes-ctr", run(makeAttack("reattribute", as_nick="carol"), sealed("aes-ctr", "hi")))
        self.assertEqual([(type(r), r.sender, r.body) for r in results], [(Accepted, "carol", "hi")])

    def test_aesCtrDifferentLengthOnlyPrefix(self) -> None:
        results = receive("aes-ctr", run(makeAttack("reattribute", as_nick="mallory"), sealed("aes-ctr", "hi")))
        self.assertEqual([r.reason for r in results], ["re-attributed"])

    def test_fernetSaysReattributed(self) -> None:
        for layer in ("fernet", "fernet-ttl"):
            results = receive(layer, run(makeAttack("reattribute", as_nick="carol"), sealed(layer, "hi")))
            self.assertEqual([r.reason for r in results], ["re-attributed"], layer)

    def test_defaultsToAnotherMemberFromTheRoster(self) -> None:
        roster = Roster()
        for nick in ("alice", "bob", "carol"):
            roster.feed(Message("JOIN", (ROOM,), nick + "!u@h"))
        out = makeAttack("reattribute").process(intercept("hi", roster=roster))
        self.assertEqual(parseLine(out[0].raw).sourceNick, "carol")

    def test_unwritableNickRefused(self) -> None:
        for nick in ("x y", ":x", "", "a!b", "a@b", "a\rb"):
            self.assertRaises(ValueError, makeAttack, "reattribute", as_nick=nick)

    def test_noOtherMemberForwards(self) -> None:
        line = intercept("hi")
        self.assertEqual(makeAttack("reattribute").process(line), [Emission(line.raw)])


class MoveRoomTests(SynchronousTestCase):
    def test_plainIsMovedSilently(self) -> None:
        out = run(makeAttack("move-room", to_room=OTHER_ROOM), [intercept("hi")])
        self.assertEqual(parseLine(out[0].raw).params[0], OTHER_ROOM)
        results = receive("plain", out, OTHER_ROOM)
        self.assertEqual([(type(r), r.target) for r in results], [(Accepted, OTHER_ROOM)])

    def test_keyedLayersRefuseIt(self) -> None:
        """Room keys differ per room: the moved token does not open there."""
        for layer in ("aes-ctr", "fernet", "fernet-ttl"):
            results = receive(layer, run(makeAttack("move-room", to_room=OTHER_ROOM), sealed(layer, "hi")), OTHER_ROOM)
            self.assertEqual([r.reason for r in results], ["tampered"], layer)

    def test_defaultsToASharedRoom(self) -> None:
        roster = Roster()
        # "#aaa" sorts first and holds only the sender: a room must hold both.
        joins = (("alice", ROOM), ("bob", ROOM), ("alice", OTHER_ROOM), ("bob", OTHER_ROOM), ("alice", "#aaa"))
        for nick, room in joins:
            roster.feed(Message("JOIN", (room,), nick + "!u@h"))
        out = makeAttack("move-room").process(intercept("hi", roster=roster))
        self.assertEqual(parseLine(out[0].raw).params[0], OTHER_ROOM)

    def test_unwritableRoomRefused(self) -> None:
        for room in ("#a b", ":x", "", "#a,#b", "#a\nb"):
            self.assertRaises(ValueError, makeAttack, "move-room", to_room=room)

    def test_noSharedRoomForwards(self) -> None:
        line = intercept("hi")
        self.assertEqual(makeAttack("move-room").process(line), [Emission(line.raw)])
        self.assertEqual(makeAttack("move-room", to_room="#LAB").process(line), [Emission(line.raw)])


class RenameTests(SynchronousTestCase):
    """The relay assigns nicks: `rename` tells alice she is carol, and the others that carol spoke."""

    def line(self, raw: bytes, receiver: str, ledger=None) -> Intercepted:
        return Intercepted(raw, parseLine(raw), receiver, Roster(), {} if ledger is None else ledger)

    def test_forgedNickAfterTheVictimJoins(self):
        attack = makeAttack("rename", as_nick="carol", victim="alice", via="nick")
        self.assertTrue(attack.wholeConnection)
        self.assertEqual(attack.process(self.line(b":irc 001 alice :hi", "alice")), [Emission(b":irc 001 alice :hi")])
        out = attack.process(self.line(b":alice!a@h JOIN #lab", "alice"))
        self.assertEqual([e.raw for e in out], [b":alice!a@h JOIN #lab", b":alice!a@h NICK carol"])
        # From then on alice's view is translated: the relay still calls her alice.
        [later] = attack.process(self.line(b":alice!a@h JOIN #ops", "alice"))
        self.assertEqual(later.raw, b":carol!a@h JOIN #ops")
        [names] = attack.process(self.line(b":irc 353 alice = #ops :@alice bob", "alice"))
        self.assertEqual(names.raw, b":irc 353 carol = #ops :@carol bob")

    def test_othersSeeTheVictimsMessagesAsTheNewNicks(self):
        attack = makeAttack("rename", as_nick="carol", victim="alice")
        [out] = attack.process(self.line(b":alice!a@h PRIVMSG #lab :+sc2 fernet x 1/1 AAAA", "bob"))
        self.assertEqual(out.raw, b":carol!a@h PRIVMSG #lab :+sc2 fernet x 1/1 AAAA")
        [untouched] = attack.process(self.line(b":dave!d@h PRIVMSG #lab :hi", "bob"))
        self.assertEqual(untouched.raw, b":dave!d@h PRIVMSG #lab :hi")

    def test_welcomeAfterAForcedReconnect(self):
        ledger = {}
        first = makeAttack("rename", as_nick="carol", victim="alice", via="welcome")
        welcome = b":irc 001 alice :hi"
        self.assertEqual(first.process(self.line(welcome, "alice", ledger)), [Emission(welcome)])
        out = first.process(self.line(b":alice!a@h JOIN #lab", "alice", ledger))
        self.assertTrue(out[-1].close, "the connection is cut")
        second = makeAttack("rename", as_nick="carol", victim="alice", via="welcome")
        [welcome] = second.process(self.line(b":irc 001 alice :Welcome alice!a@h", "alice", ledger))
        self.assertEqual(welcome.raw, b":irc 001 carol :Welcome alice!a@h")
        [join] = second.process(self.line(b":alice!a@h JOIN #lab", "alice", ledger))
        self.assertEqual((join.raw, join.close), (b":carol!a@h JOIN #lab", False))

    def test_needsItsParameters(self):
        self.assertRaises(ValueError, makeAttack, "rename", victim="alice")
        self.assertRaises(ValueError, makeAttack, "rename", as_nick="carol")
        self.assertRaises(ValueError, makeAttack, "rename", as_nick="carol", victim="alice", via="smoke")


class ViewAttackTests(SynchronousTestCase):
    """Issue 23: the relay shows members different subsets of a member's messages."""

    def test_withholdFromOneDropsWholeMessagesForItsConnection(self) -> None:
        alice = conversation("fernet")
        lines = [[intercept(t) for t in alice.encode("alice", body, 120)] for body in ("one", "t" * 300)]
        self.assertGreater(len(lines[1]), 1)
        attack = makeAttack("withhold-from-one")
        out = run(attack, [line for message in lines for line in message])
        self.assertEqual([e.raw for e in out if e.raw], [])
        self.assertEqual(len(out), len(lines[0]) + len(lines[1]))
        self.assertIn("withheld from bob only", out[0].note)

    def test_withholdFromOneCountsMessagesNotChunks(self) -> None:
        """times=1: the first message, all its chunks, and nothing after."""
        alice = conversation("fernet")
        lines = [[intercept(t) for t in alice.encode("alice", body, 120)] for body in ("t" * 300, "two")]
        out = run(makeAttack("withhold-from-one", times=1), [line for message in lines for line in message])
        self.assertEqual([e.raw for e in out if e.raw], [line.raw for line in lines[1]])

    def split(self, receiver: str, first: Optional[str], ledger: dict, bodies=("one", "t" * 300, "three")):
        alice = conversation("fernet")
        attack = makeAttack("split-view", first=first)
        delivered = []
        for body in bodies:
            for text in alice.encode("alice", body, 120):
                raw = (":alice!alice@127.0.0.1 PRIVMSG %s :%s" % (ROOM, text)).encode()
                for emission in attack.process(Intercepted(raw, parseLine(raw), receiver, Roster(), ledger)):
                    if emission.raw:
                        delivered.append(emission.raw)
        return receive("fernet", [Emission(raw) for raw in delivered])

    def test_splitViewGivesOddToOneAndEvenToTheOthers(self) -> None:
        bob = self.split("bob", "bob", {})
        carol = self.split("carol", "bob", {})
        self.assertEqual([r.body for r in bob], ["one", "three"])
        self.assertEqual([r.body for r in carol], ["t" * 300])  # the chunked one, whole

    def test_splitViewWithoutFirstTakesTheFirstReceiverFromTheLedger(self) -> None:
        ledger: dict = {}
        carol = self.split("carol", None, ledger, ("one", "two"))
        bob = self.split("bob", None, ledger, ("one", "two"))
        self.assertEqual([r.body for r in carol], ["one"])
        self.assertEqual([r.body for r in bob], ["two"])
