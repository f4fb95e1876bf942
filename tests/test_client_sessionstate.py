"""
Pairwise sessions in the state directory (issue 22 point 4): written
before a message they opened is shown and before a line they sealed
leaves; a restart loses nothing and reopens no replay window.
"""

from __future__ import annotations

import json
import os
import stat

from twisted.trial.unittest import SynchronousTestCase

from securechat.client.adapters.sessionstate import sessionsFile
from securechat.client.adapters.statedir import StateError
from securechat.client.core import events as ev
from securechat.client.core.pairwise import Pairwise
from securechat.client.core.session import CommandError
from securechat.codec.errors import Replayed
from securechat.codec.sessions.framing import parse_session_line
from securechat.codec.sessions.primitives import b64decode

from .pairwise_support import NETWORK, AliceRuns


class SessionStateTests(AliceRuns, SynchronousTestCase):
    def fromBob(self, text):
        self.net.clients["bob"].sendMessage("alice", text)
        lines = [message.params[1] for message in self.net.take("bob")]
        for line in lines:
            self.net.deliver("bob", "alice", line)
        return lines

    def shown(self):
        return [event.body for event in self.net.of("alice", ev.IncomingMessage)]

    def refused(self):
        return [event.reason for event in self.net.of("alice", ev.RejectedMessage)]

    def test_savedBeforeShown(self):
        """At the moment a message is shown, the file already refuses it as a replay."""
        keeper, session = self.alice()
        session.sendMessage("bob", "hi")
        self.net.pump()
        seen = []

        def check(event):
            if isinstance(event, ev.IncomingMessage):
                saved = Pairwise(session.registration, lambda e: None, self.net.clock)
                saved.load(json.loads(open(keeper.state.file(sessionsFile(NETWORK))).read()))
                token = parse_session_line(lines[0]).piece
                ratchet = saved._sessions["bob"].ratchet
                self.assertRaises(Replayed, ratchet.decrypt, b64decode(token))
                seen.append(event.body)

        self.net.clients["bob"].sendMessage("alice", "opened")
        lines = [message.params[1] for message in self.net.take("bob")]
        self.sink = check
        self.net.deliver("bob", "alice", lines[0])
        self.assertEqual(seen, ["opened"])

    def test_restartBetweenMessages(self):
        """A crash, then a restart: the session goes on both ways; replays of old lines are refused."""
        keeper, session = self.alice()
        session.sendMessage("bob", "hello bob")
        self.net.pump()
        first = self.fromBob("before the restart")
        self.assertEqual(self.shown(), ["before the restart"])
        self.crash(keeper)
        mode = stat.S_IMODE(os.stat(keeper.state.file(sessionsFile(NETWORK))).st_mode)
        self.assertEqual(mode, 0o600)
        keeper, session = self.alice()
        self.assertTrue(session.pairwise.hasSession("bob"))
        self.fromBob("after the restart")
        self.assertEqual(self.shown(), ["after the restart"])
        for line in first:
            self.net.deliver("bob", "alice", line)
        self.assertEqual(self.refused(), ["replayed"])
        self.assertIsInstance(session.sendMessage("bob", "still here"), ev.Sent)
        self.net.pump()
        self.assertEqual(
            [event.body for event in self.net.of("bob", ev.IncomingMessage)], ["hello bob", "still here"]
        )

    def test_replayAfterCleanRestart(self):
        keeper, session = self.alice()
        session.sendMessage("bob", "hi")
        self.net.pump()
        lines = self.fromBob("once")
        keeper.stopService()
        keeper, session = self.alice()
        for line in lines:
            self.net.deliver("bob", "alice", line)
        self.assertEqual(self.refused(), ["replayed"])
        self.assertEqual(self.shown(), [])

    def test_unwritableStateSealsNothing(self):
        """When the state cannot be written, nothing is sealed (a crash could reuse a key), and the user is told."""
        keeper, session = self.alice()
        session.sendMessage("bob", "hi")
        self.net.pump()
        self.net.take("alice")
        events = self.net.events["alice"]

        def full(name, value):
            raise StateError("cannot write %s: No space left on device" % (name,))

        keeper.state.writeJson = full
        self.assertRaises(CommandError, session.sendMessage, "bob", "not saved")
        self.assertEqual(self.net.take("alice"), [])
        self.assertTrue(any(isinstance(e, ev.Error) and "pairwise sessions" in e.message for e in events))

    def test_corruptFileIsSetAsideAndSaid(self):
        keeper, session = self.alice()
        session.sendMessage("bob", "hi")
        self.net.pump()
        keeper.stopService()
        with open(keeper.state.file(sessionsFile(NETWORK)), "w") as handle:
            handle.write('{"format": 1, "sessions": {"bob": {"nick": "bob"}}}')
        keeper, session = self.alice()
        self.assertFalse(session.pairwise.hasSession("bob"))
        self.assertTrue(any("sessions with bob cannot be read" in warning for warning in keeper.warnings))
