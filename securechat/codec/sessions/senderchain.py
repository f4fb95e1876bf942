"""
Rooms on sender chains (Megolm's idea): each member seals with its own
chain and hands the chain's current state, signed, to the members it has
admitted, over the pairwise sessions.

    message key | next chain key = BLAKE2b(key = chain key, "", 64 bytes, person = "securechat/s1 sc")
    message     = 0x01 | chain id 16 | index u32 | sealed [| Ed25519 signature 64]
    sealed      = ChaCha20-Poly1305(message key, 12 zero bytes, plaintext, AD = header)
    chain start = 0x01 | flags u8 | chain id 16 | index u32 | chain key 32 | identity 32
                  | len u8 | room | len u8 | nick | Ed25519 signature 64

The chain start is what is signed: it binds the chain to the room, the
sender's nick and identity key, once per chain (one Ed25519 signature per
chain and receiver, not per message).  Messages are then authenticated by
the chain's keys alone, which every receiver of the chain also holds: a
member could forge a message on another's chain.  A chain started with
the C{SIGNED} flag adds an Ed25519 signature to each message (the flag is
inside the signed start, so it cannot be stripped); that costs one sign
and one verify per message.

A chain goes only to a member admitted by L{RoomChains.admit}: one whose
identity key is pinned and who proved, over the pairwise session's id,
that it knows the room secret (L{admit_proof}); never to a nick merely
listed by the relay.  When a member leaves, L{RoomChains.leave} starts a
new chain and hands it to the remaining members only; a member who joins
gets the chain from its current index, not the past.

Skipped keys and replaced chains do not outlive their use: each skipped
key is stamped when a later message skips it, each replaced chain when
L{RoomChains.forget_expired} first sees it replaced, and both are erased
once a window has passed since (the forward layer's: what they would open
is then refused as expired anyway), so a later theft of the state opens
no withheld line the relay kept.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Tuple

import attr
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.constant_time import bytes_eq

from securechat.codec.errors import BadSignature, CodecError, IdentityChanged, Malformed, Replayed, Tampered
from securechat.codec.identity import PUBLIC_KEY_BYTES, SIGNATURE_BYTES, Identity, Verifier
from securechat.codec.names import rfc1459_casefold
from securechat.codec.sessions.primitives import (
    KEY_BYTES,
    NONCE,
    SENDER_CHAIN_PERSON,
    TAG_BYTES,
    SkippedTooFar,
    b64decode,
    b64encode,
    check_version,
    field,
    hkdf,
    open_sealed,
    sender_chain_step,
)

CHAIN_VERSION = 1
#: The states that hold chain keys: version 2 of room-chains and outbound-chain,
#: 3 of inbound-chain, hold keys of the BLAKE2b chain KDF.  Earlier versions
#: (an HMAC-SHA256 chain KDF, never released) are refused, never misread.
STATE_VERSION = 2
#: An inbound chain's state also stamps its skipped keys and a replaced chain.
INBOUND_STATE_VERSION = 3
CHAIN_ID_BYTES = 16
HEADER = struct.Struct(">B16sI")
START_HEAD = struct.Struct(">BB16sI32s32s")
SIGNED = 0x01
START_CONTEXT = b"securechat/s1 chain start\x00"
MESSAGE_SIGN_CONTEXT = b"securechat/s1 chain message\x00"
ADMIT_INFO = b"securechat/s1 admit\x00"
ADMIT_CONTEXT = b"securechat/s1 admit proof\x00"
MAX_SKIP = 256
MAX_STORED = 1024
#: Chains kept per sender: the current one and a few before it, so late
#: messages of a chain replaced (after a leave) still open.
MAX_CHAINS_PER_SENDER = 4
MAX_INDEX = 0xFFFFFFFF
_blake2b = hashlib.blake2b
_HEADER_BYTES = HEADER.size
_SHORTEST = HEADER.size + TAG_BYTES
#: The room secret proves itself over a pairwise session: HMAC-SHA256, 32 bytes.
PROOF_BYTES = 32


class NotAdmitted(CodecError):
    """A chain asked for or offered by someone who is not an admitted member."""

    reason = "not-admitted"
    summary = "not an admitted member: no pinned identity, or no proof of the room secret"


def _fold(text: str) -> str:
    return rfc1459_casefold(text)


def _name(text: str) -> bytes:
    raw = rfc1459_casefold(text).encode("utf-8")
    if not raw or len(raw) > 255:
        raise ValueError("a room or nick is 1-255 bytes")
    return bytes((len(raw),)) + raw


def admit_proof(room_key: bytes, room: str, nick: str, session_id: bytes) -> bytes:
    """
    C{nick}'s proof that it knows the room secret, bound to one pairwise
    session: HMAC-SHA256(HKDF(room key, salt="", info=ADMIT_INFO | room),
    ADMIT_CONTEXT | nick | session id).  C{room_key} is the room's
    C{signed} layer key (docs/wire.md, "Layer keys").
    """
    key = hkdf(room_key, b"", ADMIT_INFO + _name(room), KEY_BYTES)
    return hmac.new(key, ADMIT_CONTEXT + _name(nick) + session_id, hashlib.sha256).digest()


@attr.s(frozen=True, slots=True, auto_attribs=True, repr=False)
class ChainStart:
    """A chain-start record's fields: who sends on which chain, from which index (room and nick casefolded)."""

    room: str = attr.ib(converter=_fold)
    nick: str = attr.ib(converter=_fold)
    identity: bytes
    chain_id: bytes
    index: int
    chain_key: bytes
    flags: int

    def __repr__(self) -> str:
        return "ChainStart(room=%r, nick=%r, chain=%s, index=%d, key=<hidden>)" % (
            self.room, self.nick, self.chain_id.hex(), self.index,
        )  # fmt: skip

    def unsigned(self) -> bytes:
        head = START_HEAD.pack(CHAIN_VERSION, self.flags, self.chain_id, self.index, self.chain_key, self.identity)
        return head + _name(self.room) + _name(self.nick)

    def sign(self, identity: Identity) -> bytes:
        """The record, signed by C{identity} (which must be the one it names)."""
        if identity.public_key != self.identity:
            raise ValueError("a chain start is signed by the identity it names")
        body = self.unsigned()
        return body + identity.sign(START_CONTEXT + body)

    @classmethod
    def verify(
        cls, record: bytes, room: str, nick: str, pinned: Optional[bytes], verifier: Optional[Verifier] = None
    ) -> ChainStart:
        """
        The record C{nick} handed us for C{room}: L{Malformed} for a wrong
        shape or another room or nick, L{BadSignature}, L{NotAdmitted} with
        no pinned key, L{IdentityChanged} when signed by another key.
        """
        if len(record) < START_HEAD.size + 4 + SIGNATURE_BYTES:
            raise Malformed("a chain start is too short")
        version, flags, chain_id, index, chain_key, identity = START_HEAD.unpack_from(record)
        if version != CHAIN_VERSION:
            raise Malformed(f"chain start version {version} is not {CHAIN_VERSION}")
        body, signature = record[:-SIGNATURE_BYTES], record[-SIGNATURE_BYTES:]
        names = body[START_HEAD.size :]
        if names != _name(room) + _name(nick):
            raise Malformed("a chain start for another room or sender")
        if not (verifier or Verifier()).verify(identity, signature, START_CONTEXT + body):
            raise BadSignature("the chain start is not signed by the identity it names")
        if pinned is None:
            raise NotAdmitted("no identity is pinned for this nick")
        if not bytes_eq(identity, pinned):
            raise IdentityChanged()
        return cls(room, nick, identity, chain_id, index, chain_key, flags)


