"""
What a malicious relay can do to a message body it cannot read.

The protected wire format is public (docs/wire.md): a protected PRIVMSG
text is C{+sc2 <layer> <msgid> <i>/<n> <piece>}, the pieces of one message
joined in order are an unpadded URL-safe base64 token, and every piece but
the last is whole 4-character quanta, so each piece decodes on its own.  An attacker needs no
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
URLSAFE_ALPHABET = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"
#: The last character of a token sits at place 1, 2 or 3 of its quantum;
#: this is the bit of its 6-bit value that holds bit 0 of the token's last
#: byte (place 3: a whole quantum; 2: three characters; 1: two).
LAST_BYTE_LOW_BIT = {1: 0b010000, 2: 0b000100, 3: 0b000001}
#: The lowest bit: flipping it keeps an ASCII character ASCII.
DEFAULT_FLIP_MASK = 0x01
FORGED_PLAIN_PREFIX = "forged "
FORGED_PLAIN_RANDOM_BYTES = 6

BytesEdit = Callable[[bytes], bytes]


@attr.s(frozen=True, slots=True, auto_attribs=True)
class ProtectedLine:
    """The parsed header and piece of one C{+sc2} line (nothing in it is authenticated)."""

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
    """The C{+sc2} line in C{text}, or L{None} if it is plain text (or not shaped like one)."""
    fields = text.split(" ", HEADER_FIELDS - 1)
    if len(fields) != HEADER_FIELDS or fields[0] != MARKER:
        return None
    _, layer, msgid, position, piece = fields
    index, sep, total = position.partition("/")
    if not (sep and index.isdigit() and total.isdigit()):
        return None
    return ProtectedLine(layer, msgid, int(index), int(total), piece)


def _decode(chars: str) -> bytes:
    return base64.urlsafe_b64decode((chars + "=" * (-len(chars) % QUANTUM_CHARS)).encode("ascii"))


def _encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def editTail(piece: str, edit: BytesEdit) -> str:
    """
    Edit the bytes at the end of a token, given its I{last} piece.

    The last piece starts on a quantum boundary (every piece before it is
    whole quanta), so it decodes on its own to the token's last bytes:
    decode, edit, re-encode.
    """
    try:
        tail = _decode(piece)
    except (binascii.Error, ValueError):
        return piece
    return _encode(edit(tail))


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
    the spelling canonical (unused bits stay zero), and keeps an ASCII byte
    ASCII.  The piece starts on a quantum boundary, so its length says
    where its last character sits in its quantum.
    """
    if not piece or piece[-1] not in URLSAFE_ALPHABET:
        return piece
    mask = LAST_BYTE_LOW_BIT.get((len(piece) - 1) % QUANTUM_CHARS)
    if mask is None:
        return piece
    flipped = URLSAFE_ALPHABET[URLSAFE_ALPHABET.index(piece[-1]) ^ mask]
    return piece[:-1] + flipped


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
    A C{+sc2} line of the right shape carrying C{size} random bytes: what a
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
