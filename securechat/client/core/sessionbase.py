"""
What every part of the client's session shares: its state, its limits and
errors, and writing to the server.  L{securechat.client.core.session.ClientSession}
puts the parts together: L{securechat.client.core.registration} (registration
and the server's features), L{securechat.client.core.rooms} (rooms and their
members), L{securechat.client.core.conversations} (conversations, keys and
messages).  No I/O: the adapter gives the session a C{send} callable.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Tuple, Union

from ...codec import (
    DEFAULT_LIMITS,
    DEFAULT_MAX_SKEW,
    DEFAULT_TTL,
    LAYERS,
    Accepted,
    Conversation,
    Identity,
    ReassemblyLimits,
    Rejected,
    TrustStore,
)
from ...logevents import DISCARD, EventLog
from ...wire import (
    DEFAULT_MAX_LINE,
    LINE_BREAKERS,
    formatMessage,
    isMiddleParam,
    rfc1459Casefold,
)
from . import events as ev
from .keyed import CodecRecord, KeyedName
from .listings import NamesCollector, WhoCollector

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

#: Numerics that are only chatter for a person (welcome text, MOTD, stats).
INFO_NUMERICS = frozenset(
    {"002", "003", "004", "250", "251", "252", "253", "254", "255", "265", "266",
     "372", "375", "376", "422", "324", "329", "221", "305", "306"}
)

Result = Union[Accepted, Rejected]


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


class NotConnected(Exception):
    """A command needs the connection, and there is none right now."""


class CommandError(ValueError):
    """A user command that cannot be carried out; the message says why."""


class NeedsForce(CommandError):
    """
    The command lowers a conversation's protection: carried out only when
    repeated with C{force} (the console's C{/layer!} and C{/msg!}, JSON's
    C{"force": true}); the message says what would be lost.  When it is
    a layer being lowered, C{lowering} carries (target, current layer,
    asked layer, what is lost); when a keyed target's key no longer
    applies, C{keyLost} says which; so each face spells its own advice.
    """

    def __init__(
        self,
        message: str,
        lowering: Optional[Tuple[str, str, str, str]] = None,
        keyLost: Optional[Tuple[str, str, bool]] = None,
    ) -> None:
        super().__init__(message)
        self.lowering = lowering
        #: (target, its keyed layer, a room?) when the key no longer applies.
        self.keyLost = keyLost


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


class SessionBase:
    """
    The state of one user's view of one IRC network, shared by the parts of
    L{ClientSession <securechat.client.core.session.ClientSession>}.  C{clock} is
    the codec's clock (seconds since the epoch); the demo shifts it to show
    expiry.
    """

    if TYPE_CHECKING:  # pragma: no cover
        # What one part calls of another; ClientSession has them all.

        def layerFor(self, name: str) -> str: ...

        def expectedLayer(self, name: str) -> str: ...

        @property
        def nickConfirmed(self) -> bool: ...

        def _answers(self, new: str) -> bool: ...

        def _unconfirmed(self, cause: str) -> None: ...

        def _checkSealingNick(self) -> None: ...

        def _pinOwnNick(self) -> None: ...

        def _endOfNames(self, room: str) -> None: ...

        def _endOfWho(self, mask: str) -> None: ...

    def __init__(
        self,
        nick: str,
        emit: Callable[[ev.Event], None],
        *,
        log: EventLog = DISCARD,
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
        #: Where what the user need not see (a server's oddities) is reported.
        self.log = log
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
        #: Writes a line to the server; set while a connection exists.
        self._send: Optional[Callable[[bytes], None]] = None
        #: L{DISCONNECTED}, L{REGISTERING} or L{REGISTERED}.
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
        self.rooms: Dict[str, _Room] = {}
        #: Rooms the user wants to be in: rejoined after a reconnect.
        self.wanted: Dict[str, str] = {}
        #: Codec target -> its record (conversation, chosen layer, last key
        #: applied, shown name), only for rooms and peers the user set a key
        #: or a layer for: lines from anyone else are judged without memory
        #: (L{_judging}), so a relay inventing nicks or rooms cannot grow this.
        self._targets: Dict[str, CodecRecord] = {}
        self._nickAttempts = 0
        self._connections = 0
        #: Folded nicks the user asked for (/nick) the server has not yet
        #: answered: a NICK for us naming one of them is the answer, any
        #: other one the relay's doing (L{MAX_NICK_REQUESTS} at most).
        self._nickRequests: List[str] = []
        #: The user's nick before their last /nick, back in force if the
        #: server refuses the new one.
        self._nickBefore = nick
        #: Room or peer (codec-folded) -> its record: the keyed layer to
        #: never fall back from (a direct conversation's keys are for a pair
        #: of nicks, so after a nick change the pair has no key; this
        #: remembers not to fall back to plain text), and the key being
        #: derived (such a target is keyed already: its messages wait,
        #: never go in clear).
        self._keyedNames: Dict[str, KeyedName] = {}
        #: Key requests are numbered (a codec record keeps the last one
        #: applied), so an older derivation finishing late cannot replace a
        #: newer key.
        self._requests = 0
        #: NAMES and WHO replies arriving in pieces, kept within bounds.
        self._names = NamesCollector(self._notice, log)
        self._who = WhoCollector(self._notice, log)
        #: Folded room -> name, for rooms the server says we joined though the
        #: user never asked (L{MAX_UNSOLICITED_ROOMS} at most, this connection
        #: only): never in C{rooms} nor C{wanted} until the user joins them.
        self._unsolicited: Dict[str, str] = {}
        #: Whether the server marked us away (305/306).
        self.away = False

    @property
    def registered(self) -> bool:
        """Whether the server welcomed us on this connection."""
        return self.phase is REGISTERED

    @property
    def connected(self) -> bool:
        """Whether messages can be sent: connected and registered."""
        return self.allows("send")

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

    def allows(self, action: str) -> bool:
        """Whether this phase lets C{action} reach the server (L{PHASE_ALLOWS})."""
        return action in PHASE_ALLOWS[self.phase]

    def _writeAllowed(self, action: str, command: str, *params: str) -> None:
        """Write C{command} if this phase allows C{action}, else L{NotConnected}."""
        if not self.allows(action):
            raise NotConnected("not connected to the server (yet)")
        self._write(command, *params)

    def _notice(self, text: str) -> None:
        self.emit(ev.Notice(text))

    def _isMe(self, nick: Optional[str]) -> bool:
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
