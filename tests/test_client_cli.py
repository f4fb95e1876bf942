"""
The command line and the twistd plugin: options, where passphrases may
come from (and the refusal of argv), and the service the plugin builds.
"""

from __future__ import annotations

import io
import json
import os
from contextlib import redirect_stderr

from twisted.application.service import IService, Service
from twisted.internet.defer import Deferred
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase, TestCase

from securechat import cli
from securechat.client.adapters.headless import HeadlessClient
from securechat.client.adapters.passphrases import ENV_VAR, PassphraseError, readKeyFile, startupPassphrase
from securechat.client.core import events as ev
from securechat.client.faces import tap


class PassphraseSourceTests(SynchronousTestCase):
    def keyFile(self, content: bytes) -> str:
        path = self.mktemp()
        with open(path, "wb") as handle:
            handle.write(content)
        return path

    def test_keyFileStripsOneNewline(self):
        self.assertEqual(readKeyFile(self.keyFile(b"pass word\n")), b"pass word")
        self.assertEqual(readKeyFile(self.keyFile(b"pass\r\n")), b"pass")
        self.assertEqual(readKeyFile(self.keyFile(b"pass\n\n")), b"pass\n")

    def test_keyFileProblems(self):
        self.assertRaises(PassphraseError, readKeyFile, self.keyFile(b"\n"))
        self.assertRaises(PassphraseError, readKeyFile, self.keyFile(b"x" * 5000))
        self.assertRaises(PassphraseError, readKeyFile, self.mktemp())

    def test_fileThenEnvironment(self):
        path = self.keyFile(b"from file")
        self.assertEqual(startupPassphrase(path, {ENV_VAR: "from env"}), b"from file")
        self.assertEqual(startupPassphrase(None, {ENV_VAR: "from env \u00e9"}), "from env \u00e9".encode())
        self.assertIsNone(startupPassphrase(None, {}))


class CommandLineTests(SynchronousTestCase):
    def test_argvPassphraseRefused(self):
        """The options, and their abbreviations (argparse took --ke for --key-file)."""
        for argv in (["--key", "hunter2"], ["--passphrase=hunter2"], ["--json", "--password", "hunter2"],
                     ["--ke", "hunter2"], ["--json", "--pass=hunter2"]):
            stderr = io.StringIO()
            with redirect_stderr(stderr):
                self.assertEqual(cli.main(argv), cli.EXIT_USAGE)
            self.assertIn("--key-file", stderr.getvalue())
            self.assertNotIn("hunter2", stderr.getvalue())

    def test_badServerEndpointIsAUsageError(self):
        """A typo in --server is one line and exit 2, not a traceback once started."""
        bad = ("garbage:", "tcp:host", "host:66670", "ircs://h:0", "ssl:host:6697:caCertsDir=%s" % (self.mktemp(),))
        for server in bad:
            stderr = io.StringIO()
            with redirect_stderr(stderr):
                with self.assertRaises(SystemExit) as exited:
                    cli.main(["--json", "--server", server])
            self.assertEqual(exited.exception.code, cli.EXIT_USAGE)
            self.assertIn("--server: %r is not a usable endpoint" % (server,), stderr.getvalue())

    def test_unreadableKeyFile(self):
        stderr = io.StringIO()
        with redirect_stderr(stderr):
            self.assertEqual(cli.main(["--json", "--key-file", self.mktemp()]), cli.EXIT_USAGE)
        self.assertIn("cannot read key file", stderr.getvalue())

    def test_parser(self):
        options = cli.buildParser().parse_args(
            ["--server", "tcp:h:1", "--nick", "n", "--join", "#a", "--join", "#b", "--layer", "fernet"]
        )
        self.assertEqual(
            (options.server, options.nick, options.join, options.layer, options.json),
            ("tcp:h:1", "n", ["#a", "#b"], "fernet", False),
        )

    def test_defaultNickIsValid(self):
        nick = cli.defaultNick()
        self.assertTrue(0 < len(nick) <= 9)
        self.assertFalse(nick[0].isdigit())


class FakeEndpoint:
    """Never used: the tests here do not connect."""

    def connect(self, factory):
        raise AssertionError("no connection expected")


class FakeClient(Service):
    """What EventSink and BotService need of a client: listeners, and a stop that takes time."""

    def __init__(self) -> None:
        self.listeners = []
        self.stopping = Deferred()

    def listen(self, callback):
        self.listeners.append(callback)
        return lambda: None

    def emit(self, event) -> None:
        for listener in self.listeners:
            listener(event)

    def stopService(self):
        Service.stopService(self)
        return self.stopping


