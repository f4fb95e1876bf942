"""
The sessions core (securechat.codec.sessions): the signed handshake, the
double ratchet and the sender chains, case by case.  The state machines and
the attacker model are in tests/test_codec_sessions_machines.py.
"""

from __future__ import annotations

import json
from typing import Tuple

from twisted.trial.unittest import SynchronousTestCase

from securechat.codec import Identity
from securechat.codec.errors import BadSignature, IdentityChanged, Malformed, Replayed, Tampered
from securechat.codec.sessions import (
    HandshakeError,
    Initiator,
    NotAdmitted,
    Ratchet,
    Responder,
    RoomChains,
    SessionKeys,
    SkippedTooFar,
    admit_proof,
)
from securechat.codec.sessions.handshake import FINISH, FINISHED, REPLIED, SENT_INIT, WAITING
from securechat.codec.sessions.primitives import b64decode, b64encode
from securechat.codec.sessions.senderchain import (
    MAX_CHAINS_PER_SENDER,
    SIGNATURE_BYTES,
    ChainStart,
    InboundChain,
    OutboundChain,
)

ALICE = Identity.generate()
BOB = Identity.generate()
MALLORY = Identity.generate()
ROOM_KEY = bytes(range(32))


def handshake(
    a: Identity = ALICE, b: Identity = BOB, a_nick: str = "Alice", b_nick: str = "bob"
) -> Tuple[SessionKeys, SessionKeys]:
    initiator = Initiator(a, a_nick, b_nick)
    responder = Responder(b, b_nick, a_nick)
    finish = initiator.finish(responder.reply(initiator.init(), a.public_key), b.public_key)
    keys_r = responder.finish(finish)
    assert initiator.keys is not None
    return initiator.keys, keys_r


def pair() -> Tuple[Ratchet, Ratchet]:
    keys_i, keys_r = handshake()
    return Ratchet.from_session(keys_i), Ratchet.from_session(keys_r)


class Base64Tests(SynchronousTestCase):
    def test_strict(self) -> None:
        """One spelling only: no padding, no junk, no unused bits set, the length asked for."""
        self.assertEqual(b64decode(b64encode(b"\xff\xfe")), b"\xff\xfe")
        self.assertEqual(b64encode(b"\xff\xfe"), "__4")
        for text in ("__4=", "__5", "_", "a!bc", "ab cd", "__+/"):
            self.assertRaises(Malformed, b64decode, text)
        self.assertRaises(Malformed, b64decode, "__4", 3)


