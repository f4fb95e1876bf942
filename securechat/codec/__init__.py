"""
The layered codec: plain -> aes-ctr (teaching only) -> fernet -> fernet-ttl
-> signed (fernet-ttl plus an Ed25519 signature per member).

Sans-IO: no Twisted, no sockets, no wall clock except as an injectable
default.  The client makes one L{Conversation} per room or direct peer,
calls C{encode} to get the PRIVMSG texts to send and C{receive} to turn
received texts into L{Accepted} messages or L{Rejected} verdicts.
See docs/security.md for what each layer does and does not stop, and
docs/wire.md for the wire format (version 2) byte for byte.
"""

from __future__ import annotations

from securechat.codec.chunks import DEFAULT_LIMITS, MARKER, ReassemblyLimits
from securechat.codec.conversation import Conversation
from securechat.codec.errors import (
    BadSignature,
    CodecError,
    Downgraded,
    Expired,
    FromFuture,
    IdentityChanged,
    Incomplete,
    Malformed,
    Misattributed,
    NoKey,
    Replayed,
    SignedByOther,
    Tampered,
    TrustStoreFull,
    UnknownSigner,
    UnsupportedVersion,
    WrongTarget,
)
from securechat.codec.identity import Identity, identity_fingerprint, normalize_fingerprint
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
from securechat.codec.trust import FIRST_USE, VERIFIED, Pin, TrustStore

__all__ = [
    "LAYERS",
    "MARKER",
    "PROTECTION",
    "Accepted",
    "BadSignature",
    "CodecError",
    "Conversation",
    "DEFAULT_KDF",
    "DEFAULT_LIMITS",
    "DEFAULT_MAX_SKEW",
    "DEFAULT_TTL",
    "Downgraded",
    "Expired",
    "FIRST_USE",
    "FromFuture",
    "Identity",
    "IdentityChanged",
    "Incomplete",
    "KdfParams",
    "KdfUnavailable",
    "Malformed",
    "Misattributed",
    "NoKey",
    "Pin",
    "ReassemblyLimits",
    "Rejected",
    "Replayed",
    "ReplayCache",
    "RoomKeys",
    "SignedByOther",
    "TEST_KDF",
    "Tampered",
    "TrustStore",
    "TrustStoreFull",
    "UnknownSigner",
    "UnsupportedVersion",
    "VERIFIED",
    "WrongTarget",
    "derive_room_keys",
    "direct_target",
    "identity_fingerprint",
    "normalize_fingerprint",
    "rfc1459_casefold",
]
