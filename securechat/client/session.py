"""
The client's state, without I/O: registration, rooms, and one codec
L{Conversation} per room or direct peer the user set a key or layer for
(others are judged by a throwaway one, so the relay cannot grow them).

The adapter (L{securechat.client.protocol}) feeds received lines in
(L{ClientSession.lineReceived}) and gives the session a C{send} callable
while a connection is up; the user interface calls the command methods
(L{join}, L{sendMessage}, L{setKeys}...).  Everything the user should know
comes out through C{emit} as L{securechat.client.events} values.

The session outlives connections: rooms to rejoin, keys, layers, replay
caches and sequence numbers are kept across reconnects, so a relay cannot
replay old traffic just by dropping our connection.
"""

from __future__ import annotations

import time
from typing import Callable, Dict, List, Optional, Tuple, Union

from twisted.logger import Logger

from ..codec import (
    DEFAULT_LIMITS,
    DEFAULT_MAX_SKEW,
    DEFAULT_TTL,
    LAYERS,
    Accepted,
    Conversation,
    Identity,
    ReassemblyLimits,
    Rejected,
    RoomKeys,
    TrustStore,
    direct_target,
    normalize_fingerprint,
)
from ..wire import (
    DEFAULT_MAX_LINE,
    LINE_BREAKERS,
    Message,
    WireError,
    casefolder,
    formatMessage,
    isMiddleParam,
    parseISupport,
    parseLine,
    rfc1459Casefold,
)
from . import ctcp
from . import events as ev
from .replies import RPL_ENDOFWHOIS, describeWhois
from .listings import MAX_NICKLEN, MAX_ROOM_MEMBERS, NamesCollector, WhoCollector

PLAIN = "plain"
#: The layer a passphrase enables when the user did not pick one.
DEFAULT_KEYED_LAYER = "fernet-ttl"

#: Lines we accept from a server (the adapter's splitter drops longer ones):
#: its LINELEN plus the prefix it adds, with room to spare for servers that
#: advertise more; a hard bound all the same.
RECEIVE_MAX_LINE = 16 * 1024
#: The most of the server's LINELEN we believe.  A line we send comes back
#: to the other members with our prefix in front, and each of them drops
#: what exceeds RECEIVE_MAX_LINE: a larger LINELEN (a hostile or confused
#: relay's) would only make us send lines no securechat client can receive.
MAX_LINE_LENGTH = RECEIVE_MAX_LINE

#: The most 005 (ISUPPORT) tokens kept, and the longest one (name and
#: value): servers send a few dozen, each well within one 512-byte line; a
#: relay sending new tokens forever, or enormous ones, gets no more kept.
MAX_ISUPPORT_TOKENS = 256
MAX_ISUPPORT_TOKEN_LENGTH = 512

#: RFC 2812 limits assumed until the server's 005 says otherwise.
DEFAULT_NICKLEN = 9
#: Worst-case prefix parts when 001 did not tell us ours (user ~10 chars, host 63).
WORST_USER = 10
WORST_HOST = 63
#: How many alternatives to try when our nick is taken at registration.
MAX_NICK_ATTEMPTS = 8
ALT_SUFFIX = "_"
#: Rooms the server may claim we joined without our asking, remembered (per
#: connection) only so that the user can /join or /part them: a bound, so
#: that a relay inventing such JOINs cannot grow the session.
MAX_UNSOLICITED_ROOMS = 16
#: Commands sent to register, username and real name when not configured.
DEFAULT_USERNAME = "securechat"
DEFAULT_REALNAME = "securechat client"

#: Messages typed for a target whose key is being derived wait for it, up
#: to this many and this many characters per target: past that, the next
#: one is refused (never sent on a lower layer).
MAX_QUEUED_MESSAGES = 32
MAX_QUEUED_CHARS = 64 * 1024
#: How many of the user's own nick requests are remembered as unanswered:
#: a NICK for us naming one of them answers it; any other is the relay's.
MAX_NICK_REQUESTS = 8
#: Each layer's ordinal: lowering a conversation's layer needs the user's
#: explicit "force".
LAYER_RANK = {layer: rank for rank, layer in enumerate(LAYERS)}
#: What each layer adds to the one below it, in words (for the warning).
LAYER_GAINS = {
    "aes-ctr": "confidentiality (the relay reads everything)",
    "fernet": "integrity (the relay can alter, forge and re-attribute messages)",
    "fernet-ttl": "freshness (the relay can replay and delay messages)",
    "signed": "member identities (any member can write as any other)",
}

#: The room prefixes IRC defines (RFC 2811); CHANTYPES may add only these.
ROOM_PREFIXES = "#&+!"

