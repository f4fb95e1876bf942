"""
The envelope: what the sender seals together with the body.

Everything the relay could otherwise change is inside the encrypted token:
who sent it, where it was meant to go, which message it is (a random 128-bit
id, the replay cache's key) and where it sits in the sender's sequence.

Binary layout, big-endian (a fixed 36-byte header, then the variable parts)::

    version u8 | msgid 16 bytes | stream 8 bytes | seq u64 |
    len(sender) u8 | len(target) u16 | sender | target | body (the rest)

Why struct and not JSON: it is faster to pack and parse (bench/codec.py;
the figures are in docs/performance.md), it adds 36 bytes plus the names
instead of about 120 before encryption (which base64 then grows by a third, on every chunked
line), and there is one way to read it: no duplicate keys, no number
precision, no escaping questions.

Why a C{stream}: sequence numbers restart at 1 when a sender restarts its
client; a fresh random stream id per sending conversation lets the receiver
see a new stream rather than a sender "going backwards".
"""

from __future__ import annotations

import struct
from typing import NamedTuple, Optional

from securechat.codec.errors import Malformed

ENVELOPE_VERSION = 1
MSGID_BYTES = 16
STREAM_BYTES = 8
MAX_SENDER_BYTES = 0xFF
MAX_TARGET_BYTES = 0xFFFF
MAX_SEQ = 2**64 - 1

_HEADER = struct.Struct(">B16s8sQBH")
HEADER_SIZE = _HEADER.size


class Envelope(NamedTuple):
    """
    The sealed facts about one message.  A NamedTuple rather than attrs:
    one is made for every received message, and a tuple is cheaper to build.
    """

    sender: str
    target: str
    msgid: bytes
    stream: bytes
    seq: int
    body: str
    version: int = ENVELOPE_VERSION


def pack(envelope: Envelope) -> bytes:
    """Serialise C{envelope}; L{ValueError} if a field does not fit its slot."""
    return pack_fields(
        envelope.sender, envelope.target, envelope.msgid, envelope.stream, envelope.seq, envelope.body, envelope.version
    )


def pack_fields(
    sender: str, target: str, msgid: bytes, stream: bytes, seq: int, body: str, version: int = ENVELOPE_VERSION
) -> bytes:
    """L{pack} without building an L{Envelope} first (the sending hot path)."""
    sender_bytes = sender.encode("utf-8")
    target_bytes = target.encode("utf-8")
    if len(sender_bytes) > MAX_SENDER_BYTES or len(target_bytes) > MAX_TARGET_BYTES:
        raise ValueError("sender or target name too long for the envelope")
    if len(msgid) != MSGID_BYTES or len(stream) != STREAM_BYTES:
        raise ValueError("msgid must be 16 bytes and stream 8 bytes")
    if not 0 <= seq <= MAX_SEQ:
        raise ValueError("sequence number out of range")
    header = _HEADER.pack(version, msgid, stream, seq, len(sender_bytes), len(target_bytes))
    return b"".join((header, sender_bytes, target_bytes, body.encode("utf-8")))


def unpack(data: bytes, expected_version: Optional[int] = ENVELOPE_VERSION) -> Envelope:
    """Parse an envelope; L{Malformed} for anything that is not one."""
    if len(data) < HEADER_SIZE:
        raise Malformed("the sealed envelope is too short")
    version, msgid, stream, seq, sender_len, target_len = _HEADER.unpack_from(data)
    if expected_version is not None and version != expected_version:
        raise Malformed(f"unknown envelope version {version}")
    sender_end = HEADER_SIZE + sender_len
    target_end = sender_end + target_len
    if target_end > len(data):
        raise Malformed("the sealed envelope is truncated")
    try:
        sender = data[HEADER_SIZE:sender_end].decode("utf-8")
        target = data[sender_end:target_end].decode("utf-8")
        body = data[target_end:].decode("utf-8")
    except UnicodeDecodeError:
        raise Malformed("the sealed envelope holds text that is not valid UTF-8") from None
    return Envelope(sender, target, msgid, stream, seq, body, version)
