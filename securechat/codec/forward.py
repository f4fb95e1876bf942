"""
The C{forward} layer: a room on sender chains, every shown message
author-verified, Ed25519 amortised over batches (docs/wire.md, "The forward layer").

Each member seals on its own sender chain (L{securechat.codec.sessions.senderchain}):
one-use message keys, erased once used, so a later leak of the state (or
of the room secret) opens nothing already read.  A chain's keys are held
by every member it was handed to, so the chain alone would let one member
forge another's message.  Authorship therefore comes from Ed25519, but not
per message (141 µs here, ten times a chain message): the sender signs the
digests of a I{batch} of consecutive messages of its chain, on the batch's
last message, which it marks when its send queue drains or after
C{max_batch} messages.  A receiver opens each message at once (its key is
then erased) but holds the plaintext until a signature covers it, within
bounds (count and time); what it shows is always signed by the chain's
owner.  A message a signature does not cover in time is refused
(C{unverified}), never shown.

Token bytes (base64 once, then cut into lines like every layer's token):

    kind 00: 00 | message
    kind 01: 01 | message | first u32 | signature 64         (the batch ends here)
    kind 02: 02 | chain id 16 | first u32 | last u32 | signature 64   (a batch ended alone)

    signature = Ed25519(identity, BATCH_CONTEXT | chain id | first u32 | last u32 | D)
    D         = SHA-256(d_first | ... | d_last), d_i = SHA-256(message i)

The line's msgid is C{d_i[:16]} (kind 02: the token's SHA-256, first 16
bytes); a receiver checks it, so the header names the message it carries.
"""

from __future__ import annotations

import hashlib
import re
import struct
from collections import OrderedDict
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple

from securechat.codec.chunks import (
    DEFAULT_LIMITS,
    MARKER,
    MSGID_PATTERN,
    Dropped,
    Reassembler,
    ReassemblyLimits,
    decode_msgid,
    encode_msgid,
    is_protected,
    parse_line,
    split_token,
)
from securechat.codec.errors import (
    BadSignature,
    CodecError,
    Downgraded,
    Expired,
    FromFuture,
    Malformed,
    Tampered,
    UnsupportedVersion,
)
from securechat.codec.identity import SIGNATURE_BYTES, Identity, Verifier, identity_fingerprint
from securechat.codec.layers import FORWARD, b64decode, b64encode
from securechat.codec.names import rfc1459_casefold
from securechat.codec.replay import DEFAULT_MAX_SKEW, DEFAULT_TTL
from securechat.codec.results import Accepted, Rejected
from securechat.codec.sessions.senderchain import CHAIN_ID_BYTES, HEADER, InboundChain, NotAdmitted, RoomChains

#: What a receiver may claim about a message accepted on C{forward}.
PROTECTION = "signed+forward-secret"
KIND_MESSAGE = 0
KIND_SIGNED_MESSAGE = 1
KIND_SIGNATURE = 2
BATCH_CONTEXT = b"securechat/s1 forward batch\x00"
#: The most messages one signature covers (the sender signs sooner when its queue drains).
MAX_BATCH = 128
#: Seconds a receiver holds an opened message for the signature that covers it.
HOLD_SECONDS = 60.0
#: Opened messages held in all, per room, awaiting their signature.
MAX_HELD = 1024
#: Opened messages held per chain: one batch (a sender signs at most MAX_BATCH at
#: once), so a member flooding unsigned messages evicts only its own.
MAX_HELD_PER_CHAIN = MAX_BATCH
#: Signatures held per room waiting for a message they cover (reordered lines).
MAX_WAITING_SIGNATURES = 64
TIME = struct.Struct(">Q")
U32 = struct.Struct(">I")
RANGE = struct.Struct(">II")
MSGID_BYTES = 16
_SIGNATURE_TOKEN = 1 + CHAIN_ID_BYTES + RANGE.size + SIGNATURE_BYTES
_TRAILER = U32.size + SIGNATURE_BYTES
_TIME_BYTES = TIME.size
#: Where a chain message's index starts (after its version and chain id).
_INDEX_AT = 1 + CHAIN_ID_BYTES
_sha256 = hashlib.sha256
_LINE_PREFIX = f"{MARKER} {FORWARD} "
#: A whole message in one line: the prefix, a msgid, 1/1 and a piece that is not empty.
_ONE_PIECE_RE = re.compile(re.escape(_LINE_PREFIX) + "(" + MSGID_PATTERN + ") 1/1 (?=.)", re.DOTALL)
INF = float("inf")


