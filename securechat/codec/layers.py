"""
The layers: how a packed envelope becomes a token of URL-safe base64 text.

Each keyed layer has a I{sealer} built once from its 32-byte key (cipher
objects are made once, not per message).  C{seal} turns bytes into a token
under the message id, C{open} turns a token back into bytes and the
token's timestamp, raising L{Tampered} when it cannot vouch for them and
L{Malformed} when the token is not even shaped like one.  The message id
(16 random bytes, the line header's) is every layer's nonce, so the token
binds it (docs/wire.md, "Layers").

 - C{aes-ctr}: AES-256-CTR, the msgid as the 16-byte initial counter block.
   Confidential, but B{unauthenticated and malleable}: flipping a ciphertext
   bit flips the same plaintext bit.  It exists to teach that lesson.
 - C{fernet} and C{fernet-ttl}: standard Fernet tokens (AES-128-CBC then
   HMAC-SHA256, encrypt-then-MAC) whose IV is the msgid, readable by
   C{cryptography.fernet.Fernet} given C{urlsafe_b64encode(key)} once their
   padding is put back.  Freshness and replay for C{fernet-ttl} are judged
   by the conversation after the MAC has verified.
 - C{signed}: ChaCha20-Poly1305 (RFC 8439) over the time and a signed
   envelope (L{securechat.codec.signing}), nonce the msgid's first 12 bytes,
   the whole msgid as associated data: 24 bytes of overhead instead of
   Fernet's 57 to 73, so that a signed 200-byte message fits one line.

All base64 on the wire is URL-safe and unpadded, with its unused low bits
zero: one spelling per byte string.
"""

from __future__ import annotations

import binascii
import re
import struct
import sys
from typing import Optional, Tuple, Union

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.hmac import HMAC

from securechat.codec.errors import Malformed, Tampered

PLAIN = "plain"
AES_CTR = "aes-ctr"
FERNET = "fernet"
FERNET_TTL = "fernet-ttl"
SIGNED = "signed"
#: Rooms on sender chains (securechat.codec.forward): forward secrecy, batch-signed authorship.
FORWARD = "forward"

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

MSGID_BYTES = 16
#: Fernet: version 0x80, time u64, IV 16 bytes, ciphertext (whole blocks), HMAC 32 bytes.
FERNET_VERSION = 0x80
FERNET_HEAD = struct.Struct(">BQ")
FERNET_IV = slice(9, 25)
FERNET_OVERHEAD = FERNET_HEAD.size + MSGID_BYTES + 32
BLOCK_BYTES = 16
HMAC_BYTES = 32
#: PKCS#7: 1 to 16 bytes, each the count.
PKCS7_PADS = {count: bytes((count,)) * count for count in range(1, BLOCK_BYTES + 1)}
_ZERO_BLOCK = bytes(BLOCK_BYTES)
#: signed: the ChaCha20-Poly1305 nonce is the msgid's first 12 bytes.
AEAD_NONCE_BYTES = 12
AEAD_TAG_BYTES = 16
TIME = struct.Struct(">Q")
TIME_BYTES = TIME.size

#: Unpadded URL-safe base64, nothing else: checked before decoding because
#: the base64 module silently skips foreign bytes.
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]+\Z")
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
#: The characters that may end an unpadded base64 string of each length
#: modulo 4: those whose unused low bits are zero (4 bits unused after 2
#: characters, 2 after 3), so each byte string has one spelling.
_LAST_CHARS = {
    0: frozenset(_ALPHABET),
    2: frozenset(c for i, c in enumerate(_ALPHABET) if i & 0x0F == 0),
    3: frozenset(c for i, c in enumerate(_ALPHABET) if i & 0x03 == 0),
}
_PADDING = (b"", b"", b"==", b"=")
_URLSAFE_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
#: For binascii's strict mode (3.11+), which checks the alphabet in C: the
#: URL-safe characters become the standard ones, the standard ones and "="
#: a byte it refuses.
_URLSAFE_ONLY = bytes.maketrans(b"-_+/=", b"+/!!!")
_STRICT = sys.version_info >= (3, 11) and sys.implementation.name == "cpython"
_STANDARD_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")

Opened = Tuple[bytes, Optional[int]]


def b64encode(data: bytes) -> str:
    """URL-safe base64 without padding: the wire's only spelling of bytes."""
    return binascii.b2a_base64(data, newline=False).translate(_STANDARD_TO_URLSAFE).rstrip(b"=").decode("ascii")


