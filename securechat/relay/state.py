"""
The relay's state and routing: nicks, rooms, membership, capabilities and
the fan-out, with no I/O.  What operators do (TOPIC, MODE, KICK, INVITE) is
in L{securechat.relay.channels}, the read-only queries (NAMES, WHO, WHOIS,
ISON, USERHOST, LIST) in L{securechat.relay.queries}: mixins of
L{RelayState}, sharing its state and its reply helpers.

A L{Client} is what the state knows of one connection; it writes through the
two callables the adapter gives it (C{write}, C{close}).  Tests hand it
lists instead of sockets.  Each room message is formatted once and the same
bytes are written to every member.
"""

from __future__ import annotations

import hmac
import time
from typing import Callable, Dict, FrozenSet, Iterable, List, Optional, Sequence, Set, Tuple

import attr

from .. import __version__
from ..logevents import DISCARD, EventLog
from ..wire import (
    DEFAULT_MAX_LINE,
    MAX_CLIENT_TAGS,
    Message,
    Tags,
    casefolder,
    formatMessage,
    isValidChannel,
    isValidNick,
    splitTargets,
)
from .caps import (
    AWAY_NOTIFY,
    CAPABILITIES,
    ECHO_MESSAGE,
    MULTI_PREFIX,
    TAG_CLIENT,
    clientTags,
    parseCapRequest,
    serverTime,
    tagMode,
    tagPrefix,
)
from .channels import ChannelCommands
from .modes import CHANMODES_TOKEN, MODES_PER_COMMAND, NEW_ROOM_MODES, PREFIX_TOKEN
from .numerics import (
    ERR_ALREADYREGISTERED,
    ERR_BADCHANNELKEY,
    ERR_CANNOTSENDTOCHAN,
    ERR_CHANNELISFULL,
    ERR_ERRONEUSNICKNAME,
    ERR_INPUTTOOLONG,
    ERR_INVALIDCAPCMD,
    ERR_INVITEONLYCHAN,
    ERR_NEEDMOREPARAMS,
    ERR_NICKNAMEINUSE,
    ERR_NOMOTD,
    ERR_NONICKNAMEGIVEN,
    ERR_NORECIPIENT,
    ERR_NOSUCHCHANNEL,
    ERR_NOSUCHNICK,
    ERR_NOTEXTTOSEND,
    ERR_NOTONCHANNEL,
    ERR_NOTREGISTERED,
    ERR_PASSWDMISMATCH,
    ERR_TOOMANYCHANNELS,
    ERR_TOOMANYTARGETS,
    ERR_UNKNOWNCOMMAND,
    RPL_AWAY,
    RPL_CREATED,
    RPL_ENDOFMOTD,
    RPL_ISUPPORT,
    RPL_MOTD,
    RPL_MOTDSTART,
    RPL_MYINFO,
    RPL_NOWAWAY,
    RPL_UNAWAY,
    RPL_WELCOME,
    RPL_YOURHOST,
    echo,
)
from .queries import QueryCommands

#: Commands a client may send before it is registered.
PRE_REGISTRATION = frozenset({"CAP", "PASS", "NICK", "USER", "PING", "PONG", "QUIT"})

#: A client's phases (L{Client.phase}).  It starts L{CONNECTED}; C{CAP LS}
#: or C{CAP REQ} before registration makes it L{NEGOTIATING} until C{CAP
#: END}; NICK and USER (and the password) make it L{REGISTERED}; C{ERROR}
#: or its departure make it L{CLOSING}, for good.
CONNECTED = "connected"
NEGOTIATING = "negotiating"
REGISTERED = "registered"
CLOSING = "closing"
#: The one table of what each phase allows: the commands handled (L{None}:
#: every command the relay knows).  Any other command is answered 451 ERR_NOTREGISTERED
#: before registration, and not at all once closing.
PHASE_COMMANDS: Dict[str, Optional[FrozenSet[str]]] = {
    CONNECTED: PRE_REGISTRATION,
    NEGOTIATING: PRE_REGISTRATION,
    REGISTERED: None,
    CLOSING: frozenset(),
}
#: USER takes a username, two unused words and a real name.
USER_PARAMS = 4
#: Longest username we keep (the rest is cut, as ircds do).
USERLEN = 10
#: Commands whose room messages may wait in a batch (see L{Room}); any other
#: command first delivers what waits, so each peer sees events in order.
ROOM_BATCHED = frozenset({"PRIVMSG", "NOTICE"})
#: Room-message commands whose failures are never answered (RFC 2812 3.3.2).
SILENT_COMMANDS = frozenset({"NOTICE"})
#: The capabilities of a client that took none: one shared object, not an
#: empty frozenset per connection (CPython has no singleton for it).
NO_CAPS: frozenset = frozenset()
#: ISUPPORT tokens per 005 line (RFC 2812's 15 parameters, less two).
ISUPPORT_PER_LINE = 13
#: Longest away message kept (ISUPPORT AWAYLEN).
AWAY_LENGTH = 200


