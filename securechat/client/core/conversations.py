"""
The session's part for conversations: opening messages (the codec judges
each), keys being set and derived and what waits for them, identities, and
sealing messages.  The records it works on are the L{Keyring}'s.
"""

from __future__ import annotations

from collections import deque
from typing import Callable, Deque, Dict, List, Optional, Protocol, Tuple, Union

import attr

from ...codec import (
    LAYERS,
    PROTECTION,
    Accepted,
    RoomKeys,
    normalize_fingerprint,
)
from ...wire import Message
from . import ctcp
from . import events as ev
from .hints import DIRECT, HintReader, HintSender, MalformedHint, isHint, msgidOf, noticeCarrier, parseHint
from .identities import KEPT_MARK, KEPT_VERIFIED_MARK
from .keyed import SENDING, Keyring, PendingKey
from .pacing import DEFAULT_PACE, Pace, Pacer, paceOf
from .refusals import RefusalGroups
from .rules import (
    DEFAULT_KEYED_LAYER,
    LAYER_GAINS,
    LAYER_RANK,
    MAX_HELD_PER_SENDER,
    MAX_HELD_SENDERS,
    MAX_PACED_CHARS,
    MAX_PACED_MESSAGES,
    MAX_QUEUED_CHARS,
    MAX_QUEUED_MESSAGES,
    PACE_PROGRESS_EVERY,
    PLAIN,
    WORST_HOST,
    WORST_USER,
    CommandError,
    NeedsForce,
    NotConnected,
    Result,
    Server,
    checkTarget,
    checkWord,
)
from .serverlines import Knowledge, conversationOf, roomOf
from .views import viewEvents
from .wording import keyLostNote, keyNotEnteredNote, loweringNote, spellConsole


class DirectRoute(Protocol):
    """What sending asks of the direct-messages-over-sessions part."""

    def route(self, target: str, force: bool) -> Optional[str]: ...

    def send(self, target: str, body: str) -> Union[ev.Sent, ev.Queued]: ...

    def holdsSession(self, name: str) -> bool: ...

    def describe(self, name: str) -> Optional[str]: ...

    def judge(self, message: Message, name: str, direct: bool) -> Optional[List[ev.Event]]: ...

    def hintCarrier(self, clear: Callable[[str, str], None]) -> Callable[[str, str], None]: ...

    def onHint(self, received: Callable[[str, str], None]) -> None: ...


