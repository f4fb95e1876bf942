"""
The JSON-lines face: commands in, events out, and never a crash on bad
input; in process against the relay, and once as a real subprocess
(C{python -m securechat --json}).
"""

from __future__ import annotations

import json
import os
import sys

from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.protocol import ProcessProtocol
from twisted.internet.task import deferLater
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase, TestCase

from securechat.client.adapters.headless import HeadlessClient
from securechat.client.core import events as ev
from securechat.client.faces.jsonlines import JsonLinesFrontend, JsonLinesProtocol, encodeEvent
from securechat.codec import TEST_KDF

from .test_client_support import WAIT, LoopbackCase

ROOM = "#lab"


class Lines:
    """Collects what a frontend writes, decoded."""

    def __init__(self) -> None:
        self.raw = []

    def write(self, data: bytes) -> None:
        self.assertOneLine(data)
        self.raw.append(data)

    @staticmethod
    def assertOneLine(data: bytes) -> None:
        if not data.endswith(b"\n") or b"\n" in data[:-1]:
            raise AssertionError("not exactly one line: %r" % (data,))

    @property
    def objects(self):
        return [json.loads(line) for line in self.raw]

    def ofType(self, kind):
        return [obj for obj in self.objects if obj["type"] == kind]


class OfflineFrontendTests(SynchronousTestCase):
    """Commands that fail before any connection: errors, never exceptions."""

    def setUp(self):
        client = HeadlessClient(reactor, "tcp:127.0.0.1:1", "bot", kdfParams=TEST_KDF)
        self.lines = Lines()
        self.frontend = JsonLinesFrontend(client, self.lines.write)

    def errors(self, line: bytes):
        before = len(self.lines.raw)
        self.frontend.lineReceived(line)
        return [json.loads(raw) for raw in self.lines.raw[before:]]

    def test_malformedJson(self):
        [error] = self.errors(b'{"cmd": "send", "text": ')
        self.assertEqual((error["type"], error["code"]), ("error", "bad-json"))

    def test_deeplyNestedJson(self):
        """
        A line nested deeper than the interpreter's stack is bad JSON (its
        RecursionError ended the client), and the next command still runs.
        """
        [error] = self.errors(b"[" * 100_000)
        self.assertEqual(error["code"], "bad-json")
        [error] = self.errors(b'{"cmd": "join", "room": "lab"}')
        self.assertEqual(error["code"], "refused")

    def test_keyAndLayerTargetsAreOneName(self):
        for line in (
            b'{"cmd": "key", "target": "", "passphrase": "pw"}',
            b'{"cmd": "key", "target": "a b", "passphrase": "pw"}',
            b'{"cmd": "key", "target": "#a,#b", "passphrase": "pw"}',
            b'{"cmd": "layer", "target": "a b", "layer": "plain"}',
            b'{"cmd": "layer", "target": "", "layer": "fernet"}',
        ):
            [error] = self.errors(line)
            self.assertEqual(error["code"], "refused", line)
        self.assertEqual(self.frontend.client.session.conversations(), {})

    def test_keyFileWithNulIsRefused(self):
        [error] = self.errors(b'{"cmd": "key", "target": "#lab", "key_file": "/tmp/a\u0000b"}')
        self.assertEqual((error["code"], error["command"]), ("refused", "key"))
        self.assertIn("NUL", error["message"])

    def test_invalidUtf8(self):
        [error] = self.errors(b'{"cmd": "\xff"}')
        self.assertEqual(error["code"], "bad-json")

    def test_notAnObject(self):
        for line in (b"[1, 2]", b'"join"', b"42", b"null"):
            [error] = self.errors(line)
            self.assertEqual(error["code"], "bad-command")

    def test_unknownCommand(self):
        [error] = self.errors(b'{"cmd": "explode"}')
        self.assertEqual((error["code"], error["command"]), ("unknown-command", "explode"))
        [error] = self.errors(b'{"nocmd": 1}')
        self.assertEqual(error["code"], "unknown-command")

    def test_missingAndMistypedFields(self):
        [error] = self.errors(b'{"cmd": "join"}')
        self.assertEqual((error["code"], error["command"]), ("bad-command", "join"))
        self.assertIn("room", error["message"])
        [error] = self.errors(b'{"cmd": "send", "target": "#a", "text": 5}')
        self.assertEqual(error["code"], "bad-command")

    def test_notConnected(self):
        [error] = self.errors(b'{"cmd": "send", "target": "#lab", "text": "hi"}')
        self.assertEqual(error["code"], "not-connected")

    def test_refusedCommand(self):
        [error] = self.errors(b'{"cmd": "join", "room": "lab"}')
        self.assertEqual(error["code"], "refused")
        [error] = self.errors(b'{"cmd": "layer", "target": "#lab", "layer": "rot13"}')
        self.assertEqual(error["code"], "refused")

    def test_lineBreakInANameIsRefused(self):
        """A nick with CRLF is refused, not kept to break the next registration."""
        [error] = self.errors(b'{"cmd": "nick", "nick": "eve\\r\\nQUIT"}')
        self.assertEqual((error["code"], error["command"]), ("refused", "nick"))
        self.assertEqual(self.frontend.client.session.requestedNick, "bot")

    def test_loneSurrogateIsABadCommand(self):
        """JSON can spell a lone surrogate; no field can hold one, and the error does not quote it."""
        for line in (
            b'{"cmd": "send", "target": "#lab", "text": "a\\ud800"}',
            b'{"cmd": "key", "target": "#lab", "passphrase": "hunter2\\udc00"}',
        ):
            [error] = self.errors(line)
            self.assertEqual(error["code"], "bad-command")
            self.assertNotIn(b"hunter2", self.lines.raw[-1])

    def test_bugCostsOneCommand(self):
        """An unexpected exception becomes an 'internal' error event; the frontend goes on."""
        def broken(command):
            raise RuntimeError("a bug")

        self.patch(self.frontend.client, "run", broken)  # where every command is carried out
        [error] = self.errors(b'{"cmd": "join", "room": "#lab"}')
        self.assertEqual((error["code"], error["command"]), ("internal", "join"))
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        [error] = self.errors(b'{"cmd": "nope"}')
        self.assertEqual(error["code"], "unknown-command")

    def test_errorNeverEchoesThePassphrase(self):
        """A broken key command does not repeat what it held."""
        for line in (
            b'{"cmd": "key", "target": "#lab", "passphrase": "hunter2", "layer": "rot13"}',
            b'{"cmd": "key", "target": "#lab", "passphrase": "hunter2"',
            b'{"cmd": "key", "passphrase": "hunter2"}',
        ):
            [error] = self.errors(line)
            self.assertEqual(error["type"], "error")
            self.assertNotIn(b"hunter2", self.lines.raw[-1])

    def test_blankLinesIgnored(self):
        self.assertEqual(self.errors(b"   "), [])

    def test_fingerprintOnPlain(self):
        [event] = self.errors(b'{"cmd": "fingerprint", "target": "#lab"}')
        identity = event.pop("identity")
        self.assertEqual(identity, self.frontend.client.session.identity.fingerprint)
        self.assertEqual(
            event,
            {"type": "fingerprint", "target": "#lab", "layer": "plain", "fingerprint": None,
             "pinned": None, "trust": None},
        )

    def test_eventsAreOneLineEach(self):
        line = encodeEvent(ev.IncomingMessage("#a", "bob", "two\nlines \u20ac", "plain", "none"))
        Lines.assertOneLine(line)
        self.assertEqual(json.loads(line)["body"], "two\nlines \u20ac")

    def test_unicodeLineSeparatorsAreEscaped(self):
        """A peer's body with U+2028, U+2029 or NEL stays one line even for str.splitlines()."""
        body = "a\u2028b\u2029c\x85d \u20ac"
        line = encodeEvent(ev.IncomingMessage("#a", "bob", body, "plain", "none"))
        [text] = line.decode("utf-8").splitlines()
        self.assertEqual(json.loads(text)["body"], body)


