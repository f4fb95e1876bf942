"""
Tests for securechat.codec.replay: the freshness window and the bounded
replay cache, including a hypothesis state machine driving it with an
adversarial clock and adversarial ids.
"""

from __future__ import annotations

import os
from typing import Dict, Set

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from securechat.codec import Expired, FromFuture, ReplayCache, Replayed
from securechat.codec.replay import check_fresh

START = 1_700_000_000
TTL = 30
SKEW = 5


def _cache(max_entries: int = 100) -> tuple[ReplayCache, Clock]:
    clock = Clock()
    clock.advance(START)
    return ReplayCache(clock.seconds, TTL, SKEW, max_entries), clock


class CheckFreshTests(SynchronousTestCase):
    def test_window_edges(self) -> None:
        now = START
        check_fresh(now - TTL - SKEW, now, TTL, SKEW)
        check_fresh(now + SKEW, now, TTL, SKEW)
        self.assertRaises(Expired, check_fresh, now - TTL - SKEW - 1, now, TTL, SKEW)
        self.assertRaises(FromFuture, check_fresh, now + SKEW + 1, now, TTL, SKEW)


class ReplayCacheTests(SynchronousTestCase):
    def test_floor_starts_at_start_minus_skew(self) -> None:
        cache, _ = _cache()
        self.assertEqual(cache.floor, START - SKEW)
        self.assertRaises(Expired, cache.admit, os.urandom(16), START - SKEW)
        cache.admit(os.urandom(16), START - SKEW + 1)

    def test_second_admission_is_a_replay(self) -> None:
        cache, clock = _cache()
        msgid = os.urandom(16)
        cache.admit(msgid, START)
        clock.advance(TTL)
        self.assertRaises(Replayed, cache.admit, msgid, START)
        self.assertIn(msgid, cache)

    def test_entries_age_out_and_raise_the_floor(self) -> None:
        """After token time + TTL + skew an id is forgotten, and the floor refuses its second."""
        cache, clock = _cache()
        msgid = os.urandom(16)
        cache.admit(msgid, START)
        clock.advance(TTL + SKEW)
        cache.admit(os.urandom(16), START + TTL)  # triggers a purge: START is still fresh
        self.assertIn(msgid, cache)
        clock.advance(1)
        cache.admit(os.urandom(16), START + TTL)
        self.assertNotIn(msgid, cache)
        self.assertEqual(cache.floor, START)
        self.assertEqual(len(cache), 2)

    def test_clock_jumping_back_cannot_resurrect(self) -> None:
        """A forgotten id stays refused even if the clock is set back into its window."""
        cache, clock = _cache()
        msgid = os.urandom(16)
        cache.admit(msgid, START)
        clock.advance(3600)
        cache.admit(os.urandom(16), START + 3600)
        clock.advance(-3600)
        self.assertRaises(Expired, cache.admit, msgid, START)

    def test_full_cache_evicts_oldest_second_and_raises_floor(self) -> None:
        cache, _ = _cache(max_entries=3)
        oldest = [os.urandom(16), os.urandom(16)]
        for msgid in oldest:
            cache.admit(msgid, START - 2)
        cache.admit(os.urandom(16), START - 1)
        newest = os.urandom(16)
        cache.admit(newest, START)
        self.assertEqual(len(cache), 2)
        self.assertEqual(cache.floor, START - 2)
        for msgid in oldest:
            self.assertNotIn(msgid, cache)
            self.assertRaises(Expired, cache.admit, msgid, START - 2)
        self.assertRaises(Replayed, cache.admit, newest, START)

    def test_eviction_follows_token_time_not_arrival(self) -> None:
        """
        Ids arriving out of order (a relay holding some back): when full, the
        one with the oldest token time goes, not the first to arrive, so the
        floor rises as little as possible and fresher ids stay remembered.
        """
        cache, _ = _cache(max_entries=2)
        early_arrival, oldest_time = os.urandom(16), os.urandom(16)
        cache.admit(early_arrival, START - 1)
        cache.admit(oldest_time, START - 3)
        cache.admit(os.urandom(16), START)
        self.assertEqual(cache.floor, START - 3)
        self.assertNotIn(oldest_time, cache)
        self.assertIn(early_arrival, cache)
        self.assertRaises(Replayed, cache.admit, early_arrival, START - 1)

    def test_token_older_than_everything_when_full(self) -> None:
        """When the newcomer is itself the oldest, it is refused and nothing it displaced survives."""
        cache, _ = _cache(max_entries=1)
        cache.admit(os.urandom(16), START)
        self.assertRaises(Expired, cache.admit, os.urandom(16), START - 1)
        self.assertLessEqual(len(cache), 1)

    def test_max_entries_validated(self) -> None:
        clock = Clock()
        self.assertRaises(ValueError, ReplayCache, clock.seconds, TTL, SKEW, 0)


IDS = st.binary(min_size=1, max_size=2)  # a tiny id space: collisions are the point


class ReplayCacheMachine(RuleBasedStateMachine):
    """
    Whatever the clock does (including jumps back) and whenever tokens are
    replayed, no token is admitted twice and the cache never holds more than
    max_entries.
    """

    @initialize(max_entries=st.integers(1, 8))
    def start(self, max_entries: int) -> None:
        self.clock = Clock()
        self.clock.advance(START)
        self.cache = ReplayCache(self.clock.seconds, TTL, SKEW, max_entries)
        self.accepted: Set[bytes] = set()
        self.stamps: Dict[bytes, int] = {}

    @rule(seconds=st.integers(-60, 120))
    def move_clock(self, seconds: int) -> None:
        self.clock.advance(seconds)

    @rule(msgid=IDS, age=st.integers(-10, 50))
    def admit(self, msgid: bytes, age: int) -> None:
        # A token's id and time are sealed together: a relay replays a token
        # with the time it was first stamped with, never a new one.
        sent_at = self.stamps.setdefault(msgid, int(self.clock.seconds()) - age)
        try:
            self.cache.admit(msgid, sent_at)
        except (Replayed, Expired):
            return
        assert msgid not in self.accepted, f"{msgid!r} accepted twice"
        self.accepted.add(msgid)

    @invariant()
    def bounded(self) -> None:
        if hasattr(self, "cache"):
            assert len(self.cache) <= self.cache.max_entries


class ReplayCacheMachineTests(SynchronousTestCase):
    def test_state_machine(self) -> None:
        run_state_machine_as_test(ReplayCacheMachine)