class OutboundChain:
    """Our sending chain in one room: each message key is used once, then erased."""

    def __init__(
        self, room: str, identity: Identity, nick: str, chain_id: bytes, chain_key: bytes, index: int, flags: int
    ) -> None:
        if len(chain_key) != KEY_BYTES:  # seal() steps it without asking again
            raise ValueError(f"a sender chain key is {KEY_BYTES} bytes, not {len(chain_key)}")
        self.room = room
        self.nick = nick
        self._identity = identity
        self.chain_id = chain_id
        self._chain_key = chain_key
        self.index = index
        self.flags = flags

    @classmethod
    def new(cls, room: str, identity: Identity, nick: str, sign_messages: bool = False) -> OutboundChain:
        """A fresh chain: a random id and chain key from the OS."""
        flags = SIGNED if sign_messages else 0
        return cls(room, identity, nick, os.urandom(CHAIN_ID_BYTES), os.urandom(KEY_BYTES), 0, flags)

    def start_record(self) -> bytes:
        """The signed chain start at the current index, to hand to an admitted member."""
        start = ChainStart(
            self.room, self.nick, self._identity.public_key, self.chain_id, self.index, self._chain_key, self.flags
        )
        return start.sign(self._identity)

    def seal(self, plaintext: bytes) -> bytes:
        """The message sealing C{plaintext} at the next index; the chain advances."""
        if self.index > MAX_INDEX:
            raise ValueError("this chain is exhausted (2**32 messages): start a new chain")
        # sender_chain_step(), inlined (the key is 32 bytes by construction and on load;
        # BLAKE2b's digest is 64 bytes unless asked otherwise).
        keys = _blake2b(key=self._chain_key, person=SENDER_CHAIN_PERSON).digest()
        message_key, self._chain_key = keys[:KEY_BYTES], keys[KEY_BYTES:]
        header = HEADER.pack(CHAIN_VERSION, self.chain_id, self.index)
        self.index += 1
        # seal(), inlined: this runs once per message sent.
        message = header + ChaCha20Poly1305(message_key).encrypt(NONCE, plaintext, header)
        if self.flags & SIGNED:
            message += self._identity.sign(MESSAGE_SIGN_CONTEXT + message)
        return message

    def to_dict(self) -> Dict[str, Any]:
        return {
            "kind": "outbound-chain",
            "version": STATE_VERSION,
            "room": self.room,
            "nick": self.nick,
            "chain_id": b64encode(self.chain_id),
            "chain_key": b64encode(self._chain_key),
            "index": self.index,
            "flags": self.flags,
        }

    @classmethod
    def from_dict(cls, state: Dict[str, Any], identity: Identity) -> OutboundChain:
        """What L{to_dict} wrote; L{ValueError} for anything else (never a half-read state)."""
        try:
            return cls._from_dict(state, identity)
        except (KeyError, TypeError, AttributeError, Malformed) as error:
            raise ValueError(f"not a readable outbound-chain state: {error!r}") from None

    @classmethod
    def _from_dict(cls, state: Dict[str, Any], identity: Identity) -> OutboundChain:
        check_version(state, "outbound-chain", STATE_VERSION)
        return cls(
            str(state["room"]),
            identity,
            str(state["nick"]),
            field(state, "chain_id", CHAIN_ID_BYTES),
            field(state, "chain_key", KEY_BYTES),
            int(state["index"]),
            int(state["flags"]),
        )


