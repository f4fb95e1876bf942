"""
Refusal hints, without I/O: when this client cannot open a member's sealed
message (a wrong passphrase, an old token, another key pinned...), it tells
the sender, so that senders learn that others could not read them.

A wrong key is the very thing a refusal can be about, so the hint cannot
be sealed with the conversation's key: it goes in clear, as a C{NOTICE}
to the sender carrying a CTCP-style line (docs/wire.md, "Refusal hints"),
and is shown to its reader as UNAUTHENTICATED: the relay can forge, alter
or withhold it, and it changes nothing but what is shown.  L{noticeCarrier}
is the one function that puts a hint on the wire: when a pairwise channel
exists for a peer, a carrier that seals the same line over it replaces it.

Bounded whatever a relay or a member does: at most one hint per (peer,
conversation, reason) per L{WINDOW} (the rest counted and said in the next
one, with the latest ids), at most L{MAX_SENT_PER_WINDOW} hints sent in all
per window, and as many shown; the tables are bounded and drop the least
recently used.  A hint is never answered: it is a NOTICE, and a NOTICE is
never answered automatically (RFC 1459), by a hint or anything else.
"""

from __future__ import annotations

import re
from collections import OrderedDict, deque
from typing import Callable, Deque, List, Optional, Tuple

import attr

from ...codec.chunks import MARKER
from . import events as ev

#: The CTCP word of a hint (docs/wire.md).
HINT = "SC-REFUSED"
#: The conversation field of a hint about a direct message.
DIRECT = "*"
#: The reasons a hint may name: refusals of a message its sender sealed
#: that the sender can do something about.  Not replayed or re-attributed
#: (the relay's doing, not the sender's), nor malformed or incomplete (no
#: sealed message to name).
HINTED = frozenset(
    {
        "tampered",
        "expired",
        "from-future",
        "wrong-room",
        "unprotected",
        "lower-layer",
        "no-key",
        "bad-signature",
        "unknown-signer",
        "identity-changed",
        "signed-by-other",
    }
)
#: Seconds in which one hint per (peer, conversation, reason) is sent, and shown.
WINDOW = 60.0
#: Hints sent in all, and hints shown in all, per window.
MAX_SENT_PER_WINDOW = 8
MAX_SHOWN_PER_WINDOW = 8
#: Refused msgids a hint names at most (the latest).
MAX_IDS = 4
#: (peer, conversation, reason) entries kept on each side.
MAX_ENTRIES = 64
#: Our sealed messages remembered, so that a hint naming one can be matched.
MAX_REMEMBERED = 512
#: The most characters of a hint line read (a longer one is not a hint of ours).
MAX_HINT_CHARS = 400
#: The largest count a hint may claim (a larger one is malformed).
MAX_COUNT = 999_999

_MSGID = re.compile(r"[A-Za-z0-9_-]{22}\Z")
_HEADER = re.compile(r"%s [a-z-]{1,16} ([A-Za-z0-9_-]{22}) " % (re.escape(MARKER),))


class MalformedHint(ValueError):
    """A line that says it is a hint and is not one as docs/wire.md defines it."""


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Hint:
    """
    C{count} messages in C{conversation} (L{DIRECT} for a direct one)
    refused for C{reason}; C{msgids} the latest of them (1 to L{MAX_IDS}).
    """

    conversation: str
    reason: str
    count: int
    msgids: Tuple[str, ...]


def formatHint(hint: Hint) -> str:
    """The NOTICE text that carries C{hint}."""
    return "\x01%s %s %s %d %s\x01" % (HINT, hint.conversation, hint.reason, hint.count, ",".join(hint.msgids))


def isHint(text: str) -> bool:
    """Whether C{text} claims to be a hint (then it is one, or malformed: never a message)."""
    return text.startswith("\x01" + HINT + " ") or text.rstrip("\x01") == "\x01" + HINT


def parseHint(text: str) -> Hint:
    """The hint C{text} carries; L{MalformedHint} when it claims to be one and is not."""
    if len(text) > MAX_HINT_CHARS:
        raise MalformedHint("longer than %d characters" % (MAX_HINT_CHARS,))
    inner = text[1:-1] if text.endswith("\x01") else text[1:]
    fields = inner.split(" ")
    if len(fields) != 5 or fields[0] != HINT:
        raise MalformedHint("expected: %s <conversation> <reason> <count> <msgid>[,<msgid>...]" % (HINT,))
    _word, conversation, reason, count, ids = fields
    if not conversation or any(ord(c) < 33 for c in conversation):
        raise MalformedHint("no conversation")
    if reason not in HINTED:
        raise MalformedHint("unknown reason")
    if not count.isdigit() or not 1 <= int(count) <= MAX_COUNT:
        raise MalformedHint("count out of range")
    msgids = tuple(ids.split(","))
    if not 1 <= len(msgids) <= MAX_IDS or not all(_MSGID.match(msgid) for msgid in msgids):
        raise MalformedHint("msgids: 1 to %d of 22 base64url characters" % (MAX_IDS,))
    return Hint(conversation, reason, int(count), msgids)


def msgidOf(text: str) -> Optional[str]:
    """The msgid in a protected line's header (in clear, so known even when the token is not)."""
    match = _HEADER.match(text)
    return match.group(1) if match is not None else None


def noticeCarrier(write: Callable[..., None]) -> Callable[[str, str], None]:
    """
    The one function that puts a hint on the wire: in clear, a NOTICE to
    the peer.  A pairwise channel, where one exists, replaces it with one
    that seals the same line for the peer.
    """

    def carry(peer: str, text: str) -> None:
        write("NOTICE", peer, text)

    return carry


