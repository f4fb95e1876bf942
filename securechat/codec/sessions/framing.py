"""
Session lines: how the pairwise handshake and ratchet messages travel as
IRC direct messages (docs/wire.md, "Session lines"), and the typed records
a ratchet message carries.

    +scs1 <kind> <msgid> <i>/<n> <piece>

C{kind} is C{init}, C{reply}, C{finish} (the handshake's three messages) or
C{msg} (a ratchet message); the pieces, joined, are the urlsafe base64 (no
padding) of the codec's bytes, cut on 4-character quanta exactly like a
C{+sc2} token.  The marker is not C{+sc} and digits, so a client of wire
version 2 that does not know sessions shows such a line as plain text and
never mistakes it for a sealed C{+sc2} message.  The header is a routing
hint only: the handshake's signatures and the ratchet's AEAD bind the bytes.

Inside a ratchet message the plaintext is a record: one kind byte, then its
body.  L{TEXT} is a direct message (UTF-8); L{REFUSAL_HINT} a refusal
hint's line (UTF-8, as the C{NOTICE} carries it), authenticated by the
session; kinds 0x10-0x1f are for the room layer (sender chains handed over
pairwise sessions); every other kind is reserved and refused.
"""

from __future__ import annotations

import os
import re
from typing import List, Tuple

from securechat.codec.chunks import MIN_PIECE_CHARS, QUANTUM_CHARS, Chunk, encode_msgid, spread_pieces
from securechat.codec.errors import Malformed
from securechat.codec.sessions.handshake import FINISH, INIT, REPLY
from securechat.codec.sessions.primitives import b64decode, b64encode

#: The first word of every session line: not C{+sc} and digits (docs/wire.md).
SESSION_MARKER = "+scs1"
SESSION_MARKER_PREFIX = SESSION_MARKER + " "
#: The kind word of each framed message, and the first byte its bytes carry.
KIND_INIT = "init"
KIND_REPLY = "reply"
KIND_FINISH = "finish"
KIND_MESSAGE = "msg"
FIRST_BYTE = {KIND_INIT: INIT, KIND_REPLY: REPLY, KIND_FINISH: FINISH, KIND_MESSAGE: 1}
KINDS = tuple(FIRST_BYTE)
#: A session message is at most this many lines (a receiver's bound).
MAX_SESSION_LINES = 64
MSGID_BYTES = 16
_LINE_RE = re.compile(
    r"\+scs1 (init|reply|finish|msg) ([A-Za-z0-9_-]{21}[AQgw]) ([1-9][0-9]?)/([1-9][0-9]?) (?=.)"
)

#: Record kinds carried inside the ratchet (one byte before the body).
TEXT = 0x01
#: A refusal hint (docs/wire.md, "Refusal hints"), sealed for the peer it concerns.
REFUSAL_HINT = 0x02
#: The range other parts (the room layer) register their record kinds in.
ROOM_RECORDS = range(0x10, 0x20)
KNOWN_RECORD_KINDS = frozenset({TEXT, REFUSAL_HINT, *ROOM_RECORDS})


def is_session_line(text: str) -> bool:
    """Whether C{text} claims to be a session line (its first word is the session marker)."""
    return text.startswith(SESSION_MARKER_PREFIX) or text == SESSION_MARKER


def parse_session_line(text: str) -> Chunk:
    """
    A session line's header and piece (the kind word in L{Chunk.layer}):
    L{Malformed} for anything that is not exactly that shape.
    """
    match = _LINE_RE.match(text)
    if match is None:
        raise Malformed(
            "not a session line: %s <init|reply|finish|msg> <22-character msgid> <i>/<n> <piece> expected"
            % (SESSION_MARKER,)
        )
    kind, msgid, index, total = match.groups()
    number, count = int(index), int(total)
    if number > count or count > MAX_SESSION_LINES:
        raise Malformed(f"session line position {number}/{count} is out of bounds (max {MAX_SESSION_LINES})")
    return Chunk(kind, msgid, number, count, text[match.end() :])


def unframe(kind: str, token: str) -> bytes:
    """The codec bytes of a whole token of C{kind}: L{Malformed} unless canonical base64 of that kind."""
    data = b64decode(token)
    if not data or data[0] != FIRST_BYTE[kind]:
        raise Malformed(f"a {kind} session message must start with byte {FIRST_BYTE[kind]:#04x}")
    return data


def frame(kind: str, data: bytes, max_payload: int, msgid: bytes = b"") -> List[str]:
    """
    The session lines carrying C{data} (codec bytes of C{kind}), each at most
    C{max_payload} bytes; C{msgid} is 16 random bytes (drawn when not given).
    L{ValueError} when the budget is too small or more than
    L{MAX_SESSION_LINES} lines are needed.
    """
    if kind not in FIRST_BYTE or not data or data[0] != FIRST_BYTE[kind]:
        raise ValueError(f"not a {kind} session message")
    if not msgid:
        msgid = os.urandom(MSGID_BYTES)
    if len(msgid) != MSGID_BYTES:
        raise ValueError("a msgid is 16 bytes")
    token = b64encode(data)
    prefix = f"{SESSION_MARKER} {kind} {encode_msgid(msgid)} "
    if len(prefix) + len("1/1 ") + len(token) <= max_payload:
        return [prefix + "1/1 " + token]
    for digits in (1, 2):
        room = max_payload - len(prefix) - (2 * digits + 2)
        room -= room % QUANTUM_CHARS
        if room < MIN_PIECE_CHARS:
            raise ValueError(f"max_payload {max_payload} is too small for a session line")
        total = -(-len(token) // room)
        if total < 10**digits:
            break
    if total > MAX_SESSION_LINES:
        raise ValueError(f"session message too long: {total} lines, at most {MAX_SESSION_LINES}")
    return spread_pieces(prefix, token, total)


def pack_record(kind: int, body: bytes) -> bytes:
    """A record: its kind byte, then C{body}.  L{ValueError} for a kind outside the defined ones."""
    if kind not in KNOWN_RECORD_KINDS:
        raise ValueError(f"record kind {kind:#04x} is not defined")
    return bytes((kind,)) + body


def unpack_record(plaintext: bytes) -> Tuple[int, bytes]:
    """(kind, body) of a record: L{Malformed} when empty or of a kind nobody defined."""
    if not plaintext:
        raise Malformed("an empty session record")
    kind = plaintext[0]
    if kind not in KNOWN_RECORD_KINDS:
        raise Malformed(f"session record kind {kind:#04x} is not defined (a newer securechat's?)")
    return kind, plaintext[1:]


__all__ = [
    "KINDS",
    "KIND_FINISH",
    "KIND_INIT",
    "KIND_MESSAGE",
    "KIND_REPLY",
    "MAX_SESSION_LINES",
    "ROOM_RECORDS",
    "SESSION_MARKER",
    "TEXT",
    "frame",
    "is_session_line",
    "pack_record",
    "parse_session_line",
    "unframe",
    "unpack_record",
]
