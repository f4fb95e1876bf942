"""
The forward layer (securechat.codec.forward): sender-chain lines whose
authorship is signed per batch, held by receivers until a signature covers them.
"""

from __future__ import annotations

import hashlib
import os
import struct
from typing import List, Tuple

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from securechat.codec import Accepted, Identity, Rejected
from securechat.codec.chunks import encode_msgid, split_token
from securechat.codec.forward import (
    MAX_BATCH,
    PROTECTION,
    ForwardRoom,
    batch_signed_bytes,
)
from securechat.codec.identity import identity_fingerprint
from securechat.codec.layers import FORWARD, b64encode
from securechat.codec.sessions import RoomChains, admit_proof
from securechat.codec.sessions.primitives import b64decode as sb64decode
from securechat.codec.sessions.primitives import chain_step, seal, sender_chain_step
from securechat.codec.sessions.senderchain import HEADER

ROOM = "#Room"
PAYLOAD = 400


class Member:
    """One member: identity, chains and forward room, on a shared clock."""

    def __init__(self, nick: str, clock: Clock, **options: object) -> None:
        self.nick = nick
        self.identity = Identity.generate()
        self.chains = RoomChains(ROOM, nick, self.identity)
        self.room = ForwardRoom(self.chains, self.identity, clock.seconds, **options)  # type: ignore[arg-type]


ROOM_KEY = os.urandom(32)


def admitEachOther(members: List[Member]) -> None:
    """Every member admits every other (pinned identity + proof) and takes its chain start."""
    for one in members:
        for other in members:
            if one is other:
                continue
            sid = os.urandom(32)
            record = one.chains.admit(
                other.nick, other.identity.public_key, other.identity.public_key, ROOM_KEY, sid,
                admit_proof(ROOM_KEY, ROOM, other.nick, sid),
            )  # fmt: skip
            other.chains.members[one.nick.lower()] = one.identity.public_key
            other.chains.receive_start(one.nick, record)


def handNewChain(sender: Member, receivers: List[Member]) -> None:
    """C{sender}'s current chain start, to each receiver (as after a leave)."""
    for receiver in receivers:
        receiver.chains.receive_start(sender.nick, sender.chains.outbound.start_record())


def deliver(receiver: Member, sender: Member, lines: List[str]) -> List[object]:
    results: List[object] = []
    for line in lines:
        results.extend(receiver.room.receive(sender.nick, line))
    return results


def forgeOn(thief: Member, victim: Member, body: str, now: int, ahead: int = 0) -> Tuple[bytes, bytes]:
    """A message on C{victim}'s chain made by C{thief} from the chain keys it was handed."""
    state = thief.chains.inbound[victim.nick.lower()][-1].to_dict()

    key = sb64decode(state["chain_key"], 32)
    chainId = sb64decode(state["chain_id"], 16)
    for _ in range(ahead):
        _, key = sender_chain_step(key)
    messageKey, _ = sender_chain_step(key)
    header = HEADER.pack(1, chainId, state["next"] + ahead)
    message = header + seal(messageKey, struct.pack(">Q", now) + body.encode("utf-8"), header)
    return chainId, message


def lineOf(token: bytes, msgid: bytes) -> List[str]:
    return split_token(FORWARD, encode_msgid(msgid), b64encode(token), PAYLOAD, 256)


class ForwardRoundTripTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1_800_000_000)
        self.alice = Member("Alice", self.clock)
        self.bob = Member("bob", self.clock)
        self.carol = Member("carol", self.clock)
        admitEachOther([self.alice, self.bob, self.carol])

    def test_oneMessageIsSignedAndShown(self) -> None:
        """A message sent when nothing else is queued carries its batch's signature and is shown at once."""
        results = deliver(self.bob, self.alice, self.alice.room.encode("hello", PAYLOAD))
        self.assertEqual(len(results), 1)
        accepted = results[0]
        assert isinstance(accepted, Accepted)
        self.assertEqual(accepted.body, "hello")
        self.assertEqual(accepted.layer, FORWARD)
        self.assertEqual(accepted.protection, PROTECTION)
        self.assertEqual(accepted.signer, identity_fingerprint(self.alice.identity.public_key))
        self.assertEqual(accepted.sent_at, 1_800_000_000)
        self.assertEqual(accepted.seq, 0)
        self.assertEqual(self.bob.room.held, 0)

    def test_openedButUnreadableIsMalformed(self) -> None:
        """
        A message that opens on the chain but has no 8-byte time, or whose
        body is not UTF-8, is malformed and never held; the chain reads on.
        """
        timed = struct.pack(">Q", 1_800_000_000)
        for plaintext, why in ((b"\x00" * 7, "without its time"), (timed + b"\xff", "UTF-8")):
            message = self.alice.chains.outbound.seal(plaintext)
            results = deliver(self.bob, self.alice, lineOf(b"\x00" + message, hashlib.sha256(message).digest()[:16]))
            self.assertEqual([(r.reason, why in r.description) for r in results], [("malformed", True)])  # type: ignore[attr-defined]
            self.assertEqual(self.bob.room.held, 0)
        results = deliver(self.bob, self.alice, self.alice.room.encode("after", PAYLOAD))
        self.assertEqual([r.body for r in results if isinstance(r, Accepted)], ["after"])

    def test_batchHeldUntilSigned(self) -> None:
        """Messages sent while more are queued are held by receivers until the batch's last one signs them all."""
        first = self.alice.room.encode("one", PAYLOAD, last=False)
        second = self.alice.room.encode("two", PAYLOAD, last=False)
        third = self.alice.room.encode("three", PAYLOAD, last=True)
        self.assertEqual(deliver(self.bob, self.alice, first + second), [])
        self.assertEqual(self.bob.room.held, 2)
        results = deliver(self.bob, self.alice, third)
        self.assertEqual([r.body for r in results if isinstance(r, Accepted)], ["one", "two", "three"])
        self.assertEqual(self.bob.room.held, 0)

    def test_batchBoundedByMaxBatch(self) -> None:
        """The sender signs after max_batch messages even if its queue never drains."""
        alice = Member("alice2", self.clock, max_batch=2)
        admitEachOther([alice, self.bob])
        lines = [alice.room.encode(str(n), PAYLOAD, last=False) for n in range(4)]
        self.assertEqual(deliver(self.bob, alice, lines[0]), [])
        self.assertEqual(len(deliver(self.bob, alice, lines[1])), 2)
        self.assertEqual(deliver(self.bob, alice, lines[2]), [])
        self.assertEqual(len(deliver(self.bob, alice, lines[3])), 2)
        self.assertRaises(ValueError, Member, "x", self.clock, max_batch=MAX_BATCH + 1)

    def test_signatureBeforeItsMessages(self) -> None:
        """A batch's last line arriving before an earlier one waits; the late one settles it."""
        first = self.alice.room.encode("one", PAYLOAD, last=False)
        second = self.alice.room.encode("two", PAYLOAD, last=True)
        self.assertEqual(deliver(self.bob, self.alice, second), [])
        results = deliver(self.bob, self.alice, first)
        self.assertEqual([r.body for r in results if isinstance(r, Accepted)], ["one", "two"])

    def test_lostLineRefusesItsBatchNeverShows(self) -> None:
        """A line of a batch lost: the batch's other messages are never shown; they time out as unverified."""
        lines = [self.alice.room.encode(str(n), PAYLOAD, last=n == 2) for n in range(3)]
        self.assertEqual(deliver(self.bob, self.alice, lines[0] + lines[2]), [])
        self.clock.advance(self.bob.room.hold_seconds + 1)
        results = self.bob.room.expire()
        self.assertEqual([r.reason for r in results if isinstance(r, Rejected)], ["unverified", "unverified"])
        self.assertEqual(self.bob.room.held, 0)

    def test_expiryRunsOnReceive(self) -> None:
        """Held messages time out on the next received line too, without a separate call."""
        deliver(self.bob, self.alice, self.alice.room.encode("held", PAYLOAD, last=False))
        self.clock.advance(self.bob.room.hold_seconds + 1)
        results = deliver(self.bob, self.carol, self.carol.room.encode("hi", PAYLOAD))
        self.assertEqual([(type(r).__name__, getattr(r, "reason", None)) for r in results],
                         [("Rejected", "unverified"), ("Accepted", None)])  # fmt: skip

    def test_memberCannotImpersonate(self) -> None:
        """carol holds alice's chain keys: what she seals on it never shows as alice's."""
        chainId, message = forgeOn(self.carol, self.alice, "I owe carol 100", 1_800_000_000)
        digest = hashlib.sha256(message).digest()
        index = struct.unpack(">I", message[17:21])[0]
        signature = self.carol.identity.sign(batch_signed_bytes(chainId, index, index, [digest]))
        token = b"\x01" + message + struct.pack(">I", index) + signature
        results = deliver(self.bob, self.alice, lineOf(token, digest[:16]))
        self.assertEqual([r.reason for r in results], ["bad-signature"])  # type: ignore[attr-defined]
        # Unsigned, it is held; both are refused when no signature of alice's covers them: never shown.
        chainId, message = forgeOn(self.carol, self.alice, "unsigned forgery", 1_800_000_000, ahead=1)
        digest = hashlib.sha256(message).digest()
        self.assertEqual(deliver(self.bob, self.alice, lineOf(b"\x00" + message, digest[:16])), [])
        self.clock.advance(self.bob.room.hold_seconds + 1)
        self.assertEqual([r.reason for r in self.bob.room.expire()], ["unverified", "unverified"])
        self.assertEqual(self.bob.room.held, 0)

    def test_bogusSignatureCostsNothingGenuine(self) -> None:
        """A signature the relay makes up over held messages is refused; the genuine one still shows them."""
        first = self.alice.room.encode("one", PAYLOAD, last=False)
        second = self.alice.room.encode("two", PAYLOAD, last=False)
        self.assertEqual(deliver(self.bob, self.alice, first + second), [])
        chainId = self.alice.chains.outbound.chain_id
        bogus = b"\x02" + chainId + struct.pack(">II", 0, 1) + os.urandom(64)
        results = deliver(self.bob, self.alice, lineOf(bogus, hashlib.sha256(bogus).digest()[:16]))
        self.assertEqual([r.reason for r in results], ["bad-signature"])  # type: ignore[attr-defined]
        self.assertEqual(self.bob.room.held, 2)
        results = deliver(self.bob, self.alice, self.alice.room.flush(PAYLOAD))
        self.assertEqual([r.body for r in results], ["one", "two"])  # type: ignore[attr-defined]

    def test_replayAndMsgidRewritten(self) -> None:
        """A line seen again is replayed (its key is erased); a rewritten header msgid changes nothing shown."""
        lines = self.alice.room.encode("once", PAYLOAD)
        deliver(self.bob, self.alice, lines)
        self.assertEqual([r.reason for r in deliver(self.bob, self.alice, lines)], ["replayed"])  # type: ignore[attr-defined]
        line = self.alice.room.encode("twice", PAYLOAD)[0].split(" ")
        genuine = line[2]
        line[2] = encode_msgid(os.urandom(16))
        results = deliver(self.bob, self.alice, [" ".join(line)])
        self.assertEqual([(r.body, r.msgid) for r in results], [("twice", genuine)])  # type: ignore[attr-defined]

    def test_reattributedOrMovedIsRefused(self) -> None:
        """alice's line shown as carol's, or in another room, opens on no chain."""
        lines = self.alice.room.encode("mine", PAYLOAD)
        self.assertEqual([r.reason for r in deliver(self.bob, self.carol, lines)], ["not-admitted"])  # type: ignore[attr-defined]

    def test_downgradeRefused(self) -> None:
        """Plain text, or a line of another layer, is not a message of a forward room."""
        results = self.bob.room.receive("alice", "hello in clear")
        self.assertEqual([r.reason for r in results], ["unprotected"])  # type: ignore[attr-defined]
        line = "+sc2 signed " + encode_msgid(os.urandom(16)) + " 1/1 AAAA"
        self.assertEqual([r.reason for r in self.bob.room.receive("alice", line)], ["unprotected"])  # type: ignore[attr-defined]

    def test_longBodyIsChunked(self) -> None:
        """A body longer than a line travels as several and opens whole."""
        body = "x" * 1500
        lines = self.alice.room.encode(body, PAYLOAD)
        self.assertGreater(len(lines), 3)
        for line in lines:
            self.assertLessEqual(len(line), PAYLOAD)
        results = deliver(self.bob, self.alice, lines)
        self.assertEqual([r.body for r in results], [body])  # type: ignore[attr-defined]

    def test_openBatchClosedBeforeNewChain(self) -> None:
        """Our chain renewed with a batch open: a signature line for the old chain goes out first."""
        held = self.alice.room.encode("before", PAYLOAD, last=False)
        deliver(self.bob, self.alice, held)
        records = self.alice.chains.leave("carol")
        self.bob.chains.receive_start("alice", records["bob"])
        lines = self.alice.room.encode("after", PAYLOAD)
        self.assertEqual(len(lines), 2)
        results = deliver(self.bob, self.alice, lines)
        self.assertEqual([r.body for r in results], ["before", "after"])  # type: ignore[attr-defined]

    def test_flush(self) -> None:
        """flush ends an open batch with a signature line; with no batch it sends nothing."""
        self.assertEqual(self.alice.room.flush(PAYLOAD), [])
        deliver(self.bob, self.alice, self.alice.room.encode("a", PAYLOAD, last=False))
        self.assertTrue(self.alice.room.batch_open)
        results = deliver(self.bob, self.alice, self.alice.room.flush(PAYLOAD))
        self.assertEqual([r.body for r in results], ["a"])  # type: ignore[attr-defined]
        self.assertFalse(self.alice.room.batch_open)

    def test_heldIsBounded(self) -> None:
        """More unsigned messages than max_held: the oldest is refused as unverified, memory stays bounded."""
        bob = Member("bob2", self.clock, max_held=2)
        admitEachOther([self.alice, bob])
        lines = [self.alice.room.encode(str(n), PAYLOAD, last=False) for n in range(3)]
        results = deliver(bob, self.alice, lines[0] + lines[1] + lines[2])
        self.assertEqual([r.reason for r in results], ["unverified"])  # type: ignore[attr-defined]
        self.assertEqual(bob.room.held, 2)

    def test_floodEvictsOnlyTheFloodersOwn(self) -> None:
        """
        A member that floods unsigned messages past its chain's quota loses
        its own oldest, never another member's held messages: alice's batch,
        held while carol floods, is shown once its signature comes.
        """
        bob = Member("bob2", self.clock, max_held=8, max_held_per_chain=4)
        admitEachOther([self.alice, self.carol, bob])
        alice = deliver(bob, self.alice, self.alice.room.encode("a1", PAYLOAD, last=False))
        alice += deliver(bob, self.alice, self.alice.room.encode("a2", PAYLOAD, last=False))
        flood = [line for n in range(20) for line in self.carol.room.encode(str(n), PAYLOAD, last=False)]
        refused = deliver(bob, self.carol, flood)
        self.assertEqual(alice, [])
        self.assertEqual(len(refused), 16)
        self.assertEqual({(r.sender, r.reason) for r in refused}, {("carol", "unverified")})  # type: ignore[attr-defined]
        self.assertEqual(bob.room.held, 2 + 4)
        shown = deliver(bob, self.alice, self.alice.room.flush(PAYLOAD))
        self.assertEqual([r.body for r in shown], ["a1", "a2"])  # type: ignore[attr-defined]

    def test_heldBoundEvictsTheFullestChain(self) -> None:
        """Past max_held in all, the chain holding the most loses its oldest, not whoever arrived first."""
        bob = Member("bob2", self.clock, max_held=4, max_held_per_chain=4)
        admitEachOther([self.alice, self.carol, bob])
        deliver(bob, self.alice, self.alice.room.encode("a1", PAYLOAD, last=False))
        flood = [line for n in range(4) for line in self.carol.room.encode(str(n), PAYLOAD, last=False)]
        refused = deliver(bob, self.carol, flood)
        self.assertEqual([(r.sender, r.reason) for r in refused], [("carol", "unverified")])  # type: ignore[attr-defined]
        self.assertEqual(bob.room.held, 4)
        shown = deliver(bob, self.alice, self.alice.room.flush(PAYLOAD))
        self.assertEqual([r.body for r in shown], ["a1"])  # type: ignore[attr-defined]

    def test_withheldLineKeyErasedOnceItCouldNotBeAccepted(self) -> None:
        """
        The relay withholds a line and keeps its copy: the skipped key it
        left is erased once the line would be refused as expired anyway
        (ttl + 2 * skew after it was skipped), so a later theft of bob's
        state cannot open it; before then it still opens, late.
        """
        lines = [self.alice.room.encode(str(n), PAYLOAD) for n in range(4)]
        deliver(self.bob, self.alice, lines[0] + lines[3])
        self.assertEqual(self.bob.room.key_window, 30 + 2 * 5)
        self.clock.advance(34)
        self.assertEqual(self.bob.room.forget_keys(), 0)
        self.assertEqual([r.body for r in deliver(self.bob, self.alice, lines[1])], ["1"])  # type: ignore[attr-defined]
        self.clock.advance(5)
        self.assertEqual(self.bob.room.forget_keys(), 0)
        self.assertEqual(len(self.bob.chains.to_dict()["inbound"]["alice"][-1]["skipped"]), 1)
        self.clock.advance(1)
        self.assertEqual(self.bob.room.forget_keys(), 1)
        self.assertEqual(self.bob.chains.to_dict()["inbound"]["alice"][-1]["skipped"], [])
        self.assertEqual([r.reason for r in deliver(self.bob, self.alice, lines[2])], ["replayed"])  # type: ignore[attr-defined]

    def test_leaverReadsNothingAfter(self) -> None:
        """After carol leaves, alice's new chain goes to bob only: carol opens nothing alice says next."""
        records = self.alice.chains.leave("carol")
        self.assertEqual(sorted(records), ["bob"])
        self.bob.chains.receive_start("alice", records["bob"])
        lines = self.alice.room.encode("carol is gone", PAYLOAD)
        self.assertEqual([r.reason for r in deliver(self.carol, self.alice, lines)], ["not-admitted"])  # type: ignore[attr-defined]
        self.assertEqual([r.body for r in deliver(self.bob, self.alice, lines)], ["carol is gone"])  # type: ignore[attr-defined]

    def test_malformedTokens(self) -> None:
        """Unknown kinds and short tokens are malformed, and nothing is held."""
        for token in (b"\x07abc", b"\x01" + bytes(30), b"\x02" + bytes(10)):
            results = deliver(self.bob, self.alice, lineOf(token, os.urandom(16)))
            self.assertIn(results[0].reason, ("malformed", "tampered"))  # type: ignore[attr-defined]
        self.assertEqual(self.bob.room.held, 0)


