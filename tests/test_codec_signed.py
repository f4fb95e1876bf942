"""
The C{signed} layer: each member signs what they say (Ed25519 inside the
layer's ChaCha20-Poly1305 token), and the receiver's trust store says which key speaks for
which nick.  The attacker here is a I{member}: it holds the room key, so it
can open, change and re-seal any token; only the signatures stop it.
"""

from __future__ import annotations

from typing import List, Optional, Tuple

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from securechat.codec import Conversation, Identity, TrustStore, identity_fingerprint, normalize_fingerprint
from securechat.codec.chunks import parse_line, split_token
from securechat.codec.envelope import HEADER_SIZE
from securechat.codec.identity import PUBLIC_KEY_BYTES, SIGNATURE_BYTES
from securechat.codec.layers import SIGNED, SignedSealer, b64decode
from securechat.codec.signing import FORM_BYTES, KEY_CARRIED, KEY_OMITTED, VIEW_FOLLOWS, sign_envelope
from tests.codec_support import ROOM, feed, keys_for, make_clock, only_accepted, only_rejected

ALICE = Identity.generate()
MALLORY = Identity.generate()
#: Form, public key and signature in front of the envelope when the key is carried.
SIGNED_HEADER_BYTES = FORM_BYTES + PUBLIC_KEY_BYTES + SIGNATURE_BYTES
#: 512 minus CRLF and a relay prefix like ":alice!alice@192.0.2.10 PRIVMSG #lab :".
BENCH_BUDGET = 510 - len(":alice!alice@192.0.2.10 PRIVMSG #lab :")


def signed(
    clock: object, target: str = ROOM, identity: Optional[Identity] = None, trust: Optional[TrustStore] = None
) -> Conversation:
    return Conversation(
        target, SIGNED, keys_for(target), clock=clock.seconds, identity=identity or Identity.generate(), trust=trust  # type: ignore[attr-defined]
    )


def open_token(lines: List[str], target: str = ROOM) -> Tuple[str, bytes, int]:
    """What a member sees inside a one-line signed message: msgid, plaintext, time."""
    assert len(lines) == 1
    chunk = parse_line(lines[0], 256)
    plaintext, sent_at = SignedSealer(keys_for(target).for_layer(SIGNED)).open(chunk.piece, b64decode(chunk.msgid))
    assert sent_at is not None
    return chunk.msgid, plaintext, sent_at


def reseal(msgid: str, plaintext: bytes, sent_at: int, target: str = ROOM) -> List[str]:
    """A member seals C{plaintext} again with the room key (no signing key needed)."""
    token = SignedSealer(keys_for(target).for_layer(SIGNED)).seal(plaintext, sent_at, b64decode(msgid))
    return split_token(SIGNED, msgid, token, 10_000, 256)


class SignedRoundTripTests(SynchronousTestCase):
    def test_accepted_with_signer_and_first_use(self) -> None:
        clock = make_clock()
        alice, bob = signed(clock, identity=ALICE), signed(clock)
        accepted = only_accepted(feed(bob, "alice", alice.encode("alice", "hello", 400)))
        self.assertEqual(accepted.body, "hello")
        self.assertEqual(accepted.protection, "signed+fresh")
        self.assertEqual(accepted.signer, ALICE.fingerprint)
        self.assertEqual(accepted.trust, "first-use")
        self.assertEqual(bob.trust.pinned("alice").public_key, ALICE.public_key)  # type: ignore[union-attr]

    def test_replay_refused(self) -> None:
        clock = make_clock()
        alice, bob = signed(clock, identity=ALICE), signed(clock)
        lines = alice.encode("alice", "once", 400)
        only_accepted(feed(bob, "alice", lines))
        self.assertEqual(only_rejected(feed(bob, "alice", lines)).reason, "replayed")

    def test_no_identity_cannot_send(self) -> None:
        clock = make_clock()
        reader = Conversation(ROOM, SIGNED, keys_for(), clock=clock.seconds)
        self.assertRaises(ValueError, reader.encode, "bob", "hi", 400)

    def test_receiving_needs_no_identity(self) -> None:
        clock = make_clock()
        reader = Conversation(ROOM, SIGNED, keys_for(), clock=clock.seconds)
        only_accepted(feed(reader, "alice", signed(clock, identity=ALICE).encode("alice", "hi", 400)))