class HandshakeTests(SynchronousTestCase):
    def test_agree(self) -> None:
        """Both sides get the same session id and root key, and each names the other's identity."""
        keys_i, keys_r = handshake()
        self.assertEqual(keys_i.session_id, keys_r.session_id)
        self.assertEqual(keys_i.root_key, keys_r.root_key)
        self.assertEqual(keys_i.peer_identity, BOB.public_key)
        self.assertEqual(keys_r.peer_identity, ALICE.public_key)
        self.assertNotIn(keys_i.root_key.hex(), repr(keys_i))

    def test_pin_mismatch(self) -> None:
        """A reply signed by another key than the pinned one is refused (and so is an INIT)."""
        initiator = Initiator(ALICE, "alice", "bob")
        reply = Responder(MALLORY, "bob", "alice").reply(initiator.init(), None)
        self.assertRaises(IdentityChanged, initiator.finish, reply, BOB.public_key)
        self.assertRaises(IdentityChanged, Responder(BOB, "bob", "alice").reply, initiator.init(), MALLORY.public_key)

    def test_no_pin_names_key(self) -> None:
        """With no pin the handshake completes and names the key for the caller to pin."""
        initiator = Initiator(ALICE, "alice", "bob")
        responder = Responder(BOB, "bob", "alice")
        initiator.finish(responder.reply(initiator.init(), None), None)
        assert initiator.keys is not None
        self.assertEqual(initiator.keys.peer_identity, BOB.public_key)

    def test_nicks_bound(self) -> None:
        """A reply made for another pair of nicks does not verify (no misbinding)."""
        initiator = Initiator(ALICE, "alice", "bob")
        reply = Responder(BOB, "bob", "carol").reply(initiator.init(), None)
        self.assertRaises(BadSignature, initiator.finish, reply, BOB.public_key)

    def test_casefolded_nicks(self) -> None:
        """Nicks are casefolded (RFC 1459) in the transcript: [Bob] and {bob} agree."""
        initiator = Initiator(ALICE, "Alice", "[Bob]")
        responder = Responder(BOB, "{bob}", "ALICE")
        keys_r = responder.finish(initiator.finish(responder.reply(initiator.init(), None), None))
        assert initiator.keys is not None
        self.assertEqual(initiator.keys.root_key, keys_r.root_key)

    def test_tampered_reply_and_finish(self) -> None:
        """A flipped bit in a reply or finish fails the signature; a wrong length is malformed."""
        initiator = Initiator(ALICE, "alice", "bob")
        responder = Responder(BOB, "bob", "alice")
        reply = bytearray(responder.reply(initiator.init(), None))
        reply[40] ^= 1
        self.assertRaises(BadSignature, initiator.finish, bytes(reply), None)
        reply[40] ^= 1
        finish = bytearray(initiator.finish(bytes(reply), None))
        finish[5] ^= 1
        self.assertRaises(BadSignature, responder.finish, bytes(finish))
        self.assertRaises(HandshakeError, responder.finish, bytes(finish[:-1]))
        self.assertRaises(HandshakeError, initiator.finish, bytes(reply), None)

    def test_out_of_turn(self) -> None:
        """Each phase accepts only its message: a FINISH before any INIT, or a second INIT, is refused."""
        responder = Responder(BOB, "bob", "alice")
        self.assertEqual(responder.phase, WAITING)
        self.assertRaises(HandshakeError, responder.finish, bytes((FINISH, 1)) + bytes(96))
        initiator = Initiator(ALICE, "alice", "bob")
        self.assertEqual(initiator.phase, SENT_INIT)
        reply = responder.reply(initiator.init(), None)
        self.assertEqual(responder.phase, REPLIED)
        self.assertRaises(HandshakeError, responder.reply, Initiator(ALICE, "alice", "bob").init(), None)
        responder.finish(initiator.finish(reply, None))
        self.assertEqual((initiator.phase, responder.phase), (FINISHED, FINISHED))
        self.assertRaises(HandshakeError, initiator.finish, reply, None)
        self.assertRaises(HandshakeError, responder.reply, initiator.init(), None)
        self.assertRaises(HandshakeError, Initiator(ALICE, "alice", "bob").finish, bytes(130), None)


