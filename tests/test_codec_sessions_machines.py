"""
Hypothesis state machines over the sessions core: any interleaving of send,
receive, reorder within the window, duplicate, loss, restart (state through
JSON and back), join and leave (new chains); and an attacker who records
every wire byte and, at a chosen moment, takes all of one member's state.

What the attacker must not read:
- forward secrecy: a message sealed before the theft that the robbed member
  had already sent or received (its key is erased);
- after leave: anything sealed after the member left, whether its state was
  stolen before or after it left.
What it can read (checked too, so the model is not vacuous): messages still
in flight to the robbed member, whose keys that member still holds.
On the forward layer (L{ForwardMachine}), line by line: what a member shows
was sent by the one it is shown from, once, even when another member forges
on that sender's chain.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from typing import Any, Dict, List, Optional, Set, Tuple

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test
from twisted.trial.unittest import SynchronousTestCase

from securechat.codec import Accepted, Identity
from securechat.codec.errors import CodecError, Replayed
from securechat.codec.forward import KIND_SIGNATURE, KIND_SIGNED_MESSAGE, ForwardRoom, batch_signed_bytes
from securechat.codec.layers import b64decode, b64encode
from securechat.codec.sessions import InboundChain, Initiator, Ratchet, Responder, RoomChains, admit_proof
from securechat.codec.sessions.primitives import KEY_BYTES, field, seal, sender_chain_step
from securechat.codec.sessions.senderchain import MAX_CHAINS_PER_SENDER, ChainStart, chain_id_of

#: In flight at most (well inside the windows of skipped keys).
MAX_IN_FLIGHT = 12
ROOM = "#r"
ROOM_KEY = os.urandom(32)
NICKS = ("ann", "ben", "cat", "dan")
IDENTITIES = {nick: Identity.generate() for nick in NICKS}


def _json(state: Dict[str, Any]) -> Dict[str, Any]:
    return json.loads(json.dumps(state))  # type: ignore[no-any-return]


def _ratchet_opens(state: Dict[str, Any], message: bytes) -> Optional[bytes]:
    """What an attacker holding C{state} gets from C{message} (a fresh copy each time)."""
    try:
        return Ratchet.from_dict(state).decrypt(message)
    except CodecError:
        return None


class PairMachine(RuleBasedStateMachine):
    """Two members on one double ratchet, and an attacker."""

    def __init__(self) -> None:
        super().__init__()
        a, b = Identity.generate(), Identity.generate()
        initiator, responder = Initiator(a, "ann", "ben"), Responder(b, "ben", "ann")
        keys_r = responder.finish(initiator.finish(responder.reply(initiator.init(), None), b.public_key))
        assert initiator.keys is not None
        self.sides = [Ratchet.from_session(initiator.keys), Ratchet.from_session(keys_r)]
        self.counter = 0
        #: (receiver, message, plaintext) not yet delivered.
        self.in_flight: List[Tuple[int, bytes, bytes]] = []
        self.delivered: List[Tuple[int, bytes]] = []
        #: Every message ever sealed, with its sender: the relay's recording.
        self.recording: List[Tuple[int, bytes, bytes]] = []
        #: Messages each side sent or received so far: their keys are gone.
        self.done: Set[Tuple[int, bytes]] = set()
        self.thefts = 0

    @precondition(lambda self: len(self.in_flight) < MAX_IN_FLIGHT)
    @rule(sender=st.integers(0, 1))
    def send(self, sender: int) -> None:
        self.counter += 1
        plaintext = b"message %d" % self.counter
        message = self.sides[sender].encrypt(plaintext)
        self.in_flight.append((1 - sender, message, plaintext))
        self.recording.append((sender, message, plaintext))
        self.done.add((sender, message))

    @precondition(lambda self: self.in_flight)
    @rule(data=st.data())
    def receive(self, data: st.DataObject) -> None:
        """Any message in flight, not only the oldest: reordering within the window."""
        index = data.draw(st.integers(0, len(self.in_flight) - 1))
        receiver, message, plaintext = self.in_flight.pop(index)
        assert self.sides[receiver].decrypt(message) == plaintext
        try:  # at once again: its key is gone
            self.sides[receiver].decrypt(message)
        except Replayed:
            pass
        else:
            raise AssertionError("a message opened twice")
        self.delivered.append((receiver, message))
        self.done.add((receiver, message))

    @precondition(lambda self: self.delivered)
    @rule(data=st.data())
    def duplicate(self, data: st.DataObject) -> None:
        receiver, message = data.draw(st.sampled_from(self.delivered))
        before = json.dumps(self.sides[receiver].to_dict(), sort_keys=True)
        try:
            self.sides[receiver].decrypt(message)
        except Replayed:
            pass
        else:
            raise AssertionError("a duplicate was accepted")
        assert json.dumps(self.sides[receiver].to_dict(), sort_keys=True) == before

    @precondition(lambda self: self.in_flight)
    @rule(data=st.data())
    def lose(self, data: st.DataObject) -> None:
        """A message lost on the way: its key waits in the window, nothing else breaks."""
        self.in_flight.pop(data.draw(st.integers(0, len(self.in_flight) - 1)))

    @rule(side=st.integers(0, 1))
    def restart(self, side: int) -> None:
        self.sides[side] = Ratchet.from_dict(_json(self.sides[side].to_dict()))

    @rule(side=st.integers(0, 1))
    def steal(self, side: int) -> None:
        """All of one side's state, now: what it already sent or read stays closed."""
        self.thefts += 1
        state = _json(self.sides[side].to_dict())
        for _, message, _ in self.recording:
            if (side, message) in self.done:
                assert _ratchet_opens(state, message) is None, "forward secrecy broken"
        for receiver, message, plaintext in self.in_flight:
            if receiver == side:
                assert _ratchet_opens(state, message) == plaintext, "the attacker model is too weak"

    @invariant()
    def bounded(self) -> None:
        for side in self.sides:
            assert side.skipped_keys <= side.max_stored


