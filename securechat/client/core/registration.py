"""
Registration and the server's features: 001, 005 (ISUPPORT), nick
collisions, and our nick as the user chose it, not as the relay imposes it.
"""

from __future__ import annotations

from typing import Callable, Dict, Optional

from ...numerics import (
    ERR_ERRONEUSNICKNAME,
    ERR_NICKCOLLISION,
    ERR_NICKNAMEINUSE,
    RPL_ENDOFNAMES,
    RPL_ENDOFWHO,
    RPL_ENDOFWHOIS,
    RPL_ISUPPORT,
    RPL_NAMREPLY,
    RPL_NOTOPIC,
    RPL_NOWAWAY,
    RPL_TOPIC,
    RPL_TOPICWHOTIME,
    RPL_UNAWAY,
    RPL_WELCOME,
    RPL_WHOREPLY,
)
from ...wire import (
    DEFAULT_MAX_LINE,
    Message,
    casefolder,
    parseISupport,
)
from . import events as ev
from .listings import MAX_NICKLEN
from .replies import describeWhois
from .sessionbase import (
    ALT_SUFFIX,
    DEFAULT_NICKLEN,
    DISCONNECTED,
    INFO_NUMERICS,
    MAX_ISUPPORT_TOKEN_LENGTH,
    MAX_ISUPPORT_TOKENS,
    MAX_LINE_LENGTH,
    MAX_NICK_ATTEMPTS,
    MAX_NICK_REQUESTS,
    REGISTERED,
    ROOM_PREFIXES,
    CommandError,
    SessionBase,
    checkText,
    checkWord,
)


