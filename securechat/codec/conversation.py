"""
One conversation (a room, or a direct pair) as seen by one local user: sans-IO.

C{encode} turns a body into the PRIVMSG texts to send; C{receive} turns a
received text into zero or more verdicts and never raises.  Time comes from
the injected C{clock}; nothing here does I/O.

The order of checks on receipt is the security argument:

 1. shape (L{Malformed}) and wire version (L{UnsupportedVersion}) use no key;
 2. a line on a weaker layer than the conversation's is L{Downgraded},
    a protected line without keys is L{NoKey}: judged on the header, before
    any piece is buffered; then reassembly within bounds (L{Incomplete});
 3. the MAC (fernet layers; it also binds the header's msgid, the IV) or
    the AEAD tag (signed): until it verifies, all we say is L{Tampered};
    on C{signed}, then the Ed25519 signature (L{BadSignature}): until it
    verifies, nothing in the envelope is read;
 4. only then the precise reasons: the sealed sender and target against
    the relay's claims (L{Misattributed}, L{WrongTarget}), then freshness (L{Expired}, L{FromFuture}) and
    the replay cache (L{Replayed}) on fernet-ttl and signed; on signed,
    the trust store's verdict on the key for that sender
    (L{IdentityChanged}, L{SignedByOther}) before the replay cache admits it;
 5. the sequence number, which reports gaps and late arrivals without refusing.

A message on a lower layer than the conversation's is refused.  When that
layer authenticates (fernet, fernet-ttl: the room's key opens it) it is
opened first, so the refusal says what it is (L{SealedLower}: "sealed on
fernet-ttl, the room asks signed") and its sequence number is seen, so it
is never counted later among messages that "never arrived".  On aes-ctr
(no MAC) or in clear, nothing proves it is a member's: L{Downgraded}.
"""

from __future__ import annotations

import base64
import binascii
import os
import time
from typing import Any, Callable, Dict, Iterable, List, Optional, Union

from securechat.codec.chunks import (
    DEFAULT_LIMITS,
    Dropped,
    Reassembler,
    ReassemblyLimits,
    count_lines,
    decode_msgid,
    encode_msgid,
    first_of_message,
    is_protected,
    parse_line,
    split_plain,
    split_token,
)
from securechat.codec.envelope import MSGID_BYTES, STREAM_BYTES, decode_body, pack_fields, read_fields
from securechat.codec.errors import (
    CodecError,
    Downgraded,
    Expired,
    IdentityChanged,
    Malformed,
    Misattributed,
    NoKey,
    SealedLower,
    Tampered,
    UnsupportedVersion,
    WrongTarget,
)
from securechat.codec.identity import PUBLIC_KEY_BYTES, SIGNATURE_BYTES, Identity, Verifier, identity_fingerprint
from securechat.codec.keys import KEYED_LAYERS, RoomKeys
from securechat.codec.layers import (
    AEAD_TAG_BYTES,
    AES_CTR,
    FRESH_LAYERS,
    LAYER_RANK,
    LAYERS,
    PLAIN,
    PROTECTION,
    SIGNED,
    TIME_BYTES,
    Sealer,
    make_sealer,
)
from securechat.codec.names import Casefold, rfc1459_casefold
from securechat.codec.replay import DEFAULT_MAX_SKEW, DEFAULT_TTL, ReplayCache, check_fresh
from securechat.codec.results import Accepted, Rejected
from securechat.codec.sequence import SequenceTracker
from securechat.codec.signing import (
    FORM_BYTES,
    MAX_VIEW_BYTES,
    open_signed,
    sign_envelope,
    signed_data,
    signed_size,
)
from securechat.codec.trust import TrustStore
from securechat.codec.views import Entry, ViewBook, decode_view

#: Lower layers whose messages the room's key authenticates: opened before
#: they are refused, so the refusal is precise (L{SealedLower}).
AUTHENTICATED_LOWER = frozenset(layer for layer in KEYED_LAYERS if layer != AES_CTR)