class RoomMachine(RuleBasedStateMachine):
    """Members of one room on sender chains: join, leave, send, receive, restart, theft."""

    def __init__(self) -> None:
        super().__init__()
        self.chains: Dict[str, RoomChains] = {}
        self.counter = 0
        #: (sender, receiver, message, plaintext) not yet delivered.
        self.in_flight: List[Tuple[str, str, bytes, bytes]] = []
        self.delivered: List[Tuple[str, str, bytes]] = []
        #: Every message ever sealed: (sender, message, plaintext).
        self.recording: List[Tuple[str, bytes, bytes]] = []
        self.done: Set[Tuple[str, bytes]] = set()
        #: The states of members who left, kept by the attacker (after-leave).
        self.departed: List[Tuple[str, Dict[str, Any]]] = []
        #: States stolen from members still present.
        self.stolen: List[Tuple[str, Dict[str, Any]]] = []
        #: The model's view: the chain ids each receiver holds of each sender, newest last.
        self.held: Dict[Tuple[str, str], List[bytes]] = {}

    def _admit(self, admitter: str, joiner: str) -> bytes:
        """C{joiner} proves the room secret over a fresh pairwise session; C{admitter} hands its chain."""
        session_id = os.urandom(32)
        identity = IDENTITIES[joiner].public_key
        record = self.chains[admitter].admit(
            joiner, identity, identity, ROOM_KEY, session_id, admit_proof(ROOM_KEY, ROOM, joiner, session_id)
        )
        return record

    def _hand(self, sender: str, receiver: str, record: bytes) -> None:
        self.chains[receiver].receive_start(sender, record)
        held = self.held.setdefault((receiver, sender), [])
        chain_id = ChainStart.verify(record, ROOM, sender, IDENTITIES[sender].public_key).chain_id
        if chain_id not in held:
            held.append(chain_id)
            del held[:-MAX_CHAINS_PER_SENDER]

    @precondition(lambda self: len(self.chains) < len(NICKS))
    @rule(data=st.data())
    def join(self, data: st.DataObject) -> None:
        nick = data.draw(st.sampled_from([n for n in NICKS if n not in self.chains]))
        self.chains[nick] = RoomChains(ROOM, nick, IDENTITIES[nick])
        for member in list(self.chains):
            if member != nick:
                to_joiner, to_member = self._admit(member, nick), self._admit(nick, member)
                self._hand(member, nick, to_joiner)
                self._hand(nick, member, to_member)

    @precondition(lambda self: self.chains)
    @rule(data=st.data())
    def leave(self, data: st.DataObject) -> None:
        """A member leaves: everyone who stays starts a new chain and hands it to the others who stay."""
        nick = data.draw(st.sampled_from(sorted(self.chains)))
        self.departed.append((nick, _json(self.chains.pop(nick).to_dict())))
        self.departed += [entry for entry in self.stolen if entry[0] == nick]
        self.stolen = [entry for entry in self.stolen if entry[0] != nick]
        self.in_flight = [entry for entry in self.in_flight if nick not in entry[:2]]
        for key in [key for key in self.held if nick in key]:
            del self.held[key]
        for member, chains in self.chains.items():
            for receiver, record in chains.leave(nick).items():
                self._hand(member, receiver, record)

    @precondition(lambda self: self.chains and len(self.in_flight) < MAX_IN_FLIGHT)
    @rule(data=st.data())
    def send(self, data: st.DataObject) -> None:
        sender = data.draw(st.sampled_from(sorted(self.chains)))
        self.counter += 1
        plaintext = b"room message %d" % self.counter
        message = self.chains[sender].seal(plaintext)
        self.recording.append((sender, message, plaintext))
        self.done.add((sender, message))
        for receiver in self.chains:
            if receiver != sender:
                self.in_flight.append((sender, receiver, message, plaintext))
        for nick, state in self.departed:
            assert _room_opens(nick, state, sender, message) is None, "a departed member read the room"

    @precondition(lambda self: self.in_flight)
    @rule(data=st.data())
    def receive(self, data: st.DataObject) -> None:
        self._receive(data.draw(st.integers(0, len(self.in_flight) - 1)))

    def _receive(self, index: int) -> None:
        sender, receiver, message, plaintext = self.in_flight.pop(index)
        if chain_id_of(message) in self.held.get((receiver, sender), []):
            assert self.chains[receiver].open(sender, message) == plaintext
            try:  # at once again: its key is gone
                self.chains[receiver].open(sender, message)
            except Replayed:
                pass
            else:
                raise AssertionError("a message opened twice")
            self.delivered.append((sender, receiver, message))
            self.done.add((receiver, message))
        else:  # its chain was replaced more than MAX_CHAINS_PER_SENDER times while in flight
            try:
                self.chains[receiver].open(sender, message)
            except CodecError:
                pass
            else:
                raise AssertionError("a message of a chain no longer held was opened")

    @precondition(lambda self: self.in_flight)
    @rule()
    def receive_newest(self) -> None:
        """The newest message first: the others behind it are now out of order."""
        self.in_flight.insert(0, self.in_flight.pop())
        self._receive(0)

    @precondition(lambda self: self.delivered)
    @rule(data=st.data())
    def duplicate(self, data: st.DataObject) -> None:
        sender, receiver, message = data.draw(st.sampled_from(self.delivered))
        if receiver not in self.chains:
            return
        try:
            self.chains[receiver].open(sender, message)
        except CodecError:
            pass
        else:
            raise AssertionError("a duplicate was accepted")

    @precondition(lambda self: self.in_flight)
    @rule(data=st.data())
    def lose(self, data: st.DataObject) -> None:
        self.in_flight.pop(data.draw(st.integers(0, len(self.in_flight) - 1)))

    @precondition(lambda self: self.chains)
    @rule(data=st.data())
    def restart(self, data: st.DataObject) -> None:
        nick = data.draw(st.sampled_from(sorted(self.chains)))
        self.chains[nick] = RoomChains.from_dict(_json(self.chains[nick].to_dict()), IDENTITIES[nick])

    @precondition(lambda self: self.chains)
    @rule(data=st.data())
    def steal(self, data: st.DataObject) -> None:
        """All of one member's state, now (its identity key too): the past it saw stays closed."""
        nick = data.draw(st.sampled_from(sorted(self.chains)))
        state = _json(self.chains[nick].to_dict())
        for sender, message, _ in self.recording:
            if (nick, message) in self.done:
                assert _room_opens(nick, state, sender, message) is None, "forward secrecy broken"
        for sender, receiver, message, plaintext in self.in_flight:
            if receiver == nick and chain_id_of(message) in self.held.get((receiver, sender), []):
                assert _room_opens(nick, state, sender, message) == plaintext, "the attacker model is too weak"
        self.stolen.append((nick, state))  # if it leaves later, what is said next is after-leave too


