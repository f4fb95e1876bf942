"""
What the relay's state is made of: its configuration (L{RelayConfig}), one
record per connection (L{Client}, with its phase and the one table of what
each phase allows) and per room (L{Room}).  No I/O, no behaviour beyond
what a record answers about itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Dict, FrozenSet, List, Optional, Set, Tuple

import attr

from ..wire import (
    DEFAULT_MAX_LINE,
    Tags,
)
from .modes import NEW_ROOM_MODES
from .traits import mypyc_attr

if TYPE_CHECKING:  # pragma: no cover
    from .opers import OperEntry

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


# attrs' methods (eq, hash) need a Python class in the compiled build too.
@mypyc_attr(native_class=False)
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
    #: The IRC operators (C{--opers}): who may C{OPER}, from where, with what.
    opers: Tuple[OperEntry, ...] = attr.ib(default=(), repr=False)


# Tests subclass it (a client that records what it is sent), in the compiled build too.
@mypyc_attr(allow_interpreted_subclasses=True)
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
        "umodes",
        "operFailures",
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
        #: Its user modes, sorted (L{securechat.relay.operators.USER_MODES}):
        #: C{o} once it is an IRC operator.  A str: an empty one costs nothing.
        self.umodes = ""
        #: Failed C{OPER} attempts so far (see L{securechat.relay.operators.MAX_OPER_FAILURES}).
        self.operFailures = 0

    @property
    def isOper(self) -> bool:
        """Whether it is an IRC operator (user mode C{+o}, given by C{OPER})."""
        return "o" in self.umodes

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
