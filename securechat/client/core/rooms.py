"""
Rooms and their members: JOIN, PART, KICK, QUIT and NICK as the server
reports them, NAMES, WHO and TOPIC, and the user's room and WHOIS commands.
"""

from __future__ import annotations

from typing import Optional

from ...wire import (
    Message,
    isMiddleParam,
)
from . import events as ev
from .keyed import KeyedName
from .listings import MAX_NICKLEN, MAX_ROOM_MEMBERS
from .sessionbase import (
    MAX_UNSOLICITED_ROOMS,
    CommandError,
    SessionBase,
    _Room,
    checkText,
    checkWord,
)


class Rooms(SessionBase):
    """Rooms and their members: JOIN, PART, KICK, QUIT and NICK as the server"""

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

    def irc_JOIN(self, message: Message) -> None:
        if not message.params:
            return
        nick = message.sourceNick or ""
        for room in message.params[0].split(","):
            folded = self.fold(room)
            if self._isMe(nick):
                if folded not in self.wanted:
                    self._unsolicitedJoin(room, folded)
                    continue
                self._enter(room, folded, nick)
            else:
                state = self.rooms.get(folded)
                if state is not None:
                    self._addMember(state, nick)
                self.emit(ev.Joined(room, nick, False, self.layerFor(room)))

    def _enter(self, room: str, folded: str, nick: str) -> None:
        """We (C{nick}) are in C{room}, one the user asked for: track it and say so."""
        self._unsolicited.pop(folded, None)
        state = self.rooms[folded] = _Room(room)
        state.members[self.fold(nick)] = nick
        self.emit(ev.Joined(room, nick, True, self.layerFor(room)))

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

    def irc_TOPIC(self, message: Message) -> None:
        if len(message.params) >= 2:
            self.emit(ev.Topic(message.params[0], message.params[1], message.sourceNick, True))

    def irc_PART(self, message: Message) -> None:
        if not message.params:
            return
        nick = message.sourceNick or ""
        reason = message.params[1] if len(message.params) > 1 else ""
        for room in message.params[0].split(","):
            self._left(room, nick, reason)

    def irc_KICK(self, message: Message) -> None:
        if len(message.params) < 2:
            return
        reason = "kicked by %s" % (message.sourceNick,)
        if len(message.params) > 2:
            reason += ": " + message.params[2]
        self._left(message.params[0], message.params[1], reason)

    def _left(self, room: str, nick: str, reason: str) -> None:
        folded = self.fold(room)
        me = self._isMe(nick)
        if me:
            self.rooms.pop(folded, None)
            self.wanted.pop(folded, None)
            self._unsolicited.pop(folded, None)
        else:
            state = self.rooms.get(folded)
            if state is not None:
                state.members.pop(self.fold(nick), None)
        self.emit(ev.Parted(room, nick, me, reason))

    def irc_QUIT(self, message: Message) -> None:
        nick = message.sourceNick or ""
        folded = self.fold(nick)
        shared = []
        for state in self.rooms.values():
            if state.members.pop(folded, None) is not None:
                shared.append(state.name)
        reason = message.params[0] if message.params else ""
        self.emit(ev.UserQuit(nick, reason, tuple(shared)))

    def irc_NICK(self, message: Message) -> None:
        if not message.params:
            return
        old = message.sourceNick or ""
        new = message.params[0]
        me = self._isMe(old)
        oldFolded = self.fold(old)
        for state in self.rooms.values():
            if state.members.pop(oldFolded, None) is not None:
                self._addMember(state, new)
        oldKey, newKey = self.codecFold(old), self.codecFold(new)
        if not me and oldKey in self._keyedNames:
            # Also while the peer's key is being derived: the console's
            # window follows the peer to the new nick, and what is typed
            # there must not go out in clear (what waits stays for the old).
            layer = self.expectedLayer(old)
            keyedOld = self._keyedNames[oldKey]
            keyedOld.layer = None
            if keyedOld.empty:
                del self._keyedNames[oldKey]
            self._keyedNames.setdefault(newKey, KeyedName()).layer = layer
        reason = ""
        answered = False
        if me:
            answered = self._answers(new)
            # Not requestedNick: that stays the user's choice, the nick to
            # register with after a reconnect and the only one to seal under.
            self.nick = new
            if self.prefix is not None:
                self.prefix = new + self.prefix[len(old):]
            if any(
                " " in target and record.conversation is not None and record.conversation.keys is not None
                for target, record in self._targets.items()
            ):
                reason = "direct-message keys were set for the old nick: set them again"
        self.emit(ev.NickChanged(old, new, me, reason))
        if me and answered and self.nickConfirmed:
            self._pinOwnNick()
        if me and not answered and not self.nickConfirmed:
            self._unconfirmed(
                "the server renamed you from %s to %s, which you did not ask for" % (old, new)
            )

    # The user's room commands.

    def join(self, room: str) -> None:
        """Join C{room} now if connected, and after every reconnect."""
        if not self.isRoom(room) or "," in room or not isMiddleParam(room):
            raise CommandError("%r is not a room name (rooms start with %s)" % (room, self.chanTypes))
        folded = self.fold(room)
        self.wanted[folded] = room
        if self.allows("join"):
            self._write("JOIN", room)
            if folded in self._unsolicited:
                # The server already put us there (and ignores a second
                # JOIN): now that the user asks for it, take part.
                self._enter(self._unsolicited[folded], folded, self.nick)

    def part(self, room: str, reason: str = "") -> None:
        checkText("reason", reason)
        folded = self.fold(room)
        if folded not in self.rooms and folded not in self.wanted and folded not in self._unsolicited:
            raise CommandError("you are not in %s" % (room,))
        self.wanted.pop(folded, None)
        if self.allows("part") and (folded in self.rooms or self._unsolicited.pop(folded, None) is not None):
            if reason:
                self._write("PART", room, reason)
            else:
                self._write("PART", room)

    def names(self, room: str) -> None:
        checkWord("room", room)
        self._writeAllowed("ask", "NAMES", room)
        # The user's own requests: their replies are the only ones kept for
        # rooms we are not in.
        for part in room.split(","):
            if part:
                self._names.asked(self.fold(part))

    def who(self, mask: str) -> None:
        checkWord("mask", mask)
        self._writeAllowed("ask", "WHO", mask)
        # Replies are kept only while one of the user's own WHOs is pending.
        self._who.asked()

    def topic(self, room: str, text: Optional[str] = None) -> None:
        """Ask C{room}'s topic, or set it to C{text} (plain IRC text: the relay reads it)."""
        checkWord("room", room)
        if text is None:
            self._writeAllowed("ask", "TOPIC", room)
            return
        checkText("topic", text)
        self._writeAllowed("ask", "TOPIC", room, text)

    def whois(self, nick: str) -> None:
        checkWord("nick", nick)
        self._writeAllowed("ask", "WHOIS", nick)