RPL_WELCOME = "001"
RPL_ISUPPORT = "005"
RPL_ENDOFWHO = "315"
RPL_WHOREPLY = "352"
RPL_NAMREPLY = "353"
RPL_ENDOFNAMES = "366"
RPL_UNAWAY = "305"
RPL_NOWAWAY = "306"
RPL_NOTOPIC = "331"
RPL_TOPIC = "332"
RPL_TOPICWHOTIME = "333"
ERR_ERRONEUSNICKNAME = "432"
ERR_NICKNAMEINUSE = "433"
ERR_NICKCOLLISION = "436"
#: Numerics that are only chatter for a person (welcome text, MOTD, stats).
INFO_NUMERICS = frozenset(
    {"002", "003", "004", "250", "251", "252", "253", "254", "255", "265", "266",
     "372", "375", "376", "422", "324", "329", "221", "305", "306"}
)

Result = Union[Accepted, Rejected]


class NotConnected(Exception):
    """A command needs the connection, and there is none right now."""


class CommandError(ValueError):
    """A user command that cannot be carried out; the message says why."""


class NeedsForce(CommandError):
    """
    The command lowers a conversation's protection: carried out only when
    repeated with C{force} (the console's C{/layer!} and C{/msg!}, JSON's
    C{"force": true}); the message says what would be lost.
    """


class _PendingKey:
    """A target whose key is being derived: the newest request, and what waits for it."""

    __slots__ = ("name", "layer", "latest", "queue", "chars")

    def __init__(self, name: str) -> None:
        self.name = name
        self.layer: Optional[str] = None
        self.latest = 0
        self.queue: List[str] = []
        self.chars = 0


def checkWord(what: str, value: str) -> None:
    """L{CommandError} unless C{value} can be one middle IRC parameter (L{isMiddleParam})."""
    if not isMiddleParam(value):
        raise CommandError("invalid %s %r" % (what, value))


def checkTarget(target: str) -> None:
    """L{CommandError} unless C{target} is one room or one nick (a word, no comma)."""
    checkWord("target", target)
    if "," in target:
        raise CommandError("invalid target %r: one room or nick" % (target,))


def checkText(what: str, value: str) -> None:
    """L{CommandError} if free text (a reason) holds CR, LF or NUL: they end an IRC line."""
    if any(c in value for c in LINE_BREAKERS):
        raise CommandError("a %s cannot contain CR, LF or NUL characters" % (what,))


class _Room:
    """A room we are in: its name as the server spells it, and its members."""

    __slots__ = ("name", "members", "full")

    def __init__(self, name: str) -> None:
        self.name = name
        self.members: Dict[str, str] = {}
        #: Set once a member was not kept for L{MAX_ROOM_MEMBERS} (the user told).
        self.full = False