class _Budget:
    """At most C{limit} uses per L{WINDOW}: the times of the last ones."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._times: Deque[float] = deque()

    def take(self, now: float) -> bool:
        while self._times and now - self._times[0] >= WINDOW:
            self._times.popleft()
        if len(self._times) >= self.limit:
            return False
        self._times.append(now)
        return True


class _Outgoing:
    """What waits to be said to one peer about one conversation and reason."""

    __slots__ = ("peer", "conversation", "reason", "count", "msgids", "last")

    def __init__(self, peer: str, conversation: str, reason: str) -> None:
        self.peer = peer
        self.conversation = conversation
        self.reason = reason
        self.count = 0
        self.msgids: Deque[str] = deque(maxlen=MAX_IDS)
        #: When the last hint went out (L{None}: never).
        self.last: Optional[float] = None


class HintSender:
    """
    Hints to send, bounded: C{refused} for each message we could not open,
    C{tick} now and then (the session's periodic expiry) to send what a
    window held back.  C{carry(peer, text)} puts one on the wire.
    """

    def __init__(
        self, fold: Callable[[str], str], clock: Callable[[], float], carry: Callable[[str, str], None]
    ) -> None:
        self.fold = fold
        self.clock = clock
        self.carry = carry
        self._entries: OrderedDict[Tuple[str, str, str], _Outgoing] = OrderedDict()
        self._budget = _Budget(MAX_SENT_PER_WINDOW)

    def refused(self, peer: str, conversation: str, reason: str, msgid: str) -> None:
        """We could not open C{peer}'s message C{msgid} in C{conversation} for C{reason}."""
        if reason not in HINTED:
            return
        key = (self.fold(peer), self.fold(conversation), reason)
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = _Outgoing(peer, conversation, reason)
            while len(self._entries) > MAX_ENTRIES:
                self._entries.popitem(last=False)
        self._entries.move_to_end(key)
        entry.count = min(entry.count + 1, MAX_COUNT)
        entry.msgids.append(msgid)
        self._sendIfDue(entry, self.clock())

    def tick(self) -> None:
        """Send what a window held back, now that it passed; forget what is said and old."""
        now = self.clock()
        for key, entry in list(self._entries.items()):
            if entry.count:
                self._sendIfDue(entry, now)
            elif entry.last is not None and now - entry.last >= WINDOW:
                del self._entries[key]

    def _sendIfDue(self, entry: _Outgoing, now: float) -> None:
        if entry.last is not None and now - entry.last < WINDOW:
            return
        if not self._budget.take(now):
            return  # stays counted: said when the budget allows
        hint = Hint(entry.conversation, entry.reason, entry.count, tuple(entry.msgids))
        entry.count, entry.last = 0, now
        entry.msgids.clear()
        self.carry(entry.peer, formatHint(hint))


@attr.s(frozen=True, slots=True, auto_attribs=True)
class _Own:
    """One of our sealed messages, remembered: where it went and what it said."""

    target: str
    body: str


class HintReader:
    """
    Hints received: matched against the messages we sealed (L{sent}),
    shown at most once per (peer, conversation, reason) per window and
    L{MAX_SHOWN_PER_WINDOW} in all.
    """

    def __init__(self, fold: Callable[[str], str], clock: Callable[[], float]) -> None:
        self.fold = fold
        self.clock = clock
        self._own: OrderedDict[str, _Own] = OrderedDict()
        self._shown: OrderedDict[Tuple[str, str, str], float] = OrderedDict()
        self._budget = _Budget(MAX_SHOWN_PER_WINDOW)

    def sent(self, target: str, msgid: str, body: str) -> None:
        """We sealed C{body} for C{target} as C{msgid}."""
        self._own[msgid] = _Own(target, body)
        while len(self._own) > MAX_REMEMBERED:
            self._own.popitem(last=False)

    def received(self, by: str, hint: Hint) -> Optional[ev.RefusalHint]:
        """What to show of C{by}'s C{hint}: L{None} when the window's bounds hold it back."""
        direct = hint.conversation == DIRECT
        target = by if direct else hint.conversation
        key = (self.fold(by), self.fold(target), hint.reason)
        now = self.clock()
        last = self._shown.get(key)
        if last is not None and now - last < WINDOW:
            return None
        if not self._budget.take(now):
            return None
        self._shown[key] = now
        self._shown.move_to_end(key)
        while len(self._shown) > MAX_ENTRIES:
            self._shown.popitem(last=False)
        matched: List[Tuple[str, str]] = []
        for msgid in dict.fromkeys(hint.msgids):
            own = self._own.get(msgid)
            if own is not None and self.fold(own.target) == self.fold(target):
                matched.append((msgid, own.body))
        return ev.RefusalHint(
            target,
            by,
            hint.reason,
            hint.count,
            tuple(msgid for msgid, _ in matched),
            tuple(body for _, body in matched),
            len(set(hint.msgids)) - len(matched),
            direct,
        )


__all__ = [
    "DIRECT",
    "HINT",
    "HINTED",
    "MAX_COUNT",
    "MAX_ENTRIES",
    "MAX_HINT_CHARS",
    "MAX_IDS",
    "MAX_REMEMBERED",
    "MAX_SENT_PER_WINDOW",
    "MAX_SHOWN_PER_WINDOW",
    "WINDOW",
    "Hint",
    "HintReader",
    "HintSender",
    "MalformedHint",
    "formatHint",
    "isHint",
    "msgidOf",
    "noticeCarrier",
    "parseHint",
]
