"""
The client's state, without I/O: registration, rooms, and one codec
L{Conversation} per room or direct peer the user set a key or layer for
(others are judged by a throwaway one, so the relay cannot grow them).

The adapter (L{securechat.client.adapters.protocol}) feeds received lines in
(L{ClientSession.lineReceived}) and gives the session a C{send} callable
while a connection is up; the user interface calls the command methods
(L{join}, L{sendMessage}, L{setKeys}...).  Everything the user should know
comes out through C{emit} as L{securechat.client.core.events} values.

The session outlives connections: rooms to rejoin, keys, layers, replay
caches and sequence numbers are kept across reconnects, so a relay cannot
replay old traffic just by dropping our connection.
"""

from __future__ import annotations

import time
from typing import Callable, Dict, List, Optional, Union

from ...codec import (
    DEFAULT_LIMITS,
    DEFAULT_MAX_SKEW,
    DEFAULT_TTL,
    Conversation,
    Identity,
    ReassemblyLimits,
    RoomKeys,
    TrustStore,
)
from ...codec.layers import FORWARD
from ...logevents import DISCARD, EventLog
from ...numerics import RPL_ENDOFNAMES, RPL_ISUPPORT, RPL_MYINFO, RPL_WELCOME
from ...wire import LINE_BREAKERS, Message
from . import events as ev
from .conversations import Conversations
from .directsessions import DirectSessions
from .forwardroute import ForwardRoute
from .keyed import Keyring
from .pacing import Pace, Pacer
from .pairwise import Pairwise
from .registration import DISCONNECTED, PHASE_ALLOWS, REGISTERED, REGISTERING, Registration
from .rooms import Rooms, _Room  # _Room: tests build a room by hand
from .rules import (
    ALT_SUFFIX,
    DEFAULT_KEYED_LAYER,
    DEFAULT_NICKLEN,
    DEFAULT_REALNAME,
    DEFAULT_USERNAME,
    INFO_NUMERICS,
    LAYER_GAINS,
    LAYER_RANK,
    MAX_ISUPPORT_TOKEN_LENGTH,
    MAX_ISUPPORT_TOKENS,
    MAX_LINE_LENGTH,
    MAX_NICK_ATTEMPTS,
    MAX_NICK_REQUESTS,
    MAX_QUEUED_CHARS,
    MAX_QUEUED_MESSAGES,
    MAX_UNSOLICITED_ROOMS,
    PLAIN,
    RECEIVE_MAX_LINE,
    ROOM_PREFIXES,
    WORST_HOST,
    WORST_USER,
    CommandError,
    NeedsForce,
    NotConnected,
    Result,
    checkTarget,
    checkText,
    checkWord,
)
from .serverlines import Knowledge, Unparsable, readServerLine
from .sessionsaftertrust import SessionsAfterTrust
from .views import afterJoin

#: What other modules import from here (the session's limits and errors live
#: in L{securechat.client.core.rules}).
__all__ = [
    "ClientSession",
    "ALT_SUFFIX",
    "CommandError",
    "DEFAULT_KEYED_LAYER",
    "DEFAULT_NICKLEN",
    "DEFAULT_REALNAME",
    "DEFAULT_USERNAME",
    "DISCONNECTED",
    "INFO_NUMERICS",
    "LAYER_GAINS",
    "LAYER_RANK",
    "MAX_ISUPPORT_TOKENS",
    "MAX_ISUPPORT_TOKEN_LENGTH",
    "MAX_LINE_LENGTH",
    "MAX_NICK_ATTEMPTS",
    "MAX_NICK_REQUESTS",
    "MAX_QUEUED_CHARS",
    "MAX_QUEUED_MESSAGES",
    "MAX_UNSOLICITED_ROOMS",
    "NeedsForce",
    "NotConnected",
    "PHASE_ALLOWS",
    "PLAIN",
    "RECEIVE_MAX_LINE",
    "REGISTERED",
    "REGISTERING",
    "ROOM_PREFIXES",
    "Result",
    "WORST_HOST",
    "WORST_USER",
    "checkTarget",
    "checkText",
    "checkWord",
]