class Conversations:
    """
    What the user says and hears: each line for a conversation judged by
    the codec, keys set and being derived (what waits for them), identities,
    and messages sealed and sent.  Built on the session's other parts: the
    L{Server} (the registration: our nick, the server's features, writing), the
    L{Keyring} (the records of the user's choices) and C{joined} (whether
    we are in a room, from L{securechat.client.core.rooms.Rooms}).
    """

    def __init__(
        self,
        server: Server,
        keyring: Keyring,
        joined: Callable[[str], bool],
        emit: Callable[[ev.Event], None],
        clock: Callable[[], float],
        directSessions: DirectRoute,
        pace: Optional[Pace] = None,
    ) -> None:
        self._server = server
        #: The direct-messages-over-sessions part
        #: (L{securechat.client.core.directsessions.DirectSessions}): it
        #: judges what belongs to pairwise sessions before the codec does
        #: (L{None} from its C{judge} means "not mine"), and routes sending.
        self.directSessions = directSessions
        self._keyring = keyring
        self._joined = joined
        self.emit = emit
        self._clock = clock
        #: Our copy of the server's flood bucket (see L{securechat.client.core.pacing}).
        self.pacer = Pacer(pace or DEFAULT_PACE, clock())
        #: Whether the pace was chosen for us (tests, options): else learnt
        #: from the server's 004 (L{serverSoftware}).
        self._paceFixed = pace is not None
        #: Messages typed and not yet sealed, in order: (target, body, force,
        #: whether it was typed for a keyed conversation).
        self._outbox: Deque[Tuple[str, str, bool, bool]] = deque()
        self._outboxChars = 0
        #: Since the send queue last started filling: left, refused.
        self._pacedSent = 0
        self._pacedUnsent = 0
        #: Set by the adapter while a connection is up: "call L{releasePaced}
        #: in this many seconds".  Without it (a session driven by hand)
        #: nothing waits: every message is sealed and written at once.
        self.schedule: Optional[Callable[[float], None]] = None
        #: Whether the connection's socket stopped draining (the adapter
        #: says so): nothing leaves the queue until it drains.
        self.drainBlocked = False
        #: Messages refused as identity-changed, kept (bounded) per sender
        #: (codec-folded) until the user accepts the new key (L{trustNick}).
        self._held: Dict[str, List[ev.IncomingMessage]] = {}
        #: Refusals of a member for one reason: the first shown, the rest
        #: grouped; decided here, once, for every face.
        self.refusals = RefusalGroups(lambda name: self._server.fold(name), clock=clock)
        #: Refusal hints (L{securechat.client.core.hints}): those we send when
        #: we cannot open a member's message (carried by L{noticeCarrier},
        #: which our pairwise session with the peer replaces where one
        #: exists: L{securechat.client.core.sessionhints}), and those we receive.
        fold = lambda name: self._server.fold(name)  # noqa: E731 - the fold changes with 005
        self.hintSender = HintSender(fold, clock, directSessions.hintCarrier(noticeCarrier(self._writeHint)))
        self.hintReader = HintReader(fold, clock)
        #: Those that came over a session: bounded apart, so that hints a
        #: relay forges in clear never use up the windows of authenticated ones.
        self.sessionHintReader = HintReader(fold, clock)
        directSessions.onHint(self._sessionHint)

    # Messages received.

    def privmsgReceived(self, message: Message) -> None:
        self._incoming(message)

    def noticeReceived(self, message: Message) -> None:
        if self._fromServer(message.source):
            text = message.params[-1] if message.params else ""
            self.emit(ev.Notice(text, message.source))
            return
        if self.hintReceived(message):
            return
        self._incoming(message)

    # Refusal hints (docs/wire.md, "Refusal hints").

    def hintReceived(self, message: Message) -> bool:
        """
        Whether C{message} is a refusal hint to us (a NOTICE to our nick):
        then it is shown as what it is, unauthenticated (L{ev.RefusalHint}),
        or ignored when malformed, ours, or over the bounds; never a message.
        """
        if (
            message.command != "NOTICE"
            or len(message.params) != 2
            or message.sourceNick is None
            or self._fromServer(message.source)
            or not self._server.isMe(message.params[0])
            or not isHint(message.params[1])
        ):
            return False
        if self._server.isMe(message.sourceNick):
            return True
        self._showHint(message.sourceNick, message.params[1], False)
        return True

    def _sessionHint(self, nick: str, text: str) -> None:
        """A hint our pairwise session with C{nick} opened: from that identity, shown as authenticated."""
        if isHint(text):
            self._showHint(nick, text, True)

    def _showHint(self, by: str, text: str, authenticated: bool) -> None:
        """Show C{by}'s hint C{text} within the reader's bounds; a malformed one is ignored."""
        try:
            hint = parseHint(text)
        except MalformedHint:
            return
        if hint.conversation != DIRECT and not self._server.isRoom(hint.conversation):
            return  # a conversation is a room or "*": anything else is malformed
        event = (self.sessionHintReader if authenticated else self.hintReader).received(by, hint)
        if event is not None:
            self.emit(attr.evolve(event, authenticated=True) if authenticated else event)

    def _hintRefusal(self, message: Message, name: str, direct: bool, results: List[Result]) -> None:
        """
        Tell the sender of a sealed PRIVMSG we could not open, in a
        conversation we count as keyed.  Never for a NOTICE: a NOTICE is
        never answered automatically, so two clients cannot loop.
        """
        if not results or isinstance(results[-1], Accepted) or message.command != "PRIVMSG":
            return
        sender = message.sourceNick or ""
        msgid = msgidOf(message.params[1])
        if msgid is None or self._server.isMe(sender) or self._keyring.expectedLayer(name) == PLAIN:
            return
        self.hintSender.refused(sender, DIRECT if direct else name, results[-1].reason, msgid)

    def _writeHint(self, command: str, *params: str) -> None:
        """A hint is best effort: not connected, or a nick the line cannot carry, and it is dropped."""
        try:
            self._server.writeAllowed("send", command, *params)
        except (CommandError, NotConnected):
            pass

    def knowledge(self) -> Knowledge:
        """What sorting a server line (L{classify}) needs to know of this session, now."""
        return Knowledge(
            self._server.server if self._server.registered else None,
            self._server.isRoom,
            lambda name: self._keyring.expectedLayer(name) != PLAIN or self._sessionPeer(name),
            self._server.statusPrefixes,
        )

    def _sessionPeer(self, name: str) -> bool:
        """Whether C{name} is a peer we hold a pairwise session with (its plain lines are refused)."""
        return self.directSessions.holdsSession(name)

    def keyedFormOf(self, target: str) -> Optional[str]:
        """
        The keyed room or peer C{target} addresses (in any case, or in a
        STATUSMSG form such as C{@#lab}), or L{None}: what is sent to it is
        sealed or refused, never in clear.
        """
        room = roomOf(target, self._server.isRoom, self._server.statusPrefixes)
        name = room if room is not None else target
        if self._keyring.expectedLayer(name) != PLAIN:
            return name
        if room is None and self.directSessions.route(name, False) is not None:
            return name  # a peer whose messages go over a pairwise session
        return None

    def _fromServer(self, source: Optional[str]) -> bool:
        """
        Whether a NOTICE is the server's own (shown as is): no source, before
        registration, or the name the server gave at registration, nothing
        else.  A bare C{bob}, or a dotted C{bob.x}, is a member's nick
        however it is spelled, and goes through the codec like any message:
        shown as a server notice, it put unmarked text under its name in a
        keyed room.
        """
        if source is None or not self._server.registered:
            return True
        return bool(self._server.server) and source == self._server.server

    def _incoming(self, message: Message) -> None:
        if len(message.params) < 2 or message.sourceNick is None:
            return
        name, direct = conversationOf(
            message.params[0], message.sourceNick, self._server.isRoom, self._server.statusPrefixes
        )
        for event in self.judge(message, name, direct):
            self.emit(event)

    def judge(self, message: Message, name: str, direct: bool) -> List[ev.Event]:
        """
        What the codec makes of C{message} (a PRIVMSG or NOTICE with text)
        in the conversation C{name}: accepted messages and refusals, as
        events, returned rather than emitted (the caller shows them with
        the line at hand).
        """
        judged = self.directSessions.judge(message, name, direct)
        if judged is not None:
            return judged
        sender = message.sourceNick or ""
        conversation = self._keyring.judging(name)
        results = conversation.receive(sender, message.params[1])
        self._hintRefusal(message, name, direct, results)
        return self._verdicts(name, direct, results)

    def _report(self, name: str, direct: bool, results: List[Result]) -> None:
        for event in self._verdicts(name, direct, results):
            self.emit(event)

    def _verdicts(self, name: str, direct: bool, results: List[Result]) -> List[ev.Event]:
        events: List[ev.Event] = []
        for result in results:
            if isinstance(result, Accepted) and not direct:
                announced = ctcp.parse(result.body)
                if announced is not None and announced.command == ctcp.LAYER:
                    events.append(self._layerAnnounced(name, result, announced.text.strip()))
                    continue
            if isinstance(result, Accepted):
                events.append(
                    # An action (/me) or another CTCP, shown, never answered.
                    ctcp.incoming(
                        ev.IncomingMessage(
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
                        )
                    )
                )
                events.extend(viewEvents(name, result))
            else:
                held = getattr(result.error, "held", None)
                signer = getattr(result.error, "held_signer", None)
                if result.reason == "identity-changed" and held is not None and signer is not None:
                    self._hold(name, direct, result.sender, result.layer or "", held, signer)
                events.append(
                    ev.RejectedMessage(
                        name, result.sender, result.layer, result.reason, result.description, direct
                    )
                )
        return self.refusals.judged(events)

    def _hold(self, name: str, direct: bool, sender: str, layer: str, body: str, signer: str) -> None:
        """
        Keep a message refused only for its new key: shown, marked, if the
        user accepts that key (C{signer}, its fingerprint), never another.
        """
        key = self._server.codecFold(sender)
        if key not in self._held and len(self._held) >= MAX_HELD_SENDERS:
            return
        held = self._held.setdefault(key, [])
        if len(held) < MAX_HELD_PER_SENDER:
            held.append(
                ev.IncomingMessage(
                    name, sender, body, layer, PROTECTION.get(layer, ""), direct, signer=signer, trust=KEPT_MARK
                )
            )

    def _layerAnnounced(self, name: str, result: Accepted, layer: str) -> ev.LayerAnnounced:
        """
        A member says, sealed, that C{name}'s layer is C{layer} now.  A raise
        sealed on that layer (the member has it, the room's key proves it is
        a member's) and not late is followed; anything else is only shown.
        """
        previous = self._keyring.layerFor(name)
        conversation = self._keyring.stored(name)
        raise_ = (
            layer in LAYER_RANK
            and layer != PLAIN
            and LAYER_RANK[layer] > LAYER_RANK[previous]
            and result.layer == layer
            # Late (its sequence number passed): a replay on a layer without a
            # replay cache (fernet), after the room was lowered again.
            and not result.reordered
            and conversation is not None
            and conversation.keys is not None
        )
        if not raise_:
            return ev.LayerAnnounced(name, result.sender, layer[:32], previous, False)
        assert conversation is not None
        conversation.set_layer(layer, conversation.keys)
        self._keyring.record(name).layer = layer
        self._keyring.rememberKeyed(name, layer)
        return ev.LayerAnnounced(name, result.sender, layer, previous, True)

    def _announceLayer(self, name: str, layer: str) -> None:
        """
        Tell the room, sealed on its current layer, that its layer is
        C{layer} now: a raise is followed, a lowering shown.  Only when we
        can: connected, in the room, keyed.
        """
        conversation = self._keyring.stored(name)
        if (
            conversation is None
            or conversation.keys is None
            or conversation.layer == PLAIN
            or not self._server.isRoom(name)
            or not self._server.allows("send")
            or not self._joined(name)
        ):
            return
        try:
            self._server.checkSealingNick()
            texts = conversation.encode(self._server.nick, ctcp.layerAnnouncement(layer), self.maxPayload(name))
        except (CommandError, ValueError):
            return
        for text in texts:
            self._server.write("PRIVMSG", name, text)

    def expire(self) -> None:
        """Report chunked messages whose reassembly timed out (call periodically)."""
        self.hintSender.tick()
        for group in self.refusals.due():
            self.emit(group)
        for record in self._keyring.records():
            if record.conversation is None:
                continue
            results = record.conversation.expire()
            if results:
                name, direct = record.display
                self._report(name, direct, list(results))

    # Conversations and keys.

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
        event = self._setKeys(name, keys, layer, self._keyring.nextRequest())
        pending = self._keyring.forgetPending(name)
        if pending is not None:
            self._flush(pending)
        return event

    def _setKeys(
        self, name: str, keys: RoomKeys, layer: Optional[str], request: int
    ) -> ev.KeySet:
        if request < self._keyring.record(name).applied:
            raise CommandError(
                "a newer key for %s was set meanwhile: this older one is not used" % (name,)
            )
        if layer is None:
            # After a nick change, a direct conversation keeps the layer it
            # had: both ends remember it, so they agree again.
            # So does a room keyed before a restart: its layer was saved.
            kept = not self._server.isRoom(name) or self._keyring.restored(name)
            previous = self._keyring.keyedLayer(name) if kept else None
            layer = self._keyring.chosenLayer(name) or previous or DEFAULT_KEYED_LAYER
        self.checkLayer(layer)
        conversation = self._keyring.conversation(name)
        try:
            conversation.set_layer(layer, keys)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        record = self._keyring.record(name)
        record.layer = layer
        record.applied = request
        self._keyring.rememberKeyed(name, layer)
        event = ev.KeySet(name, layer, self._keyring.fingerprint(name))
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
        pending = self._keyring.pendingKey(name)
        if pending is not None:
            if LAYER_RANK[layer] < LAYER_RANK[self._keyring.expectedLayer(name)]:
                # What waits was typed for the protection the user now gives up.
                self._refuseQueued(
                    pending, "you lowered %s to %s before its key was ready" % (name, layer)
                )
            # The user's latest choice is the layer the coming key is used on.
            pending.layer = layer
        if layer != PLAIN and self._keyring.keysFor(name) is None:
            self._keyring.record(name).layer = layer
            if pending is not None:
                raise CommandError(
                    "the key for %s is still being derived: %s will be used once it is set"
                    % (name, layer)
                )
            raise CommandError(
                "%s has no key yet: set a passphrase (/key) and %s will be used" % (name, layer)
            )
        conversation = self._keyring.conversation(name)
        before = conversation.layer
        lowering = LAYER_RANK[layer] < LAYER_RANK[before]
        if lowering:
            # Said on the layer the members are on: they show it, never follow.
            self._announceLayer(name, layer)
        conversation.set_layer(layer, conversation.keys)
        self._keyring.record(name).layer = layer
        self._keyring.rememberKeyed(name, layer)
        if LAYER_RANK[layer] > LAYER_RANK[before] and before != PLAIN:
            # Sealed on the new layer, which proves we have it: members follow.
            self._announceLayer(name, layer)
        event = ev.LayerSet(name, layer)
        self.emit(event)
        return event

    def _checkLowering(self, name: str, layer: str, force: bool) -> None:
        """L{NeedsForce} if C{layer} is below what C{name} has, unless C{force}."""
        current = self._keyring.expectedLayer(name)
        if force or LAYER_RANK[layer] >= LAYER_RANK[current]:
            return
        lost = [
            LAYER_GAINS[higher]
            for higher in LAYERS[LAYER_RANK[layer] + 1 : LAYER_RANK[current] + 1]
        ]
        gives = "; ".join(lost)
        raise NeedsForce(
            loweringNote(name, current, layer, gives, spellConsole) + ' (JSON: "force": true)',
            (name, current, layer, gives),
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
        pending = self._keyring.awaitKey(name)
        pending.latest = self._keyring.nextRequest()
        pending.layer = layer
        return pending.latest

    def keyArrived(
        self, name: str, request: int, keys: RoomKeys, layer: Optional[str] = None
    ) -> ev.KeySet:
        """
        Request C{request}'s keys are ready: set them (unless a newer key was
        set meanwhile) and, when it is the newest request for C{name}, send
        what waited for it.
        """
        pending = self._keyring.pendingKey(name)
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
            self._keyring.forgetPending(name)
            self._flush(pending)
        return event

    def keyFailed(self, name: str, request: int, why: str) -> None:
        """Request C{request} for C{name} failed: if it was the newest, what waited is refused."""
        pending = self._keyring.pendingKey(name)
        if pending is None or pending.latest != request:
            return
        self._keyring.forgetPending(name)
        self._refuseQueued(pending, "no key for %s: %s" % (name, why))

    def keyPending(self, name: str) -> bool:
        """Whether a key for C{name} is being derived."""
        return self._keyring.pendingKey(name) is not None

    def _queue(self, pending: PendingKey, target: str, body: str) -> ev.Queued:
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

    def _flush(self, pending: PendingKey) -> None:
        """Send what waited for C{pending}'s key, each refused on its own if it cannot go."""
        queue, pending.queue, pending.chars = pending.queue, [], 0
        for body in queue:
            try:
                if self._keyring.layerFor(pending.name) == PLAIN:
                    raise CommandError(
                        "%s is on plain now; it was typed for a keyed conversation" % (pending.name,)
                    )
                self._sendPaced(pending.name, body)
            except (CommandError, NotConnected) as exc:
                self.emit(ev.Unsent(pending.name, body, str(exc)))

    def _refuseQueued(self, pending: PendingKey, reason: str) -> None:
        queue, pending.queue, pending.chars = pending.queue, [], 0
        for body in queue:
            self.emit(ev.Unsent(pending.name, body, "not sent: " + reason))

    @staticmethod
    def checkLayer(layer: str) -> None:
        """L{CommandError} unless C{layer} is one of the codec's layers."""
        if layer not in LAYERS:
            raise CommandError("unknown layer %r: choose one of %s" % (layer, ", ".join(LAYERS)))

    # Identities (the signed layer).

    def trustNick(self, nick: str) -> ev.TrustChanged:
        """Accept the key last refused for C{nick} (identity changed, or signed by another's key)."""
        checkWord("nick", nick)
        try:
            pin = self._server.trust.trust(self._server.codecFold(nick))
        except KeyError:
            raise CommandError(
                "no refused key to accept for %s: /trust follows an 'identity changed' "
                "or 'signed by another key' refusal" % (nick,)
            ) from None
        event = ev.TrustChanged(nick, pin.fingerprint, pin.status)
        self.emit(event)
        for message in self._held.pop(self._server.codecFold(nick), []):
            # Refused before the user accepted the key: shown now, marked as
            # such; only those signed by the key accepted (a message signed by
            # a third key under the same nick is no more believed than before).
            if message.signer == pin.fingerprint:
                self.emit(message)
        return event

    def _releaseVerified(self, nick: str, fingerprint: str) -> None:
        """
        The user verified C{fingerprint} for C{nick}: the messages held for
        that key are shown, marked; those of any other key stay held.
        """
        key = self._server.codecFold(nick)
        held = self._held.pop(key, [])
        kept = [message for message in held if message.signer != fingerprint]
        if kept:
            self._held[key] = kept
        for message in held:
            if message.signer == fingerprint:
                self.emit(attr.evolve(message, trust=KEPT_VERIFIED_MARK))

    def verifyNick(self, nick: str, fingerprint: str) -> ev.TrustChanged:
        """Mark C{nick}'s key verified, if C{fingerprint} (compared out of band) is its own."""
        checkWord("nick", nick)
        if normalize_fingerprint(fingerprint) is None:
            raise CommandError("a fingerprint is 8 groups of 5 digits, as /fingerprint shows it")
        try:
            pin = self._server.trust.verify(self._server.codecFold(nick), fingerprint)
        except KeyError:
            raise CommandError("no key known for %s yet: wait for a signed message from them" % (nick,)) from None
        except ValueError as exc:
            raise CommandError("not verified: %s (is someone in between?)" % (exc,)) from None
        event = ev.TrustChanged(nick, pin.fingerprint, pin.status)
        self.emit(event)
        self._releaseVerified(nick, pin.fingerprint)
        return event

    def fingerprintEvent(self, name: str) -> ev.Fingerprint:
        """What C{/fingerprint NAME} shows: the key of C{name}, ours, and a nick's pin."""
        pin = None if self._server.isRoom(name) else self._server.trust.pinned(self._server.codecFold(name))
        overSession = self.directSessions.describe(name)
        return ev.Fingerprint(
            name,
            overSession or self._keyring.layerFor(name),
            self._keyring.fingerprint(name),
            self._server.identity.fingerprint,
            None if pin is None else pin.fingerprint,
            None if pin is None else pin.status,
        )

    # Sending.

    def maxPayload(self, target: str) -> int:
        """
        The most UTF-8 bytes of text one PRIVMSG to C{target} may carry, once
        the relay has put our prefix in front of it: LINELEN minus
        C{:prefix PRIVMSG target :} and CRLF.
        """
        prefix = self._server.prefix
        if prefix is None:
            prefix = "%s!%s@%s" % (self._server.nick, "u" * WORST_USER, "h" * WORST_HOST)
        head = ":%s PRIVMSG %s :" % (prefix, target)
        return self._server.lineLength - len(head.encode("utf-8")) - 2

    def sendMessage(
        self, target: str, body: str, force: bool = False
    ) -> Union[ev.Sent, ev.Queued, ev.Paced]:
        """
        Encode C{body} for C{target} with its conversation's layer and send
        it; if C{target}'s key is being derived, queue it for that key.
        C{force} sends in clear to a keyed peer whose key no longer applies.
        """
        self._checkSendable(target, body)
        keyed = self._keyring.keyedName(target)
        if keyed is not None and SENDING[keyed.phase] == "queue":
            assert keyed.pending is not None
            self._server.checkSealingNick()
            return self._queue(keyed.pending, target, body)
        if self.directSessions.route(target, force) == "hold":
            # No session yet: held for it (never in clear), not for the pace.
            return self.directSessions.send(target, body)
        return self._sendPaced(target, body, force)

    # The send queue: sealed when the server's pace lets a message go.

    def _mustWait(self) -> bool:
        if self.schedule is None:
            return False
        return bool(self._outbox) or self.drainBlocked or not self.pacer.ready(self._clock())

    def _sendPaced(self, target: str, body: str, force: bool = False) -> Union[ev.Sent, ev.Paced, ev.Queued]:
        """Seal and send now if the server reads us now; else queue, unsealed (L{ev.Paced})."""
        if not self._mustWait():
            return self._seal(target, body, force)
        self._checkSealable(target, force)
        if (
            len(self._outbox) >= MAX_PACED_MESSAGES
            or self._outboxChars + len(body) > MAX_PACED_CHARS
        ):
            raise CommandError(
                "not sent: %d messages already wait for the server's pace (at most %d, %d characters)"
                % (len(self._outbox), MAX_PACED_MESSAGES, MAX_PACED_CHARS)
            )
        if not self._outbox:
            self._pacedSent = self._pacedUnsent = 0
        self._outbox.append((target, body, force, self._keyring.layerFor(target) != PLAIN))
        self._outboxChars += len(body)
        now = self._clock()
        event = ev.Paced(target, body, len(self._outbox) - 1, self.pacer.eta(now, len(self._outbox)))
        self.emit(event)
        if len(self._outbox) == 1:
            self._wake(now)
        return event

    def _wake(self, now: float) -> None:
        if self.schedule is not None and self._outbox and not self.drainBlocked:
            self.schedule(self.pacer.waitTime(now))

    def serverSoftware(self, version: str) -> None:
        """The server said what it runs (004): pace ourselves as it paces us."""
        if not self._paceFixed:
            self.pacer.learn(paceOf(version))

    def written(self, lines: int = 1) -> None:
        """C{lines} went to the server (any line: they all cost at its flood bucket)."""
        self.pacer.spent(self._clock(), lines)

    def releasePaced(self) -> None:
        """
        Seal and send what the pace allows now, in order; each message that
        cannot go any more (the key was dropped, the room parted) is refused
        on its own (L{ev.Unsent}).
        """
        now = self._clock()
        before = self._pacedSent
        while self._outbox and not self.drainBlocked and self.pacer.ready(now):
            target, body, force, keyed = self._outbox.popleft()
            self._outboxChars -= len(body)
            try:
                if keyed and self._keyring.layerFor(target) == PLAIN:
                    # Set to plain while it waited: typed to be sealed, never sent in clear.
                    raise CommandError("%s is on plain now; it was typed for a keyed conversation" % (target,))
                self._seal(target, body, force)
                self._pacedSent += 1
            except (CommandError, NotConnected) as exc:
                self._pacedUnsent += 1
                self.emit(ev.Unsent(target, body, str(exc)))
        if not self._outbox:
            if self._pacedSent + self._pacedUnsent and (self._pacedSent != before or self._pacedUnsent):
                self.emit(ev.PaceProgress(self._pacedSent, 0, 0.0, self._pacedUnsent))
                self._pacedSent = self._pacedUnsent = 0
            return
        if self._pacedSent // PACE_PROGRESS_EVERY != before // PACE_PROGRESS_EVERY:
            self.emit(
                ev.PaceProgress(
                    self._pacedSent,
                    len(self._outbox),
                    self.pacer.eta(now, len(self._outbox)),
                    self._pacedUnsent,
                )
            )
        self._wake(now)

    def setDrainBlocked(self, blocked: bool) -> None:
        """The socket stopped draining (or drained again): hold the queue (or go on)."""
        self.drainBlocked = blocked
        if not blocked:
            self.releasePaced()

    def connectionMade(self) -> None:
        """A new connection: the server's bucket is full again."""
        self.pacer.refill(self._clock())
        self.drainBlocked = False

    def connectionLost(self) -> None:
        """What still waited for the pace will not go: each is refused, and the count said."""
        self.schedule = None
        self.drainBlocked = False
        if not self._outbox:
            return
        waiting, self._outbox, self._outboxChars = self._outbox, deque(), 0
        for target, body, _force, _keyed in waiting:
            self._pacedUnsent += 1
            self.emit(ev.Unsent(target, body, "not sent: the connection was lost while it waited its turn"))
        self.emit(ev.PaceProgress(self._pacedSent, 0, 0.0, self._pacedUnsent))
        self._pacedSent = self._pacedUnsent = 0

    @property
    def waiting(self) -> int:
        """Messages in the send queue."""
        return len(self._outbox)

    def _checkSendable(self, target: str, body: str) -> None:
        if not self._server.allows("send"):
            raise NotConnected("not connected to the server")
        checkTarget(target)
        if not body.strip():
            raise CommandError("nothing to send")
        if "\x00" in body or "\r" in body:
            raise CommandError("a message cannot contain NUL or CR characters")
        room = roomOf(target, self._server.isRoom, self._server.statusPrefixes)
        if room is not None and room != target and self._keyring.expectedLayer(room) != PLAIN:
            # @#lab reaches part of #lab, under no key of its own: it would go in clear.
            raise CommandError(
                "not sent: a message to part of %s (%s) cannot be protected; send it to %s"
                % (room, target, room)
            )
        if self._server.isRoom(target) and not self._joined(target):
            raise CommandError("you are not in %s: /join it first" % (target,))

    def _checkSealable(self, target: str, force: bool) -> None:
        conversation = self._keyring.judging(target)
        layer = self._keyring.keyedLayer(target)
        if conversation.keys is None and layer is not None and not force:
            # Keyed, and the key no longer applies (a direct key set before
            # a nick changed, ours, the peer's, or one the relay forced on
            # us): never send such text in clear unless the user says so.
            room = self._server.isRoom(target)
            if self._keyring.restored(target):
                raise NeedsForce(
                    "not sent: " + keyNotEnteredNote(target, layer, spellConsole),
                    keyLost=(target, layer, room),
                    keyRestored=True,
                )
            raise NeedsForce(
                keyLostNote(target, layer, room, spellConsole) + ' (JSON: "force": true)',
                keyLost=(target, layer, room),
            )

    def _seal(self, target: str, body: str, force: bool = False) -> Union[ev.Sent, ev.Queued]:
        self._checkSendable(target, body)
        if self.directSessions.route(target, force) is not None:
            return self.directSessions.send(target, body)
        self._checkSealable(target, force)
        conversation = self._keyring.judging(target)
        if conversation.layer != PLAIN:
            self._server.checkSealingNick()
        try:
            texts = conversation.encode(self._server.nick, body, self.maxPayload(target))
        except ValueError as exc:
            # The codec's refusals (too long for receivers to reassemble, a
            # line budget too small): the user's to be told, like ours above.
            raise CommandError("not sent: %s" % (exc,)) from None
        for text in texts:
            self._server.write("PRIVMSG", target, text)
        msgid = msgidOf(texts[0]) if texts and conversation.layer != PLAIN else None
        if msgid is not None:
            self.hintReader.sent(target, msgid, body)
            self.sessionHintReader.sent(target, msgid, body)
        event = ev.Sent(target, body, conversation.layer, len(texts), msgid)
        self.emit(event)
        return event
