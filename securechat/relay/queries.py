"""
The relay's read-only commands: NAMES, WHO, WHOIS, ISON, USERHOST and LIST.
A mixin of L{securechat.relay.state.RelayState}: each answers from the
state and changes nothing.  A C{+s} room is seen only by its members.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Dict, Iterable, List, Optional, Sequence

from ..numerics import (
    ERR_NEEDMOREPARAMS,
    ERR_NONICKNAMEGIVEN,
    ERR_NOSUCHNICK,
    ERR_TOOMANYTARGETS,
    RPL_AWAY,
    RPL_ENDOFNAMES,
    RPL_ENDOFWHO,
    RPL_ENDOFWHOIS,
    RPL_ISON,
    RPL_LIST,
    RPL_LISTEND,
    RPL_LISTSTART,
    RPL_NAMREPLY,
    RPL_USERHOST,
    RPL_WHOISCHANNELS,
    RPL_WHOISIDLE,
    RPL_WHOISOPERATOR,
    RPL_WHOISSERVER,
    RPL_WHOISUSER,
    RPL_WHOREPLY,
    echo,
)
from ..wire import formatMessage, splitTargets
from .traits import trait

if TYPE_CHECKING:  # pragma: no cover
    from .records import Client, RelayConfig, Room

#: Most entries a WHO mask lists (a room lists all its members).
WHO_LIMIT = 500
#: Most nicks one USERHOST asks about (RFC 2812 3.6.2).
USERHOST_LIMIT = 5


def statusOf(room: Room, folded: str, multiPrefix: bool) -> str:
    """C{@}, C{+} or nothing; C{@+} for both, to a multi-prefix client."""
    if folded in room.ops:
        return "@+" if multiPrefix and folded in room.voiced else "@"
    return "+" if folded in room.voiced else ""


def globMatcher(mask: str, fold: Callable[[str], str], longest: int) -> Callable[[str], bool]:
    """
    A test for names matching the IRC mask C{mask} (C{*} any run, C{?} one
    character), casefolded.  Greedy matching with one backtrack point, so
    no mask costs more than its length times the name's; runs of C{*} are
    one, and a mask needing more than C{longest} characters matches nothing.
    """
    pattern = fold(mask)
    while "**" in pattern:
        pattern = pattern.replace("**", "*")
    if len(pattern) - pattern.count("*") > longest:
        return lambda name: False

    def match(name: str) -> bool:
        text = fold(name)
        p = t = 0
        star = mark = -1
        while t < len(text):
            if p < len(pattern) and pattern[p] in ("?", text[t]):
                p += 1
                t += 1
            elif p < len(pattern) and pattern[p] == "*":
                star, mark = p, t
                p += 1
            elif star >= 0:
                p = star + 1
                mark += 1
                t = mark
            else:
                return False
        return pattern[p:].strip("*") == ""

    return match


@trait
class QueryCommands:
    """NAMES, WHO, WHOIS, ISON, USERHOST, LIST for L{RelayState}."""

    # What RelayState, which this class is a trait of, provides (its own
    # come first in its method order: these are never called).
    config: RelayConfig
    clients: Dict[str, Client]
    rooms: Dict[str, Room]
    fold: Callable[[str], str]
    now: Callable[[], float]

    def reply(self, client: Client, numeric: str, *params: str) -> None: ...

    def _visible(self, client: Client, room: Room) -> bool:
        """Whether C{client} may see C{room}: it is not +s, or it is a member."""
        return "s" not in room.modes or client.folded in room.members

    def _hidden(self, client: Client, peer: Client, room: Optional[Room]) -> bool:
        """
        Whether C{peer}'s user mode C{+i} hides it from C{client}'s C{WHO}
        or C{NAMES} (of C{room}, or of a nick or mask): unless C{client}
        is in that room (or, for a nick or mask, shares any room with
        it), is C{peer} itself, or is an IRC operator.
        """
        if "i" not in peer.umodes or peer is client or client.isOper:
            return False
        if room is not None:
            return client.folded not in room.members
        return not any(folded in peer.rooms for folded in client.rooms)

    def irc_NAMES(self, client: Client, params: Sequence[str]) -> None:
        if not params:
            for room in list(client.rooms.values()):
                self._names(client, room)
            if not client.rooms:
                self.reply(client, RPL_ENDOFNAMES, "*", "End of /NAMES list.")
            return
        for name in splitTargets(params[0]):
            found = self.rooms.get(self.fold(name))
            if found is None or not self._visible(client, found):
                self.reply(client, RPL_ENDOFNAMES, echo(name), "End of /NAMES list.")
            else:
                self._names(client, found)

    def _names(self, client: Client, room: Room) -> None:
        """353 lines (with status prefixes) that fit the line limit, then 366."""
        head = ":%s %s %s %s %s :" % (
            self.config.serverName,
            RPL_NAMREPLY,
            client.nick,
            "@" if "s" in room.modes else "=",
            room.name,
        )
        budget = self.config.maxLine - len(head.encode("utf-8")) - 2
        multi = client.multiPrefix
        batch: List[str] = []
        used = 0
        outsider = client.folded not in room.members
        for folded, member in room.members.items():
            if outsider and self._hidden(client, member, room):
                continue
            name = statusOf(room, folded, multi) + member.nick
            cost = len(name) + 1
            if batch and used + cost > budget:
                client.write((head + " ".join(batch) + "\r\n").encode("utf-8"))
                batch, used = [], 0
            batch.append(name)
            used += cost
        if batch:
            client.write((head + " ".join(batch) + "\r\n").encode("utf-8"))
        self.reply(client, RPL_ENDOFNAMES, room.name, "End of /NAMES list.")

    def irc_WHO(self, client: Client, params: Sequence[str]) -> None:
        """
        C{WHO #room}, C{WHO nick}, or a nick mask (C{WHO al*}, C{WHO *}, at
        most L{WHO_LIMIT} entries).  C{WHO mask o} asks for the IRC
        operators among them.  A user with C{+i} is left out unless the
        asker shares a room with it (see L{_hidden}).
        """
        mask = params[0] if params and params[0] not in ("", "0") else "*"
        operatorsOnly = len(params) > 1 and params[1] == "o"
        room = self.rooms.get(self.fold(mask)) if mask.startswith("#") else None

        def listed(peer: Client) -> bool:
            return (peer.isOper or not operatorsOnly) and not self._hidden(client, peer, room)

        members: Iterable[Client] = ()
        if mask.startswith("#"):
            if room is not None and self._visible(client, room):
                members = [m for m in room.members.values() if listed(m)]
        elif "*" not in mask and "?" not in mask:
            peer = self.clients.get(self.fold(mask))
            members = [peer] if peer is not None and listed(peer) else []
        else:
            matches = globMatcher(mask, self.fold, self.config.nickLength)
            found = []
            for peer in self.clients.values():
                if matches(peer.nick) and listed(peer):
                    found.append(peer)
                    if len(found) >= WHO_LIMIT:
                        break
            members = found
        for member in members:
            flags = "G" if member.away is not None else "H"
            if member.isOper:
                flags += "*"
            if room is not None:
                flags += statusOf(room, member.folded, client.multiPrefix)
            self.reply(
                client,
                RPL_WHOREPLY,
                room.name if room is not None else "*",
                member.user,
                member.host,
                self.config.serverName,
                member.nick,
                flags,
                "0 " + member.realname,
            )
        self.reply(client, RPL_ENDOFWHO, echo(mask), "End of /WHO list.")

    def irc_WHOIS(self, client: Client, params: Sequence[str]) -> None:
        """
        311, 319 (the rooms the asker may see), 312, 301, 317, then 318,
        per nick.  The host is the one every prefix already shows: no
        other address is revealed.
        """
        if not params or not params[-1]:
            self.reply(client, ERR_NONICKNAMEGIVEN, "No nickname given")
            return
        nicks = splitTargets(params[-1])
        if len(nicks) > self.config.maxTargets:
            self.reply(client, ERR_TOOMANYTARGETS, echo(params[-1]), "Too many targets")
            return
        config = self.config
        for nick in nicks:
            peer = self.clients.get(self.fold(nick))
            if peer is None:
                self.reply(client, ERR_NOSUCHNICK, echo(nick), "No such nick/channel")
                self.reply(client, RPL_ENDOFWHOIS, echo(nick), "End of /WHOIS list.")
                continue
            self.reply(client, RPL_WHOISUSER, peer.nick, peer.user, peer.host, "*", peer.realname)
            rooms = [
                statusOf(room, peer.folded, client.multiPrefix) + room.name
                for room in peer.rooms.values()
                if self._visible(client, room)
            ]
            self._whoisChannels(client, peer.nick, rooms)
            self.reply(client, RPL_WHOISSERVER, peer.nick, config.serverName, config.networkName)
            if peer.isOper:
                self.reply(client, RPL_WHOISOPERATOR, peer.nick, "is an IRC operator")
            if peer.away is not None:
                self.reply(client, RPL_AWAY, peer.nick, peer.away)
            idle = max(0, int(self.now() - (peer.active or peer.signon)))
            self.reply(
                client,
                RPL_WHOISIDLE,
                peer.nick,
                str(idle),
                str(peer.signon),
                "seconds idle, signon time",
            )
            self.reply(client, RPL_ENDOFWHOIS, peer.nick, "End of /WHOIS list.")

    def _whoisChannels(self, client: Client, nick: str, rooms: List[str]) -> None:
        """319 lines, as many as the line limit needs (a nick may be in 50 rooms)."""
        head = len(
            formatMessage(RPL_WHOISCHANNELS, (client.nick or "*", nick, "x"), self.config.serverName)
        )
        budget = self.config.maxLine - head
        batch: List[str] = []
        used = 0
        for name in rooms:
            if batch and used + len(name) + 1 > budget:
                self.reply(client, RPL_WHOISCHANNELS, nick, " ".join(batch))
                batch, used = [], 0
            batch.append(name)
            used += len(name) + 1
        if batch:
            self.reply(client, RPL_WHOISCHANNELS, nick, " ".join(batch))

    def irc_ISON(self, client: Client, params: Sequence[str]) -> None:
        """
        303 with those of the nicks asked about who are here, as they spell
        them, as many as one line holds.
        """
        if not params:
            self.reply(client, ERR_NEEDMOREPARAMS, "ISON", "Not enough parameters")
            return
        # The reply must fit one line: its nicks are as long as those asked
        # about, but the server's prefix comes on top.
        budget = self.config.maxLine - len(
            formatMessage(RPL_ISON, (client.nick or "*", "x"), self.config.serverName)
        )
        here: List[str] = []
        used = 0
        for word in params:
            for nick in word.split():
                peer = self.clients.get(self.fold(nick))
                if peer is not None and used + len(peer.nick) + 1 <= budget:
                    here.append(peer.nick)
                    used += len(peer.nick) + 1
        self.reply(client, RPL_ISON, " ".join(here))

    def irc_USERHOST(self, client: Client, params: Sequence[str]) -> None:
        """302: C{nick=+user@host} (C{-} when away) for up to five nicks."""
        if not params:
            self.reply(client, ERR_NEEDMOREPARAMS, "USERHOST", "Not enough parameters")
            return
        replies = []
        for nick in [n for word in params for n in word.split()][:USERHOST_LIMIT]:
            peer = self.clients.get(self.fold(nick))
            if peer is not None:
                replies.append(
                    "%s=%s%s@%s"
                    % (peer.nick, "-" if peer.away is not None else "+", peer.user, peer.host)
                )
        self.reply(client, RPL_USERHOST, " ".join(replies))

    def irc_LIST(self, client: Client, params: Sequence[str]) -> None:
        """
        321, a 322 per room (all, or those named), 323.  A +s room is
        listed only to its members and to IRC operators.
        """
        if params and params[0]:
            rooms = [self.rooms.get(self.fold(name)) for name in splitTargets(params[0])]
        else:
            rooms = list(self.rooms.values())
        self.reply(client, RPL_LISTSTART, "Channel", "Users  Name")
        for room in rooms:
            if room is not None and (client.isOper or self._visible(client, room)):
                self.reply(client, RPL_LIST, room.name, str(len(room.members)), room.topic)
        self.reply(client, RPL_LISTEND, "End of /LIST")

