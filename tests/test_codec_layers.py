"""
Tests for securechat.codec.layers, through a conversation where it matters:
standard Fernet tokens, random nonces, and aes-ctr's malleability (the lesson
of the lab's chapter 2, made executable).
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet
from twisted.trial.unittest import SynchronousTestCase

from securechat.codec import Malformed, Tampered
from securechat.codec.chunks import MARKER
from securechat.codec.envelope import unpack
from securechat.codec.layers import CTR_NONCE_BYTES, AesCtrSealer, FernetSealer, make_sealer
from tests.codec_support import ROOM, conversation, feed, keys_for, make_clock, only_accepted

KEY = bytes(range(32))


def _token_of(line: str) -> str:
    """The piece of a single-chunk protected line."""
    marker, _layer, _msgid, position, piece = line.split(" ")
    assert marker == MARKER and position == "1/1", line
    return piece


def _with_token(line: str, token: str) -> str:
    head, _ = line.rsplit(" ", 1)
    return f"{head} {token}"


class FernetSealerTests(SynchronousTestCase):
    def test_standard_fernet_token(self) -> None:
        """cryptography's own Fernet, given the derived key, opens our tokens."""
        clock = make_clock()
        alice = conversation("fernet", clock)
        line = alice.encode("alice", "bonjour", 400)[0]
        key = keys_for().for_layer("fernet")
        plaintext = Fernet(base64.urlsafe_b64encode(key)).decrypt(_token_of(line))
        envelope = unpack(plaintext)
        self.assertEqual((envelope.sender, envelope.target, envelope.body), ("alice", "#lab", "bonjour"))

    def test_fernet_ttl_token_is_standard_too(self) -> None:
        clock = make_clock()
        line = conversation("fernet-ttl", clock).encode("alice", "hi", 400)[0]
        fernet = Fernet(base64.urlsafe_b64encode(keys_for().for_layer("fernet-ttl")))
        self.assertEqual(fernet.extract_timestamp(_token_of(line)), int(clock.seconds()))
        self.assertEqual(unpack(fernet.decrypt(_token_of(line))).body, "hi")

    def test_opens_what_fernet_seals(self) -> None:
        """And the other way: a token made by the library opens, timestamp included."""
        sealer = FernetSealer(KEY)
        token = Fernet(base64.urlsafe_b64encode(KEY)).encrypt_at_time(b"data", 1234)
        self.assertEqual(sealer.open(token.decode("ascii")), (b"data", 1234))

    def test_wrong_key_is_tampered(self) -> None:
        token = FernetSealer(KEY).seal(b"data", 1)
        self.assertRaises(Tampered, FernetSealer(bytes(32)).open, token)

    def test_foreign_characters_are_malformed(self) -> None:
        """base64 would silently skip a '!' or '+'; we refuse the token instead."""
        token = FernetSealer(KEY).seal(b"data", 1)
        for broken in (token[:5] + "!" + token[5:], token.replace("A", "+", 1), token + "\n", ""):
            self.assertRaises(Malformed, FernetSealer(KEY).open, broken)


class AesCtrTests(SynchronousTestCase):
    def test_round_trip(self) -> None:
        sealer = AesCtrSealer(KEY)
        self.assertEqual(sealer.open(sealer.seal(b"attack at dawn", 0)), (b"attack at dawn", None))

    def test_fresh_nonce_per_message(self) -> None:
        """The same plaintext twice gives unrelated ciphertexts: the nonce is random."""
        sealer = AesCtrSealer(KEY)
        one = base64.urlsafe_b64decode(sealer.seal(b"same", 0))
        two = base64.urlsafe_b64decode(sealer.seal(b"same", 0))
        self.assertNotEqual(one[:CTR_NONCE_BYTES], two[:CTR_NONCE_BYTES])
        self.assertNotEqual(one[CTR_NONCE_BYTES:], two[CTR_NONCE_BYTES:])

    def test_short_token_malformed(self) -> None:
        short = base64.urlsafe_b64encode(b"x" * (CTR_NONCE_BYTES - 1)).decode("ascii")
        self.assertRaises(Malformed, AesCtrSealer(KEY).open, short)

    def test_malleable_bit_flip_is_accepted(self) -> None:
        """
        The lesson: flip one ciphertext bit and the same plaintext bit flips;
        the receiver has no way to notice and accepts the altered message.
        """
        clock = make_clock()
        alice = conversation("aes-ctr", clock)
        bob = conversation("aes-ctr", clock)
        body = "pay 100 EUR to bob"
        line = alice.encode("alice", body, 400)[0]
        data = bytearray(base64.urlsafe_b64decode(_token_of(line)))
        # The body is the tail of the envelope; flip the low bit of '1' -> '0'.
        position = len(data) - len(body.encode("utf-8")) + body.index("1")
        data[position] ^= 0x01
        forged = _with_token(line, base64.urlsafe_b64encode(bytes(data)).decode("ascii"))
        accepted = only_accepted(feed(bob, "alice", [forged]))
        self.assertEqual(accepted.body, "pay 000 EUR to bob")
        self.assertEqual(accepted.protection, "confidential")

    def test_wrong_key_is_tampered(self) -> None:
        """Garbage after decryption is the only sign of a wrong key on this layer."""
        clock = make_clock()
        line = conversation("aes-ctr", clock, passphrase=b"one").encode("alice", "hi", 400)[0]
        results = feed(conversation("aes-ctr", clock, passphrase=b"two"), "alice", [line])
        self.assertEqual([r.reason for r in results], ["tampered"])  # type: ignore[attr-defined]


class MakeSealerTests(SynchronousTestCase):
    def test_names(self) -> None:
        self.assertIsInstance(make_sealer("aes-ctr", KEY), AesCtrSealer)
        self.assertEqual(make_sealer("fernet-ttl", KEY).name, "fernet-ttl")
        self.assertRaises(ValueError, make_sealer, "plain", KEY)

    def test_conversation_targets(self) -> None:
        """Keys derived for another room are refused at set-up, not per message."""
        clock = make_clock()
        convo = conversation("fernet", clock)
        self.assertRaises(ValueError, convo.set_layer, "fernet", keys_for("#other"))
        self.assertRaises(ValueError, convo.set_layer, "fernet", None)
        self.assertRaises(ValueError, convo.set_layer, "rot13", keys_for(ROOM))
