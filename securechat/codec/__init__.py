"""
The layered codec: plain -> aes-ctr (teaching only) -> fernet -> fernet-ttl.

Sans-IO: no Twisted, no sockets, no wall clock except as an injectable
default.  The client makes one L{Conversation} per room or direct peer,
calls C{encode} to get the PRIVMSG texts to send and C{receive} to turn
received texts into L{Accepted} messages or L{Rejected} verdicts.
See docs/security.md for what each layer does and does not stop.
"""

from __future__ import annotations

from securechat.codec.chunks import DEFAULT_LIMITS, MARKER, ReassemblyLimits
from securechat.codec.conversation import Conversation
from securechat.codec.errors import (
    CodecError,
    Downgraded,
    Expired,
    FromFuture,
    Incomplete,
    Malformed,
    Misattributed,
    NoKey,
    Replayed,
    Tampered,
    WrongTarget,
)
from securechat.codec.keys import (
    DEFAULT_KDF,
    TEST_KDF,
    KdfParams,
    KdfUnavailable,
    RoomKeys,
    derive_room_keys,
)
from securechat.codec.layers import LAYERS, PROTECTION
from securechat.codec.names import direct_target, rfc1459_casefold
from securechat.codec.replay import DEFAULT_MAX_SKEW, DEFAULT_TTL, ReplayCache
from securechat.codec.results import Accepted, Rejected

__all__ = [
    "LAYERS",
    "MARKER",
    "PROTECTION",
    "Accepted",
    "CodecError",
    "Conversation",
    "DEFAULT_KDF",
    "DEFAULT_LIMITS",
    "DEFAULT_MAX_SKEW",
    "DEFAULT_TTL",
    "Downgraded",
    "Expired",
    "FromFuture",
    "Incomplete",
    "KdfParams",
    "KdfUnavailable",
    "Malformed",
    "Misattributed",
    "NoKey",
    "ReassemblyLimits",
    "Rejected",
    "Replayed",
    "ReplayCache",
    "RoomKeys",
    "TEST_KDF",
    "Tampered",
    "WrongTarget",
    "derive_room_keys",
    "direct_target",
    "rfc1459_casefold",
]
