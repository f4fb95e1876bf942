"""
A member's identity: an Ed25519 key pair, and a fingerprint people can
read aloud.

The room key only says "someone in the room"; the identity key says who.
The private key never leaves the state directory; the public key travels
inside C{signed} tokens that have room for it (encrypted, so the relay does
not learn it).

The fingerprint is 128 bits of SHA-256 over a context string and the raw
public key, shown after the label C{identity} as eight groups of five
decimal digits (each group one 16-bit number, 00000-65535); room keys use
the same digits after the label C{room key} (L{format_fingerprint}), so
no fingerprint can be taken for the other kind.  Digits read aloud in any language, and 128
bits means that making a key whose fingerprint matches a given member's (a
second preimage) costs about 2**128 key generations: out of reach, unlike
the 2**64 of the 8-byte room fingerprint, which only has to tell apart
passphrases people typed.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from typing import Optional

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

PUBLIC_KEY_BYTES = 32
PRIVATE_KEY_BYTES = 32
SIGNATURE_BYTES = 64
IDENTITY_FINGERPRINT_CONTEXT = b"securechat/v1 identity fingerprint\x00"
#: 16 bytes = 128 bits, as 8 groups of one 16-bit number each.
IDENTITY_FINGERPRINT_BYTES = 16
GROUP_BYTES = 2
GROUP_DIGITS = 5
FINGERPRINT_DIGITS = IDENTITY_FINGERPRINT_BYTES // GROUP_BYTES * GROUP_DIGITS
#: The label in front of every identity fingerprint shown.
IDENTITY_LABEL = "identity"
#: Public keys whose parsed form is kept (verifying is the hot path).
MAX_CACHED_PUBLIC_KEYS = 256

_SEPARATORS = re.compile(r"[\s:.\-]+")
_LABEL = re.compile(r"\s*%s" % (IDENTITY_LABEL,), re.IGNORECASE)


def format_fingerprint(label: str, digest: bytes) -> str:
    """
    C{label}, then C{digest} as groups of five decimal digits, each group
    one big-endian 16-bit number (00000-65535): C{"identity 04211 59830 ..."}.
    """
    groups = (
        int.from_bytes(digest[i : i + GROUP_BYTES], "big") for i in range(0, len(digest), GROUP_BYTES)
    )
    return " ".join([label] + ["%0*d" % (GROUP_DIGITS, group) for group in groups])


def identity_fingerprint(public_key: bytes) -> str:
    """C{public_key}'s fingerprint: C{identity} and 8 groups of 5 digits, e.g. C{"identity 04211 59830 ..."}."""
    if len(public_key) != PUBLIC_KEY_BYTES:
        raise ValueError("an Ed25519 public key is 32 bytes")
    digest = hashlib.sha256(IDENTITY_FINGERPRINT_CONTEXT + public_key).digest()[:IDENTITY_FINGERPRINT_BYTES]
    return format_fingerprint(IDENTITY_LABEL, digest)


def normalize_fingerprint(text: str) -> Optional[str]:
    """
    C{text} as a canonical identity fingerprint (the C{identity} label
    optional; spaces, dashes, colons and dots ignored), or L{None} if it is
    not 40 digits in 8 groups of 16-bit values.
    """
    label = _LABEL.match(text)
    digits = _SEPARATORS.sub("", text[label.end() :] if label else text)
    if len(digits) != FINGERPRINT_DIGITS or not (digits.isascii() and digits.isdigit()):
        return None
    groups = [digits[i : i + GROUP_DIGITS] for i in range(0, FINGERPRINT_DIGITS, GROUP_DIGITS)]
    if any(int(group) > 0xFFFF for group in groups):
        return None
    return " ".join([IDENTITY_LABEL] + groups)


class Identity:
    """Our Ed25519 key pair.  Its repr never shows the private key."""

    __slots__ = ("_private", "public_key")

    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private
        self.public_key: bytes = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @classmethod
    def generate(cls) -> Identity:
        """A fresh identity from the OS's random generator."""
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_private_bytes(cls, raw: bytes) -> Identity:
        """L{ValueError} unless C{raw} is a 32-byte Ed25519 private key."""
        if len(raw) != PRIVATE_KEY_BYTES:
            raise ValueError("an Ed25519 private key is 32 bytes")
        return cls(Ed25519PrivateKey.from_private_bytes(raw))

    def private_bytes(self) -> bytes:
        """The raw private key, for the state directory only."""
        return self._private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())

    def sign(self, data: bytes) -> bytes:
        return self._private.sign(data)

    @property
    def fingerprint(self) -> str:
        return identity_fingerprint(self.public_key)

    def __repr__(self) -> str:
        return "Identity(fingerprint=%r, private=<hidden>)" % (self.fingerprint,)


class Verifier:
    """Verifies signatures, keeping the last few parsed public keys (LRU)."""

    def __init__(self, max_keys: int = MAX_CACHED_PUBLIC_KEYS) -> None:
        self._keys: OrderedDict[bytes, Ed25519PublicKey] = OrderedDict()
        self._max = max_keys

    def verify(self, public_key: bytes, signature: bytes, data: bytes) -> bool:
        """Whether C{signature} is C{public_key}'s over C{data} (never raises on bad input)."""
        key = self._keys.get(public_key)
        if key is None:
            try:
                key = Ed25519PublicKey.from_public_bytes(public_key)
            except ValueError:
                return False
            self._keys[public_key] = key
            if len(self._keys) > self._max:
                self._keys.popitem(last=False)
        else:
            self._keys.move_to_end(public_key)
        try:
            key.verify(signature, data)
        except InvalidSignature:
            return False
        return True
