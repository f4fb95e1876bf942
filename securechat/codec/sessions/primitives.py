"""
The primitives every session piece shares: the chain KDFs (the pairwise
ratchet's and the sender chains'), HKDF, the AEAD over raw bytes, the one
base64 encoding, and the state's byte fields.

Each message key seals exactly one message and is then erased, so the
AEAD's nonce is a constant (12 zero bytes): a (key, nonce) pair never
repeats.  ChaCha20-Poly1305 is fast without AES instructions and has no
padding; one urlsafe base64 of the sealed bytes is the only encoding.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from typing import Any, Dict, Optional, Tuple

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from securechat.codec.errors import CodecError, Malformed, Tampered

KEY_BYTES = 32
NONCE = bytes(12)
TAG_BYTES = 16
#: The chain KDF's two constants (Signal's): message key, next chain key.
_BASE64 = re.compile(r"[A-Za-z0-9_-]*")
MESSAGE_KEY_BYTE = b"\x01"
CHAIN_KEY_BYTE = b"\x02"


class SkippedTooFar(CodecError):
    """A message further ahead than the window of skipped keys allows."""

    reason = "too-far-ahead"
    summary = "genuine or not, it is further ahead than the window of skipped messages allows"


#: HMAC's inner and outer pads (RFC 2104) of a 32-byte key, as translate
#: tables and the zero half of SHA-256's 64-byte block.
_IPAD = bytes(byte ^ 0x36 for byte in range(256))
_OPAD = bytes(byte ^ 0x5C for byte in range(256))
_IPAD_REST = b"\x36" * 32
_OPAD_REST = b"\x5c" * 32
_sha256 = hashlib.sha256


def chain_step(chain_key: bytes) -> Tuple[bytes, bytes]:
    """
    (message key, next chain key) of C{chain_key}: HMAC-SHA256 with 0x01 and 0x02.

    HMAC written out (RFC 2104, a 32-byte key padded to SHA-256's block)
    over C{hashlib}: the same bytes as C{hmac.digest} at half its cost
    here, and this runs twice per chain message (docs/performance.md).
    The padded key's block is hashed once per side and copied for the
    second HMAC, as C{hmac} itself does (six compressions instead of eight).
    """
    if len(chain_key) != KEY_BYTES:  # never, from our state; HMAC pads other lengths differently
        return hmac.digest(chain_key, MESSAGE_KEY_BYTE, "sha256"), hmac.digest(chain_key, CHAIN_KEY_BYTE, "sha256")
    inner_message = _sha256(chain_key.translate(_IPAD) + _IPAD_REST)
    outer_message = _sha256(chain_key.translate(_OPAD) + _OPAD_REST)
    inner_chain = inner_message.copy()
    outer_chain = outer_message.copy()
    inner_message.update(MESSAGE_KEY_BYTE)
    inner_chain.update(CHAIN_KEY_BYTE)
    outer_message.update(inner_message.digest())
    outer_chain.update(inner_chain.digest())
    return outer_message.digest(), outer_chain.digest()


#: The sender chains' KDF: keyed BLAKE2b-512 with this personalisation
#: (16 bytes, BLAKE2's parameter block; "sc": sender chain).
SENDER_CHAIN_PERSON = b"securechat/s1 sc"
SENDER_CHAIN_OUTPUT = 2 * KEY_BYTES
_blake2b = hashlib.blake2b


def sender_chain_step(chain_key: bytes) -> Tuple[bytes, bytes]:
    """
    (message key, next chain key) of a sender chain's C{chain_key}: the two
    halves of BLAKE2b(key = chain key, empty message, 64 bytes, person =
    L{SENDER_CHAIN_PERSON}).

    One keyed BLAKE2b (a PRF by design, RFC 7693) gives both keys at once:
    0.6 us here against 1.6 us for C{chain_step}'s two HMAC-SHA256, and a
    sender chain steps twice per message (seal, open; docs/performance.md).
    The pairwise ratchet keeps C{chain_step} (Signal's KDF, its own vectors).
    """
    if len(chain_key) != KEY_BYTES:
        raise ValueError(f"a sender chain key is {KEY_BYTES} bytes, not {len(chain_key)}")
    out = _blake2b(key=chain_key, digest_size=SENDER_CHAIN_OUTPUT, person=SENDER_CHAIN_PERSON).digest()
    return out[:KEY_BYTES], out[KEY_BYTES:]


def hkdf(secret: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    """HKDF-SHA256 (RFC 5869)."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(secret)


def seal(message_key: bytes, plaintext: bytes, associated: bytes) -> bytes:
    """ChaCha20-Poly1305 under a one-use C{message_key}: ciphertext and 16-byte tag."""
    return ChaCha20Poly1305(message_key).encrypt(NONCE, plaintext, associated)


def open_sealed(message_key: bytes, sealed: bytes, associated: bytes) -> bytes:
    """The plaintext, or L{Tampered} when the tag does not verify."""
    try:
        return ChaCha20Poly1305(message_key).decrypt(NONCE, sealed, associated)
    except InvalidTag:
        raise Tampered() from None


def b64encode(data: bytes) -> str:
    """Urlsafe base64 without padding: the one encoding on the wire and in state."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64decode(text: str, length: Optional[int] = None) -> bytes:
    """
    L{Malformed} unless C{text} is urlsafe base64 without padding in its
    one canonical spelling (docs/wire.md, "Conventions"), of C{length}
    bytes when given: never a lenient decode that skips junk.
    """
    if not isinstance(text, str) or len(text) % 4 == 1 or not _BASE64.fullmatch(text):
        raise Malformed("not urlsafe base64")
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if b64encode(raw) != text:
        raise Malformed("not the canonical base64 spelling (unused low bits set)")
    if length is not None and len(raw) != length:
        raise Malformed(f"{len(raw)} bytes where {length} are expected")
    return raw


def field(state: Dict[str, Any], name: str, length: int) -> bytes:
    """A byte field of serialised state, checked for its length (L{ValueError} otherwise)."""
    value = state.get(name)
    if not isinstance(value, str):
        raise ValueError(f"state field {name!r} is missing")
    try:
        return b64decode(value, length)
    except Malformed as error:
        raise ValueError(f"state field {name!r}: {error}") from None


def check_version(state: Dict[str, Any], kind: str, version: int) -> None:
    """L{ValueError} unless C{state} is a C{kind} state of C{version}."""
    if state.get("kind") != kind or state.get("version") != version:
        raise ValueError(f"not a {kind} state of version {version}: {state.get('kind')!r} {state.get('version')!r}")