def b64decode(text: str) -> bytes:
    """
    The bytes of C{text} if it is unpadded URL-safe base64 in its one
    canonical spelling (no C{=}, unused bits zero): L{Malformed} for other
    characters, L{Tampered} for a length or last character no sender
    writes (a token cut or altered in transit).
    """
    if _STRICT:
        try:
            data = binascii.a2b_base64(
                text.encode("ascii").translate(_URLSAFE_ONLY) + _PADDING[len(text) % 4], strict_mode=True
            )
        except (UnicodeEncodeError, binascii.Error, ValueError):
            data = None
        if data is None or not text:
            if not TOKEN_RE.match(text):  # the slow path only to tell why
                raise Malformed("the token is not unpadded URL-safe base64")
    elif not TOKEN_RE.match(text):
        raise Malformed("the token is not unpadded URL-safe base64")
    last = _LAST_CHARS.get(len(text) % 4)
    if last is None or text[-1] not in last:
        raise Tampered("altered in transit: the token's base64 length or last character is broken")
    if _STRICT:
        assert data is not None
        return data
    # The alphabet is checked: only the URL-safe characters need mapping.
    return binascii.a2b_base64(text.encode("ascii").translate(_URLSAFE_TO_STANDARD) + _PADDING[len(text) % 4])


class AesCtrSealer:
    """AES-256-CTR, the msgid as initial counter block, no MAC: confidentiality only."""

    name = AES_CTR

    def __init__(self, key: bytes) -> None:
        self._algorithm = algorithms.AES(key)

    def seal(self, plaintext: bytes, now: int, msgid: bytes) -> str:
        """Encrypt under C{msgid}; C{now} is unused (no timestamp in this layer)."""
        encryptor = Cipher(self._algorithm, modes.CTR(msgid)).encryptor()
        return b64encode(encryptor.update(plaintext) + encryptor.finalize())

    def open(self, token: str, msgid: bytes) -> Opened:
        """Decrypt whatever arrives: there is nothing to verify, by design."""
        data = b64decode(token)
        decryptor = Cipher(self._algorithm, modes.CTR(msgid)).decryptor()
        return decryptor.update(data) + decryptor.finalize(), None


