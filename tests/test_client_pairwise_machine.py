"""
A hypothesis state machine over two client sessions talking over pairwise
sessions through a relay that delivers, reorders, drops and duplicates any
line, while either client crashes and restarts from its saved state, and
time passes (handshakes that time out).  Whatever happens: nothing crosses
the relay in clear, every message shown was sent by the peer, and none is
shown twice (a restart reopens no replay window).
"""

from __future__ import annotations

import hashlib
import json
from typing import Dict, List, Set, Tuple

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test
from twisted.trial.unittest import SynchronousTestCase

from securechat.client.core import events as ev
from securechat.client.core.pairwise import HANDSHAKE_TIMEOUT
from securechat.client.core.rules import CommandError
from securechat.client.core.session import ClientSession
from securechat.codec import Identity
from securechat.codec.sessions.framing import SESSION_MARKER

from .pairwise_support import Pair

PEER = {"alice": "bob", "bob": "alice"}
MAX_IN_FLIGHT = 24
#: Fixed identities: which side wins when both start a session depends on them,
#: and hypothesis needs each run of a case to take the same path.
IDENTITIES = {nick: Identity.from_private_bytes(hashlib.sha256(nick.encode()).digest()) for nick in PEER}


class DirectMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.net = Pair()
        self.log: Dict[str, List[ev.Event]] = {"alice": [], "bob": []}
        self.saved: Dict[str, str] = {}
        self.sent: Dict[str, Set[str]] = {"alice": set(), "bob": set()}
        self.inFlight: List[Tuple[str, str, str]] = []
        self.delivered: List[Tuple[str, str, str]] = []
        self.count = 0
        for nick in PEER:
            self._start(nick)

    def _start(self, nick: str, old: ClientSession | None = None) -> None:
        session = ClientSession(
            nick, self.log[nick].append, clock=self.net.clock,
            identity=IDENTITIES[nick], trust=None if old is None else old.trust,
        )
        if nick in self.saved:
            session.pairwise.load(json.loads(self.saved[nick]))

        def save() -> bool:
            self.saved[nick] = json.dumps(session.pairwise.toDict())
            return True

        session.pairwise.saveNow = save
        self.net.add(nick, session)

    def _collect(self) -> None:
        for nick in PEER:
            for message in self.net.take(nick):
                if message.command == "PRIVMSG":
                    self.inFlight.append((nick, message.params[0], message.params[1]))

    @precondition(lambda self: len(self.inFlight) < MAX_IN_FLIGHT)
    @rule(who=st.sampled_from(sorted(PEER)))
    def send(self, who: str) -> None:
        self.count += 1
        body = "%s says %d" % (who, self.count)
        try:
            self.net.clients[who].sendMessage(PEER[who], body)
        except CommandError:
            return
        self.sent[who].add(body)
        self._collect()

    @precondition(lambda self: self.inFlight)
    @rule(data=st.data())
    def deliver(self, data: st.DataObject) -> None:
        """Any line in flight, not only the oldest: reordering."""
        index = data.draw(st.integers(0, len(self.inFlight) - 1))
        line = self.inFlight.pop(index)
        self.delivered.append(line)
        self.net.deliver(*line)
        self._collect()

    @precondition(lambda self: self.inFlight)
    @rule()
    def deliverAll(self) -> None:
        """The relay behaves for a while: everything in flight, in order, and what it causes."""
        for _ in range(8):
            while self.inFlight:
                line = self.inFlight.pop(0)
                self.delivered.append(line)
                self.net.deliver(*line)
                self._collect()

    @precondition(lambda self: self.inFlight)
    @rule(data=st.data())
    def drop(self, data: st.DataObject) -> None:
        self.inFlight.pop(data.draw(st.integers(0, len(self.inFlight) - 1)))

    @precondition(lambda self: self.delivered)
    @rule(data=st.data())
    def replay(self, data: st.DataObject) -> None:
        """A line delivered before, delivered again (perhaps after a restart)."""
        self.net.deliver(*data.draw(st.sampled_from(self.delivered)))
        self._collect()

    @rule(who=st.sampled_from(sorted(PEER)))
    def restart(self, who: str) -> None:
        """A crash: the new run has only what was saved."""
        self._start(who, self.net.clients[who])

    @rule()
    def timePasses(self) -> None:
        self.net.clock.now += HANDSHAKE_TIMEOUT
        for session in self.net.clients.values():
            session.expire()
        self._collect()

    @invariant()
    def nothingInClear(self) -> None:
        for _, _, text in self.inFlight + self.delivered:
            assert text.startswith(SESSION_MARKER + " "), text
            assert " says " not in text

    @invariant()
    def shownOnceAndOnlyWhatWasSent(self) -> None:
        for nick in PEER:
            shown = [event.body for event in self.log[nick] if isinstance(event, ev.IncomingMessage)]
            assert len(shown) == len(set(shown)), shown
            assert set(shown) <= self.sent[PEER[nick]], (shown, self.sent[PEER[nick]])
            assert all(event.sender == PEER[nick] for event in self.log[nick] if isinstance(event, ev.IncomingMessage))


class DirectMachineTests(SynchronousTestCase):
    def test_anyInterleaving(self) -> None:
        run_state_machine_as_test(
            DirectMachine, settings=settings(max_examples=150, stateful_step_count=30, deadline=None)
        )

    def test_deliversWhenTheRelayBehaves(self) -> None:
        """The model is not vacuous: delivered in order, every message arrives."""
        machine = DirectMachine()
        machine.send("alice")
        while machine.inFlight:
            machine.delivered.append(machine.inFlight.pop(0))
            machine.net.deliver(*machine.delivered[-1])
            machine._collect()
        machine.send("bob")
        machine.send("alice")
        while machine.inFlight:
            machine.net.deliver(*machine.inFlight.pop(0))
            machine._collect()
        machine.shownOnceAndOnlyWhatWasSent()
        shown = {nick: [e.body for e in machine.log[nick] if isinstance(e, ev.IncomingMessage)] for nick in PEER}
        self.assertEqual(shown, {"bob": ["alice says 1", "alice says 3"], "alice": ["bob says 2"]})
