"""
Issue 11, points 1 and 2, end to end: the JSON-lines and console faces on
a real relay (127.0.0.1), with an eavesdropper in the room that records
every line the relay delivers, and a malicious relay (L{securechat.mitm})
that renames the sender.
"""

from __future__ import annotations

import json

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.task import deferLater
from twisted.trial.unittest import SynchronousTestCase

from securechat.client import events as ev
from securechat.client.commands import ALERT, Console
from securechat.client.headless import HeadlessClient
from securechat.client.jsonlines import JsonLinesFrontend
from securechat.codec import TEST_KDF

from .test_client_console import Recorder
from .test_client_jsonlines import Lines
from .test_client_support import WAIT, LoopbackCase

ROOM = "#lab"
SECRET = "the vault code is 7319"


class SendWhileDerivingTests(LoopbackCase):
    """A key asked for, then a message at once: it waits for the key, the relay never reads it."""

    @inlineCallbacks
    def setUpRoom(self):
        self.eve = yield self.raw("eve")
        yield self.eve.join(ROOM)
        self.alice = yield self.client("alice")
        self.bob = yield self.client("bob")
        yield self.joined(ROOM, self.alice, self.bob)
        yield self.bob.set_key(ROOM, b"s3cret", "fernet-ttl")

    def eveSawInClear(self):
        return [m for m in self.eve.lines if m.command == "PRIVMSG" and "vault" in m.params[-1]]

    @inlineCallbacks
    def test_jsonKeyThenSend(self):
        """The order docs/client.md shows: `key`, then `send` at once."""
        yield self.setUpRoom()
        out = Lines()
        front = JsonLinesFrontend(self.alice, out.write)
        heard = self.bob.wait_for(ev.IncomingMessage, WAIT)
        front.lineReceived(b'{"cmd": "key", "target": "#lab", "passphrase": "s3cret"}')
        front.lineReceived(json.dumps({"cmd": "send", "target": ROOM, "text": SECRET}).encode())
        message = yield heard
        self.assertEqual((message.sender, message.body, message.protection),
                         ("alice", SECRET, "authenticated+fresh"))
        kinds = [o["type"] for o in out.objects if o["type"] in ("queued", "key", "sent")]
        self.assertEqual(kinds, ["queued", "key", "sent"])
        self.assertEqual(out.ofType("sent")[0]["layer"], "fernet-ttl")
        # eve is in the room: had the body gone out in clear, she would have it by now.
        yield self.eve.waitFor(lambda m: m.command == "PRIVMSG" and m.params[-1].startswith("+sc1"))
        self.assertEqual(self.eveSawInClear(), [])

    @inlineCallbacks
    def test_consoleKeyThenTyping(self):
        yield self.setUpRoom()
        screen = Recorder()
        console = Console(self.alice, screen.show, screen.ask, screen.quits.append, current=ROOM)
        self.alice.listen(console.event)
        heard = self.bob.wait_for(ev.IncomingMessage, WAIT)
        console.line("/key")
        [(prompt, answer)] = screen.asked
        answer(b"s3cret")
        console.line(SECRET)
        self.assertTrue(any("waiting for the key" in text for text, style in screen.shown))
        message = yield heard
        self.assertEqual((message.body, message.protection), (SECRET, "authenticated+fresh"))
        self.assertTrue(any("[auth+fresh] <alice> " + SECRET in text for text, style in screen.shown))
        yield self.eve.waitFor(lambda m: m.command == "PRIVMSG" and m.params[-1].startswith("+sc1"))
        self.assertEqual(self.eveSawInClear(), [])

    @inlineCallbacks
    def test_failedDerivationSendsNothing(self):
        yield self.setUpRoom()
        out = Lines()
        front = JsonLinesFrontend(self.alice, out.write)
        failing = self.alice.derive_keys

        def broken(target, passphrase):
            derived = failing(target, passphrase)

            def outOfMemory(keys):
                raise ValueError("Not enough memory")  # what cryptography 50 raised

            return derived.addCallback(outOfMemory)

        self.alice.derive_keys = broken
        unsent = self.alice.wait_for(ev.Unsent, WAIT)
        front.lineReceived(b'{"cmd": "key", "target": "#lab", "passphrase": "s3cret"}')
        front.lineReceived(json.dumps({"cmd": "send", "target": ROOM, "text": SECRET}).encode())
        event = yield unsent
        self.assertEqual(event.body, SECRET)
        self.assertIn("Not enough memory", event.reason)
        yield deferLater(reactor, 0, lambda: None)  # the key command's own error comes next
        self.assertIn("Not enough memory", out.ofType("error")[0]["message"])
        self.assertEqual(out.ofType("sent"), [])
        self.assertEqual(self.eveSawInClear(), [])


class ForceTests(SynchronousTestCase):
    """Lowering protection asks for confirmation: the console's `!`, JSON's "force"."""

    def setUp(self):
        self.client = HeadlessClient(reactor, "tcp:127.0.0.1:1", "alice", kdf_params=TEST_KDF)
        from securechat.codec import derive_room_keys

        self.client.set_keys(ROOM, derive_room_keys(b"pw", ROOM, TEST_KDF), "fernet-ttl")

    def test_consoleLayerPlainAsksForConfirmation(self):
        screen = Recorder()
        console = Console(self.client, screen.show, screen.ask, screen.quits.append, current=ROOM)
        self.client.listen(console.event)
        console.line("/layer plain")
        text, style = screen.shown[-1]
        self.assertEqual(style, ALERT)
        self.assertIn("gives up confidentiality", text)
        self.assertIn("/layer! plain #lab", text)
        self.assertEqual(self.client.layer(ROOM), "fernet-ttl")
        console.line("/layer! plain")
        self.assertEqual(self.client.layer(ROOM), "plain")
        self.assertIn("now uses layer plain", screen.shown[-1][0])

    def test_consoleBangOnlyWhereItMeansSomething(self):
        screen = Recorder()
        console = Console(self.client, screen.show, screen.ask, screen.quits.append, current=ROOM)
        console.line("/join! #x")
        self.assertIn("only /layer! and /msg!", screen.shown[-1][0])

    def test_jsonLayerNeedsForce(self):
        out = Lines()
        front = JsonLinesFrontend(self.client, out.write)
        front.lineReceived(b'{"cmd": "layer", "target": "#lab", "layer": "aes-ctr"}')
        [error] = out.ofType("error")
        self.assertEqual((error["code"], error["command"]), ("needs-force", "layer"))
        self.assertIn("integrity", error["message"])
        self.assertEqual(self.client.layer(ROOM), "fernet-ttl")
        front.lineReceived(b'{"cmd": "layer", "target": "#lab", "layer": "aes-ctr", "force": "yes"}')
        self.assertEqual(out.ofType("error")[-1]["code"], "bad-command")
        front.lineReceived(b'{"cmd": "layer", "target": "#lab", "layer": "aes-ctr", "force": true}')
        self.assertEqual(out.ofType("layer")[-1]["layer"], "aes-ctr")
        self.assertEqual(self.client.layer(ROOM), "aes-ctr")

    def test_jsonKeyOnALowerLayerNeedsForce(self):
        out = Lines()
        front = JsonLinesFrontend(self.client, out.write)
        front.lineReceived(b'{"cmd": "key", "target": "#lab", "passphrase": "x", "layer": "plain"}')
        [error] = out.ofType("error")
        self.assertEqual((error["code"], error["command"]), ("needs-force", "key"))