def ircHost(host: str) -> str:
    """
    The peer's address as IRC shows it.  An IPv6 address may start with a
    colon (C{::1}, and every IPv4 peer of a dual-stack listener:
    C{::ffff:127.0.0.1}); as a middle parameter (C{352}) that would read as
    the trailing one, so it gets a leading C{0}, as ircds write it.
    """
    if not host:
        return "*"
    return "0" + host if host[0] == ":" else host


@attr.s(frozen=True, slots=True, auto_attribs=True)
class RelayConfig:
    """What an operator may set; every default is documented in docs/operations.md."""

    serverName: str = "securechat.local"
    networkName: str = "securechat"
    maxLine: int = DEFAULT_MAX_LINE
    nickLength: int = 30
    channelLength: int = 50
    topicLength: int = 390
    maxTargets: int = 4
    maxChannels: int = 50
    casemapping: str = "rfc1459"
    password: Optional[bytes] = attr.ib(default=None, repr=False)
    motd: Tuple[str, ...] = ()
    logPayloads: bool = False


class Client:
    """
    One connection as the state sees it.  C{write} takes bytes for that
    peer; C{close} asks the adapter to end the connection after what has been
    written.  The adapter calls L{RelayState.remove} once it is gone.
    """

    __slots__ = (
        "write",
        "close",
        "host",
        "nick",
        "folded",
        "user",
        "realname",
        "prefix",
        "phase",
        "password",
        "rooms",
        "quitReason",
        "signon",
        "active",
        "away",
        "caps",
        "tagMode",
        "echo",
        "multiPrefix",
        "awayNotify",
    )

    def __init__(
        self,
        write: Callable[[bytes], None],
        close: Callable[[], None],
        host: str,
    ) -> None:
        self.write = write
        self.close = close
        self.host = ircHost(host)
        #: Its nick as given, and casefolded; C{""} until NICK.  Never
        #: empty once L{REGISTERED}.
        self.nick = ""
        self.folded = ""
        #: Its username (C{~} and what USER gave); C{""} until USER.
        self.user = ""
        self.realname = ""
        self.prefix = ""
        #: One of L{CONNECTED}, L{NEGOTIATING}, L{REGISTERED}, L{CLOSING}.
        self.phase = CONNECTED
        self.password: Optional[bytes] = None
        self.rooms: Dict[str, Room] = {}
        self.quitReason: Optional[str] = None
        self.signon = 0
        #: When it last sent a message (WHOIS idle time).
        self.active = 0.0
        #: Its away message, or L{None} when it is here.
        self.away: Optional[str] = None
        #: Its IRCv3 capabilities, and what they mean for what it is sent.
        self.caps: frozenset = NO_CAPS
        self.tagMode = 0
        self.echo = False
        self.multiPrefix = False
        self.awayNotify = False

    @property
    def registered(self) -> bool:
        """Whether it is registered (and not closing)."""
        return self.phase is REGISTERED

    def __repr__(self) -> str:
        return "<Client %s@%s>" % (self.nick or "*", self.host)


class Room:
    """
    A channel: its members by folded nick, its topic, its modes (flags in
    C{modes}, C{key}, C{limit}) and who holds a status (folded nicks in
    C{ops} and C{voiced}).  Always +n.

    Messages to the room wait in C{batch} (with their senders in
    C{batchSenders}) until L{RelayState.deliverPending}: then every member
    who sent none of them gets the very same joined bytes.  C{tagged}
    counts members whose capabilities change what they get (tags, their
    own messages echoed); while it is 0, that is the whole story, and
    otherwise C{batchTags} holds each message's time and passed tags.
    """

    __slots__ = (
        "name",
        "members",
        "topic",
        "topicBy",
        "topicAt",
        "batch",
        "batchSenders",
        "batchTags",
        "created",
        "modes",
        "key",
        "limit",
        "ops",
        "voiced",
        "invited",
        "tagged",
    )

    def __init__(self, name: str, created: int = 0) -> None:
        self.name = name
        self.members: Dict[str, Client] = {}
        self.topic = ""
        self.topicBy = ""
        self.topicAt = 0
        self.batch: List[bytes] = []
        self.batchSenders: List[Client] = []
        self.batchTags: List[Tuple[str, Tags]] = []
        self.created = created
        self.modes = set(NEW_ROOM_MODES)
        self.key: Optional[str] = None
        self.limit = 0
        self.ops: Set[str] = set()
        self.voiced: Set[str] = set()
        #: Who was invited, oldest first (a dict as an ordered set).  By
        #: client, not nick: an invitation does not pass to whoever takes
        #: the nick next.
        self.invited: Dict[Client, None] = {}
        self.tagged = 0

    def canSpeak(self, folded: str) -> bool:
        """Whether the member C{folded} may speak here under C{+m}."""
        return "m" not in self.modes or folded in self.ops or folded in self.voiced


