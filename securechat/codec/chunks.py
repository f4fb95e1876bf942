"""
Fitting tokens into IRC lines, and putting them back together.

A protected message travels as one or more lines
C{+sc2 <layer> <msgid> <i>/<n> <piece>} (docs/wire.md, "Lines").  The
marker's number is the wire version: a line of another version is refused
with that reason before any key is used.  The header is only a routing hint:
it is not authenticated, so after decryption the sealed envelope must agree
with it.  Reassembly holds pieces per (sender, msgid) within bounds (chunks
per message, unfinished messages per sender and in all, a timeout), because
a relay can start as many fake messages as it likes.
"""

from __future__ import annotations

import binascii
import re
from collections import OrderedDict
from typing import Any, Callable, Dict, List, Mapping, NamedTuple, Optional, Tuple

import attr

from securechat.codec.errors import CodecError, Incomplete, Malformed, Tampered, UnsupportedVersion
from securechat.codec.layers import AES_CTR, FERNET, FERNET_TTL, FORWARD, SIGNED, b64encode

#: The wire version this codec writes and reads.
WIRE_VERSION = 2
#: The first word of every protected line: C{+sc} and the wire version.
MARKER = "+sc%d" % (WIRE_VERSION,)
MARKER_PREFIX = MARKER + " "
#: Any version's marker: such a line is protected, readable here or not.
ANY_MARKER_RE = re.compile(r"\+sc([0-9]{1,9})(?: |\Z)")
CHUNKED_LAYERS = (AES_CTR, FERNET, FERNET_TTL, SIGNED, FORWARD)
#: base64 turns 3 bytes into 4 characters: every piece but the last is a
#: whole number of these, so each piece decodes on its own.
QUANTUM_CHARS = 4
#: The 16-byte msgid as unpadded URL-safe base64.  128 bits fill 21
#: characters and 2 bits of a 22nd whose 4 low bits are zero, so only A, Q, g
#: or w can end it: one spelling per id (the reassembler keys on it).
MSGID_CHARS = 22
MSGID_PATTERN = "[A-Za-z0-9_-]{%d}[AQgw]" % (MSGID_CHARS - 1,)
#: The whole header in one pass: layer, msgid, i/n with at most four digits
#: each and no leading zero (huge numbers never reach int()).  The piece's
#: alphabet is checked by the layer once the token is whole.
HEADER_RE = re.compile(
    "%s (%s) (%s) ([1-9][0-9]{0,3})/([1-9][0-9]{0,3}) (?=.)"
    % (re.escape(MARKER), "|".join(re.escape(layer) for layer in CHUNKED_LAYERS), MSGID_PATTERN)
)
#: A header whose layer this codec does not know (a newer one's, or a typo).
_OTHER_LAYER_RE = re.compile(r"%s ([a-z0-9-]{1,32}) " % (re.escape(MARKER),))
_LAYER_SET = frozenset(CHUNKED_LAYERS)
_MSGID_RE = re.compile(MSGID_PATTERN + r"\Z")
_URLSAFE_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
_OLD_POSITION_RE = re.compile(r"\S+ \S+ \S+ ([0-9]+)/")
#: The smallest piece worth a line; a smaller max_payload is a caller error.
MIN_PIECE_CHARS = 16
MAX_POSITION_DIGITS = 4
SINGLE_POSITION = "1/1 "

Clock = Callable[[], float]


def _positive(instance: object, attribute: attr.Attribute[Any], value: float) -> None:
    if value <= 0:
        raise ValueError(f"{attribute.name} must be positive, not {value!r}")


def _header_digits(instance: object, attribute: attr.Attribute[Any], value: int) -> None:
    if not 1 <= value < 10**MAX_POSITION_DIGITS:
        raise ValueError(f"{attribute.name} must be between 1 and {10**MAX_POSITION_DIGITS - 1}")


