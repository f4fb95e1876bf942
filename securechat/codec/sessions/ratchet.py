"""
The pairwise double ratchet (Signal's), on the root key of a handshake.

Every message carries the sender's current ratchet public key; a new one
from the peer starts a DH step (new root key, new receiving and sending
chains), so a key leaked today heals at the next round trip.  Within a
chain, message keys come from the chain key by HMAC (0x01, 0x02) and are
erased once used.  Keys of messages skipped over are kept, at most
C{max_skip} ahead and C{max_stored} in all (oldest dropped first), so
reordering and late chunks still open; a message whose key is gone is
refused as a replay.  A failed open changes nothing.

    message = 0x01 | ratchet public key 32 | previous chain length u32 | n u32 | sealed
    sealed  = ChaCha20-Poly1305(message key, 12 zero bytes, plaintext, AD = session id | header)

State is versioned (L{to_dict}, L{from_dict}): a restart resumes exactly
where it stopped, keys already used stay erased.
"""

from __future__ import annotations

import struct
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Tuple

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from securechat.codec.errors import Malformed, Replayed, Tampered
from securechat.codec.sessions.handshake import KeyMaker, SessionKeys, public_bytes
from securechat.codec.sessions.primitives import (
    KEY_BYTES,
    TAG_BYTES,
    SkippedTooFar,
    b64decode,
    b64encode,
    chain_step,
    check_version,
    field,
    hkdf,
    open_sealed,
    seal,
)

MESSAGE_VERSION = 1
STATE_VERSION = 1
RATCHET_INFO = b"securechat/s1 ratchet"
HEADER = struct.Struct(">B32sII")
MAX_SKIP = 256
MAX_STORED = 1024
#: Old receiving ratchet keys remembered, to call a stale message a replay.
MAX_OLD_RATCHETS = 16
MAX_INDEX = 0xFFFFFFFF

SkippedKey = Tuple[bytes, int]


def root_step(root: bytes, dh_output: bytes) -> Tuple[bytes, bytes]:
    """(next root key, chain key): HKDF-SHA256(dh output, salt=root, info=RATCHET_INFO), 64 bytes split."""
    out = hkdf(dh_output, root, RATCHET_INFO, 2 * KEY_BYTES)
    return out[:KEY_BYTES], out[KEY_BYTES:]


def _raw_private(private: X25519PrivateKey) -> bytes:
    return private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


def _dh(private: X25519PrivateKey, public: bytes) -> bytes:
    try:
        return private.exchange(X25519PublicKey.from_public_bytes(public))
    except ValueError:
        raise Tampered() from None


