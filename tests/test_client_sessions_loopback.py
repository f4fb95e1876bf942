"""
Issue 22's done-when, end to end through our relay over loopback sockets:
two console users with verified identities exchange direct messages with
no secret typed; a peer without securechat gets "not sent" and the choice,
typed back exactly as each face shows it.
"""

from __future__ import annotations

import json

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.task import deferLater

from securechat.client.core import events as ev
from securechat.client.faces.commands import Console
from securechat.client.faces.jsonlines import JsonLinesFrontend
from securechat.codec.sessions.framing import SESSION_MARKER

from .test_client_console import Recorder
from .test_client_support import WAIT, LoopbackCase


def console(client):
    screen = Recorder()
    face = Console(client, screen.show, screen.ask, screen.quits.append, current="(status)")
    client.listen(face.event)
    return face, screen


class TwoConsolesTests(LoopbackCase):
    @inlineCallbacks
    def test_verifiedUsersTalkWithNoSecretTyped(self):
        alice = yield self.client("alice")
        bob = yield self.client("bob")
        aliceFace, aliceScreen = console(alice)
        bobFace, bobScreen = console(bob)
        # Out of band, each compared the other's fingerprint; the console pins and verifies.
        alice.session.trust.trust("bob", bob.session.identity.public_key)
        bob.session.trust.trust("alice", alice.session.identity.public_key)
        aliceFace.line("/verify bob " + bob.session.identity.fingerprint)
        bobFace.line("/verify alice " + alice.session.identity.fingerprint)
        self.assertIn("now verified", aliceScreen.last())
        self.assertIn("now verified", bobScreen.last())

        arrived = bob.waitFor(ev.IncomingMessage, WAIT)
        aliceFace.line("/msg bob the plans are in the usual place")
        self.assertTrue(any("starting a protected session with bob" in text for text, _ in aliceScreen.shown))
        message = yield arrived
        self.assertEqual(
            (message.sender, message.body, message.layer, message.trust),
            ("alice", "the plans are in the usual place", "session", "verified"),
        )
        self.assertTrue(
            any("[session, verified] <alice> the plans are in the usual place" in text for text, _ in bobScreen.shown)
        )
        answered = alice.waitFor(ev.IncomingMessage, WAIT)
        bobFace.line("/msg alice got them")
        reply = yield answered
        self.assertEqual((reply.sender, reply.body, reply.trust), ("bob", "got them", "verified"))
        self.assertEqual(alice.session.pairwise.sessionId("bob"), bob.session.pairwise.sessionId("alice"))
        self.assertIsNone(alice.session.keysFor("bob"))


class NotAnsweredTests(LoopbackCase):
    """A plain IRC user (no securechat): nothing in clear until the user types the choice shown."""

    @inlineCallbacks
    def unanswered(self, client, raw, send):
        client.session.pairwise.timeout = 0.2
        seen = []
        raw.lines = []
        send()
        init = yield raw.waitFor(lambda m: m.command == "PRIVMSG")
        self.assertTrue(init.params[1].startswith(SESSION_MARKER + " init "))
        waiting = client.waitFor(ev.SessionUnanswered, WAIT)
        yield deferLater(reactor, 0.3, lambda: None)
        client.session.expire()
        event = yield waiting
        seen.append(event)
        self.assertEqual([m.params[1] for m in raw.lines if "hello carol" in m.params[-1]], [])
        return event

    @inlineCallbacks
    def test_consoleChoiceTypedBack(self):
        alice = yield self.client("alice")
        carol = yield self.raw("carol")
        face, screen = console(alice)
        yield self.unanswered(alice, carol, lambda: face.line("/msg carol hello carol"))
        [shown] = [text for text, _ in screen.shown if "NOT SENT" in text]
        self.assertIn("carol did not answer a protected session within 0.2 seconds", shown)
        command = shown.split("To send it in clear anyway (the relay reads it): ")[1]
        self.assertEqual(command, "/msg! carol hello carol")
        face.line(command)
        line = yield carol.waitFor(lambda m: m.command == "PRIVMSG" and "hello carol" in m.params[1])
        self.assertEqual(line.params, ("carol", "hello carol"))

    @inlineCallbacks
    def test_jsonChoiceSentBack(self):
        alice = yield self.client("alice")
        carol = yield self.raw("carol")
        written = []
        face = JsonLinesFrontend(alice, written.append)
        send = json.dumps({"cmd": "send", "target": "carol", "text": "hello carol"}).encode()
        yield self.unanswered(alice, carol, lambda: face.lineReceived(send))
        [event] = [json.loads(line) for line in written if b"session-unanswered" in line]
        self.assertEqual(event["insist"], {"cmd": "send", "target": "carol", "text": "hello carol", "force": True})
        face.lineReceived(json.dumps(event["insist"]).encode())
        line = yield carol.waitFor(lambda m: m.command == "PRIVMSG" and "hello carol" in m.params[1])
        self.assertEqual(line.params, ("carol", "hello carol"))