def _room_opens(nick: str, state: Dict[str, Any], sender: str, message: bytes) -> Optional[bytes]:
    """
    What an attacker holding all of C{nick}'s room state gets from
    C{message}: every inbound chain it holds, and its own outbound chain
    turned into a receiving one (a fresh copy each try).
    """
    chains = RoomChains.from_dict(state, IDENTITIES[nick])
    candidates: List[InboundChain] = [chain for held in chains.inbound.values() for chain in held]
    outbound = chains.outbound
    candidates.append(
        InboundChain(
            ChainStart(
                ROOM, nick, IDENTITIES[nick].public_key, outbound.chain_id, outbound.index,
                field(outbound.to_dict(), "chain_key", KEY_BYTES),
                outbound.flags,
            )
        )
    )  # fmt: skip
    for chain in candidates:
        if chain.chain_id == chain_id_of(message):
            try:
                return chain.open(message)
            except CodecError:
                return None
    return None


def _message_of(line: str) -> Optional[bytes]:
    """The sender-chain message a one-line forward token carries (L{None} for a signature alone)."""
    token = b64decode(line.split(" ", 4)[4])
    if token[0] == KIND_SIGNATURE:
        return None
    return token[1 : len(token) - 68] if token[0] == KIND_SIGNED_MESSAGE else token[1:]


