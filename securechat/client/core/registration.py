"""
The session's part that speaks for us to the server: the connection's
phase (and the table of what each phase lets reach the server), the
registration (001, 005, nick collisions), the server's features, and our
nick as the user chose it, not as the relay imposes it.  No I/O: the
adapter gives it a C{send} callable for each connection.
"""

from __future__ import annotations

from typing import Callable, Dict, List, Optional

from ...codec import Identity, TrustStore
from ...logevents import EventLog
from ...numerics import (
    ERR_ERRONEUSNICKNAME,
    ERR_NICKCOLLISION,
    ERR_NICKNAMEINUSE,
    RPL_NOWAWAY,
    RPL_UNAWAY,
)
from ...wire import (
    DEFAULT_MAX_LINE,
    Message,
    casefolder,
    formatMessage,
    parseISupport,
    rfc1459Casefold,
)
from . import events as ev
from .listings import MAX_NICKLEN
from .rules import (
    ALT_SUFFIX,
    DEFAULT_NICKLEN,
    INFO_NUMERICS,
    MAX_ISUPPORT_TOKEN_LENGTH,
    MAX_ISUPPORT_TOKENS,
    MAX_LINE_LENGTH,
    MAX_NICK_ATTEMPTS,
    MAX_NICK_REQUESTS,
    ROOM_PREFIXES,
    CommandError,
    NotConnected,
    checkText,
    checkWord,
)

#: The session's phases (L{ClientSession.phase}): no connection; a
#: connection that sent NICK and USER and waits for 001; registered (001
#: came: the server's name for us and its 005 are known).
DISCONNECTED = "disconnected"
REGISTERING = "registering"
REGISTERED = "registered"
#: What reaches the server in each phase; what is not here waits (a room
#: to join, a nick to ask for: kept for the next registration) or is
#: refused with L{NotConnected}.  Before 001 the server knows nothing of
#: us but our registration, and the relay has not yet told us who we are.
PHASE_ALLOWS = {
    DISCONNECTED: frozenset(),
    REGISTERING: frozenset({"nick", "quit"}),
    REGISTERED: frozenset({"join", "part", "ask", "away", "send", "nick", "quit"}),
}