class ChainStepTests(SynchronousTestCase):
    def test_sameAsHmac(self) -> None:
        """The written-out HMAC of chain_step gives exactly hmac.digest's bytes, for any key length."""
        import hmac

        for size in (32, 32, 32, 16, 64, 65):
            key = os.urandom(size)
            self.assertEqual(
                chain_step(key), (hmac.digest(key, b"\x01", "sha256"), hmac.digest(key, b"\x02", "sha256"))
            )


class ForwardFlagsTests(SynchronousTestCase):
    """What the chain's index and the sealed time let a receiver say about a genuine message."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1_800_000_000)
        self.alice = Member("alice", self.clock)
        self.bob = Member("bob", self.clock)
        admitEachOther([self.alice, self.bob])

    def test_gapFlagged(self) -> None:
        """A message the relay dropped shows as a gap before the next one."""
        first, dropped, third = (self.alice.room.encode(b, PAYLOAD) for b in ("one", "two", "three"))
        results = deliver(self.bob, self.alice, first + third)
        self.assertEqual([(r.body, r.missing, r.reordered) for r in results],  # type: ignore[attr-defined]
                         [("one", 0, False), ("three", 1, False)])  # fmt: skip

    def test_lateFlaggedReordered(self) -> None:
        """A message delivered after a later one is flagged reordered, and fills no gap twice."""
        first, second = (self.alice.room.encode(b, PAYLOAD) for b in ("one", "two"))
        results = deliver(self.bob, self.alice, second + first)
        self.assertEqual([(r.body, r.missing, r.reordered) for r in results],  # type: ignore[attr-defined]
                         [("two", 1, False), ("one", 0, True)])  # fmt: skip

    def test_joinerSeesNoGapBeforeItsStart(self) -> None:
        """A member admitted mid-chain counts from the index it was handed, not from 0."""
        for body in ("a", "b"):
            self.alice.room.encode(body, PAYLOAD)
        carol = Member("carol", self.clock)
        admitEachOther([self.alice, carol])
        results = deliver(carol, self.alice, self.alice.room.encode("c", PAYLOAD))
        self.assertEqual([(r.body, r.missing) for r in results], [("c", 0)])  # type: ignore[attr-defined]

    def test_delayedPastTtlIsExpired(self) -> None:
        """Held back past the TTL and skew (35 s): genuine, signed, refused as expired."""
        lines = self.alice.room.encode("stale", PAYLOAD)
        self.clock.advance(36)
        self.assertEqual([r.reason for r in deliver(self.bob, self.alice, lines)], ["expired"])  # type: ignore[attr-defined]
        self.clock.advance(-36)

    def test_fromFuture(self) -> None:
        """A sender whose clock runs ahead beyond the skew: refused as from the future."""
        lines = self.alice.room.encode("ahead", PAYLOAD)
        self.clock.rightNow -= 6
        self.assertEqual([r.reason for r in deliver(self.bob, self.alice, lines)], ["from-future"])  # type: ignore[attr-defined]

    def test_staleInBatchDoesNotSinkTheBatch(self) -> None:
        """One stale message in a batch is refused on its own; the rest of the batch shows."""
        bob = Member("bob2", self.clock, max_batch=2)
        admitEachOther([self.alice, bob])
        first = self.alice.room.encode("old", PAYLOAD, last=False)
        self.clock.advance(36)
        second = self.alice.room.encode("new", PAYLOAD, last=True)
        results = deliver(bob, self.alice, first + second)
        self.assertEqual([getattr(r, "reason", None) or r.body for r in results], ["expired", "new"])  # type: ignore[attr-defined]


class WaitingSignatureTests(SynchronousTestCase):
    def test_bogusAndGenuineWaitingTogether(self) -> None:
        """Both a made-up and the genuine signature arrive before their message: the genuine one still shows it."""
        clock = Clock()
        clock.advance(1_800_000_000)
        alice, bob = Member("alice", clock), Member("bob", clock)
        admitEachOther([alice, bob])
        first = alice.room.encode("one", PAYLOAD, last=False)
        second = alice.room.encode("two", PAYLOAD, last=True)
        chainId = alice.chains.outbound.chain_id
        bogus = b"\x02" + chainId + struct.pack(">II", 0, 0) + os.urandom(64)
        self.assertEqual(deliver(bob, alice, lineOf(bogus, hashlib.sha256(bogus).digest()[:16]) + second), [])
        results = deliver(bob, alice, first)
        self.assertEqual([getattr(r, "reason", None) or r.body for r in results], ["bad-signature", "one", "two"])  # type: ignore[attr-defined]