class QuittingClient:
    """What JsonLinesProtocol needs of a client: listeners, and a quit that takes a while."""

    def __init__(self) -> None:
        self.quitting = Deferred()
        self.reasons = []

    def listen(self, callback):
        return lambda: None

    def quit(self, reason=""):
        self.reasons.append(reason)
        return self.quitting


class StdioEndTests(SynchronousTestCase):
    """The process ends however stdin and stdout go away."""

    def setUp(self):
        self.client = QuittingClient()
        self.ended = []
        self.protocol = JsonLinesProtocol(self.client, lambda: self.ended.append(True))
        self.transport = StringTransport()
        self.protocol.makeConnection(self.transport)

    def test_stdoutClosedByTheReader(self):
        """
        The reader of our events went away (EPIPE): quit, then end, even
        though StandardIO will never call connectionLost (stdin is only
        paused by loseConnection, and stdout is already gone).
        """
        self.protocol.writeConnectionLost()
        self.assertEqual(self.client.reasons, ["end of input"])
        self.assertEqual(self.ended, [])
        self.client.quitting.callback(None)
        self.assertEqual(self.ended, [True])

    def test_endOfStdin(self):
        """End of input: quit, then close stdout after the last events (connectionLost ends)."""
        self.protocol.readConnectionLost()
        self.client.quitting.callback(None)
        self.assertTrue(self.transport.disconnecting)
        self.protocol.connectionLost(None)
        self.assertEqual(self.ended, [True])


