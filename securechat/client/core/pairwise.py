"""
Pairwise sessions between our identity and a peer's, over IRC direct
messages: the signed X25519 handshake, then a double ratchet carrying typed
records (docs/wire.md, "Session lines"; docs/security.md, "Forward secrecy").
Sans-IO: lines come in through L{Pairwise.lineReceived}, go out through the
registration's C{write}, time comes from the clock and L{Pairwise.expire}.

The contract other parts rely on (the room layer hands chain starts and
admit proofs over these sessions):

  - L{Pairwise.sendRecord}C{(nick, kind, body)}: deliver C{body} as a record
    of C{kind} to C{nick}, sealed by the ratchet of our session with them.
    With no session yet one is started (INIT) and the record is HELD, in
    memory only, until the session is ready; it never goes out any other
    way.  If the peer does not finish the handshake within C{timeout}
    seconds, every held record is handed to the callbacks registered with
    L{Pairwise.onUndelivered} for its kind (and dropped).  L{ValueError} for
    a kind outside L{securechat.codec.sessions.framing.KNOWN_RECORD_KINDS},
    L{CommandError} when too much is held for C{nick} already.
  - L{Pairwise.onRecord}C{(kind, callback)}: C{callback(nick, identityKey,
    body)} is called for each record of C{kind} a peer's session opens,
    AFTER the ratchet's new state is saved (L{Pairwise.saveNow}), once per
    record (a replay is refused by the ratchet before any callback).
    C{identityKey} is the peer's raw 32-byte Ed25519 key, already checked
    against the trust store (pinned on first use or verified).  One callback
    per kind; kinds 0x10-0x1f are the room layer's.
  - L{Pairwise.onSessionReady}C{(callback)}: C{callback(nick, identityKey,
    sessionId)} each time a session with C{nick} is established (ours or
    theirs, new or replacing one).
  - L{Pairwise.onRefused}C{(callback)}: a handshake refused for its signed
    identity key (what our opening holds waits on, until the timeout);
    L{Pairwise.askAgain}C{(nick)} opens again once the user accepted the
    key (L{securechat.client.core.sessionsaftertrust}).
  - L{Pairwise.sessionId}C{(nick)}: the 32-byte session id (the handshake's
    transcript hash: what an admit proof binds) or L{None};
    L{Pairwise.peerIdentity}C{(nick)}: the peer's identity key or L{None}.

Sessions are per nick as the relay names it (codec-folded); the handshake
binds both nicks, so a session is never used for another nick: a line the
relay attributes to carol is opened with carol's session only.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from ...codec import DEFAULT_LIMITS, ReassemblyLimits
from ...codec.chunks import Reassembler
from ...codec.errors import CodecError, IdentityChanged, Malformed, SignedByOther
from ...codec.sessions import Initiator, Ratchet, Responder
from ...codec.sessions.framing import (
    KIND_FINISH,
    KIND_INIT,
    KIND_MESSAGE,
    KIND_REPLY,
    KNOWN_RECORD_KINDS,
    frame,
    pack_record,
    parse_session_line,
    unframe,
    unpack_record,
)
from ...codec.sessions.handshake import KeyMaker
from . import events as ev
from .rules import CommandError, Server
from .sessionanswers import MAX_PER_NICK, WINDOW, AnswerBudget
from .waitingopenings import WaitingOpenings

#: Seconds a peer has to answer our INIT before what waits is "not sent".
HANDSHAKE_TIMEOUT = 30.0
#: Records held per peer while its session starts, and their bytes.
MAX_HELD_RECORDS = 32
MAX_HELD_BYTES = 64 * 1024
#: Handshakes we answer at once (a relay inventing nicks cannot grow more).
MAX_RESPONDING = 16
#: Sessions kept (least recently used dropped first).
MAX_SESSIONS = 64
SESSION_LAYER = "session"
#: What a message opened by a session lets us claim: authenticated to the
#: peer's identity key, never replayed, forward secret.
SESSION_PROTECTION = "session"
STATE_FORMAT = 1

RecordHandler = Callable[[str, bytes, bytes], None]
UndeliveredHandler = Callable[[str, bytes, str], None]
ReadyHandler = Callable[[str, bytes, bytes], None]
RefusedHandler = Callable[[str, bytes, bool], None]


class _Session:
    """An established session with one peer."""

    __slots__ = ("nick", "identity", "ratchet")

    def __init__(self, nick: str, identity: bytes, ratchet: Ratchet) -> None:
        self.nick = nick
        self.identity = identity
        self.ratchet = ratchet


class _Starting:
    """A handshake in progress with one peer, and what waits for it."""

    __slots__ = ("nick", "handshake", "started", "held", "heldBytes", "refusal")

    def __init__(self, nick: str, handshake: Union[Initiator, Responder], started: float) -> None:
        self.nick = nick
        self.handshake = handshake
        self.started = started
        self.held: List[Tuple[int, bytes]] = []
        self.heldBytes = 0
        #: Why the peer's answer was refused (its key is not the one trusted
        #: for its nick): what is held waits for /trust, or the timeout.
        self.refusal: Optional[str] = None


class Pairwise:
    """The session's part for pairwise sessions (see the module's docstring for the contract)."""

    def __init__(
        self,
        server: Server,
        emit: Callable[[ev.Event], None],
        clock: Callable[[], float],
        *,
        timeout: float = HANDSHAKE_TIMEOUT,
        makeKey: KeyMaker = X25519PrivateKey.generate,
        limits: ReassemblyLimits = DEFAULT_LIMITS,
    ) -> None:
        self._server = server
        self.emit = emit
        self._clock = clock
        self.timeout = timeout
        self._makeKey = makeKey
        self._sessions: OrderedDict[str, _Session] = OrderedDict()
        #: Handshakes we started (INIT sent), which hold what waits for them.
        self._starting: OrderedDict[str, _Starting] = OrderedDict()
        #: Handshakes we answer (REPLY sent), apart: an INIT, whose identity
        #: key nobody has checked yet, never displaces an opening of ours.
        self._answering: OrderedDict[str, _Starting] = OrderedDict()
        self._onRecord: Dict[int, RecordHandler] = {}
        self._onUndelivered: Dict[int, UndeliveredHandler] = {}
        self._onReady: List[ReadyHandler] = []
        self._onRefused: List[RefusedHandler] = []
        self._reassembler = Reassembler(clock, limits)
        #: How often an opening is answered (per nick, in all, within the
        #: server's pace): L{securechat.client.core.sessionanswers}.
        self.answers = AnswerBudget(clock)
        #: Openings over that budget from members of a forward room we share
        #: (L{waitingFor} says who), answered within it later: L{securechat.client.core.waitingopenings}.
        self.waiting = WaitingOpenings(clock)
        #: Set by the session: whether an opening from this nick over the budget waits rather than being dropped.
        self.waitingFor: Optional[Callable[[str], bool]] = None
        #: Set by the adapter: writes L{toDict} to the state directory NOW
        #: (before a record is shown, before a sealed line leaves); whether
        #: it was written.  Without it (no state directory) nothing is kept.
        self.saveNow: Optional[Callable[[], bool]] = None

    # The contract.

    def onRecord(self, kind: int, callback: RecordHandler) -> None:
        """Call C{callback(nick, identityKey, body)} for every record of C{kind} opened."""
        if kind not in KNOWN_RECORD_KINDS:
            raise ValueError(f"record kind {kind:#04x} is not defined")
        if kind in self._onRecord:
            raise ValueError(f"record kind {kind:#04x} already has a handler")
        self._onRecord[kind] = callback

    def onUndelivered(self, kind: int, callback: UndeliveredHandler) -> None:
        """Call C{callback(nick, body, reason)} for every held record of C{kind} that will not be sent."""
        if kind not in KNOWN_RECORD_KINDS:
            raise ValueError(f"record kind {kind:#04x} is not defined")
        self._onUndelivered[kind] = callback

    def onSessionReady(self, callback: ReadyHandler) -> None:
        """Call C{callback(nick, identityKey, sessionId)} whenever a session is established."""
        self._onReady.append(callback)

    def onRefused(self, callback: RefusedHandler) -> None:
        """
        Call C{callback(nick, identityKey, ours)} when a handshake is refused
        for its signed identity key (not the one the trust store holds for
        C{nick}: changed, or another nick's): C{ours}, the peer's answer to our
        opening (what it holds waits); else the finish of the peer's opening.
        """
        self._onRefused.append(callback)

    def refusedOpening(self, nick: str) -> bool:
        """Whether our opening to C{nick} waits with its answer refused for its key (see L{onRefused})."""
        starting = self._starting.get(self._fold(nick))
        return starting is not None and starting.refusal is not None

    def askAgain(self, nick: str) -> None:
        """
        A new opening to C{nick} now (the caller keeps to the budgets of
        openings): what a refused opening of ours holds waits for this one,
        which has the whole timeout again.  L{CommandError} if the INIT
        cannot be written (the refused one then stays as it was).
        """
        old = self._starting.get(self._fold(nick))
        starting = self._start(nick)
        if old is not None:
            starting.held, starting.heldBytes = old.held, old.heldBytes

    def sessionId(self, nick: str) -> Optional[bytes]:
        session = self._sessions.get(self._fold(nick))
        return None if session is None else session.ratchet.session_id

    def peerIdentity(self, nick: str) -> Optional[bytes]:
        session = self._sessions.get(self._fold(nick))
        return None if session is None else session.identity

    def hasSession(self, nick: str) -> bool:
        return self._fold(nick) in self._sessions

    def starting(self, nick: str) -> bool:
        """Whether a handshake with C{nick} is under way that records wait for (we started it)."""
        return self._fold(nick) in self._starting

    def sendRecord(self, nick: str, kind: int, body: bytes) -> int:
        """
        Seal C{body} as a C{kind} record to C{nick} now (the number of lines
        written), or hold it until the session is ready, starting one if
        needed (0).
        """
        record = pack_record(kind, body)
        folded = self._fold(nick)
        session = self._sessions.get(folded)
        if session is not None:
            return self._seal(session, record)
        starting = self._starting.get(folded)
        if starting is None:
            starting = self._start(nick)
        if len(starting.held) >= MAX_HELD_RECORDS or starting.heldBytes + len(body) > MAX_HELD_BYTES:
            raise CommandError(
                "not sent: %d messages already wait for the protected session with %s" % (len(starting.held), nick)
            )
        starting.held.append((kind, body))
        starting.heldBytes += len(body)
        return 0

    # Lines.

    def lineReceived(self, sender: str, text: str) -> List[ev.Event]:
        """
        Judge one session line from C{sender} (as the relay names it): the
        events to show (refusals; records are handed to their callbacks).
        """
        try:
            chunk = parse_session_line(text)
        except CodecError as error:
            return [self._refused(sender, error.reason, str(error))]
        folded = self._fold(sender)
        token, dropped = self._reassembler.add(folded, sender, chunk)
        events: List[ev.Event] = [self._refused(sender, item.error.reason, str(item.error)) for item in dropped]
        if token is None:
            return events
        try:
            data = unframe(chunk.layer, token)
            if chunk.layer == KIND_MESSAGE:
                events.extend(self._message(sender, data))
            elif chunk.layer == KIND_INIT:
                self._init(sender, data)
            elif chunk.layer == KIND_REPLY:
                self._reply(sender, data)
            else:
                self._finish(sender, data)
        except CodecError as error:
            events.append(self._refused(sender, error.reason, self._sentence(error)))
        except CommandError as error:
            # Our answer could not be written (the line budget the server leaves us).
            events.append(ev.Error("pairwise session with %s: %s" % (sender, error), "session"))
        return events

    def expire(self) -> None:
        """Give up handshakes the peer did not finish in time: what waited is undelivered."""
        now = self._clock()
        for handshakes in (self._starting, self._answering):
            for folded, starting in list(handshakes.items()):
                if now - starting.started < self.timeout:
                    continue
                del handshakes[folded]
                self._undelivered(starting, self._expired(starting))
        self._reassembler.expire()
        self._answerWaiting()

    def _expired(self, starting: _Starting) -> str:
        """Why what waited for C{starting} is not sent: no answer, or an answer refused and no /trust."""
        if starting.refusal is None:
            return "%s did not answer a protected session within %g seconds (no securechat there?)" % (
                starting.nick, self.timeout)  # fmt: skip
        return "the protected session with %s was refused (%s), and no /trust came within %g seconds" % (
            starting.nick, starting.refusal, self.timeout)  # fmt: skip

    def _answerWaiting(self) -> None:
        """Answer the openings that waited for the budget, while it has room (the others wait on, or expire)."""
        while True:
            ready, stale = self.waiting.take(self.answers.allows)
            for opening in stale:
                count = self.answers.refused()
                if count is not None:
                    self.emit(self._refused(opening.sender, Unanswered.reason, self._unanswered(count, opening.sender)))
            if not ready:
                return
            for opening in ready:
                current = self.sessionId(opening.sender)
                if current is not None and current != opening.sessionId:
                    continue  # a session came since (ours, or another opening): this one is moot
                try:
                    self._init(opening.sender, opening.data)
                except (CodecError, CommandError) as error:
                    self.emit(ev.Error("pairwise session with %s: %s" % (opening.sender, error), "session"))

    # Nicks: a session binds both nicks (the handshake's transcript).

    def peerRenamed(self, old: str, new: str) -> None:
        """
        A peer changed nick: its session (and handshake) under the old nick
        end; the next record to the new nick starts a new session, whose
        key the trust store judges for the new nick.
        """
        self._forget(self._fold(old), "%s is now known as %s: send it again" % (old, new))

    def ownNickChanged(self) -> None:
        """Our nick changed: every session bound the old one, so all end (new ones start as needed)."""
        for folded in list(self._sessions) + list(self._starting) + list(self._answering):
            self._forget(folded, "your nick changed before the session was ready: send it again")

    def _forget(self, folded: str, reason: str) -> None:
        self._answering.pop(folded, None)
        starting = self._starting.pop(folded, None)
        if starting is not None:
            self._undelivered(starting, "not sent: " + reason)
        if self._sessions.pop(folded, None) is not None:
            self._save()

    # State (the state directory: it holds keys).

    def toDict(self) -> Dict[str, Any]:
        return {
            "format": STATE_FORMAT,
            "sessions": {
                folded: {
                    "nick": session.nick,
                    "identity": session.identity.hex(),
                    "ratchet": session.ratchet.to_dict(),
                }
                for folded, session in self._sessions.items()
            },
        }

    def load(self, data: Any) -> List[str]:
        """Sessions saved by L{toDict}; the ones that cannot be read are named (and left out)."""
        lost: List[str] = []
        if not isinstance(data, dict) or data.get("format") != STATE_FORMAT:
            raise ValueError("not a pairwise sessions file of format %d" % (STATE_FORMAT,))
        sessions = data.get("sessions")
        if not isinstance(sessions, dict):
            raise ValueError("no sessions in the pairwise sessions file")
        for folded, saved in sessions.items():
            try:
                identity = bytes.fromhex(saved["identity"])
                if len(identity) != 32:
                    raise ValueError("an identity key is 32 bytes")
                ratchet = Ratchet.from_dict(saved["ratchet"], self._makeKey)
                self._sessions[folded] = _Session(str(saved["nick"]), identity, ratchet)
            except (KeyError, TypeError, ValueError):
                lost.append(str(folded))
        return lost

    # Inside.

    def _fold(self, nick: str) -> str:
        return self._server.codecFold(nick)

    def _save(self) -> bool:
        return self.saveNow is None or self.saveNow()

    def _write(self, nick: str, kind: str, data: bytes) -> int:
        try:
            lines = frame(kind, data, self._maxPayload(nick))
        except ValueError as error:
            # The budget the server leaves (our prefix, its LINELEN), or a record too long.
            raise CommandError("not sent to %s: %s" % (nick, error)) from None
        for line in lines:
            self._server.write("PRIVMSG", nick, line)
        return len(lines)

    def _maxPayload(self, nick: str) -> int:
        prefix = self._server.prefix
        if prefix is None:
            prefix = "%s!%s@%s" % (self._server.nick, "u" * 10, "h" * 63)
        head = ":%s PRIVMSG %s :" % (prefix, nick)
        return self._server.lineLength - len(head.encode("utf-8")) - 2

    def _start(self, nick: str) -> _Starting:
        initiator = Initiator(self._server.identity, self._server.nick, nick, self._makeKey)
        self._write(nick, KIND_INIT, initiator.init())
        starting = _Starting(nick, initiator, self._clock())
        self._starting[self._fold(nick)] = starting
        return starting

    def _seal(self, session: _Session, record: bytes) -> int:
        message = session.ratchet.encrypt(record)
        # The sending chain moved: saved before the line leaves, so a crash
        # can never make this chain seal again under the same message key.
        self._sessions.move_to_end(self._fold(session.nick))
        if not self._save():
            raise CommandError(
                "not sent: the session with %s could not be saved to the state directory "
                "(sealing without it could reuse a key after a crash)" % (session.nick,)
            )
        return self._write(session.nick, KIND_MESSAGE, message)

    def _pinned(self, nick: str) -> Optional[bytes]:
        pin = self._server.trust.pinned(self._fold(nick))
        return None if pin is None else pin.public_key

    def _init(self, sender: str, data: bytes) -> None:
        folded = self._fold(sender)
        if folded in self._starting and self._server.identity.public_key < data[2:34]:
            # Both started at once: the smaller identity key stays initiator.
            return
        # Else we answer, and our own opening (if any) stays, with what it
        # holds, until a session is authenticated: the INIT's identity key is
        # only a claim (a relay can forge one with a smaller key), and a
        # handshake that never finishes reports what waited as not sent.
        responder = Responder(self._server.identity, self._server.nick, sender, self._makeKey)
        reply = responder.reply(data, self._pinned(sender))
        # Judged (malformed, identity changed) whatever the budget; answered within it.
        if not self.answers.allows(folded):
            if self.waitingFor is not None and self.waitingFor(folded):
                # A member of a forward room we share: answered within the budget, later.
                displaced = self.waiting.hold(folded, sender, data, self.sessionId(sender))
                if displaced is None:
                    return
                sender = displaced.sender
            count = self.answers.refused()
            if count is None:
                return
            raise Unanswered(self._unanswered(count, sender))
        self.answers.spent(folded)
        self._answering.pop(folded, None)
        self._answering[folded] = _Starting(sender, responder, self._clock())
        while len(self._answering) > MAX_RESPONDING:
            self._answering.popitem(last=False)
        self._write(sender, KIND_REPLY, reply)

    @staticmethod
    def _unanswered(count: int, sender: str) -> str:
        return (
            "%d protected session opening(s) not answered, the last from %s: at most %d per nick "
            "per %g seconds, a few at once in all, and never past the server's pace "
            "(someone floods you, or the relay invents nicks)" % (count, sender, MAX_PER_NICK, WINDOW)
        )

    def _reply(self, sender: str, data: bytes) -> None:
        starting = self._starting.get(self._fold(sender))
        if starting is None or not isinstance(starting.handshake, Initiator):
            raise Malformed("a session reply nobody asked for")
        pinned = self._pinned(sender)
        try:
            finish = starting.handshake.finish(data, pinned)
        except IdentityChanged:
            # Signed, by another key than the pinned one: the trust store
            # words it and remembers the key for /trust.  Still waiting.
            try:
                self._server.trust.judge(self._fold(sender), data[2:34])
            except (IdentityChanged, SignedByOther) as refusal:
                self._refusedAnswer(starting, data[2:34], refusal)
                raise  # the trust store's words (with /trust), as ever
            raise
        keys = starting.handshake.keys
        assert keys is not None
        try:
            self._server.trust.judge(self._fold(sender), keys.peer_identity)
        except (IdentityChanged, SignedByOther) as refusal:
            # Signed by another nick's key (a rename): what is held waits for /trust too.
            self._refusedAnswer(starting, keys.peer_identity, refusal)
            raise
        except CodecError as error:
            del self._starting[self._fold(sender)]
            self._undelivered(starting, "not sent: " + str(error))
            raise
        # FINISH first: a record an onSessionReady callback seals must reach the peer after it.
        self._write(sender, KIND_FINISH, finish)
        self._established(starting.nick, keys.peer_identity, Ratchet.from_session(keys, self._makeKey))

    def _refusedAnswer(self, starting: _Starting, identity: bytes, refusal: CodecError) -> None:
        """The peer's answer to our opening is signed by a key not trusted for its nick: said, held on."""
        starting.refusal = str(refusal)
        for callback in self._onRefused:
            callback(starting.nick, identity, True)

    def _finish(self, sender: str, data: bytes) -> None:
        answering = self._answering.get(self._fold(sender))
        if answering is None:
            raise Malformed("a session finish with no handshake under way")
        assert isinstance(answering.handshake, Responder)
        keys = answering.handshake.finish(data)
        try:
            self._server.trust.judge(self._fold(sender), keys.peer_identity)
        except CodecError as error:
            del self._answering[self._fold(sender)]
            if isinstance(error, (IdentityChanged, SignedByOther)):
                for callback in self._onRefused:
                    callback(answering.nick, keys.peer_identity, False)
            raise
        self._established(answering.nick, keys.peer_identity, Ratchet.from_session(keys, self._makeKey))

    def _established(self, nick: str, identity: bytes, ratchet: Ratchet) -> None:
        """
        A session is authenticated (either way): it replaces any other, and
        what our own opening held goes over it now.
        """
        folded = self._fold(nick)
        self._answering.pop(folded, None)
        ours = self._starting.pop(folded, None)
        self._sessions.pop(folded, None)
        self._sessions[folded] = _Session(nick, identity, ratchet)
        while len(self._sessions) > MAX_SESSIONS:
            self._sessions.popitem(last=False)
        self._save()
        for callback in self._onReady:
            callback(nick, identity, ratchet.session_id)
        if ours is not None:
            self._flush(ours)

    def _flush(self, starting: _Starting) -> None:
        session = self._sessions[self._fold(starting.nick)]
        held, starting.held, starting.heldBytes = starting.held, [], 0
        for kind, body in held:
            try:
                self._seal(session, pack_record(kind, body))
            except CommandError as error:
                callback = self._onUndelivered.get(kind)
                if callback is not None:
                    callback(starting.nick, body, str(error))

    def _undelivered(self, starting: _Starting, reason: str) -> None:
        held, starting.held, starting.heldBytes = starting.held, [], 0
        for kind, body in held:
            callback = self._onUndelivered.get(kind)
            if callback is not None:
                callback(starting.nick, body, reason)

    def _message(self, sender: str, data: bytes) -> List[ev.Event]:
        folded = self._fold(sender)
        session = self._sessions.get(folded)
        if session is None:
            again = ""
            if (
                self._pinned(sender) is not None
                and folded not in self._starting
                and folded not in self._answering
                and self.answers.allows(folded)
            ):
                # A peer we know: its session state is older than ours (we
                # lost ours).  A new session replaces its old one when it
                # answers, so what it sends next can be read.  An opening
                # nobody asked for: within the budgets of answers, as the
                # relay can forge such lines under every pinned nick.
                self.answers.spent(folded)
                self._start(sender)
                again = "; a new session is being started"
            raise NoSession(
                "a protected direct message from %s, but there is no session with %s "
                "(one of you restarted without its state?): it cannot be read%s" % (sender, sender, again)
            )
        plaintext = session.ratchet.decrypt(data)
        # Saved before anything is shown: a restart reopens no replay window.
        self._save()
        kind, body = unpack_record(plaintext)
        callback = self._onRecord.get(kind)
        if callback is None:
            raise Malformed(f"session record kind {kind:#04x} has no handler here")
        callback(sender, session.identity, body)
        return []

    def _refused(self, sender: str, reason: str, description: str) -> ev.RejectedMessage:
        return ev.RejectedMessage(sender, sender, SESSION_LAYER, reason, description, True)

    @staticmethod
    def _sentence(error: CodecError) -> str:
        text = str(error)
        return text if text else getattr(error, "summary", error.reason)


class NoSession(CodecError):
    """A ratchet message from a peer we hold no session with."""

    reason = "no-session"
    summary = "a protected direct message, but there is no session with its sender"


class Unanswered(CodecError):
    """Session openings over the budget of answers: dropped, their count said once per window."""

    reason = "not-answered"
    summary = "a protected session opening not answered (too many at once)"


__all__ = ["HANDSHAKE_TIMEOUT", "SESSION_LAYER", "SESSION_PROTECTION", "NoSession", "Pairwise", "Unanswered"]
