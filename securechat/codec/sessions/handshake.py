"""
The pairwise handshake: a signed X25519 key agreement between two Ed25519
identities, three messages over direct messages (docs/wire.md, "Sessions").

    INIT   (initiator -> responder)  0x01 0x01 | id_i | eph_i
    REPLY  (responder -> initiator)  0x02 0x01 | id_r | eph_r | sig_r
    FINISH (initiator -> responder)  0x03 0x01 | ratchet_i | sig_i

Both signatures cover the transcript: a context string, both casefolded
nicks, both identity keys and both ephemeral keys; the initiator's also
covers its first ratchet key.  So each side proves it holds its identity
key *for this exchange with this peer*: nothing can be replayed into
another session nor attributed to another pair (no identity misbinding).
Trust is the caller's: it passes the key pinned or verified for the
peer's nick, and a different key is refused (L{IdentityChanged}); with no
pin the result names the key the caller should pin (first use).

Ephemeral private keys are used once and dropped; the root key is HKDF of
the X25519 output, salted with the transcript's hash (the session id).
"""

from __future__ import annotations

import hashlib
from typing import Callable, Optional

import attr
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from securechat.codec.errors import BadSignature, IdentityChanged, Malformed
from securechat.codec.identity import PUBLIC_KEY_BYTES, SIGNATURE_BYTES, Identity, Verifier
from securechat.codec.names import rfc1459_casefold
from securechat.codec.sessions.primitives import KEY_BYTES, hkdf

HANDSHAKE_VERSION = 1
INIT = 1
REPLY = 2
FINISH = 3
TRANSCRIPT_CONTEXT = b"securechat/s1 handshake\x00"
REPLY_CONTEXT = b"securechat/s1 reply\x00"
FINISH_CONTEXT = b"securechat/s1 finish\x00"
ROOT_INFO = b"securechat/s1 root"
INIT_BYTES = 2 + 2 * PUBLIC_KEY_BYTES
REPLY_BYTES = 2 + 2 * PUBLIC_KEY_BYTES + SIGNATURE_BYTES
FINISH_BYTES = 2 + PUBLIC_KEY_BYTES + SIGNATURE_BYTES
MAX_NICK_BYTES = 255

KeyMaker = Callable[[], X25519PrivateKey]

#: The handshake's phases.  The initiator is SENT_INIT until the REPLY, then
#: FINISHED; the responder WAITING until the INIT, REPLIED until the FINISH,
#: then FINISHED.
WAITING = "waiting"
SENT_INIT = "sent-init"
REPLIED = "replied"
FINISHED = "finished"
#: Which message each side's phase accepts; any other is out of turn.
INITIATOR_ALLOWS = {SENT_INIT: frozenset({REPLY}), FINISHED: frozenset()}
RESPONDER_ALLOWS = {WAITING: frozenset({INIT}), REPLIED: frozenset({FINISH}), FINISHED: frozenset()}


class HandshakeError(Malformed):
    """A handshake message out of turn, or of the wrong shape."""

    reason = "bad-handshake"
    summary = "not a valid securechat handshake message"


def public_bytes(private: X25519PrivateKey) -> bytes:
    """The raw 32-byte X25519 public key of C{private}."""
    return private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def transcript(nick_i: str, nick_r: str, id_i: bytes, eph_i: bytes, id_r: bytes, eph_r: bytes) -> bytes:
    """What both signatures cover (steps 1-3 of docs/wire.md, "The handshake")."""
    parts = [TRANSCRIPT_CONTEXT]
    for nick in (nick_i, nick_r):
        raw = rfc1459_casefold(nick).encode("utf-8")
        if not raw or len(raw) > MAX_NICK_BYTES:
            raise ValueError("a nick is 1-255 bytes")
        parts += [bytes((len(raw),)), raw]
    parts += [id_i, eph_i, id_r, eph_r]
    return b"".join(parts)


def root_key(shared: bytes, session_id: bytes) -> bytes:
    """The root key: HKDF-SHA256(X25519 output, salt=session id, info=ROOT_INFO), 32 bytes."""
    return hkdf(shared, session_id, ROOT_INFO, KEY_BYTES)


@attr.s(frozen=True, slots=True, auto_attribs=True, repr=False)
class SessionKeys:
    """What a finished handshake gives the ratchet; its repr shows no key."""

    session_id: bytes
    root_key: bytes
    initiator: bool
    peer_identity: bytes
    #: Our first ratchet key pair, and the peer's first ratchet public key.
    ratchet_private: X25519PrivateKey
    peer_ratchet: bytes

    def __repr__(self) -> str:
        return "SessionKeys(session_id=%s, initiator=%r, keys=<hidden>)" % (self.session_id.hex(), self.initiator)


def _check_pin(peer: bytes, pinned: Optional[bytes]) -> None:
    if pinned is not None and peer != pinned:
        raise IdentityChanged("the peer's handshake is signed by another key than the one pinned for its nick")


def _header(data: bytes, kind: int, length: int, allowed: frozenset[int]) -> None:
    if kind not in allowed:
        raise HandshakeError(f"handshake message {kind} out of turn")
    if len(data) != length or data[0] != kind:
        raise HandshakeError(f"expected handshake message {kind} of {length} bytes")
    if data[1] != HANDSHAKE_VERSION:
        raise HandshakeError(f"handshake version {data[1]} is not {HANDSHAKE_VERSION}")