class LoopbackFrontendTests(LoopbackCase):
    """Two JSON-lines frontends talk through the relay."""

    @inlineCallbacks
    def test_exchangeThroughCommands(self):
        alice = yield self.client("alice")
        bob = yield self.client("bob")
        aliceOut, bobOut = Lines(), Lines()
        aliceFront = JsonLinesFrontend(alice, aliceOut.write)
        bobFront = JsonLinesFrontend(bob, bobOut.write)
        for client, front in ((alice, aliceFront), (bob, bobFront)):
            names = client.waitFor(ev.Names, WAIT)
            front.lineReceived(b'{"cmd": "join", "room": "#lab"}')
            yield names
            keyed = client.waitFor(ev.KeySet, WAIT)
            front.lineReceived(
                b'{"cmd": "key", "target": "#lab", "passphrase": "s3cret", "layer": "fernet-ttl"}'
            )
            yield keyed
        received = bob.waitFor(ev.IncomingMessage, WAIT)
        aliceFront.lineReceived(
            json.dumps({"cmd": "send", "target": ROOM, "text": "caf\u00e9"}).encode("utf-8")
        )
        yield received
        [message] = bobOut.ofType("message")
        self.assertEqual(
            {k: message[k] for k in ("target", "sender", "body", "layer", "protection")},
            {"target": ROOM, "sender": "alice", "body": "caf\u00e9", "layer": "fernet-ttl",
             "protection": "authenticated+fresh"},
        )
        [sent] = aliceOut.ofType("sent")
        self.assertEqual((sent["target"], sent["lines"]), (ROOM, 1))
        self.assertEqual(aliceOut.ofType("key")[0]["fingerprint"], bobOut.ofType("key")[0]["fingerprint"])
        for raw in aliceOut.raw + bobOut.raw:
            self.assertNotIn(b"s3cret", raw)

    @inlineCallbacks
    def test_keyFromFile(self):
        alice = yield self.client("alice")
        out = Lines()
        front = JsonLinesFrontend(alice, out.write)
        path = self.mktemp()
        with open(path, "wb") as handle:
            handle.write(b"from a file\n")
        keyed = alice.waitFor(ev.KeySet, WAIT)
        front.lineReceived(json.dumps({"cmd": "key", "target": "bob", "key_file": path}).encode())
        event = yield keyed
        self.assertEqual(event.layer, "fernet-ttl")
        front.lineReceived(json.dumps({"cmd": "key", "target": "bob", "key_file": path + "x"}).encode())
        [error] = out.ofType("error")
        self.assertIn("cannot read key file", error["message"])


class ProcessOutput(ProcessProtocol):
    """Feeds commands to a child when it reports events; collects stdout."""

    def __init__(self, script) -> None:
        self.script = script
        self.buffer = b""
        self.events = []
        self.stderr = b""
        self.ended: Deferred = Deferred()

    def outReceived(self, data: bytes) -> None:
        self.buffer += data
        while b"\n" in self.buffer:
            line, self.buffer = self.buffer.split(b"\n", 1)
            event = json.loads(line)
            self.events.append(event)
            self.script(self, event)

    def errReceived(self, data: bytes) -> None:
        self.stderr += data

    def send(self, command) -> None:
        self.transport.write(json.dumps(command).encode("utf-8") + b"\n")

    def processEnded(self, reason) -> None:
        self.ended.callback(reason.value.exitCode)


