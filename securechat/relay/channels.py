"""
What channel operators do: TOPIC (C{+t}), MODE, KICK and INVITE.  A mixin
of L{securechat.relay.state.RelayState}; the mode text itself is read and
written by L{securechat.relay.modes}.

The first member of a new room is its operator.  Operator rights are about
the room only: every command still costs its flood token and every reply
counts against the SendQ, as for anyone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Dict, List, Sequence

from ..numerics import (
    ERR_CHANOPRIVSNEEDED,
    ERR_INVALIDMODEPARAM,
    ERR_NEEDMOREPARAMS,
    ERR_NOSUCHCHANNEL,
    ERR_NOSUCHNICK,
    ERR_NOTONCHANNEL,
    ERR_TOOMANYTARGETS,
    ERR_UNKNOWNMODE,
    ERR_USERNOTINCHANNEL,
    ERR_USERONCHANNEL,
    ERR_USERSDONTMATCH,
    RPL_AWAY,
    RPL_CHANNELMODEIS,
    RPL_CREATIONTIME,
    RPL_ENDOFBANLIST,
    RPL_INVITING,
    RPL_NOTOPIC,
    RPL_TOPIC,
    RPL_TOPICWHOTIME,
    echo,
)
from ..wire import formatMessage, splitTargets
from .modes import (
    FLAG_MODES,
    STATUS_MODES,
    ModeChange,
    formatModeChanges,
    parseModeChanges,
    roomModes,
)
from .operators import OperatorCommands
from .traits import trait

if TYPE_CHECKING:  # pragma: no cover
    from ..logevents import EventLog
    from .records import Client, RelayConfig, Room


@trait
class ChannelCommands(OperatorCommands):
    """
    TOPIC, MODE, KICK, INVITE for L{RelayState}; on L{OperatorCommands},
    whose user modes C{MODE nick} sets.
    """

    # What RelayState, which this class is a trait of, provides (its own
    # come first in its method order: these are never called).
    config: RelayConfig
    clients: Dict[str, Client]
    rooms: Dict[str, Room]
    fold: Callable[[str], str]
    now: Callable[[], float]
    log: EventLog

    def reply(self, client: Client, numeric: str, *params: str) -> None: ...

    def _leave(self, client: Client, room: Room) -> None: ...

    def _broadcast(self, room: Room, line: bytes) -> None:
        for member in room.members.values():
            member.write(line)

    def _notOperator(self, client: Client, room: Room) -> bool:
        """482 unless C{client} is an operator of C{room}; true when refused."""
        if client.folded in room.ops:
            return False
        self.reply(client, ERR_CHANOPRIVSNEEDED, room.name, "You're not channel operator")
        return True

    def irc_TOPIC(self, client: Client, params: Sequence[str]) -> None:
        if not params:
            self.reply(client, ERR_NEEDMOREPARAMS, "TOPIC", "Not enough parameters")
            return
        name = params[0]
        room = self.rooms.get(self.fold(name))
        if room is None:
            self.reply(client, ERR_NOSUCHCHANNEL, echo(name), "No such channel")
            return
        member = client.folded in room.members
        if len(params) < 2:
            if not member and "s" in room.modes:
                self.reply(client, ERR_NOTONCHANNEL, room.name, "You're not on that channel")
            elif room.topic:
                self._sendTopic(client, room)
            else:
                self.reply(client, RPL_NOTOPIC, room.name, "No topic is set")
            return
        if not member:
            self.reply(client, ERR_NOTONCHANNEL, room.name, "You're not on that channel")
            return
        if "t" in room.modes and self._notOperator(client, room):
            return
        room.topic = params[1][: self.config.topicLength]
        room.topicBy = client.prefix
        room.topicAt = int(self.now())
        self._broadcast(room, formatMessage("TOPIC", (room.name, room.topic), client.prefix))
        self.log.info("topic {nick} {room}", nick=client.nick, room=room.name)

    def _sendTopic(self, client: Client, room: Room) -> None:
        self.reply(client, RPL_TOPIC, room.name, room.topic)
        self.reply(client, RPL_TOPICWHOTIME, room.name, room.topicBy, str(room.topicAt))

    def irc_MODE(self, client: Client, params: Sequence[str]) -> None:
        """
        C{MODE #room} answers 324 and 329; C{MODE #room changes...} applies
        what an operator may (see L{securechat.relay.modes}) and tells the
        room.  C{MODE ownnick [changes]}: the user modes (see
        L{securechat.relay.operators}).
        """
        if not params:
            self.reply(client, ERR_NEEDMOREPARAMS, "MODE", "Not enough parameters")
            return
        target = params[0]
        folded = self.fold(target)
        if target.startswith("#"):
            room = self.rooms.get(folded)
            if room is None:
                self.reply(client, ERR_NOSUCHCHANNEL, echo(target), "No such channel")
            elif len(params) == 1 or not params[1]:
                modes = roomModes(
                    "".join(room.modes), room.key, room.limit, client.folded in room.members
                )
                self.reply(client, RPL_CHANNELMODEIS, room.name, *modes)
                self.reply(client, RPL_CREATIONTIME, room.name, str(room.created))
            else:
                self._changeModes(client, room, params[1], params[2:])
        elif folded == client.folded:
            self._userModes(client, params[1:])
        elif folded in self.clients:
            self.reply(client, ERR_USERSDONTMATCH, "Cannot change mode for other users")
        else:
            self.reply(client, ERR_NOSUCHNICK, echo(target), "No such nick/channel")

    def _changeModes(
        self, client: Client, room: Room, text: str, args: Sequence[str]
    ) -> None:
        parsed = parseModeChanges(text, args)
        for char in parsed.unknown:
            self.reply(client, ERR_UNKNOWNMODE, echo(char), "is unknown mode char to me")
        if parsed.banList:
            self.reply(client, RPL_ENDOFBANLIST, room.name, "End of channel ban list")
        if not parsed.changes and not parsed.invalid:
            return
        if self._notOperator(client, room):
            return
        for mode, arg, reason in parsed.invalid:
            self.reply(client, ERR_INVALIDMODEPARAM, room.name, mode, echo(arg), reason)
        applied: List[ModeChange] = []
        for change in parsed.changes:
            applied.extend(self._applyMode(client, room, change))
        if applied:
            line = formatMessage(
                "MODE", [room.name] + formatModeChanges(applied), client.prefix
            )
            self._broadcast(room, line)
            self.log.info(
                "mode {nick} {room} {modes}",
                nick=client.nick,
                room=room.name,
                modes=" ".join(formatModeChanges(applied)),
            )

    def _applyMode(self, client: Client, room: Room, change: ModeChange) -> List[ModeChange]:
        """Apply one change; what actually changed (nothing, or the change)."""
        mode, adding = change.mode, change.adding
        if mode in FLAG_MODES:
            if mode == "n" and not adding:
                self.reply(client, ERR_UNKNOWNMODE, "n", "is always set here: only members speak")
                return []
            if adding == (mode in room.modes):
                return []
            if adding:
                room.modes.add(mode)
            else:
                room.modes.discard(mode)
            return [change]
        if mode in STATUS_MODES:
            peer = self.clients.get(self.fold(change.arg or ""))
            if peer is None:
                self.reply(client, ERR_NOSUCHNICK, echo(change.arg or ""), "No such nick/channel")
                return []
            if peer.folded not in room.members:
                self.reply(
                    client, ERR_USERNOTINCHANNEL, peer.nick, room.name, "They aren't on that channel"
                )
                return []
            statuses = room.ops if mode == "o" else room.voiced
            if adding == (peer.folded in statuses):
                return []
            if adding:
                statuses.add(peer.folded)
            else:
                statuses.discard(peer.folded)
            return [ModeChange(adding, mode, peer.nick)]
        if mode == "k":
            if (room.key == change.arg) if adding else room.key is None:
                return []
            room.key = change.arg if adding else None
            return [change]
        # "l"
        limit = int(change.arg) if adding and change.arg else 0
        if limit == room.limit:
            return []
        room.limit = limit
        return [ModeChange(adding, "l", str(limit) if adding else None)]

    def irc_KICK(self, client: Client, params: Sequence[str]) -> None:
        """C{KICK #room nick[,nick] [:reason]}: an operator removes members."""
        if len(params) < 2:
            self.reply(client, ERR_NEEDMOREPARAMS, "KICK", "Not enough parameters")
            return
        room = self.rooms.get(self.fold(params[0]))
        if room is None:
            self.reply(client, ERR_NOSUCHCHANNEL, echo(params[0]), "No such channel")
            return
        if client.folded not in room.members:
            self.reply(client, ERR_NOTONCHANNEL, room.name, "You're not on that channel")
            return
        if self._notOperator(client, room):
            return
        nicks = splitTargets(params[1])
        if len(nicks) > self.config.maxTargets:
            self.reply(client, ERR_TOOMANYTARGETS, echo(params[1]), "Too many targets")
            return
        reason = (params[2] if len(params) > 2 and params[2] else client.nick)[
            : self.config.topicLength
        ]
        for nick in nicks:
            member = room.members.get(self.fold(nick))
            if member is None:
                self.reply(
                    client, ERR_USERNOTINCHANNEL, echo(nick), room.name, "They aren't on that channel"
                )
                continue
            self._broadcast(
                room, formatMessage("KICK", (room.name, member.nick, reason), client.prefix)
            )
            self._leave(member, room)
            self.log.info(
                "kick {nick} {room} {target}", nick=client.nick, room=room.name, target=member.nick
            )

    def irc_INVITE(self, client: Client, params: Sequence[str]) -> None:
        """C{INVITE nick #room}: lets C{nick} past C{+i} once."""
        if len(params) < 2:
            self.reply(client, ERR_NEEDMOREPARAMS, "INVITE", "Not enough parameters")
            return
        peer = self.clients.get(self.fold(params[0]))
        if peer is None:
            self.reply(client, ERR_NOSUCHNICK, echo(params[0]), "No such nick/channel")
            return
        room = self.rooms.get(self.fold(params[1]))
        if room is None:
            self.reply(client, ERR_NOSUCHCHANNEL, echo(params[1]), "No such channel")
            return
        if client.folded not in room.members:
            self.reply(client, ERR_NOTONCHANNEL, room.name, "You're not on that channel")
            return
        if peer.folded in room.members:
            self.reply(client, ERR_USERONCHANNEL, peer.nick, room.name, "is already on channel")
            return
        if "i" in room.modes and self._notOperator(client, room):
            return
        room.invited.pop(peer, None)
        room.invited[peer] = None
        if len(room.invited) > MAX_INVITES:
            del room.invited[next(iter(room.invited))]
        self.reply(client, RPL_INVITING, peer.nick, room.name)
        peer.write(formatMessage("INVITE", (peer.nick, room.name), client.prefix))
        if peer.away is not None:
            self.reply(client, RPL_AWAY, peer.nick, peer.away)
        self.log.info("invite {nick} {room} {target}", nick=client.nick, room=room.name, target=peer.nick)


#: Most pending invitations a room keeps; the oldest goes first.
MAX_INVITES = 100