class MemberAttackTests(SynchronousTestCase):
    """What a member holding the room key tries, and what stops it."""

    @given(data=st.data())
    def test_any_change_to_the_signed_plaintext_refused(self, data: st.DataObject) -> None:
        """Any byte of key, signature or envelope (every field and the body) changed: refused."""
        clock = make_clock()
        alice, bob = signed(clock, identity=ALICE), signed(clock)
        msgid, plaintext, sent_at = open_token(alice.encode("alice", "pay bob 10", 400))
        self.assertEqual(plaintext[0], KEY_CARRIED)
        index = data.draw(st.integers(FORM_BYTES, len(plaintext) - 1), label="index")
        flip = data.draw(st.integers(1, 255), label="xor")
        altered = bytearray(plaintext)
        altered[index] ^= flip
        results = feed(bob, "alice", reseal(msgid, bytes(altered), sent_at))
        self.assertEqual(only_rejected(results).reason, "bad-signature")

    @given(data=st.data())
    def test_truncated_or_extended_plaintext_refused(self, data: st.DataObject) -> None:
        clock = make_clock()
        alice, bob = signed(clock, identity=ALICE), signed(clock)
        msgid, plaintext, sent_at = open_token(alice.encode("alice", "hello", 400))
        cut = data.draw(st.integers(0, len(plaintext) - 1), label="cut")
        extra = data.draw(st.binary(max_size=8), label="extra")
        changed = plaintext[:cut] + extra
        if changed == plaintext:
            return
        rejected = only_rejected(feed(bob, "alice", reseal(msgid, changed, sent_at)))
        self.assertIn(rejected.reason, ("bad-signature", "malformed", "unknown-signer"))

    def test_unknown_form_refused(self) -> None:
        clock = make_clock()
        alice, bob = signed(clock, identity=ALICE), signed(clock)
        msgid, plaintext, sent_at = open_token(alice.encode("alice", "hello", 400))
        # Forms 0-3 are defined (bit 2: a view follows, docs/wire.md "Views"); 4 is not.
        rejected = only_rejected(feed(bob, "alice", reseal(msgid, b"\x04" + plaintext[1:], sent_at)))
        self.assertEqual(rejected.reason, "malformed")
        self.assertIn("unknown signed form 4", str(rejected.error))

    def test_new_msgid_refused(self) -> None:
        """The msgid is signed: a member cannot re-seal alice's message under a fresh id to replay it."""
        clock = make_clock()
        alice, bob = signed(clock, identity=ALICE), signed(clock)
        lines = alice.encode("alice", "hello", 400)
        msgid, plaintext, sent_at = open_token(lines)
        only_accepted(feed(bob, "alice", lines))
        other = "B" * 21 + "A"
        self.assertEqual(only_rejected(feed(bob, "alice", reseal(other, plaintext, sent_at))).reason, "bad-signature")

    @given(shift=st.integers(-5, 30).filter(lambda s: s != 0))
    def test_restamped_with_another_time_refused(self, shift: int) -> None:
        """The time is signed: a member cannot re-stamp a message past the replay cache."""
        clock = make_clock()
        alice, bob = signed(clock, identity=ALICE), signed(clock)
        msgid, plaintext, sent_at = open_token(alice.encode("alice", "hello", 400))
        resealed = reseal(msgid, plaintext, sent_at + shift)
        self.assertEqual(only_rejected(feed(bob, "alice", resealed)).reason, "bad-signature")

    def test_signature_from_another_room_refused(self) -> None:
        """Re-sealed under another room's key, the signed target gives it away."""
        clock = make_clock()
        alice = signed(clock, target="#other", identity=ALICE)
        bob = signed(clock)
        msgid, plaintext, sent_at = open_token(alice.encode("alice", "hello", 400), "#other")
        self.assertEqual(only_rejected(feed(bob, "alice", reseal(msgid, plaintext, sent_at))).reason, "wrong-room")

    @given(
        source=st.sampled_from(["#other", "alice bob", "alice carol"]),
        destination=st.sampled_from([ROOM, "alice bob", "bob carol"]),
    )
    def test_signature_from_one_conversation_refused_in_another(self, source: str, destination: str) -> None:
        """Rooms and direct conversations alike: the signed target must be where it arrived."""
        if source == destination:
            return
        clock = make_clock()
        alice = signed(clock, target=source, identity=ALICE)
        bob = signed(clock, target=destination)
        msgid, plaintext, sent_at = open_token(alice.encode("alice", "hello", 400), source)
        resealed = reseal(msgid, plaintext, sent_at, destination)
        self.assertEqual(only_rejected(feed(bob, "alice", resealed)).reason, "wrong-room")

    def test_retargeted_envelope_refused(self) -> None:
        """And rewriting the sealed target to match breaks the signature."""
        clock = make_clock()
        alice, bob = signed(clock, target="#other", identity=ALICE), signed(clock)
        msgid, plaintext, sent_at = open_token(alice.encode("alice", "hello", 400), "#other")
        envelope = plaintext[SIGNED_HEADER_BYTES:]
        sender_len = envelope[HEADER_SIZE - 2]
        start = HEADER_SIZE + sender_len
        old_target = envelope[start : start + len(b"#other")]
        self.assertEqual(old_target, b"#other")
        moved = (
            envelope[: HEADER_SIZE - 1]
            + len(b"#lab").to_bytes(1, "big")
            + envelope[HEADER_SIZE:start]
            + b"#lab"
            + envelope[start + 6 :]
        )
        resealed = reseal(msgid, plaintext[:SIGNED_HEADER_BYTES] + moved, sent_at)
        self.assertEqual(only_rejected(feed(bob, "alice", resealed)).reason, "bad-signature")

    def test_member_writes_as_another_member(self) -> None:
        """Mallory signs with her own key as alice: alice's pin refuses it, naming the key's owner."""
        clock = make_clock()
        alice, mallory, bob = signed(clock, identity=ALICE), signed(clock, identity=MALLORY), signed(clock)
        only_accepted(feed(bob, "alice", alice.encode("alice", "hi", 400)))
        forged = mallory.encode("alice", "as alice", 400)
        self.assertEqual(only_rejected(feed(bob, "alice", forged)).reason, "identity-changed")
        only_accepted(feed(bob, "mallory", mallory.encode("mallory", "me", 400)))
        rejected = only_rejected(feed(bob, "alice", mallory.encode("alice", "as alice", 400)))
        self.assertEqual(rejected.reason, "signed-by-other")
        self.assertIn("signed by mallory's key, sent as alice", rejected.description)

    def test_member_signs_alices_envelope_with_own_key(self) -> None:
        """Replacing key and signature with one's own over alice's envelope: still not alice's key."""
        clock = make_clock()
        alice, bob = signed(clock, identity=ALICE), signed(clock)
        only_accepted(feed(bob, "alice", alice.encode("alice", "first", 400)))
        msgid, plaintext, sent_at = open_token(alice.encode("alice", "second", 400))
        self.assertEqual(plaintext[0], KEY_CARRIED | VIEW_FOLLOWS)  # her view: her own chain's head
        view_length = plaintext[SIGNED_HEADER_BYTES]
        view = plaintext[SIGNED_HEADER_BYTES + 1 : SIGNED_HEADER_BYTES + 1 + view_length]
        envelope = plaintext[SIGNED_HEADER_BYTES + 1 + view_length :]
        forged = sign_envelope(MALLORY, b64decode(msgid), sent_at, envelope, view=view)
        self.assertEqual(only_rejected(feed(bob, "alice", reseal(msgid, forged, sent_at))).reason, "identity-changed")

    def test_fernet_ttl_token_in_a_signed_room_refused(self) -> None:
        """
        Dropping the signature by using the lower layer is refused, and named
        for what it is (issue 23): the room's key opens it, so it is a
        member's, sealed on fernet-ttl where the room asks signed.
        """
        clock = make_clock()
        lower = Conversation(ROOM, "fernet-ttl", keys_for(), clock=clock.seconds)
        bob = signed(clock)
        rejected = only_rejected(feed(bob, "alice", lower.encode("alice", "hi", 400)))
        self.assertEqual(rejected.reason, "lower-layer")
        self.assertIn("sealed on fernet-ttl, the room asks signed", str(rejected.error))

    def test_refused_message_is_not_pinned_and_trust_accepts(self) -> None:
        clock = make_clock()
        alice, mallory, bob = signed(clock, identity=ALICE), signed(clock, identity=MALLORY), signed(clock)
        only_accepted(feed(bob, "alice", alice.encode("alice", "hi", 400)))
        only_rejected(feed(bob, "alice", mallory.encode("alice", "new key", 400)))
        self.assertEqual(bob.trust.pinned("alice").public_key, ALICE.public_key)  # type: ignore[union-attr]
        bob.trust.trust("alice")
        accepted = only_accepted(feed(bob, "alice", mallory.encode("alice", "accepted", 400)))
        self.assertEqual(accepted.signer, MALLORY.fingerprint)