@attr.s(frozen=True, slots=True, auto_attribs=True)
class ReassemblyLimits:
    """
    Bounds on what unfinished messages may hold, so a relay cannot grow memory.

    Counts alone are not enough: a piece is as long as the line the client
    accepts (16 KiB), so C{max_pending_chars} bounds the characters held in
    all.  Its default holds one message of C{max_chunks} 16 KiB lines, the
    largest a sender can produce for a client to receive.
    """

    max_chunks: int = attr.ib(default=256, validator=_header_digits)
    max_pending_per_sender: int = attr.ib(default=4, validator=_positive)
    max_pending_total: int = attr.ib(default=64, validator=_positive)
    timeout: float = attr.ib(default=60.0, validator=_positive)
    max_pending_chars: int = attr.ib(default=4 * 1024 * 1024, validator=_positive)
    #: Delivered chunked messages remembered for C{timeout}, so that a late
    #: copy of one of their chunks is ignored instead of opening a new
    #: message that could only end as a false "incomplete".
    max_delivered: int = attr.ib(default=1024, validator=_positive)


DEFAULT_LIMITS = ReassemblyLimits()


class Chunk(NamedTuple):
    """
    One parsed protected line: chunk C{number} of C{total}.  A NamedTuple
    rather than attrs: one is made for every received line.
    """

    layer: str
    msgid: str
    number: int
    total: int
    piece: str


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Dropped:
    """A verdict the reassembler reaches on its own (before any key is used)."""

    sender: str
    layer: str
    error: CodecError


def is_protected(text: str) -> bool:
    """
    Whether C{text} claims to be a protected line: its first word is
    C{+sc} and a version number, this one's or any other.
    """
    if text.startswith(MARKER_PREFIX) or text == MARKER:
        return True
    return text.startswith("+sc") and ANY_MARKER_RE.match(text) is not None


def other_version(text: str) -> Optional[int]:
    """The wire version of a protected line of another version than ours, else L{None}."""
    match = ANY_MARKER_RE.match(text)
    if match is None or int(match.group(1)) == WIRE_VERSION:
        return None
    return int(match.group(1))


def first_of_message(text: str) -> bool:
    """Whether a line of another version looks like the first (or only) chunk of its message."""
    match = _OLD_POSITION_RE.match(text)
    return match is None or match.group(1) == "1"


def encode_msgid(msgid: bytes) -> str:
    """The header spelling of a 16-byte msgid: unpadded URL-safe base64 (22 characters)."""
    return b64encode(msgid)


def parse_line(text: str, max_chunks: int) -> Chunk:
    """
    Parse a protected line's header strictly: L{UnsupportedVersion} for
    another wire version's marker, L{Malformed} otherwise.

    The common line (this version, a known layer, C{1/1}) is read with one
    split and two small checks; anything else goes through L{HEADER_RE},
    which is the definition.
    """
    fields = text.split(" ", 4)
    if (
        len(fields) == 5
        and fields[0] == MARKER
        and fields[3] == SINGLE_POSITION[:-1]
        and fields[1] in _LAYER_SET
        and fields[4]
        and _MSGID_RE.match(fields[2]) is not None
    ):
        return Chunk(fields[1], fields[2], 1, 1, fields[4])
    match = HEADER_RE.match(text)
    if match is None:
        version = other_version(text)
        if version is not None:
            raise UnsupportedVersion(
                f"sealed in securechat wire version {version}; this client reads version {WIRE_VERSION}"
                f" ({'upgrade the sender' if version < WIRE_VERSION else 'upgrade this client'})"
            )
        other = _OTHER_LAYER_RE.match(text)
        if other is not None and other.group(1) not in CHUNKED_LAYERS:
            raise Malformed(f"unknown layer {other.group(1)!r} (a newer securechat's?): it cannot be opened here")
        raise Malformed(
            f"not a protected line: {MARKER} <layer> <22-character base64url msgid> <i>/<n> <piece> expected"
        )
    layer, msgid, index, total = match.groups()
    index, total = int(index), int(total)
    if index > total or total > max_chunks:
        raise Malformed(f"chunk position {index}/{total} is out of bounds (max {max_chunks} chunks)")
    return Chunk(layer, msgid, index, total, text[match.end() :])


