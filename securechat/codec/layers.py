"""
The layers: how a packed envelope becomes a token of URL-safe base64 text.

Each keyed layer has a I{sealer} built once from its 32-byte key (cipher
objects are made once, not per message).  C{seal} turns bytes into a token,
C{open} turns a token back into bytes and the token's timestamp, raising
L{Tampered} when it cannot vouch for them and L{Malformed} when the token
is not even shaped like one.

 - C{aes-ctr}: AES-256-CTR under a fresh random 16-byte nonce per message.
   Confidential, but B{unauthenticated and malleable}: flipping a ciphertext
   bit flips the same plaintext bit.  It exists to teach that lesson.
 - C{fernet}, C{fernet-ttl} and C{signed}: standard Fernet tokens (AES-128-CBC then
   HMAC-SHA256, encrypt-then-MAC), readable by C{cryptography.fernet.Fernet}
   given C{urlsafe_b64encode(key)}.  Freshness and replay for C{fernet-ttl}
   are judged by the conversation after the MAC has verified; C{signed}
   seals a signed envelope (L{securechat.codec.signing}) in the same token.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from typing import Optional, Tuple, Union

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from securechat.codec.errors import Malformed, Tampered

PLAIN = "plain"
AES_CTR = "aes-ctr"
FERNET = "fernet"
FERNET_TTL = "fernet-ttl"
SIGNED = "signed"

#: In increasing strength; a conversation accepts its own layer and stronger.
LAYERS = (PLAIN, AES_CTR, FERNET, FERNET_TTL, SIGNED)
#: Layers judged for freshness and replay (TTL, skew, replay cache).
FRESH_LAYERS = (FERNET_TTL, SIGNED)
LAYER_RANK = {name: rank for rank, name in enumerate(LAYERS)}

#: What a receiver may claim about a message accepted on each layer.
PROTECTION = {
    PLAIN: "none",
    AES_CTR: "confidential",
    FERNET: "authenticated",
    FERNET_TTL: "authenticated+fresh",
    SIGNED: "signed+fresh",
}

CTR_NONCE_BYTES = 16
#: A Fernet token starts with version (1 byte) and timestamp (8 bytes): 12 base64 chars.
FERNET_PREFIX_CHARS = 12
FERNET_TIMESTAMP = slice(1, 9)

_URLSAFE_TO_STANDARD = bytes.maketrans(b"-_", b"+/")

#: Tokens are URL-safe base64 with optional padding, nothing else; checked
#: before decoding because the base64 module silently skips foreign bytes.
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]+={0,2}\Z")

Opened = Tuple[bytes, Optional[int]]


def _strict_b64decode(token: str) -> bytes:
    if not TOKEN_RE.match(token):
        raise Malformed("the token is not URL-safe base64")
    try:
        return base64.urlsafe_b64decode(token)
    except (binascii.Error, ValueError):
        raise Malformed("the token has a broken base64 length or padding") from None


class AesCtrSealer:
    """AES-256-CTR, random nonce, no MAC: confidentiality only."""

    name = AES_CTR

    def __init__(self, key: bytes) -> None:
        self._algorithm = algorithms.AES(key)

    def seal(self, plaintext: bytes, now: int) -> str:
        """Encrypt under a fresh nonce; C{now} is unused (no timestamp in this layer)."""
        nonce = os.urandom(CTR_NONCE_BYTES)
        encryptor = Cipher(self._algorithm, modes.CTR(nonce)).encryptor()
        ciphertext = encryptor.update(plaintext) + encryptor.finalize()
        return base64.urlsafe_b64encode(nonce + ciphertext).decode("ascii")

    def open(self, token: str) -> Opened:
        """Decrypt whatever arrives: there is nothing to verify, by design."""
        data = _strict_b64decode(token)
        if len(data) < CTR_NONCE_BYTES:
            raise Malformed("the aes-ctr token is shorter than its nonce")
        decryptor = Cipher(self._algorithm, modes.CTR(data[:CTR_NONCE_BYTES])).decryptor()
        return decryptor.update(data[CTR_NONCE_BYTES:]) + decryptor.finalize(), None


class FernetSealer:
    """Fernet: encrypt-then-MAC, the MAC checked in constant time before decrypting."""

    def __init__(self, key: bytes, name: str = FERNET) -> None:
        self.name = name
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def seal(self, plaintext: bytes, now: int) -> str:
        """A standard Fernet token stamped with C{now} (seconds)."""
        return self._fernet.encrypt_at_time(plaintext, now).decode("ascii")

    def open(self, token: str) -> Opened:
        """
        Verify the HMAC and decrypt (no TTL here), then read the timestamp.

        The timestamp is read from the first 12 characters only after the
        whole token verified; the strict alphabet check (the base64 module
        would silently skip foreign characters) makes those characters
        exactly the token's first 9 bytes.
        """
        if not TOKEN_RE.match(token):
            raise Malformed("the token is not URL-safe base64")
        try:
            plaintext = self._fernet.decrypt(token)
        except InvalidToken:
            raise Tampered() from None
        prefix = binascii.a2b_base64(token[:FERNET_PREFIX_CHARS].encode("ascii").translate(_URLSAFE_TO_STANDARD))
        return plaintext, int.from_bytes(prefix[FERNET_TIMESTAMP], "big")


Sealer = Union[AesCtrSealer, FernetSealer]


def make_sealer(layer: str, key: bytes) -> Sealer:
    """The sealer of a keyed C{layer}; L{ValueError} for plain or unknown names."""
    if layer == AES_CTR:
        return AesCtrSealer(key)
    if layer in (FERNET, FERNET_TTL, SIGNED):
        return FernetSealer(key, layer)
    raise ValueError(f"{layer!r} is not a keyed layer")