class ClientSession:
    """
    One user's view of one IRC network, composed of four parts built here
    and handed what they need: L{registration} (who we are to the server:
    the connection's phase, the server's features, our nick), L{keyring}
    (one record per keyed conversation), L{roomsPart} (the rooms and their
    members) and L{conversationsPart} (messages judged, keys, sending).
    The session routes each server line to its part (L{_handlers}), and
    keeps the one public face the adapters, faces and tests use.
    """

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
        onConversation: Optional[Callable[[str, Conversation], None]] = None,
        pace: Optional[Pace] = None,
        directSessions: bool = True,
    ) -> None:
        #: Where everything the user should know goes.
        self.emit = emit
        #: Where what the user need not see (a server's oddities) is reported.
        self.log = log
        #: Our signing key (from the state directory; a fresh in-memory one
        #: when there is none, e.g. in the demo) and the pins of others.
        self.identity = identity if identity is not None else Identity.generate()
        self.trust = trust if trust is not None else TrustStore()
        self.registration = Registration(
            nick, emit, log, self.identity, self.trust, username, realname, password
        )
        self.keyring = Keyring(
            self.registration, self.identity, self.trust, clock, ttl, maxSkew, limits, onConversation
        )
        # What a room counts as: a room keyed before a restart is keyed, not plain.
        self.roomsPart = Rooms(self.registration, self.keyring.expectedLayer, emit, log)
        self.keyring.members = self._roomMembers
        #: Pairwise sessions with peers' identities (direct messages with no
        #: secret typed; the room layer's records): L{securechat.client.core.pairwise}.
        self.pairwise = Pairwise(self.registration, emit, clock)
        #: Those refused for their key, asked again once the user accepts it (/trust, /verify).
        self.sessionsAfterTrust = SessionsAfterTrust(self.registration, self.pairwise, emit, clock)
        #: Direct messages over those sessions, for peers with no secret typed.
        self.directSessions = DirectSessions(
            self.registration, self.keyring, self.pairwise, emit, directSessions
        )
        #: Rooms on the forward layer (sender chains over pairwise sessions):
        #: it judges their lines and seals what goes there, before the codec's
        #: conversations, and hands the rest to the direct part.  It reads the
        #: conversations part (built next, around it) only once both exist.
        self.forwardRoute = ForwardRoute(
            self.registration, self.keyring, self.roomsPart, lambda: self.conversationsPart, self.pairwise,
            self.directSessions, emit, clock,
        )  # fmt: skip
        self.conversationsPart = Conversations(
            self.registration, self.keyring, self.roomsPart.joined, emit, clock, self.forwardRoute, pace
        )
        registration, rooms, talk = self.registration, self.roomsPart, self.conversationsPart
        # A session opening is answered only if the server would read one more line from us now.
        self.pairwise.answers.paced = lambda: not talk.drainBlocked and talk.pacer.ready(clock())
        # An opening over that budget from a member of a forward room we share waits for it (not dropped).
        self.pairwise.waitingFor = self._openingMayWait
        #: Who handles each command from the server (numerics: L{_numeric}).
        self._handlers: Dict[str, Callable[[Message], None]] = {
            "PING": registration.ping,
            "ERROR": registration.error,
            "NICK": self._nickReceived,
            "JOIN": self._joinReceived,
            "PART": rooms.partReceived,
            "KICK": rooms.kickReceived,
            "QUIT": rooms.quitReceived,
            "TOPIC": rooms.topicReceived,
            "PRIVMSG": talk.privmsgReceived,
            "NOTICE": talk.noticeReceived,
        }
        for command in ("JOIN", "PART", "KICK", "QUIT", "NICK"):
            self._handlers[command] = self._followedBy(self._handlers[command], self.forwardRoute.follow)

    @staticmethod
    def _followedBy(
        first: Callable[[Message], None], then: Callable[[Message], None]
    ) -> Callable[[Message], None]:
        """A handler, then the forward layer's view of the same membership change."""

        def handler(message: Message) -> None:
            first(message)
            then(message)

        return handler

    def _joinReceived(self, message: Message) -> None:
        self.roomsPart.joinReceived(message)
        afterJoin(message, self.registration.isMe, self.keyring.stored, self.registration.codecFold)

    def _roomMembers(self, room: str) -> List[str]:
        """C{room}'s members, codec-folded (what a signed view may name: L{Keyring.members})."""
        state = self.roomsPart.rooms.get(self.registration.fold(room))
        fold = self.registration.codecFold
        return [] if state is None else [fold(nick) for nick in state.members.values()]

    def _openingMayWait(self, nick: str) -> bool:
        """
        Whether a session opening from C{nick} (codec-folded) over the answer
        budget waits for it: a member of a forward room we share, or of a
        keyed room we are in (a forward room we just joined: its members
        open sessions with us at once, before their proofs make us follow).
        """
        if self.forwardRoute.part.listsMember(nick):
            return True
        fold = self.registration.codecFold
        for room, state in self.roomsPart.rooms.items():
            if self.keyring.keysFor(room) is not None and nick in {fold(member) for member in state.members.values()}:
                return True
        return False

    # The session's life across connections (called by the adapter).

    def connectionMade(self, send: Callable[[bytes], None], register: bool = True) -> None:
        """
        A new connection: register (again) with the nick the user asked for.
        Without C{register}, someone else registers on it (the proxy's IRC
        client): the session only follows.
        """
        self.roomsPart.reset()
        talk = self.conversationsPart
        talk.connectionMade()

        def counted(line: bytes) -> None:
            # Every line costs a token at the server's flood bucket: at ours too.
            send(line)
            talk.written()

        self.registration.connectionMade(counted, register)

    def pacedBy(self, schedule: Optional[Callable[[float], None]]) -> None:
        """
        The adapter's timer: C{schedule(seconds)} calls L{releasePaced}
        that much later.  From then on, what the server would not read now
        waits unsealed in our send queue (L{ev.Paced}).
        """
        self.conversationsPart.schedule = schedule

    def releasePaced(self) -> None:
        """The pace allows more now: seal and send what waited."""
        self.conversationsPart.releasePaced()

    def setDrainBlocked(self, blocked: bool) -> None:
        """The connection's socket stopped draining (C{True}) or drained (C{False})."""
        self.conversationsPart.setDrainBlocked(blocked)

    @property
    def pacer(self) -> Pacer:
        return self.conversationsPart.pacer

    @property
    def waiting(self) -> int:
        """Messages waiting in the send queue for the server's pace."""
        return self.conversationsPart.waiting

    def connectionLost(self, reason: str, reconnecting: bool) -> None:
        """The connection is gone; rooms stay wanted for the next one."""
        self.registration.connectionLost()
        self.roomsPart.reset()
        self.conversationsPart.connectionLost()
        self.emit(ev.Disconnected(reason, reconnecting))

    def lineReceived(self, line: bytes) -> None:
        """One line from the server, without its CRLF."""
        read = readServerLine(line)
        if isinstance(read, Unparsable):
            self.log.warn("unparsable line from the server: {error}", error=read.reason)
            return
        self.messageReceived(read.message)

    def messageReceived(self, message: Message) -> None:
        handler = self._handlers.get(message.command)
        if handler is not None:
            handler(message)
        elif message.command.isdigit():
            self._numeric(message)

    def _numeric(self, message: Message) -> None:
        self._numericReceived(message)
        if message.command == RPL_ENDOFNAMES and len(message.params) > 1:
            # Members listed by NAMES (not by a JOIN we saw): candidates for the forward layer too.
            self.forwardRoute.namesEnded(message.params[1])

    def _numericReceived(self, message: Message) -> None:
        code = message.command
        if code == RPL_MYINFO and len(message.params) > 2:
            self.conversationsPart.serverSoftware(message.params[2])
        if code == RPL_WELCOME:
            self.registration.welcome(message)
            if self.registration.registered:
                self.roomsPart.rejoin()
        elif code == RPL_ISUPPORT:
            if self.registration.isupportReceived(message):
                self.roomsPart.refold()
        elif self.roomsPart.numeric(message) or self.registration.numeric(message):
            pass
        elif code[0] in "45":
            self.emit(ev.Error(" ".join(message.params[1:]), code))

    def _nickReceived(self, message: Message) -> None:
        """A NICK concerns every part: members, a keyed peer, and perhaps our own nick."""
        if not message.params:
            return
        old = message.sourceNick or ""
        new = message.params[0]
        me = self.registration.isMe(old)
        self.roomsPart.renamed(old, new)
        reason = ""
        answered = False
        if me:
            answered = self.registration.ownNickChanged(old, new)
            if self.keyring.hasDirectKeys():
                reason = "direct-message keys were set for the old nick: set them again"
            self.pairwise.ownNickChanged()
        else:
            self.keyring.peerRenamed(old, new)
            self.pairwise.peerRenamed(old, new)
        self.emit(ev.NickChanged(old, new, me, reason))
        if me:
            self.registration.afterOwnNickChange(old, new, answered)

    def quit(self, reason: str = "") -> None:
        """Say goodbye: always possible, so line breaks in C{reason} become spaces."""
        for breaker in LINE_BREAKERS:
            reason = reason.replace(breaker, " ")
        if self.registration.allows("quit"):
            self.registration.write("QUIT", reason or "Leaving")

    # What the proxy's IRC client does on the connection the session follows.

    def followNick(self, nick: str) -> None:
        """The IRC client registers as C{nick}: the user's choice, and ours to sign as."""
        self.registration.requestedNick = self.registration.nick = nick
        self.trust.pin_own(self.codecFold(nick), self.identity.public_key)

    def followJoin(self, room: str) -> None:
        """The IRC client joins C{room}: wanted, as if the user typed /join."""
        self.roomsPart.want(room)

    # The public face: what the faces, the adapters and the tests use, each
    # handed to the part it belongs to.

    @property
    def nick(self) -> str:
        return self.registration.nick

    @property
    def requestedNick(self) -> str:
        return self.registration.requestedNick

    @property
    def phase(self) -> str:
        return self.registration.phase

    @property
    def registered(self) -> bool:
        return self.registration.registered

    @property
    def connected(self) -> bool:
        """Whether messages can be sent: connected and registered."""
        return self.registration.allows("send")

    def allows(self, action: str) -> bool:
        return self.registration.allows(action)

    @property
    def server(self) -> str:
        return self.registration.server

    @property
    def prefix(self) -> Optional[str]:
        return self.registration.prefix

    @property
    def isupport(self) -> Dict[str, Optional[str]]:
        return self.registration.isupport

    @property
    def fold(self) -> Callable[[str], str]:
        return self.registration.fold

    @property
    def codecFold(self) -> Callable[[str], str]:
        return self.registration.codecFold

    @property
    def lineLength(self) -> int:
        return self.registration.lineLength

    @property
    def nickLength(self) -> int:
        return self.registration.nickLength

    @property
    def chanTypes(self) -> str:
        return self.registration.chanTypes

    @property
    def statusPrefixes(self) -> str:
        return self.registration.statusPrefixes

    @property
    def away(self) -> bool:
        return self.registration.away

    @property
    def nickConfirmed(self) -> bool:
        return self.registration.nickConfirmed

    def isRoom(self, target: str) -> bool:
        return self.registration.isRoom(target)

    def changeNick(self, nick: str) -> None:
        self.registration.changeNick(nick)

    def setAway(self, text: str = "") -> None:
        self.registration.setAway(text)

    @property
    def rooms(self) -> Dict[str, _Room]:
        return self.roomsPart.rooms

    @property
    def wanted(self) -> Dict[str, str]:
        return self.roomsPart.wanted

    def join(self, room: str) -> None:
        self.roomsPart.join(room)

    def part(self, room: str, reason: str = "") -> None:
        self.roomsPart.part(room, reason)

    def names(self, room: str) -> None:
        self.roomsPart.names(room)

    def who(self, mask: str) -> None:
        self.roomsPart.who(mask)

    def topic(self, room: str, text: Optional[str] = None) -> None:
        self.roomsPart.topic(room, text)

    def whois(self, nick: str) -> None:
        self.roomsPart.whois(nick)

    def codecTarget(self, name: str) -> str:
        return self.keyring.codecTarget(name)

    def layerFor(self, name: str) -> str:
        return self.keyring.layerFor(name)

    def expectedLayer(self, name: str) -> str:
        return self.keyring.expectedLayer(name)

    def keysFor(self, name: str) -> Optional[RoomKeys]:
        return self.keyring.keysFor(name)

    def fingerprint(self, name: str) -> Optional[str]:
        return self.keyring.fingerprint(name)

    def conversations(self) -> Dict[str, Conversation]:
        return self.keyring.conversations()

    def keyPending(self, name: str) -> bool:
        return self.conversationsPart.keyPending(name)

    def knowledge(self) -> Knowledge:
        return self.conversationsPart.knowledge()

    def keyedFormOf(self, target: str) -> Optional[str]:
        return self.conversationsPart.keyedFormOf(target)

    def judge(self, message: Message, name: str, direct: bool) -> list:
        return self.conversationsPart.judge(message, name, direct)

    def hintReceived(self, message: Message) -> bool:
        return self.conversationsPart.hintReceived(message)

    def expire(self) -> None:
        self.conversationsPart.expire()
        self.pairwise.expire()
        self.sessionsAfterTrust.expire()
        self.forwardRoute.expire()

    checkLayer = staticmethod(Conversations.checkLayer)

    def setKeys(
        self, name: str, keys: RoomKeys, layer: Optional[str] = None, force: bool = False
    ) -> ev.KeySet:
        return self.conversationsPart.setKeys(name, keys, layer, force)

    def setLayer(self, name: str, layer: str, force: bool = False) -> ev.LayerSet:
        if layer == FORWARD:
            return self.forwardRoute.enable(name)
        if self.forwardRoute.isForward(name):
            self.forwardRoute.disable(name, force)
        lifted = self.directSessions.liftPlain(name, layer)  # a plain peer back to sessions
        return lifted if lifted is not None else self.conversationsPart.setLayer(name, layer, force)

    def removeMember(self, room: str, nick: str) -> None:
        """C{/remove nick}: new chains in C{room} for those who stay (said to them, sealed)."""
        self.forwardRoute.remove(room, nick)

    def keyRequested(self, name: str, layer: Optional[str] = None, force: bool = False) -> int:
        return self.conversationsPart.keyRequested(name, layer, force)

    def keyArrived(
        self, name: str, request: int, keys: RoomKeys, layer: Optional[str] = None
    ) -> ev.KeySet:
        return self.conversationsPart.keyArrived(name, request, keys, layer)

    def keyFailed(self, name: str, request: int, why: str) -> None:
        self.conversationsPart.keyFailed(name, request, why)

    def trustNick(self, nick: str) -> ev.TrustChanged:
        event = self.conversationsPart.trustNick(nick)
        self.sessionsAfterTrust.trusted(nick)  # first: a room's request then waits for the same opening
        self.forwardRoute.part.trusted(nick)  # a member refused before (its rename) is asked again
        return event

    def verifyNick(self, nick: str, fingerprint: str) -> ev.TrustChanged:
        event = self.conversationsPart.verifyNick(nick, fingerprint)
        self.sessionsAfterTrust.trusted(nick)
        self.forwardRoute.part.trusted(nick)
        return event

    def fingerprintEvent(self, name: str) -> ev.Fingerprint:
        return self.conversationsPart.fingerprintEvent(name)

    def maxPayload(self, target: str) -> int:
        return self.conversationsPart.maxPayload(target)

    def sendMessage(
        self, target: str, body: str, force: bool = False
    ) -> Union[ev.Sent, ev.Queued, ev.Paced]:
        return self.conversationsPart.sendMessage(target, body, force)