class PluginTests(TestCase):
    """C{twistd securechat-client}: options and the service tree."""

    def test_options(self):
        options = tap.Options()
        options.parseOptions(
            ["-s", "tcp:127.0.0.1:7000", "-n", "bot", "-j", "#a", "--join", "#b", "--state-dir", self.mktemp()]
        )
        self.assertEqual(
            (options["server"], options["nick"], options["join"]), ("tcp:127.0.0.1:7000", "bot", ["#a", "#b"])
        )
        self.assertRaises(usage.UsageError, tap.Options().parseOptions, ["--layer", "rot13"])

    def test_makeServiceKeysRooms(self):
        path = self.mktemp()
        with open(path, "w") as handle:
            handle.write("bot secret\n")
        output = self.mktemp()
        options = tap.Options()
        options.parseOptions(
            ["-n", "bot", "-j", "#a", "-k", path, "-l", "fernet", "-o", output, "--state-dir", self.mktemp()]
        )
        service = tap.makeService(options)
        self.assertTrue(IService.providedBy(service))
        [client] = [s for s in service if isinstance(s, HeadlessClient)]
        self.assertEqual((client.layer("#a"), client.session.wanted), ("fernet", {"#a": "#a"}))
        self.assertIsNotNone(client.fingerprint("#a"))
        [sink] = [s for s in service if isinstance(s, tap.EventSink)]
        sink.startService()
        client._emit(ev.Notice("hello"))
        sink.stopService()
        with open(output) as handle:
            first, last = [json.loads(text) for text in handle]
        self.assertEqual(first["type"], "key")
        self.assertEqual(last, {"type": "notice", "text": "hello", "source": None})

    def test_missingKeyFile(self):
        """
        Refused while parsing (twistd prints a usage message, not the
        traceback a UsageError from makeService gets), and by makeService.
        """
        missing = self.mktemp()
        self.assertRaises(usage.UsageError, tap.Options().parseOptions, ["-j", "#a", "-k", missing])
        options = tap.Options()
        options.update({"join": ["#a"], "key-file": missing})
        self.assertRaises(usage.UsageError, tap.makeService, options)

    def test_badOptionsRefusedWhileParsing(self):
        for argv in (
            ["-j", "lab"],
            ["-j", "#a,#b"],
            ["-n", "two words"],
            ["-n", ""],
            ["--server-password-file", self.mktemp()],
            ["--server", "garbage:"],
            ["--server", "tcp:h:66670"],
            ["--server", "tcp:host"],
            ["--output", os.path.join(self.mktemp(), "missing-directory", "events.jsonl")],
        ):
            self.assertRaises(usage.UsageError, tap.Options().parseOptions, argv)

    def test_passphraseOptionsRefusedNotAbbreviated(self):
        """
        --key was taken as an abbreviation of --key-file: the secret became
        a file name and was printed in the error.  It is refused, unechoed.
        """
        for argv in (["--key", "hunter2"], ["--passphrase=hunter2"], ["--password", "hunter2"]):
            error = self.assertRaises(usage.UsageError, tap.Options().parseOptions, argv)
            self.assertIn("--key-file", str(error))
            self.assertNotIn("hunter2", str(error))

    def test_usageCanBePrinted(self):
        """
        twistd prints the usage after any UsageError: if that fails, every
        usage error is a traceback (it did, once --key had synonyms).
        """
        text = tap.Options().getUsage()
        self.assertIn("--key-file=", text)
        self.assertIn("--server=", text)

    def test_startupKeyEventReachesTheOutput(self):
        """The fingerprint of a --join room's key is in the file, not only in the log."""
        path = self.mktemp()
        with open(path, "w") as handle:
            handle.write("bot secret\n")
        output = self.mktemp()
        options = tap.Options()
        options.parseOptions(["-n", "bot", "-j", "#a", "-k", path, "-o", output, "--state-dir", self.mktemp()])
        service = tap.makeService(options)
        [client] = [s for s in service if isinstance(s, HeadlessClient)]
        [sink] = [s for s in service if isinstance(s, tap.EventSink)]
        sink.startService()
        sink.stopService()
        with open(output) as handle:
            [line] = [json.loads(text) for text in handle]
        self.assertEqual(
            line, {"type": "key", "target": "#a", "layer": "fernet-ttl", "fingerprint": client.fingerprint("#a")}
        )

    def test_outputToStdoutUnderTwistd(self):
        """twistd replaces sys.stdout with a logging file that has no .buffer: write to the real one."""
        import sys

        class Real:
            buffer = io.BytesIO()

        class LoggingFile:
            pass

        self.patch(sys, "stdout", LoggingFile())
        self.patch(sys, "__stdout__", Real())
        client = HeadlessClient(None, FakeEndpoint(), "bot")
        sink = tap.EventSink(client, "-")
        sink.startService()
        client._emit(ev.Notice("hello"))
        sink.stopService()
        self.assertEqual(json.loads(Real.buffer.getvalue()), {"type": "notice", "text": "hello", "source": None})

    def test_lastEventsReachTheOutput(self):
        """The sink closes the file only once the client has stopped and said it was disconnected."""
        output = self.mktemp()
        client = FakeClient()
        top = tap.BotService()
        tap.EventSink(client, output).setServiceParent(top)
        client.setServiceParent(top)
        top.startService()
        stopped = top.stopService()
        self.assertNoResult(stopped)
        client.emit(ev.Disconnected("closed", False))
        client.stopping.callback(None)
        self.successResultOf(stopped)
        with open(output) as handle:
            self.assertEqual([json.loads(text)["type"] for text in handle], ["disconnected"])

    def test_pluginIsListed(self):
        from twisted.application.service import IServiceMaker
        from twisted.plugin import getPlugins

        names = [plugin.tapname for plugin in getPlugins(IServiceMaker)]
        self.assertIn("securechat-client", names)