class Unverified(CodecError):
    """Opened, but no signature of the chain's owner covered it in time: never shown."""

    reason = "unverified"
    summary = "no signature of its sender covered it in time (a line of its batch lost, or a forgery): not shown"


def batch_signed_bytes(chain_id: bytes, first: int, last: int, digests: List[bytes]) -> bytes:
    """What the batch signature signs (C{digests}: each message's SHA-256, C{first} to C{last})."""
    return BATCH_CONTEXT + chain_id + RANGE.pack(first, last) + _sha256(b"".join(digests)).digest()


#: Each L{Accepted} shown is built as the tuple it is, every field given in
#: order (NamedTuple's keyword C{__new__} costs a third of a microsecond more,
#: per message).  A field added to L{Accepted} must be added there too:
#: tests/test_codec_forward_fastpaths.py fails on a tuple of the wrong length.
_new_tuple = tuple.__new__


class _Held(NamedTuple):
    digest: bytes
    body: str
    sent_at: int
    arrived: float
    msgid: str
    #: Why it is not to be shown though genuine (stale), judged on arrival.
    stale: Optional[CodecError] = None


class _Waiting(NamedTuple):
    nick: str
    first: int
    last: int
    signature: bytes
    arrived: float


Clock = Callable[[], float]


class ForwardRoom:
    """
    One room on the C{forward} layer, sans-IO: seal our lines, open and
    hold theirs until signed.  Membership (who gets our chain, whose chains
    we take) is L{RoomChains}'s, driven by the room manager.
    """

    def __init__(
        self,
        chains: RoomChains,
        identity: Identity,
        clock: Clock,
        verifier: Optional[Verifier] = None,
        max_batch: int = MAX_BATCH,
        hold_seconds: float = HOLD_SECONDS,
        max_held: int = MAX_HELD,
        max_held_per_chain: int = MAX_HELD_PER_CHAIN,
        limits: ReassemblyLimits = DEFAULT_LIMITS,
        ttl: int = DEFAULT_TTL,
        max_skew: int = DEFAULT_MAX_SKEW,
    ) -> None:
        if not 1 <= max_batch <= MAX_BATCH:
            raise ValueError(f"max_batch must be 1 to {MAX_BATCH}")
        self.chains = chains
        self.room = chains.room
        self._identity = identity
        self._clock = clock
        self._verifier = verifier or Verifier()
        self.max_batch = max_batch
        self.hold_seconds = hold_seconds
        self.max_held = max_held
        self.max_held_per_chain = max_held_per_chain
        self.ttl = ttl
        self.max_skew = max_skew
        #: Seconds a skipped key or a replaced chain is kept: a message skipped at
        #: time t was sealed before the one that skipped it (at most t + skew by
        #: the sender's clock), so after t + ttl + 2 * skew it is refused expired.
        self.key_window = ttl + 2 * max_skew
        #: (nick, chain id) -> the index after the highest shown (gaps and late ones are flagged).
        self._expected: Dict[Tuple[str, bytes], int] = {}
        self._limits = limits
        self._reassembler = Reassembler(clock, limits)
        #: Our open batch: the chain it is on, its first index, its digests.
        self._batch_chain = b""
        self._batch_first = 0
        self._batch: List[bytes] = []
        #: What the last seal_tokens started from, for withdraw: the stale-batch token it made,
        #: and the batch (chain, first index, digests list, which then ends with the message's).
        self._sealed: Tuple[List[Tuple[bytes, bytes]], bytes, int, List[bytes]] = ([], b"", 0, [])
        #: (nick, chain id) -> index -> opened message awaiting a signature.
        self._held: Dict[Tuple[str, bytes], OrderedDict[int, _Held]] = {}
        self._held_count = 0
        #: When the oldest held message or waiting signature times out (inf when none).
        self._expiry = INF
        self._waiting: Dict[Tuple[str, bytes], List[_Waiting]] = {}

    # Sending.

    def seal_tokens(self, body: str, last: bool = True) -> List[Tuple[bytes, bytes]]:
        """
        (msgid, token bytes) to send for C{body}, in order: a kind-02 token
        first if our chain changed with a batch still open, then the message.
        C{last}: nothing else is queued behind it, so the batch ends here.
        """
        outbound = self.chains.outbound
        out = self._close_stale_batch() if self._batch and self._batch_chain != outbound.chain_id else []
        message = outbound.seal(TIME.pack(int(self._clock())) + body.encode("utf-8"))
        digest = _sha256(message).digest()
        if not self._batch:
            self._batch_chain = outbound.chain_id
            self._batch_first = outbound.index - 1
        self._batch.append(digest)
        self._sealed = (list(out), self._batch_chain, self._batch_first, self._batch)
        if last or len(self._batch) >= self.max_batch:
            signature = self._sign_batch(outbound.index - 1)
            token = b"\x01" + message + U32.pack(self._batch_first) + signature
            self._batch = []
        else:
            token = b"\x00" + message
        out.append((digest[:MSGID_BYTES], token))
        return out

    def encode(self, body: str, max_payload: int, last: bool = True) -> List[str]:
        """The lines that carry C{body} (L{ValueError} when it needs more lines than allowed)."""
        lines: List[str] = []
        for msgid, token in self.seal_tokens(body, last):
            msgid_text, token_text = b64encode(msgid), b64encode(token)
            line = f"{_LINE_PREFIX}{msgid_text} 1/1 {token_text}"
            if len(line) <= max_payload:
                lines.append(line)  # the common case: split_token's first test, without the call
            else:
                lines.extend(split_token(FORWARD, msgid_text, token_text, max_payload, self._limits.max_chunks))
        return lines

    def flush(self, max_payload: int) -> List[str]:
        """The line that ends our open batch, if any (before a new chain, or when the queue drained late)."""
        if not self._batch:
            return []
        token = self._signature_token()
        return split_token(FORWARD, encode_msgid(_sha256(token).digest()[:MSGID_BYTES]), b64encode(token),
                           max_payload, self._limits.max_chunks)  # fmt: skip

    def withdraw(self, max_payload: int) -> List[str]:
        """
        The message last sealed is not sent after all (its state could not
        be saved): its digest leaves the batch, which ends before it.  The
        lines to send instead: the batch's signature without it (the members
        then see a gap at its index, not a whole batch unverified).
        """
        stale, chain, first, batch = self._sealed
        self._sealed = ([], b"", 0, [])
        if not batch:
            return []
        batch.pop()
        self._batch_chain, self._batch_first, self._batch = chain, first, batch
        lines = [line for msgid, token in stale
                 for line in split_token(FORWARD, b64encode(msgid), b64encode(token), max_payload,
                                         self._limits.max_chunks)]  # fmt: skip
        return lines + self.flush(max_payload)

    @property
    def batch_open(self) -> bool:
        """Whether messages we sent still wait for our signature."""
        return bool(self._batch)

    def _close_stale_batch(self) -> List[Tuple[bytes, bytes]]:
        if not self._batch or self._batch_chain == self.chains.outbound.chain_id:
            return []
        token = self._signature_token()
        return [(_sha256(token).digest()[:MSGID_BYTES], token)]

    def _signature_token(self) -> bytes:
        last = self._batch_first + len(self._batch) - 1
        signature = self._sign_batch(last)
        token = b"\x02" + self._batch_chain + RANGE.pack(self._batch_first, last) + signature
        self._batch = []
        return token

    def _sign_batch(self, last: int) -> bytes:
        return self._identity.sign(batch_signed_bytes(self._batch_chain, self._batch_first, last, self._batch))

    # Receiving.

    def receive(self, sender: str, text: str) -> List[Any]:
        """Verdicts on one line from C{sender} (the prefix nick): accepted messages come out only once signed."""
        reassembling = bool(self._reassembler.pending)  # a dict's truth, in C: this runs once per line
        now = self._clock()  # read once per line: what it opens is held as arriving now
        if (self._held_count and now >= self._expiry) or (reassembling and self._reassembler.due()):
            results: List[Any] = self.expire()
        elif not reassembling and (line := _ONE_PIECE_RE.match(text)) is not None:
            # The common line: one piece, nothing pending (parse_line's fast path, inlined);
            # any other goes the general way below.
            try:
                return self._open(sender, rfc1459_casefold(sender), line.group(1), b64decode(text[line.end() :]), now)
            except CodecError as error:
                return [Rejected(FORWARD, sender, self.room, error)]
        else:
            results = []
        if not is_protected(text):
            results.append(Rejected(None, sender, self.room, Downgraded()))
            return results
        try:
            chunk = parse_line(text, self._limits.max_chunks)
        except (UnsupportedVersion, Malformed) as error:
            results.append(Rejected(None, sender, self.room, error))
            return results
        if chunk.layer != FORWARD:
            if chunk.number == 1:
                results.append(Rejected(chunk.layer, sender, self.room,
                                        Downgraded(f"a {chunk.layer} message in a room on {FORWARD}")))  # fmt: skip
            return results
        nick = rfc1459_casefold(sender)
        if chunk.total == 1 and not self._reassembler:
            token: Optional[str] = chunk.piece
        else:
            token, dropped = self._reassembler.add(nick, sender, chunk)
            results.extend(self._dropped(item) for item in dropped)
        if token is not None:
            try:
                results.extend(self._open(sender, nick, chunk.msgid, b64decode(token), now))
            except CodecError as error:
                results.append(Rejected(FORWARD, sender, self.room, error))
        return results

    def _dropped(self, item: Dropped) -> Rejected:
        return Rejected(item.layer, item.sender, self.room, item.error)

    def _open(self, sender: str, nick: str, msgid_text: str, data: bytes, now: float) -> List[Any]:
        kind = data[0] if data else -1
        if kind == KIND_MESSAGE:  # the common token first; the kinds exclude each other
            message = data[1:]
        elif kind == KIND_SIGNED_MESSAGE:
            if len(data) < 1 + HEADER.size + _TRAILER:
                raise Malformed("a signed forward message is too short")
            message = data[1:-_TRAILER]
            (first,) = U32.unpack_from(data, len(data) - _TRAILER)
            signature = data[-SIGNATURE_BYTES:]
        elif kind == KIND_SIGNATURE:
            if len(data) != _SIGNATURE_TOKEN:
                raise Malformed("a forward signature token has the wrong length")
            if _sha256(data).digest()[:MSGID_BYTES] != decode_msgid(msgid_text):
                raise Tampered("the line's msgid is not its token's")
            chain_id = data[1 : 1 + CHAIN_ID_BYTES]
            first, last = RANGE.unpack_from(data, 1 + CHAIN_ID_BYTES)
            signature = data[1 + CHAIN_ID_BYTES + RANGE.size :]
            self._chain(nick, chain_id)
            return self._signature(sender, nick, chain_id, first, last, signature)
        else:
            raise Malformed(f"unknown forward token kind {kind}")
        chain_id = message[1 : 1 + CHAIN_ID_BYTES]
        for chain in self.chains.inbound.get(nick, ()):
            if chain.chain_id == chain_id:
                break
        else:
            raise NotAdmitted("no chain of this sender by that id (left, not admitted, or a chain long replaced)")
        key = (nick, chain_id)
        expected = self._expected
        if key not in expected:
            expected[key] = chain.next_index
        plaintext = chain.open(message, now)  # erases the message key
        # The batch signature covers this digest; the line's msgid only routes
        # pieces (the sender derives it from the digest, nobody relies on it).
        digest = _sha256(message).digest()
        try:  # its time first (too short: struct.error), then its body
            (sent_at,) = TIME.unpack_from(plaintext)
            body = plaintext[_TIME_BYTES:].decode("utf-8")
        except struct.error:
            raise Malformed("a forward message without its time") from None
        except UnicodeDecodeError:
            raise Malformed("the body is not UTF-8") from None
        (index,) = U32.unpack_from(message, _INDEX_AT)
        held = self._held.get(key)
        if held is None:
            held = self._held[key] = OrderedDict()
        stale: Optional[CodecError] = None
        oldest = now - self.ttl - self.max_skew
        if not oldest <= sent_at <= now + self.max_skew:
            if sent_at < oldest:
                age = f"sealed {int(now - sent_at)} s before it arrived"
                stale = Expired(f"{age} (at most {self.ttl + self.max_skew} s)")
            else:
                stale = FromFuture(f"sealed {int(sent_at - now)} s in the future (at most {self.max_skew} s)")
        # Every field given, so the tuple it is (NamedTuple's __new__ is a Python call).
        held[index] = _new_tuple(_Held, (digest, body, sent_at, now, msgid_text, stale))
        self._held_count += 1
        if now + self.hold_seconds < self._expiry:
            self._expiry = now + self.hold_seconds
        # kind is 0 or 1 here: 1, a signed message, ends its batch.
        if kind or self._waiting or self._held_count > self.max_held or len(held) > self.max_held_per_chain:
            over = self._held_count > self.max_held or len(held) > self.max_held_per_chain
            results: List[Any] = self._evict_oldest(key) if over else []
            if kind == KIND_SIGNED_MESSAGE:
                results.extend(self._signature(sender, nick, chain_id, first, index, signature))
            elif key in self._waiting:
                results.extend(self._settle_waiting(sender, key))
            return results
        return []

    def _chain(self, nick: str, chain_id: bytes) -> InboundChain:
        for chain in self.chains.inbound.get(nick, ()):
            if chain.chain_id == chain_id:
                return chain
        raise NotAdmitted("no chain of this sender by that id (left, not admitted, or a chain long replaced)")

    def _signature(self, sender: str, nick: str, chain_id: bytes, first: int, last: int, signature: bytes) -> List[Any]:
        if not first <= last or last - first >= MAX_BATCH:
            raise Malformed(f"a batch signature over {first}..{last} (at most {MAX_BATCH} messages)")
        key = (nick, chain_id)
        held = self._held.get(key)
        if held is None or not all(map(held.__contains__, range(first, last + 1))):
            waiting = self._waiting.setdefault(key, [])
            now = self._clock()
            waiting.append(_Waiting(nick, first, last, signature, now))
            self._expiry = min(self._expiry, now + self.hold_seconds)
            if sum(len(items) for items in self._waiting.values()) > MAX_WAITING_SIGNATURES:
                waiting.pop(0)
            return []
        return self._verify_batch(sender, key, first, last, signature)

    def _verify_batch(self, sender: str, key: Tuple[str, bytes], first: int, last: int, signature: bytes) -> List[Any]:
        chain = self._chain(*key)
        held = self._held[key]
        items = [held[index] for index in range(first, last + 1)]
        signed = batch_signed_bytes(key[1], first, last, [item.digest for item in items])
        if not self._verifier.verify(chain.identity, signature, signed):
            # A forged message among them, or a forged signature: nothing is
            # shown, and nothing is dropped either (the genuine signature may
            # still come; what no signature covers times out, unverified).
            error = BadSignature(f"a batch signature ({first}..{last}) that is not its sender's: nothing shown")
            return [Rejected(FORWARD, sender, self.room, error)]
        if len(held) == len(items):
            del self._held[key]  # the common case: the batch is all this chain holds
        else:
            for index in range(first, last + 1):
                del held[index]
        self._held_count -= len(items)
        signer = identity_fingerprint(chain.identity)
        room = self.room
        # The chain's index is the sender's sequence: a gap is what the relay
        # dropped, an index below the one after the highest shown is late
        # (reordered).  Kept in a local across the batch, stored once.
        expected = self._expected.get(key, first)
        stream = key[1]
        results: List[Any] = []
        append = results.append
        index = first
        for digest, body, sent_at, _arrived, _msgid, stale in items:  # _Held's fields, unpacked at once
            if stale is not None:
                append(Rejected(FORWARD, sender, room, stale))
            else:
                append(_new_tuple(Accepted, (
                    FORWARD, sender, room, body, PROTECTION, b64encode(digest[:MSGID_BYTES]), index, sent_at,
                    index - expected if index > expected else 0, index < expected, signer,
                    None, (), stream,  # trust, views (not on this layer's results), stream
                )))  # fmt: skip
                if index >= expected:
                    expected = index + 1
            index += 1
        self._expected[key] = expected
        return results

    def _settle_waiting(self, sender: str, key: Tuple[str, bytes]) -> List[Any]:
        """Every waiting signature whose messages are all held now is checked (a bogus one first costs nothing)."""
        results: List[Any] = []
        waiting = self._waiting[key]
        for item in list(waiting):
            held: Dict[int, _Held] = self._held.get(key) or {}
            if all(index in held for index in range(item.first, item.last + 1)):
                waiting.remove(item)
                results.extend(self._verify_batch(sender, key, item.first, item.last, item.signature))
        if not waiting:
            del self._waiting[key]
        return results

    def _evict_oldest(self, key: Tuple[str, bytes]) -> List[Any]:
        """
        Make room: the chain C{key} (which just grew) loses its oldest when
        over its quota; else, over the room's bound, the chain holding the
        most does (one pass over the chains, not the messages), so one
        member's flood never pushes out another's held messages.
        """
        if len(self._held[key]) <= self.max_held_per_chain:
            key = max(self._held, key=lambda other: len(self._held[other]))
        held = self._held[key]
        held.popitem(last=False)
        self._held_count -= 1
        if not held:
            del self._held[key]
        error = Unverified("more messages of this chain wait for a signature than are held")
        return [Rejected(FORWARD, key[0], self.room, error)]

    def expire(self) -> List[Any]:
        """Messages held past C{hold_seconds} without a signature, and timed-out reassemblies, as refusals."""
        results: List[Any] = [self._dropped(item) for item in self._reassembler.expire()]
        if not self._held_count and not self._waiting:
            return results
        deadline = self._clock() - self.hold_seconds
        oldest = INF
        for key in list(self._held):
            held = self._held[key]
            for index in [index for index, item in held.items() if item.arrived <= deadline]:
                del held[index]
                self._held_count -= 1
                results.append(Rejected(FORWARD, key[0], self.room, Unverified()))
            if held:
                oldest = min(oldest, min(item.arrived for item in held.values()))
            else:
                del self._held[key]
        for key in list(self._waiting):
            self._waiting[key] = [item for item in self._waiting[key] if item.arrived > deadline]
            if self._waiting[key]:
                oldest = min(oldest, min(item.arrived for item in self._waiting[key]))
            else:
                del self._waiting[key]
        self._expiry = oldest + self.hold_seconds
        return results

    def forget_keys(self) -> int:
        """
        Erase the skipped keys and replaced chains older than C{key_window}
        (L{RoomChains.forget_expired}): what they would open is refused
        expired anyway, and a later theft of the state must not open it.
        How many were erased (save the state when not 0).
        """
        return self.chains.forget_expired(self._clock(), self.key_window)

    @property
    def held(self) -> int:
        """Opened messages waiting for a signature."""
        return self._held_count
