"""
Who is in which room, as a relay in the middle sees it.

Every JOIN, PART, KICK, QUIT, NICK and NAMES reply flows through the
proxy in the clear, whatever the codec does to bodies: membership is
metadata, and this is the relay knowing it.  The attacks use it to pick
"another member" to blame or "another room" both ends share.
"""

from __future__ import annotations

from typing import Callable, Dict, List, Optional, Set

from ..wire import Message, rfc1459Casefold

RPL_NAMREPLY = "353"
#: Membership prefixes a NAMES reply may put before a nick.
NICK_PREFIXES = "~&@%+"


class Roster:
    """Room membership gathered from server-to-client lines of every connection."""

    def __init__(self, casefold: Callable[[str], str] = rfc1459Casefold) -> None:
        self.casefold = casefold
        # folded room -> {folded nick: nick as last seen}
        self._rooms: Dict[str, Dict[str, str]] = {}
        # folded room -> room as last seen
        self._names: Dict[str, str] = {}

    def feed(self, message: Message) -> None:
        """Learn from one line the relay sent a client."""
        command, params, nick = message.command, message.params, message.sourceNick
        if command == "JOIN" and nick and params:
            for room in params[0].split(","):
                self._add(room, nick)
        elif command == "PART" and nick and params:
            for room in params[0].split(","):
                self._remove(room, nick)
        elif command == "KICK" and len(params) >= 2:
            self._remove(params[0], params[1])
        elif command == "QUIT" and nick:
            for room in list(self._rooms):
                self._remove(room, nick)
        elif command == "NICK" and nick and params:
            self._rename(nick, params[0])
        elif command == RPL_NAMREPLY and len(params) >= 4:
            for name in params[3].split():
                self._add(params[2], name.lstrip(NICK_PREFIXES))

    def members(self, room: str) -> List[str]:
        """The nicks in C{room}, sorted for determinism."""
        return sorted(self._rooms.get(self.casefold(room), {}).values())

    def rooms(self, nick: str) -> List[str]:
        """The rooms C{nick} is in, sorted."""
        folded = self.casefold(nick)
        return sorted(
            self._names[room] for room, nicks in self._rooms.items() if folded in nicks
        )

    def otherMember(self, room: str, exclude: Set[str]) -> Optional[str]:
        """A member of C{room} that is none of C{exclude} (compared casefolded)."""
        skip = {self.casefold(nick) for nick in exclude}
        for nick in self.members(room):
            if self.casefold(nick) not in skip:
                return nick
        return None

    def sharedRoom(self, nicks: Set[str], exclude: str) -> Optional[str]:
        """A room, other than C{exclude}, that every nick in C{nicks} is in."""
        folded = {self.casefold(nick) for nick in nicks}
        skip = self.casefold(exclude)
        for room in sorted(self._rooms):
            if room != skip and folded <= set(self._rooms[room]):
                return self._names[room]
        return None

    def _add(self, room: str, nick: str) -> None:
        if not nick:
            return
        folded = self.casefold(room)
        self._names[folded] = room
        self._rooms.setdefault(folded, {})[self.casefold(nick)] = nick

    def _remove(self, room: str, nick: str) -> None:
        folded = self.casefold(room)
        nicks = self._rooms.get(folded)
        if nicks is None:
            return
        nicks.pop(self.casefold(nick), None)
        if not nicks:
            del self._rooms[folded]
            del self._names[folded]

    def _rename(self, old: str, new: str) -> None:
        folded = self.casefold(old)
        for nicks in self._rooms.values():
            if nicks.pop(folded, None) is not None:
                nicks[self.casefold(new)] = new