class Registration(SessionBase):
    """Registration and the server's features: 001, 005 (ISUPPORT), nick"""

    def irc_PING(self, message: Message) -> None:
        self._write("PONG", *message.params[:1])

    def irc_ERROR(self, message: Message) -> None:
        text = message.params[0] if message.params else "closing"
        self.emit(ev.Error("server closed the connection: " + text, "ERROR"))

    def _welcome(self, message: Message) -> None:
        if self.phase is DISCONNECTED:
            return
        self.phase = REGISTERED
        self.nick = message.params[0] if message.params else self.nick
        self.server = message.source or ""
        self.prefix = None
        words = message.params[-1].split() if len(message.params) > 1 else []
        if words:
            candidate = words[-1]
            if "!" in candidate and "@" in candidate:
                if self.fold(candidate.split("!", 1)[0]) == self.fold(self.nick):
                    self.prefix = candidate
        self.emit(
            ev.Connected(self.nick, self.server, self.requestedNick, self._connections > 1)
        )
        if not self.nickConfirmed:
            if self._nickAttempts:
                cause = "%s was in use, so the server registered you as %s" % (
                    self.requestedNick, self.nick)
            else:
                cause = "the server registered you as %s, though you asked for %s" % (
                    self.nick, self.requestedNick)
            self._unconfirmed(cause)
        else:
            self._pinOwnNick()
        for name in list(self.wanted.values()):
            self._write("JOIN", name)

    def _isupport(self, message: Message) -> None:
        tokens = self._keepISupport(parseISupport(message.params[1:-1]))
        if tokens.get("CASEMAPPING"):
            self._setFold(casefolder(tokens["CASEMAPPING"] or ""))
        if tokens.get("LINELEN"):
            try:
                advertised = int(tokens["LINELEN"] or "")
            except ValueError:
                pass
            else:
                # Never below RFC 1459's 512, never above what clients receive.
                self.lineLength = min(MAX_LINE_LENGTH, max(DEFAULT_MAX_LINE, advertised))
        if tokens.get("NICKLEN"):
            try:
                advertised = int(tokens["NICKLEN"] or "")
            except ValueError:
                pass
            else:
                # Never below RFC 2812's 9 (a tiny or negative NICKLEN would
                # cut our nick to nothing when picking an alternative), never
                # above the longest nick we believe.
                self.nickLength = min(MAX_NICKLEN, max(DEFAULT_NICKLEN, advertised))
        if tokens.get("CHANTYPES"):
            # Only the prefixes IRC defines, and only ever more of them: a
            # name that was a room stays a room, so a relay cannot turn a
            # keyed room into a "nick" that has no key.
            added = set(tokens["CHANTYPES"] or "") & set(ROOM_PREFIXES)
            self.chanTypes = "".join(sorted(set(self.chanTypes) | added))

    def _setFold(self, fold: Callable[[str], str]) -> None:
        """
        The server's case mapping changed: re-key what is kept by folded
        name (a room joined as C{#a[b]} before a 005 said ascii is still
        the room the server then echoes).
        """
        if fold is self.fold:
            return
        self.fold = fold
        self.wanted = {fold(name): name for name in self.wanted.values()}
        self._unsolicited = {fold(name): name for name in self._unsolicited.values()}
        rooms = {}
        for state in self.rooms.values():
            state.members = {fold(nick): nick for nick in state.members.values()}
            rooms[fold(state.name)] = state
        self.rooms = rooms

    def _keepISupport(self, tokens: Dict[str, Optional[str]]) -> Dict[str, Optional[str]]:
        """
        Store the tokens of one 005 in C{isupport}, within the bounds, and
        return those short enough to act on.  An over-long token is dropped
        (a cut value would be wrong); a new one past L{MAX_ISUPPORT_TOKENS}
        is not stored (its effect, if one we act on, still applies: those
        are few and fixed); C{-KEY} forgets KEY.  Dropping is logged once.
        """
        usable: Dict[str, Optional[str]] = {}
        dropped = 0
        for key, value in tokens.items():
            if len(key) + len(value or "") > MAX_ISUPPORT_TOKEN_LENGTH:
                dropped += 1
                continue
            usable[key] = value
            if value is None:
                self.isupport.pop(key, None)
            elif key in self.isupport or len(self.isupport) < MAX_ISUPPORT_TOKENS:
                self.isupport[key] = value
            else:
                dropped += 1
        if dropped and not self._isupportWarned:
            self._isupportWarned = True
            self.log.warn(
                "the server sends more or longer 005 tokens than we keep "
                "({count} tokens of {length} characters); the rest are dropped",
                count=MAX_ISUPPORT_TOKENS,
                length=MAX_ISUPPORT_TOKEN_LENGTH,
            )
        return usable

    def _nickInUse(self, message: Message) -> None:
        taken = message.params[1] if len(message.params) > 1 else self.nick
        if self.registered:
            self._nickRefused(taken)
            self.emit(ev.Error("nick %s is already in use" % (taken,), message.command))
            return
        self._nickAttempts += 1
        if self._nickAttempts > MAX_NICK_ATTEMPTS:
            self.emit(ev.Error("every nick we tried is in use; use /nick", message.command))
            return
        alternative = self._alternative(taken)
        self.emit(
            ev.NickChanged(taken, alternative, True, "nick %s is in use, trying %s" % (taken, alternative))
        )
        self.nick = alternative
        self._write("NICK", alternative)

    def _alternative(self, taken: str) -> str:
        """C{nick_}, C{nick__}...; within NICKLEN by replacing the end with digits."""
        candidate = taken + ALT_SUFFIX
        if len(candidate) <= self.nickLength:
            return candidate
        digit = str(self._nickAttempts % 10)
        return taken[: self.nickLength - 1] + digit

    def _numeric(self, message: Message) -> None:
        code = message.command
        params = message.params
        if code == RPL_WELCOME:
            self._welcome(message)
        elif code == RPL_ISUPPORT:
            self._isupport(message)
        elif code in (ERR_NICKNAMEINUSE, ERR_NICKCOLLISION):
            self._nickInUse(message)
        elif code == RPL_NAMREPLY and len(params) >= 4:
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
        elif code in INFO_NUMERICS:
            if code in (RPL_UNAWAY, RPL_NOWAWAY):
                self.away = code == RPL_NOWAWAY
            text = " ".join(params[1:])
            if text:
                self.emit(ev.Notice(text, message.source))
        elif code[0] in "45":
            if code == ERR_ERRONEUSNICKNAME and not self.registered:
                self.emit(ev.Error("the server refuses the nick %s; use /nick" % (self.nick,), code))
                return
            if code == ERR_ERRONEUSNICKNAME and len(params) > 1:
                self._nickRefused(params[1])
            self.emit(ev.Error(" ".join(params[1:]), code))

    # Our nick: the user's choice, not the relay's.

    @property
    def nickConfirmed(self) -> bool:
        """
        Whether the nick the server calls us is the one the user chose: only
        then is anything sealed (the sealed sender is this nick, and the
        others believe it).
        """
        return self.fold(self.nick) == self.fold(self.requestedNick)

    def _answers(self, new: str) -> bool:
        """Whether a NICK for us naming C{new} answers one of the user's /nick (forgotten then)."""
        folded = self.fold(new)
        if folded == self.fold(self.requestedNick):
            self._nickRequests = []
            return True
        if folded in self._nickRequests:
            self._nickRequests.remove(folded)
            return True
        return False

    def _unconfirmed(self, cause: str) -> None:
        self.log.warn(
            "our nick is now {nick}, not {chosen}: {cause}",
            nick=self.nick, chosen=self.requestedNick, cause=cause,
        )
        self.emit(ev.NickUnconfirmed(self.nick, self.requestedNick, cause))

    def _nickRefused(self, nick: str) -> None:
        """The server refused the nick the user last asked for: their previous choice stands."""
        folded = self.fold(nick)
        if folded in self._nickRequests:
            self._nickRequests.remove(folded)
        if folded == self.fold(self.requestedNick):
            self.requestedNick = self._nickBefore

    def _checkSealingNick(self) -> None:
        """L{CommandError} unless our nick is the user's (see L{nickConfirmed})."""
        if not self.nickConfirmed:
            raise CommandError(
                "not sent: the server calls you %s, a nick you did not choose (yours is %s); "
                "sealed now, your message would reach the others as %s's. "
                "/nick %s accepts the new nick, /nick %s asks for yours back"
                % (self.nick, self.requestedNick, self.nick, self.nick, self.requestedNick)
            )

    def _pinOwnNick(self) -> None:
        """
        The nick the server gives us, and the user chose, is ours: pinned to
        our key, whoever used it before (L{changeNick} pins a nick of
        someone else's only once it is ours).
        """
        self.trust.pin_own(self.codecFold(self.nick), self.identity.public_key)

    def changeNick(self, nick: str) -> None:
        """
        The user chooses C{nick}: asked of the server, registered with after
        a reconnect, and, if the server already calls us that (it renamed
        us), accepted from now on for sealing.
        """
        checkWord("nick", nick)
        confirming = not self.nickConfirmed and self.fold(nick) == self.fold(self.nick)
        if confirming or self.trust.pinned(self.codecFold(nick)) is None:
            # What we sign as from now on: our key, so a member's message
            # sealed as us is refused.  A nick pinned to someone else is
            # re-pinned only once the server gives it to us (a refused
            # /nick must not cost its holder a verified pin).
            self.trust.pin_own(self.codecFold(nick), self.identity.public_key)
        self._nickBefore = self.requestedNick
        self.requestedNick = nick
        folded = self.fold(nick)
        if folded not in self._nickRequests:
            self._nickRequests = (self._nickRequests + [folded])[-MAX_NICK_REQUESTS:]
        if self.allows("nick") and nick != self.nick:
            # Accepting the nick the server already gives us asks nothing of it.
            self._write("NICK", nick)
        if confirming:
            self.emit(ev.Notice("you accept the nick %s: protected messages are sent as %s's" % (nick, nick)))

    def setAway(self, text: str = "") -> None:
        """Be marked away with C{text}, or back without one."""
        checkText("away message", text)
        if text:
            self._writeAllowed("away", "AWAY", text)
        else:
            self._writeAllowed("away", "AWAY")