class ClientSession:
    """
    One user's view of one IRC network.  C{clock} is the codec's clock
    (seconds since the epoch); the demo shifts it to show expiry.
    """

    log = Logger()

    def __init__(
        self,
        nick: str,
        emit: Callable[[ev.Event], None],
        *,
        clock: Callable[[], float] = time.time,
        username: str = DEFAULT_USERNAME,
        realname: str = DEFAULT_REALNAME,
        password: Optional[bytes] = None,
        ttl: int = DEFAULT_TTL,
        maxSkew: int = DEFAULT_MAX_SKEW,
        limits: ReassemblyLimits = DEFAULT_LIMITS,
        identity: Optional[Identity] = None,
        trust: Optional[TrustStore] = None,
    ) -> None:
        self.requestedNick = nick
        #: Our signing key (from the state directory; a fresh in-memory one
        #: when there is none, e.g. in the demo) and the pins of others.
        self.identity = identity if identity is not None else Identity.generate()
        self.trust = trust if trust is not None else TrustStore()
        self.trust.pin_own(rfc1459Casefold(nick), self.identity.public_key)
        #: Called with (codec target, conversation) when one is created, so
        #: saved state (replay floor, sequence numbers) can be restored.
        self.onConversation: Optional[Callable[[str, Conversation], None]] = None
        self.nick = nick
        self.emit = emit
        self.clock = clock
        self.username = username
        self.realname = realname
        self._password = password
        self._ttl = ttl
        self._maxSkew = maxSkew
        self._limits = limits
        self._send: Optional[Callable[[bytes], None]] = None
        self.registered = False
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
        self.rooms: Dict[str, _Room] = {}
        #: Rooms the user wants to be in: rejoined after a reconnect.
        self.wanted: Dict[str, str] = {}
        #: Codec target -> conversation, only for rooms and peers the user set
        #: a key or a layer for: lines from anyone else are judged without
        #: memory (L{_judging}), so a relay inventing nicks or rooms cannot
        #: grow this.
        self._conversations: Dict[str, Conversation] = {}
        self._layers: Dict[str, str] = {}
        self._nickAttempts = 0
        self._connections = 0
        #: Folded nicks the user asked for (/nick) the server has not yet
        #: answered: a NICK for us naming one of them is the answer, any
        #: other one the relay's doing (L{MAX_NICK_REQUESTS} at most).
        self._nickRequests: List[str] = []
        #: The user's nick before their last /nick, back in force if the
        #: server refuses the new one.
        self._nickBefore = nick
        #: Room or peer (codec-folded) -> the key being derived for it.  Such
        #: a target is keyed already: its messages wait, never go in clear.
        self._pending: Dict[str, _PendingKey] = {}
        #: Key requests are numbered; codec target -> the number of the
        #: last key set, so an older derivation finishing late cannot
        #: replace a newer key.
        self._requests = 0
        self._applied: Dict[str, int] = {}
        #: NAMES and WHO replies arriving in pieces, kept within bounds.
        self._names = NamesCollector(self._notice)
        self._who = WhoCollector(self._notice)
        #: Codec target -> (name shown to the user, direct conversation?).
        self._display: Dict[str, Tuple[str, bool]] = {}
        #: Room or peer nick (codec-folded) -> layer, for every conversation
        #: the user keyed.  A direct conversation's keys are for a pair of
        #: nicks, so after a nick change the pair has no key; and should a
        #: room or peer ever stop finding its key, this remembers not to
        #: fall back to plain text.
        self._keyed: Dict[str, str] = {}
        #: Folded room -> name, for rooms the server says we joined though the
        #: user never asked (L{MAX_UNSOLICITED_ROOMS} at most, this connection
        #: only): never in C{rooms} nor C{wanted} until the user joins them.
        self._unsolicited: Dict[str, str] = {}
        #: Whether the server marked us away (305/306).
        self.away = False

    # Connection life (called by the adapter).

    def connectionMade(self, send: Callable[[bytes], None], register: bool = True) -> None:
        """
        A new connection: register (again) with the nick the user asked for.
        Without C{register}, someone else registers on it (the proxy's IRC
        client): the session only follows.
        """
        self._send = send
        self.registered = False
        self.rooms = {}
        self._unsolicited = {}
        self._names.reset()
        self._who.reset()
        self._nickAttempts = 0
        self._nickRequests = []
        self.away = False
        # The user's choice, never the nick a relay imposed last time.
        self.nick = self.requestedNick
        self._connections += 1
        if not register:
            return
        if self._password is not None:
            self._write("PASS", self._password.decode("utf-8"))
        self._write("NICK", self.nick)
        self._write("USER", self.username, "0", "*", self.realname)

    def connectionLost(self, reason: str, reconnecting: bool) -> None:
        """The connection is gone; rooms stay wanted for the next one."""
        self._send = None
        self.registered = False
        self.rooms = {}
        self._unsolicited = {}
        self._names.reset()
        self._who.reset()
        self.emit(ev.Disconnected(reason, reconnecting))

    @property
    def connected(self) -> bool:
        return self._send is not None and self.registered

    def lineReceived(self, line: bytes) -> None:
        """One line from the server, without its CRLF."""
        try:
            message = parseLine(line)
        except WireError as exc:
            self.log.warn("unparsable line from the server: {error}", error=str(exc))
            return
        self.messageReceived(message)

    def messageReceived(self, message: Message) -> None:
        handler = getattr(self, "irc_" + message.command, None)
        if handler is not None:
            handler(message)
        elif message.command.isdigit():
            self._numeric(message)

    # Writing.

    def _write(self, command: str, *params: str) -> None:
        if self._send is None:
            raise NotConnected("not connected to the server")
        try:
            line = formatMessage(command, params)
        except ValueError as exc:
            # The last guard: a parameter that would break the line is the
            # user's mistake to be told about, never an exception upstream.
            raise CommandError("cannot send %s: %s" % (command, exc)) from None
        self._send(line)

    def _writeWhenRegistered(self, command: str, *params: str) -> None:
        if not self.registered:
            raise NotConnected("not connected to the server (yet)")
        self._write(command, *params)

    # Registration.

    def irc_PING(self, message: Message) -> None:
        self._write("PONG", *message.params[:1])

    def irc_ERROR(self, message: Message) -> None:
        text = message.params[0] if message.params else "closing"
        self.emit(ev.Error("server closed the connection: " + text, "ERROR"))

    def _welcome(self, message: Message) -> None:
        self.registered = True
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

    # Numerics.

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
        elif describeWhois(code, params) is not None:
            self.emit(ev.Whois(*describeWhois(code, params)))  # type: ignore[misc]
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

    def _notice(self, text: str) -> None:
        self.emit(ev.Notice(text))

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

    # Membership.

    def _isMe(self, nick: Optional[str]) -> bool:
        return nick is not None and self.fold(nick) == self.fold(self.nick)

    def isRoom(self, target: str) -> bool:
        return bool(target) and target[0] in self.chanTypes

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
        oldFolded, newFolded = self.fold(old), self.fold(new)
        for state in self.rooms.values():
            if state.members.pop(oldFolded, None) is not None:
                self._addMember(state, new)
        oldKey, newKey = self.codecFold(old), self.codecFold(new)
        if not me and oldKey in self._keyed:
            self._keyed[newKey] = self._keyed.pop(oldKey)
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
                " " in target and conversation.keys is not None
                for target, conversation in self._conversations.items()
            ):
                reason = "direct-message keys were set for the old nick: set them again"
        self.emit(ev.NickChanged(old, new, me, reason))
        if me and not answered and not self.nickConfirmed:
            self._unconfirmed(
                "the server renamed you from %s to %s, which you did not ask for" % (old, new)
            )

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

    # Messages.

    def irc_TOPIC(self, message: Message) -> None:
        if len(message.params) >= 2:
            self.emit(ev.Topic(message.params[0], message.params[1], message.sourceNick, True))

    def irc_PRIVMSG(self, message: Message) -> None:
        self._incoming(message)

    def irc_NOTICE(self, message: Message) -> None:
        if self._fromServer(message.source):
            text = message.params[-1] if message.params else ""
            self.emit(ev.Notice(text, message.source))
            return
        self._incoming(message)

    def _fromServer(self, source: Optional[str]) -> bool:
        """
        Whether a NOTICE is the server's own (shown as is): no source, before
        registration, or a server name (ours, or any with a dot, which no
        nick has).  A bare C{bob} is a member's nick, however it is spelled,
        and goes through the codec like any message: shown as a server
        notice, it put unmarked text under bob's name in a keyed room.
        """
        if source is None or not self.registered:
            return True
        if "!" in source or "@" in source:
            return False
        return source == self.server or "." in source

    def _incoming(self, message: Message) -> None:
        if len(message.params) < 2 or message.sourceNick is None:
            return
        sender = message.sourceNick
        target, text = message.params[0], message.params[1]
        if self.isRoom(target):
            name, direct = target, False
        else:
            name, direct = sender, True
        conversation = self._judging(name)
        self._report(name, direct, conversation.receive(sender, text))

    def _report(self, name: str, direct: bool, results: List[Result]) -> None:
        for result in results:
            if isinstance(result, Accepted):
                self.emit(
                    # An action (/me) or another CTCP, shown, never answered.
                    ctcp.incoming(ev.IncomingMessage(
                        name,
                        result.sender,
                        result.body,
                        result.layer,
                        result.protection,
                        direct,
                        result.missing,
                        result.reordered,
                        result.sent_at,
                        result.msgid,
                        result.signer,
                        result.trust,
                    ))
                )
            else:
                self.emit(
                    ev.RejectedMessage(
                        name, result.sender, result.layer, result.reason, result.description, direct
                    )
                )

    def expire(self) -> None:
        """Report chunked messages whose reassembly timed out (call periodically)."""
        for codecTarget, conversation in list(self._conversations.items()):
            results = conversation.expire()
            if results:
                name, direct = self._displayName(codecTarget)
                self._report(name, direct, list(results))

    # Conversations and keys.

    def codecTarget(self, name: str) -> str:
        """
        What the codec seals as the target of C{name}: the folded room, or
        the sorted pair of folded nicks for a direct conversation (both ends
        compute the same pair, so they derive the same keys).
        """
        if self.isRoom(name):
            return self.codecFold(name)
        return direct_target(self.nick, name, self.codecFold)

    def _displayName(self, codecTarget: str) -> Tuple[str, bool]:
        return self._display[codecTarget]

    def _conversation(self, name: str) -> Conversation:
        """
        The stored conversation for C{name}, created if needed: only for the
        user's own choices (a key, a layer), so their number is the user's.
        """
        key = self.codecTarget(name)
        conversation = self._conversations.get(key)
        if conversation is None:
            conversation = self._newConversation(key)
            self._conversations[key] = conversation
            self._display[key] = (name, not self.isRoom(name))
            if self.onConversation is not None:
                self.onConversation(key, conversation)
        return conversation

    def conversations(self) -> Dict[str, Conversation]:
        """The stored conversations by codec target (for saving their state)."""
        return dict(self._conversations)

    def _judging(self, name: str) -> Conversation:
        """
        The stored conversation for C{name}, else a throwaway one that is
        never stored.  Without a stored one, C{name} is unkeyed plain, and an
        unkeyed plain conversation keeps nothing between lines (plain text is
        shown as plain; a protected line is refused as no-key from its
        header, before any piece is buffered; nothing reaches the replay
        cache or the sequence numbers; plain encoding has no state): the
        throwaway one gives the same verdicts and lines, and a relay that
        invents a nick or room per line costs no memory that lasts.
        """
        key = self.codecTarget(name)
        conversation = self._conversations.get(key)
        return conversation if conversation is not None else self._newConversation(key)

    def _newConversation(self, key: str) -> Conversation:
        return Conversation(
            key,
            PLAIN,
            None,
            clock=self._now,
            ttl=self._ttl,
            max_skew=self._maxSkew,
            limits=self._limits,
            casefold=self.codecFold,
            identity=self.identity,
            trust=self.trust,
        )

    def _now(self) -> float:
        # Looked up at each call, so a clock changed later (the demo's
        # shifted sender) applies to conversations that already exist.
        return self.clock()

    def layerFor(self, name: str) -> str:
        """The layer messages to and from C{name} use now."""
        conversation = self._conversations.get(self.codecTarget(name))
        return conversation.layer if conversation is not None else PLAIN

    def keysFor(self, name: str) -> Optional[RoomKeys]:
        conversation = self._conversations.get(self.codecTarget(name))
        return conversation.keys if conversation is not None else None

    def setKeys(
        self, name: str, keys: RoomKeys, layer: Optional[str] = None, force: bool = False
    ) -> ev.KeySet:
        """
        Use C{keys} (derived for L{codecTarget}(C{name})) from now on, on
        C{layer}, or the layer chosen earlier with L{setLayer}, or fernet-ttl.
        A lower layer than the conversation has needs C{force}.  Supersedes
        any key still being derived for C{name}: what waited for it goes
        out under these keys.
        """
        checkTarget(name)
        if layer is not None:
            self.checkLayer(layer)
            self._checkLowering(name, layer, force)
        self._requests += 1
        event = self._setKeys(name, keys, layer, self._requests)
        pending = self._pending.pop(self.codecFold(name), None)
        if pending is not None:
            self._flush(pending)
        return event

    def _setKeys(
        self, name: str, keys: RoomKeys, layer: Optional[str], request: int
    ) -> ev.KeySet:
        if request < self._applied.get(self.codecTarget(name), 0):
            raise CommandError(
                "a newer key for %s was set meanwhile: this older one is not used" % (name,)
            )
        if layer is None:
            # After a nick change, a direct conversation keeps the layer it
            # had: both ends remember it, so they agree again.
            previous = None if self.isRoom(name) else self._keyed.get(self.codecFold(name))
            layer = self._layers.get(self.codecTarget(name), previous or DEFAULT_KEYED_LAYER)
        self.checkLayer(layer)
        conversation = self._conversation(name)
        try:
            conversation.set_layer(layer, keys)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self._layers[self.codecTarget(name)] = layer
        self._applied[self.codecTarget(name)] = request
        self._rememberKeyed(name, layer)
        event = ev.KeySet(name, layer, self.fingerprint(name))
        self.emit(event)
        return event

    def setLayer(self, name: str, layer: str, force: bool = False) -> ev.LayerSet:
        """
        Switch C{name} to C{layer}; a keyed layer needs a key set first, a
        lower one than the conversation has (or is getting) needs C{force}.
        """
        checkTarget(name)
        self.checkLayer(layer)
        self._checkLowering(name, layer, force)
        pending = self._pending.get(self.codecFold(name))
        if pending is not None:
            if LAYER_RANK[layer] < LAYER_RANK[self._expectedLayer(name)]:
                # What waits was typed for the protection the user now gives up.
                self._refuseQueued(
                    pending, "you lowered %s to %s before its key was ready" % (name, layer)
                )
            # The user's latest choice is the layer the coming key is used on.
            pending.layer = layer
        if layer != PLAIN and self.keysFor(name) is None:
            self._layers[self.codecTarget(name)] = layer
            if pending is not None:
                raise CommandError(
                    "the key for %s is still being derived: %s will be used once it is set"
                    % (name, layer)
                )
            raise CommandError(
                "%s has no key yet: set a passphrase (/key) and %s will be used" % (name, layer)
            )
        conversation = self._conversation(name)
        conversation.set_layer(layer, conversation.keys)
        self._layers[self.codecTarget(name)] = layer
        self._rememberKeyed(name, layer)
        event = ev.LayerSet(name, layer)
        self.emit(event)
        return event

    def _expectedLayer(self, name: str) -> str:
        """
        The protection C{name} has or is getting: its layer, a keyed layer it
        lost its key for (L{_keyed}), or the layer of the key being derived.
        """
        layers = [self.layerFor(name), self._keyed.get(self.codecFold(name), PLAIN)]
        pending = self._pending.get(self.codecFold(name))
        if pending is not None:
            layers.append(
                pending.layer or self._layers.get(self.codecTarget(name), DEFAULT_KEYED_LAYER)
            )
        return max(layers, key=LAYER_RANK.__getitem__)

    def expectedLayer(self, name: str) -> str:
        """The protection C{name} has or is getting (plain: nothing to seal or open)."""
        return self._expectedLayer(name)

    def _checkLowering(self, name: str, layer: str, force: bool) -> None:
        """L{NeedsForce} if C{layer} is below what C{name} has, unless C{force}."""
        current = self._expectedLayer(name)
        if force or LAYER_RANK[layer] >= LAYER_RANK[current]:
            return
        lost = [
            LAYER_GAINS[higher]
            for higher in LAYERS[LAYER_RANK[layer] + 1 : LAYER_RANK[current] + 1]
        ]
        raise NeedsForce(
            "lowering %s from %s to %s gives up %s. To do it anyway: /layer! %s %s "
            '(JSON: "force": true)' % (name, current, layer, "; ".join(lost), layer, name)
        )

    # Keys being derived: the target is keyed from the request on.

    def keyRequested(self, name: str, layer: Optional[str] = None, force: bool = False) -> int:
        """
        A key for C{name} (on C{layer}, or the chosen/default one) is being
        derived: from now on C{name} counts as keyed, and what is sent to it
        waits (L{ev.Queued}) until L{keyArrived} or L{keyFailed} is called
        with the returned request number.
        """
        checkTarget(name)
        if layer is not None:
            self.checkLayer(layer)
            self._checkLowering(name, layer, force)
        folded = self.codecFold(name)
        pending = self._pending.get(folded)
        if pending is None:
            pending = self._pending[folded] = _PendingKey(name)
        self._requests += 1
        pending.latest = self._requests
        pending.layer = layer
        return self._requests

    def keyArrived(
        self, name: str, request: int, keys: RoomKeys, layer: Optional[str] = None
    ) -> ev.KeySet:
        """
        Request C{request}'s keys are ready: set them (unless a newer key was
        set meanwhile) and, when it is the newest request for C{name}, send
        what waited for it.
        """
        pending = self._pending.get(self.codecFold(name))
        if pending is not None and pending.latest == request:
            # The layer asked with the key, or one the user chose since (setLayer).
            layer = pending.layer
        try:
            # The lowering, if any, was confirmed when the user asked for it.
            event = self._setKeys(name, keys, layer, request)
        except CommandError as exc:
            self.keyFailed(name, request, str(exc))
            raise
        if pending is not None and pending.latest == request:
            del self._pending[self.codecFold(name)]
            self._flush(pending)
        return event

    def keyFailed(self, name: str, request: int, why: str) -> None:
        """Request C{request} for C{name} failed: if it was the newest, what waited is refused."""
        folded = self.codecFold(name)
        pending = self._pending.get(folded)
        if pending is None or pending.latest != request:
            return
        del self._pending[folded]
        self._refuseQueued(pending, "no key for %s: %s" % (name, why))

    def keyPending(self, name: str) -> bool:
        """Whether a key for C{name} is being derived."""
        return self.codecFold(name) in self._pending

    def _queue(self, pending: _PendingKey, target: str, body: str) -> ev.Queued:
        if (
            len(pending.queue) >= MAX_QUEUED_MESSAGES
            or pending.chars + len(body) > MAX_QUEUED_CHARS
        ):
            raise CommandError(
                "not sent: %d messages (%d characters at most) already wait for the key of %s"
                % (len(pending.queue), MAX_QUEUED_CHARS, target)
            )
        pending.queue.append(body)
        pending.chars += len(body)
        event = ev.Queued(
            target, body, "the key for %s is being derived: sent when it is ready" % (target,)
        )
        self.emit(event)
        return event

    def _flush(self, pending: _PendingKey) -> None:
        """Send what waited for C{pending}'s key, each refused on its own if it cannot go."""
        queue, pending.queue, pending.chars = pending.queue, [], 0
        for body in queue:
            try:
                if self.layerFor(pending.name) == PLAIN:
                    raise CommandError(
                        "%s is on plain now; it was typed for a keyed conversation" % (pending.name,)
                    )
                self._seal(pending.name, body)
            except (CommandError, NotConnected) as exc:
                self.emit(ev.Unsent(pending.name, body, str(exc)))

    def _refuseQueued(self, pending: _PendingKey, reason: str) -> None:
        queue, pending.queue, pending.chars = pending.queue, [], 0
        for body in queue:
            self.emit(ev.Unsent(pending.name, body, "not sent: " + reason))

    def _rememberKeyed(self, name: str, layer: str) -> None:
        """A keyed conversation is remembered; choosing plain for it forgets it."""
        if layer == PLAIN:
            self._keyed.pop(self.codecFold(name), None)
        else:
            self._keyed[self.codecFold(name)] = layer

    @staticmethod
    def checkLayer(layer: str) -> None:
        """L{CommandError} unless C{layer} is one of the codec's layers."""
        if layer not in LAYERS:
            raise CommandError("unknown layer %r: choose one of %s" % (layer, ", ".join(LAYERS)))

    def fingerprint(self, name: str) -> Optional[str]:
        """The fingerprint of the key in use for C{name}, or L{None} on plain."""
        conversation = self._conversations.get(self.codecTarget(name))
        if conversation is None or conversation.keys is None or conversation.layer == PLAIN:
            return None
        return conversation.keys.fingerprint(conversation.layer)

    # Identities (the signed layer).

    def trustNick(self, nick: str) -> ev.TrustChanged:
        """Accept the key last refused for C{nick} (identity changed, or signed by another's key)."""
        checkWord("nick", nick)
        try:
            pin = self.trust.trust(self.codecFold(nick))
        except KeyError:
            raise CommandError(
                "no refused key to accept for %s: /trust follows an 'identity changed' "
                "or 'signed by another key' refusal" % (nick,)
            ) from None
        event = ev.TrustChanged(nick, pin.fingerprint, pin.status)
        self.emit(event)
        return event

    def verifyNick(self, nick: str, fingerprint: str) -> ev.TrustChanged:
        """Mark C{nick}'s key verified, if C{fingerprint} (compared out of band) is its own."""
        checkWord("nick", nick)
        if normalize_fingerprint(fingerprint) is None:
            raise CommandError("a fingerprint is 8 groups of 5 digits, as /fingerprint shows it")
        try:
            pin = self.trust.verify(self.codecFold(nick), fingerprint)
        except KeyError:
            raise CommandError("no key known for %s yet: wait for a signed message from them" % (nick,)) from None
        except ValueError as exc:
            raise CommandError("not verified: %s (is someone in between?)" % (exc,)) from None
        event = ev.TrustChanged(nick, pin.fingerprint, pin.status)
        self.emit(event)
        return event

    def fingerprintEvent(self, name: str) -> ev.Fingerprint:
        """What C{/fingerprint NAME} shows: the key of C{name}, ours, and a nick's pin."""
        pin = None if self.isRoom(name) else self.trust.pinned(self.codecFold(name))
        return ev.Fingerprint(
            name,
            self.layerFor(name),
            self.fingerprint(name),
            self.identity.fingerprint,
            None if pin is None else pin.fingerprint,
            None if pin is None else pin.status,
        )

    # User commands.

    def maxPayload(self, target: str) -> int:
        """
        The most UTF-8 bytes of text one PRIVMSG to C{target} may carry, once
        the relay has put our prefix in front of it: LINELEN minus
        C{:prefix PRIVMSG target :} and CRLF.
        """
        prefix = self.prefix
        if prefix is None:
            prefix = "%s!%s@%s" % (self.nick, "u" * WORST_USER, "h" * WORST_HOST)
        head = ":%s PRIVMSG %s :" % (prefix, target)
        return self.lineLength - len(head.encode("utf-8")) - 2

    def sendMessage(
        self, target: str, body: str, force: bool = False
    ) -> Union[ev.Sent, ev.Queued]:
        """
        Encode C{body} for C{target} with its conversation's layer and send
        it; if C{target}'s key is being derived, queue it for that key.
        C{force} sends in clear to a keyed peer whose key no longer applies.
        """
        self._checkSendable(target, body)
        pending = self._pending.get(self.codecFold(target))
        if pending is not None:
            self._checkSealingNick()
            return self._queue(pending, target, body)
        return self._seal(target, body, force)

    def _checkSendable(self, target: str, body: str) -> None:
        if not self.connected:
            raise NotConnected("not connected to the server")
        checkTarget(target)
        if not body.strip():
            raise CommandError("nothing to send")
        if "\x00" in body or "\r" in body:
            raise CommandError("a message cannot contain NUL or CR characters")
        if self.isRoom(target) and self.fold(target) not in self.rooms:
            raise CommandError("you are not in %s: /join it first" % (target,))

    def _seal(self, target: str, body: str, force: bool = False) -> ev.Sent:
        self._checkSendable(target, body)
        conversation = self._judging(target)
        layer = self._keyed.get(self.codecFold(target))
        if conversation.keys is None and layer is not None and not force:
            # Keyed, and the key no longer applies (a direct key set before
            # a nick changed, ours, the peer's, or one the relay forced on
            # us): never send such text in clear unless the user says so.
            why = "was set for other names" if self.isRoom(target) else "was set before a nick changed"
            once = "" if self.isRoom(target) else ", /msg! %s to send this one in clear" % (target,)
            raise NeedsForce(
                "not sent: your %s key for %s %s; set it again (/key %s)%s, "
                "or choose plain (/layer! plain %s; JSON: \"force\": true): "
                "in clear the relay reads and can alter it"
                % (layer, target, why, target, once, target)
            )
        if conversation.layer != PLAIN:
            self._checkSealingNick()
        try:
            texts = conversation.encode(self.nick, body, self.maxPayload(target))
        except ValueError as exc:
            # The codec's refusals (too long for receivers to reassemble, a
            # line budget too small): the user's to be told, like ours above.
            raise CommandError("not sent: %s" % (exc,)) from None
        for text in texts:
            self._write("PRIVMSG", target, text)
        event = ev.Sent(target, body, conversation.layer, len(texts))
        self.emit(event)
        return event

    def join(self, room: str) -> None:
        """Join C{room} now if connected, and after every reconnect."""
        if not self.isRoom(room) or "," in room or not isMiddleParam(room):
            raise CommandError("%r is not a room name (rooms start with %s)" % (room, self.chanTypes))
        folded = self.fold(room)
        self.wanted[folded] = room
        if self.registered:
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
        if self.registered and (folded in self.rooms or self._unsolicited.pop(folded, None) is not None):
            if reason:
                self._write("PART", room, reason)
            else:
                self._write("PART", room)

    def changeNick(self, nick: str) -> None:
        """
        The user chooses C{nick}: asked of the server, registered with after
        a reconnect, and, if the server already calls us that (it renamed
        us), accepted from now on for sealing.
        """
        checkWord("nick", nick)
        confirming = not self.nickConfirmed and self.fold(nick) == self.fold(self.nick)
        # What we sign as from now on: our key, whoever else used the nick.
        self.trust.pin_own(self.codecFold(nick), self.identity.public_key)
        self._nickBefore = self.requestedNick
        self.requestedNick = nick
        folded = self.fold(nick)
        if folded not in self._nickRequests:
            self._nickRequests = (self._nickRequests + [folded])[-MAX_NICK_REQUESTS:]
        if self._send is not None and nick != self.nick:
            # Accepting the nick the server already gives us asks nothing of it.
            self._write("NICK", nick)
        if confirming:
            self.emit(ev.Notice("you accept the nick %s: protected messages are sent as %s's" % (nick, nick)))

    def names(self, room: str) -> None:
        checkWord("room", room)
        self._writeWhenRegistered("NAMES", room)
        # The user's own requests: their replies are the only ones kept for
        # rooms we are not in.
        for part in room.split(","):
            if part:
                self._names.asked(self.fold(part))

    def who(self, mask: str) -> None:
        checkWord("mask", mask)
        self._writeWhenRegistered("WHO", mask)
        # Replies are kept only while one of the user's own WHOs is pending.
        self._who.asked()

    def topic(self, room: str, text: Optional[str] = None) -> None:
        """Ask C{room}'s topic, or set it to C{text} (plain IRC text: the relay reads it)."""
        checkWord("room", room)
        if text is None:
            self._writeWhenRegistered("TOPIC", room)
            return
        checkText("topic", text)
        self._writeWhenRegistered("TOPIC", room, text)

    def whois(self, nick: str) -> None:
        checkWord("nick", nick)
        self._writeWhenRegistered("WHOIS", nick)

    def setAway(self, text: str = "") -> None:
        """Be marked away with C{text}, or back without one."""
        checkText("away message", text)
        if text:
            self._writeWhenRegistered("AWAY", text)
        else:
            self._writeWhenRegistered("AWAY")

    def quit(self, reason: str = "") -> None:
        """Say goodbye: always possible, so line breaks in C{reason} become spaces."""
        for breaker in LINE_BREAKERS:
            reason = reason.replace(breaker, " ")
        if self._send is not None:
            self._write("QUIT", reason or "Leaving")
