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
from securechat.codec.layers import (
    AesCtrSealer,
    FernetSealer,
    SignedSealer,
    b64decode,
    b64encode,
    make_sealer,
)
from tests.codec_support import ROOM, conversation, feed, keys_for, make_clock, only_accepted

KEY = bytes(range(32))
MSGID = bytes(range(100, 116))


def _padded(token: str) -> str:
    """A wire token with its base64 padding put back, as cryptography's Fernet wants it."""
    return token + "=" * (-len(token) % 4)


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
        plaintext = Fernet(base64.urlsafe_b64encode(key)).decrypt(_padded(_token_of(line)))
        envelope = unpack(plaintext)
        self.assertEqual((envelope.sender, envelope.target, envelope.body), ("alice", "#lab", "bonjour"))

    def test_fernet_ttl_token_is_standard_too(self) -> None:
        clock = make_clock()
        line = conversation("fernet-ttl", clock).encode("alice", "hi", 400)[0]
        fernet = Fernet(base64.urlsafe_b64encode(keys_for().for_layer("fernet-ttl")))
        self.assertEqual(fernet.extract_timestamp(_padded(_token_of(line))), int(clock.seconds()))
        self.assertEqual(unpack(fernet.decrypt(_padded(_token_of(line)))).body, "hi")

    def test_iv_is_the_msgid(self) -> None:
        """The token's IV (bytes 9 to 25) is the line's msgid: the MAC binds the header's id."""
        line = conversation("fernet", make_clock()).encode("alice", "hi", 400)[0]
        _marker, _layer, msgid, _position, piece = line.split(" ")
        self.assertEqual(b64decode(piece)[9:25], b64decode(msgid))

    def test_opens_what_fernet_seals(self) -> None:
        """And the other way: a token made by the library (IV = msgid) opens, timestamp included."""
        sealer = FernetSealer(KEY)
        token = Fernet(base64.urlsafe_b64encode(KEY))._encrypt_from_parts(b"data", 1234, MSGID)
        self.assertEqual(sealer.open(token.decode("ascii").rstrip("="), MSGID), (b"data", 1234))
        self.assertEqual(sealer.seal(b"data", 1234, MSGID), token.decode("ascii").rstrip("="))

    def test_one_encryptor_for_many_messages(self) -> None:
        """
        The sealer keeps one CBC encryptor and puts each msgid in as the IV
        by XOR: every token of a sequence (lengths across block boundaries,
        repeated and varied msgids, an empty body) is the one a fresh
        library Fernet makes with that IV, byte for byte.
        """
        sealer = FernetSealer(KEY)
        fernet = Fernet(base64.urlsafe_b64encode(KEY))
        for number, size in enumerate((0, 1, 15, 16, 17, 31, 32, 200, 0, 241, 16, 1000)):
            msgid = bytes((number * 7 + i) % 256 for i in range(16)) if number % 3 else MSGID
            data = bytes((number + i) % 256 for i in range(size))
            expected = fernet._encrypt_from_parts(data, 1000 + number, msgid).decode("ascii").rstrip("=")
            self.assertEqual(sealer.seal(data, 1000 + number, msgid), expected)
            self.assertEqual(sealer.open(expected, msgid), (data, 1000 + number))

    def test_msgid_must_be_one_block(self) -> None:
        """An IV of another length would not be CBC's: refused rather than silently mixed in."""
        sealer = FernetSealer(KEY)
        for msgid in (b"", MSGID[:15], MSGID + b"x"):
            self.assertRaises(ValueError, sealer.seal, b"data", 1, msgid)
        self.assertEqual(sealer.seal(b"data", 1, MSGID), FernetSealer(KEY).seal(b"data", 1, MSGID))

    def test_altered_mac_is_tampered(self) -> None:
        """Any change to the HMAC's 32 bytes is refused (the last base64 characters carry them)."""
        token = FernetSealer(KEY).seal(b"data", 1, MSGID)
        raw = bytearray(b64decode(token))
        raw[-1] ^= 1
        self.assertRaises(Tampered, FernetSealer(KEY).open, b64encode(bytes(raw)), MSGID)

    def test_other_msgid_is_tampered(self) -> None:
        """A line whose header names another msgid than the sealed IV is refused, after the MAC."""
        token = FernetSealer(KEY).seal(b"data", 1, MSGID)
        error = self.assertRaises(Tampered, FernetSealer(KEY).open, token, bytes(16))
        self.assertIn("message id", str(error))

    def test_wrong_key_is_tampered(self) -> None:
        token = FernetSealer(KEY).seal(b"data", 1, MSGID)
        self.assertRaises(Tampered, FernetSealer(bytes(32)).open, token, MSGID)

    def test_foreign_characters_are_malformed(self) -> None:
        """base64 would silently skip a '!' or '+'; we refuse the token instead, and '=' padding too."""
        token = FernetSealer(KEY).seal(b"data", 1, MSGID)
        for broken in (token[:5] + "!" + token[5:], token.replace("A", "+", 1), token + "\n", "", token + "="):
            self.assertRaises(Malformed, FernetSealer(KEY).open, broken, MSGID)


class Base64Tests(SynchronousTestCase):
    def test_one_spelling(self) -> None:
        """Unpadded, and the unused low bits of the last character must be zero."""
        self.assertEqual(b64encode(b"\xff"), "_w")
        self.assertEqual(b64decode("_w"), b"\xff")
        self.assertRaises(Malformed, b64decode, "_w==")
        for other in ("_x", "_", "_w_w_", "__9"):
            self.assertRaises(Tampered, b64decode, other)
        self.assertEqual(b64decode("__8"), b"\xff\xff")


class SignedSealerTests(SynchronousTestCase):
    def test_round_trip_and_time(self) -> None:
        sealer = SignedSealer(KEY)
        token = sealer.seal(b"signed bytes", 1234, MSGID)
        self.assertEqual(sealer.open(token, MSGID), (b"signed bytes", 1234))
        self.assertEqual(len(b64decode(token)), 8 + len(b"signed bytes") + 16)

    def test_msgid_and_key_bound(self) -> None:
        token = SignedSealer(KEY).seal(b"x", 1, MSGID)
        other = MSGID[:12] + b"\x00" * 4  # same nonce, other associated data
        self.assertRaises(Tampered, SignedSealer(KEY).open, token, other)
        self.assertRaises(Tampered, SignedSealer(bytes(32)).open, token, MSGID)
        self.assertRaises(Tampered, SignedSealer(KEY).open, "AAAA", MSGID)


class AesCtrTests(SynchronousTestCase):
    def test_round_trip(self) -> None:
        sealer = AesCtrSealer(KEY)
        self.assertEqual(sealer.open(sealer.seal(b"attack at dawn", 0, MSGID), MSGID), (b"attack at dawn", None))

    def test_fresh_nonce_per_message(self) -> None:
        """The same plaintext twice gives unrelated ciphertexts: the nonce is the random msgid."""
        clock = make_clock()
        alice = conversation("aes-ctr", clock)
        one, two = (_token_of(alice.encode("alice", "same", 400)[0]) for _ in range(2))
        self.assertNotEqual(one, two)

    def test_empty_token_malformed(self) -> None:
        self.assertRaises(Malformed, AesCtrSealer(KEY).open, "", MSGID)

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
        data = bytearray(b64decode(_token_of(line)))
        # The body is the tail of the envelope; flip the low bit of '1' -> '0'.
        position = len(data) - len(body.encode("utf-8")) + body.index("1")
        data[position] ^= 0x01
        forged = _with_token(line, b64encode(bytes(data)))
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
