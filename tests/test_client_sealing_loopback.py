"""
Issue 11, points 1 and 2, end to end: the JSON-lines and console faces on
a real relay (127.0.0.1), with an eavesdropper in the room that records
every line the relay delivers, and a malicious relay (L{securechat.mitm})
that renames the sender.
"""

from __future__ import annotations

import json
from functools import partial

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.endpoints import TCP4ClientEndpoint, serverFromString
from twisted.internet.task import deferLater
from twisted.trial.unittest import SynchronousTestCase

from securechat.client.adapters.headless import HeadlessClient
from securechat.client.core import events as ev
from securechat.client.core.session import CommandError
from securechat.client.faces.commands import ALERT, Console
from securechat.client.faces.jsonlines import JsonLinesFrontend
from securechat.codec import TEST_KDF, derive_room_keys
from securechat.mitm.attacks import makeAttack
from securechat.mitm.proxy import TO_RELAY, MitmFactory, Plan

from .test_client_console import Recorder
from .test_client_jsonlines import Lines
from .test_client_support import WAIT, LoopbackCase, patchCommands

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
        yield self.bob.setKey(ROOM, b"s3cret", "fernet-ttl")

    def eveSawInClear(self):
        return [m for m in self.eve.lines if m.command == "PRIVMSG" and "vault" in m.params[-1]]

    @inlineCallbacks
    def test_jsonKeyThenSend(self):
        """The order docs/client.md shows: `key`, then `send` at once."""
        yield self.setUpRoom()
        out = Lines()
        front = JsonLinesFrontend(self.alice, out.write)
        heard = self.bob.waitFor(ev.IncomingMessage, WAIT)
        front.lineReceived(b'{"cmd": "key", "target": "#lab", "passphrase": "s3cret"}')
        front.lineReceived(json.dumps({"cmd": "send", "target": ROOM, "text": SECRET}).encode())
        message = yield heard
        self.assertEqual((message.sender, message.body, message.protection),
                         ("alice", SECRET, "authenticated+fresh"))
        kinds = [o["type"] for o in out.objects if o["type"] in ("queued", "key", "sent")]
        self.assertEqual(kinds, ["queued", "key", "sent"])
        self.assertEqual(out.ofType("sent")[0]["layer"], "fernet-ttl")
        # eve is in the room: had the body gone out in clear, she would have it by now.
        yield self.eve.waitFor(lambda m: m.command == "PRIVMSG" and m.params[-1].startswith("+sc2"))
        self.assertEqual(self.eveSawInClear(), [])

    @inlineCallbacks
    def test_consoleKeyThenTyping(self):
        yield self.setUpRoom()
        screen = Recorder()
        console = Console(self.alice, screen.show, screen.ask, screen.quits.append, current=ROOM)
        self.alice.listen(console.event)
        heard = self.bob.waitFor(ev.IncomingMessage, WAIT)
        console.line("/key")
        [(prompt, answer)] = screen.asked
        answer(b"s3cret")
        screen.asked[1][1](b"s3cret")  # asked twice: it is a new passphrase
        console.line(SECRET)
        self.assertTrue(any("waiting for the key" in text for text, style in screen.shown))
        message = yield heard
        self.assertEqual((message.body, message.protection), (SECRET, "authenticated+fresh"))
        self.assertTrue(any("[auth+fresh] <alice> " + SECRET in text for text, style in screen.shown))
        yield self.eve.waitFor(lambda m: m.command == "PRIVMSG" and m.params[-1].startswith("+sc2"))
        self.assertEqual(self.eveSawInClear(), [])

    @inlineCallbacks
    def test_failedDerivationSendsNothing(self):
        yield self.setUpRoom()
        out = Lines()
        front = JsonLinesFrontend(self.alice, out.write)
        failing = self.alice.deriveKeys

        def broken(target, passphrase):
            derived = failing(target, passphrase)

            def outOfMemory(keys):
                raise ValueError("Not enough memory")  # what cryptography 50 raised

            return derived.addCallback(outOfMemory)

        self.alice.deriveKeys = broken
        unsent = self.alice.waitFor(ev.Unsent, WAIT)
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
        self.client = HeadlessClient(reactor, "tcp:127.0.0.1:1", "alice", kdfParams=TEST_KDF)
        self.client.setKeys(ROOM, derive_room_keys(b"pw", ROOM, TEST_KDF), "fernet-ttl")

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

    def test_consoleMsgBangForces(self):
        calls = []
        patchCommands(self, self.client, send=lambda target, text, force=False: calls.append((target, text, force)))
        screen = Recorder()
        console = Console(self.client, screen.show, screen.ask, screen.quits.append, current=ROOM)
        console.line("/msg bob hi there")
        console.line("/msg! bob in clear")
        self.assertEqual(calls, [("bob", "hi there", False), ("bob", "in clear", True)])

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


