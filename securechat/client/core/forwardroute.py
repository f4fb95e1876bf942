"""
The client's side of the forward layer: the part between the session's
judge, send queue and membership events and L{ForwardRooms}.

  - C{/layer #room forward} (a keyed room we are in) puts the room on its
    members' sender chains; a member's valid proof for a keyed room of ours
    puts it there too (the prover is on it: we follow, as members follow a
    raised layer).  Leaving it is lowering: C{force}, like any lowering.
  - Lines in a forward room are judged by the room's chains, never by the
    room's codec conversation; what is sent there is sealed on our chain
    when it leaves the paced queue, and our batch ends when nothing else
    waits behind it (docs/wire.md, "The forward layer").
  - JOIN, PART, KICK, QUIT and NICK reach the room manager after the rooms
    part; C{/remove nick} is a leave said by a member: sealed on the layer,
    so every member who reads it starts new chains too.
"""

from __future__ import annotations

from typing import Any, Callable, List, Optional, Union

from ...codec import LAYERS, Accepted
from ...codec.layers import FORWARD, SIGNED
from ...wire import Message
from . import events as ev
from .conversations import Conversations, DirectRoute
from .directsessions import DirectSessions
from .forwardrooms import ForwardRooms
from .forwardviews import ForwardViews
from .keyed import Keyring
from .pairwise import Pairwise
from .rooms import Rooms
from .rules import CommandError, Server

#: The layers a user may choose for a room: the codec's, and the forward layer.
CHOOSABLE_LAYERS = LAYERS + (FORWARD,)
#: The body of a removal, sealed on the room's forward layer: C{CTCP SC-REMOVE nick}.
REMOVE_TAG = "\x01SC-REMOVE "


