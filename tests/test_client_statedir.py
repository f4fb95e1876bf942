"""
The state directory (issue 13): private, written atomically, and what a
restart with a real directory keeps: identity, pins, replay state.
"""

from __future__ import annotations

import base64
import json
import os
import stat

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from securechat.client.adapters.persist import IDENTITY_FILE, TRUST_FILE, StateKeeper, conversationsFile
from securechat.client.adapters.statedir import StateCorrupt, StateDir, StateError, defaultStateDir
from securechat.client.core import events as ev
from securechat.client.core.commands import advice
from securechat.client.core.session import ClientSession, NeedsForce
from securechat.client.core.wording import spellConsole
from securechat.client.faces.commands import ALERT, formatEvent
from securechat.codec import TEST_KDF, Conversation, Identity, derive_room_keys

from .test_client_session import SERVER, FakeClock

NETWORK = "tcp:127.0.0.1:6667"
ROOM = "#lab"
KEYS = derive_room_keys(b"pw", ROOM, TEST_KDF)


def mode(path: str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


class StateDirTests(SynchronousTestCase):
    def test_defaultFollowsXdg(self):
        self.assertEqual(defaultStateDir({"XDG_STATE_HOME": "/x/state", "HOME": "/h"}), "/x/state/securechat")
        # The XDG spec: a relative path is invalid and ignored.
        self.assertEqual(defaultStateDir({"XDG_STATE_HOME": "rel", "HOME": "/h"}), "/h/.local/state/securechat")
        self.assertEqual(defaultStateDir({"HOME": "/h"}), "/h/.local/state/securechat")

    def test_createdPrivateFilesPrivate(self):
        path = os.path.join(self.mktemp(), "deep", "state")
        state = StateDir.open(path)
        self.addCleanup(state.close)
        self.assertEqual(mode(path), 0o700)
        state.writeJson("a.json", {"x": 1})
        self.assertEqual(mode(state.file("a.json")), 0o600)
        self.assertEqual(state.readJson("a.json"), {"x": 1})
        self.assertIsNone(state.readJson("missing.json"))

    def test_openDirectoryIsClosed(self):
        path = self.mktemp()
        os.makedirs(path)
        os.chmod(path, 0o755)
        StateDir.open(path, lock=False)
        self.assertEqual(mode(path), 0o700)

    def test_notADirectory(self):
        path = self.mktemp()
        open(path, "w").close()
        self.assertIn("is not a directory", str(self.assertRaises(StateError, StateDir.open, path)))
        self.assertRaises(StateError, StateDir.check, path)

    def test_checkCreatesNothing(self):
        path = os.path.join(self.mktemp(), "state")
        StateDir.check(path)
        self.assertFalse(os.path.exists(path))

    def test_oneClientProcessPerDirectory(self):
        """Another process is refused while this one holds the directory; this one may reopen it."""
        import subprocess
        import sys

        path = self.mktemp()
        probe = [sys.executable, "-c",
                 "import sys; from securechat.client.adapters.statedir import StateDir, StateError\n"
                 "try:\n    StateDir.open(sys.argv[1])\nexcept StateError as e:\n    print(e); sys.exit(3)",
                 path]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.getcwd()] + sys.path))
        first = StateDir.open(path)
        again = StateDir.open(path)
        other = subprocess.run(probe, env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(other.returncode, 3, other.stderr)
        self.assertIn("in use by another securechat client", other.stdout)
        first.close()
        self.assertEqual(subprocess.run(probe, env=env, capture_output=True, timeout=60).returncode, 3, "still held")
        again.close()
        self.assertEqual(subprocess.run(probe, env=env, capture_output=True, timeout=60).returncode, 0)

    def test_testsNeverUseTheUsersStateDir(self):
        self.assertTrue(defaultStateDir().startswith(os.environ["XDG_STATE_HOME"]))
        self.assertIn("securechat-tests-state-", defaultStateDir())

    def test_atomicWriteKeepsTheOldFileOnFailure(self):
        state = StateDir.open(self.mktemp(), lock=False)
        state.writeJson("a.json", {"v": 1})

        def broken(src, dst):
            raise OSError(28, "No space left on device")

        self.patch(os, "replace", broken)
        error = self.assertRaises(StateError, state.writeJson, "a.json", {"v": 2})
        self.assertIn("No space left", str(error))
        self.patch(os, "replace", os.rename)
        self.assertEqual(state.readJson("a.json"), {"v": 1})
        self.assertEqual(sorted(os.listdir(state.path)), ["a.json"], "no temporary file left behind")

    def test_writeIsFsynced(self):
        state = StateDir.open(self.mktemp(), lock=False)
        synced = []
        real = os.fsync
        self.patch(os, "fsync", lambda fd: (synced.append(fd), real(fd)))
        state.writeJson("a.json", {})
        self.assertGreaterEqual(len(synced), 1)

    def test_corruptFileMovedAsideWithAClearError(self):
        state = StateDir.open(self.mktemp(), lock=False)
        with open(state.file("a.json"), "w") as handle:
            handle.write("{not json")
        error = self.assertRaises(StateCorrupt, state.readJson, "a.json")
        self.assertIn("a.json is not valid JSON", str(error))
        self.assertFalse(os.path.exists(state.file("a.json")))
        with open(state.file("a.json.corrupt")) as handle:
            self.assertEqual(handle.read(), "{not json")


class KeeperCase(SynchronousTestCase):
    def setUp(self):
        self.path = self.mktemp()
        self.clock = FakeClock()
        self.reactor = Clock()

    def start(self, nick="bob", layer="fernet-ttl"):
        """A client session for C{nick} with the state directory, keyed for #lab."""
        keeper = StateKeeper(StateDir.open(self.path), NETWORK, self.reactor, self.clock)
        events = []
        session = ClientSession(nick, events.append, clock=self.clock, identity=keeper.identity, trust=keeper.trust,
                                onConversation=keeper.restore)
        keeper.attach(session)
        keeper.startService()
        session.connectionMade(lambda line: None)
        session.lineReceived((":%s 001 %s :Welcome %s!~%s@h" % (SERVER, nick, nick, nick)).encode())
        session.join(ROOM)
        session.lineReceived((":%s!~%s@h JOIN %s" % (nick, nick, ROOM)).encode())
        session.setKeys(ROOM, KEYS, layer)
        return keeper, session, events

    def deliver(self, session, sender, text):
        session.lineReceived((":%s!~%s@h PRIVMSG %s :%s" % (sender, sender, ROOM, text)).encode())

    def verdicts(self, events):
        return [e.body if isinstance(e, ev.IncomingMessage) else e.reason
                for e in events if isinstance(e, (ev.IncomingMessage, ev.RejectedMessage))]


class IdentityAndTrustTests(KeeperCase):
    def test_identityMadeOnceAndKept(self):
        keeper, _, _ = self.start()
        first = keeper.identity.public_key
        keeper.stopService()
        self.assertEqual(mode(os.path.join(self.path, IDENTITY_FILE)), 0o600)
        keeper, _, _ = self.start()
        self.assertEqual(keeper.identity.public_key, first)
        keeper.stopService()

    def test_corruptIdentityReportedAndKeptAside(self):
        os.makedirs(self.path)
        with open(os.path.join(self.path, IDENTITY_FILE), "w") as handle:
            handle.write('{"format": 1, "ed25519": "short"}')
        os.chmod(os.path.join(self.path, IDENTITY_FILE), 0o600)  # else a second note: readable by others
        keeper, session, events = self.start()
        [error] = [e for e in events if isinstance(e, ev.Error)]
        self.assertIn("identity changed", error.message)
        self.assertTrue(os.path.exists(os.path.join(self.path, IDENTITY_FILE + ".corrupt")))
        keeper.stopService()

    def test_pinsSurviveARestart(self):
        alice = Identity.generate()
        keeper, session, events = self.start(layer="signed")
        sender = Conversation(ROOM, "signed", KEYS, clock=self.clock, identity=alice)
        self.deliver(session, "alice", sender.encode("alice", "hi", 400)[0])
        [message] = [e for e in events if isinstance(e, ev.IncomingMessage)]
        self.assertEqual(
            (message.signer, message.trust, message.protection), (alice.fingerprint, "first-use", "signed+fresh")
        )
        keeper.stopService()
        self.assertEqual(mode(os.path.join(self.path, TRUST_FILE)), 0o600)
        keeper, session, events = self.start(layer="signed")
        mallory = Conversation(ROOM, "signed", KEYS, clock=self.clock, identity=Identity.generate())
        self.deliver(session, "alice", mallory.encode("alice", "it's me", 400)[0])
        self.assertEqual(self.verdicts(events), ["identity-changed"])
        keeper.stopService()

    def test_corruptTrustStoreIsLoud(self):
        os.makedirs(self.path)
        with open(os.path.join(self.path, TRUST_FILE), "w") as handle:
            handle.write('{"format": 1, "pins": {"alice": {"key": "nope", "status": "verified"}}}')
        keeper, session, events = self.start()
        [error] = [e for e in events if isinstance(e, ev.Error)]
        self.assertIn("first use again", error.message)
        keeper.stopService()


class RestartTests(KeeperCase):
    """A restart reopens no replay or reorder window (issue 13)."""

    def test_replayAfterCleanRestartRefused(self):
        for layer in ("fernet-ttl", "signed"):
            self.path = self.mktemp()
            alice = Conversation(ROOM, layer, KEYS, clock=self.clock, identity=Identity.generate())
            line = alice.encode("alice", "pay 10", 400)[0]
            keeper, session, events = self.start(layer=layer)
            self.deliver(session, "alice", line)
            keeper.stopService()
            self.clock.now += 1
            keeper, session, events = self.start(layer=layer)
            self.deliver(session, "alice", line)
            self.assertEqual(self.verdicts(events), ["replayed"])
            keeper.stopService()

    def test_fernetReplayAfterRestartFlagged(self):
        alice = Conversation(ROOM, "fernet", KEYS, clock=self.clock)
        line = alice.encode("alice", "pay 10", 400)[0]
        keeper, session, events = self.start(layer="fernet")
        self.deliver(session, "alice", line)
        keeper.stopService()
        keeper, session, events = self.start(layer="fernet")
        self.deliver(session, "alice", line)
        [message] = self.ofType(events, ev.IncomingMessage)
        self.assertTrue(message.reordered)
        keeper.stopService()

    def ofType(self, events, kind):
        return [e for e in events if isinstance(e, kind)]

    def test_crashLosesAtMostTheLastFlush(self):
        """Saved on schedule (not on exit): what was seen before the flush is still refused."""
        alice = Conversation(ROOM, "fernet-ttl", KEYS, clock=self.clock)
        line = alice.encode("alice", "pay 10", 400)[0]
        keeper, session, events = self.start()
        self.deliver(session, "alice", line)
        self.reactor.advance(5)  # the scheduled flush; then the process dies
        with open(os.path.join(self.path, conversationsFile(NETWORK))) as handle:
            self.assertFalse(json.load(handle)["clean"])
        keeper.state.close()
        self.clock.now += 1
        keeper, session, events = self.start()
        self.deliver(session, "alice", line)
        self.assertEqual(self.verdicts(events), ["replayed"])

    def test_crashAfterACleanRestartIsACrash(self):
        """The clean mark of the last exit is cleared at start: a later crash is not taken for clean."""
        keeper, session, events = self.start()
        keeper.stopService()  # clean
        keeper, session, events = self.start()
        alice = Conversation(ROOM, "fernet-ttl", KEYS, clock=self.clock)
        line = alice.encode("alice", "pay 10", 400)[0]
        self.deliver(session, "alice", line)
        keeper.state.close()  # dies before the next flush
        self.clock.now += 10
        keeper, session, events = self.start()
        self.deliver(session, "alice", line)
        self.assertEqual(self.verdicts(events), ["expired"])
        keeper.stopService()

    def test_senderContinuesItsStreamAfterAcleanExit(self):
        keeper, session, events = self.start(nick="alice")
        bob = Conversation(ROOM, "fernet-ttl", KEYS, clock=self.clock)
        sent = []
        session.registration._send = sent.append
        session.sendMessage(ROOM, "one")
        keeper.stopService()
        keeper, session, events = self.start(nick="alice")
        session.registration._send = sent.append
        session.sendMessage(ROOM, "two")
        texts = [line.decode().split(" :", 1)[1].rstrip("\r\n") for line in sent if b"PRIVMSG" in line]
        second = bob.receive("alice", texts[1])[0]
        self.assertEqual(second.seq, 2)
        self.assertTrue(bob.receive("alice", texts[0])[0].reordered, "held back across the restart: flagged")
        keeper.stopService()

    def test_corruptConversationStateMeansFloorNow(self):
        os.makedirs(self.path)
        with open(os.path.join(self.path, conversationsFile(NETWORK)), "w") as handle:
            handle.write("garbage")
        alice = Conversation(ROOM, "fernet-ttl", KEYS, clock=self.clock)
        line = alice.encode("alice", "old", 400)[0]
        self.clock.now += 1
        keeper, session, events = self.start()
        self.deliver(session, "alice", line)
        errors = [e.message for e in events if isinstance(e, ev.Error)]
        self.assertEqual(len(errors), 1)
        self.assertIn("replay protection restarts from now", errors[0])
        self.assertIn("which rooms and peers were keyed is lost: /key them again", errors[0])
        self.assertEqual(self.verdicts(events), ["expired"])
        keeper.stopService()


class OptionTests(SynchronousTestCase):
    """--state-dir for `securechat` and `twistd securechat-client`."""

    def test_cliOption(self):
        from securechat import cli

        options = cli.buildParser().parse_args(["--state-dir", "/tmp/x"])
        self.assertEqual(options.state_dir, "/tmp/x")
        self.assertIsNone(cli.buildParser().parse_args([]).state_dir)

    def test_botKeepsItsState(self):
        from securechat.client.faces import tap

        path = self.mktemp()
        options = tap.Options()
        options.parseOptions(["-n", "bot", "--state-dir", path])
        self.assertFalse(os.path.exists(path), "parsing checks, creates nothing")
        service = tap.makeService(options)
        [keeper] = [s for s in service if isinstance(s, StateKeeper)]
        self.assertEqual(mode(path), 0o700)
        self.assertTrue(os.path.exists(os.path.join(path, IDENTITY_FILE)))
        keeper.startService()
        keeper.stopService()
        with open(os.path.join(path, conversationsFile(options["server"]))) as handle:
            self.assertTrue(json.load(handle)["clean"])

    def test_botRefusesAnUnusableStateDir(self):
        from twisted.python import usage

        from securechat.client.faces import tap

        path = self.mktemp()
        open(path, "w").close()
        self.assertRaises(usage.UsageError, tap.Options().parseOptions, ["--state-dir", path])

    def test_commandLineRefusesAnUnusableStateDir(self):
        """`securechat` and `securechat --json`: one line on stderr, no client, no traceback."""
        import io
        from contextlib import redirect_stderr

        from twisted.internet.task import Clock as Reactor

        from securechat import cli
        from securechat.cannotstart import CannotStart
        from securechat.client.adapters.startup import clientFromOptions
        from securechat.client.faces import jsonlines

        path = self.mktemp()
        open(path, "w").close()
        options = cli.buildParser().parse_args(["--state-dir", path])
        error = self.assertRaises(CannotStart, clientFromOptions, Reactor(), options)
        self.assertIn(path, str(error))
        # The command line says it, and only it: run() raises, main() prints.
        self.patch(jsonlines, "run", lambda options, passphrase: clientFromOptions(Reactor(), options))
        stderr = io.StringIO()
        with redirect_stderr(stderr):
            status = cli.main(["--json", "--state-dir", path, "--server", "tcp:127.0.0.1:1"])
        self.assertEqual(status, cli.EXIT_USAGE)
        self.assertTrue(stderr.getvalue().startswith("securechat: "), stderr.getvalue())
        self.assertIn(path, stderr.getvalue())


class OwnNickTests(KeeperCase):
    def test_memberWritingAsUsToUsRefused(self):
        """A relay delivering to alice, under alice's nick, a member's message sealed as alice."""
        keeper, session, events = self.start(nick="alice", layer="signed")
        mallory = Conversation(ROOM, "signed", KEYS, clock=self.clock, identity=Identity.generate())
        self.deliver(session, "alice", mallory.encode("alice", "it's me", 400)[0])
        self.assertEqual(self.verdicts(events), ["identity-changed"])
        session.changeNick("alice2")
        self.deliver(session, "alice2", mallory.encode("alice2", "it's me", 400)[0])
        self.assertEqual(self.verdicts(events)[-1], "identity-changed")
        keeper.stopService()


class FlushScheduleTests(KeeperCase):
    def test_unchangedStateIsNotWrittenAgain(self):
        keeper, session, events = self.start()
        path = os.path.join(self.path, conversationsFile(NETWORK))
        self.reactor.advance(5)
        before = os.stat(path).st_mtime_ns
        os.utime(path, ns=(0, 0))
        self.reactor.advance(5)
        self.assertEqual(os.stat(path).st_mtime_ns, 0, "nothing changed: not rewritten")
        alice = Conversation(ROOM, "fernet-ttl", KEYS, clock=self.clock)
        self.deliver(session, "alice", alice.encode("alice", "hi", 400)[0])
        self.reactor.advance(5)
        self.assertNotEqual(os.stat(path).st_mtime_ns, 0, "a message arrived: saved within 5 s")
        self.assertTrue(before)
        keeper.stopService()


class TrustWriteTests(KeeperCase):
    """
    The trust store is written in proportion to change (issue 25): first
    uses with the next scheduled save, the user's word at once.
    """

    def countWrites(self, keeper):
        """The writes of trust.json from now on, each with what it held."""
        writes = []
        real = keeper.state.writeJson

        def counting(name, value):
            if name == TRUST_FILE:
                writes.append(value)
            real(name, value)

        self.patch(keeper.state, "writeJson", counting)
        return writes

    def signedBy(self, session, nicks):
        """A message on the signed layer from each of C{nicks}, each with its own identity."""
        identities = {}
        for nick in nicks:
            identities[nick] = Identity.generate()
            member = Conversation(ROOM, "signed", KEYS, clock=self.clock, identity=identities[nick])
            self.deliver(session, nick, member.encode(nick, "hello from " + nick, 400)[0])
        return identities

    def pinsOnDisk(self):
        with open(os.path.join(self.path, TRUST_FILE)) as handle:
            return json.load(handle)["pins"]

    def test_inventedNicksCostOneWritePerFlush(self):
        """300 new nicks (the issue's figure: 300 full rewrites before) cost one write."""
        keeper, session, events = self.start(layer="signed")
        writes = self.countWrites(keeper)
        nicks = ["member%03d" % i for i in range(300)]
        self.signedBy(session, nicks)
        self.assertEqual(len([e for e in events if isinstance(e, ev.IncomingMessage)]), 300)
        self.assertEqual(writes, [], "first uses wait for the scheduled save")
        self.reactor.advance(5)
        self.assertEqual(len(writes), 1)
        self.assertEqual(set(nicks) - set(writes[0]["pins"]), set())
        self.reactor.advance(5)
        self.assertEqual(len(writes), 1, "nothing new pinned: not written again")
        self.signedBy(session, ["latecomer"])
        keeper.stopService()
        self.assertEqual(len(writes), 2, "pinned since the last save: written at exit")
        self.assertIn("latecomer", self.pinsOnDisk())

    def test_verifyIsWrittenAtOnce(self):
        keeper, session, events = self.start(layer="signed")
        writes = self.countWrites(keeper)
        alice = self.signedBy(session, ["alice"])["alice"]
        self.assertEqual(writes, [])
        session.verifyNick("alice", alice.fingerprint)
        self.assertEqual(len(writes), 1, "a /verify is not left to the next save")
        self.assertEqual(self.pinsOnDisk()["alice"]["status"], "verified")
        keeper.state.close()  # the process dies before any flush: the decision is on disk
        keeper, session, events = self.start(layer="signed")
        self.assertEqual(keeper.trust.pinned("alice").status, "verified")
        keeper.stopService()

    def test_trustIsWrittenAtOnce(self):
        keeper, session, events = self.start(layer="signed")
        self.signedBy(session, ["alice"])
        self.reactor.advance(5)
        writes = self.countWrites(keeper)
        newKey = self.signedBy(session, ["alice"])["alice"]
        self.assertEqual(self.verdicts(events)[-1], "identity-changed")
        self.assertEqual(writes, [], "a refused key changes no pin")
        session.trustNick("alice")
        self.assertEqual(len(writes), 1, "a /trust is not left to the next save")
        self.assertEqual(self.pinsOnDisk()["alice"]["key"], base64.b64encode(newKey.public_key).decode())
        self.reactor.advance(5)
        self.assertEqual(len(writes), 1, "nothing left to write")
        keeper.stopService()

    def test_failedWriteIsTriedAgain(self):
        keeper, session, events = self.start(layer="signed")
        self.signedBy(session, ["alice"])
        real = keeper.state.writeJson

        def full(name, value):
            raise StateError("cannot write %s: No space left on device" % (name,))

        self.patch(keeper.state, "writeJson", full)
        self.reactor.advance(5)
        self.assertIn("No space left", [e for e in events if isinstance(e, ev.Error)][-1].message)
        self.patch(keeper.state, "writeJson", real)
        self.reactor.advance(5)
        self.assertIn("alice", self.pinsOnDisk())
        keeper.stopService()


class IdentityModeTests(KeeperCase):
    """A pre-existing identity.json open to others is closed, and the user told (issue 25)."""

    def test_readableIdentityMadePrivateWithANote(self):
        keeper, _, _ = self.start()
        first = keeper.identity.public_key
        keeper.stopService()
        path = os.path.join(self.path, IDENTITY_FILE)
        os.chmod(path, 0o644)
        keeper, session, events = self.start()
        self.assertEqual(mode(path), 0o600)
        self.assertEqual(keeper.identity.public_key, first, "the same key: the user decides whether to change it")
        [error] = [e for e in events if isinstance(e, ev.Error)]
        self.assertEqual(error.code, "state")
        self.assertIn("readable by others (mode 644): now 0600", error.message)
        self.assertIn("can sign as you", error.message)
        keeper.stopService()

    def test_privateIdentityNoNote(self):
        keeper, _, _ = self.start()
        keeper.stopService()
        keeper, session, events = self.start()
        self.assertEqual([e for e in events if isinstance(e, ev.Error)], [])
        keeper.stopService()

    def test_cannotMakePrivate(self):
        keeper, _, _ = self.start()
        keeper.stopService()
        path = os.path.join(self.path, IDENTITY_FILE)
        os.chmod(path, 0o640)

        def refused(path, mode):
            raise PermissionError(1, "Operation not permitted")

        self.patch(os, "chmod", refused)
        keeper, session, events = self.start()
        [error] = [e for e in events if isinstance(e, ev.Error)]
        self.assertIn("cannot be made private: Operation not permitted", error.message)
        keeper.stopService()


class KeyedAfterRestartTests(KeeperCase):
    """
    Issue 23, point 2: which rooms and peers were keyed, and on what layer,
    survive a restart (never the key): until it is entered again nothing
    goes there in clear, and the user is told how to re-enter it.
    """

    def restart(self, nick="bob"):
        """Start again without setting the key: what a user sees after /quit and a restart."""
        keeper = StateKeeper(StateDir.open(self.path), NETWORK, self.reactor, self.clock)
        events = []
        sent = []
        session = ClientSession(nick, events.append, clock=self.clock, identity=keeper.identity, trust=keeper.trust,
                                onConversation=keeper.restore)
        keeper.attach(session)
        keeper.startService()
        session.connectionMade(sent.append)
        session.lineReceived((":%s 001 %s :Welcome %s!~%s@h" % (SERVER, nick, nick, nick)).encode())
        session.join(ROOM)
        session.lineReceived((":%s!~%s@h JOIN %s" % (nick, nick, ROOM)).encode())
        return keeper, session, events, sent

    def test_keyedRoomStaysKeyed(self):
        keeper, session, events = self.start(layer="signed")
        keeper.stopService()
        saved = json.load(open(os.path.join(self.path, conversationsFile(NETWORK))))
        self.assertEqual(saved["keyed"], {ROOM: "signed"})
        text = json.dumps(saved)
        for layer in ("fernet", "fernet-ttl", "signed"):
            key = KEYS.for_layer(layer)
            for encoded in (key.hex(), base64.b64encode(key).decode(), base64.urlsafe_b64encode(key).decode()):
                self.assertNotIn(encoded.rstrip("="), text)
        keeper, session, events, sent = self.restart()
        told = [e for e in events if isinstance(e, ev.KeyNotEntered)]
        self.assertEqual(told, [ev.KeyNotEntered(ROOM, "signed")])
        # Joined as what it counts as: keyed on signed, not "no key: plain text".
        [joined] = [e for e in events if isinstance(e, ev.Joined)]
        self.assertEqual(joined.layer, "signed")
        [(shown, style)] = formatEvent(told[0], "12:00")
        self.assertIn("enter it again (/key #lab)", shown)
        self.assertEqual(style, ALERT)
        self.assertEqual(session.expectedLayer(ROOM), "signed")
        sent.clear()
        with self.assertRaises(NeedsForce) as caught:
            session.sendMessage(ROOM, "the vault code")
        self.assertTrue(caught.exception.keyRestored)
        self.assertIn("keyed on signed before the restart", advice(caught.exception, spellConsole))
        self.assertIn("/key #lab", advice(caught.exception, spellConsole))
        self.assertEqual([line for line in sent if b"vault" in line], [])
        # The key entered again: the saved layer, not the default one.
        event = session.setKeys(ROOM, KEYS)
        self.assertEqual(event.layer, "signed")
        self.assertFalse(session.keyring.restored(ROOM))
        self.assertIsInstance(session.sendMessage(ROOM, "now sealed"), ev.Sent)
        keeper.stopService()

    def test_choosingPlainForgetsIt(self):
        keeper, session, events = self.start()
        session.setLayer(ROOM, "plain", force=True)
        keeper.stopService()
        keeper, session, events, sent = self.restart()
        self.assertEqual([e for e in events if isinstance(e, ev.KeyNotEntered)], [])
        self.assertEqual(session.expectedLayer(ROOM), "plain")
        keeper.stopService()

    def test_malformedListIsLoudAndHarmless(self):
        keeper, session, events = self.start()
        keeper.stopService()
        path = os.path.join(self.path, conversationsFile(NETWORK))
        saved = json.load(open(path))
        saved["keyed"] = ["#lab"]
        with open(path, "w") as handle:
            json.dump(saved, handle)
        keeper, session, events, sent = self.restart()
        errors = [e.message for e in events if isinstance(e, ev.Error)]
        self.assertTrue(any("keyed rooms and peers is malformed" in e for e in errors), errors)
        keeper.stopService()

    def test_unknownLayersCountAsTheStrongest(self):
        """
        A keyed entry whose layer cannot be read (corrupt, or from another
        version) is never weaker: keyed on the strongest layer, said; an
        entry saved as plain is not keyed.
        """
        keeper, session, events = self.start()
        keeper.stopService()
        path = os.path.join(self.path, conversationsFile(NETWORK))
        saved = json.load(open(path))
        saved["keyed"] = {ROOM: "rot13", "#other": "plain", "#third": 7}
        with open(path, "w") as handle:
            json.dump(saved, handle)
        keeper, session, events, sent = self.restart()
        told = [e for e in events if isinstance(e, ev.KeyNotEntered)]
        self.assertEqual(sorted(told), [ev.KeyNotEntered("#lab", "signed"), ev.KeyNotEntered("#third", "signed")])
        errors = [e.message for e in events if isinstance(e, ev.Error)]
        self.assertTrue(any("layer saved for #lab, #third is unknown" in e for e in errors), errors)
        self.assertEqual(session.expectedLayer("#other"), "plain")
        with self.assertRaises(NeedsForce):
            session.sendMessage(ROOM, "the vault code")
        self.assertEqual([line for line in sent if b"vault" in line], [])
        keeper.stopService()