class RatchetTests(SynchronousTestCase):
    def test_either_side_first(self) -> None:
        """The responder can send before it hears anything after the handshake."""
        a, b = pair()
        self.assertEqual(a.decrypt(b.encrypt(b"first")), b"first")
        self.assertEqual(b.decrypt(a.encrypt(b"second")), b"second")

    def test_reorder_and_replay(self) -> None:
        """Out of order within a chain and across a DH step opens; each message once only."""
        a, b = pair()
        early = [a.encrypt(b"%d" % n) for n in range(3)]
        self.assertEqual(b.decrypt(early[2]), b"2")
        self.assertEqual(a.decrypt(b.encrypt(b"reply")), b"reply")
        later = a.encrypt(b"after the step")
        self.assertEqual(b.decrypt(later), b"after the step")
        self.assertEqual(b.skipped_keys, 2)
        self.assertEqual(b.decrypt(early[0]), b"0")
        self.assertEqual(b.decrypt(early[1]), b"1")
        self.assertEqual(b.skipped_keys, 0)
        for message in early + [later]:
            self.assertRaises(Replayed, b.decrypt, message)

    def test_window(self) -> None:
        """Beyond the window of skipped keys: refused, and the state unchanged."""
        a, b = pair()
        b.max_skip = 4
        messages = [a.encrypt(b"x") for _ in range(6)]
        self.assertRaises(SkippedTooFar, b.decrypt, messages[5])
        self.assertEqual(b.decrypt(messages[0]), b"x")
        self.assertEqual(b.decrypt(messages[5]), b"x")

    def test_stored_bound(self) -> None:
        """At most max_stored skipped keys are held; the oldest are dropped first."""
        a, b = pair()
        b.max_stored = 3
        messages = [a.encrypt(b"%d" % n) for n in range(6)]
        b.decrypt(messages[5])
        self.assertEqual(b.skipped_keys, 3)
        self.assertRaises(Replayed, b.decrypt, messages[0])
        self.assertEqual(b.decrypt(messages[4]), b"4")

    def test_tampered_changes_nothing(self) -> None:
        """A forged message (even with a new ratchet key) is refused and the state stays as it was."""
        a, b = pair()
        message = bytearray(a.encrypt(b"hello"))
        before = json.dumps(b.to_dict(), sort_keys=True)
        message[-1] ^= 1
        self.assertRaises(Tampered, b.decrypt, bytes(message))
        forged = bytearray(message)
        forged[1] ^= 0x40
        self.assertRaises((Tampered, Replayed), b.decrypt, bytes(forged))
        self.assertEqual(json.dumps(b.to_dict(), sort_keys=True), before)
        message[-1] ^= 1
        self.assertEqual(b.decrypt(bytes(message)), b"hello")
        self.assertRaises(Malformed, b.decrypt, b"\x01short")
        self.assertRaises(Malformed, b.decrypt, b"\x02" + bytes(message[1:]))

    def test_restart(self) -> None:
        """Through JSON and back: the conversation goes on, used keys stay used, skipped keys kept."""
        a, b = pair()
        messages = [a.encrypt(b"%d" % n) for n in range(3)]
        b.decrypt(messages[1])
        b = Ratchet.from_dict(json.loads(json.dumps(b.to_dict())))
        a = Ratchet.from_dict(json.loads(json.dumps(a.to_dict())))
        self.assertRaises(Replayed, b.decrypt, messages[1])
        self.assertEqual(b.decrypt(messages[0]), b"0")
        self.assertEqual(a.decrypt(b.encrypt(b"back")), b"back")
        self.assertRaises(ValueError, Ratchet.from_dict, dict(b.to_dict(), version=2))
        self.assertRaises(ValueError, Ratchet.from_dict, dict(b.to_dict(), root="AAAA"))

    def test_unreadable_state(self) -> None:
        """A state missing a field, of the wrong type, or not base64: a ValueError, never another error."""
        a, _ = pair()
        state = a.to_dict()
        for broken in (
            {k: v for k, v in state.items() if k != "ns"},
            dict(state, skipped=[["!!", 1, "AA"]]),
            dict(state, skipped=5),
            dict(state, dhs=7),
            dict(state, old_ratchets=None),
        ):
            self.assertRaises(ValueError, Ratchet.from_dict, broken)

    def test_exhausted_chain(self) -> None:
        """After 2**32 messages a chain refuses to seal (never a wrapped index)."""
        a, _ = pair()
        a._ns = 2**32
        self.assertRaises(ValueError, a.encrypt, b"x")
        outbound = OutboundChain.new("#room", ALICE, "alice")
        outbound.index = 2**32
        self.assertRaises(ValueError, outbound.seal, b"x")

    def test_other_session(self) -> None:
        """A message of another session (another session id) does not open."""
        a, _ = pair()
        _, other = pair()
        self.assertRaises((Tampered, Replayed), other.decrypt, a.encrypt(b"x"))


def admitted(room: str = "#room") -> Tuple[RoomChains, RoomChains]:
    """Alice and Bob, each admitting the other over a session."""
    keys_i, _ = handshake()
    sid = keys_i.session_id
    alice = RoomChains(room, "alice", ALICE)
    bob = RoomChains(room, "bob", BOB)
    to_bob = alice.admit("bob", BOB.public_key, BOB.public_key, ROOM_KEY, sid, admit_proof(ROOM_KEY, room, "bob", sid))
    to_alice = bob.admit(
        "alice", ALICE.public_key, ALICE.public_key, ROOM_KEY, sid, admit_proof(ROOM_KEY, room, "alice", sid)
    )
    bob.receive_start("alice", to_bob)
    alice.receive_start("bob", to_alice)
    return alice, bob


