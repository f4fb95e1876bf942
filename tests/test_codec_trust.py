"""
Trust on first use as a state machine, and the codec state a restart keeps.
"""

from __future__ import annotations

from typing import Dict, List, Optional

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test
from twisted.trial.unittest import SynchronousTestCase

from securechat.codec import (
    FIRST_USE,
    VERIFIED,
    Conversation,
    IdentityChanged,
    SignedByOther,
    TrustStore,
    TrustStoreFull,
    identity_fingerprint,
)
from tests.codec_support import conversation, feed, make_clock, only_accepted, only_rejected

NICKS = ("alice", "bob", "carol")
KEYS = tuple(bytes([n]) * 32 for n in range(1, 5))


class TofuMachine(RuleBasedStateMachine):
    """
    The store against a plain model: a nick's pin changes only by the
    user's word (trust, verify) or a first use; a key is never believed
    for a nick it is not pinned to.
    """

    def __init__(self) -> None:
        super().__init__()
        self.changes = 0
        self.urgent: List[bool] = []
        self.store = TrustStore(on_change=self._changed)
        self.pins: Dict[str, bytes] = {}
        self.status: Dict[str, str] = {}
        self.offered: Dict[str, bytes] = {}

    def _changed(self, urgent: bool) -> None:
        self.changes += 1
        self.urgent.append(urgent)

    @rule(nick=st.sampled_from(NICKS), key=st.sampled_from(KEYS))
    def message(self, nick: str, key: bytes) -> None:
        before = dict(self.pins)
        owners = [n for n, k in self.pins.items() if k == key and n != nick]
        try:
            status = self.store.judge(nick, key)
        except SignedByOther as error:
            assert self.pins.get(nick) != key and owners, (nick, self.pins)
            assert "signed by %s's key" % (owners[0],) in str(error) or any(
                "signed by %s's key" % (o,) in str(error) for o in owners
            )
            self.offered[nick] = key
        except IdentityChanged:
            assert nick in self.pins and self.pins[nick] != key and not owners
            self.offered[nick] = key
        else:
            if nick in before:
                assert before[nick] == key
                assert status == self.status[nick]
            else:
                assert not owners and status == FIRST_USE
                assert self.urgent[-1] is False, "a first use may wait for the next save"
                self.pins[nick] = key
                self.status[nick] = FIRST_USE

    @rule(nick=st.sampled_from(NICKS))
    def trust(self, nick: str) -> None:
        try:
            pin = self.store.trust(nick)
        except KeyError:
            assert nick not in self.offered
            return
        assert pin.public_key == self.offered.pop(nick)
        assert self.urgent[-1] is True, "the user's word is written at once"
        self.pins[nick] = pin.public_key
        self.status[nick] = FIRST_USE

    @rule(nick=st.sampled_from(NICKS), key=st.sampled_from(KEYS))
    def verify(self, nick: str, key: bytes) -> None:
        candidates = [k for k in (self.pins.get(nick), self.offered.get(nick)) if k is not None]
        try:
            pin = self.store.verify(nick, identity_fingerprint(key))
        except KeyError:
            assert not candidates
            return
        except ValueError:
            assert key not in candidates
            return
        assert key in candidates and pin.status == VERIFIED
        assert self.urgent[-1] is True, "the user's word is written at once"
        if self.offered.get(nick) == key:
            del self.offered[nick]
        self.pins[nick] = key
        self.status[nick] = VERIFIED

    @precondition(lambda self: bool(self.pins))
    @rule(data=st.data())
    def reload(self, data: st.DataObject) -> None:
        """What is saved is what is loaded (offers are not saved: they were refused)."""
        fresh = TrustStore(on_change=self._changed)
        fresh.load(self.store.to_dict())
        self.store = fresh
        self.offered = {}

    @invariant()
    def agrees(self) -> None:
        assert len(self.store) == len(self.pins)
        for nick, key in self.pins.items():
            pin = self.store.pinned(nick)
            assert pin is not None and pin.public_key == key and pin.status == self.status[nick]
            assert nick in self.store.owners(key)


class TofuMachineTests(SynchronousTestCase):
    def test_state_machine(self) -> None:
        run_state_machine_as_test(TofuMachine)


