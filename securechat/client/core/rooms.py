"""
The session's part that knows where we are: the rooms the user wants, the
ones we are in and their members, as JOIN, PART, KICK, QUIT and NICK, NAMES,
WHO and TOPIC report them, and the user's room and WHOIS commands.
"""

from __future__ import annotations

from typing import Callable, Dict, Optional

from ...logevents import EventLog
from ...numerics import (
    RPL_ENDOFNAMES,
    RPL_ENDOFWHO,
    RPL_ENDOFWHOIS,
    RPL_NAMREPLY,
    RPL_NOTOPIC,
    RPL_TOPIC,
    RPL_TOPICWHOTIME,
    RPL_WHOREPLY,
)
from ...wire import Message, isMiddleParam
from . import events as ev
from .listings import MAX_NICKLEN, MAX_ROOM_MEMBERS, NamesCollector, WhoCollector
from .replies import describeWhois
from .rules import MAX_UNSOLICITED_ROOMS, CommandError, Server, checkText, checkWord

#: A room's phase for this session (L{Rooms.phaseOf}): not ours; wanted by
#: the user, not (yet) joined; joined and wanted; joined, but the user
#: parted and the server has not said so yet; joined by the server's
#: doing, never asked for (nothing is sent there until the user /joins).
OUTSIDE = "outside"
WANTED = "wanted"
JOINED = "joined"
LEAVING = "leaving"
UNSOLICITED = "unsolicited"
#: What the user may do with a room in each phase: C{part} sends a PART
#: (or, for a room only wanted, forgets the wish); C{say} lets messages go
#: there.  What is not here is refused.
ROOM_ALLOWS = {
    OUTSIDE: frozenset(),
    WANTED: frozenset({"part"}),
    JOINED: frozenset({"part", "say"}),
    LEAVING: frozenset({"part", "say"}),
    UNSOLICITED: frozenset({"part"}),
}


class _Room:
    """A room we are in: its name as the server spells it, and its members."""

    __slots__ = ("name", "members", "full")

    def __init__(self, name: str) -> None:
        self.name = name
        self.members: Dict[str, str] = {}
        #: Set once a member was not kept for L{MAX_ROOM_MEMBERS} (the user told).
        self.full = False