Result = Union[Accepted, Rejected]


class Conversation:
    """The codec state of one room or direct conversation for one local user."""

    def __init__(
        self,
        target: str,
        layer: str = PLAIN,
        keys: Optional[RoomKeys] = None,
        *,
        clock: Callable[[], float] = time.time,
        ttl: int = DEFAULT_TTL,
        max_skew: int = DEFAULT_MAX_SKEW,
        replay: Optional[ReplayCache] = None,
        limits: ReassemblyLimits = DEFAULT_LIMITS,
        casefold: Casefold = rfc1459_casefold,
        identity: Optional[Identity] = None,
        trust: Optional[TrustStore] = None,
        random: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self.target = target
        #: Where stream ids and msgids come from: the OS's generator; the
        #: test vectors (docs/vectors/) inject fixed bytes to be reproducible.
        self._random = random
        #: Our signing key (the C{signed} layer needs it to send) and the
        #: pins that say which key speaks for which nick (shared by all of
        #: one user's conversations; a private one if none is given).
        self.identity = identity
        self.trust = trust if trust is not None else TrustStore()
        self._verifier = Verifier()
        self._target_key = casefold(target)
        self._clock = clock
        self._ttl = ttl
        self._max_skew = max_skew
        self._casefold = casefold
        self._limits = limits
        self.replay = replay if replay is not None else ReplayCache(clock, ttl, max_skew)
        self._reassembler = Reassembler(clock, limits)
        self._sequences = SequenceTracker()
        #: What each member has received, as far as signed digests tell
        #: (docs/wire.md, "Views"); C{members} names the room's other
        #: members (casefolded), for a digest entry about one we never heard.
        self.views = ViewBook()
        self.members: Callable[[], Iterable[str]] = tuple
        # One random stream per sending conversation: a restarted sender is a
        # new stream to receivers, not a sequence going backwards.
        self._stream = random(STREAM_BYTES)
        self._next_seq: Dict[str, int] = {}
        #: Bumped whenever what L{export_state} returns changes (a message
        #: sent or accepted), so a saver can skip unchanged conversations.
        self.changes = 0
        self.layer = PLAIN
        self.keys: Optional[RoomKeys] = None
        self._sealers: Dict[str, Sealer] = {}
        self.set_layer(layer, keys)

    def set_layer(self, layer: str, keys: Optional[RoomKeys]) -> None:
        """
        Change layer and/or keys.  L{ValueError} for an unknown layer, a keyed
        layer without keys, or keys derived for another target.
        """
        if layer not in LAYERS:
            raise ValueError(f"unknown layer {layer!r}; choose one of {LAYERS}")
        if layer != PLAIN and keys is None:
            raise ValueError(f"layer {layer!r} needs keys (set a passphrase)")
        if keys is not None and self._casefold(keys.target) != self._target_key:
            raise ValueError(f"keys were derived for {keys.target!r}, not {self.target!r}")
        self.layer = layer
        self.keys = keys
        self._sealers = (
            {} if keys is None else {name: make_sealer(name, keys.for_layer(name)) for name in KEYED_LAYERS}
        )

    def encode(self, sender: str, body: str, max_payload: int) -> List[str]:
        """
        The PRIVMSG texts carrying C{body} from C{sender}, each at most
        C{max_payload} UTF-8 bytes.  On plain, one text per line of the body
        (only CR and LF end a line; an empty body sends nothing; a NUL is a
        L{ValueError}); otherwise C{+sc2} lines.
        """
        if self.layer == PLAIN:
            return split_plain(body, max_payload)
        sender_key = self._casefold(sender)
        seq = self._next_seq.get(sender_key, 0) + 1
        self._next_seq[sender_key] = seq
        msgid = self._random(MSGID_BYTES)
        sealed = pack_fields(sender_key, self._target_key, self._stream, seq, body)
        now = int(self._clock())
        signed: Optional[bytes] = None
        if self.layer == SIGNED:
            if self.identity is None:
                raise ValueError("layer 'signed' needs an identity key to sign with")
            carry = seq == 1 or self._key_costs_no_line(len(sealed), max_payload)
            view = self._view(sender_key, seq, len(sealed), carry, max_payload)
            signed = signed_data(msgid, now, self.identity.public_key, sealed, view)
            sealed = sign_envelope(self.identity, msgid, now, sealed, carry, view)
            at = FORM_BYTES + (PUBLIC_KEY_BYTES if carry else 0)
            signed += sealed[at : at + SIGNATURE_BYTES]  # the view chains hash data and signature
        token = self._sealers[self.layer].seal(sealed, now, msgid)
        if len(token) > self._limits.max_pending_chars:
            raise ValueError(
                f"message too long: its token has {len(token)} characters, receivers"
                f" reassemble at most {self._limits.max_pending_chars}"
            )
        lines = split_token(self.layer, encode_msgid(msgid), token, max_payload, self._limits.max_chunks)
        self._remember_own(sender_key, msgid, seq, now)
        self.views.sent(sender_key, self._stream, seq, now, signed)
        return lines

    def _view(self, sender_key: str, seq: int, envelope_bytes: int, carry: bool, max_payload: int) -> Optional[bytes]:
        """Our view of the room for message C{seq}: as much as adds no line (None: nothing fits)."""

        def chars(view: Optional[int]) -> int:
            return (4 * (TIME_BYTES + signed_size(envelope_bytes, carry, view) + AEAD_TAG_BYTES) + 2) // 3

        try:
            lines = count_lines(SIGNED, chars(None), max_payload)
        except ValueError:
            return None  # split_token says why

        # The longest view that keeps the number of lines (it only grows with the view).
        low, high = 0, MAX_VIEW_BYTES
        while low < high:
            middle = (low + high + 1) // 2
            if count_lines(SIGNED, chars(middle), max_payload) <= lines:
                low = middle
            else:
                high = middle - 1
        if low == 0:
            return None
        view = self.views.digest(sender_key, self._stream, seq, lambda length: length <= low)
        return view or None

    @staticmethod
    def _key_costs_no_line(envelope_bytes: int, max_payload: int) -> bool:
        """
        Whether carrying our public key in a C{signed} message leaves its
        number of lines unchanged: then it rides along, so that receivers
        that lack it learn it; else it is left out (docs/wire.md).
        """

        def chars(carry: bool) -> int:
            return (4 * (TIME_BYTES + signed_size(envelope_bytes, carry) + AEAD_TAG_BYTES) + 2) // 3

        try:
            return count_lines(SIGNED, chars(True), max_payload) <= count_lines(SIGNED, chars(False), max_payload)
        except ValueError:
            return True  # the line cannot hold it either way: split_token says why

    def _remember_own(self, sender_key: str, msgid: bytes, seq: int, sent_at: int) -> None:
        """
        Record our own message as if received, so a relay that sends it back
        to us in our own name (sealed sender and target both match) gets
        L{Replayed} on fernet-ttl, and a flagged late arrival elsewhere.
        """
        self.changes += 1
        self._sequences.observe(sender_key, self._stream, seq)
        if self.layer in FRESH_LAYERS:
            try:
                self.replay.admit(msgid, sent_at)
            except Expired:
                pass  # at or below the floor: a reflected copy is refused as expired anyway

    def receive(self, sender: str, text: str) -> List[Result]:
        """
        Verdicts on one received text from C{sender} (the IRC prefix nick):
        none while a chunked message is incomplete; never raises.
        """
        results: List[Result] = list(self.expire()) if self._reassembler.due() else []
        if not is_protected(text):
            results.append(self._receive_plain(sender, text))
            return results
        try:
            chunk = parse_line(text, self._limits.max_chunks)
        except UnsupportedVersion as error:
            # One verdict per message of another version, on its first chunk.
            if first_of_message(text):
                results.append(Rejected(None, sender, self.target, error))
            return results
        except Malformed as error:
            results.append(Rejected(None, sender, self.target, error))
            return results
        refusal = self._refusal(chunk.layer)
        if refusal is not None:
            # Judged from the header alone, before any piece is kept: memory
            # goes only to messages this conversation could open.  One verdict
            # per message, on its first chunk.
            if chunk.number == 1:
                results.append(Rejected(chunk.layer, sender, self.target, refusal))
            return results
        sender_key = self._casefold(sender)
        if chunk.total == 1 and not self._reassembler:
            token: Optional[str] = chunk.piece  # one line, nothing pending: no reassembly to consult
        else:
            token, dropped = self._reassembler.add(sender_key, sender, chunk)
            if dropped:
                results.extend(self._reject(item) for item in dropped)
        if token is not None:
            try:
                results.append(self._open(sender, sender_key, chunk.layer, chunk.msgid, token, chunk.total > 1))
            except CodecError as error:
                results.append(Rejected(chunk.layer, sender, self.target, error))
        return results

    # Persistence: so that a restart reopens no replay or reorder window.

    def export_state(self) -> Dict[str, Any]:
        """What a restart must remember, JSON-ready (no key material)."""
        return {
            "replay": self.replay.export(),
            "sequences": self._sequences.export(),
            "stream": base64.b64encode(self._stream).decode("ascii"),
            "next_seq": dict(self._next_seq),
            "view_chain": self.views.export_own(),
        }

    def restore_state(self, data: Any, clean: bool) -> None:
        """
        Take back L{export_state}'s C{data}.  The receiving side (replay
        cache, sequence numbers) always; our sending stream and sequence
        only after a C{clean} exit: after a crash, numbers sent since the
        last save are unknown, and reusing them would make our next
        messages look replayed, so a new stream starts.  L{ValueError} if
        C{data} is not what L{export_state} writes.
        """
        if not isinstance(data, dict):
            raise ValueError("not a saved conversation")
        self.replay.restore(data.get("replay"), clean)
        self._sequences.restore(data.get("sequences"))
        # What we received before the restart counts as received: a view
        # naming it is no "withheld" (only the chains are not kept).
        for sender, stream, seq in self._sequences.streams():
            self.views.observed(sender, stream, seq)
        if not clean:
            return
        next_seq = data.get("next_seq")
        try:
            stream = base64.b64decode(str(data.get("stream")), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("the saved stream id is not base64") from None
        if len(stream) != STREAM_BYTES or not isinstance(next_seq, dict) or not all(
            isinstance(nick, str) and isinstance(seq, int) and not isinstance(seq, bool) and seq >= 0
            for nick, seq in next_seq.items()
        ):
            raise ValueError("the saved sending stream is malformed")
        self._stream = stream
        self._next_seq = dict(next_seq)
        # Our chain continues with our stream (else our digests would
        # contradict what members received); without it, it restarts unanchored.
        self.views.restore_own(stream, data.get("view_chain"))

    def expire(self) -> List[Rejected]:
        """Chunked messages that timed out, as L{Incomplete} verdicts (call periodically)."""
        return [self._reject(item) for item in self._reassembler.expire()]

    def _reject(self, dropped: Dropped) -> Rejected:
        return Rejected(dropped.layer, dropped.sender, self.target, dropped.error)

    def _receive_plain(self, sender: str, text: str) -> Result:
        if self.layer != PLAIN:
            return Rejected(PLAIN, sender, self.target, Downgraded())
        return Accepted(PLAIN, sender, self.target, text, PROTECTION[PLAIN])

    def _refusal(self, layer: str) -> Optional[CodecError]:
        """Why a message on C{layer} cannot be opened here (no key, weaker layer), if so."""
        if layer not in self._sealers:
            return NoKey()
        if LAYER_RANK[layer] < LAYER_RANK[self.layer] and layer not in AUTHENTICATED_LOWER:
            return Downgraded(f"unprotected: a {layer} message in a conversation that requires {self.layer}")
        return None

    def _open(
        self, sender: str, sender_key: str, layer: str, msgid: str, token: str, chunked: bool = False
    ) -> Accepted:
        if chunked:
            # Checked again: set_layer may have raised the bar while chunks were pending.
            refusal = self._refusal(layer)
            if refusal is not None:
                raise refusal
        sealed_id = decode_msgid(msgid)
        plaintext, sent_at = self._sealers[layer].open(token, sealed_id)
        signer: Optional[bytes] = None
        signed = b""
        entries: List[Entry] = []
        if layer == SIGNED:
            assert sent_at is not None, "a signed token always carries its time"
            pin = self.trust.pinned(sender_key)
            opened = open_signed(
                self._verifier, plaintext, sealed_id, sent_at, None if pin is None else pin.public_key
            )
            signer, plaintext = opened.public_key, opened.envelope
            signed = opened.signed + opened.signature
            # A view that cannot be read makes the message malformed, before it counts.
            entries = decode_view(opened.view or b"")
        try:
            envelope = read_fields(plaintext)
        except (Malformed, UnsupportedVersion):
            if layer == AES_CTR:
                # No MAC: garbage after decryption is all a wrong key or an
                # alteration can show on this layer.
                raise Tampered() from None
            raise
        if envelope.sender != sender_key:
            raise Misattributed(
                f"re-attributed: sealed by {envelope.sender!r} but relayed as from {sender!r}"
            )
        if envelope.target != self._target_key:
            raise WrongTarget(
                f"moved: sealed for {envelope.target!r} but arrived in {self.target!r}"
            )
        if chunked:
            # Opened and bound to this header's msgid: copies of its chunks
            # arriving later are ignored quietly (even if refused below).
            self._reassembler.delivered(sender_key, msgid)
        trust: Optional[str] = None
        if layer in FRESH_LAYERS:
            assert sent_at is not None, "a fresh layer's token always carries its time"
            check_fresh(sent_at, self._clock(), self._ttl, self._max_skew)
            if signer is not None:
                try:
                    trust = self.trust.judge(sender_key, signer)
                except IdentityChanged as changed:
                    # Genuine but for its key: seen (a replay of it is refused, it is
                    # no gap later) and its body kept on the refusal for the user.
                    self.replay.admit(sealed_id, sent_at)
                    self._sequences.observe(sender_key, envelope.stream, envelope.seq)
                    # Received (and held for /trust): a view naming it is no "withheld".
                    # Not chained: signed by a key not trusted for the sender, it may be
                    # a member's forgery under the sender's stream and number.
                    self.views.observed(sender_key, envelope.stream, envelope.seq)
                    self.changes += 1
                    try:
                        changed.held = decode_body(plaintext, envelope)
                    except CodecError:
                        pass
                    changed.held_signer = identity_fingerprint(signer)
                    raise
            self.replay.admit(sealed_id, sent_at)
        if LAYER_RANK[layer] < LAYER_RANK[self.layer]:
            # The member's, authenticated: seen (not a gap later), then refused.
            self._sequences.observe(sender_key, envelope.stream, envelope.seq)
            self.changes += 1
            raise SealedLower(f"sealed on {layer}, the room asks {self.layer}")
        # The body is decoded last: a replayed or misdirected copy costs no decoding.
        body = decode_body(plaintext, envelope)
        missing, reordered = self._sequences.observe(sender_key, envelope.stream, envelope.seq)
        self.changes += 1
        findings: tuple = ()
        if signer is not None:
            assert sent_at is not None
            findings = tuple(
                self.views.received(
                    sender_key, envelope.stream, envelope.seq, sent_at, signed, entries, self.members
                )
            )
        return Accepted(
            layer,
            sender,
            self.target,
            body,
            PROTECTION[layer],
            msgid,
            envelope.seq,
            sent_at,
            missing,
            reordered,
            None if signer is None else identity_fingerprint(signer),
            trust,
            findings,
        )
