"""
Views that agree: each signed message carries its author's view of the room.

A relay can deliver bob's messages to alice and not to carol, and a member
can send different messages under one sequence number to different
members.  Sequence numbers alone show a receiver only its own gaps.  So a
C{signed} message carries, inside its signature, a compact digest of what
its author has received: per member stream, the last sequence number and a
hash chain over that stream's messages (docs/wire.md, "Views").  A receiver
compares it with its own view and says what differs; a sender learns from
the same digests who has received its messages.

Sans-IO: L{ViewBook} keeps one conversation's chains; the conversation
feeds it what it sends and accepts, and asks it for the digest to carry.

Sizes: an entry is 2 + 2 + 1..9 + 12 bytes (17 for a sequence below 64);
the digest takes only what the message's last line leaves free (it never
adds a line), newest-carried last, so a room's members take turns: a short
line carries 8 members and its own head, a 200-byte one none (docs/security.md).
"""

from __future__ import annotations

import functools
import hashlib
from collections import OrderedDict
from typing import Callable, Dict, Iterable, List, NamedTuple, Optional, Tuple, Union

import attr

from securechat.codec.errors import Malformed

CHAIN_CONTEXT = b"securechat/v2 view chain\x00"
MEMBER_TAG_CONTEXT = b"securechat/v2 view member\x00"
HEAD_BYTES = 12
MEMBER_TAG_BYTES = 2
STREAM_TAG_BYTES = 2
#: The chain head before a stream's first message.
ZERO_HEAD = bytes(HEAD_BYTES)
#: A digest's length is one byte on the wire.
MAX_VIEW_BYTES = 255
#: Heads remembered per stream, to compare with a digest that names an older one.
HEADS_PER_STREAM = 64
#: Streams remembered per conversation (least recently heard dropped first).
MAX_STREAMS = 256
#: Reporters remembered per stream (what each already reported about it).
MAX_REPORTERS = 64
#: Seconds between our sending a message and a member's writing that must
#: pass before its absence from that member's digest is reported: twice the
#: allowed clock skew plus delivery (docs/security.md, "Views").
NOT_REACHED_GRACE = 15

WITHHELD = "withheld"
NOT_REACHED = "not-reached"
DIFFERS = "differs"
REWRITTEN = "rewritten"
SEEN = "seen"

#: C{fits(length)}: whether a digest of C{length} bytes adds no line to the message.
Fits = Callable[[int], bool]


@functools.lru_cache(maxsize=4096)
def member_tag(nick_key: str) -> bytes:
    """The 2 bytes that name a (casefolded) member in a digest."""
    return hashlib.sha256(MEMBER_TAG_CONTEXT + nick_key.encode("utf-8")).digest()[:MEMBER_TAG_BYTES]


def chain_step(head: bytes, signed: bytes) -> bytes:
    """
    The head after a message: C{signed} is its signed data followed by its
    signature, so that a member grinding for two messages with one head
    pays a signature per try (docs/security.md, "Views that agree").
    """
    return hashlib.sha256(CHAIN_CONTEXT + head + signed).digest()[:HEAD_BYTES]


class Entry(NamedTuple):
    """One member stream in a digest: its tags, last sequence number, chain head (if contiguous)."""

    member: bytes
    stream: bytes
    seq: int
    head: Optional[bytes]

    def encode(self) -> bytes:
        value = self.seq * 2 + (1 if self.head is not None else 0)
        out = bytearray(self.member + self.stream)
        while True:
            byte = value & 0x7F
            value >>= 7
            if value:
                out.append(byte | 0x80)
            else:
                out.append(byte)
                break
        if self.head is not None:
            out += self.head
        return bytes(out)


def encode_view(entries: Iterable[Entry]) -> bytes:
    """The digest's bytes (without its length byte)."""
    return b"".join(entry.encode() for entry in entries)


