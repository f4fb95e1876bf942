"""
The envelope: what the sender seals together with the body.

Everything the relay could otherwise change is inside the encrypted token:
who sent it, where it was meant to go, which message it is (a random 128-bit
id, the replay cache's key) and where it sits in the sender's sequence.

Binary layout, big-endian (a fixed 36-byte header, then the variable parts)::

    version u8 | msgid 16 bytes | stream 8 bytes | seq u64 |
    len(sender) u8 | len(target) u16 | sender | target | body (the rest)

Why struct and not JSON: it is about three times faster to pack and parse,
it adds 36 bytes instead of ~90 before encryption (which base64 then grows
by a third, and every byte is on every chunked line), and there is one way to
read it: no duplicate keys, no number precision, no escaping questions.

Why a C{stream}: sequence numbers restart at 1 when a sender restarts its
client; a fresh random stream id per sending conversation lets the receiver
see a new stream rather than a sender "going backwards".
"""

from __future__ import annotations

import struct
from typing import Optional

import attr

from securechat.codec.errors import Malformed

ENVELOPE_VERSION = 1
MSGID_BYTES = 16
STREAM_BYTES = 8
MAX_SENDER_BYTES = 0xFF
MAX_TARGET_BYTES = 0xFFFF
MAX_SEQ = 2**64 - 1

_HEADER = struct.Struct(">B16s8sQBH")
HEADER_SIZE = _HEADER.size


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Envelope:
    """The sealed facts about one message."""

    sender: str
    target: str
    msgid: bytes
    stream: bytes
    seq: int
    body: str
    version: int = ENVELOPE_VERSION


def pack(envelope: Envelope) -> bytes:
    """Serialise C{envelope}; L{ValueError} if a field does not fit its slot."""
    sender = envelope.sender.encode("utf-8")
    target = envelope.target.encode("utf-8")
    if len(sender) > MAX_SENDER_BYTES or len(target) > MAX_TARGET_BYTES:
        raise ValueError("sender or target name too long for the envelope")
    if len(envelope.msgid) != MSGID_BYTES or len(envelope.stream) != STREAM_BYTES:
        raise ValueError("msgid must be 16 bytes and stream 8 bytes")
    if not 0 <= envelope.seq <= MAX_SEQ:
        raise ValueError("sequence number out of range")
    header = _HEADER.pack(
        envelope.version,
        envelope.msgid,
        envelope.stream,
        envelope.seq,
        len(sender),
        len(target),
    )
    return b"".join((header, sender, target, envelope.body.encode("utf-8")))


def _text(data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise Malformed(f"the sealed {what} is not valid UTF-8") from None


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
    return Envelope(
        sender=_text(data[HEADER_SIZE:sender_end], "sender"),
        target=_text(data[sender_end:target_end], "target"),
        msgid=msgid,
        stream=stream,
        seq=seq,
        body=_text(data[target_end:], "body"),
        version=version,
    )
