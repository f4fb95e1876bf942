"""
Registration: CAP negotiation, PASS, NICK (before and after registration),
USER, and the welcome (001-005 and the MOTD).  A mixin of
L{securechat.relay.state.RelayState}, sharing its state and its reply
helpers.
"""

from __future__ import annotations

import hmac
import re
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from .. import __version__
from ..logevents import EventLog
from ..numerics import (
    ERR_ALREADYREGISTERED,
    ERR_ERRONEUSNICKNAME,
    ERR_INVALIDCAPCMD,
    ERR_NEEDMOREPARAMS,
    ERR_NICKNAMEINUSE,
    ERR_NONICKNAMEGIVEN,
    ERR_PASSWDMISMATCH,
    RPL_CREATED,
    RPL_ISUPPORT,
    RPL_MYINFO,
    RPL_WELCOME,
    RPL_YOURHOST,
    echo,
)
from ..wire import (
    formatMessage,
    isValidNick,
)
from .caps import (
    AWAY_NOTIFY,
    CAPABILITIES,
    ECHO_MESSAGE,
    MULTI_PREFIX,
    parseCapRequest,
    tagMode,
)
from .modes import CHANMODES_TOKEN, MODES_PER_COMMAND, PREFIX_TOKEN
from .operators import USER_MODES
from .records import (
    AWAY_LENGTH,
    CONNECTED,
    ISUPPORT_PER_LINE,
    NEGOTIATING,
    NO_CAPS,
    REGISTERED,
    USER_PARAMS,
    USERLEN,
    Client,
    RelayConfig,
)
from .traits import trait

#: What stands for the nick and the prefix while the welcome burst is
#: formatted once (L{RegistrationCommands._welcome}): a middle parameter
#: to L{formatMessage}, and no text an operator configures holds L{_MARK}.
_MARK = "\x01"
_NICK_STANDIN = _MARK + "nick" + _MARK
_PREFIX_STANDIN = _MARK + "prefix" + _MARK
_STANDINS = re.compile(b"(" + re.escape(_NICK_STANDIN.encode()) + b"|" + re.escape(_PREFIX_STANDIN.encode()) + b")")
#: The burst as constant bytes with holes: (pieces, where the nick goes,
#: where the prefix goes, and when it may be used: the room a line leaves
#: under the limit at the least, the most nicks and prefixes a line holds).
BurstTemplate = Tuple[Tuple[bytes, ...], Tuple[int, ...], Tuple[int, ...], Tuple[int, int, int]]
#: How far under the line limit a line of the stand-ins' burst must stay to
#: be surely uncut: L{formatFitted} may leave a cut line 3 bytes short (a
#: UTF-8 sequence it does not split) and one more (a colon it no longer needs).
_CUT_SLACK = 4


def _noClose() -> None:
    """The stand-in client of a burst template is never closed."""