class Rooms:
    """
    The rooms of one session: C{wanted} lasts across connections (rejoined
    after a reconnect), C{rooms} and the rooms the server put us in unasked
    last one connection.  C{layerFor} says what protection a room has, for
    the events that announce it.
    """

    def __init__(
        self,
        registration: Server,
        layerFor: Callable[[str], str],
        emit: Callable[[ev.Event], None],
        log: EventLog,
    ) -> None:
        self._server = registration
        self._layerFor = layerFor
        self.emit = emit
        self.log = log
        #: Folded room -> its state, for the rooms we are in (this connection).
        self.rooms: Dict[str, _Room] = {}
        #: Rooms the user wants to be in: rejoined after a reconnect.
        self.wanted: Dict[str, str] = {}
        #: Folded room -> name, for rooms the server says we joined though the
        #: user never asked (L{MAX_UNSOLICITED_ROOMS} at most, this connection
        #: only): never in C{rooms} nor C{wanted} until the user joins them.
        self._unsolicited: Dict[str, str] = {}
        #: NAMES and WHO replies arriving in pieces, kept within bounds.
        self._names = NamesCollector(self._notice, log)
        self._who = WhoCollector(self._notice, log)

    def _notice(self, text: str) -> None:
        self.emit(ev.Notice(text))

    def fold(self, name: str) -> str:
        return self._server.fold(name)

    def phaseOf(self, room: str) -> str:
        """C{room}'s phase (L{ROOM_ALLOWS}), as the server spells or folds it."""
        folded = self.fold(room)
        if folded in self.rooms:
            return JOINED if folded in self.wanted else LEAVING
        if folded in self._unsolicited:
            return UNSOLICITED
        return WANTED if folded in self.wanted else OUTSIDE

    def allows(self, room: str, action: str) -> bool:
        """Whether C{room}'s phase lets the user do C{action} (L{ROOM_ALLOWS})."""
        return action in ROOM_ALLOWS[self.phaseOf(room)]

    def joined(self, room: str) -> bool:
        """Whether messages may go to C{room}: we are in it."""
        return self.allows(room, "say")

    def reset(self) -> None:
        """A connection came or went: no room is ours until the server says so again."""
        self.rooms = {}
        self._unsolicited = {}
        self._names.reset()
        self._who.reset()

    def rejoin(self) -> None:
        """Registered: join every room the user wants."""
        for name in list(self.wanted.values()):
            self._server.write("JOIN", name)

    def refold(self) -> None:
        """
        The server's case mapping changed: re-key what is kept by folded
        name (a room joined as C{#a[b]} before a 005 said ascii is still
        the room the server then echoes).
        """
        fold = self.fold
        self.wanted = {fold(name): name for name in self.wanted.values()}
        self._unsolicited = {fold(name): name for name in self._unsolicited.values()}
        rooms = {}
        for state in self.rooms.values():
            state.members = {fold(nick): nick for nick in state.members.values()}
            rooms[fold(state.name)] = state
        self.rooms = rooms

    def numeric(self, message: Message) -> bool:
        """A reply about rooms or members (NAMES, WHO, TOPIC, WHOIS): whether it was one."""
        code = message.command
        params = message.params
        if code == RPL_NAMREPLY and len(params) >= 4:
            folded = self.fold(params[2])
            self._names.reply(folded, params[2], params[3], folded in self.rooms)
        elif code == RPL_ENDOFNAMES and len(params) >= 2:
            self._endOfNames(params[1])
        elif code == RPL_WHOREPLY and len(params) >= 8:
            realname = params[7].split(" ", 1)[1] if " " in params[7] else ""
            self._who.reply(ev.WhoEntry(params[5], params[2], params[3], realname))
        elif code == RPL_ENDOFWHO and len(params) >= 2:
            self._endOfWho(params[1])
        elif code in (RPL_NOTOPIC, RPL_TOPIC) and len(params) >= 2:
            topic = params[2] if code == RPL_TOPIC and len(params) > 2 else ""
            self.emit(ev.Topic(params[1], topic))
        elif code in (RPL_TOPICWHOTIME, RPL_ENDOFWHOIS):
            pass
        elif (whois := describeWhois(code, params)) is not None:
            self.emit(ev.Whois(*whois))
        else:
            return False
        return True

    def _endOfNames(self, room: str) -> None:
        """A 366: the NAMES reply for C{room} is complete; a room of ours learns its members."""
        folded = self.fold(room)
        state = self.rooms.get(folded)
        reply = self._names.end(folded, room, state is not None)
        if reply is None:
            return
        name, nicks = reply
        if state is not None:
            name = state.name
            state.members = {self.fold(nick): nick for nick in nicks}
        self.emit(ev.Names(name, tuple(nicks)))

    def _endOfWho(self, mask: str) -> None:
        who = self._who.end(mask)
        if who is not None:
            self.emit(who)

    def joinReceived(self, message: Message) -> None:
        if not message.params:
            return
        nick = message.sourceNick or ""
        for room in message.params[0].split(","):
            folded = self.fold(room)
            if self._server.isMe(nick):
                if folded not in self.wanted:
                    self._unsolicitedJoin(room, folded)
                    continue
                self._enter(room, folded, nick)
            else:
                state = self.rooms.get(folded)
                if state is not None:
                    self._addMember(state, nick)
                self.emit(ev.Joined(room, nick, False, self._layerFor(room)))

    def _enter(self, room: str, folded: str, nick: str) -> None:
        """We (C{nick}) are in C{room}, one the user asked for: track it and say so."""
        self._unsolicited.pop(folded, None)
        state = self.rooms[folded] = _Room(room)
        state.members[self.fold(nick)] = nick
        self.emit(ev.Joined(room, nick, True, self._layerFor(room)))

    def _addMember(self, state: _Room, nick: str) -> None:
        """
        C{nick} is in C{state}'s room: kept unless it is longer than any
        nick (L{MAX_NICKLEN}) or the room already holds L{MAX_ROOM_MEMBERS}
        others, so a relay inventing JOINs cannot grow the session; the
        user is told once per room.
        """
        folded = self.fold(nick)
        if len(nick) > MAX_NICKLEN:
            return
        if folded not in state.members and len(state.members) >= MAX_ROOM_MEMBERS:
            if not state.full:
                state.full = True
                self.emit(
                    ev.Notice(
                        "%s has more than %d members: later ones are not tracked"
                        % (state.name, MAX_ROOM_MEMBERS)
                    )
                )
            return
        state.members[folded] = nick

    def _unsolicitedJoin(self, room: str, folded: str) -> None:
        """
        The server says we joined C{room}, which the user never asked for
        (not /join, not --join).  A careful user expects not to be placed in
        rooms behind their back, where what they type could go to people
        they did not choose: the room is not entered (no C{rooms}, so nothing
        can be sent there) and never rejoined after a reconnect (no
        C{wanted}); the user is told, and may /join or /part it.
        """
        if folded in self._unsolicited or len(self._unsolicited) < MAX_UNSOLICITED_ROOMS:
            self._unsolicited[folded] = room
        self.log.warn("the server says we joined {room}, which we did not ask for", room=room)
        self.emit(
            ev.Notice(
                "the server says you joined %s, which you did not ask for: ignored "
                "(/join %s to take part, /part %s to leave)" % (room, room, room)
            )
        )

    def topicReceived(self, message: Message) -> None:
        if len(message.params) >= 2:
            self.emit(ev.Topic(message.params[0], message.params[1], message.sourceNick, True))

    def partReceived(self, message: Message) -> None:
        if not message.params:
            return
        nick = message.sourceNick or ""
        reason = message.params[1] if len(message.params) > 1 else ""
        for room in message.params[0].split(","):
            self._left(room, nick, reason)

    def kickReceived(self, message: Message) -> None:
        if len(message.params) < 2:
            return
        reason = "kicked by %s" % (message.sourceNick,)
        if len(message.params) > 2:
            reason += ": " + message.params[2]
        self._left(message.params[0], message.params[1], reason)

    def _left(self, room: str, nick: str, reason: str) -> None:
        folded = self.fold(room)
        me = self._server.isMe(nick)
        if me:
            self.rooms.pop(folded, None)
            self.wanted.pop(folded, None)
            self._unsolicited.pop(folded, None)
        else:
            state = self.rooms.get(folded)
            if state is not None:
                state.members.pop(self.fold(nick), None)
        self.emit(ev.Parted(room, nick, me, reason))

    def quitReceived(self, message: Message) -> None:
        nick = message.sourceNick or ""
        folded = self.fold(nick)
        shared = []
        for state in self.rooms.values():
            if state.members.pop(folded, None) is not None:
                shared.append(state.name)
        reason = message.params[0] if message.params else ""
        self.emit(ev.UserQuit(nick, reason, tuple(shared)))

    def renamed(self, old: str, new: str) -> None:
        """C{old} is now called C{new}: in each room it was in."""
        oldFolded = self.fold(old)
        for state in self.rooms.values():
            if state.members.pop(oldFolded, None) is not None:
                self._addMember(state, new)

    # The user's room commands.

    def want(self, room: str) -> None:
        """C{room} is wanted (rejoined after a reconnect), though nothing is sent for it here."""
        if self._server.isRoom(room):
            self.wanted[self.fold(room)] = room

    def join(self, room: str) -> None:
        """Join C{room} now if connected, and after every reconnect."""
        if not self._server.isRoom(room) or "," in room or not isMiddleParam(room):
            raise CommandError("%r is not a room name (rooms start with %s)" % (room, self._server.chanTypes))
        folded = self.fold(room)
        self.wanted[folded] = room
        if self._server.allows("join"):
            self._server.write("JOIN", room)
            if folded in self._unsolicited:
                # The server already put us there (and ignores a second
                # JOIN): now that the user asks for it, take part.
                self._enter(self._unsolicited[folded], folded, self._server.nick)

    def part(self, room: str, reason: str = "") -> None:
        checkText("reason", reason)
        phase = self.phaseOf(room)
        if "part" not in ROOM_ALLOWS[phase]:
            raise CommandError("you are not in %s" % (room,))
        folded = self.fold(room)
        self.wanted.pop(folded, None)
        self._unsolicited.pop(folded, None)
        if self._server.allows("part") and phase is not WANTED:
            if reason:
                self._server.write("PART", room, reason)
            else:
                self._server.write("PART", room)

    def names(self, room: str) -> None:
        checkWord("room", room)
        self._server.writeAllowed("ask", "NAMES", room)
        # The user's own requests: their replies are the only ones kept for
        # rooms we are not in.
        for part in room.split(","):
            if part:
                self._names.asked(self.fold(part))

    def who(self, mask: str) -> None:
        checkWord("mask", mask)
        self._server.writeAllowed("ask", "WHO", mask)
        # Replies are kept only while one of the user's own WHOs is pending.
        self._who.asked()

    def topic(self, room: str, text: Optional[str] = None) -> None:
        """Ask C{room}'s topic, or set it to C{text} (plain IRC text: the relay reads it)."""
        checkWord("room", room)
        if text is None:
            self._server.writeAllowed("ask", "TOPIC", room)
            return
        checkText("topic", text)
        self._server.writeAllowed("ask", "TOPIC", room, text)

    def whois(self, nick: str) -> None:
        checkWord("nick", nick)
        self._server.writeAllowed("ask", "WHOIS", nick)