class SubprocessTests(LoopbackCase):
    """The real command: `python -m securechat --json` with a key file."""

    timeout = 60

    def spawn(self, nick: str, script, *extra: str) -> ProcessOutput:
        protocol = ProcessOutput(script)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([os.getcwd()] + sys.path)
        env.pop("SECURECHAT_KEY", None)
        reactor.spawnProcess(
            protocol,
            sys.executable,
            [sys.executable, "-m", "securechat", "--json", "--server", self.endpoint,
             "--nick", nick, "--state-dir", self.mktemp()] + list(extra),
            env=env,
        )
        return protocol

    @inlineCallbacks
    def test_twoProcessesExchange(self):
        keyFile = self.mktemp()
        with open(keyFile, "w") as handle:
            handle.write("shared secret\n")
        # bob joins first, then alice says hello when she sees bob in the room.
        bobReady: Deferred = Deferred()

        def bobScript(proc, event):
            if event["type"] == "names" and not bobReady.called:
                bobReady.callback(None)
            if event["type"] == "message":
                proc.send({"cmd": "quit", "reason": "done"})

        def aliceScript(proc, event):
            if event["type"] == "names":
                proc.send({"cmd": "send", "target": ROOM, "text": "hello over a pipe"})
                proc.send({"cmd": "oops"})
                proc.transport.closeStdin()

        bob = self.spawn("bob", bobScript, "--join", ROOM, "--key-file", keyFile)
        yield bobReady
        alice = self.spawn("alice", aliceScript, "--join", ROOM, "--key-file", keyFile)
        aliceCode = yield alice.ended
        bobCode = yield bob.ended
        self.assertEqual((aliceCode, bobCode), (0, 0), alice.stderr + bob.stderr)
        [message] = [e for e in bob.events if e["type"] == "message"]
        self.assertEqual(
            (message["sender"], message["body"], message["layer"]),
            ("alice", "hello over a pipe", "fernet-ttl"),
        )
        self.assertIn("unknown-command", [e.get("code") for e in alice.events])
        self.assertEqual(alice.events[-1]["type"], "disconnected")


class NoArgon2Tests(SynchronousTestCase):
    """Where cryptography lacks Argon2id (PyPy 3.9), a key command is refused, not a crash."""

    def test_kdfUnavailableIsRefused(self):
        from twisted.internet.defer import fail

        from securechat.codec import KdfUnavailable

        client = HeadlessClient(reactor, "tcp:127.0.0.1:1", "bot", kdfParams=TEST_KDF)
        client.deriveKeys = lambda target, passphrase: fail(KdfUnavailable("no Argon2id here"))
        lines = Lines()
        JsonLinesFrontend(client, lines.write).lineReceived(
            b'{"cmd": "key", "target": "#lab", "passphrase": "x"}'
        )
        [error] = lines.ofType("error")
        self.assertEqual((error["code"], error["command"], error["message"]), ("refused", "key", "no Argon2id here"))


class IdentityCommandTests(TestCase):
    """Issue 13 in JSON: key "new", trust, verify, and the matching events."""

    def setUp(self):
        self.client = HeadlessClient(reactor, "tcp:127.0.0.1:1", "bot", kdfParams=TEST_KDF)
        self.lines = Lines()
        self.frontend = JsonLinesFrontend(self.client, self.lines.write)

    def send(self, obj):
        self.frontend.lineReceived(json.dumps(obj).encode())

    @inlineCallbacks
    def test_newRoomSecret(self):
        keyed = self.client.waitFor(ev.KeySet, WAIT)
        self.send({"cmd": "key", "target": "#lab", "new": True, "layer": "signed"})
        event = yield keyed
        [secret] = self.lines.ofType("room-secret")
        self.assertEqual(secret["target"], "#lab")
        theirs = yield self.client.deriveKeys("#lab", secret["code"].encode())
        self.assertEqual((event.layer, event.fingerprint), ("signed", theirs.fingerprint("signed")))
        self.send({"cmd": "key", "target": "#lab", "new": True, "passphrase": "x"})
        self.assertEqual(self.lines.ofType("error")[-1]["code"], "bad-command")

    @inlineCallbacks
    def test_shortPassphraseWarned(self):
        keyed = self.client.waitFor(ev.KeySet, WAIT)
        self.send({"cmd": "key", "target": "#lab", "passphrase": "a"})
        yield keyed
        yield deferLater(reactor, 0, lambda: None)
        [notice] = self.lines.ofType("notice")
        self.assertIn("short passphrase (1 characters)", notice["text"])

    def test_trustAndVerify(self):
        from securechat.codec import Identity

        alice = Identity.generate()
        self.client.session.trust.judge("bob", alice.public_key)
        self.send({"cmd": "trust", "nick": "bob"})
        self.assertEqual(self.lines.ofType("error")[-1]["code"], "refused")
        self.send({"cmd": "verify", "nick": "bob", "fingerprint": alice.fingerprint.replace(" ", "-")})
        [trust] = self.lines.ofType("trust")
        self.assertEqual(
            trust, {"type": "trust", "nick": "bob", "fingerprint": alice.fingerprint, "status": "verified"}
        )
        self.send({"cmd": "fingerprint", "target": "bob"})
        [fingerprint] = self.lines.ofType("fingerprint")
        self.assertEqual((fingerprint["pinned"], fingerprint["trust"]), (alice.fingerprint, "verified"))
        self.send({"cmd": "verify", "nick": "bob"})
        self.assertEqual(self.lines.ofType("error")[-1]["code"], "bad-command")