class Registration:
    """
    Who we are to the server, and what it told us of itself: one per
    session, kept across connections (L{connectionMade} starts afresh).
    """

    def __init__(
        self,
        nick: str,
        emit: Callable[[ev.Event], None],
        log: EventLog,
        identity: Identity,
        trust: TrustStore,
        username: str,
        realname: str,
        password: Optional[bytes],
    ) -> None:
        self.emit = emit
        self.log = log
        self.identity = identity
        self.trust = trust
        self.username = username
        self.realname = realname
        self._password = password
        #: The nick the user chose: registered with, and the only one sealed under.
        self.requestedNick = nick
        #: The nick the server calls us now.
        self.nick = nick
        #: Writes a line to the server; set while a connection exists.
        self._send: Optional[Callable[[bytes], None]] = None
        #: L{DISCONNECTED}, L{REGISTERING} or L{REGISTERED} (L{PHASE_ALLOWS}).
        self.phase = DISCONNECTED
        self.server = ""
        self.prefix: Optional[str] = None
        #: The server's 005 tokens (at most L{MAX_ISUPPORT_TOKENS}).
        self.isupport: Dict[str, Optional[str]] = {}
        self._isupportWarned = False
        #: The server's CASEMAPPING: how it compares nicks and rooms.
        self.fold: Callable[[str], str] = rfc1459Casefold
        #: How the codec names targets (keys, salts, sealed targets): fixed,
        #: whatever the server's 005 says, so a key set for a room or peer
        #: stays that room's or peer's key.  rfc1459 is the wider mapping
        #: (names equal under ascii are equal under it), and both ends fold
        #: alike, however their servers map.
        self.codecFold: Callable[[str], str] = rfc1459Casefold
        self.lineLength = DEFAULT_MAX_LINE
        self.nickLength = DEFAULT_NICKLEN
        self.chanTypes = "#"
        self._nickAttempts = 0
        self._connections = 0
        #: Folded nicks the user asked for (/nick) the server has not yet
        #: answered: a NICK for us naming one of them is the answer, any
        #: other one the relay's doing (L{MAX_NICK_REQUESTS} at most).
        self._nickRequests: List[str] = []
        #: The user's nick before their last /nick, back in force if the
        #: server refuses the new one.
        self._nickBefore = nick
        #: Whether the server marked us away (305/306).
        self.away = False
        self.trust.pin_own(rfc1459Casefold(nick), self.identity.public_key)

    # The connection and what each phase allows.

    def connectionMade(self, send: Callable[[bytes], None], register: bool) -> None:
        """A new connection: register (again) with the nick the user asked for, if C{register}."""
        self._send = send
        self.phase = REGISTERING
        self._nickAttempts = 0
        self._nickRequests = []
        self.away = False
        # The user's choice, never the nick a relay imposed last time.
        self.nick = self.requestedNick
        self._connections += 1
        if not register:
            return
        if self._password is not None:
            self.write("PASS", self._password.decode("utf-8"))
        self.write("NICK", self.nick)
        self.write("USER", self.username, "0", "*", self.realname)

    def connectionLost(self) -> None:
        self._send = None
        self.phase = DISCONNECTED

    @property
    def registered(self) -> bool:
        """Whether the server welcomed us on this connection."""
        return self.phase is REGISTERED

    def allows(self, action: str) -> bool:
        """Whether this phase lets C{action} reach the server (L{PHASE_ALLOWS})."""
        return action in PHASE_ALLOWS[self.phase]

    def write(self, command: str, *params: str) -> None:
        if self._send is None:
            raise NotConnected("not connected to the server")
        try:
            line = formatMessage(command, params)
        except ValueError as exc:
            # The last guard: a parameter that would break the line is the
            # user's mistake to be told about, never an exception upstream.
            raise CommandError("cannot send %s: %s" % (command, exc)) from None
        self._send(line)

    def writeAllowed(self, action: str, command: str, *params: str) -> None:
        """Write C{command} if this phase allows C{action}, else L{NotConnected}."""
        if not self.allows(action):
            raise NotConnected("not connected to the server (yet)")
        self.write(command, *params)

    # What the server's features say of a name.

    def isMe(self, nick: Optional[str]) -> bool:
        return nick is not None and self.fold(nick) == self.fold(self.nick)

    def isRoom(self, target: str) -> bool:
        return bool(target) and target[0] in self.chanTypes

    @property
    def statusPrefixes(self) -> str:
        """
        What may stand before a room to address part of it (C{@#lab}): the
        005 STATUSMSG token and the PREFIX symbols, on top of the usual ones.
        """
        prefix = self.isupport.get("PREFIX") or ""
        symbols = prefix.partition(")")[2] if prefix.startswith("(") else ""
        return (self.isupport.get("STATUSMSG") or "") + symbols

    # Lines from the server.

    def ping(self, message: Message) -> None:
        self.write("PONG", *message.params[:1])

    def error(self, message: Message) -> None:
        text = message.params[0] if message.params else "closing"
        self.emit(ev.Error("server closed the connection: " + text, "ERROR"))

    def numeric(self, message: Message) -> bool:
        """
        A numeric about our nick or the server's chatter (001 and 005 the
        session hands to L{welcome} and L{isupportReceived}; what else it
        sends is the rooms'): whether it was one.
        """
        code = message.command
        params = message.params
        if code in (ERR_NICKNAMEINUSE, ERR_NICKCOLLISION):
            self._nickInUse(message)
        elif code in INFO_NUMERICS:
            if code in (RPL_UNAWAY, RPL_NOWAWAY):
                self.away = code == RPL_NOWAWAY
            text = " ".join(params[1:])
            if text:
                self.emit(ev.Notice(text, message.source))
        elif code == ERR_ERRONEUSNICKNAME:
            if not self.registered:
                self.emit(ev.Error("the server refuses the nick %s; use /nick" % (self.nick,), code))
                return True
            if len(params) > 1:
                self._nickRefused(params[1])
            self.emit(ev.Error(" ".join(params[1:]), code))
        else:
            return False
        return True

    def welcome(self, message: Message) -> None:
        """001: registered, under the nick the server says (the session then rejoins the rooms)."""
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
            self.unconfirmed(cause)
        else:
            self.pinOwnNick()

    def isupportReceived(self, message: Message) -> bool:
        """
        005: the server's features, kept within bounds; whether its case
        mapping changed (what the session keeps by folded name is re-keyed).
        """
        tokens = self._keepISupport(parseISupport(message.params[1:-1]))
        changed = False
        if tokens.get("CASEMAPPING"):
            fold = casefolder(tokens["CASEMAPPING"] or "")
            changed = fold is not self.fold
            self.fold = fold
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
        return changed

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
        self.write("NICK", alternative)

    def _alternative(self, taken: str) -> str:
        """C{nick_}, C{nick__}...; within NICKLEN by replacing the end with digits."""
        candidate = taken + ALT_SUFFIX
        if len(candidate) <= self.nickLength:
            return candidate
        digit = str(self._nickAttempts % 10)
        return taken[: self.nickLength - 1] + digit

    # Our nick: the user's choice, not the relay's.

    @property
    def nickConfirmed(self) -> bool:
        """
        Whether the nick the server calls us is the one the user chose: only
        then is anything sealed (the sealed sender is this nick, and the
        others believe it).
        """
        return self.fold(self.nick) == self.fold(self.requestedNick)

    def answers(self, new: str) -> bool:
        """Whether a NICK for us naming C{new} answers one of the user's /nick (forgotten then)."""
        folded = self.fold(new)
        if folded == self.fold(self.requestedNick):
            self._nickRequests = []
            return True
        if folded in self._nickRequests:
            self._nickRequests.remove(folded)
            return True
        return False

    def unconfirmed(self, cause: str) -> None:
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

    def checkSealingNick(self) -> None:
        """L{CommandError} unless our nick is the user's (see L{nickConfirmed})."""
        if not self.nickConfirmed:
            raise CommandError(
                "not sent: the server calls you %s, a nick you did not choose (yours is %s); "
                "sealed now, your message would reach the others as %s's. "
                "/nick %s accepts the new nick, /nick %s asks for yours back"
                % (self.nick, self.requestedNick, self.nick, self.nick, self.requestedNick)
            )

    def pinOwnNick(self) -> None:
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
            self.write("NICK", nick)
        if confirming:
            self.emit(ev.Notice("you accept the nick %s: protected messages are sent as %s's" % (nick, nick)))

    def setAway(self, text: str = "") -> None:
        """Be marked away with C{text}, or back without one."""
        checkText("away message", text)
        if text:
            self.writeAllowed("away", "AWAY", text)
        else:
            self.writeAllowed("away", "AWAY")

    def ownNickChanged(self, old: str, new: str) -> bool:
        """
        The server says our nick is now C{new}: whether that answers one of
        the user's /nick (if not, and it is not the user's choice, they are
        told: nothing is sealed under a nick they did not choose).
        """
        answered = self.answers(new)
        # Not requestedNick: that stays the user's choice, the nick to
        # register with after a reconnect and the only one to seal under.
        self.nick = new
        if self.prefix is not None:
            self.prefix = new + self.prefix[len(old):]
        return answered

    def afterOwnNickChange(self, old: str, new: str, answered: bool) -> None:
        """Once the change is told: pin a nick that is the user's, or warn of one that is not."""
        if answered and self.nickConfirmed:
            self.pinOwnNick()
        if not answered and not self.nickConfirmed:
            self.unconfirmed(
                "the server renamed you from %s to %s, which you did not ask for" % (old, new)
            )
