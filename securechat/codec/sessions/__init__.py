"""
Sessions with forward secrecy (issue 22): the codec-level pieces, sans-IO.

- L{handshake}: a signed X25519 key agreement between two Ed25519
  identities over direct messages, giving a root key.
- L{ratchet}: a double ratchet on that root key; message keys are erased
  once used, a bounded window of skipped keys allows reordering.
- L{senderchain}: a room member's sender chain (Megolm's idea), its signed
  chain-start record, the receivers' state, and the admit check.

- L{framing}: session lines (C{+scs1}) and the typed records a ratchet
  message carries.

Specified in docs/wire.md ("Sessions", "Session lines").  The client uses
the pairwise part for direct messages (L{securechat.client.core.pairwise});
sender chains are not used on the wire by the client yet (docs/security.md
says what each protects).
"""

from __future__ import annotations

from securechat.codec.sessions.handshake import HandshakeError, Initiator, Responder, SessionKeys
from securechat.codec.sessions.primitives import SkippedTooFar
from securechat.codec.sessions.ratchet import Ratchet
from securechat.codec.sessions.senderchain import (
    ChainStart,
    InboundChain,
    NotAdmitted,
    OutboundChain,
    RoomChains,
    admit_proof,
)

__all__ = [
    "ChainStart",
    "HandshakeError",
    "InboundChain",
    "Initiator",
    "NotAdmitted",
    "OutboundChain",
    "Ratchet",
    "Responder",
    "RoomChains",
    "SessionKeys",
    "SkippedTooFar",
    "admit_proof",
]