class CompactKeyTests(SynchronousTestCase):
    """The public key rides along only where it costs no line (docs/wire.md, "The signed layer")."""

    def test_200_bytes_fit_one_line(self) -> None:
        """After the stream's first message, a 200-byte message leaves its key out and takes one line."""
        clock = make_clock()
        alice, bob = signed(clock, identity=ALICE), signed(clock)
        first = alice.encode("alice", "x" * 200, BENCH_BUDGET)
        self.assertEqual(len(first), 2)  # the stream's first message carries the key, whatever it costs
        only_accepted(feed(bob, "alice", first))
        lines = alice.encode("alice", "y" * 200, BENCH_BUDGET)
        self.assertEqual(len(lines), 1)
        self.assertLessEqual(len(lines[0]), BENCH_BUDGET)
        self.assertEqual(open_token(lines)[1][0], KEY_OMITTED)
        accepted = only_accepted(feed(bob, "alice", lines))
        self.assertEqual((accepted.body, accepted.signer, accepted.trust), ("y" * 200, ALICE.fingerprint, "first-use"))

    def test_short_messages_carry_the_key(self) -> None:
        clock = make_clock()
        alice = signed(clock, identity=ALICE)
        alice.encode("alice", "first", BENCH_BUDGET)
        msgid, plaintext, sent_at = open_token(alice.encode("alice", "short", BENCH_BUDGET))
        self.assertEqual(plaintext[0], KEY_CARRIED | VIEW_FOLLOWS)
        self.assertEqual(plaintext[FORM_BYTES : FORM_BYTES + PUBLIC_KEY_BYTES], ALICE.public_key)

    def test_without_a_pin_the_signer_is_unknown(self) -> None:
        """A receiver that never saw alice's key refuses her key-less message, and says why."""
        clock = make_clock()
        alice, late = signed(clock, identity=ALICE), signed(clock)
        alice.encode("alice", "first", BENCH_BUDGET)
        lines = alice.encode("alice", "z" * 200, BENCH_BUDGET)
        self.assertEqual(only_rejected(feed(late, "alice", lines)).reason, "unknown-signer")
        only_accepted(feed(late, "alice", alice.encode("alice", "short", BENCH_BUDGET)))
        only_accepted(feed(late, "alice", alice.encode("alice", "w" * 200, BENCH_BUDGET)))

    def test_key_less_message_from_another_key_refused(self) -> None:
        """Pinned to alice's key, a key-less message signed by mallory as alice does not verify."""
        clock = make_clock()
        alice, mallory, bob = signed(clock, identity=ALICE), signed(clock, identity=MALLORY), signed(clock)
        only_accepted(feed(bob, "alice", alice.encode("alice", "hi", BENCH_BUDGET)))
        mallory.encode("alice", "first", BENCH_BUDGET)
        forged = mallory.encode("alice", "m" * 200, BENCH_BUDGET)
        self.assertEqual(open_token(forged)[1][0], KEY_OMITTED)
        rejected = only_rejected(feed(bob, "alice", forged))
        self.assertEqual(rejected.reason, "bad-signature")
        self.assertIn("does not carry its key", rejected.description)


