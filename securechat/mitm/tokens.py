"""
What a malicious relay can do to a message body it cannot read.

The protected wire format is public (DESIGN section 3): a protected
PRIVMSG text is C{+sc1 <layer> <msgid> <i>/<n> <piece>}, the pieces of one
message joined in order are a URL-safe base64 token.  An attacker needs no
key to edit such a line; these helpers do the editing while keeping the
result I{plausible} (valid base64 alphabet and length, valid UTF-8), so
that what the receiver catches is the cryptography, not a typo.

Pure functions on strings and bytes: no I/O, no Twisted, no key.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import string
from typing import Callable, Optional

import attr

from ..codec.chunks import MARKER
from ..codec.envelope import MSGID_BYTES

#: marker, layer, msgid, position, piece (the codec's header, read
#: leniently: any layer and any digits, so an attacker can edit what the
#: codec would refuse).
HEADER_FIELDS = 5
#: base64 turns each group of 3 bytes into 4 characters.
QUANTUM_CHARS = 4
QUANTUM_BYTES = 3
PAD = "="
URLSAFE_ALPHABET = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"
#: The last data character of a token sits at place 1, 2 or 3 of its
#: quantum; this is the bit of its 6-bit value that holds bit 0 of the
#: token's last byte (place 3: the whole low byte; 2: "x=" ends; 1: "==" ends).
LAST_BYTE_LOW_BIT = {1: 0b010000, 2: 0b000100, 3: 0b000001}
#: The lowest bit: flipping it keeps an ASCII character ASCII.
DEFAULT_FLIP_MASK = 0x01
FORGED_PLAIN_PREFIX = "forged "
FORGED_PLAIN_RANDOM_BYTES = 6

BytesEdit = Callable[[bytes], bytes]


@attr.s(frozen=True, slots=True, auto_attribs=True)
class ProtectedLine:
    """The parsed header and piece of one C{+sc1} line (nothing in it is authenticated)."""

    layer: str
    msgid: str
    index: int
    total: int
    piece: str

    @property
    def isFirst(self) -> bool:
        return self.index == 1

    @property
    def isLast(self) -> bool:
        return self.index == self.total

    def withPiece(self, piece: str) -> ProtectedLine:
        return attr.evolve(self, piece=piece)

    def format(self) -> str:
        return "%s %s %s %d/%d %s" % (
            MARKER,
            self.layer,
            self.msgid,
            self.index,
            self.total,
            self.piece,
        )


def parseProtected(text: str) -> Optional[ProtectedLine]:
    """The C{+sc1} line in C{text}, or L{None} if it is plain text (or not shaped like one)."""
    fields = text.split(" ", HEADER_FIELDS - 1)
    if len(fields) != HEADER_FIELDS or fields[0] != MARKER:
        return None
    _, layer, msgid, position, piece = fields
    index, sep, total = position.partition("/")
    if not (sep and index.isdigit() and total.isdigit()):
        return None
    return ProtectedLine(layer, msgid, int(index), int(total), piece)


def _decode(chars: str) -> bytes:
    return base64.urlsafe_b64decode(chars.encode("ascii"))


def _encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


def editTail(piece: str, edit: BytesEdit) -> str:
    """
    Edit the bytes at the end of a token, given its I{last} piece.

    A token's length is a multiple of 4 characters, so the last piece's
    characters from C{len(piece) % 4} on are whole base64 quanta ending
    the token: decode them, edit, re-encode.  The prefix before them (a
    quantum split across chunks) is kept as it was.
    """
    start = len(piece) % QUANTUM_CHARS
    if start == len(piece):
        return piece
    try:
        tail = _decode(piece[start:])
    except (binascii.Error, ValueError):
        return piece
    return piece[:start] + _encode(edit(tail))


def editHead(piece: str, edit: BytesEdit) -> str:
    """
    Edit the bytes at the start of a token, given its I{first} piece.

    The first piece starts on a quantum boundary; its whole quanta decode
    to the token's first bytes.  The edit must keep their length.
    """
    stop = len(piece) - len(piece) % QUANTUM_CHARS
    try:
        head = _decode(piece[:stop])
    except (binascii.Error, ValueError):
        return piece
    edited = edit(head)
    if len(edited) != len(head):
        raise ValueError("editHead must keep the length of the bytes it edits")
    return _encode(edited) + piece[stop:]


def flipLastBit(piece: str) -> str:
    """
    Flip bit 0 of the token's last byte, given its I{last} piece, working on
    characters: it works however short the piece is, keeps the alphabet and
    the padding valid, and keeps an ASCII byte ASCII.  A last piece of
    padding only carries no data and is left alone.
    """
    data = piece.rstrip(PAD)
    if not data or data[-1] not in URLSAFE_ALPHABET:
        return piece
    place = (len(data) - 1 - len(piece)) % QUANTUM_CHARS
    mask = LAST_BYTE_LOW_BIT.get(place)
    if mask is None:
        return piece
    flipped = URLSAFE_ALPHABET[URLSAFE_ALPHABET.index(data[-1]) ^ mask]
    return data[:-1] + flipped + piece[len(data) :]


def flipByte(data: bytes, fromEnd: int = 1, mask: int = DEFAULT_FLIP_MASK) -> bytes:
    """Flip the C{mask} bits of the byte C{fromEnd} bytes before the end (1 = the last)."""
    if not data:
        return data
    position = max(0, len(data) - fromEnd)
    edited = bytearray(data)
    edited[position] ^= mask
    return bytes(edited)


def xorAt(data: bytes, offset: int, known: bytes, wanted: bytes) -> bytes:
    """
    Turn C{known} plaintext at C{offset} into C{wanted} under a stream
    cipher: ciphertext XOR known XOR wanted.  This is CTR's malleability;
    it needs no key, only a guess of what the plaintext says there.
    """
    if len(known) != len(wanted):
        raise ValueError("a stream-cipher edit keeps the length")
    end = offset + len(known)
    if offset < 0 or end > len(data):
        raise ValueError("the edit falls outside the ciphertext")
    edited = bytearray(data)
    for index in range(len(known)):
        edited[offset + index] ^= known[index] ^ wanted[index]
    return bytes(edited)


def truncateBytes(data: bytes, count: int) -> bytes:
    """Drop C{count} bytes from the end, keeping at least one."""
    return data[: max(1, len(data) - count)]


def flipTextBit(text: str, mask: int = DEFAULT_FLIP_MASK) -> str:
    """
    Flip a bit of the last printable ASCII character of plain text, so the
    result is still valid, printable UTF-8 (the relay can do this to plain
    text without anyone noticing).
    """
    for position in range(len(text) - 1, -1, -1):
        flipped = chr(ord(text[position]) ^ mask)
        if " " <= flipped <= "~" and " " <= text[position] <= "~":
            return text[:position] + flipped + text[position + 1 :]
    return text


def truncateText(text: str, count: int) -> str:
    """Drop C{count} characters from the end of plain text, keeping at least one."""
    return text[: max(1, len(text) - count)]


def tokenLength(piece: str) -> int:
    """
    How many bytes a one-line forgery carries to look like C{piece}: what
    C{piece} decodes to.  Never sized from the line's C{i/n}, which anyone
    can write: a line claiming C{1/99999999999999} must not make the relay
    allocate (or send) more than the line it replaces.
    """
    return max(QUANTUM_BYTES, len(piece) * QUANTUM_BYTES // QUANTUM_CHARS)


def forgeProtected(layer: str, size: int) -> str:
    """
    A C{+sc1} line of the right shape carrying C{size} random bytes: what a
    relay without the key can inject.  Random from L{secrets}, like
    everything else here that could be mistaken for key material.
    """
    token = _encode(secrets.token_bytes(size))
    # The msgid as the codec spells it (unpadded URL-safe base64), so the
    # forgery gets past the header check and is judged by the cryptography.
    return ProtectedLine(layer, secrets.token_urlsafe(MSGID_BYTES), 1, 1, token).format()


def forgePlain() -> str:
    """Plain text anyone can write in someone else's name."""
    return FORGED_PLAIN_PREFIX + secrets.token_hex(FORGED_PLAIN_RANDOM_BYTES)