def decode_view(data: bytes) -> List[Entry]:
    """The entries of a digest; L{Malformed} if it is not one."""
    entries: List[Entry] = []
    at, end = 0, len(data)
    fixed = MEMBER_TAG_BYTES + STREAM_TAG_BYTES
    while at < end:
        if end - at < fixed + 1:
            raise Malformed("a view entry is cut short")
        member = data[at : at + MEMBER_TAG_BYTES]
        stream = data[at + MEMBER_TAG_BYTES : at + fixed]
        at += fixed
        value = data[at]
        at += 1
        if value & 0x80:  # more than one byte: rare (a sequence number of 64 or more)
            value, at = _varint_rest(data, at, value & 0x7F)
        seq, has_head = divmod(value, 2)
        head: Optional[bytes] = None
        if has_head:
            if end - at < HEAD_BYTES:
                raise Malformed("a view entry's chain head is cut short")
            head = data[at : at + HEAD_BYTES]
            at += HEAD_BYTES
        entries.append(Entry(member, stream, seq, head))
    return entries


def _varint_rest(data: bytes, at: int, value: int) -> Tuple[int, int]:
    """The rest of a LEB128 number whose first 7 bits are C{value}: (number, next offset)."""
    shift = 7
    for _ in range(8):
        if at >= len(data):
            raise Malformed("a view entry's sequence number is cut short")
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            if byte == 0:
                raise Malformed("a view entry's sequence number is not in its shortest form")
            return value, at
    raise Malformed("a view entry's sequence number is longer than 9 bytes")


@attr.s(frozen=True, slots=True, auto_attribs=True)
class ViewFinding:
    """
    What a digest told the receiver, about C{member}'s messages
    #C{first}-C{last} (C{member} None: a member the receiver cannot name).
    C{kind}: L{WITHHELD} (the author has them, we never got them),
    L{NOT_REACHED} (ours, which the author had not received when it wrote),
    L{DIFFERS} (the author's #C{first} of C{member} is another message than
    ours), L{REWRITTEN} (the author's own history differs from what it sent
    us), L{SEEN} (the author has received ours up to C{last};
    C{seen_by}: every member known to have #C{last}).
    """

    kind: str
    member: Optional[str]
    first: int
    last: int
    seen_by: Tuple[str, ...] = ()


class _Stream:
    """What we know of one member's stream."""

    __slots__ = (
        "nick", "stream", "tags", "last", "head_seq", "head", "heads", "reported", "carried", "rebase", "numbered"
    )

    def __init__(self, nick: str, stream: bytes) -> None:
        self.nick = nick
        self.stream = stream
        #: Member tag and stream tag: how digests name this stream.
        self.tags = member_tag(nick) + stream[:STREAM_TAG_BYTES]
        self.last = 0
        #: The chain head and the sequence it follows, when we hold a contiguous chain.
        self.head_seq: Optional[int] = None
        self.head = ZERO_HEAD
        self.heads: OrderedDict[int, bytes] = OrderedDict()
        #: Per reporter (the author of a view): the highest sequence it
        #: already reported, withheld or different (once per message and
        #: reporter: a member lying about a huge number silences nobody else).
        self.reported: Dict[str, int] = {}
        #: When this stream's entry was last carried (a counter): oldest first.
        self.carried = 0
        #: We were out of the room since we last heard this stream: each
        #: reporter's next view naming more of it says what was said
        #: meanwhile (L{ViewBook.rejoined}).
        self.rebase = False
        #: Known only by its number (restored after a restart, not from a
        #: signed message): it stops false reports here, it is not carried.
        self.numbered = False

    def entry(self) -> Entry:
        anchored = self.head_seq is not None and self.head_seq == self.last
        return Entry(
            self.tags[:MEMBER_TAG_BYTES], self.tags[MEMBER_TAG_BYTES:], self.last, self.head if anchored else None
        )

    def anchor(self, seq: int, head: bytes) -> None:
        self.head_seq = seq
        self.head = head
        self._keep(seq, head)

    def advance(self, seq: int, signed: bytes) -> None:
        """Take message C{seq} into the chain if it follows the head; else the chain breaks."""
        if seq <= self.last and self.head_seq is not None and seq <= self.head_seq:
            return  # late or a copy: the chain already holds its place
        if self.head_seq is not None and seq == self.head_seq + 1:
            self.anchor(seq, chain_step(self.head, signed))
        elif seq > self.last:
            self.head_seq = None
        self.last = max(self.last, seq)

    def said(self, reporter: str) -> int:
        return self.reported.get(reporter, 0)

    def note(self, reporter: str, seq: int) -> None:
        """C{reporter}'s views about this stream are said up to C{seq}."""
        self.reported.pop(reporter, None)
        self.reported[reporter] = seq
        while len(self.reported) > MAX_REPORTERS:
            del self.reported[next(iter(self.reported))]

    def _keep(self, seq: int, head: bytes) -> None:
        self.heads[seq] = head
        self.heads.move_to_end(seq)
        while len(self.heads) > HEADS_PER_STREAM:
            self.heads.popitem(last=False)