class FingerprintTests(SynchronousTestCase):
    @given(key=st.binary(min_size=32, max_size=32))
    def test_readable_and_normalised(self, key: bytes) -> None:
        fingerprint = identity_fingerprint(key)
        label, groups = fingerprint.split(" ")[0], fingerprint.split(" ")[1:]
        self.assertEqual(label, "identity")
        self.assertEqual(len(groups), 8)
        self.assertTrue(all(len(g) == 5 and g.isdigit() and int(g) <= 0xFFFF for g in groups))
        self.assertEqual(normalize_fingerprint(fingerprint.replace(" ", "-")), fingerprint)
        self.assertEqual(normalize_fingerprint(fingerprint.replace(" ", "")), fingerprint)
        digits = fingerprint[len("identity ") :]
        self.assertEqual(normalize_fingerprint(digits), fingerprint)
        self.assertEqual(normalize_fingerprint("Identity: " + digits.replace(" ", ":")), fingerprint)

    def test_malformed_refused(self) -> None:
        self.assertIsNone(normalize_fingerprint("1234"))
        self.assertIsNone(normalize_fingerprint("99999 " * 8))
        self.assertIsNone(normalize_fingerprint("abcde " * 8))
        self.assertIsNone(normalize_fingerprint("room key " + "12345 " * 8))
        self.assertIsNone(normalize_fingerprint("\u0661" * 40))  # Arabic-Indic digits are not ours

    def test_identity_repr_hides_the_private_key(self) -> None:
        identity = Identity.generate()
        self.assertNotIn(identity.private_bytes().hex(), repr(identity))
        self.assertEqual(Identity.from_private_bytes(identity.private_bytes()).public_key, identity.public_key)
