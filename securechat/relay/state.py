"""
The relay's state and routing: nicks, rooms, membership, capabilities and
the fan-out, with no I/O.  Registration is in
L{securechat.relay.registration}, what operators do (TOPIC, MODE, KICK,
INVITE) in L{securechat.relay.channels}, the read-only queries (NAMES, WHO,
WHOIS, ISON, USERHOST, LIST) in L{securechat.relay.queries}, IRC operators
and user modes (OPER, KILL, WALLOPS) in L{securechat.relay.operators}: mixins of
L{RelayState}, sharing its state and its reply helpers, marked as mypyc traits
(L{securechat.relay.traits}) so the optional compiled build can compile it.  The records
(L{Client}, L{Room}, L{RelayConfig}) are in L{securechat.relay.records}.

A L{Client} is what the state knows of one connection; it writes through the
two callables the adapter gives it (C{write}, C{close}).  Tests hand it
lists instead of sockets.  Each room message is formatted once and the same
bytes are written to every member.
"""

from __future__ import annotations

import hmac
import time
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Set, Tuple, Union

from ..logevents import DISCARD, EventLog
from ..numerics import (
    ERR_BADCHANNELKEY,
    ERR_CANNOTSENDTOCHAN,
    ERR_CHANNELISFULL,
    ERR_INPUTTOOLONG,
    ERR_INVITEONLYCHAN,
    ERR_NEEDMOREPARAMS,
    ERR_NOMOTD,
    ERR_NORECIPIENT,
    ERR_NOSUCHCHANNEL,
    ERR_NOSUCHNICK,
    ERR_NOTEXTTOSEND,
    ERR_NOTONCHANNEL,
    ERR_NOTREGISTERED,
    ERR_TOOMANYCHANNELS,
    ERR_TOOMANYTARGETS,
    ERR_UNKNOWNCOMMAND,
    RPL_AWAY,
    RPL_ENDOFMOTD,
    RPL_MOTD,
    RPL_MOTDSTART,
    RPL_NOWAWAY,
    RPL_UNAWAY,
    echo,
)
from ..wire import (
    MAX_CLIENT_TAGS,
    Message,
    Tags,
    TooLong,
    casefolder,
    formatMessage,
    isValidChannel,
    splitTargets,
)
from .caps import (
    TAG_CLIENT,
    clientTags,
    serverTime,
    tagPrefix,
)
from .channels import ChannelCommands
from .fit import formatFitted
from .limits import TokenBucket
from .operators import OperatorCommands
from .queries import QueryCommands
from .records import (
    AWAY_LENGTH,
    CLOSING,
    CONNECTED,
    ISUPPORT_PER_LINE,
    NEGOTIATING,
    NO_CAPS,
    PHASE_COMMANDS,
    PRE_REGISTRATION,
    REGISTERED,
    USER_PARAMS,
    USERLEN,
    Client,
    RelayConfig,
    Room,
    ircHost,
)
from .registration import RegistrationCommands

#: What other modules import from here.
__all__ = [
    "RelayState",
    "ROOM_BATCHED",
    "SILENT_COMMANDS",
    "PRE_REGISTRATION",
    "CONNECTED",
    "NEGOTIATING",
    "REGISTERED",
    "CLOSING",
    "PHASE_COMMANDS",
    "USER_PARAMS",
    "USERLEN",
    "NO_CAPS",
    "ISUPPORT_PER_LINE",
    "AWAY_LENGTH",
    "ircHost",
    "RelayConfig",
    "Client",
    "Room",
]

#: Commands whose room messages may wait in a batch (see L{Room}); any other
#: command first delivers what waits, so each peer sees events in order.
ROOM_BATCHED = frozenset({"PRIVMSG", "NOTICE"})
#: Room-message commands whose failures are never answered (RFC 2812 3.3.2).
SILENT_COMMANDS = frozenset({"NOTICE"})
#: The bytes L{RelayState.messageLine} looks for, as the ints a bytes holds.
_NUL, _CR, _SPACE, _COMMA = b"\x00\r ,"


