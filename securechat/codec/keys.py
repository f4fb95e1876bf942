"""
From a passphrase to one key per layer.

A passphrase is low-entropy, so it goes through Argon2id (memory-hard: each
guess costs an attacker tens of MiB and a fifth of a second) exactly once per
(passphrase, target).  The salt is a hash of a fixed context string and the
casefolded target, so the same passphrase gives unrelated keys in different
rooms and a precomputed table serves one room of one application only.  The
Argon2id output (the room's I{master key}) is then expanded with HKDF into
an independent key per layer, so a key recovered from the teaching layer
(aes-ctr) says nothing about the fernet keys.  The fingerprint is a hash of
the master key, so it is the same whatever layer the room uses.  Every
constant and step: docs/wire.md, "Keys".
"""

from __future__ import annotations

import hashlib
from typing import Optional, Tuple

import attr
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF, HKDFExpand

try:
    from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
except ImportError:  # cryptography < 44 (PyPy 3.9's wheels stop at 43)
    Argon2id = None  # type: ignore[assignment,misc]

from securechat.codec.identity import format_fingerprint
from securechat.codec.names import Casefold, rfc1459_casefold
from securechat.codec.roomsecret import SECRET_KEY_INFO, parse_room_secret

#: Layers that need a key, in increasing strength (plain needs none).
KEYED_LAYERS = ("aes-ctr", "fernet", "fernet-ttl", "signed")

KEY_LENGTH = 32
SALT_CONTEXT = b"securechat/v1 room key salt\x00"
LAYER_INFO_PREFIX = b"securechat/v1 layer key\x00"
ROOM_FINGERPRINT_CONTEXT = b"securechat/v2 room key fingerprint\x00"
#: 64 bits, as 4 groups of 5 digits: enough to tell passphrases apart.
ROOM_FINGERPRINT_BYTES = 8
ROOM_KEY_LABEL = "room key"


class KdfUnavailable(RuntimeError):
    """This C{cryptography} has no Argon2id (it arrived in 44): no keys can be derived here."""


@attr.s(frozen=True, slots=True, auto_attribs=True)
class KdfParams:
    """Argon2id cost parameters (memory in KiB)."""

    iterations: int
    lanes: int
    memory_cost: int


#: RFC 9106 section 4, second recommended option (t=3, p=4, m=64 MiB):
#: about 0.2 s on the reference 2-core machine, once per room key.
DEFAULT_KDF = KdfParams(iterations=3, lanes=4, memory_cost=64 * 1024)

#: The smallest parameters Argon2id allows: for tests only, never for people.
TEST_KDF = KdfParams(iterations=1, lanes=1, memory_cost=8)

#: The "parameters" of keys from a generated room secret: no Argon2id ran.
SECRET_KDF = KdfParams(iterations=0, lanes=0, memory_cost=0)


def room_fingerprint(master: bytes) -> str:
    """The labelled fingerprint of a room's master key: C{"room key 12345 ..."}."""
    digest = hashlib.sha256(ROOM_FINGERPRINT_CONTEXT + master).digest()[:ROOM_FINGERPRINT_BYTES]
    return format_fingerprint(ROOM_KEY_LABEL, digest)


@attr.s(frozen=True, slots=True, auto_attribs=True, repr=False, eq=False)
class RoomKeys:
    """
    The per-layer keys of one room (or direct conversation).

    Never shows key material in its repr; compare keys with
    L{fingerprint}, which is a domain-separated hash of the master key.
    """

    target: str
    params: KdfParams
    _layer_keys: Tuple[Tuple[str, bytes], ...]
    _fingerprint: str

    def for_layer(self, layer: str) -> bytes:
        """The 32-byte key of C{layer}; L{ValueError} for plain or unknown layers."""
        for name, key in self._layer_keys:
            if name == layer:
                return key
        raise ValueError(f"no key for layer {layer!r}; keyed layers are {KEYED_LAYERS}")

    def fingerprint(self, layer: Optional[str] = None) -> str:
        """
        The room key's labelled fingerprint, for comparing out of band.  The
        same on every layer: C{layer} is accepted for callers that name the
        one in use, and changes nothing.
        """
        return self._fingerprint

    def __repr__(self) -> str:
        return f"RoomKeys(target={self.target!r}, layers={KEYED_LAYERS!r}, keys=<hidden>)"


def room_salt(target: str, casefold: Casefold = rfc1459_casefold) -> bytes:
    """The Argon2id salt for C{target}: a hash of the context and casefolded target."""
    return hashlib.sha256(SALT_CONTEXT + casefold(target).encode("utf-8")).digest()


def derive_room_keys(
    passphrase: bytes,
    target: str,
    params: KdfParams = DEFAULT_KDF,
    casefold: Casefold = rfc1459_casefold,
) -> RoomKeys:
    """
    Run Argon2id once for (C{passphrase}, C{target}), then expand per layer.

    Costs C{params} once; call it when a passphrase is set, never per message.
    L{KdfUnavailable} where C{cryptography} has no Argon2id.

    A room secret code (L{securechat.codec.roomsecret}) is not a passphrase:
    its 128 random bits go through HKDF instead (no guessing to slow down);
    a mistyped code is a L{ValueError} (L{BadRoomSecret}), never a passphrase.
    """
    if not isinstance(passphrase, bytes):
        raise TypeError("the passphrase must be bytes (encode it as UTF-8)")
    if not passphrase:
        raise ValueError("the passphrase must not be empty")
    secret = parse_room_secret(passphrase)
    if secret is not None:
        return derive_secret_keys(secret, target, casefold)
    if Argon2id is None:
        raise KdfUnavailable(
            "Argon2id needs cryptography >= 44; this installation has an older one"
            " (PyPy 3.9 wheels stop at 43): run the client on CPython"
        )
    master = Argon2id(
        salt=room_salt(target, casefold),
        length=KEY_LENGTH,
        iterations=params.iterations,
        lanes=params.lanes,
        memory_cost=params.memory_cost,
    ).derive(passphrase)
    return keys_from_master(master, target, params, casefold)


def layer_key(master: bytes, layer: str) -> bytes:
    """HKDF-SHA256-Expand(master, info = context || layer name, 32 bytes)."""
    return HKDFExpand(
        algorithm=hashes.SHA256(), length=KEY_LENGTH, info=LAYER_INFO_PREFIX + layer.encode("ascii")
    ).derive(master)


def keys_from_master(
    master: bytes, target: str, params: KdfParams, casefold: Casefold = rfc1459_casefold
) -> RoomKeys:
    """A room's keys from its 32-byte master key: one per layer, and the fingerprint."""
    layer_keys = tuple((layer, layer_key(master, layer)) for layer in KEYED_LAYERS)
    return RoomKeys(casefold(target), params, layer_keys, room_fingerprint(master))


def derive_secret_keys(secret: bytes, target: str, casefold: Casefold = rfc1459_casefold) -> RoomKeys:
    """
    The keys of a 128-bit room secret for C{target}: HKDF-SHA256 extract
    (salt: the room salt, so one secret gives unrelated keys per room) and
    expand, then the same per-layer expansion as passphrase keys.
    """
    return keys_from_master(secret_master(secret, target, casefold), target, SECRET_KDF, casefold)


def secret_master(secret: bytes, target: str, casefold: Casefold = rfc1459_casefold) -> bytes:
    """HKDF-SHA256 of a room secret: extract (salt: the room salt), then expand (info: L{SECRET_KEY_INFO})."""
    return HKDF(
        algorithm=hashes.SHA256(), length=KEY_LENGTH, salt=room_salt(target, casefold), info=SECRET_KEY_INFO
    ).derive(secret)
