"""
The upkeep every face's session runs with: the expiry loop ticks on the
reactor's clock while started, never after; derivations go through the
one key worker.
"""

from __future__ import annotations

from typing import List

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from securechat.client.adapters.upkeep import EXPIRE_INTERVAL, SessionUpkeep
from securechat.client.core.session import ClientSession


class UpkeepTests(SynchronousTestCase):
    def test_expiryTicksWhileStarted(self) -> None:
        clock = Clock()
        session = ClientSession("alice", lambda event: None)
        ticks: List[float] = []
        session.expire = lambda: ticks.append(clock.seconds())  # type: ignore[method-assign]
        upkeep = SessionUpkeep(clock, session)
        clock.advance(EXPIRE_INTERVAL * 2)
        self.assertEqual(ticks, [])
        upkeep.start()
        clock.advance(EXPIRE_INTERVAL)
        clock.advance(EXPIRE_INTERVAL)
        self.assertEqual(ticks, [EXPIRE_INTERVAL * 3, EXPIRE_INTERVAL * 4])
        upkeep.stop()
        upkeep.stop()  # twice is harmless: a service may stop after a failed start
        clock.advance(EXPIRE_INTERVAL * 3)
        self.assertEqual(len(ticks), 2)

    def test_theProxyAndTheHeadlessClientShareIt(self) -> None:
        """Both faces' services hold a SessionUpkeep for their session."""
        from securechat.client.adapters.headless import HeadlessClient
        from securechat.proxy.service import ProxyService

        clock = Clock()
        client = HeadlessClient(clock, "tcp:127.0.0.1:1", "alice")
        proxy = ProxyService(clock, "tcp:0:interface=127.0.0.1", "tcp:127.0.0.1:1")
        for holder in (client, proxy):
            self.assertIsInstance(holder.upkeep, SessionUpkeep)
            self.assertIs(holder.upkeep.session, holder.session)