def decode_msgid(msgid: str) -> bytes:
    """The 16 bytes of a header msgid that L{parse_line} accepted (its spelling is already checked)."""
    return binascii.a2b_base64(msgid.encode("ascii").translate(_URLSAFE_TO_STANDARD) + b"==")


def piece_room(layer: str, max_payload: int, digits: int) -> int:
    """
    Characters of token a line of C{max_payload} bytes holds when C{n} has
    C{digits} digits: what the header leaves, rounded down to whole quanta.
    """
    header = len(MARKER) + 1 + len(layer) + 1 + MSGID_CHARS + 1 + 2 * digits + len("/ ")
    room = max_payload - header
    return room - room % QUANTUM_CHARS


def count_lines(layer: str, token_chars: int, max_payload: int) -> int:
    """How many lines L{split_token} makes of a token of C{token_chars} (L{ValueError} if none fits)."""
    if len(MARKER) + len(layer) + MSGID_CHARS + 3 + len(SINGLE_POSITION) + token_chars <= max_payload:
        return 1
    for digits in range(1, MAX_POSITION_DIGITS + 1):
        room = piece_room(layer, max_payload, digits)
        if room < MIN_PIECE_CHARS:
            raise ValueError(f"max_payload {max_payload} is too small for a protected line")
        total = -(-token_chars // room)
        if total < 10**digits:
            return total
    raise ValueError(f"message too long for {10**MAX_POSITION_DIGITS - 1} lines")


def split_token(layer: str, msgid: str, token: str, max_payload: int, max_chunks: int) -> List[str]:
    """
    Cut C{token} into lines of at most C{max_payload} bytes (tokens are ASCII).

    The fewest lines that hold it (the header holds C{i/n}, so its width
    grows with the digits of C{n}), with the token's 4-character quanta
    shared out evenly: every piece but the last is whole quanta (so each
    piece decodes on its own), the first ones take one quantum more.
    L{ValueError} if the line is too short for a useful piece or the message
    needs more than C{max_chunks} lines.
    """
    prefix = f"{MARKER} {layer} {msgid} "
    if len(prefix) + len(SINGLE_POSITION) + len(token) <= max_payload:
        return [prefix + SINGLE_POSITION + token]  # the common case, first
    total = count_lines(layer, len(token), max_payload)
    if total > max_chunks:
        raise ValueError(f"message too long: it needs {total} lines, the limit is {max_chunks}")
    return spread_pieces(prefix, token, total)


def spread_pieces(prefix: str, token: str, total: int) -> List[str]:
    """
    C{token} cut into C{total} lines that start with C{prefix} and
    C{i/total}: whole quanta of base64 each (so each piece decodes on its
    own), the first ones one quantum more.  Session lines are cut the same way.
    """
    quanta = -(-len(token) // QUANTUM_CHARS)
    base, extra = divmod(quanta, total)
    lines = []
    start = 0
    for number in range(1, total + 1):
        end = start + QUANTUM_CHARS * (base + (1 if number <= extra else 0))
        lines.append(f"{prefix}{number}/{total} {token[start:end]}")
        start = end
    return lines


def _fit_utf8(text: str, max_bytes: int) -> List[str]:
    """Cut C{text} into pieces of at most C{max_bytes} UTF-8 bytes, never inside a character."""
    data = text.encode("utf-8")
    pieces = []
    start = 0
    while start < len(data):
        end = min(start + max_bytes, len(data))
        # Back off continuation bytes (0b10xxxxxx) so a character is never cut.
        while end < len(data) and (data[end] & 0xC0) == 0x80:
            end -= 1
        pieces.append(data[start:end].decode("utf-8"))
        start = end
    return pieces


#: What ends an IRC line, and so a plain message: CR LF, a bare CR or a bare
#: LF.  Not str.splitlines(): U+2028, U+2029, NEL, VT, FF and \x1c-\x1e
#: travel inside an IRC line, and splitting on them would cut one message
#: into several.
_IRC_LINE_BREAK = re.compile("\r\n|\r|\n")


def split_plain(body: str, max_payload: int) -> List[str]:
    """
    Lines for the plain layer: one message per line of C{body} (IRC text
    cannot hold CR or LF, so only they split it), each cut to C{max_payload}
    UTF-8 bytes; empty lines send nothing.  L{ValueError} if C{body} holds a
    NUL: no IRC line can carry one, and dropping or replacing it would send
    something else than what was asked without saying so.
    """
    if max_payload < 4:
        raise ValueError("max_payload must hold at least one character")
    if "\0" in body:
        raise ValueError("a plain message cannot contain a NUL character: IRC lines cannot carry it")
    lines = _IRC_LINE_BREAK.split(body)
    return [piece for line in lines for piece in _fit_utf8(line, max_payload)]


class _Pending:
    __slots__ = ("sender", "layer", "total", "started", "pieces", "chars", "quiet")

    def __init__(self, sender: str, layer: str, total: int, started: float) -> None:
        self.sender = sender
        self.layer = layer
        self.total = total
        self.started = started
        self.pieces: Dict[int, str] = {}
        self.chars = 0
        self.quiet = False


PendingKey = Tuple[str, str]


class Reassembler:
    """Per-(sender, msgid) buffers of pieces, bounded and timed out."""

    def __init__(self, clock: Clock, limits: ReassemblyLimits = DEFAULT_LIMITS) -> None:
        self._clock = clock
        self.limits = limits
        self._pending: OrderedDict[PendingKey, _Pending] = OrderedDict()
        #: The same table, to test for emptiness in C (C{bool(reassembler)} calls
        #: C{__len__} in Python): for reading, never for changing.
        self.pending: Mapping[PendingKey, object] = self._pending
        self._per_sender: Dict[str, int] = {}
        self._chars = 0
        #: (sender_key, msgid) -> when it was delivered, oldest first.
        self._delivered: OrderedDict[PendingKey, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._pending)

    @property
    def buffered_chars(self) -> int:
        """Characters held in unfinished messages (at most C{limits.max_pending_chars})."""
        return self._chars

    def add(self, sender_key: str, sender: str, chunk: Chunk) -> Tuple[Optional[str], List[Dropped]]:
        """
        Take one chunk; return the whole token once complete (else None) and
        any verdicts reached on the way (duplicates, conflicts, evictions).
        """
        key = (sender_key, chunk.msgid)
        pending = self._pending.get(key)
        if pending is None:
            if chunk.total == 1:
                return chunk.piece, []
            dropped = self._make_room(sender_key)
            pending = self._open(key, sender, chunk)
            # Copies of chunks of a message already delivered: if they never
            # complete, that is no news (the message was shown); if they do,
            # the codec judges the copy as usual (replayed, flagged...).
            pending.quiet = bool(self._delivered) and self._was_delivered(key)
        else:
            dropped = []
        if pending.layer != chunk.layer or pending.total != chunk.total:
            self._remove(key)
            dropped.append(
                Dropped(sender, pending.layer, Malformed("the chunk headers of one message disagree; message dropped"))
            )
            return None, dropped
        known = pending.pieces.get(chunk.number)
        if known is not None:
            if known == chunk.piece:
                dropped.append(
                    Dropped(sender, chunk.layer,
                            Malformed(f"chunk {chunk.number}/{chunk.total} arrived twice; copy ignored"))
                )
                return None, dropped
            self._remove(key)
            dropped.append(
                Dropped(sender, chunk.layer,
                        Tampered(f"two different versions of chunk {chunk.number}/{chunk.total}; message dropped"))
            )
            return None, dropped
        size = len(chunk.piece)
        if pending.chars + size > self.limits.max_pending_chars:
            self._incomplete(
                key, f"it is longer than the {self.limits.max_pending_chars} characters reassembly holds", dropped
            )
            return None, dropped
        dropped.extend(self._make_space(key, size))
        pending.pieces[chunk.number] = chunk.piece
        pending.chars += size
        self._chars += size
        if len(pending.pieces) < pending.total:
            return None, dropped
        self._remove(key)
        pieces = pending.pieces
        return "".join(pieces[i] for i in range(1, pending.total + 1)), dropped

    def delivered(self, sender_key: str, msgid: str) -> None:
        """
        Remember that C{msgid} from C{sender_key} was opened: called by the
        codec only once the sealed envelope names this msgid, so a relay
        cannot make a genuine message's id look delivered.  A copy of one
        of its chunks arriving later is then not reported as incomplete.
        At most C{limits.max_delivered} are kept, each for C{limits.timeout}.
        """
        key = (sender_key, msgid)
        delivered = self._delivered
        delivered.pop(key, None)
        delivered[key] = self._clock()
        self._forget_delivered()
        while len(delivered) > self.limits.max_delivered:
            delivered.popitem(last=False)

    def _was_delivered(self, key: PendingKey) -> bool:
        self._forget_delivered()
        return key in self._delivered

    def _forget_delivered(self) -> None:
        """Drop delivered ids older than the reassembly window (oldest first)."""
        deadline = self._clock() - self.limits.timeout
        delivered = self._delivered
        while delivered:
            key, when = next(iter(delivered.items()))
            if when > deadline:
                break
            del delivered[key]

    def expire(self) -> List[Dropped]:
        """Drop (and report) messages unfinished after the timeout."""
        self._forget_delivered()
        deadline = self._clock() - self.limits.timeout
        late = [key for key, pending in self._pending.items() if pending.started <= deadline]
        dropped: List[Dropped] = []
        for key in late:
            self._incomplete(key, "it did not complete in time", dropped)
        return dropped

    def due(self) -> bool:
        """Cheap check whether L{expire} has anything to do (oldest entry first)."""
        if not self._pending:
            return False
        oldest = next(iter(self._pending.values()))
        return oldest.started <= self._clock() - self.limits.timeout

    def _open(self, key: PendingKey, sender: str, chunk: Chunk) -> _Pending:
        pending = self._pending[key] = _Pending(sender, chunk.layer, chunk.total, self._clock())
        self._per_sender[key[0]] = self._per_sender.get(key[0], 0) + 1
        return pending

    def _remove(self, key: PendingKey) -> _Pending:
        pending = self._pending.pop(key)
        self._chars -= pending.chars
        left = self._per_sender[key[0]] - 1
        if left:
            self._per_sender[key[0]] = left
        else:
            del self._per_sender[key[0]]
        return pending

    def _incomplete(self, key: PendingKey, why: str, dropped: List[Dropped]) -> None:
        """Drop an unfinished message; report it in C{dropped} unless it was a copy of a delivered one."""
        pending = self._remove(key)
        if pending.quiet:
            return
        dropped.append(
            Dropped(
                pending.sender,
                pending.layer,
                Incomplete(f"only {len(pending.pieces)} of {pending.total} chunks arrived: {why}"),
            )
        )

    def _make_room(self, sender_key: str) -> List[Dropped]:
        dropped: List[Dropped] = []
        if self._per_sender.get(sender_key, 0) >= self.limits.max_pending_per_sender:
            oldest = next(key for key in self._pending if key[0] == sender_key)
            self._incomplete(oldest, "too many unfinished messages from this sender", dropped)
        if len(self._pending) >= self.limits.max_pending_total:
            oldest = next(iter(self._pending))
            self._incomplete(oldest, "too many unfinished messages in this conversation", dropped)
        return dropped

    def _make_space(self, keep: PendingKey, size: int) -> List[Dropped]:
        """Evict the oldest other messages until C{size} more characters fit."""
        dropped: List[Dropped] = []
        while self._chars + size > self.limits.max_pending_chars:
            oldest = next(key for key in self._pending if key != keep)
            self._incomplete(oldest, "too much unfinished data in this conversation", dropped)
        return dropped
