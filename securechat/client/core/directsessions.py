"""
Direct messages over pairwise sessions: the part between the user's
C{/msg bob text} and L{securechat.client.core.pairwise.Pairwise}.

  - Sending: to a peer with no C{/key} secret (and not chosen plain), a
    message goes as a L{TEXT} record of our session with the peer; with no
    session yet one is started and the text HELD (never sent in clear),
    and the user is told so.  A peer who does not answer within the
    handshake's timeout gets L{ev.SessionUnanswered}: not sent, and the
    face says how to send it in clear explicitly.  A peer with a C{/key}
    secret keeps using it (the secret still works; sessions are not used).
  - Receiving: session lines (C{+scs1}) from a direct peer are judged by
    the pairwise part, never by the codec's conversations; a plain line
    from a peer we hold a session with is refused as C{unprotected}, like
    plain text in a keyed conversation.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Union

from ...codec.errors import Malformed
from ...codec.identity import identity_fingerprint
from ...codec.sessions.framing import TEXT, is_session_line
from ...wire import Message
from . import ctcp
from . import events as ev
from .keyed import Keyring
from .pairwise import SESSION_LAYER, SESSION_PROTECTION, Pairwise
from .rules import PLAIN, Server
from .sessionhints import onSessionHint, sessionCarrier
from .wording import Spell, typed

#: What the user is told when a message waits for a session.
HELD_NOTE = "starting a protected session with %s; your message is held (never sent in clear)"
WAITING_NOTE = "the protected session with %s is starting; your message is held (never sent in clear)"


class DirectSessions:
    """Direct messages over pairwise sessions (see the module's docstring)."""

    def __init__(
        self,
        server: Server,
        keyring: Keyring,
        pairwise: Pairwise,
        emit: Callable[[ev.Event], None],
        enabled: bool = True,
    ) -> None:
        self._server = server
        self._keyring = keyring
        self._pairwise = pairwise
        self.emit = emit
        #: Whether C{/msg} to an unkeyed peer uses (and starts) sessions.
        self.enabled = enabled
        #: Messages held for a session now, per peer (codec-folded): [nick, count].
        self._held: Dict[str, List[Any]] = {}
        self._onHeld: List[Callable[[Dict[str, int]], None]] = []
        pairwise.onRecord(TEXT, self._text)
        pairwise.onUndelivered(TEXT, self._unanswered)
        pairwise.onSessionReady(self._ready)

    def judge(self, message: Message, name: str, direct: bool) -> Optional[List[ev.Event]]:
        """The verdict on a direct line that concerns sessions; L{None} when it does not."""
        if not direct or len(message.params) < 2:
            return None
        sender = message.sourceNick or ""
        text = message.params[1]
        if is_session_line(text):
            if message.command != "PRIVMSG":
                # Sessions travel in PRIVMSG only (we never send one as a
                # NOTICE): a NOTICE is never answered automatically, nor opened.
                return [
                    ev.RejectedMessage(
                        name, sender, SESSION_LAYER, "malformed",
                        "malformed: a session line sent as a %s (sessions travel only in PRIVMSG): ignored"
                        % (message.command,),
                        True,
                    )
                ]  # fmt: skip
            return self._pairwise.lineReceived(sender, text)
        if self.holdsSession(sender) and not text.startswith("+sc"):
            return [
                ev.RejectedMessage(
                    name,
                    sender,
                    None,
                    "unprotected",
                    "unprotected: plain text from %s, with whom you have a protected session: "
                    "the relay could have written it" % (sender,),
                    True,
                )
            ]
        return None

    def describe(self, name: str) -> Optional[str]:
        """
        What protects direct messages to C{name} when a session does (the
        status bar, /fingerprint): C{session} (ready), C{session: starting}
        (the first message waits), C{session: none yet} (the next message
        starts one); L{None} when sessions are not for C{name}.
        """
        if not self.enabled or not self._usesSessions(name):
            return None
        if self._pairwise.hasSession(name):
            return "session"
        return "session: starting" if self._pairwise.starting(name) else "session: none yet"

    def hintCarrier(self, clear: Callable[[str, str], None]) -> Callable[[str, str], None]:
        """The carrier of refusal hints: over our session with the peer where one exists, else C{clear}."""
        return sessionCarrier(self._pairwise, clear)

    def onHint(self, received: Callable[[str, str], None]) -> None:
        """Call C{received(nick, line)} for each refusal hint a session opens (authenticated to C{nick})."""
        onSessionHint(self._pairwise, received)

    def liftPlain(self, target: str, layer: str) -> Optional[ev.LayerSet]:
        """
        The user asks a protected C{layer} for a peer they chose plain for
        and typed no secret for: the choice of plain is lifted (and no longer
        saved), and direct messages go over sessions again (said as layer
        C{session}); L{None} when this is not that case (the layer is set as usual).
        """
        if (
            not self.enabled
            or layer == PLAIN
            or self._server.isRoom(target)
            or self._server.isMe(target)
            or self._keyring.chosenLayer(target) != PLAIN
            or self._keyring.keysFor(target) is not None
            or self._keyring.keyedName(target) is not None
        ):
            return None
        self._keyring.record(target).layer = None
        event = ev.LayerSet(target, SESSION_LAYER)
        self.emit(event)
        return event

    def ctcpReplyPasses(self, target: str, text: str) -> bool:
        """
        Whether a NOTICE of C{text} to C{target} goes as it is, in clear: a
        CTCP reply (an IRC client's automatic answer, e.g. to VERSION) to a
        peer whose direct messages go over sessions, not the user's text.
        A session carries no NOTICE, and its requests are never passed to
        an IRC client, so such a reply answers a request that came in
        clear.  A peer with a secret typed (or a room) keeps refusing it.
        """
        return ctcp.parse(text) is not None and self.describe(target) is not None

    def holdsSession(self, name: str) -> bool:
        """Whether lines from C{name} are a session's: a plain one is then refused, as in a keyed conversation."""
        return self.enabled and self._pairwise.hasSession(name) and self._usesSessions(name)

    def _usesSessions(self, target: str) -> bool:
        """Whether messages to C{target} go over a session: a peer with no secret, not chosen plain."""
        if self._server.isRoom(target) or self._server.isMe(target):
            return False
        if self._keyring.keysFor(target) is not None or self._keyring.keyedName(target) is not None:
            return False
        return self._keyring.chosenLayer(target) != PLAIN

    def route(self, target: str, force: bool) -> Optional[str]:
        """
        How a message to C{target} goes: C{"session"} (sealed by our session
        with the peer), C{"hold"} (no session yet: held while one starts), or
        L{None}: not over a session (a room, a keyed peer, plain chosen, or
        C{force}, the user's explicit choice of clear while no session exists).
        """
        if not self.enabled or not self._usesSessions(target):
            return None
        if self._pairwise.hasSession(target):
            return "session"
        return None if force else "hold"

    def send(self, target: str, body: str) -> Union[ev.Sent, ev.Queued]:
        """Seal C{body} to C{target} over its session, or hold it for one (starting it); say which."""
        self._server.checkSealingNick()
        starting = self._pairwise.starting(target)
        lines = self._pairwise.sendRecord(target, TEXT, body.encode("utf-8"))
        if lines:
            event: Union[ev.Sent, ev.Queued] = ev.Sent(target, body, SESSION_LAYER, lines)
        else:
            event = ev.Queued(target, body, (WAITING_NOTE if starting else HELD_NOTE) % (target,), session=True)
            self._heldChanged(target, +1)  # kept (without its text) before the user is told
        self.emit(event)
        return event

    # Messages held while a session starts live in memory only: who they
    # were for is kept, so that a restart says they were never sent.

    def onHeldChanged(self, callback: Callable[[Dict[str, int]], None]) -> None:
        """Call C{callback(counts)} (peer -> messages held for it) each time what is held changes."""
        self._onHeld.append(callback)

    def heldCounts(self) -> Dict[str, int]:
        """The messages held for a session now, by peer (as the user typed the nick)."""
        return {nick: count for nick, count in self._held.values()}

    def _heldChanged(self, nick: str, change: Optional[int]) -> None:
        """C{change} more held for C{nick}; L{None}: none held any more (sent, or said not sent)."""
        folded = self._server.codecFold(nick)
        entry = self._held.get(folded)
        if change is None:
            if entry is None:
                return
            del self._held[folded]
        elif entry is None:
            self._held[folded] = [nick, change]
        else:
            entry[1] += change
        counts = self.heldCounts()
        for callback in self._onHeld:
            callback(counts)

    def _ready(self, nick: str, identityKey: bytes, sessionId: bytes) -> None:
        # What was held is sealed now (a failure is said by _unanswered).
        self._heldChanged(nick, None)

    def _text(self, nick: str, identityKey: bytes, body: bytes) -> None:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise Malformed("a direct message that is not UTF-8") from None
        pin = self._server.trust.pinned(self._server.codecFold(nick))
        # An action (/me) or another CTCP travels inside the record: shown as such, never answered.
        self.emit(ctcp.incoming(
            ev.IncomingMessage(
                nick,
                nick,
                text,
                SESSION_LAYER,
                SESSION_PROTECTION,
                True,
                signer=identity_fingerprint(identityKey),
                trust=None if pin is None else pin.status,
            )
        ))

    def _unanswered(self, nick: str, body: bytes, reason: str) -> None:
        self._heldChanged(nick, None)
        self.emit(ev.SessionUnanswered(nick, body.decode("utf-8", "replace"), reason))


def unansweredNote(event: ev.SessionUnanswered, spell: Spell, insistOnce: bool = True) -> str:
    """
    A message held for a session the peer never answered: not sent, and the
    explicit way to send it in clear, spelt in the face's syntax
    (C{insistOnce}: the face can send one line in clear; else the advice is
    to choose plain for the peer).
    """
    head = "NOT SENT: %s -- %s" % (typed(event.body), event.reason)
    if insistOnce:
        # The one line last: a face (and a user) can type it back as it is.
        return "%s. To talk to %s in clear from now on (saved): %s. %s: %s" % (
            head, event.target, spell("layer!", [event.target, PLAIN]),
            "To send it in clear anyway (the relay reads it)", spell("msg!", [event.target, event.body]))
    return "%s. To talk to %s in clear (the relay reads it): %s, then send it again" % (
        head, event.target, spell("layer!", [event.target, PLAIN]))


__all__ = ["DirectSessions", "HELD_NOTE", "unansweredNote"]