class RelayState(RegistrationCommands, QueryCommands, ChannelCommands, OperatorCommands):
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
            "OPER": self.irc_OPER,
            "KILL": self.irc_KILL,
            "WALLOPS": self.irc_WALLOPS,
        }
        #: The tags of the message being handled (see L{handle}).
        self._tags: Optional[Tags] = None
        #: The clock when the turn's first message was logged (L{_logMessage}).
        self._turnTime = 0.0
        self._isupport = self._isupportTokens()

    # Replies.

    def reply(self, client: Client, numeric: str, *params: str) -> None:
        """
        Send a numeric from the server, addressed to the client's nick; its
        last parameter cut to fit the line limit (see L{formatFitted}).
        """
        client.write(
            formatFitted(
                numeric, (client.nick or "*",) + params, self.config.serverName, self.config.maxLine
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
        phase = client.phase
        if phase is REGISTERED:
            # PHASE_COMMANDS[REGISTERED] is None: every command; tested
            # first, as nearly every line comes from a registered client.
            if handler is None:
                self.reply(client, ERR_UNKNOWNCOMMAND, echo(command[:32]), "Unknown command")
                return
        else:
            allowed = PHASE_COMMANDS[phase]
            if handler is None or (allowed is not None and command not in allowed):
                if phase is not CLOSING:
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
            line = formatFitted("QUIT", (quitReason,), client.prefix, self.config.maxLine)
            for peer in self._peersOf(client):
                peer.write(line)
            for room in list(client.rooms.values()):
                self._leave(client, room)
        # No event here: the adapter logs the disconnect, with host and
        # reason, once per connection.
        client.phase = CLOSING
        client.rooms = {}

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
        tail = (" :" + text + "\r\n").encode("utf-8")
        if len(targets) == 1:
            self._route(command, client, targets[0], tail, text, silent)
            return
        seen: Set[str] = set()
        for target in targets:
            # PRIVMSG bob,BOB reaches bob once, as a room reaches each member once.
            folded = self.fold(target)
            if folded in seen:
                continue
            seen.add(folded)
            self._route(command, client, target, tail, text, silent)

    def messageLine(self, client: Client, line: bytes) -> bool:
        """
        The fast path of nearly every line a relay reads: C{PRIVMSG} (or
        C{NOTICE}) to one target with a trailing text, from a registered
        client, read on bytes.  The received tail (C{" :text"}) is written
        out as it came, with no L{Message}, no str round trip of the text
        and no re-formatting; the routing is L{_message}'s own
        (L{_route}).  Returns L{False}, having done nothing, for any line
        of another shape (tags, a source, several targets, no text, a byte
        that L{parseLine} would refuse, payload logging on): the caller
        parses it and L{handle}s it as usual, so every reply and error
        stays the one the full path gives.
        """
        if client.phase is not REGISTERED or self.config.logPayloads:
            return False
        if line.startswith(b"PRIVMSG "):
            command = "PRIVMSG"
            start = 8
        elif line.startswith(b"NOTICE "):
            command = "NOTICE"
            start = 7
        else:
            return False
        # From the space after the command: a target that starts with a
        # colon is no target but the trailing text (412 on the full path).
        colon = line.find(b" :", start - 1)
        if colon <= start or len(line) == colon + 2:
            return False
        # Bytes tested as ints: C{b"\\r" in line} first tries its operand
        # as an int, and raises and clears a TypeError inside CPython,
        # four times a message (0.14 us each, CPython 3.11); C{13 in line} does not.
        if _NUL in line or _CR in line:
            return False
        raw = line[start:colon]
        if _SPACE in raw or _COMMA in raw:
            return False
        if not line.isascii():
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return False
        self._tags = None
        self._route(command, client, raw.decode("utf-8"), line[colon:] + b"\r\n", None, command in SILENT_COMMANDS)
        return True

    def messageLines(
        self,
        client: Client,
        lines: Sequence[Union[bytes, TooLong]],
        start: int,
        stop: int,
        bucket: TokenBucket,
        now: float,
    ) -> int:
        """
        L{messageLine} over C{lines[start:stop]}, each paid for with a token
        of C{bucket} taken at C{now}, while they are fast-path lines; returns
        the index of the first line not handled (C{stop} when all were):
        a line of another shape, or one the bucket cannot pay for, is left
        to the caller's line-by-line path, untouched.  The adapter's read
        loop in one call: compiled, the loop runs in C too.
        """
        at = start
        while at < stop:
            line = lines[at]
            if not isinstance(line, bytes) or not line:
                break
            # Tokens are counted first and taken once the line is handled:
            # the same arithmetic as take-then-handle, and a line left to
            # the caller still finds its token there.
            if not bucket.has(now) or not self.messageLine(client, line):
                break
            bucket.take(now)
            at += 1
        return at

    def _route(
        self,
        command: str,
        client: Client,
        target: str,
        tail: bytes,
        text: Optional[str],
        silent: bool,
    ) -> None:
        """
        One message to one target: C{tail} is what follows the target on
        the line (C{b" :text\\r\\n"}), the same for every target; C{text} is
        its str, or L{None} when the caller has none (it is decoded from
        C{tail} only if a payload log needs it).
        """
        folded = self.fold(target)
        if target[0] == "#":
            room = self.rooms.get(folded)
            if room is None:
                if not silent:
                    self.reply(client, ERR_NOSUCHCHANNEL, echo(target), "No such channel")
                return
            # canSpeak inlined: +m is one set lookup on the hot path.
            if client.folded not in room.members or (
                "m" in room.modes and not room.canSpeak(client.folded)
            ):
                if not silent:
                    self.reply(client, ERR_CANNOTSENDTOCHAN, room.name, "Cannot send to channel")
                return
            name = room.name
            line = (":%s %s %s" % (client.prefix, command, name)).encode("utf-8") + tail
            batch = room.batch
            if not batch:
                self._pendingRooms.append(room)
                if self.onPending is not None and len(self._pendingRooms) == 1:
                    self.onPending()
            batch.append(line)
            room.batchSenders.append(client)
            if room.tagged:
                room.batchTags.append(self._stamp(client))
        else:
            peer = self.clients.get(folded)
            if peer is None:
                if not silent:
                    self.reply(client, ERR_NOSUCHNICK, echo(target), "No such nick/channel")
                return
            name = peer.nick
            line = (":%s %s %s" % (client.prefix, command, name)).encode("utf-8") + tail
            if self._pendingRooms:
                self.deliverPending()  # keep the order the sender used
            if peer.away is not None and not silent:
                self.reply(client, RPL_AWAY, name, peer.away)
            if peer.tagMode or client.echo:
                self._sendTagged(client, peer, line)
            else:
                peer.write(line)
        traffic = self._traffic
        if traffic and not self.config.logPayloads:
            # _logMessage's common case, inlined: the hot path.
            client.active = self._turnTime
            traffic.append((command, client.nick, name, len(line)))
        else:
            if text is None:
                text = tail[2:-2].decode("utf-8")
            self._logMessage(command, client, name, text, len(line))

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
        seen: Set[str] = set()
        for target in targets:
            folded = self.fold(target)
            if folded in seen:
                continue  # as in _message: each target once
            seen.add(folded)
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