class FernetSealer:
    """
    Fernet with the msgid as IV: encrypt-then-MAC, the MAC checked in
    constant time first.

    Built on the primitives rather than C{cryptography.fernet} (whose tokens
    it makes and opens, byte for byte: tests/test_codec_layers.py) because
    the IV must be the msgid, and for speed (docs/performance.md): the HMAC
    is C{cryptography}'s, keyed once and copied per message (its C{verify}
    compares in constant time); CBC encryption runs on one encryptor made
    once (L{seal} says how the IV is put in); CBC decryption is one AES-ECB
    decryption of all the blocks, from a context made once, XORed with the
    blocks before them (the IV first): what CBC decryption is, by
    definition, without building a cipher object per message.
    """

    def __init__(self, key: bytes, name: str = FERNET) -> None:
        self.name = name
        self._mac = HMAC(key[:16], SHA256())
        self._algorithm = algorithms.AES(key[16:])
        self._blocks = Cipher(self._algorithm, modes.ECB()).decryptor()
        # One CBC encryptor for the sealer's life, and the last ciphertext
        # block it wrote (its chaining value; at first its IV, zeros).
        self._chain = Cipher(self._algorithm, modes.CBC(_ZERO_BLOCK)).encryptor()
        self._last = 0

    def seal(self, plaintext: bytes, now: int, msgid: bytes) -> str:
        """
        A standard Fernet token stamped C{now} (seconds), IV C{msgid}, padding stripped.

        CBC under IV C{msgid} is C{C1 = E(P1 ^ msgid)}, then C{Ci = E(Pi ^ Ci-1)}.
        The long-lived encryptor XORs the first block it is given with the
        last block it wrote (C{L}), so it is given C{P1 ^ L ^ msgid}: the
        same ciphertext as a fresh C{CBC(msgid)} encryptor, byte for byte
        (tests/test_codec_layers.py), without building one per message.
        The chaining value is state: a sealer belongs to one conversation,
        which the single-threaded client drives (never two threads at once).
        """
        if len(msgid) != BLOCK_BYTES:
            raise ValueError("the Fernet IV (the msgid) must be 16 bytes")
        padded = plaintext + PKCS7_PADS[BLOCK_BYTES - len(plaintext) % BLOCK_BYTES]
        first = int.from_bytes(padded[:BLOCK_BYTES], "big") ^ self._last ^ int.from_bytes(msgid, "big")
        ciphertext = self._chain.update(first.to_bytes(BLOCK_BYTES, "big") + padded[BLOCK_BYTES:])
        if len(ciphertext) != len(padded):  # pragma: no cover (CBC on whole blocks holds nothing back)
            raise AssertionError("AES-CBC held back a block")
        self._last = int.from_bytes(ciphertext[-BLOCK_BYTES:], "big")
        basic = b"".join((FERNET_HEAD.pack(FERNET_VERSION, now), msgid, ciphertext))
        mac = self._mac.copy()
        mac.update(basic)
        return b64encode(basic + mac.finalize())

    def open(self, token: str, msgid: bytes) -> Opened:
        """
        Verify the HMAC, then that the IV is the line's msgid, then decrypt
        and read the time.  Nothing but the length is read before the MAC.
        """
        data = b64decode(token)
        size = len(data) - FERNET_OVERHEAD
        if size < BLOCK_BYTES or size % BLOCK_BYTES:
            # Base64 that is no Fernet token: cut or spliced in transit (the
            # sender never makes one), and no key says more before a MAC.
            raise Tampered("altered in transit: the token is not shaped like a Fernet token")
        mac = self._mac.copy()  # keyed once: a copy costs less than a one-shot HMAC
        mac.update(data[:-HMAC_BYTES])
        try:
            mac.verify(data[-HMAC_BYTES:])  # constant time
        except InvalidSignature:
            raise Tampered() from None
        version, sent_at = FERNET_HEAD.unpack_from(data)
        if version != FERNET_VERSION:
            raise Malformed(f"unknown Fernet version 0x{version:02x}")
        if data[FERNET_IV] != msgid:
            raise Tampered("the line's message id differs from the sealed one")
        ciphertext = data[FERNET_IV.stop : -HMAC_BYTES]
        blocks = self._blocks.update(ciphertext)
        if len(blocks) != len(ciphertext):  # pragma: no cover (ECB without padding holds nothing back)
            raise AssertionError("AES-ECB held back a block")
        chained = msgid + ciphertext[:-BLOCK_BYTES]
        size = len(blocks)
        padded = (int.from_bytes(blocks, "big") ^ int.from_bytes(chained, "big")).to_bytes(size, "big")
        pad = padded[-1]
        if not 1 <= pad <= BLOCK_BYTES or padded[-pad:] != bytes((pad,)) * pad:
            raise Malformed("the Fernet padding is broken")
        return padded[:-pad], sent_at


class SignedSealer:
    """ChaCha20-Poly1305 over (time, signed envelope); nonce and associated data from the msgid."""

    name = SIGNED

    def __init__(self, key: bytes) -> None:
        self._aead = ChaCha20Poly1305(key)

    def seal(self, plaintext: bytes, now: int, msgid: bytes) -> str:
        """The time (u64) and C{plaintext}, encrypted and authenticated with C{msgid}."""
        return b64encode(self._aead.encrypt(msgid[:AEAD_NONCE_BYTES], TIME.pack(now) + plaintext, msgid))

    def open(self, token: str, msgid: bytes) -> Opened:
        """Verify the tag (which covers the msgid) and decrypt; the time is the first 8 bytes."""
        data = b64decode(token)
        if len(data) < AEAD_TAG_BYTES + TIME_BYTES:
            raise Tampered("altered in transit: the signed token is too short")
        try:
            inner = self._aead.decrypt(msgid[:AEAD_NONCE_BYTES], data, msgid)
        except InvalidTag:
            raise Tampered() from None
        return inner[TIME_BYTES:], TIME.unpack_from(inner)[0]


Sealer = Union[AesCtrSealer, FernetSealer, SignedSealer]


def make_sealer(layer: str, key: bytes) -> Sealer:
    """The sealer of a keyed C{layer}; L{ValueError} for plain or unknown names."""
    if layer == AES_CTR:
        return AesCtrSealer(key)
    if layer in (FERNET, FERNET_TTL):
        return FernetSealer(key, layer)
    if layer == SIGNED:
        return SignedSealer(key)
    raise ValueError(f"{layer!r} is not a keyed layer")