class Ratchet:
    """One side of a pairwise session."""

    def __init__(
        self,
        session_id: bytes,
        root: bytes,
        dhs: X25519PrivateKey,
        dhr: Optional[bytes],
        cks: Optional[bytes],
        ckr: Optional[bytes],
        make_key: KeyMaker = X25519PrivateKey.generate,
        max_skip: int = MAX_SKIP,
        max_stored: int = MAX_STORED,
    ) -> None:
        self.session_id = session_id
        self._root = root
        self._dhs = dhs
        self._dhs_public = public_bytes(dhs)
        self._dhr = dhr
        self._cks = cks
        self._ckr = ckr
        self._ns = 0
        self._nr = 0
        self._pn = 0
        self._skipped: OrderedDict[SkippedKey, bytes] = OrderedDict()
        self._old_ratchets: List[bytes] = []
        self._make_key = make_key
        self.max_skip = max_skip
        self.max_stored = max_stored

    @classmethod
    def from_session(cls, keys: SessionKeys, make_key: KeyMaker = X25519PrivateKey.generate) -> Ratchet:
        """
        The initiator starts sending on a chain from its first ratchet key and
        the responder's ephemeral; the responder takes the initiator's first
        ratchet key as a DH step at once, so either side can send first.
        """
        if keys.initiator:
            root, cks = root_step(keys.root_key, _dh(keys.ratchet_private, keys.peer_ratchet))
            return cls(keys.session_id, root, keys.ratchet_private, keys.peer_ratchet, cks, None, make_key)
        ratchet = cls(keys.session_id, keys.root_key, keys.ratchet_private, None, None, None, make_key)
        ratchet._dh_step(keys.peer_ratchet, 0)
        return ratchet

    @property
    def skipped_keys(self) -> int:
        """How many keys of skipped messages are held."""
        return len(self._skipped)

    def _dh_step(self, remote: bytes, previous: int) -> None:
        if self._dhr is not None:
            self._old_ratchets = (self._old_ratchets + [self._dhr])[-MAX_OLD_RATCHETS:]
        self._pn = self._ns
        self._ns = 0
        self._nr = 0
        self._dhr = remote
        self._root, self._ckr = root_step(self._root, _dh(self._dhs, remote))
        self._dhs = self._make_key()
        self._dhs_public = public_bytes(self._dhs)
        self._root, self._cks = root_step(self._root, _dh(self._dhs, remote))

    def encrypt(self, plaintext: bytes) -> bytes:
        """The message sealing C{plaintext}; its key is erased at once."""
        if self._cks is None:
            raise ValueError("this side has no sending chain yet")
        if self._ns > MAX_INDEX:
            raise ValueError("this sending chain is exhausted (2**32 messages): a DH step must come first")
        message_key, self._cks = chain_step(self._cks)
        header = HEADER.pack(MESSAGE_VERSION, self._dhs_public, self._pn, self._ns)
        self._ns += 1
        return header + seal(message_key, plaintext, self.session_id + header)

    def decrypt(self, message: bytes) -> bytes:
        """
        The plaintext of C{message}; L{Replayed} if its key was used (or
        dropped), L{SkippedTooFar} beyond the window, L{Tampered} if it does
        not verify, L{Malformed} for a wrong shape.  Nothing changes on error.
        """
        if len(message) < HEADER.size + TAG_BYTES:
            raise Malformed("a ratchet message is too short")
        version, remote, previous, number = HEADER.unpack_from(message)
        if version != MESSAGE_VERSION:
            raise Malformed(f"ratchet message version {version} is not {MESSAGE_VERSION}")
        header = message[: HEADER.size]
        sealed = message[HEADER.size :]
        associated = self.session_id + header
        skipped = self._skipped.get((remote, number))
        if skipped is not None:
            plaintext = open_sealed(skipped, sealed, associated)
            del self._skipped[(remote, number)]
            return plaintext
        if remote in self._old_ratchets or (remote == self._dhr and number < self._nr):
            raise Replayed("its message key is already used or dropped")
        saved = self._save()
        try:
            if remote != self._dhr:
                self._skip_to(previous)
                self._dh_step(remote, previous)
            self._skip_to(number)
            assert self._ckr is not None
            message_key, self._ckr = chain_step(self._ckr)
            self._nr += 1
            plaintext = open_sealed(message_key, sealed, associated)
        except BaseException:
            self._restore(saved)
            raise
        while len(self._skipped) > self.max_stored:
            self._skipped.popitem(last=False)
        return plaintext

    def _skip_to(self, until: int) -> None:
        if self._ckr is None:
            return
        if until - self._nr > self.max_skip:
            raise SkippedTooFar(f"{until - self._nr} messages skipped; the window is {self.max_skip}")
        assert self._dhr is not None
        while self._nr < until:
            message_key, self._ckr = chain_step(self._ckr)
            self._skipped[(self._dhr, self._nr)] = message_key
            self._nr += 1

    def _save(self) -> Tuple[Any, ...]:
        return (
            self._root, self._dhs, self._dhs_public, self._dhr, self._cks, self._ckr,
            self._ns, self._nr, self._pn, OrderedDict(self._skipped), list(self._old_ratchets),
        )  # fmt: skip

    def _restore(self, saved: Tuple[Any, ...]) -> None:
        (
            self._root, self._dhs, self._dhs_public, self._dhr, self._cks, self._ckr,
            self._ns, self._nr, self._pn, self._skipped, self._old_ratchets,
        ) = saved  # fmt: skip

    def to_dict(self) -> Dict[str, Any]:
        """The whole state, versioned, bytes as base64 (for the state directory only: it holds keys)."""

        def optional(value: Optional[bytes]) -> Optional[str]:
            return None if value is None else b64encode(value)

        return {
            "kind": "ratchet",
            "version": STATE_VERSION,
            "session_id": b64encode(self.session_id),
            "root": b64encode(self._root),
            "dhs": b64encode(_raw_private(self._dhs)),
            "dhr": optional(self._dhr),
            "cks": optional(self._cks),
            "ckr": optional(self._ckr),
            "ns": self._ns,
            "nr": self._nr,
            "pn": self._pn,
            "skipped": [[b64encode(remote), number, b64encode(key)] for (remote, number), key in self._skipped.items()],
            "old_ratchets": [b64encode(remote) for remote in self._old_ratchets],
            "max_skip": self.max_skip,
            "max_stored": self.max_stored,
        }

    @classmethod
    def from_dict(cls, state: Dict[str, Any], make_key: KeyMaker = X25519PrivateKey.generate) -> Ratchet:
        """The ratchet L{to_dict} wrote; L{ValueError} for anything else (never a half-read state)."""
        try:
            return cls._from_dict(state, make_key)
        except (KeyError, TypeError, AttributeError, Malformed) as error:
            raise ValueError(f"not a readable ratchet state: {error!r}") from None

    @classmethod
    def _from_dict(cls, state: Dict[str, Any], make_key: KeyMaker) -> Ratchet:
        check_version(state, "ratchet", STATE_VERSION)

        def optional(name: str) -> Optional[bytes]:
            return None if state.get(name) is None else field(state, name, KEY_BYTES)

        ratchet = cls(
            field(state, "session_id", KEY_BYTES),
            field(state, "root", KEY_BYTES),
            X25519PrivateKey.from_private_bytes(field(state, "dhs", KEY_BYTES)),
            optional("dhr"),
            optional("cks"),
            optional("ckr"),
            make_key,
            int(state["max_skip"]),
            int(state["max_stored"]),
        )
        ratchet._ns, ratchet._nr, ratchet._pn = int(state["ns"]), int(state["nr"]), int(state["pn"])
        for remote, number, key in state["skipped"]:
            ratchet._skipped[(b64decode(remote, KEY_BYTES), int(number))] = b64decode(key, KEY_BYTES)
        ratchet._old_ratchets = [b64decode(remote, KEY_BYTES) for remote in state["old_ratchets"]]
        return ratchet