class TrustStoreTests(SynchronousTestCase):
    def test_full_store_refuses_unknown_keys(self) -> None:
        store = TrustStore(max_pins=1)
        store.judge("alice", KEYS[0])
        self.assertRaises(TrustStoreFull, store.judge, "bob", KEYS[1])
        self.assertEqual(store.judge("alice", KEYS[0]), FIRST_USE)

    def test_on_change_called_on_pin(self) -> None:
        calls: List[bool] = []
        store = TrustStore(on_change=calls.append)
        store.judge("alice", KEYS[0])
        store.judge("alice", KEYS[0])
        self.assertEqual(len(calls), 1)

    def test_on_change_says_what_is_urgent(self) -> None:
        """A first use may wait for the next save; the user's word (trust, verify, forget) may not."""
        calls: List[bool] = []
        store = TrustStore(on_change=calls.append)
        store.pin_own("me", KEYS[3])
        store.judge("alice", KEYS[0])
        self.assertEqual(calls, [False, False])
        self.assertRaises(IdentityChanged, store.judge, "alice", KEYS[1])
        self.assertEqual(calls, [False, False], "a refusal changes no pin")
        store.trust("alice")
        self.assertEqual(calls[-1], True)
        store.verify("alice", identity_fingerprint(KEYS[1]))
        store.forget("alice")
        self.assertEqual(calls, [False, False, True, True, True])

    def test_load_refuses_malformed(self) -> None:
        store = TrustStore()
        store.judge("alice", KEYS[0])
        for bad in (
            None,
            [],
            {"format": 99},
            {"format": 1},
            {"format": 1, "pins": {"a": {"key": "xx", "status": "first-use"}}},
            {"format": 1, "pins": {"a": {"key": "A" * 44, "status": "trusted-by-relay"}}},
        ):
            self.assertRaises(ValueError, store.load, bad)
        self.assertEqual(len(store), 1)


def _restart(old: Conversation, clock: object, clean: bool, layer: Optional[str] = None) -> Conversation:
    fresh = conversation(layer or old.layer, clock)  # type: ignore[arg-type]
    fresh.restore_state(old.export_state(), clean)
    return fresh


class RestartStateTests(SynchronousTestCase):
    """Codec half of 'a restart reopens no window' (the client half is in test_client_statedir)."""

    def test_replay_after_restart_refused_on_fresh_layers(self) -> None:
        for layer in ("fernet-ttl", "signed"):
            for clean in (True, False):
                clock = make_clock()
                alice, bob = conversation(layer, clock), conversation(layer, clock)
                lines = alice.encode("alice", "hi", 400)
                only_accepted(feed(bob, "alice", lines))
                clock.advance(2)
                bob = _restart(bob, clock, clean)
                self.assertIn(only_rejected(feed(bob, "alice", lines)).reason, ("replayed", "expired"))

    def test_without_saved_state_the_skew_window_reopens(self) -> None:
        """The window the saved state closes (fails if the state is not used)."""
        clock = make_clock()
        alice, bob = conversation("fernet-ttl", clock), conversation("fernet-ttl", clock)
        lines = alice.encode("alice", "hi", 400)
        only_accepted(feed(bob, "alice", lines))
        clock.advance(2)
        only_accepted(feed(conversation("fernet-ttl", clock), "alice", lines))
        restarted = _restart(bob, clock, True)
        self.assertEqual(only_rejected(feed(restarted, "alice", lines)).reason, "replayed")

    def test_fernet_replay_after_restart_still_flagged(self) -> None:
        clock = make_clock()
        alice, bob = conversation("fernet", clock), conversation("fernet", clock)
        lines = alice.encode("alice", "hi", 400)
        only_accepted(feed(bob, "alice", lines))
        bob = _restart(bob, clock, True)
        self.assertTrue(only_accepted(feed(bob, "alice", lines)).reordered)

    def test_clean_exit_keeps_the_senders_stream(self) -> None:
        """A message held back by the relay and released after our restart is flagged late."""
        clock = make_clock()
        alice, bob = conversation("fernet-ttl", clock), conversation("fernet-ttl", clock)
        only_accepted(feed(bob, "alice", alice.encode("alice", "zero", 400)))
        held = alice.encode("alice", "one", 400)
        alice = _restart(alice, clock, True)
        after = alice.encode("alice", "two", 400)
        self.assertEqual(only_accepted(feed(bob, "alice", after)).missing, 1)
        self.assertTrue(only_accepted(feed(bob, "alice", held)).reordered)

    def test_crash_starts_a_new_stream(self) -> None:
        clock = make_clock()
        alice, bob = conversation("fernet-ttl", clock), conversation("fernet-ttl", clock)
        only_accepted(feed(bob, "alice", alice.encode("alice", "one", 400)))
        alice = _restart(alice, clock, False)
        accepted = only_accepted(feed(bob, "alice", alice.encode("alice", "two", 400)))
        self.assertEqual((accepted.seq, accepted.missing, accepted.reordered), (1, 0, False))

    def test_crash_never_lowers_the_floor(self) -> None:
        clock = make_clock()
        bob = conversation("fernet-ttl", clock)
        saved = bob.export_state()
        clock.advance(20)
        fresh = conversation("fernet-ttl", clock)
        floor = fresh.replay.floor
        fresh.restore_state(saved, clean=False)
        self.assertEqual(fresh.replay.floor, floor)
        clean = conversation("fernet-ttl", clock)
        clean.restore_state(saved, clean=True)
        self.assertLess(clean.replay.floor, floor)

    def test_malformed_state_refused(self) -> None:
        clock = make_clock()
        bob = conversation("fernet-ttl", clock)
        for bad in (None, {"replay": {"floor": "x", "seconds": {}}}, {"replay": {"floor": 1, "seconds": {"1": ["!!"]}}},
                    {"replay": {"floor": 1, "seconds": {}}, "sequences": [["a", "b"]]}):
            self.assertRaises(ValueError, bob.restore_state, bad, True)
