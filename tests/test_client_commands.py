"""
The one command layer (L{securechat.client.core.commands}): each typed
command reaches the session in one place, and the three faces (console,
JSON lines, the proxy's C{*securechat}) read their own syntax into the same
command.
"""

from __future__ import annotations

import json
import re

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase

from securechat.client.adapters.headless import HeadlessClient
from securechat.client.core import commands as cmd
from securechat.client.core import events as ev
from securechat.client.core.session import ClientSession, CommandError, NeedsForce
from securechat.client.faces.commands import Console
from securechat.client.faces.jsonlines import JsonLinesFrontend
from securechat.codec import TEST_KDF, derive_room_keys
from securechat.proxy import commands as proxyCommands
from securechat.proxy.commands import PseudoUser
from securechat.wire import parseLine

SERVER = "irc.test"


class ExecuteTests(SynchronousTestCase):
    """What each command does to a registered session."""

    def setUp(self):
        self.events = []
        self.sent = []
        self.session = ClientSession("alice", self.events.append)
        self.session.connectionMade(self.sent.append)
        self.session.lineReceived(b":irc.test 001 alice :Welcome alice!~a@h")
        self.session.join("#lab")
        self.session.lineReceived(b":alice!~a@h JOIN #lab")
        self.sent.clear()

    def written(self):
        return [(m.command,) + m.params for m in (parseLine(line.rstrip(b"\r\n")) for line in self.sent)]

    def test_eachCommandReachesTheSession(self):
        for command, line in (
            (cmd.Join("#more"), ("JOIN", "#more")),
            (cmd.Part("#lab", "bye"), ("PART", "#lab", "bye")),
            (cmd.Nick("alice2"), ("NICK", "alice2")),
            (cmd.Names("#lab"), ("NAMES", "#lab")),
            (cmd.Who("#lab"), ("WHO", "#lab")),
            (cmd.Topic("#lab"), ("TOPIC", "#lab")),
            (cmd.Topic("#lab", "news"), ("TOPIC", "#lab", "news")),
            (cmd.Whois("bob"), ("WHOIS", "bob")),
            (cmd.Away("lunch"), ("AWAY", "lunch")),
            (cmd.Away(), ("AWAY",)),
        ):
            self.sent.clear()
            self.assertIsNone(cmd.execute(self.session, command))
            self.assertEqual(self.written(), [line], command)

    def test_sayAndMe(self):
        sent = cmd.execute(self.session, cmd.Say("#lab", "hello"))
        self.assertIsInstance(sent, ev.Sent)
        cmd.execute(self.session, cmd.Me("#lab", "waves"))
        self.assertEqual(self.written(), [("PRIVMSG", "#lab", "hello"), ("PRIVMSG", "#lab", "\x01ACTION waves\x01")])

    def test_anActionIsOneLine(self):
        for text in ("", "  ", "one\ntwo"):
            self.assertRaises(CommandError, cmd.execute, self.session, cmd.Me("#lab", text))
        self.assertEqual(self.sent, [])

    def test_loweringCarriesItsData(self):
        """The refusal says what is lowered and lost, for each face to spell how to insist."""
        self.session.setKeys("#lab", derive_room_keys(b"pw", "#lab", TEST_KDF), "fernet-ttl")
        with self.assertRaises(NeedsForce) as caught:
            cmd.execute(self.session, cmd.Layer("#lab", "fernet"))
        target, current, asked, lost = caught.exception.lowering
        self.assertEqual((target, current, asked), ("#lab", "fernet-ttl", "fernet"))
        self.assertIn("freshness", lost)
        done = cmd.execute(self.session, cmd.Layer("#lab", "fernet", True))
        self.assertEqual(done, ev.LayerSet("#lab", "fernet"))

    def test_identityCommandsAnswerAtOnce(self):
        shown = cmd.execute(self.session, cmd.Fingerprint("#lab"))
        self.assertIsInstance(shown, ev.Fingerprint)
        self.assertEqual(shown.identity, self.session.identity.fingerprint)
        self.assertRaises(CommandError, cmd.execute, self.session, cmd.Trust("bob"))
        self.assertRaises(CommandError, cmd.execute, self.session, cmd.Verify("bob", "not a fingerprint"))

    def test_notACommand(self):
        self.assertRaises(TypeError, cmd.execute, self.session, "JOIN #lab")


class _Voice:
    def __init__(self):
        self.said = []

    def reply(self, text):
        self.said.append(text)

    tell = reply

    def tellIn(self, window, text):
        self.said.append(text)