class ForwardRoute:
    """Rooms on the forward layer, seen from the session (see the module's docstring)."""

    def __init__(
        self,
        server: Server,
        keyring: Keyring,
        rooms: Rooms,
        conversations: Callable[[], Conversations],
        pairwise: Pairwise,
        direct: DirectSessions,
        emit: Callable[[ev.Event], None],
        clock: Callable[[], float],
    ) -> None:
        self._server = server
        self._keyring = keyring
        self._rooms = rooms
        self._conversations = conversations
        self._direct: DirectRoute = direct
        self._directJudge = direct.judge
        self.emit = emit
        self.part = ForwardRooms(
            pairwise,
            lambda: server.identity,
            lambda: server.nick,
            self._roomKey,
            clock,
            self._sendLines,
            lambda target: conversations().maxPayload(target),
            lambda room, text: emit(ev.Notice(text)),
        )
        self.part.onProofForRoom = self._followProof
        #: Views that agree, carried inside what each batch signature covers.
        self.views = ForwardViews(lambda: server.nick, self.part.chains, clock)
        self.part.onChainTaken = self.views.chainTaken

    # Choosing the layer.

    def enable(self, room: str) -> ev.LayerSet:
        """Put C{room} (keyed, joined) on the forward layer."""
        if not self._server.isRoom(room):
            raise CommandError("the forward layer is for rooms; direct messages use pairwise sessions")
        if not self._rooms.joined(room):
            raise CommandError("you are not in %s: /join it first" % (room,))
        if self._roomKey(room) is None:
            raise CommandError(
                "%s has no key yet: set its passphrase or secret (/key), which admits members, then /layer forward"
                % (room,)
            )
        state = self._rooms.rooms.get(self._rooms.fold(room))
        members = [] if state is None else list(state.members.values())
        self.part.enable(room, members)
        event = ev.LayerSet(room, FORWARD)
        self.emit(event)
        return event

    def disable(self, room: str, force: bool) -> None:
        """Leave the forward layer for C{room}: a lowering, so only with C{force}."""
        if not force:
            raise CommandError(
                "%s is on the forward layer: leaving it lowers its protection; insist (force) to do so" % (room,)
            )
        self.part.disable(room)

    def isForward(self, room: str) -> bool:
        return self.part.isForward(room)

    def _followProof(self, room: str) -> bool:
        """A member proved the room secret for C{room} on the forward layer: follow if it is ours and keyed."""
        if self.part.isForward(room) or not self._rooms.joined(room) or self._roomKey(room) is None:
            return self.part.isForward(room)
        self.enable(room)
        return True

    def _roomKey(self, room: str) -> Optional[bytes]:
        keys = self._keyring.keysFor(room)
        return None if keys is None else keys.for_layer(SIGNED)

    # Receiving.

    def judge(self, message: Message, name: str, direct: bool) -> Optional[List[ev.Event]]:
        """The verdict on a line in a forward room (or the direct part's); L{None}: not ours."""
        if direct or not self.part.isForward(name):
            return self._directJudge(message, name, direct)
        sender = message.sourceNick or ""
        results = self.views.received(name, self.part.receive(name, sender, message.params[1]))
        removals = [r for r in results if isinstance(r, Accepted) and r.body.startswith(REMOVE_TAG)]
        for result in removals:
            nick = result.body[len(REMOVE_TAG) :].rstrip("\x01").strip()
            if nick:
                self.emit(ev.Notice("%s removed %s from %s's chains: new chains for those who stay" % (
                    sender, nick, name)))  # fmt: skip
                self.part.left(name, nick)
        kept = [self._trusted(r) for r in results if not (isinstance(r, Accepted) and r.body.startswith(REMOVE_TAG))]
        return self._conversations()._verdicts(name, False, kept)

    def _trusted(self, result: Any) -> Any:
        """An accepted message with its sender's trust status (pinned on first use, or verified)."""
        if not isinstance(result, Accepted):
            return result
        pin = self._server.trust.pinned(self._server.codecFold(result.sender))
        return result if pin is None else result._replace(trust=pin.status)

    def expire(self) -> None:
        for result in self.part.expire():
            for event in self._conversations()._verdicts(result.target, False, [result]):
                self.emit(event)

    # Sending (the conversations part's direct route, extended to forward rooms).

    def route(self, target: str, force: bool) -> Optional[str]:
        if self._server.isRoom(target) and self.part.isForward(target):
            return FORWARD
        return self._direct.route(target, force)

    def holdsSession(self, name: str) -> bool:
        return self._direct.holdsSession(name)

    def hintCarrier(self, clear: Callable[[str, str], None]) -> Callable[[str, str], None]:
        """Hints go as the direct part carries them (over a pairwise session where one exists)."""
        return self._direct.hintCarrier(clear)

    def onHint(self, received: Callable[[str, str], None]) -> None:
        self._direct.onHint(received)

    def describe(self, name: str) -> Optional[str]:
        """A forward room's protection is its layer; the direct part describes peers."""
        if self._server.isRoom(name) and self.part.isForward(name):
            return FORWARD
        return self._direct.describe(name)

    def send(self, target: str, body: str) -> Union[ev.Sent, ev.Queued]:
        if not (self._server.isRoom(target) and self.part.isForward(target)):
            return self._direct.send(target, body)
        self._server.checkSealingNick()
        try:
            # Sealed as it leaves the paced queue: the batch ends when nothing waits behind it.
            last = self._conversations().waiting == 0
            maxPayload = self._conversations().maxPayload(target)
            lines = self.views.seal(target, body, maxPayload, lambda text: self.part.encode(target, text, last))
        except ValueError as exc:
            raise CommandError("not sent: %s" % (exc,)) from None
        self._sendLines(target, lines)
        event = ev.Sent(target, body, FORWARD, len(lines))
        self.emit(event)
        return event

    def _sendLines(self, room: str, lines: List[str]) -> None:
        for line in lines:
            self._server.write("PRIVMSG", room, line)

    def remove(self, room: str, nick: str) -> None:
        """C{/remove nick}: said to the room on the layer (members follow), and our chain renewed."""
        if not self.part.isForward(room):
            raise CommandError("%s is not on the forward layer: /remove renews its chains" % (room,))
        self.send(room, "%s%s\x01" % (REMOVE_TAG, nick))
        self.part.left(room, nick)
        self.emit(ev.Notice("%s removed from %s's chains: new chains for those who stay" % (nick, room)))

    # Membership (after the rooms part has followed it).

    def follow(self, message: Message) -> None:
        """JOIN, PART, KICK, QUIT or NICK, as the server said it."""
        command, nick, params = message.command, message.sourceNick or "", message.params
        if command == "JOIN" and params:
            for room in params[0].split(","):
                self.part.joined(room, nick)
                if not self._server.isMe(nick):
                    self.views.memberJoined(room, nick)
        elif command == "PART" and params:
            for room in params[0].split(","):
                self._gone(room, nick)
        elif command == "KICK" and len(params) > 1:
            for room in params[0].split(","):
                for kicked in params[1].split(","):
                    self._gone(room, kicked)
        elif command == "QUIT":
            for room in self.part.rooms():
                self.part.left(room, nick)
        elif command == "NICK" and params and not self._server.isMe(params[0]):
            self.part.renamed(nick, params[0])
        elif command == "NICK" and params:
            self.part.renamedSelf()

    def namesEnded(self, room: str) -> None:
        """
        The server listed C{room}'s members: any we had not seen join are
        candidates now; after our own JOIN, those it no longer lists left
        while we were away (L{ForwardRooms.listed}).
        """
        if not self.part.isForward(room):
            return
        state = self._rooms.rooms.get(self._rooms.fold(room))
        if state is not None:
            self.part.listed(room, list(state.members.values()))

    def _gone(self, room: str, nick: str) -> None:
        if self._server.isMe(nick):
            self.part.disable(room)
        else:
            self.part.left(room, nick)
