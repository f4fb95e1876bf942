"""Tests for L{securechat.keepalive}: the one keepalive of the relay and the client."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from securechat.keepalive import DEAD, PING, WAIT
from securechat.keepalive import KeepaliveState as Keepalive


class KeepaliveTests(SynchronousTestCase):
    def test_busyPeerIsNotPinged(self) -> None:
        """Heard within the interval: wait out the rest of it."""
        keepalive = Keepalive(120.0, 60.0, 0.0)
        keepalive.heard(100.0)
        self.assertEqual(keepalive.check(120.0), (WAIT, 100.0))

    def test_silentPeerIsPingedThenDead(self) -> None:
        """Silent for the interval: ping; silent for the timeout after it: dead."""
        keepalive = Keepalive(120.0, 60.0, 0.0)
        self.assertEqual(keepalive.check(120.0), (PING, 60.0))
        self.assertEqual(keepalive.check(150.0), (WAIT, 30.0))
        self.assertEqual(keepalive.check(180.0)[0], DEAD)

    def test_answerAfterPing(self) -> None:
        """Anything heard after the ping answers it: the interval starts from then."""
        keepalive = Keepalive(120.0, 60.0, 0.0)
        keepalive.check(120.0)
        keepalive.heard(130.0)
        self.assertEqual(keepalive.check(180.0), (WAIT, 70.0))
        self.assertIsNone(keepalive.pingedAt)

    def test_notListening(self) -> None:
        """While we do not read, silence proves nothing: a pending ping is forgotten."""
        keepalive = Keepalive(120.0, 60.0, 0.0)
        keepalive.check(120.0)
        self.assertEqual(keepalive.check(500.0, listening=False), (WAIT, 120.0))
        self.assertEqual((keepalive.pingedAt, keepalive.lastHeard), (None, 500.0))
        self.assertEqual(keepalive.check(620.0), (PING, 60.0))