class FacesTests(SynchronousTestCase):
    """The console, JSON lines and the proxy read their own syntax into the same command."""

    def setUp(self):
        self.ran = []

    def record(self, command):
        self.ran.append(command)

    def console(self):
        client = HeadlessClient(reactor, "tcp:127.0.0.1:1", "alice", kdfParams=TEST_KDF)
        self.patch(client, "run", self.record)
        return Console(client, lambda text, style: None, lambda prompt, answer: None, lambda reason: None,
                       current="#lab")

    def jsonLines(self):
        client = HeadlessClient(reactor, "tcp:127.0.0.1:1", "alice", kdfParams=TEST_KDF)
        self.patch(client, "run", self.record)
        return JsonLinesFrontend(client, lambda data: None)

    def proxy(self):
        self.patch(proxyCommands, "execute", lambda session, command: self.record(command))
        session = ClientSession("alice", lambda event: None)
        return PseudoUser(session, lambda target, passphrase, done: None, _Voice(), lambda: [])

    def test_layerForced(self):
        self.console().line("/layer! fernet #lab")
        self.jsonLines().lineReceived(b'{"cmd": "layer", "target": "#lab", "layer": "fernet", "force": true}')
        user = self.proxy()
        user.command("layer! #lab fernet")
        user.command("layer! fernet #lab")  # the console's order, as the proxy's advice may be typed
        self.assertEqual(self.ran, [cmd.Layer("#lab", "fernet", True)] * 4)

    def test_identity(self):
        console, jsonLines, user = self.console(), self.jsonLines(), self.proxy()
        console.line("/trust bob")
        jsonLines.lineReceived(b'{"cmd": "trust", "nick": "bob"}')
        user.command("trust bob")
        fingerprint = "12345 12345 12345 12345 12345 12345 12345 12345"
        console.line("/verify bob " + fingerprint)
        jsonLines.lineReceived(b'{"cmd": "verify", "nick": "bob", "fingerprint": "%s"}' % fingerprint.encode())
        user.command("verify bob " + fingerprint)
        self.assertEqual(self.ran, [cmd.Trust("bob")] * 3 + [cmd.Verify("bob", fingerprint)] * 3)

    def test_key(self):
        """A key command is typed too, its passphrase never part of it (nor of its repr)."""
        keyed = []
        console, jsonLines = self.console(), self.jsonLines()
        for face in (console.client, jsonLines.client):
            self.patch(face, "key", lambda command, passphrase=None: keyed.append((command, passphrase)) or Deferred())
        console.line("/key --new #lab")
        jsonLines.lineReceived(b'{"cmd": "key", "target": "#lab", "new": true}')
        user = self.proxy()
        self.patch(user, "_key", lambda command: keyed.append((command, None)))
        user.command("key --new #lab")
        jsonLines.lineReceived(
            b'{"cmd": "key", "target": "#lab", "layer": "fernet", "force": true, "passphrase": "p w"}'
        )
        user.command("key! #lab fernet")
        new, given = cmd.Key("#lab", new=True), cmd.Key("#lab", "fernet", True)
        self.assertEqual(keyed, [(new, None)] * 3 + [(given, b"p w"), (given, None)])
        self.assertNotIn("p w", repr(keyed[3][0]))

    def test_messages(self):
        console, jsonLines = self.console(), self.jsonLines()
        console.line("hello")
        console.line("/msg! bob hi there")
        console.line("/me waves")
        jsonLines.lineReceived(b'{"cmd": "send", "target": "#lab", "text": "hello"}')
        jsonLines.lineReceived(b'{"cmd": "msg", "target": "bob", "text": "hi there", "force": true}')
        jsonLines.lineReceived(b'{"cmd": "action", "target": "#lab", "text": "waves"}')
        expected = [cmd.Say("#lab", "hello"), cmd.Say("bob", "hi there", True), cmd.Me("#lab", "waves")]
        self.assertEqual(self.ran, expected * 2)


class AdviceTests(SynchronousTestCase):
    """A refusal carries its data; each face spells how to insist in its own syntax, and it works as typed."""

    def setUp(self):
        self.client = HeadlessClient(reactor, "tcp:127.0.0.1:1", "alice", kdfParams=TEST_KDF)
        self.client.session.setKeys("#lab", derive_room_keys(b"pw", "#lab", TEST_KDF), "fernet-ttl")

    def test_jsonAdviceIsTheCommandToSend(self):
        out = []
        front = JsonLinesFrontend(self.client, out.append)
        front.lineReceived(b'{"cmd": "layer", "target": "#lab", "layer": "aes-ctr"}')
        error = json.loads(out[-1])
        self.assertEqual(error["code"], "needs-force")
        self.assertNotIn("/layer!", error["message"])
        advised = re.search(r"\{.*\}", error["message"]).group(0)
        self.assertEqual(json.loads(advised), {"cmd": "layer", "target": "#lab", "layer": "aes-ctr", "force": True})
        front.lineReceived(advised.encode("utf-8"))
        self.assertEqual(self.client.layer("#lab"), "aes-ctr")

    def test_consoleAdviceIsTheCommandToType(self):
        shown = []
        console = Console(self.client, lambda text, style: shown.append(text), lambda prompt, answer: None,
                          lambda reason: None, current="#lab")
        console.line("/layer fernet")
        self.assertNotIn("JSON", shown[-1])
        advised = re.search(r"/layer! \S+ \S+", shown[-1]).group(0)
        self.assertEqual(advised, "/layer! fernet #lab")
        console.line(advised)
        self.assertEqual(self.client.layer("#lab"), "fernet")

    def test_proxyAdviceIsTheMessageToSend(self):
        voice = _Voice()
        user = PseudoUser(self.client.session, lambda target, passphrase, done: None, voice, lambda: [])
        user.command("layer #lab fernet")
        advised = re.search(r"/msg \*securechat (layer! \S+ \S+)", voice.said[-1]).group(1)
        user.command(advised)
        self.assertEqual(self.client.layer("#lab"), "fernet")
