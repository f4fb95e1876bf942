"""
Replies a server sends in pieces (NAMES: 353...366, WHO: 352...315),
collected without I/O and within bounds.

A relay may send these pieces unasked, forever, or never send the line that
ends them.  So a collector keeps pieces only for what the user asked (or,
for NAMES, a room we are in), keeps at most a fixed number of them, and
says once, through C{notice}, when it starts dropping: memory stays bounded
and the user knows the list is cut.
"""

from __future__ import annotations

from typing import Callable, Dict, List, Optional, Set, Tuple

from ...logevents import DISCARD, EventLog
from . import events as ev

#: The longest nick we believe: longer names in a NAMES reply or a room's
#: members are dropped (no server allows them), which bounds what each
#: listed name costs.
MAX_NICKLEN = 255
#: The most names kept for one room, from NAMES replies and JOINs: generous
#: (the largest rooms of the big networks hold a few thousand people), and
#: a bound on what a relay inventing members can make us hold (with
#: L{MAX_NICKLEN}, about 2.5 million characters per room; the rooms are
#: the user's own choice).
MAX_ROOM_MEMBERS = 10_000
#: The most WHO entries (352 lines) kept until their 315, and the most
#: characters they may hold in all: a count alone would let each entry be
#: as long as a received line (16 KiB).  4 Mi characters is the codec's own
#: bound on unfinished messages; 10,000 ordinary entries take about 1.5 Mi.
MAX_WHO_ENTRIES = 10_000
MAX_WHO_CHARS = 4 * 1024 * 1024
#: What a NAMES reply may put before a nick: its status in the room.
STATUS_PREFIXES = "@+%&~"

Notify = Callable[[str], None]


class _Listing:
    """A NAMES reply arriving for one room: the name to show and the nicks so far."""

    __slots__ = ("name", "nicks", "full")

    def __init__(self, name: str) -> None:
        self.name = name
        self.nicks: List[str] = []
        #: Set once a name was dropped for L{MAX_ROOM_MEMBERS} (the user told).
        self.full = False


class NamesCollector:
    """
    NAMES replies, keyed by folded room name: only for rooms we are in or
    asked NAMES for, so at most as many as the user chose, each bounded by
    L{MAX_ROOM_MEMBERS}.
    """

    def __init__(self, notify: Notify, log: EventLog = DISCARD) -> None:
        self._notify = notify
        self.log = log
        self._pending: Dict[str, _Listing] = {}
        #: Folded rooms the user asked NAMES for, until their 366.
        self._asked: Set[str] = set()

    def __len__(self) -> int:
        """How many rooms anything is held for (replies arriving, or asked for)."""
        return len(self._asked.union(self._pending))

    def reset(self) -> None:
        """A new or lost connection: nothing asked, nothing pending."""
        self._pending = {}
        self._asked = set()

    def asked(self, folded: str) -> None:
        """The user sent C{NAMES} for this room: its reply is kept even if we are not in it."""
        self._asked.add(folded)

    def reply(self, folded: str, room: str, names: str, member: bool) -> None:
        """
        One 353 line for C{room} (C{member}: whether we are in it): ignored
        when neither asked for nor ours (a relay sending 353 without 366 for
        invented rooms gets nothing kept); names beyond L{MAX_ROOM_MEMBERS}
        dropped, the user told once.
        """
        pending = self._pending.get(folded)
        if pending is None:
            if not member and folded not in self._asked:
                self.log.debug("NAMES reply for {room}, which we did not ask for; ignored", room=room)
                return
            pending = self._pending[folded] = _Listing(room)
        for name in names.split():
            nick = name.lstrip(STATUS_PREFIXES)
            if not nick or len(nick) > MAX_NICKLEN:
                continue
            if len(pending.nicks) >= MAX_ROOM_MEMBERS:
                if not pending.full:
                    pending.full = True
                    self._notify(
                        "the server lists more than %d names for %s: only the first %d are kept"
                        % (MAX_ROOM_MEMBERS, room, MAX_ROOM_MEMBERS)
                    )
                return
            pending.nicks.append(nick)

    def end(self, folded: str, room: str, member: bool) -> Optional[Tuple[str, List[str]]]:
        """
        A 366: the room's name as first listed and its nicks, or L{None}
        when the reply was neither asked for nor about a room of ours.
        """
        asked = folded in self._asked
        self._asked.discard(folded)
        pending = self._pending.pop(folded, None)
        if pending is None:
            return (room, []) if asked or member else None
        return pending.name, pending.nicks


class WhoCollector:
    """
    WHO replies: kept only while a WHO the user made is unanswered (a relay
    sending 352 lines and never 315 gets nothing kept otherwise), and only
    within L{MAX_WHO_ENTRIES} and L{MAX_WHO_CHARS}, the user told once when
    entries are dropped.
    """

    def __init__(self, notify: Notify, log: EventLog = DISCARD) -> None:
        self._notify = notify
        self.log = log
        self.reset()

    def reset(self) -> None:
        """A new or lost connection: no WHO of ours is pending."""
        self._asked = 0
        self._clear()

    def _clear(self) -> None:
        self.entries: List[ev.WhoEntry] = []
        self._chars = 0
        self._full = False

    def asked(self) -> None:
        """The user sent C{WHO}: keep replies until its 315."""
        self._asked += 1

    def reply(self, entry: ev.WhoEntry) -> None:
        """One 352 line."""
        if not self._asked:
            self.log.debug("WHO reply we did not ask for; ignored")
            return
        size = len(entry.nick) + len(entry.user) + len(entry.host) + len(entry.realname)
        if len(self.entries) >= MAX_WHO_ENTRIES or self._chars + size > MAX_WHO_CHARS:
            if not self._full:
                self._full = True
                self._notify(
                    "the server sends more WHO entries than we keep (%d, or %d characters): "
                    "the rest are dropped" % (MAX_WHO_ENTRIES, MAX_WHO_CHARS)
                )
            return
        self._chars += size
        self.entries.append(entry)

    def end(self, mask: str) -> Optional[ev.Who]:
        """A 315: the answer to one WHO of the user's, or L{None} if none is pending."""
        if not self._asked:
            self.log.debug("end of a WHO we did not ask for; ignored")
            return None
        answer = ev.Who(mask, tuple(self.entries))
        self._asked -= 1
        self._clear()
        return answer
