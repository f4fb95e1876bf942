"""
The forward layer's fast paths (issue 22 point 5, docs/performance.md): each
branch taken to save time gives the same verdicts as the general one.
"""

from __future__ import annotations

from typing import List, Tuple

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from securechat.codec import Accepted
from securechat.codec.forward import PROTECTION
from securechat.codec.identity import identity_fingerprint
from securechat.codec.layers import FORWARD
from tests.test_codec_forward import PAYLOAD, Member, admitEachOther, deliver


def flags(results: List[object]) -> List[Tuple[str, int, int, bool]]:
    """(body, seq, missing, reordered) of each result, which must all be accepted."""
    out = []
    for result in results:
        assert isinstance(result, Accepted), result
        assert result.seq is not None
        out.append((result.body, result.seq, result.missing, result.reordered))
    return out


class BatchSettlingTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1_800_000_000)
        self.alice = Member("alice", self.clock)
        self.bob = Member("bob", self.clock)
        admitEachOther([self.alice, self.bob])

    def send(self, *bodies: str) -> List[List[str]]:
        """The lines of each body; the last body of each call ends its batch."""
        return [self.alice.room.encode(body, PAYLOAD, last=n == len(bodies) - 1) for n, body in enumerate(bodies)]

    def test_batchSettledWhileTheNextIsHeld(self) -> None:
        """A batch verified while messages of the next one are held takes only its own; the rest show later."""
        one, two = self.send("one", "two")
        three, four = self.send("three", "four")
        self.assertEqual(deliver(self.bob, self.alice, one + three), [])
        self.assertEqual(self.bob.room.held, 2)
        self.assertEqual(flags(deliver(self.bob, self.alice, two)), [("one", 0, 0, False), ("two", 1, 0, False)])
        self.assertEqual(self.bob.room.held, 1)
        self.assertEqual(flags(deliver(self.bob, self.alice, four)), [("three", 2, 0, False), ("four", 3, 0, False)])
        self.assertEqual(self.bob.room.held, 0)

    def test_batchesSettledOutOfOrder(self) -> None:
        """A later batch shown first reports the gap; the earlier one, shown after, is all late (reordered)."""
        first = self.send("one", "two")
        second = self.send("three", "four")
        self.assertEqual(flags(deliver(self.bob, self.alice, second[0] + second[1])),
                         [("three", 2, 2, False), ("four", 3, 0, False)])  # fmt: skip
        self.assertEqual(flags(deliver(self.bob, self.alice, first[0] + first[1])),
                         [("one", 0, 0, True), ("two", 1, 0, True)])  # fmt: skip
        self.assertEqual(flags(deliver(self.bob, self.alice, self.send("five")[0])), [("five", 4, 0, False)])

    def test_acceptedIsWhole(self) -> None:
        """What a verified batch shows is a whole Accepted, equal to one built field by field."""
        lines = self.send("one")[0]
        (result,) = deliver(self.bob, self.alice, lines)
        msgid = lines[0].split(" ")[2]
        expected = Accepted(
            FORWARD, "alice", "#room", "one", PROTECTION, msgid, 0, 1_800_000_000, 0, False,
            signer=identity_fingerprint(self.alice.identity.public_key),
            stream=self.alice.chains.outbound.chain_id,
        )  # fmt: skip
        self.assertEqual(type(result), Accepted)
        self.assertEqual(len(result), len(Accepted._fields))  # type: ignore[arg-type]
        self.assertEqual(result, expected)
        self.assertEqual(result.trust, None)  # type: ignore[attr-defined]
        self.assertEqual(result.views, ())  # type: ignore[attr-defined]


class OnePieceLineTests(SynchronousTestCase):
    """A line is taken on the one-piece fast path only when the general parser would read it the same way."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1_800_000_000)
        self.alice = Member("alice", self.clock)
        self.bob = Member("bob", self.clock)
        admitEachOther([self.alice, self.bob])

    def reasons(self, line: str) -> List[str]:
        return [getattr(result, "reason", None) or result.body for result in self.bob.room.receive("alice", line)]  # type: ignore[attr-defined]

    def test_nearMissesGoTheGeneralWay(self) -> None:
        """Each near miss of the common line gets the general parser's verdict; the genuine line still shows."""
        (line,) = self.alice.room.encode("hello", PAYLOAD)
        prefix, msgid, count, piece = line.rsplit(" ", 3)
        self.assertEqual(count, "1/1")
        self.assertEqual(self.reasons(f"{prefix} {msgid[:-1]}B 1/1 {piece}"), ["malformed"])  # msgid's last character
        self.assertEqual(self.reasons(f"{prefix} {msgid}A 1/1 {piece}"), ["malformed"])  # 23 characters
        self.assertEqual(self.reasons(f"{prefix} {msgid} 1/1 "), ["malformed"])  # no piece
        self.assertEqual(self.reasons(f"{prefix} {msgid} 01/1 {piece}"), ["malformed"])
        self.assertEqual(self.reasons(f"{prefix} {msgid} 1/1 {piece}\n"), ["malformed"])
        self.assertEqual(self.reasons(f"{prefix} {msgid} 1/1  {piece}"), ["malformed"])
        self.assertEqual(self.reasons(f"{prefix}  {msgid} 1/1 {piece}"), ["malformed"])
        self.assertEqual(self.reasons(f"{prefix.upper()} {msgid} 1/1 {piece}"), ["unprotected"])
        self.assertEqual(self.reasons(line), ["hello"])

    def test_pendingPiecesTakeTheGeneralWay(self) -> None:
        """
        While pieces of a message are pending, a one-piece line goes the
        general way: the late pieces time out (reported on the next line),
        and a message whose last piece arrives still shows.
        """
        long = self.alice.room.encode("long " * 40, 120)
        self.assertGreater(len(long), 2)
        self.assertEqual(self.bob.room.receive("alice", long[0]), [])
        self.assertTrue(self.bob.room._reassembler.pending)
        self.clock.advance(self.bob.room._limits.timeout)
        (line,) = self.alice.room.encode("hello", PAYLOAD)
        reasons = self.reasons(line)
        self.assertEqual(reasons[0], "incomplete")
        self.assertEqual(reasons[1:], ["hello"])
        self.assertFalse(self.bob.room._reassembler.pending)
