"""
The envelope: what the sender seals together with the body.

Everything the relay could otherwise change is inside the protection: who
sent it, where it was meant to go, and where it sits in the sender's
sequence.  The message id is not repeated here: it is the layer's nonce
(the Fernet IV, the CTR nonce, the AEAD nonce), so the token itself binds it
(docs/wire.md, "Envelope").

Binary layout, wire version 2, big-endian (a fixed 19-byte header, then the
variable parts)::

    version u8 = 2 | stream 8 bytes | seq u64 | len(sender) u8 | len(target) u8 |
    sender (casefolded) | target (casefolded) | body (the rest)

Why struct and not JSON: it is faster to pack and parse (bench/codec.py;
the figures are in docs/performance.md), it adds 19 bytes plus the names
instead of about 120 before encryption (which base64 then grows by a third,
on every chunked line), and there is one way to read it: no duplicate keys,
no number precision, no escaping questions.

Why a C{stream}: sequence numbers restart at 1 when a sender restarts its
client; a fresh random stream id per sending conversation lets the receiver
see a new stream rather than a sender "going backwards".
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from securechat.codec.errors import Malformed, UnsupportedVersion

ENVELOPE_VERSION = 2
MSGID_BYTES = 16
STREAM_BYTES = 8
MAX_SENDER_BYTES = 0xFF
MAX_TARGET_BYTES = 0xFF
MAX_SEQ = 2**64 - 1

_HEADER = struct.Struct(">B8sQBB")
HEADER_SIZE = _HEADER.size
#: Where the sealed sender starts in the envelope (the demo's aes-ctr edit uses it).
SENDER_OFFSET = HEADER_SIZE


class Envelope(NamedTuple):
    """
    The sealed facts about one message.  A NamedTuple rather than attrs:
    one is made for every received message, and a tuple is cheaper to build.
    """

    sender: str
    target: str
    stream: bytes
    seq: int
    body: str
    version: int = ENVELOPE_VERSION


def pack(envelope: Envelope) -> bytes:
    """Serialise C{envelope}; L{ValueError} if a field does not fit its slot."""
    return pack_fields(
        envelope.sender, envelope.target, envelope.stream, envelope.seq, envelope.body, envelope.version
    )


def pack_fields(
    sender: str, target: str, stream: bytes, seq: int, body: str, version: int = ENVELOPE_VERSION
) -> bytes:
    """
    L{pack} without building an L{Envelope} first (the sending hot path).
    C{sender} and C{target} are sealed as given: the caller casefolds them.
    """
    sender_bytes = sender.encode("utf-8")
    target_bytes = target.encode("utf-8")
    if len(sender_bytes) > MAX_SENDER_BYTES or len(target_bytes) > MAX_TARGET_BYTES:
        raise ValueError("sender or target name too long for the envelope (255 bytes at most)")
    if len(stream) != STREAM_BYTES:
        raise ValueError("the stream id must be 8 bytes")
    if not 1 <= seq <= MAX_SEQ:
        raise ValueError("sequence number out of range (1 to 2**64 - 1)")
    header = _HEADER.pack(version, stream, seq, len(sender_bytes), len(target_bytes))
    return b"".join((header, sender_bytes, target_bytes, body.encode("utf-8")))


class Fields(NamedTuple):
    """An envelope read up to its body, which is left as bytes (decoded last, L{decode_body})."""

    sender: str
    target: str
    stream: bytes
    seq: int
    body_start: int


def read_fields(data: bytes) -> Fields:
    """
    Parse everything but the body: the receiver judges sender, target and
    freshness before paying for the body's decoding.  L{UnsupportedVersion}
    for another version byte, L{Malformed} for anything that is not an
    envelope.
    """
    if len(data) < HEADER_SIZE:
        raise Malformed("the sealed envelope is too short")
    version, stream, seq, sender_len, target_len = _HEADER.unpack_from(data)
    if version != ENVELOPE_VERSION:
        raise UnsupportedVersion(
            f"the sealed envelope has version {version}; this securechat reads version {ENVELOPE_VERSION}"
        )
    if seq == 0:
        raise Malformed("the sealed sequence number is 0 (numbers start at 1)")
    sender_end = HEADER_SIZE + sender_len
    target_end = sender_end + target_len
    if target_end > len(data):
        raise Malformed("the sealed envelope is truncated")
    try:
        sender = data[HEADER_SIZE:sender_end].decode("utf-8")
        target = data[sender_end:target_end].decode("utf-8")
    except UnicodeDecodeError:
        raise Malformed("the sealed envelope holds a name that is not valid UTF-8") from None
    return Fields(sender, target, stream, seq, target_end)


def decode_body(data: bytes, fields: Fields) -> str:
    """The body of an envelope read by L{read_fields}; L{Malformed} unless UTF-8."""
    try:
        return data[fields.body_start :].decode("utf-8")
    except UnicodeDecodeError:
        raise Malformed("the sealed body is not valid UTF-8") from None


def unpack(data: bytes) -> Envelope:
    """Parse a whole envelope; L{Malformed} (or L{UnsupportedVersion}) for anything that is not one."""
    fields = read_fields(data)
    return Envelope(fields.sender, fields.target, fields.stream, fields.seq, decode_body(data, fields), data[0])
