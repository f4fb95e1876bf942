"""Generated room secrets (issue 13): 128 random bits, a short code, no KDF guessing."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from securechat.codec import keys as keysModule
from securechat.codec.keys import TEST_KDF, derive_room_keys
from securechat.codec.roomsecret import (
    CODE_RE,
    BadRoomSecret,
    format_room_secret,
    new_room_secret,
    parse_room_secret,
)

ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"


class RoomSecretTests(SynchronousTestCase):
    @given(secret=st.binary(min_size=16, max_size=16))
    def test_round_trip(self, secret: bytes) -> None:
        code = format_room_secret(secret)
        self.assertTrue(CODE_RE.match(code))
        self.assertEqual(parse_room_secret(code.encode()), secret)
        self.assertEqual(parse_room_secret(b"  " + code.upper().encode() + b"\n"), secret)

    def test_fresh_and_random(self) -> None:
        codes = {new_room_secret() for _ in range(50)}
        self.assertEqual(len(codes), 50)
        self.assertEqual(len(next(iter(codes))), 42)
        self.assertRegex(next(iter(codes)), r"^sc-([a-z2-7]{4}-){7}[a-z2-7]{4}$")

    def test_every_single_typo_caught(self) -> None:
        """Any one character changed fails the check: 160 bits are 32 characters, none has unused bits."""
        secret = bytes(range(16))
        code = format_room_secret(secret)
        for index, char in enumerate(code):
            if char == "-" or index < 3:
                continue
            for replacement in ALPHABET:
                if replacement == char:
                    continue
                typo = (code[:index] + replacement + code[index + 1 :]).encode()
                self.assertRaises(BadRoomSecret, parse_room_secret, typo)

    def test_version_1_codes_refused_with_their_reason(self) -> None:
        """A 29-character code of wire version 1 is neither a passphrase nor silently accepted."""
        error = self.assertRaises(BadRoomSecret, parse_room_secret, b"sc-4z6mq-7hzwz-ejybh-lrxmx-e3wno-df22")
        self.assertIn("version 1", str(error))

    def test_passphrases_are_not_codes(self) -> None:
        for text in (b"sc-hello", b"a", "é".encode(), b"sc-aaaa-aaaa-aaaa-aaaa-aaaa-aaaa-aaaa-aaa"):
            self.assertIsNone(parse_room_secret(text))

    def test_keys_without_argon2(self) -> None:
        """A code never reaches Argon2id: its keys come from HKDF alone."""
        code = new_room_secret().encode()
        self.patch(keysModule, "Argon2id", None)  # would raise KdfUnavailable for a passphrase
        keys = derive_room_keys(code, "#lab", TEST_KDF)
        self.assertEqual(keys.params.iterations, 0)
        other = derive_room_keys(code, "#other", TEST_KDF)
        self.assertNotEqual(keys.for_layer("signed"), other.for_layer("signed"))
        self.assertRaises(keysModule.KdfUnavailable, derive_room_keys, b"a passphrase", "#lab", TEST_KDF)

    def test_mistyped_code_is_an_error_not_a_passphrase(self) -> None:
        code = format_room_secret(bytes(16))
        typo = code[:5] + ("b" if code[5] != "b" else "c") + code[6:]
        self.assertRaises(ValueError, derive_room_keys, typo.encode(), "#lab", TEST_KDF)