class ViewBook:
    """One conversation's view: every member stream we hold, ours included."""

    def __init__(self, max_streams: int = MAX_STREAMS) -> None:
        self._max_streams = max_streams
        self._streams: OrderedDict[Tuple[str, bytes], _Stream] = OrderedDict()
        #: The same streams by their tags (the most recent one of a tag).
        self._by_tags: Dict[bytes, _Stream] = {}
        self._own: Optional[Tuple[str, bytes]] = None
        #: When we sealed each of our recent messages (seq -> seconds).
        self._sent_at: OrderedDict[int, int] = OrderedDict()
        #: Per member: the highest of our sequence numbers its digests showed.
        self._seen: Dict[str, int] = {}
        #: Per member: the highest of ours already reported as not reached.
        self._not_reached: Dict[str, int] = {}
        self._carry_clock = 0
        #: Streams we never received from, by their tags and the reporter:
        #: the highest of their messages it already reported withheld.
        self._unheard: OrderedDict[Tuple[bytes, str], int] = OrderedDict()

    def _stream(self, nick: str, stream: bytes) -> _Stream:
        key = (nick, stream)
        state = self._streams.get(key)
        if state is None:
            state = self._streams[key] = _Stream(nick, stream)
            self._by_tags[state.tags] = state
            while len(self._streams) > self._max_streams:
                _, dropped = self._streams.popitem(last=False)
                if self._by_tags.get(dropped.tags) is dropped:
                    del self._by_tags[dropped.tags]
        self._streams.move_to_end(key)
        return state

    # Sending.

    def digest(self, nick: str, stream: bytes, seq: int, fits: Fits) -> bytes:
        """
        The digest to carry in our message C{seq}: our own stream's head
        first (so a member who missed the start can anchor), then the
        members carried least recently, as many as C{fits(length)} allows.
        """
        own = self._own_stream(nick, stream)
        candidates: List[_Stream] = []
        if seq > 1 and own.last == seq - 1:
            candidates.append(own)
        latest: Dict[str, _Stream] = {}
        for state in self._streams.values():
            if state is not own and state.last and state.nick != nick and not state.numbered:
                latest[state.nick] = state  # the most recently heard stream of each member
        candidates.extend(sorted(latest.values(), key=lambda state: state.carried))
        chosen: List[bytes] = []
        length = 0
        for state in candidates:
            encoded = state.entry().encode()
            if length + len(encoded) > MAX_VIEW_BYTES or not fits(length + len(encoded)):
                continue
            chosen.append(encoded)
            length += len(encoded)
            self._carry_clock += 1
            state.carried = self._carry_clock
        return b"".join(chosen)

    def sent(self, nick: str, stream: bytes, seq: int, sent_at: int, signed: Optional[bytes]) -> None:
        """Our own message C{seq} left, with C{signed} data (None off the signed layer)."""
        own = self._own_stream(nick, stream)
        if signed is not None:
            if seq == 1:
                own.anchor(0, ZERO_HEAD)
            own.advance(seq, signed)
        else:
            # Not signed: receivers chain only signed messages, so ours
            # restarts here (head(seq) = zero) and the next signed one
            # carries that anchor.
            own.anchor(seq, ZERO_HEAD)
            own.last = max(own.last, seq)
        self._sent_at[seq] = sent_at
        while len(self._sent_at) > HEADS_PER_STREAM:
            self._sent_at.popitem(last=False)

    def _own_stream(self, nick: str, stream: bytes) -> _Stream:
        if self._own != (nick, stream):
            self._own = (nick, stream)
            self._sent_at.clear()
            self._seen.clear()
            self._not_reached.clear()
        return self._stream(nick, stream)

    # Receiving.

    def received(
        self,
        sender: str,
        stream: bytes,
        seq: int,
        sent_at: int,
        signed: bytes,
        view: Union[bytes, List[Entry]],
        members: Callable[[], Iterable[str]] = tuple,
    ) -> List[ViewFinding]:
        """
        Take a member's accepted signed message into our view and compare
        its digest C{view} with ours.  C{members()}: other nicks (casefolded)
        that may be named by a digest entry we hold no stream for (asked
        only then).
        L{Malformed} if the digest cannot be read (it was signed: the
        sender's client is broken), and then nothing changed.
        """
        entries = decode_view(view) if isinstance(view, bytes) else view
        findings: List[ViewFinding] = []
        state = self._stream(sender, stream)
        own_tags = (member_tag(sender), stream[:STREAM_TAG_BYTES])
        by_tag: Optional[Dict[bytes, List[str]]] = None

        def named(tag: bytes) -> List[str]:
            # The roster, read at most once per message and only when an
            # entry names a stream we never heard (a member lying in its view
            # could make it once per entry: 51 times the room per message).
            nonlocal by_tag
            if by_tag is None:
                by_tag = {}
                for nick in members():
                    by_tag.setdefault(member_tag(nick), []).append(nick)
            return by_tag.get(tag, [])

        for entry in entries:
            if (entry.member, entry.stream) == own_tags and entry.seq == seq - 1 and entry.head is not None:
                if state.head_seq == seq - 1 and state.head != entry.head:
                    findings.append(ViewFinding(REWRITTEN, sender, seq - 1, seq - 1))
                elif state.head_seq != seq - 1 and seq > state.last:
                    state.anchor(seq - 1, entry.head)
        if seq == 1:
            state.anchor(0, ZERO_HEAD)
        state.advance(seq, signed)
        state.rebase = state.numbered = False
        for entry in entries:
            if (entry.member, entry.stream) != own_tags:
                findings.extend(self._compare(sender, sent_at, entry, named))
        return findings

    def rejoined(self) -> None:
        """
        We are back in the room after being out of it (a PART, a KICK, a
        reconnect): what members said meanwhile never reached us, and no
        relay withheld it.  For each stream we know, the next view naming
        more of it than we hold moves our mark there, unreported; hearing
        the stream itself does too (its gap is a sequence gap).
        """
        for state in self._streams.values():
            state.rebase = True
            state.reported.clear()

    def member_joined(self, nick: str) -> None:
        """
        C{nick} (casefolded) joined the room: what we said before never was
        for it, so its views never call it not reached.
        """
        own = self._streams.get(self._own) if self._own is not None else None
        if own is None or not own.last:
            return
        self._not_reached[nick] = max(self._not_reached.get(nick, 0), own.last)
        while len(self._not_reached) > self._max_streams:
            del self._not_reached[next(iter(self._not_reached))]

    def observed(self, sender: str, stream: bytes, seq: int, signed: Optional[bytes] = None) -> None:
        """
        Message C{seq} of C{sender}'s stream reached us whole and genuine,
        but is not taken as accepted (refused for its new key and held, or
        known from before a restart): it was received, so a view naming it
        is no "withheld".  C{signed}: its signed data and signature, to keep
        the chain; None breaks the chain where it does not follow.
        """
        state = self._stream(sender, stream)
        state.rebase = False
        if signed is not None and seq == 1:
            state.anchor(0, ZERO_HEAD)
        if signed is not None:
            state.advance(seq, signed)
            state.numbered = False
        elif seq > state.last:
            # A number that may count messages others hold outside their views
            # (sealed below signed): never claimed in ours.
            state.numbered = True
            state.head_seq = None
            state.last = seq

    def _compare(
        self, author: str, sent_at: int, entry: Entry, members: Callable[[bytes], List[str]]
    ) -> List[ViewFinding]:
        if self._own is not None and (entry.member, entry.stream) == (
            member_tag(self._own[0]),
            self._own[1][:STREAM_TAG_BYTES],
        ):
            return self._ours(author, sent_at, entry)
        state = self._by_tags.get(entry.member + entry.stream)
        if state is None:
            # A stream we never received from: remembered by its tags, so
            # the same withheld messages are reported once.
            tags = (entry.member + entry.stream, author)
            reported = self._unheard.get(tags, 0)
            if entry.seq <= reported:
                return []
            names = sorted(set(members(entry.member)) - {author})
            first = reported + 1
            self._unheard[tags] = entry.seq
            self._unheard.move_to_end(tags)
            while len(self._unheard) > self._max_streams:
                self._unheard.popitem(last=False)
            return [ViewFinding(WITHHELD, names[0] if len(names) == 1 else None, first, entry.seq)]
        if entry.seq > state.last and state.rebase and author not in state.reported:
            # Said while we were out of the room: not withheld from us.
            state.note(author, entry.seq)
            return []
        if entry.seq > state.last:
            first = max(state.last, state.said(author)) + 1
            if first > entry.seq:
                return []
            state.note(author, entry.seq)
            return [ViewFinding(WITHHELD, state.nick, first, entry.seq)]
        if entry.head is not None:
            mine = state.heads.get(entry.seq)
            if mine is not None and mine != entry.head and state.said(author) < entry.seq:
                state.note(author, entry.seq)
                return [ViewFinding(DIFFERS, state.nick, entry.seq, entry.seq)]
        return []

    def _ours(self, author: str, sent_at: int, entry: Entry) -> List[ViewFinding]:
        """A member's digest names our stream: what it has of ours."""
        assert self._own is not None
        findings: List[ViewFinding] = []
        own = self._streams.get(self._own)
        if own is not None and entry.head is not None:
            mine = own.heads.get(entry.seq)
            if mine is not None and mine != entry.head:
                findings.append(ViewFinding(DIFFERS, self._own[0], entry.seq, entry.seq))
        before = self._seen.get(author, 0)
        # Never more than we sent: a member cannot make us believe it saw more.
        upto = min(entry.seq, own.last if own is not None else 0)
        if upto > before:
            self._seen[author] = upto
            while len(self._seen) > self._max_streams:
                del self._seen[next(iter(self._seen))]
            seen_by = tuple(sorted(nick for nick, seen in self._seen.items() if seen >= upto))
            findings.append(ViewFinding(SEEN, author, before + 1, upto, seen_by))
        overdue = [
            seq
            for seq, at in self._sent_at.items()
            if seq > max(entry.seq, self._not_reached.get(author, 0)) and at + NOT_REACHED_GRACE <= sent_at
        ]
        if overdue:
            self._not_reached[author] = max(overdue)
            while len(self._not_reached) > self._max_streams:
                del self._not_reached[next(iter(self._not_reached))]
            findings.append(ViewFinding(NOT_REACHED, author, min(overdue), max(overdue)))
        return findings

    def seen_by(self, seq: int) -> Tuple[str, ...]:
        """The members whose digests showed our message C{seq}."""
        return tuple(sorted(nick for nick, upto in self._seen.items() if upto >= seq))

    # Persistence: our own chain must survive a restart that keeps our stream.

    def export_own(self) -> Optional[List[object]]:
        """[nick, seq, head hex] of our own chain, or None."""
        if self._own is None:
            return None
        own = self._streams.get(self._own)
        if own is None or own.head_seq is None:
            return None
        return [own.nick, own.head_seq, own.head.hex()]

    def restore_own(self, stream: bytes, data: object) -> None:
        """Take back L{export_own}'s C{data} for our stream; L{ValueError} if it is not that."""
        if data is None:
            return
        if not (
            isinstance(data, list)
            and len(data) == 3
            and isinstance(data[0], str)
            and isinstance(data[1], int)
            and not isinstance(data[1], bool)
            and data[1] >= 0
            and isinstance(data[2], str)
        ):
            raise ValueError("the saved view chain is malformed")
        try:
            head = bytes.fromhex(data[2])
        except ValueError:
            raise ValueError("the saved view chain head is not hex") from None
        if len(head) != HEAD_BYTES:
            raise ValueError("the saved view chain head has the wrong length")
        own = self._own_stream(data[0], stream)
        own.anchor(data[1], head)
        own.last = data[1]