class ForwardMachine(RuleBasedStateMachine):
    """
    Members of one room on the forward layer, line by line: send (batches
    that end when the queue drains or not), receive in any order within the
    window, duplicate, lose, hold time passing, restart, join, leave; a
    member forging on another's chain; an attacker who records every line
    and takes all of one member's state.  Whatever is shown was sent, by the
    one it is shown from, once.
    """

    def __init__(self) -> None:
        super().__init__()
        self.clock = [1_800_000_000.0]
        self.members: Dict[str, ForwardRoom] = {}
        #: (sender, receiver, line) not yet delivered.
        self.in_flight: List[Tuple[str, str, str]] = []
        self.delivered: List[Tuple[str, str, str]] = []
        #: Every line the relay saw: (sender, line), and what each genuine message said.
        self.recording: List[Tuple[str, str]] = []
        self.sent: Dict[str, Set[str]] = {nick: set() for nick in NICKS}
        self.shown: Dict[Tuple[str, str], List[str]] = {}
        self.departed: List[Tuple[str, Dict[str, Any]]] = []
        self.read: Dict[str, Set[bytes]] = {nick: set() for nick in NICKS}
        self.counter = 0

    def _room(self, nick: str, chains: RoomChains) -> ForwardRoom:
        return ForwardRoom(chains, IDENTITIES[nick], lambda: self.clock[0], max_batch=4, hold_seconds=30.0)

    def _hand(self, sender: str, receiver: str, record: bytes) -> None:
        self.members[receiver].chains.receive_start(sender, record)

    def _admit(self, admitter: str, joiner: str) -> bytes:
        session_id = os.urandom(32)
        identity = IDENTITIES[joiner].public_key
        return self.members[admitter].chains.admit(
            joiner, identity, identity, ROOM_KEY, session_id, admit_proof(ROOM_KEY, ROOM, joiner, session_id)
        )

    def _broadcast(self, sender: str, lines: List[str]) -> None:
        for line in lines:
            self.recording.append((sender, line))
            for receiver in self.members:
                if receiver != sender:
                    self.in_flight.append((sender, receiver, line))
            message = _message_of(line)
            for nick, state in self.departed:
                if message is not None:
                    assert _room_opens(nick, state, sender, message) is None, "a departed member read the room"

    def _take(self, receiver: str, results: List[Any]) -> None:
        for result in results:
            if isinstance(result, Accepted):
                assert result.body in self.sent[result.sender], "shown, but its sender never sent it"
                shown = self.shown.setdefault((receiver, result.sender), [])
                assert result.body not in shown, "shown twice"
                shown.append(result.body)

    @precondition(lambda self: len(self.members) < len(NICKS))
    @rule(data=st.data())
    def join(self, data: st.DataObject) -> None:
        nick = data.draw(st.sampled_from([n for n in NICKS if n not in self.members]))
        self.members[nick] = self._room(nick, RoomChains(ROOM, nick, IDENTITIES[nick]))
        for member in list(self.members):
            if member != nick:
                to_joiner, to_member = self._admit(member, nick), self._admit(nick, member)
                self._hand(member, nick, to_joiner)
                self._hand(nick, member, to_member)

    @precondition(lambda self: self.members)
    @rule(data=st.data())
    def leave(self, data: st.DataObject) -> None:
        nick = data.draw(st.sampled_from(sorted(self.members)))
        self.departed.append((nick, _json(self.members.pop(nick).chains.to_dict())))
        self.in_flight = [entry for entry in self.in_flight if entry[1] != nick]
        for member, room in self.members.items():
            self._broadcast(member, room.flush(400))
            for receiver, record in room.chains.leave(nick).items():
                self._hand(member, receiver, record)

    @precondition(lambda self: self.members and len(self.in_flight) < 3 * MAX_IN_FLIGHT)
    @rule(data=st.data(), last=st.booleans())
    def send(self, data: st.DataObject, last: bool) -> None:
        sender = data.draw(st.sampled_from(sorted(self.members)))
        self.counter += 1
        body = "forward message %d" % self.counter
        self.sent[sender].add(body)
        self._broadcast(sender, self.members[sender].encode(body, 400, last))

    @precondition(lambda self: len(self.members) > 1)
    @rule(data=st.data())
    def forge(self, data: st.DataObject) -> None:
        """A member seals a message on another's chain (whose keys it holds) and signs what it can."""
        thief, victim = data.draw(st.permutations(sorted(self.members)))[:2]
        chains = self.members[thief].chains.inbound.get(victim)
        if not chains:
            return
        state = chains[-1].to_dict()
        key = field(state, "chain_key", KEY_BYTES)
        chain_id = field(state, "chain_id", 16)
        message_key, _ = sender_chain_step(key)
        header = struct.pack(">B16sI", 1, chain_id, state["next"])
        message = header + seal(message_key, struct.pack(">Q", int(self.clock[0])) + b"forged", header)
        digest = hashlib.sha256(message).digest()
        signature = IDENTITIES[thief].sign(batch_signed_bytes(chain_id, state["next"], state["next"], [digest]))
        token = b"\x01" + message + struct.pack(">I", state["next"]) + signature
        line = "+sc2 forward %s 1/1 %s" % (b64encode(digest[:16]), b64encode(token))
        for receiver in self.members:
            if receiver not in (thief, victim):
                self.in_flight.append((victim, receiver, line))

    @precondition(lambda self: self.in_flight)
    @rule(data=st.data())
    def receive(self, data: st.DataObject) -> None:
        sender, receiver, line = self.in_flight.pop(data.draw(st.integers(0, len(self.in_flight) - 1)))
        self._take(receiver, self.members[receiver].receive(sender, line))
        self.delivered.append((sender, receiver, line))

    @precondition(lambda self: self.delivered)
    @rule(data=st.data())
    def duplicate(self, data: st.DataObject) -> None:
        sender, receiver, line = data.draw(st.sampled_from(self.delivered))
        if receiver in self.members:
            self._take(receiver, self.members[receiver].receive(sender, line))

    @precondition(lambda self: self.in_flight)
    @rule(data=st.data())
    def lose(self, data: st.DataObject) -> None:
        self.in_flight.pop(data.draw(st.integers(0, len(self.in_flight) - 1)))

    @rule(seconds=st.sampled_from([1.0, 31.0]))
    def wait(self, seconds: float) -> None:
        self.clock[0] += seconds
        for nick, room in self.members.items():
            self._take(nick, room.expire())

    @precondition(lambda self: self.members)
    @rule(data=st.data())
    def restart(self, data: st.DataObject) -> None:
        """Chains through JSON; held messages and an open batch are lost with the process."""
        nick = data.draw(st.sampled_from(sorted(self.members)))
        chains = RoomChains.from_dict(_json(self.members[nick].chains.to_dict()), IDENTITIES[nick])
        self.members[nick] = self._room(nick, chains)

    @precondition(lambda self: self.members)
    @rule(data=st.data())
    def steal(self, data: st.DataObject) -> None:
        """All of one member's state: no recorded line it already opened or sent opens for the thief."""
        nick = data.draw(st.sampled_from(sorted(self.members)))
        state = _json(self.members[nick].chains.to_dict())
        opened = {line for sender, receiver, line in self.delivered if receiver == nick}
        for sender, line in self.recording:
            message = _message_of(line)
            if message is not None and (sender == nick or line in opened):
                assert _room_opens(nick, state, sender, message) is None, "forward secrecy broken"

    @invariant()
    def bounded(self) -> None:
        for room in self.members.values():
            assert room.held <= room.max_held


class MachineTests(SynchronousTestCase):
    def test_pair(self) -> None:
        """The double ratchet through any interleaving, with thefts."""
        run_state_machine_as_test(PairMachine)

    def test_room(self) -> None:
        """Sender chains through any interleaving of joins, leaves, sends and thefts."""
        run_state_machine_as_test(RoomMachine)

    def test_forward(self) -> None:
        """The forward layer's lines through any interleaving, with forgeries by members and thefts."""
        run_state_machine_as_test(ForwardMachine)