def _x25519(private: X25519PrivateKey, public: bytes) -> bytes:
    try:
        shared = private.exchange(X25519PublicKey.from_public_bytes(public))
    except ValueError:
        raise HandshakeError("a degenerate X25519 key") from None
    return shared


class Initiator:
    """The side that starts: L{init}, then L{finish} on the peer's reply."""

    def __init__(
        self, identity: Identity, nick: str, peer_nick: str, make_key: KeyMaker = X25519PrivateKey.generate
    ) -> None:
        self._identity = identity
        self._nick = nick
        self._peer_nick = peer_nick
        self._make_key = make_key
        self._ephemeral: Optional[X25519PrivateKey] = make_key()
        self._eph_public = public_bytes(self._ephemeral)
        self.phase = SENT_INIT
        self.keys: Optional[SessionKeys] = None

    def init(self) -> bytes:
        """The INIT message."""
        return bytes((INIT, HANDSHAKE_VERSION)) + self._identity.public_key + self._eph_public

    def finish(self, reply: bytes, pinned: Optional[bytes], verifier: Optional[Verifier] = None) -> bytes:
        """
        Check the REPLY (signature, and the responder's key against
        C{pinned}); set L{keys}; return the FINISH message.  Once only.
        """
        _header(reply, REPLY, REPLY_BYTES, INITIATOR_ALLOWS[self.phase])
        assert self._ephemeral is not None
        id_r = reply[2 : 2 + PUBLIC_KEY_BYTES]
        eph_r = reply[2 + PUBLIC_KEY_BYTES : 2 + 2 * PUBLIC_KEY_BYTES]
        signature = reply[2 + 2 * PUBLIC_KEY_BYTES :]
        data = transcript(self._nick, self._peer_nick, self._identity.public_key, self._eph_public, id_r, eph_r)
        if not (verifier or Verifier()).verify(id_r, signature, REPLY_CONTEXT + data):
            raise BadSignature("the handshake reply is not signed by the identity it names")
        _check_pin(id_r, pinned)
        session_id = hashlib.sha256(data).digest()
        shared = _x25519(self._ephemeral, eph_r)
        self._ephemeral = None
        ratchet = self._make_key()
        ratchet_public = public_bytes(ratchet)
        signature_i = self._identity.sign(FINISH_CONTEXT + data + ratchet_public)
        self.keys = SessionKeys(session_id, root_key(shared, session_id), True, id_r, ratchet, eph_r)
        self.phase = FINISHED
        return bytes((FINISH, HANDSHAKE_VERSION)) + ratchet_public + signature_i


class Responder:
    """The side that answers: L{reply} to an INIT, then L{finish} on the FINISH."""

    def __init__(
        self, identity: Identity, nick: str, peer_nick: str, make_key: KeyMaker = X25519PrivateKey.generate
    ) -> None:
        self._identity = identity
        self._nick = nick
        self._peer_nick = peer_nick
        self._ephemeral = make_key()
        self._transcript = b""
        self._id_i = b""
        self._shared = b""
        self.phase = WAITING
        self.keys: Optional[SessionKeys] = None

    def reply(self, init: bytes, pinned: Optional[bytes]) -> bytes:
        """The REPLY to C{init} from the peer (whose key must be C{pinned}, when given)."""
        _header(init, INIT, INIT_BYTES, RESPONDER_ALLOWS[self.phase])
        id_i = init[2 : 2 + PUBLIC_KEY_BYTES]
        eph_i = init[2 + PUBLIC_KEY_BYTES :]
        _check_pin(id_i, pinned)
        eph_r = public_bytes(self._ephemeral)
        data = transcript(self._peer_nick, self._nick, id_i, eph_i, self._identity.public_key, eph_r)
        self._shared = _x25519(self._ephemeral, eph_i)
        self._transcript = data
        self._id_i = id_i
        signature = self._identity.sign(REPLY_CONTEXT + data)
        self.phase = REPLIED
        return bytes((REPLY, HANDSHAKE_VERSION)) + self._identity.public_key + eph_r + signature

    def finish(self, message: bytes, verifier: Optional[Verifier] = None) -> SessionKeys:
        """Check the FINISH (the initiator's signature); set and return L{keys}."""
        _header(message, FINISH, FINISH_BYTES, RESPONDER_ALLOWS[self.phase])
        ratchet_i = message[2 : 2 + PUBLIC_KEY_BYTES]
        signature = message[2 + PUBLIC_KEY_BYTES :]
        if not (verifier or Verifier()).verify(self._id_i, signature, FINISH_CONTEXT + self._transcript + ratchet_i):
            raise BadSignature("the handshake finish is not signed by the initiator's identity")
        session_id = hashlib.sha256(self._transcript).digest()
        self.keys = SessionKeys(
            session_id, root_key(self._shared, session_id), False, self._id_i, self._ephemeral, ratchet_i
        )
        self._shared = b""
        self.phase = FINISHED
        return self.keys
