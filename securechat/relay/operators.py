"""
IRC operators and user modes: C{OPER}, C{KILL}, C{WALLOPS}, and C{MODE
ownnick [changes]}.  A mixin of L{securechat.relay.state.RelayState}; the
operators file is read by L{securechat.relay.opers}.

An IRC operator is the relay's administrator, not anyone's moderator: it
may disconnect a user (C{KILL}), write to every user who asked for it
(C{WALLOPS}, user mode C{+w}) and see C{+s} rooms in C{LIST}.  Like every
client, it still pays the flood bucket for each command.  None of this
reaches into a protected conversation: the relay cannot read one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Dict, Iterable, List, Sequence, Tuple

from ..numerics import (
    ERR_NEEDMOREPARAMS,
    ERR_NOOPERHOST,
    ERR_NOPRIVILEGES,
    ERR_NOSUCHNICK,
    ERR_PASSWDMISMATCH,
    ERR_UMODEUNKNOWNFLAG,
    RPL_UMODEIS,
    RPL_YOUREOPER,
    echo,
)
from .fit import formatFitted
from .queries import globMatcher
from .records import CLOSING
from .traits import trait

if TYPE_CHECKING:  # pragma: no cover
    from ..logevents import EventLog
    from .records import Client, RelayConfig

#: The user modes: C{i} (invisible: left out of C{WHO} and C{NAMES} of
#: whoever shares no room with the user), C{o} (IRC operator: given by
#: C{OPER} only, dropped with C{-o}), C{w} (receives C{WALLOPS}).
USER_MODES = "iow"
#: Failed C{OPER} attempts a connection may make: each costs a scrypt hash
#: on the relay's only thread, so past these the answer is 464 at once.
MAX_OPER_FAILURES = 3
#: The longest host mask an operators file entry is matched with.
MASK_LENGTH = 200


def formatUserModes(modes: str) -> str:
    return "+" + modes


@trait
class OperatorCommands:
    """OPER, KILL, WALLOPS and user modes for L{RelayState}."""

    # What RelayState, which this class is a trait of, provides (its own
    # come first in its method order: these are never called).
    config: RelayConfig
    clients: Dict[str, Client]
    fold: Callable[[str], str]
    log: EventLog

    def reply(self, client: Client, numeric: str, *params: str) -> None: ...

    def error(self, client: Client, reason: str) -> None: ...

    def remove(self, client: Client, reason: str) -> None: ...

    def irc_OPER(self, client: Client, params: Sequence[str]) -> None:
        """
        C{OPER name password}: 381 and C{+o}; 491 when no entry of the
        operators file matches the client's C{user@host}; 464 for a wrong
        name or password, or past L{MAX_OPER_FAILURES}.
        """
        if len(params) < 2:
            self.reply(client, ERR_NEEDMOREPARAMS, "OPER", "Not enough parameters")
            return
        name, password = params[0], params[1].encode("utf-8")
        address = "%s@%s" % (client.user, client.host)
        hostMatches = [
            entry for entry in self.config.opers
            if globMatcher(entry.mask, str.lower, MASK_LENGTH)(address)
        ]
        if not hostMatches:
            self.reply(client, ERR_NOOPERHOST, "No O-lines for your host")
            self.log.warn("OPER refused for {nick}@{host}: no O-line for the host",
                          nick=client.nick, host=client.host)
            return
        entry = None
        if client.operFailures < MAX_OPER_FAILURES:
            entry = next((e for e in hostMatches if e.name == name), None)
            # An unknown name is checked against another entry's hash (and
            # refused whatever the result): it takes as long as a wrong
            # password, so the time does not tell which names exist.
            checked = (entry or hostMatches[0]).password.verify(password)
            if not checked:
                entry = None
        if entry is None:
            client.operFailures += 1
            self.reply(client, ERR_PASSWDMISMATCH, "Password incorrect")
            self.log.warn("OPER refused for {nick}@{host}: wrong name or password",
                          nick=client.nick, host=client.host)
            return
        self.reply(client, RPL_YOUREOPER, "You are now an IRC operator")
        self._setUserModes(client, [(True, "o")])
        self.log.info("oper {nick}@{host} as {name}", nick=client.nick, host=client.host, name=name)

    def _notIrcOperator(self, client: Client) -> bool:
        """481 unless C{client} is an IRC operator; true when refused."""
        if client.isOper:
            return False
        self.reply(client, ERR_NOPRIVILEGES, "Permission Denied- You're not an IRC operator")
        return True

    def irc_KILL(self, client: Client, params: Sequence[str]) -> None:
        """
        C{KILL nick :reason}, by an IRC operator: the user gets C{KILL}
        and C{ERROR}, its room peers C{QUIT :Killed (oper (reason))}.
        """
        if len(params) < 2 or not params[1]:
            self.reply(client, ERR_NEEDMOREPARAMS, "KILL", "Not enough parameters")
            return
        if self._notIrcOperator(client):
            return
        victim = self.clients.get(self.fold(params[0]))
        if victim is None:
            self.reply(client, ERR_NOSUCHNICK, echo(params[0]), "No such nick/channel")
            return
        reason = params[1]
        victim.quitReason = why = "Killed (%s (%s))" % (client.nick, reason)
        maxLine = self.config.maxLine
        victim.write(formatFitted("KILL", (victim.nick, reason), client.prefix, maxLine))
        self.log.warn("kill {target} by {nick}: {reason}",
                      target=victim.nick, nick=client.nick, reason=reason)
        victim.write(formatFitted("ERROR", ("Closing Link: %s (%s)" % (victim.host, why),), None, maxLine))
        victim.phase = CLOSING
        victim.close()
        # Gone for everyone now, its nick free at once; the adapter's own
        # remove, when the connection is lost, then finds nothing to do.
        self.remove(victim, why)

    def irc_WALLOPS(self, client: Client, params: Sequence[str]) -> None:
        """C{WALLOPS :text}, by an IRC operator, to every user with C{+w} and every operator."""
        if not params or not params[0]:
            self.reply(client, ERR_NEEDMOREPARAMS, "WALLOPS", "Not enough parameters")
            return
        if self._notIrcOperator(client):
            return
        line = formatFitted("WALLOPS", (params[0],), client.prefix, self.config.maxLine)
        for peer in self._wallopsReaders():
            peer.write(line)
        self.log.info("wallops {nick}", nick=client.nick)

    def _wallopsReaders(self) -> Iterable[Client]:
        for peer in self.clients.values():
            modes = peer.umodes
            if modes and ("w" in modes or "o" in modes):
                yield peer

    def _userModes(self, client: Client, params: Sequence[str]) -> None:
        """
        C{MODE ownnick}: 221.  C{MODE ownnick +iw-o}: C{+i}, C{+w} and
        C{-o} apply (C{+o} only comes from C{OPER}, and is ignored here,
        as ircds do); each unknown letter gets 501.  What changed comes
        back as a C{MODE} line.
        """
        if not params or not params[0]:
            self.reply(client, RPL_UMODEIS, formatUserModes(client.umodes))
            return
        changes: List[Tuple[bool, str]] = []
        unknown = False
        adding = True
        for char in params[0]:
            if char in "+-":
                adding = char == "+"
            elif char not in USER_MODES:
                unknown = True
            elif not (char == "o" and adding):
                changes.append((adding, char))
        if unknown:
            self.reply(client, ERR_UMODEUNKNOWNFLAG, "Unknown MODE flag")
        self._setUserModes(client, changes)

    def _setUserModes(self, client: Client, changes: Sequence[Tuple[bool, str]]) -> None:
        """Apply C{(adding, mode)} changes; tell the client what changed."""
        modes = set(client.umodes)
        applied: List[str] = []
        sign = ""
        for adding, mode in changes:
            if adding == (mode in modes):
                continue
            if adding:
                modes.add(mode)
            else:
                modes.discard(mode)
            wanted = "+" if adding else "-"
            if wanted != sign:
                applied.append(wanted)
                sign = wanted
            applied.append(mode)
        if not applied:
            return
        client.umodes = "".join(sorted(modes))
        client.write(formatFitted("MODE", (client.nick, "".join(applied)), client.prefix, self.config.maxLine))