class RelayState(QueryCommands, ChannelCommands):
    """
    Everything the relay knows and decides.  The adapter feeds it parsed
    messages (L{handle}) and departures (L{remove}); it writes replies and
    fan-out through each L{Client}'s callables.
    """

    def __init__(
        self,
        config: RelayConfig = RelayConfig(),
        now: Callable[[], float] = time.time,
        onPending: Optional[Callable[[], None]] = None,
        log: EventLog = DISCARD,
    ) -> None:
        """
        @param onPending: called when room messages start waiting, so the
            adapter arranges a L{deliverPending} at the end of its turn.
        @param log: where registrations, joins, parts, nick changes and
            traffic are reported (the adapter's logger).
        """
        self.log = log
        self.config = config
        self.now = now
        self.onPending = onPending
        self._pendingRooms: List[Room] = []
        self._traffic: List[Tuple[str, str, str, int]] = []
        self.fold = casefolder(config.casemapping)
        self.clients: Dict[str, Client] = {}
        self.rooms: Dict[str, Room] = {}
        self.created = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(now()))
        self._dispatch = {
            "CAP": self.irc_CAP,
            "PASS": self.irc_PASS,
            "NICK": self.irc_NICK,
            "USER": self.irc_USER,
            "PING": self.irc_PING,
            "PONG": self.irc_PONG,
            "JOIN": self.irc_JOIN,
            "PART": self.irc_PART,
            "PRIVMSG": self.irc_PRIVMSG,
            "NOTICE": self.irc_NOTICE,
            "NAMES": self.irc_NAMES,
            "WHO": self.irc_WHO,
            "TOPIC": self.irc_TOPIC,
            "QUIT": self.irc_QUIT,
            "MOTD": self.irc_MOTD,
            "MODE": self.irc_MODE,
            "KICK": self.irc_KICK,
            "INVITE": self.irc_INVITE,
            "WHOIS": self.irc_WHOIS,
            "AWAY": self.irc_AWAY,
            "ISON": self.irc_ISON,
            "USERHOST": self.irc_USERHOST,
            "LIST": self.irc_LIST,
            "TAGMSG": self.irc_TAGMSG,
        }
        #: The tags of the message being handled (see L{handle}).
        self._tags: Optional[Tags] = None
        #: The clock when the turn's first message was logged (L{_logMessage}).
        self._turnTime = 0.0
        self._isupport = self._isupportTokens()

    # Replies.

    def reply(self, client: Client, numeric: str, *params: str) -> None:
        """Send a numeric from the server, addressed to the client's nick."""
        client.write(
            formatMessage(
                numeric, (client.nick or "*",) + params, self.config.serverName
            )
        )

    def error(self, client: Client, reason: str) -> None:
        """
        Send C{ERROR} and have the connection closed (RFC 2812 3.7.4): the
        client is L{CLOSING}, nothing more it sends is handled.
        """
        client.write(formatMessage("ERROR", (reason,)))
        client.phase = CLOSING
        client.close()

    def inputTooLong(self, client: Client, tags: bool = False) -> None:
        """417: the line was dropped (its tags, if C{tags}, were too long), the connection kept."""
        if tags:
            self.reply(
                client,
                ERR_INPUTTOOLONG,
                "Input line was too long (message tags over %d bytes)" % (MAX_CLIENT_TAGS,),
            )
        else:
            self.reply(client, ERR_INPUTTOOLONG, "Input line was too long")

    def badLine(self, client: Client, code: str, description: str) -> None:
        """
        An IRCv3 standard reply for a line we could not parse (invalid
        UTF-8, NUL/CR inside it): there is no numeric for these.
        """
        client.write(
            formatMessage("FAIL", ("*", code, description), self.config.serverName)
        )

    # Entry points from the adapter.

    def handle(self, client: Client, message: Message) -> None:
        """Act on one message from C{client}."""
        command = message.command
        if (self._pendingRooms or self._traffic) and command not in ROOM_BATCHED:
            # Whatever this command writes must come after the room
            # messages already handled.
            self.deliverPending()
        handler = self._dispatch.get(command)
        allowed = PHASE_COMMANDS[client.phase]
        if allowed is None:
            if handler is None:
                self.reply(client, ERR_UNKNOWNCOMMAND, echo(command[:32]), "Unknown command")
                return
        elif handler is None or command not in allowed:
            if client.phase is not CLOSING:
                self.reply(client, ERR_NOTREGISTERED, "You have not registered")
            return
        self._tags = message.tags
        handler(client, message.params)

    def remove(self, client: Client, reason: str) -> None:
        """
        C{client} is gone: tell each room peer once, forget it.  Safe to call
        more than once.
        """
        quitReason = client.quitReason or reason
        self.deliverPending()
        if client.folded and self.clients.get(client.folded) is client:
            del self.clients[client.folded]
            line = formatMessage("QUIT", (quitReason,), client.prefix)
            for peer in self._peersOf(client):
                peer.write(line)
            for room in list(client.rooms.values()):
                self._leave(client, room)
        # No event here: the adapter logs the disconnect, with host and
        # reason, once per connection.
        client.phase = CLOSING
        client.rooms = {}

    # Registration.

    def irc_CAP(self, client: Client, params: Sequence[str]) -> None:
        """
        CAP 302: C{LS} offers L{CAPABILITIES}, C{REQ} takes a whole list or
        none of it, C{LIST} says what is on.  Registration waits for
        C{END} once C{LS} or C{REQ} came before it.
        """
        if not params:
            self.reply(client, ERR_NEEDMOREPARAMS, "CAP", "Not enough parameters")
            return
        sub = params[0].upper()
        if sub == "LS":
            if client.phase is CONNECTED:
                client.phase = NEGOTIATING
            self._cap(client, "LS", " ".join(CAPABILITIES))
        elif sub == "LIST":
            self._cap(client, "LIST", " ".join(c for c in CAPABILITIES if c in client.caps))
        elif sub == "REQ":
            if client.phase is CONNECTED:
                client.phase = NEGOTIATING
            text = params[1] if len(params) > 1 else ""
            wanted = parseCapRequest(text)
            if wanted is None:
                self._cap(client, "NAK", text)
                return
            caps = set(client.caps)
            for name, enable in wanted:
                if enable:
                    caps.add(name)
                else:
                    caps.discard(name)
            self._setCaps(client, frozenset(caps) if caps else NO_CAPS)
            self._cap(client, "ACK", text)
        elif sub == "END":
            if client.phase is NEGOTIATING:
                client.phase = CONNECTED
                self._tryRegister(client)
        else:
            self.reply(client, ERR_INVALIDCAPCMD, echo(params[0][:32]), "Invalid CAP command")

    def _setCaps(self, client: Client, caps: frozenset) -> None:
        """Take C{caps} on, keeping each room's count of tagged members right."""
        before = bool(client.tagMode or client.echo)
        client.caps = caps
        client.tagMode = tagMode(caps)
        client.echo = ECHO_MESSAGE in caps
        client.multiPrefix = MULTI_PREFIX in caps
        client.awayNotify = AWAY_NOTIFY in caps
        change = bool(client.tagMode or client.echo) - before
        if change:
            for room in client.rooms.values():
                room.tagged += change

    def _cap(self, client: Client, sub: str, value: str) -> None:
        client.write(
            formatMessage(
                "CAP", (client.nick or "*", sub, value), self.config.serverName
            )
        )

    def irc_PASS(self, client: Client, params: Sequence[str]) -> None:
        if client.registered:
            self.reply(client, ERR_ALREADYREGISTERED, "You may not reregister")
        elif not params:
            self.reply(client, ERR_NEEDMOREPARAMS, "PASS", "Not enough parameters")
        else:
            client.password = params[0].encode("utf-8")

    def irc_NICK(self, client: Client, params: Sequence[str]) -> None:
        if not params or not params[0]:
            self.reply(client, ERR_NONICKNAMEGIVEN, "No nickname given")
            return
        nick = params[0]
        if not isValidNick(nick, self.config.nickLength):
            self.reply(client, ERR_ERRONEUSNICKNAME, echo(nick), "Erroneous nickname")
            return
        folded = self.fold(nick)
        holder = self.clients.get(folded)
        if holder is not None and holder is not client:
            self.reply(client, ERR_NICKNAMEINUSE, nick, "Nickname is already in use")
            return
        if not client.registered:
            client.nick, client.folded = nick, folded
            self._tryRegister(client)
            return
        if nick == client.nick:
            return
        line = formatMessage("NICK", (nick,), client.prefix)
        client.write(line)
        for peer in self._peersOf(client):
            peer.write(line)
        del self.clients[client.folded]
        old = client.folded
        client.nick, client.folded = nick, folded
        self.clients[folded] = client
        for room in client.rooms.values():
            del room.members[old]
            room.members[folded] = client
            for statuses in (room.ops, room.voiced):
                if old in statuses:
                    statuses.discard(old)
                    statuses.add(folded)
        self._setPrefix(client)
        self.log.info("nick {old} -> {new}", old=old, new=nick)

    def irc_USER(self, client: Client, params: Sequence[str]) -> None:
        if client.registered:
            self.reply(client, ERR_ALREADYREGISTERED, "You may not reregister")
            return
        if len(params) < USER_PARAMS or not params[0] or not params[3]:
            self.reply(client, ERR_NEEDMOREPARAMS, "USER", "Not enough parameters")
            return
        # ASCII only: a Cyrillic "а" would pass isalnum and make a prefix
        # that looks like another user's.
        user = "".join(c for c in params[0] if (c.isascii() and c.isalnum()) or c in "-_.")
        client.user = "~" + (user[:USERLEN] or "user")
        client.realname = params[3]
        self._tryRegister(client)

    def _setPrefix(self, client: Client) -> None:
        client.prefix = "%s!%s@%s" % (client.nick, client.user, client.host)

    def _tryRegister(self, client: Client) -> None:
        if client.phase is not CONNECTED or not client.nick or not client.user:
            return
        expected = self.config.password
        if expected is not None and not hmac.compare_digest(
            client.password or b"", expected
        ):
            self.reply(client, ERR_PASSWDMISMATCH, "Password incorrect")
            self.log.warn("bad password from {host}", host=client.host)
            self.error(client, "Closing Link: %s (Bad password)" % (client.host,))
            return
        if client.folded in self.clients:
            # Someone took the nick between NICK and USER.
            self.reply(
                client, ERR_NICKNAMEINUSE, client.nick, "Nickname is already in use"
            )
            client.nick = client.folded = ""
            return
        client.phase = REGISTERED
        client.password = None
        client.signon = int(self.now())
        self._setPrefix(client)
        self.clients[client.folded] = client
        self._welcome(client)
        self.log.info(
            "register {nick}!{user}@{host}",
            nick=client.nick,
            user=client.user,
            host=client.host,
        )

    def _isupportTokens(self) -> List[str]:
        config = self.config
        return [
            "CASEMAPPING=" + config.casemapping,
            "CHANTYPES=#",
            CHANMODES_TOKEN,
            PREFIX_TOKEN,
            "MODES=%d" % (MODES_PER_COMMAND,),
            "KICKLEN=%d" % (config.topicLength,),
            "AWAYLEN=%d" % (AWAY_LENGTH,),
            "NICKLEN=%d" % (config.nickLength,),
            "CHANNELLEN=%d" % (config.channelLength,),
            "TOPICLEN=%d" % (config.topicLength,),
            "CHANLIMIT=#:%d" % (config.maxChannels,),
            "TARGMAX=PRIVMSG:%d,NOTICE:%d,JOIN:,PART:"
            % (config.maxTargets, config.maxTargets),
            "LINELEN=%d" % (config.maxLine,),
            "UTF8ONLY",
            "NETWORK=" + config.networkName,
        ]

    def _welcome(self, client: Client) -> None:
        config = self.config
        name = config.serverName
        version = "securechat-" + __version__
        self.reply(
            client, RPL_WELCOME, "Welcome to the %s network, %s" % (config.networkName, client.prefix)
        )
        self.reply(client, RPL_YOURHOST, "Your host is %s, running %s" % (name, version))
        self.reply(client, RPL_CREATED, "This server was created %s" % (self.created,))
        self.reply(client, RPL_MYINFO, name, version, "o", "iklmnostv", "klov")
        # At most 13 tokens a line: with the nick and the text, 15 parameters.
        tokens = self._isupport
        for start in range(0, len(tokens), ISUPPORT_PER_LINE):
            self.reply(
                client,
                RPL_ISUPPORT,
                *tokens[start : start + ISUPPORT_PER_LINE],
                "are supported by this server",
            )
        self.irc_MOTD(client, ())

    # Liveness.

    def irc_PING(self, client: Client, params: Sequence[str]) -> None:
        if not params:
            self.reply(client, ERR_NEEDMOREPARAMS, "PING", "Not enough parameters")
            return
        name = self.config.serverName
        client.write(formatMessage("PONG", (name, params[0]), name))

    def irc_PONG(self, client: Client, params: Sequence[str]) -> None:
        """Any line is proof of life; the adapter already noted it."""

    def irc_QUIT(self, client: Client, params: Sequence[str]) -> None:
        message = params[0] if params else ""
        client.quitReason = "Quit: " + message if message else "Quit"
        self.error(client, "Closing Link: %s (%s)" % (client.host, client.quitReason))

    def irc_MOTD(self, client: Client, params: Sequence[str]) -> None:
        if not self.config.motd:
            self.reply(client, ERR_NOMOTD, "MOTD File is missing")
            return
        self.reply(
            client, RPL_MOTDSTART, "- %s Message of the day - " % (self.config.serverName,)
        )
        for line in self.config.motd:
            self.reply(client, RPL_MOTD, "- " + line)
        self.reply(client, RPL_ENDOFMOTD, "End of /MOTD command.")

    def irc_AWAY(self, client: Client, params: Sequence[str]) -> None:
        """Set (with a message) or clear the away message; tell away-notify peers."""
        text = params[0][:AWAY_LENGTH] if params else ""
        if text:
            client.away = text
            self.reply(client, RPL_NOWAWAY, "You have been marked as being away")
        else:
            client.away = None
            self.reply(client, RPL_UNAWAY, "You are no longer marked as being away")
        line = formatMessage("AWAY", (text,) if text else (), client.prefix)
        for peer in self._peersOf(client):
            if peer.awayNotify:
                peer.write(line)

    # Rooms.

    def irc_JOIN(self, client: Client, params: Sequence[str]) -> None:
        if not params:
            self.reply(client, ERR_NEEDMOREPARAMS, "JOIN", "Not enough parameters")
            return
        if params[0] == "0":
            for room in list(client.rooms.values()):
                self._part(client, room, "Left all channels")
            return
        keys = splitTargets(params[1]) if len(params) > 1 else []
        for index, name in enumerate(splitTargets(params[0])):
            self._join(client, name, keys[index] if index < len(keys) else "")

    def _join(self, client: Client, name: str, key: str) -> None:
        if not isValidChannel(name, self.config.channelLength):
            self.reply(client, ERR_NOSUCHCHANNEL, echo(name), "No such channel")
            return
        folded = self.fold(name)
        if folded in client.rooms:
            return
        if len(client.rooms) >= self.config.maxChannels:
            self.reply(client, ERR_TOOMANYCHANNELS, name, "You have joined too many channels")
            return
        room = self.rooms.get(folded)
        if room is None:
            room = self.rooms[folded] = Room(name, int(self.now()))
            room.ops.add(client.folded)
        elif not self._mayJoin(client, room, key):
            return
        room.invited.pop(client, None)
        room.members[client.folded] = client
        client.rooms[folded] = room
        if client.tagMode or client.echo:
            room.tagged += 1
        line = formatMessage("JOIN", (room.name,), client.prefix)
        away = None
        if client.away:
            away = formatMessage("AWAY", (client.away,), client.prefix)
        for member in room.members.values():
            member.write(line)
            if away is not None and member.awayNotify and member is not client:
                member.write(away)
        if room.topic:
            self._sendTopic(client, room)
        self._names(client, room)
        self.log.info("join {nick} {room}", nick=client.nick, room=room.name)

    def _mayJoin(self, client: Client, room: Room, key: str) -> bool:
        """+i (unless invited), +k, +l: refuse with the numeric, or allow."""
        if "i" in room.modes and client not in room.invited:
            self.reply(client, ERR_INVITEONLYCHAN, room.name, "Cannot join channel (+i)")
            return False
        if room.key is not None and not hmac.compare_digest(
            key.encode("utf-8"), room.key.encode("utf-8")
        ):
            self.reply(client, ERR_BADCHANNELKEY, room.name, "Cannot join channel (+k)")
            return False
        if room.limit and len(room.members) >= room.limit:
            self.reply(client, ERR_CHANNELISFULL, room.name, "Cannot join channel (+l)")
            return False
        return True

    def irc_PART(self, client: Client, params: Sequence[str]) -> None:
        if not params:
            self.reply(client, ERR_NEEDMOREPARAMS, "PART", "Not enough parameters")
            return
        reason = params[1] if len(params) > 1 else ""
        for name in splitTargets(params[0]):
            folded = self.fold(name)
            room = client.rooms.get(folded)
            if room is None:
                if folded in self.rooms:
                    self.reply(client, ERR_NOTONCHANNEL, echo(name), "You're not on that channel")
                else:
                    self.reply(client, ERR_NOSUCHCHANNEL, echo(name), "No such channel")
                continue
            self._part(client, room, reason)

    def _part(self, client: Client, room: Room, reason: str) -> None:
        params = (room.name, reason) if reason else (room.name,)
        line = formatMessage("PART", params, client.prefix)
        for member in room.members.values():
            member.write(line)
        self._leave(client, room)
        self.log.info("part {nick} {room}", nick=client.nick, room=room.name)

    def _leave(self, client: Client, room: Room) -> None:
        folded = self.fold(room.name)
        if room.members.pop(client.folded, None) is not None and (
            client.tagMode or client.echo
        ):
            room.tagged -= 1
        room.ops.discard(client.folded)
        room.voiced.discard(client.folded)
        client.rooms.pop(folded, None)
        if not room.members:
            self.rooms.pop(folded, None)

    def _peersOf(self, client: Client) -> Iterable[Client]:
        """Everyone who shares a room with C{client}, once each, not C{client}."""
        seen = {client.folded: client}
        for room in client.rooms.values():
            for folded, member in room.members.items():
                if folded not in seen:
                    seen[folded] = member
                    yield member

    # Messages.

    def irc_PRIVMSG(self, client: Client, params: Sequence[str]) -> None:
        self._message("PRIVMSG", client, params)

    def irc_NOTICE(self, client: Client, params: Sequence[str]) -> None:
        self._message("NOTICE", client, params)

    def _message(self, command: str, client: Client, params: Sequence[str]) -> None:
        silent = command in SILENT_COMMANDS
        if not params or not params[0]:
            if not silent:
                self.reply(client, ERR_NORECIPIENT, "No recipient given (%s)" % (command,))
            return
        if len(params) < 2 or not params[1]:
            if not silent:
                self.reply(client, ERR_NOTEXTTOSEND, "No text to send")
            return
        targets = splitTargets(params[0])
        if len(targets) > self.config.maxTargets:
            if not silent:
                self.reply(client, ERR_TOOMANYTARGETS, echo(params[0]), "Too many recipients")
            return
        text = params[1]
        seen: Optional[Set[str]] = set() if len(targets) > 1 else None
        for target in targets:
            folded = self.fold(target)
            if seen is not None:
                # PRIVMSG bob,BOB reaches bob once, as a room reaches each member once.
                if folded in seen:
                    continue
                seen.add(folded)
            if target[0] == "#":
                room = self.rooms.get(folded)
                if room is None:
                    if not silent:
                        self.reply(client, ERR_NOSUCHCHANNEL, echo(target), "No such channel")
                    continue
                # canSpeak inlined: +m is one set lookup on the hot path.
                if client.folded not in room.members or (
                    "m" in room.modes and not room.canSpeak(client.folded)
                ):
                    if not silent:
                        self.reply(
                            client, ERR_CANNOTSENDTOCHAN, room.name, "Cannot send to channel"
                        )
                    continue
                line = (
                    ":%s %s %s :%s\r\n" % (client.prefix, command, room.name, text)
                ).encode("utf-8")
                batch = room.batch
                if not batch:
                    self._pendingRooms.append(room)
                    if self.onPending is not None and len(self._pendingRooms) == 1:
                        self.onPending()
                batch.append(line)
                room.batchSenders.append(client)
                if room.tagged:
                    room.batchTags.append(self._stamp(client))
                traffic = self._traffic
                if traffic and not self.config.logPayloads:
                    # _logMessage's common case, inlined: the hot path.
                    client.active = self._turnTime
                    traffic.append((command, client.nick, room.name, len(line)))
                else:
                    self._logMessage(command, client, room.name, text, len(line))
            else:
                peer = self.clients.get(folded)
                if peer is None:
                    if not silent:
                        self.reply(client, ERR_NOSUCHNICK, echo(target), "No such nick/channel")
                    continue
                line = (
                    ":%s %s %s :%s\r\n" % (client.prefix, command, peer.nick, text)
                ).encode("utf-8")
                if self._pendingRooms:
                    self.deliverPending()  # keep the order the sender used
                if peer.away is not None and not silent:
                    self.reply(client, RPL_AWAY, peer.nick, peer.away)
                if peer.tagMode or client.echo:
                    self._sendTagged(client, peer, line)
                else:
                    peer.write(line)
                traffic = self._traffic
                if traffic and not self.config.logPayloads:
                    client.active = self._turnTime
                    traffic.append((command, client.nick, peer.nick, len(line)))
                else:
                    self._logMessage(command, client, peer.nick, text, len(line))

    def _stamp(self, client: Client) -> Tuple[str, Tags]:
        """The time of the message being handled and the tags it passes on."""
        passed = clientTags(self._tags) if client.tagMode & TAG_CLIENT else ()
        return serverTime(self.now()), passed

    def _sendTagged(self, client: Client, peer: Client, line: bytes) -> None:
        """A direct message to C{peer} with its tags, echoed to an echo-message sender."""
        stamp, passed = self._stamp(client)
        peer.write(tagPrefix(peer.tagMode, stamp, passed) + line)
        if client.echo and peer is not client:
            client.write(tagPrefix(client.tagMode, stamp, passed) + line)

    def irc_TAGMSG(self, client: Client, params: Sequence[str]) -> None:
        """
        Tags only, for members and nicks that took message-tags (and the
        sender, with echo-message); the rules of PRIVMSG apply, and a
        TAGMSG with nothing to pass on goes nowhere.
        """
        if not params or not params[0]:
            self.reply(client, ERR_NORECIPIENT, "No recipient given (TAGMSG)")
            return
        targets = splitTargets(params[0])
        if len(targets) > self.config.maxTargets:
            self.reply(client, ERR_TOOMANYTARGETS, echo(params[0]), "Too many recipients")
            return
        stamp, passed = self._stamp(client)
        for target in targets:
            folded = self.fold(target)
            if target[0] == "#":
                room = self.rooms.get(folded)
                if room is None:
                    self.reply(client, ERR_NOSUCHCHANNEL, echo(target), "No such channel")
                    continue
                if client.folded not in room.members or not room.canSpeak(client.folded):
                    self.reply(client, ERR_CANNOTSENDTOCHAN, room.name, "Cannot send to channel")
                    continue
                recipients: Iterable[Client] = room.members.values()
                name = room.name
            else:
                peer = self.clients.get(folded)
                if peer is None:
                    self.reply(client, ERR_NOSUCHNICK, echo(target), "No such nick/channel")
                    continue
                recipients = (peer, client) if peer is not client else (peer,)
                name = peer.nick
            if not passed:
                continue
            line = formatMessage("TAGMSG", (name,), client.prefix)
            for member in recipients:
                if member.tagMode & TAG_CLIENT and (member is not client or client.echo):
                    member.write(tagPrefix(member.tagMode, stamp, passed) + line)
            self._logMessage("TAGMSG", client, name, "", len(line))

    def deliverPending(self) -> None:
        """
        Write the room messages handled since the last call.  A member who
        sent none of them gets one shared bytes object holding them all; a
        sender gets the others' lines, never its own.  This is the relay's
        fan-out: per message and member there is no Python work left.
        """
        if self._traffic:
            self._logTraffic()
        rooms, self._pendingRooms = self._pendingRooms, []
        for room in rooms:
            batch, senders = room.batch, room.batchSenders
            room.batch, room.batchSenders = [], []
            if room.tagged or room.batchTags:
                stamps, room.batchTags = room.batchTags, []
                if len(stamps) < len(batch):
                    # Never expected (membership and caps change only
                    # after a deliverPending), but a line lost to zip()
                    # would be a message silently dropped.
                    stamps[:0] = [(serverTime(self.now()), ())] * (len(batch) - len(stamps))
                self._deliverTagged(room, batch, senders, stamps)
                continue
            joined = batch[0] if len(batch) == 1 else b"".join(batch)
            senderSet = set(senders)
            for member in room.members.values():
                if member not in senderSet:
                    member.write(joined)
                else:
                    others = [line for line, s in zip(batch, senders) if s is not member]
                    if others:
                        member.write(b"".join(others))

    def _deliverTagged(
        self,
        room: Room,
        batch: List[bytes],
        senders: List[Client],
        stamps: List[Tuple[str, Tags]],
    ) -> None:
        """
        L{deliverPending} for a room where some members take tags or echoes:
        the bytes are still joined once per kind of member (which tags it
        takes), not once per member; a sender without echo-message gets
        the others' lines only.
        """
        joinedFor: Dict[int, bytes] = {}
        senderSet = set(senders)
        for member in room.members.values():
            mode = member.tagMode
            if member in senderSet and not member.echo:
                others = [
                    (tagPrefix(mode, *stamp) if mode else b"") + line
                    for line, sender, stamp in zip(batch, senders, stamps)
                    if sender is not member
                ]
                if others:
                    member.write(b"".join(others))
                continue
            joined = joinedFor.get(mode)
            if joined is None:
                if mode:
                    joined = b"".join(
                        tagPrefix(mode, *stamp) + line for line, stamp in zip(batch, stamps)
                    )
                else:
                    joined = b"".join(batch)
                joinedFor[mode] = joined
            member.write(joined)

    def _logMessage(
        self, command: str, client: Client, target: str, text: str, size: int
    ) -> None:
        """
        Record who sent what to whom and how big.  Without payloads the
        records of one turn go out as a single C{traffic} event (see
        L{_logTraffic}); with them, each message is its own event, as a
        lesson in what a relay sees.

        It also notes when C{client} last spoke (WHOIS idle time), reading
        the clock once per turn: a clock call per message cost the fan-out
        path 5 %.  L{_message} inlines the case of a turn's later messages
        without payloads (bench/state.py: the state's fan-out path is then
        as fast as before operators, modes and capabilities came in).
        """
        if self.config.logPayloads:
            client.active = self.now()
            self.log.info(
                "{command} {sender} -> {target} ({size} bytes): {payload}",
                command=command,
                sender=client.nick,
                target=target,
                size=size,
                payload=text,
            )
            return
        if not self._traffic:
            self._turnTime = self.now()
            if self.onPending is not None and not self._pendingRooms:
                self.onPending()
        client.active = self._turnTime
        self._traffic.append((command, client.nick, target, size))

    def _logTraffic(self) -> None:
        """
        One event for the messages of a turn, each still named with its
        command, sender, target and size (C{messages} holds them as tuples
        for machine observers): a turn's log costs one event, not one per
        message.
        """
        traffic, self._traffic = self._traffic, []
        self.log.info(
            "traffic: {summary}",
            summary="; ".join("%s %s -> %s (%d bytes)" % record for record in traffic),
            messages=traffic,
        )
