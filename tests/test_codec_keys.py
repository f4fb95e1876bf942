"""Tests for securechat.codec.keys: Argon2id once, one key per layer, fingerprints."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from securechat.codec import DEFAULT_KDF, TEST_KDF, Conversation, KdfUnavailable, derive_room_keys, direct_target
from securechat.codec import keys as keys_module
from securechat.codec.keys import KEYED_LAYERS, room_salt
from tests.codec_support import EPOCH, make_clock


class DeriveRoomKeysTests(SynchronousTestCase):
    def test_deterministic(self) -> None:
        """Both ends derive the same keys from the same passphrase and room."""
        one = derive_room_keys(b"pass", "#room", TEST_KDF)
        two = derive_room_keys(b"pass", "#room", TEST_KDF)
        for layer in KEYED_LAYERS:
            self.assertEqual(one.for_layer(layer), two.for_layer(layer))

    def test_target_is_casefolded(self) -> None:
        """#Room and #ROOM are the same room (rfc1459), so the same keys."""
        one = derive_room_keys(b"pass", "#Room[1]", TEST_KDF)
        two = derive_room_keys(b"pass", "#room{1}", TEST_KDF)
        self.assertEqual(one.for_layer("fernet"), two.for_layer("fernet"))
        self.assertEqual(one.target, "#room{1}")

    def test_salt_depends_on_target(self) -> None:
        """Same passphrase, other room: unrelated keys (the salt differs)."""
        self.assertNotEqual(room_salt("#a"), room_salt("#b"))
        one = derive_room_keys(b"pass", "#a", TEST_KDF)
        two = derive_room_keys(b"pass", "#b", TEST_KDF)
        self.assertNotEqual(one.for_layer("fernet"), two.for_layer("fernet"))

    def test_passphrase_matters(self) -> None:
        one = derive_room_keys(b"pass", "#a", TEST_KDF)
        two = derive_room_keys(b"pasS", "#a", TEST_KDF)
        self.assertNotEqual(one.for_layer("fernet-ttl"), two.for_layer("fernet-ttl"))

    def test_separate_key_per_layer(self) -> None:
        """Each layer has its own 32-byte key, so one layer's key opens no other."""
        keys = derive_room_keys(b"pass", "#a", TEST_KDF)
        material = [keys.for_layer(layer) for layer in KEYED_LAYERS]
        self.assertEqual(len(set(material)), len(KEYED_LAYERS))
        self.assertEqual({len(key) for key in material}, {32})

    def test_direct_target_keys_agree(self) -> None:
        """Both peers of a direct conversation derive the same keys."""
        alice_side = derive_room_keys(b"pass", direct_target("Alice", "bob"), TEST_KDF)
        bob_side = derive_room_keys(b"pass", direct_target("BOB", "alice"), TEST_KDF)
        self.assertEqual(alice_side.for_layer("fernet"), bob_side.for_layer("fernet"))

    def test_plain_and_unknown_have_no_key(self) -> None:
        keys = derive_room_keys(b"pass", "#a", TEST_KDF)
        self.assertRaises(ValueError, keys.for_layer, "plain")
        self.assertRaises(ValueError, keys.for_layer, "rot13")

    def test_bad_passphrases_refused(self) -> None:
        self.assertRaises(ValueError, derive_room_keys, b"", "#a", TEST_KDF)
        self.assertRaises(TypeError, derive_room_keys, "text", "#a", TEST_KDF)

    def test_without_argon2id(self) -> None:
        """On cryptography < 44 (PyPy 3.9) the codec imports; deriving says why it cannot."""
        self.patch(keys_module, "Argon2id", None)
        error = self.assertRaises(KdfUnavailable, derive_room_keys, b"pass", "#a", TEST_KDF)
        self.assertIn("cryptography >= 44", str(error))

    def test_default_parameters(self) -> None:
        """DEFAULT_KDF is RFC 9106's second recommendation, as docs/security.md says."""
        self.assertEqual(
            (DEFAULT_KDF.iterations, DEFAULT_KDF.lanes, DEFAULT_KDF.memory_cost), (3, 4, 64 * 1024)
        )
        self.assertLess(TEST_KDF.memory_cost, DEFAULT_KDF.memory_cost)

    def test_params_change_the_key(self) -> None:
        """The cost parameters are part of the derivation: both ends must agree."""
        cheap = derive_room_keys(b"pass", "#a", TEST_KDF)
        other = derive_room_keys(b"pass", "#a", keys_module.KdfParams(2, 1, 8))
        self.assertNotEqual(cheap.for_layer("fernet"), other.for_layer("fernet"))


class SecrecyTests(SynchronousTestCase):
    def test_repr_hides_keys(self) -> None:
        keys = derive_room_keys(b"hunter2", "#a", TEST_KDF)
        text = repr(keys)
        self.assertIn("#a", text)
        self.assertNotIn("hunter2", text)
        for layer in KEYED_LAYERS:
            key = keys.for_layer(layer)
            self.assertNotIn(key.hex(), text)
            self.assertNotIn(repr(key), text)

    def test_fingerprint_is_short_and_not_the_key(self) -> None:
        keys = derive_room_keys(b"pass", "#a", TEST_KDF)
        fingerprint = keys.fingerprint("fernet-ttl")
        self.assertRegex(fingerprint, r"^room key [0-9]{5}( [0-9]{5}){3}$")
        digits = fingerprint[len("room key ") :].replace(" ", "")
        for layer in KEYED_LAYERS:
            self.assertNotIn(digits, str(int.from_bytes(keys.for_layer(layer), "big")))

    def test_fingerprints_differ(self) -> None:
        """A mistyped passphrase shows as a different fingerprint."""
        one = derive_room_keys(b"pass", "#a", TEST_KDF)
        two = derive_room_keys(b"pass ", "#a", TEST_KDF)
        self.assertEqual(one.fingerprint("fernet"), derive_room_keys(b"pass", "#a", TEST_KDF).fingerprint("fernet"))
        self.assertNotEqual(one.fingerprint("fernet"), two.fingerprint("fernet"))

    def test_one_fingerprint_whatever_the_layer(self) -> None:
        """Members who compare after one of them changed layer see the same room key, not a false mismatch."""
        keys = derive_room_keys(b"pass", "#a", TEST_KDF)
        self.assertEqual({keys.fingerprint(layer) for layer in KEYED_LAYERS}, {keys.fingerprint()})


class OncePerKeyTests(SynchronousTestCase):
    def test_argon2_runs_once_not_per_message(self) -> None:
        """Derivation is once per key: sending and receiving never run Argon2id."""
        calls = []
        real = keys_module.Argon2id

        def counting(**kwargs: object) -> object:
            calls.append(kwargs)
            return real(**kwargs)

        self.patch(keys_module, "Argon2id", counting)
        keys = derive_room_keys(b"pass", "#a", TEST_KDF)
        clock = make_clock(EPOCH)
        alice = Conversation("#a", "fernet-ttl", keys, clock=clock.seconds)
        bob = Conversation("#a", "fernet-ttl", keys, clock=clock.seconds)
        for number in range(5):
            for line in alice.encode("alice", f"message {number}", 400):
                bob.receive("alice", line)
        self.assertEqual(len(calls), 1)