def chain_id_of(message: bytes) -> bytes:
    """The chain id a message names (L{Malformed} if it is too short)."""
    if len(message) < HEADER.size + TAG_BYTES:
        raise Malformed("a chain message is too short")
    return message[1 : 1 + CHAIN_ID_BYTES]


class InboundChain:
    """A member's chain as we receive it: a window of skipped keys, used keys erased."""

    def __init__(
        self, start: ChainStart, verifier: Optional[Verifier] = None, max_skip: int = MAX_SKIP,
        max_stored: int = MAX_STORED,
    ) -> None:  # fmt: skip
        if len(start.chain_key) != KEY_BYTES:  # open() steps it without asking again
            raise ValueError(f"a sender chain key is {KEY_BYTES} bytes, not {len(start.chain_key)}")
        self.room = start.room
        self.nick = start.nick
        self.chain_id = start.chain_id
        self.identity = start.identity
        self.flags = start.flags
        self._chain_key = start.chain_key
        self._next = start.index
        #: index -> (message key, when it was skipped; None: not known yet, stamped by forget_skipped).
        self._skipped: OrderedDict[int, Tuple[bytes, Optional[float]]] = OrderedDict()
        self._unstamped = False
        #: When a newer chain of the sender was first seen to replace this one (None: current, or not seen yet).
        self.replaced_at: Optional[float] = None
        self._verifier = verifier or Verifier()
        self.max_skip = max_skip
        self.max_stored = max_stored

    @property
    def next_index(self) -> int:
        """The index after the highest this chain opened (its start index before any)."""
        return self._next

    def open(self, message: bytes, now: Optional[float] = None) -> bytes:
        """
        The plaintext; L{Replayed} if its key is used or below the start,
        L{SkippedTooFar}, L{Tampered}, L{BadSignature}, L{Malformed}.
        Nothing changes on error.  Keys it skips are stamped C{now} (None:
        at the next L{forget_skipped}).
        """
        signed = self.flags & SIGNED
        if signed:
            if len(message) < HEADER.size + TAG_BYTES + SIGNATURE_BYTES:
                raise Malformed("a signed chain message is too short")
            message, signature = message[:-SIGNATURE_BYTES], message[-SIGNATURE_BYTES:]
        if len(message) < _SHORTEST:
            raise Malformed("a chain message is too short")
        version, chain_id, index = HEADER.unpack_from(message)
        if index == self._next and not signed and version == CHAIN_VERSION and chain_id == self.chain_id:
            # The common case, the next message of an unsigned chain: the
            # same checks and steps as below, in fewer Python steps (it
            # runs once per message received).  sender_chain_step() and
            # open_sealed() inlined; the key is 32 bytes by construction and on load,
            # BLAKE2b's digest 64 bytes unless asked otherwise.
            keys = _blake2b(key=self._chain_key, person=SENDER_CHAIN_PERSON).digest()
            try:
                plaintext = ChaCha20Poly1305(keys[:KEY_BYTES]).decrypt(NONCE, message[_HEADER_BYTES:],
                                                                       message[:_HEADER_BYTES])  # fmt: skip
            except InvalidTag:
                raise Tampered() from None
            self._chain_key = keys[KEY_BYTES:]
            self._next = index + 1
            return plaintext
        if version != CHAIN_VERSION or chain_id != self.chain_id:
            raise Malformed("not a message of this chain")
        header, sealed = message[: HEADER.size], message[HEADER.size :]
        if signed and not self._verifier.verify(self.identity, signature, MESSAGE_SIGN_CONTEXT + message):
            raise BadSignature("the chain message is not signed by the chain's sender")
        if index < self._next:
            skipped = self._skipped.get(index)
            if skipped is None:
                raise Replayed("its message key is already used, or older than the chain we were given")
            plaintext = open_sealed(skipped[0], sealed, header)
            del self._skipped[index]
            return plaintext
        if index == self._next:  # the next message of a signed chain (its signature checked above)
            message_key, chain_key = sender_chain_step(self._chain_key)
            plaintext = open_sealed(message_key, sealed, header)
            self._chain_key = chain_key
            self._next = index + 1
            return plaintext
        if index - self._next > self.max_skip:
            raise SkippedTooFar(f"{index - self._next} messages skipped; the window is {self.max_skip}")
        chain_key = self._chain_key
        skipped_now = []
        for number in range(self._next, index):
            message_key, chain_key = sender_chain_step(chain_key)
            skipped_now.append((number, (message_key, now)))
        message_key, chain_key = sender_chain_step(chain_key)
        plaintext = open_sealed(message_key, sealed, header)
        self._chain_key = chain_key
        self._next = index + 1
        self._skipped.update(skipped_now)
        if now is None:
            self._unstamped = True
        while len(self._skipped) > self.max_stored:
            self._skipped.popitem(last=False)
        return plaintext

    @property
    def skipped_keys(self) -> int:
        """Skipped message keys held (for messages not yet arrived)."""
        return len(self._skipped)

    def forget_skipped(self, now: float, window: float) -> int:
        """
        Erase the skipped keys stamped C{window} seconds or more before
        C{now}; stamp unstamped ones C{now}.  How many were erased.  Keys
        are stamped in order, so only the erased ones and the first kept are
        looked at (after a clock set back, some stay until it catches up).
        """
        skipped = self._skipped
        if self._unstamped:
            for index, (key, at) in list(skipped.items()):
                if at is None:
                    skipped[index] = (key, now)
            self._unstamped = False
        deadline = now - window
        erased = 0
        while skipped:
            at = skipped[next(iter(skipped))][1]
            if at is None or at > deadline:
                break
            skipped.popitem(last=False)
            erased += 1
        return erased

    def to_dict(self) -> Dict[str, Any]:
        return {
            "kind": "inbound-chain",
            "version": INBOUND_STATE_VERSION,
            "room": self.room,
            "nick": self.nick,
            "identity": b64encode(self.identity),
            "chain_id": b64encode(self.chain_id),
            "chain_key": b64encode(self._chain_key),
            "next": self._next,
            "flags": self.flags,
            "skipped": [[number, b64encode(key), at] for number, (key, at) in self._skipped.items()],
            "max_skip": self.max_skip,
            "max_stored": self.max_stored,
            "replaced_at": self.replaced_at,
        }

    @classmethod
    def from_dict(cls, state: Dict[str, Any]) -> InboundChain:
        """What L{to_dict} wrote; L{ValueError} for anything else (never a half-read state)."""
        try:
            return cls._from_dict(state)
        except (KeyError, TypeError, AttributeError, Malformed) as error:
            raise ValueError(f"not a readable inbound-chain state: {error!r}") from None

    @classmethod
    def _from_dict(cls, state: Dict[str, Any]) -> InboundChain:
        check_version(state, "inbound-chain", INBOUND_STATE_VERSION)
        start = ChainStart(
            str(state["room"]),
            str(state["nick"]),
            field(state, "identity", PUBLIC_KEY_BYTES),
            field(state, "chain_id", CHAIN_ID_BYTES),
            int(state["next"]),
            field(state, "chain_key", KEY_BYTES),
            int(state["flags"]),
        )
        chain = cls(start, None, int(state["max_skip"]), int(state["max_stored"]))
        for number, key, at in state["skipped"]:
            stamp = None if at is None else float(at)
            chain._skipped[int(number)] = (b64decode(key, KEY_BYTES), stamp)
            chain._unstamped = chain._unstamped or stamp is None
        replaced = state["replaced_at"]
        chain.replaced_at = None if replaced is None else float(replaced)
        return chain


