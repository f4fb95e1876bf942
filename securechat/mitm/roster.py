"""
Who is in which room, as a relay in the middle sees it.

Every JOIN, PART, KICK, QUIT, NICK and NAMES reply flows through the
proxy in the clear, whatever the codec does to bodies: membership is
metadata, and this is the relay knowing it.  The attacks use it to pick
"another member" to blame or "another room" both ends share.
"""

from __future__ import annotations

from typing import Callable, Dict, List, Optional, Set

from ..numerics import RPL_ENDOFNAMES, RPL_NAMREPLY
from ..wire import Message, isMiddleParam, rfc1459Casefold


def isRoomName(room: str) -> bool:
    """Whether an attack can write C{room} back as a line's one target."""
    return isMiddleParam(room) and "," not in room


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
        # folded room -> the NAMES listing arriving for it, until its 366
        self._listing: Dict[str, Dict[str, str]] = {}

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
            self.forget(nick)
        elif command == "NICK" and nick and params:
            self._rename(nick, params[0])
        elif command == RPL_NAMREPLY and len(params) >= 4:
            # Members at once (the attacks may need them before the 366),
            # and into the listing that replaces the room's at the 366.
            listing = self._listing.setdefault(self.casefold(params[2]), {})
            for name in params[3].split():
                nick = name.lstrip(NICK_PREFIXES)
                self._add(params[2], nick)
                if isMiddleParam(nick):
                    listing[self.casefold(nick)] = nick
        elif command == RPL_ENDOFNAMES and len(params) >= 2:
            self._listed(params[1])

    def forget(self, nick: str) -> None:
        """
        C{nick} left the relay.  For a proxied client whose connection
        closed: when it was alone in its rooms, nobody else sees its QUIT.
        """
        for room in list(self._rooms):
            self._remove(room, nick)

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
        # Only names the attacks can write back into a line.
        if not isMiddleParam(nick) or not isRoomName(room):
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
            self._discard(folded)

    def _listed(self, room: str) -> None:
        """
        A 366: the NAMES listing (empty if no 353 came) is the room's
        membership, so whoever left unseen is gone.
        """
        folded = self.casefold(room)
        listing = self._listing.pop(folded, {})
        if listing and isRoomName(room):
            self._rooms[folded] = listing
            self._names[folded] = room
        else:
            self._discard(folded)

    def _discard(self, folded: str) -> None:
        self._rooms.pop(folded, None)
        self._names.pop(folded, None)

    def _rename(self, old: str, new: str) -> None:
        folded = self.casefold(old)
        for room in list(self._rooms):
            nicks = self._rooms[room]
            if nicks.pop(folded, None) is None:
                continue
            if isMiddleParam(new):
                nicks[self.casefold(new)] = new
            elif not nicks:
                self._discard(room)
