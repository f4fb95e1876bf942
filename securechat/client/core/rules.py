"""
What every part of the client's session shares, and nothing that changes:
its limits, its errors (which carry data, so each face spells its own
advice) and the checks of what the user typed.  The parts themselves are
L{securechat.client.core.registration}, L{securechat.client.core.rooms},
L{securechat.client.core.keyed} and L{securechat.client.core.conversations};
L{securechat.client.core.session.ClientSession} builds them.
"""

from __future__ import annotations

from typing import Callable, Optional, Protocol, Tuple, Union

from ...codec import LAYERS, Accepted, Identity, Rejected, TrustStore
from ...wire import LINE_BREAKERS, isMiddleParam

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
#: Messages waiting for the server's pace (L{securechat.client.core.pacing}),
#: unsealed, across targets: a paste of this many lines is taken whole.
MAX_PACED_MESSAGES = 2000
MAX_PACED_CHARS = 1024 * 1024
#: Messages refused as identity-changed kept until /trust: per sender, and
#: senders (a relay cannot make them grow: each needs a room key holder's
#: signature).
MAX_HELD_PER_SENDER = 32
MAX_HELD_SENDERS = 16
#: The send queue's progress is said every this many messages sent.
PACE_PROGRESS_EVERY = 50
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
    applies, C{keyLost} says which; so each face spells its own advice
    (L{securechat.client.core.commands.advice}).
    """

    def __init__(
        self,
        message: str,
        lowering: Optional[Tuple[str, str, str, str]] = None,
        keyLost: Optional[Tuple[str, str, bool]] = None,
        keyRestored: bool = False,
    ) -> None:
        super().__init__(message)
        self.lowering = lowering
        #: (target, its keyed layer, a room?) when the key no longer applies.
        self.keyLost = keyLost
        #: With C{keyLost}: it was keyed before a restart, and its key
        #: (never saved) was not entered again yet.
        self.keyRestored = keyRestored


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


class Server(Protocol):
    """
    What the session's other parts may ask of its registration
    (L{securechat.client.core.registration.Registration}): who we are, what
    the server's features make of a name, and writing to it in the phases
    that allow it.  The parts are handed the registration when built; this
    says what they may use of it, and no part imports another.
    """

    nick: str
    server: str
    prefix: Optional[str]
    lineLength: int
    chanTypes: str
    identity: Identity
    trust: TrustStore

    @property
    def fold(self) -> Callable[[str], str]: ...

    @property
    def codecFold(self) -> Callable[[str], str]: ...

    @property
    def registered(self) -> bool: ...

    @property
    def statusPrefixes(self) -> str: ...

    def isRoom(self, target: str) -> bool: ...

    def isMe(self, nick: Optional[str]) -> bool: ...

    def allows(self, action: str) -> bool: ...

    def write(self, command: str, *params: str) -> None: ...

    def writeAllowed(self, action: str, command: str, *params: str) -> None: ...

    def checkSealingNick(self) -> None: ...