class RenamingRelayTests(LoopbackCase):
    """
    A malicious relay (securechat-mitm's `rename`) tells alice she is
    carol and delivers her messages to bob as carol's: alice's client
    refuses to seal under a nick she did not choose.
    """

    @inlineCallbacks
    def throughMitm(self, via):
        upstream = TCP4ClientEndpoint(reactor, "127.0.0.1", self.portNumber)
        attack = partial(makeAttack, "rename", None, as_nick="carol", victim="alice", via=via)
        self.mitm = MitmFactory(upstream, Plan(attack))
        self.seen = []
        self.mitm.taps.append(self.seen.append)
        port = yield serverFromString(reactor, "tcp:0:interface=127.0.0.1").listen(self.mitm)
        self.addCleanup(port.stopListening)
        mitm = "tcp:127.0.0.1:%d" % (port.getHost().port,)
        self.bob = yield self.client("bob", mitm)
        self.carol = yield self.client("carol", mitm)
        yield self.joined(ROOM, self.bob, self.carol)
        self.alice = yield self.client("alice", mitm)
        self.aliceEvents = []
        self.alice.listen(self.aliceEvents.append)
        for client in (self.alice, self.bob, self.carol):
            client.setKeys(ROOM, derive_room_keys(b"pw", ROOM, TEST_KDF), "fernet-ttl")

    @inlineCallbacks
    def assertAliceStopsSealing(self):
        self.bobHeard = []
        self.bob.listen(lambda e: self.bobHeard.append(e) if isinstance(e, ev.IncomingMessage) else None)
        error = self.assertRaises(CommandError, self.alice.send, ROOM, "pay mallory")
        self.assertIn("a nick you did not choose", str(error))
        # carol's line reaches bob after anything alice could have sent.
        heard = self.bob.waitFor(lambda e: isinstance(e, ev.IncomingMessage) and e.body == "end", WAIT)
        self.carol.send(ROOM, "end")
        yield heard
        self.assertEqual([(e.sender, e.body) for e in self.bobHeard], [("carol", "end")])

    def warnings(self):
        return [e for e in self.aliceEvents if e.kind == "nick-unconfirmed"]

    @inlineCallbacks
    def test_forgedNick(self):
        yield self.throughMitm("nick")
        renamed = self.alice.waitFor(lambda e: isinstance(e, ev.NickChanged) and e.me, WAIT)
        yield self.joined(ROOM, self.alice)
        yield renamed
        yield self.assertAliceStopsSealing()
        [warning] = self.warnings()
        self.assertEqual((warning.nick, warning.chosen), ("carol", "alice"))

    @inlineCallbacks
    def test_userMayAcceptTheNewNick(self):
        """The user's explicit choice (JSON `nick`) lifts the refusal: then, and only then."""
        yield self.throughMitm("nick")
        renamed = self.alice.waitFor(lambda e: isinstance(e, ev.NickChanged) and e.me, WAIT)
        yield self.joined(ROOM, self.alice)
        yield renamed
        out = Lines()
        front = JsonLinesFrontend(self.alice, out.write)
        front.lineReceived(b'{"cmd": "send", "target": "#lab", "text": "refused"}')
        self.assertIn("a nick you did not choose", out.ofType("error")[0]["message"])
        front.lineReceived(b'{"cmd": "nick", "nick": "carol"}')
        heard = self.bob.waitFor(ev.IncomingMessage, WAIT)
        front.lineReceived(b'{"cmd": "send", "target": "#lab", "text": "as carol, knowingly"}')
        message = yield heard
        self.assertEqual((message.sender, message.body), ("carol", "as carol, knowingly"))
        self.assertEqual(out.ofType("sent")[0]["layer"], "fernet-ttl")

    @inlineCallbacks
    def test_welcomeAfterForcedReconnect(self):
        yield self.throughMitm("welcome")
        rejoined = self.alice.waitFor(
            lambda e: isinstance(e, ev.Joined) and e.me and e.nick == "carol", WAIT
        )
        self.alice.join(ROOM)
        yield rejoined
        yield self.assertAliceStopsSealing()
        [warning] = self.warnings()
        self.assertEqual((warning.nick, warning.chosen), ("carol", "alice"))
        self.assertIn("registered you as carol", warning.cause)
        # The reconnection asked for alice, the user's nick, not the imposed one.
        nicks = [s.raw for s in self.seen if s.direction == TO_RELAY and s.raw.startswith(b"NICK")]
        self.assertEqual(nicks, [b"NICK bob", b"NICK carol", b"NICK alice", b"NICK alice"])
