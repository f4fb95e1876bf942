"""
C{securechat proxy} on the command line: what cannot start is one sentence
on stderr, said by the command line (L{securechat.cli.main}) and never by
the proxy's library code, with a usage or failure status.
"""

from __future__ import annotations

import io
import os
import sys
from contextlib import redirect_stderr

from twisted.internet import defer, endpoints, reactor
from twisted.internet.protocol import Factory, Protocol
from twisted.trial.unittest import SynchronousTestCase, TestCase

from securechat import cli
from securechat.cannotstart import CannotStart
from securechat.proxy import service

from .test_mitm_cli import PROCESS_TIMEOUT, ROOT, _Child


class UsageTests(SynchronousTestCase):
    def main(self, argv: list) -> tuple:
        stderr = io.StringIO()
        with redirect_stderr(stderr):
            status = cli.main(argv)
        return status, stderr.getvalue()

    def test_badOptionIsAUsageError(self) -> None:
        self.assertRaises(CannotStart, service.main, ["--no-such-option"])
        status, said = self.main(["proxy", "--no-such-option"])
        self.assertEqual(status, cli.EXIT_USAGE)
        self.assertTrue(said.startswith("securechat: proxy: "), said)
        self.assertIn("no-such-option", said)
        self.assertIn("securechat proxy --help", said)

    def test_unusableStateDirectory(self) -> None:
        path = self.mktemp()
        open(path, "w").close()
        status, said = self.main(["proxy", "--state-dir", path, "--server", "tcp:127.0.0.1:1"])
        self.assertEqual(status, cli.EXIT_USAGE)
        self.assertTrue(said.startswith("securechat: proxy: --state-dir: "), said)
        self.assertIn(path, said)


class ProcessTests(TestCase):
    timeout = PROCESS_TIMEOUT

    @defer.inlineCallbacks
    def test_cannotListen(self):
        """A taken port: one sentence, status 1, no traceback."""
        busy = yield endpoints.serverFromString(reactor, "tcp:0:interface=127.0.0.1").listen(
            Factory.forProtocol(Protocol)
        )
        self.addCleanup(busy.stopListening)
        child = _Child()
        argv = [
            sys.executable, "-m", "securechat", "proxy",
            "--listen", "tcp:%d:interface=127.0.0.1" % (busy.getHost().port,),
            "--server", "tcp:127.0.0.1:1", "--state-dir", os.path.abspath(self.mktemp()),
        ]
        reactor.spawnProcess(child, sys.executable, argv, env=dict(os.environ), path=ROOT)
        code = yield child.ended
        self.assertEqual(code, 1)
        self.assertIn(b"securechat: proxy: cannot listen on", child.err)
        self.assertNotIn(b"Traceback", child.err)
