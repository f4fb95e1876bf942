"""
The NAMES and WHO collectors on their own: what they keep, for how long,
and what they answer when the server's reply ends.
"""

from __future__ import annotations

from typing import List

from twisted.trial.unittest import SynchronousTestCase

from securechat.client.core import events as ev
from securechat.client.core.listings import MAX_ROOM_MEMBERS, NamesCollector, WhoCollector


class NamesCollectorTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.notices: List[str] = []
        self.names = NamesCollector(self.notices.append)

    def test_memberRoomWithoutNames(self) -> None:
        """
        A 366 alone for a room we are in is an empty listing; for a room we
        neither are in nor asked about it is nothing.
        """
        self.assertEqual(self.names.end("#lab", "#Lab", True), ("#Lab", []))
        self.assertIsNone(self.names.end("#other", "#other", False))

    def test_firstSpellingAndStatusPrefixes(self) -> None:
        """The room keeps the spelling of its first 353; status prefixes are not part of nicks."""
        self.names.asked("#lab")
        self.names.reply("#lab", "#Lab", "@op +voice ~owner plain", False)
        self.names.reply("#lab", "#LAB", "%half", False)
        self.assertEqual(self.names.end("#lab", "#lab", False), ("#Lab", ["op", "voice", "owner", "plain", "half"]))
        self.assertEqual(len(self.names), 0)

    def test_resetForgetsAskedAndPending(self) -> None:
        """After a reconnect, a reply for a room asked about before is not kept."""
        self.names.asked("#a")
        self.names.reply("#b", "#b", "bob", True)
        self.assertEqual(len(self.names), 2)
        self.names.reset()
        self.assertEqual(len(self.names), 0)
        self.names.reply("#a", "#a", "bob", False)
        self.assertEqual(len(self.names), 0)

    def test_boundTellsOnce(self) -> None:
        self.names.reply("#lab", "#lab", " ".join("n%d" % i for i in range(MAX_ROOM_MEMBERS + 10)), True)
        self.names.reply("#lab", "#lab", "more names", True)
        self.assertEqual(len(self.notices), 1)
        _, nicks = self.names.end("#lab", "#lab", True)  # type: ignore[misc]
        self.assertEqual(len(nicks), MAX_ROOM_MEMBERS)


class WhoCollectorTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.notices: List[str] = []
        self.who = WhoCollector(self.notices.append)

    def test_twoPendingWhos(self) -> None:
        """Each 315 answers one WHO of ours with the entries since the previous one."""
        bob = ev.WhoEntry("bob", "~b", "host", "Bob")
        eve = ev.WhoEntry("eve", "~e", "host", "Eve")
        self.who.asked()
        self.who.asked()
        self.who.reply(bob)
        self.assertEqual(self.who.end("bob"), ev.Who("bob", (bob,)))
        self.who.reply(eve)
        self.assertEqual(self.who.end("eve"), ev.Who("eve", (eve,)))
        self.who.reply(bob)
        self.assertIsNone(self.who.end("bob"))
        self.assertEqual(self.who.entries, [])

    def test_resetForgetsPending(self) -> None:
        self.who.asked()
        self.who.reply(ev.WhoEntry("bob", "~b", "host", "Bob"))
        self.who.reset()
        self.assertEqual(self.who.entries, [])
        self.assertIsNone(self.who.end("bob"))
        self.assertEqual(self.notices, [])