class RoomChains:
    """
    One member's sender-chain state in one room: our outbound chain, the
    members we admitted (nick -> identity key), and their inbound chains.
    """

    def __init__(self, room: str, nick: str, identity: Identity, sign_messages: bool = False) -> None:
        self.room = rfc1459_casefold(room)
        self.nick = rfc1459_casefold(nick)
        self._identity = identity
        self.sign_messages = sign_messages
        self.outbound = OutboundChain.new(self.room, identity, self.nick, sign_messages)
        self.members: Dict[str, bytes] = {}
        #: Each admitted sender's chains, newest last (at most MAX_CHAINS_PER_SENDER).
        self.inbound: Dict[str, List[InboundChain]] = {}

    def admit(
        self, nick: str, identity: bytes, pinned: Optional[bytes], room_key: bytes, session_id: bytes, proof: bytes
    ) -> bytes:
        """
        Admit C{nick} (its key C{identity} must be the C{pinned} one, and
        C{proof} its L{admit_proof} over the pairwise session C{session_id})
        and return our chain's start record for it; L{NotAdmitted} otherwise.
        """
        if pinned is None or not bytes_eq(identity, pinned):
            raise NotAdmitted("the identity is not the pinned one")
        expected = admit_proof(room_key, self.room, nick, session_id)
        if not bytes_eq(proof, expected):
            raise NotAdmitted("no proof of the room secret")
        self.members[rfc1459_casefold(nick)] = identity
        return self.outbound.start_record()

    def start_new_chain(self) -> Dict[str, bytes]:
        """A new outbound chain (the old one's key erased); its start record for each admitted member."""
        self.outbound = OutboundChain.new(self.room, self._identity, self.nick, self.sign_messages)
        return {nick: self.outbound.start_record() for nick in self.members}

    def leave(self, nick: str) -> Dict[str, bytes]:
        """C{nick} left (PART, QUIT, KICK, /remove): forget its chain, start ours anew for those who stay."""
        folded = rfc1459_casefold(nick)
        self.members.pop(folded, None)
        self.inbound.pop(folded, None)
        return self.start_new_chain()

    def receive_start(self, nick: str, record: bytes, verifier: Optional[Verifier] = None) -> None:
        """Take C{nick}'s chain start: only from an admitted member, signed by its pinned key."""
        folded = rfc1459_casefold(nick)
        start = ChainStart.verify(record, self.room, folded, self.members.get(folded), verifier)
        chains = self.inbound.setdefault(folded, [])
        if any(chain.chain_id == start.chain_id for chain in chains):
            return  # a chain we hold, again: keep our position (no replay window reopens)
        chains.append(InboundChain(start, verifier))
        del chains[:-MAX_CHAINS_PER_SENDER]

    def forget_expired(self, now: float, window: float) -> int:
        """
        Erase what could only open messages no longer accepted: skipped keys
        stamped C{window} seconds or more before C{now}, and chains replaced
        by a newer one of their sender that long ago (a replaced chain is
        stamped C{now} the first time this sees it).  How many keys and
        chains were erased (the state is to be saved when not 0).
        """
        erased = 0
        deadline = now - window
        for chains in self.inbound.values():
            for chain in chains[:-1]:
                if chain.replaced_at is None:
                    chain.replaced_at = now
            kept = [chain for chain in chains[:-1] if chain.replaced_at is None or chain.replaced_at > deadline]
            if len(kept) < len(chains) - 1:
                erased += len(chains) - 1 - len(kept)
                chains[:-1] = kept
            for chain in chains:
                if chain.skipped_keys:
                    erased += chain.forget_skipped(now, window)
        return erased

    def seal(self, plaintext: bytes) -> bytes:
        return self.outbound.seal(plaintext)

    def open(self, nick: str, message: bytes, now: Optional[float] = None) -> bytes:
        """C{nick}'s message: L{NotAdmitted} when we hold no chain of it by that id."""
        chain_id = chain_id_of(message)
        for chain in self.inbound.get(rfc1459_casefold(nick), ()):
            if chain.chain_id == chain_id:
                return chain.open(message, now)
        raise NotAdmitted("no chain of this sender by that id (left, not admitted, or a chain long replaced)")

    def to_dict(self) -> Dict[str, Any]:
        return {
            "kind": "room-chains",
            "version": STATE_VERSION,
            "room": self.room,
            "nick": self.nick,
            "sign_messages": self.sign_messages,
            "outbound": self.outbound.to_dict(),
            "members": {nick: b64encode(key) for nick, key in self.members.items()},
            "inbound": {nick: [chain.to_dict() for chain in chains] for nick, chains in self.inbound.items()},
        }

    @classmethod
    def from_dict(cls, state: Dict[str, Any], identity: Identity) -> RoomChains:
        """What L{to_dict} wrote; L{ValueError} for anything else (never a half-read state)."""
        try:
            return cls._from_dict(state, identity)
        except (KeyError, TypeError, AttributeError, Malformed) as error:
            raise ValueError(f"not a readable room-chains state: {error!r}") from None

    @classmethod
    def _from_dict(cls, state: Dict[str, Any], identity: Identity) -> RoomChains:
        check_version(state, "room-chains", STATE_VERSION)
        chains = cls(str(state["room"]), str(state["nick"]), identity, bool(state["sign_messages"]))
        chains.outbound = OutboundChain.from_dict(state["outbound"], identity)
        chains.members = {str(nick): b64decode(key, PUBLIC_KEY_BYTES) for nick, key in state["members"].items()}
        chains.inbound = {
            str(nick): [InboundChain.from_dict(value) for value in values] for nick, values in state["inbound"].items()
        }
        return chains


