"""
Room secrets that cannot be guessed: 128 random bits, shown as a short code.

A passphrase is as strong as people make it, and its Argon2id salt depends
only on the room name, so one precomputed dictionary serves every C{#lab}.
A room secret has 128 bits from the OS's random generator: nothing to guess,
so no slow KDF is needed.  The keys come from HKDF-SHA256 (extract with the
room salt, then expand per layer as for passphrases): a key derivation, not
a stretching, because stretching adds nothing to 128 bits of entropy.

The code is C{sc-} then the 16 random bytes and a 4-byte check (SHA-256 of
a context and the bytes), in lowercase base32: 160 bits are exactly 32
characters, so no character has unused bits (one spelling per secret), in
groups of four::

    sc-abcd-efgh-ijkl-mnop-qrst-uvwx-yz23-4567

The check catches typos when people copy it by hand; a code typed at the
passphrase prompt (or in a key file, or C{$SECURECHAT_KEY}) is recognised
by its shape and used as a room secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from typing import Optional

SECRET_BYTES = 16
CHECK_BYTES = 4
CODE_PREFIX = "sc-"
GROUP = 4
SECRET_CHECK_CONTEXT = b"securechat/v2 room secret check\x00"
SECRET_KEY_INFO = b"securechat/v1 room secret\x00"
#: 20 bytes are exactly 32 base32 characters (160 bits, none unused).
CODE_CHARS = 32
CODE_RE = re.compile(r"sc-(?:[a-z2-7]{4}-){7}[a-z2-7]{4}\Z")
#: The version 1 shape (2-byte check, 29 characters in groups of five):
#: recognised so that it is refused with its reason, never taken for a passphrase.
OLD_CODE_RE = re.compile(r"sc-(?:[a-z2-7]{5}-){5}[a-z2-7]{4}\Z")


class BadRoomSecret(ValueError):
    """A code shaped like a room secret whose check does not match: mistyped."""


def _check(secret: bytes) -> bytes:
    return hashlib.sha256(SECRET_CHECK_CONTEXT + secret).digest()[:CHECK_BYTES]


def new_room_secret() -> str:
    """A fresh room secret code (128 bits from C{os.urandom})."""
    return format_room_secret(os.urandom(SECRET_BYTES))


def format_room_secret(secret: bytes) -> str:
    if len(secret) != SECRET_BYTES:
        raise ValueError("a room secret is 16 bytes")
    text = base64.b32encode(secret + _check(secret)).decode("ascii").lower()
    return CODE_PREFIX + "-".join(text[i : i + GROUP] for i in range(0, len(text), GROUP))


def parse_room_secret(text: bytes) -> Optional[bytes]:
    """
    The 16 secret bytes if C{text} is a room secret code (case, spaces
    around, ignored), L{None} if it is not shaped like one (a passphrase);
    L{BadRoomSecret} if it is shaped like one but mistyped.
    """
    try:
        code = text.decode("ascii").strip().lower()
    except UnicodeDecodeError:
        return None
    if OLD_CODE_RE.match(code):
        raise BadRoomSecret(
            "this room secret code is of securechat's wire version 1 (29 characters);"
            " version 2 codes have 32: make a new one with /key --new and pass it on"
        )
    if not CODE_RE.match(code):
        return None
    packed = code[len(CODE_PREFIX) :].replace("-", "")
    try:
        raw = base64.b32decode(packed.upper())
    except (binascii.Error, ValueError):
        raise BadRoomSecret("the room secret is mistyped (not base32)") from None
    secret, check = raw[:SECRET_BYTES], raw[SECRET_BYTES:]
    if len(secret) != SECRET_BYTES or check != _check(secret):
        raise BadRoomSecret("the room secret is mistyped: its check does not match (compare it again)")
    return secret