@trait
class RegistrationCommands:
    """CAP, PASS, NICK, USER and the welcome, for L{RelayState <securechat.relay.state.RelayState>}."""

    #: The welcome burst formatted once (L{_welcome}), and for which
    #: configuration: a new one (a test's, a reload's) formats it anew.
    _burst: Optional[BurstTemplate] = None
    _burstConfig: Optional[RelayConfig] = None

    # What RelayState, which this class is a trait of, provides (its own
    # come first in its method order: these are never called).
    config: RelayConfig
    clients: Dict[str, Client]
    fold: Callable[[str], str]
    now: Callable[[], float]
    log: EventLog
    created: str
    _isupport: List[str]

    def reply(self, client: Client, numeric: str, *params: str) -> None: ...

    def error(self, client: Client, reason: str) -> None: ...

    def _peersOf(self, client: Client) -> Iterable[Client]:
        raise NotImplementedError

    def irc_MOTD(self, client: Client, params: Sequence[str]) -> None: ...

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
            "TARGMAX=PRIVMSG:%d,NOTICE:%d,TAGMSG:%d,JOIN:,PART:"
            % (config.maxTargets, config.maxTargets, config.maxTargets),
            "LINELEN=%d" % (config.maxLine,),
            "UTF8ONLY",
            "NETWORK=" + config.networkName,
        ]

    def _welcome(self, client: Client) -> None:
        """
        001-005 and the MOTD, in one write.  Every line is the same for
        every client but for its nick (and 001's prefix): the burst is
        formatted once per server with stand-ins (L{_welcomeTemplate}) and
        patched per client, where formatting its ten lines cost a tenth of
        a connection's whole time in the relay.
        """
        config = self.config
        if self._burstConfig is not config:
            # ISUPPORT's tokens too: NETWORK=, LINELEN= and the limits are the config's.
            self._isupport = self._isupportTokens()
            self._burst = self._welcomeTemplate()
            self._burstConfig = config
        burst = self._burst
        if burst is None:
            self._welcomeLines(client)
            return
        pieces, nickAt, prefixAt, (room, nicks, prefixes) = burst
        nick = client.nick.encode("utf-8")
        prefix = client.prefix.encode("utf-8")
        if nicks * len(nick) + prefixes * len(prefix) > room:
            # A line may be too long with this nick and prefix: formatted,
            # it is cut for this client (one comparison, where a test per
            # line doubled the patching's cost).
            self._welcomeLines(client)
            return
        out = list(pieces)
        for index in nickAt:
            out[index] = nick
        for index in prefixAt:
            out[index] = prefix
        client.write(b"".join(out))

    def _welcomeTemplate(self) -> Optional[BurstTemplate]:
        """
        The welcome burst as formatted for a stand-in client, cut where its
        nick and prefix are; L{None} (format per client) when a configured
        text holds the stand-ins' marker and the cut could not be trusted,
        or when a line may have been cut to the line limit: that cut is
        the stand-ins' own, each client's nick needs its own.
        """
        config = self.config
        if any(_MARK in text for text in (config.serverName, config.networkName) + tuple(config.motd)):
            return None
        sent: List[bytes] = []
        standin = Client(sent.append, _noClose, "")
        standin.nick = _NICK_STANDIN
        standin.prefix = _PREFIX_STANDIN
        self._welcomeLines(standin)
        nick = _NICK_STANDIN.encode()
        prefix = _PREFIX_STANDIN.encode()
        room, nicks, prefixes = config.maxLine, 0, 0
        for line in sent:
            if len(line) > config.maxLine - _CUT_SLACK:
                return None
            nicksInLine, prefixesInLine = line.count(nick), line.count(prefix)
            constant = len(line) - nicksInLine * len(nick) - prefixesInLine * len(prefix)
            room = min(room, config.maxLine - constant)
            nicks, prefixes = max(nicks, nicksInLine), max(prefixes, prefixesInLine)
        pieces = tuple(_STANDINS.split(b"".join(sent)))
        nickAt = tuple(i for i in range(1, len(pieces), 2) if pieces[i] == nick)
        prefixAt = tuple(i for i in range(1, len(pieces), 2) if pieces[i] != nick)
        return pieces, nickAt, prefixAt, (room, nicks, prefixes)

    def _welcomeLines(self, client: Client) -> None:
        """
        The welcome burst, formatted line by line for C{client}.  It is
        formatted once for a stand-in (L{_welcomeTemplate}): what it says
        may depend on the configuration and on the client's nick and prefix
        only.  Anything else about the client (its modes, say) belongs in
        L{_welcome}, after the template's bytes.
        """
        config = self.config
        name = config.serverName
        version = "securechat-" + __version__
        self.reply(
            client, RPL_WELCOME, "Welcome to the %s network, %s" % (config.networkName, client.prefix)
        )
        self.reply(client, RPL_YOURHOST, "Your host is %s, running %s" % (name, version))
        self.reply(client, RPL_CREATED, "This server was created %s" % (self.created,))
        self.reply(client, RPL_MYINFO, name, version, USER_MODES, "iklmnostv", "klov")
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