class SenderChainTests(SynchronousTestCase):
    def test_round_trip(self) -> None:
        alice, bob = admitted()
        self.assertEqual(bob.open("alice", alice.seal(b"hello room")), b"hello room")
        self.assertEqual(alice.open("bob", bob.seal(b"hi")), b"hi")

    def test_admit_needs_pin_and_proof(self) -> None:
        """No pin, another key than the pinned one, or a proof for another session or room: not admitted."""
        sid, other = bytes(32), bytes([1]) * 32
        chains = RoomChains("#room", "alice", ALICE)
        good = admit_proof(ROOM_KEY, "#room", "bob", sid)
        self.assertRaises(NotAdmitted, chains.admit, "bob", BOB.public_key, None, ROOM_KEY, sid, good)
        self.assertRaises(NotAdmitted, chains.admit, "bob", MALLORY.public_key, BOB.public_key, ROOM_KEY, sid, good)
        for proof in (
            admit_proof(ROOM_KEY, "#room", "bob", other),
            admit_proof(ROOM_KEY, "#other", "bob", sid),
            admit_proof(bytes(32), "#room", "bob", sid),
            admit_proof(ROOM_KEY, "#room", "carol", sid),
        ):
            self.assertRaises(NotAdmitted, chains.admit, "bob", BOB.public_key, BOB.public_key, ROOM_KEY, sid, proof)
        self.assertEqual(chains.members, {})
        chains.admit("BOB", BOB.public_key, BOB.public_key, ROOM_KEY, sid, good)
        self.assertEqual(chains.members, {"bob": BOB.public_key})

    def test_start_only_from_admitted(self) -> None:
        """A chain start from a nick we never admitted (a name in NAMES) is refused."""
        alice, _ = admitted()
        mallory = RoomChains("#room", "mallory", MALLORY)
        self.assertRaises(NotAdmitted, alice.receive_start, "mallory", mallory.outbound.start_record())
        self.assertRaises(NotAdmitted, alice.open, "mallory", mallory.seal(b"x"))

    def test_start_checks(self) -> None:
        """A start for another room or nick, signed by another key, or altered, is refused."""
        record = OutboundChain.new("#room", BOB, "bob").start_record()
        self.assertRaises(Malformed, ChainStart.verify, record, "#other", "bob", BOB.public_key)
        self.assertRaises(Malformed, ChainStart.verify, record, "#room", "carol", BOB.public_key)
        self.assertRaises(IdentityChanged, ChainStart.verify, record, "#room", "bob", MALLORY.public_key)
        altered = bytearray(record)
        altered[30] ^= 1
        self.assertRaises(BadSignature, ChainStart.verify, bytes(altered), "#room", "bob", BOB.public_key)
        self.assertRaises(Malformed, ChainStart.verify, record[:50], "#room", "bob", BOB.public_key)

    def test_reorder_replay_window(self) -> None:
        alice, bob = admitted()
        messages = [alice.seal(b"%d" % n) for n in range(5)]
        self.assertEqual(bob.open("alice", messages[3]), b"3")
        self.assertEqual(bob.open("alice", messages[0]), b"0")
        for message in (messages[0], messages[3]):
            self.assertRaises(Replayed, bob.open, "alice", message)
        bob.inbound["alice"][-1].max_skip = 2
        far = [alice.seal(b"far") for _ in range(4)][-1]
        self.assertRaises(SkippedTooFar, bob.open, "alice", far)
        self.assertEqual(bob.open("alice", messages[4]), b"4")

    def test_tampered_changes_nothing(self) -> None:
        alice, bob = admitted()
        message = bytearray(alice.seal(b"x"))
        message[-1] ^= 1
        self.assertRaises(Tampered, bob.open, "alice", bytes(message))
        message[-1] ^= 1
        self.assertEqual(bob.open("alice", bytes(message)), b"x")

    def test_next_message_checked_like_any(self) -> None:
        """
        The next message (the chain's quick path) is held to every check: a
        wrong version byte or chain id, or too short, is malformed and the
        chain does not move; the genuine one then opens.
        """
        alice, bob = admitted()
        message = alice.seal(b"x")
        chain = bob.inbound["alice"][-1]
        other_chain = bytes(message[:1]) + bytes(16) + message[17:]
        for bad in (b"\x02" + message[1:], other_chain, message[:36]):
            self.assertRaises(Malformed, chain.open, bad)
            self.assertEqual(chain.next_index, 0)
        self.assertEqual(chain.open(message), b"x")
        self.assertEqual(chain.next_index, 1)

    def test_joiner_gets_no_past(self) -> None:
        """A member admitted later gets the chain from its current index: earlier messages are replays to it."""
        alice, bob = admitted()
        old = alice.seal(b"before carol")
        carol = RoomChains("#room", "carol", Identity.generate())
        sid = bytes(32)
        record = alice.admit(
            "carol", carol._identity.public_key, carol._identity.public_key, ROOM_KEY, sid,
            admit_proof(ROOM_KEY, "#room", "carol", sid),
        )  # fmt: skip
        carol.members["alice"] = ALICE.public_key
        carol.receive_start("alice", record)
        self.assertRaises(Replayed, carol.open, "alice", old)
        self.assertEqual(carol.open("alice", alice.seal(b"after")), b"after")

    def test_leave_new_chain(self) -> None:
        """After a leave, the new chain goes to those who stay; the leaver's old chain cannot open it."""
        alice, bob = admitted()
        carol_identity = Identity.generate()
        sid = bytes(32)
        carol = RoomChains("#room", "carol", carol_identity)
        carol.members["alice"] = ALICE.public_key
        carol.receive_start(
            "alice",
            alice.admit(
                "carol", carol_identity.public_key, carol_identity.public_key, ROOM_KEY, sid,
                admit_proof(ROOM_KEY, "#room", "carol", sid),
            ),
        )  # fmt: skip
        records = alice.leave("bob")
        self.assertEqual(sorted(records), ["carol"])
        carol.receive_start("alice", records["carol"])
        after = alice.seal(b"bob has gone")
        self.assertEqual(carol.open("alice", after), b"bob has gone")
        self.assertRaises(NotAdmitted, bob.open, "alice", after)
        self.assertNotIn("bob", alice.inbound)

    def test_late_message_of_replaced_chain(self) -> None:
        """A message of the chain a leave replaced still opens when it arrives late; a few chains are kept."""
        alice, bob = admitted()
        late = alice.seal(b"late")
        records = alice.start_new_chain()
        bob.receive_start("alice", records["bob"])
        self.assertEqual(bob.open("alice", alice.seal(b"new")), b"new")
        self.assertEqual(bob.open("alice", late), b"late")
        old = alice.seal(b"on the second chain")
        for _ in range(MAX_CHAINS_PER_SENDER - 1):
            bob.receive_start("alice", alice.start_new_chain()["bob"])
        self.assertEqual(len(bob.inbound["alice"]), MAX_CHAINS_PER_SENDER)
        bob.receive_start("alice", alice.start_new_chain()["bob"])
        self.assertRaises(NotAdmitted, bob.open, "alice", old)

    def test_skipped_keys_erased_after_window(self) -> None:
        """
        A skipped key is stamped when the later message skips it and erased
        once the window has passed since: what it opened could no longer be
        accepted, and a later theft of the state must not open it.
        """
        alice, bob = admitted()
        messages = [alice.seal(b"%d" % n) for n in range(3)]
        self.assertEqual(bob.open("alice", messages[2], now=100.0), b"2")
        self.assertEqual(bob.forget_expired(139.0, 40.0), 0)
        self.assertEqual(bob.open("alice", messages[0]), b"0")
        self.assertEqual(bob.forget_expired(140.0, 40.0), 1)
        self.assertRaises(Replayed, bob.open, "alice", messages[1])
        self.assertEqual(bob.to_dict()["inbound"]["alice"][-1]["skipped"], [])

    def test_skipped_stamps_survive_restart(self) -> None:
        """The stamps are saved: a restart neither erases a key early nor keeps it past its window."""
        alice, bob = admitted()
        messages = [alice.seal(b"%d" % n) for n in range(3)]
        bob.open("alice", messages[2], now=100.0)
        bob = RoomChains.from_dict(json.loads(json.dumps(bob.to_dict())), BOB)
        self.assertEqual(bob.forget_expired(139.0, 40.0), 0)
        self.assertEqual(bob.open("alice", messages[0]), b"0")
        self.assertEqual(bob.forget_expired(140.0, 40.0), 1)
        self.assertRaises(Replayed, bob.open, "alice", messages[1])

    def test_unstamped_state_loads(self) -> None:
        """
        An inbound chain saved with skipped keys not stamped yet (opened
        without a clock) loads; they are stamped at the first upkeep and
        erased one window later (never kept for good).
        """
        alice, bob = admitted()
        messages = [alice.seal(b"%d" % n) for n in range(3)]
        bob.open("alice", messages[2])
        state = bob.to_dict()
        self.assertEqual([at for _, _, at in state["inbound"]["alice"][0]["skipped"]], [None, None])
        bob = RoomChains.from_dict(json.loads(json.dumps(state)), BOB)
        self.assertEqual(bob.forget_expired(1000.0, 40.0), 0)
        self.assertEqual(bob.open("alice", messages[0]), b"0")
        self.assertEqual(bob.forget_expired(1040.0, 40.0), 1)
        self.assertRaises(Replayed, bob.open, "alice", messages[1])

    def test_states_of_the_hmac_kdf_refused(self) -> None:
        """
        States written before the sender chains' KDF became BLAKE2b (room-chains
        and outbound-chain 1, inbound-chain 1 and 2) hold keys of another KDF:
        refused with L{ValueError}, never read as keys of this one.
        """
        alice, bob = admitted()
        messages = [alice.seal(b"%d" % n) for n in range(3)]
        bob.open("alice", messages[2], now=100.0)
        state = json.loads(json.dumps(bob.to_dict()))
        self.assertEqual(RoomChains.from_dict(state, BOB).open("alice", messages[0]), b"0")
        self.assertRaises(ValueError, RoomChains.from_dict, dict(state, version=1), BOB)
        self.assertRaises(ValueError, OutboundChain.from_dict, dict(state["outbound"], version=1), BOB)
        inbound = state["inbound"]["alice"][0]
        unstamped = dict(inbound, version=1, skipped=[[number, key] for number, key, _ in inbound["skipped"]])
        del unstamped["replaced_at"]
        for old in (unstamped, dict(inbound, version=2)):
            self.assertRaises(ValueError, InboundChain.from_dict, old)
        self.assertRaises(ValueError, InboundChain.from_dict, dict(unstamped, version=3))

    def test_replaced_chain_erased_after_window(self) -> None:
        """
        A chain replaced by a newer one of its sender is kept for late
        messages only until the window has passed since it was replaced;
        then it is erased with every key it held.
        """
        alice, bob = admitted()
        late = [alice.seal(b"late %d" % n) for n in range(2)]
        bob.receive_start("alice", alice.start_new_chain()["bob"])
        self.assertEqual(bob.forget_expired(10.0, 40.0), 0)
        self.assertEqual(bob.open("alice", late[0]), b"late 0")
        self.assertEqual(bob.forget_expired(49.0, 40.0), 0)
        self.assertEqual(bob.forget_expired(50.0, 40.0), 1)
        self.assertEqual(len(bob.inbound["alice"]), 1)
        self.assertRaises(NotAdmitted, bob.open, "alice", late[1])
        self.assertEqual(bob.open("alice", alice.seal(b"new")), b"new")
        restarted = RoomChains.from_dict(json.loads(json.dumps(bob.to_dict())), BOB)
        self.assertEqual(len(restarted.inbound["alice"]), 1)

    def test_replaced_stamp_survives_restart(self) -> None:
        alice, bob = admitted()
        late = alice.seal(b"late")
        bob.receive_start("alice", alice.start_new_chain()["bob"])
        bob.forget_expired(10.0, 40.0)
        bob = RoomChains.from_dict(json.loads(json.dumps(bob.to_dict())), BOB)
        self.assertEqual(bob.forget_expired(50.0, 40.0), 1)
        self.assertRaises(NotAdmitted, bob.open, "alice", late)

    def test_same_start_again_keeps_position(self) -> None:
        """The same chain's start handed again does not rewind the chain (no replay window reopens)."""
        alice, bob = admitted()
        record = alice.outbound.start_record()
        first = alice.seal(b"once")
        self.assertEqual(bob.open("alice", first), b"once")
        bob.receive_start("alice", record)
        self.assertRaises(Replayed, bob.open, "alice", first)

    def test_signed_messages(self) -> None:
        """With the signed flag each message carries a signature; a stripped or wrong one is refused."""
        outbound = OutboundChain.new("#room", ALICE, "alice", sign_messages=True)
        start = ChainStart.verify(outbound.start_record(), "#room", "alice", ALICE.public_key)
        inbound = InboundChain(start)
        message = outbound.seal(b"signed")
        self.assertRaises(Malformed, inbound.open, message[:-SIGNATURE_BYTES])
        forged = message[:-SIGNATURE_BYTES] + MALLORY.sign(message[:-SIGNATURE_BYTES])
        self.assertRaises(BadSignature, inbound.open, forged)
        self.assertEqual(inbound.open(message), b"signed")

    def test_restart(self) -> None:
        alice, bob = admitted()
        messages = [alice.seal(b"%d" % n) for n in range(3)]
        bob.open("alice", messages[2])
        bob = RoomChains.from_dict(json.loads(json.dumps(bob.to_dict())), BOB)
        alice = RoomChains.from_dict(json.loads(json.dumps(alice.to_dict())), ALICE)
        self.assertRaises(Replayed, bob.open, "alice", messages[2])
        self.assertEqual(bob.open("alice", messages[0]), b"0")
        self.assertEqual(bob.open("alice", alice.seal(b"next")), b"next")
        self.assertRaises(ValueError, RoomChains.from_dict, dict(bob.to_dict(), version=9), BOB)
        self.assertRaises(ValueError, RoomChains.from_dict, dict(bob.to_dict(), inbound={"alice": [{}]}), BOB)
        self.assertRaises(ValueError, RoomChains.from_dict, dict(bob.to_dict(), members=[]), BOB)
        self.assertRaises(ValueError, RoomChains.from_dict, dict(bob.to_dict(), outbound=None), BOB)
