"""
Tests for fernet-ttl's freshness: TTL, clock skew, the replay cache as the
conversation uses it, and the lab's chapter-4 exercise.
"""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from securechat.codec import DEFAULT_MAX_SKEW, DEFAULT_TTL, Rejected, ReplayCache
from tests.codec_support import EPOCH, conversation, feed, make_clock, only_accepted, only_rejected

LAB_SENDER_LAG = 45
LAB_TTL = 30


def _pair(sender_offset: float = 0.0, ttl: int = DEFAULT_TTL, layer: str = "fernet-ttl"):  # type: ignore[no-untyped-def]
    """Alice's clock runs C{sender_offset} seconds ahead of Bob's."""
    sender_clock, receiver_clock = make_clock(EPOCH + sender_offset), make_clock(EPOCH)
    alice = conversation(layer, sender_clock, ttl=ttl)
    bob = conversation(layer, receiver_clock, ttl=ttl)
    return alice, bob, receiver_clock


class TtlTests(SynchronousTestCase):
    def test_replay_within_ttl_refused(self) -> None:
        alice, bob, clock = _pair()
        lines = alice.encode("alice", "hi", 400)
        only_accepted(feed(bob, "alice", lines))
        clock.advance(10)
        rejected = only_rejected(feed(bob, "alice", lines))
        self.assertEqual((rejected.reason, rejected.layer), ("replayed", "fernet-ttl"))

    def test_chunked_replay_refused_once(self) -> None:
        alice, bob, _ = _pair()
        lines = alice.encode("alice", "x" * 3000, 200)
        self.assertGreater(len(lines), 1)
        only_accepted(feed(bob, "alice", lines))
        self.assertEqual([r.reason for r in feed(bob, "alice", lines)], ["replayed"])  # type: ignore[attr-defined]

    def test_older_than_ttl_expired(self) -> None:
        """Delivered after TTL + skew: refused; just inside: accepted."""
        alice, bob, clock = _pair()
        on_time = alice.encode("alice", "on time", 400)
        late = alice.encode("alice", "late", 400)
        clock.advance(DEFAULT_TTL + DEFAULT_MAX_SKEW)
        only_accepted(feed(bob, "alice", on_time))
        clock.advance(1)
        rejected = only_rejected(feed(bob, "alice", late))
        self.assertEqual(rejected.reason, "expired")
        self.assertIn("36 s old", rejected.description)

    def test_from_beyond_skew_refused(self) -> None:
        alice, bob, _ = _pair(sender_offset=DEFAULT_MAX_SKEW + 1)
        rejected = only_rejected(feed(bob, "alice", alice.encode("alice", "hi", 400)))
        self.assertEqual(rejected.reason, "from-future")

    def test_within_skew_accepted(self) -> None:
        for offset in (DEFAULT_MAX_SKEW, -DEFAULT_MAX_SKEW + 1):
            alice, bob, _ = _pair(sender_offset=offset)
            only_accepted(feed(bob, "alice", alice.encode("alice", "hi", 400)))

    def test_lab_sender_45_seconds_behind(self) -> None:
        """
        The lab's exercise: the sender's clock is 45 s behind and the TTL is
        30 s.  Its tokens look 45 s old on arrival, so fernet-ttl refuses them
        as expired, while fernet (no TTL) takes them.
        """
        alice, bob, _ = _pair(sender_offset=-LAB_SENDER_LAG, ttl=LAB_TTL)
        rejected = only_rejected(feed(bob, "alice", alice.encode("alice", "hello", 400)))
        self.assertEqual(rejected.reason, "expired")
        self.assertIn("45 s old", rejected.description)
        alice, bob, _ = _pair(sender_offset=-LAB_SENDER_LAG, ttl=LAB_TTL, layer="fernet")
        self.assertEqual(only_accepted(feed(bob, "alice", alice.encode("alice", "hello", 400))).body, "hello")

    def test_freshness_judged_only_after_the_mac(self) -> None:
        """An expired token whose MAC fails is 'tampered', never 'expired'."""
        alice, bob, clock = _pair()
        line = alice.encode("alice", "hi", 400)[0]
        clock.advance(3600)
        head, piece = line.rsplit(" ", 1)
        middle = len(piece) // 2  # every bit of a middle character is significant
        flipped = piece[:middle] + ("A" if piece[middle] != "A" else "B") + piece[middle + 1 :]
        self.assertEqual(only_rejected(feed(bob, "alice", [f"{head} {flipped}"])).reason, "tampered")
        self.assertEqual(only_rejected(feed(bob, "alice", [line])).reason, "expired")

    def test_receiver_restart_floor(self) -> None:
        """
        A restarted receiver has an empty cache; its floor (start - skew)
        refuses older tokens it could no longer check, fresh ones pass.
        """
        alice, bob, clock = _pair()
        old = alice.encode("alice", "old", 400)
        clock.advance(DEFAULT_MAX_SKEW + 1)
        restarted = conversation("fernet-ttl", clock)
        rejected = only_rejected(feed(restarted, "alice", old))
        self.assertEqual(rejected.reason, "expired")
        self.assertIn("replay cache", rejected.description)

    def test_own_message_reflected_is_a_replay(self) -> None:
        """
        The relay sends Alice her own room message back, in her own name: the
        sealed sender and target match, and she never received it, so only
        remembering what she sent refuses it (rooms: a DM reflected lands in
        another conversation and fails the MAC).
        """
        clock = make_clock()
        alice = conversation("fernet-ttl", clock)
        lines = alice.encode("alice", "I agree", 400)
        rejected = only_rejected(feed(alice, "Alice", lines))
        self.assertEqual((rejected.reason, rejected.layer), ("replayed", "fernet-ttl"))

    def test_own_message_remembered_even_below_the_floor(self) -> None:
        """Sending never fails because the clock went back below the replay floor."""
        clock = make_clock()
        alice = conversation("fernet-ttl", clock)
        clock.advance(-3600)
        lines = alice.encode("alice", "hi", 400)
        self.assertEqual(only_rejected(feed(alice, "alice", lines)).reason, "expired")

    def test_shared_cache_across_conversations(self) -> None:
        """A cache shared by two conversations (same room, two windows) still refuses a replay."""
        clock = Clock()
        clock.advance(EPOCH)
        cache = ReplayCache(clock.seconds)
        alice = conversation("fernet-ttl", clock)
        first = conversation("fernet-ttl", clock, replay=cache)
        second = conversation("fernet-ttl", clock, replay=cache)
        lines = alice.encode("alice", "hi", 400)
        only_accepted(feed(first, "alice", lines))
        result = feed(second, "alice", lines)
        self.assertIsInstance(result[0], Rejected)
        self.assertEqual(result[0].reason, "replayed")  # type: ignore[attr-defined]
