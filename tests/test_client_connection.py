"""
Issue 14, connection: servers named as IRC users name them, and a client
that cannot connect says what to check and when it tries again.
"""

from __future__ import annotations

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.internet.protocol import Factory
from twisted.internet.task import deferLater

from securechat.client.adapters.headless import HeadlessClient
from securechat.client.core import events as ev
from securechat.codec import TEST_KDF

from .test_client_support import WAIT, LoopbackCase


class HostPortTests(LoopbackCase):
    @inlineCallbacks
    def test_hostPortConnects(self):
        """`127.0.0.1:PORT` was 'Unknown endpoint type'."""
        client = yield self.client("alice", "127.0.0.1:%d" % (self.portNumber,))
        self.assertTrue(client.connected)
        self.assertEqual(
            client.endpoint_description, "tcp:127.0.0.1:%d" % (self.portNumber,)
        )


class RetryTests(LoopbackCase):
    @inlineCallbacks
    def closedPort(self) -> int:
        port = yield TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(
            Factory()
        )
        number = port.getHost().port
        yield port.stopListening()
        return number

    @inlineCallbacks
    def test_firstFailureSaysWhatToCheckAndEachRetryIsAnnounced(self):
        number = yield self.closedPort()
        events = []
        client = HeadlessClient(
            reactor,
            "127.0.0.1:%d" % (number,),
            "alice",
            kdfParams=TEST_KDF,
            retryPolicy=lambda attempt: 0.05 * attempt,
        )
        client.listen(events.append)
        client.startService()
        self.addCleanup(client.quit)
        for _ in range(int(WAIT / 0.05)):
            if len([e for e in events if isinstance(e, ev.Error)]) >= 3:
                break
            yield deferLater(reactor, 0.05, lambda: None)
        errors = [e for e in events if isinstance(e, ev.Error)]
        self.assertGreaterEqual(len(errors), 3)
        self.assertEqual({e.code for e in errors}, {"connect"})
        self.assertIn(
            "nothing listens there: check that the relay is running", errors[0].message
        )
        self.assertIn("--server tcp:127.0.0.1:%d" % (number,), errors[0].message)
        # Only the first of a row: the others stay one short line.
        self.assertNotIn("check", errors[1].message)
        retries = [e for e in events if isinstance(e, ev.Retrying)]
        self.assertEqual([r.attempt for r in retries[:2]], [1, 2])
        self.assertEqual([r.delay for r in retries[:2]], [0.05, 0.1])
        now = reactor.seconds()
        self.assertTrue(now - 5 < retries[0].at <= now + 1)
        self.assertEqual(retries[0].asDict()["type"], "retry")
