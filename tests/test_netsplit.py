"""
Tests for L{securechat.netsplit} and how the client shows a netsplit
(issue 25, point 5): the QUIT reason of two server names is a split, said
so in the console and carried by the JSON C{quit} event.
"""

from __future__ import annotations

import json

from twisted.trial.unittest import SynchronousTestCase

from securechat.client.core import events as ev
from securechat.client.faces.commands import formatEvent
from securechat.netsplit import isHostLike, netsplitServers

from .test_client_session import SessionCase


class NetsplitServersTests(SynchronousTestCase):
    def test_twoServerNames(self) -> None:
        self.assertEqual(netsplitServers("a.test b.test"), ("a.test", "b.test"))
        self.assertEqual(
            netsplitServers("irc.eu.example.net hub-2.example.org"),
            ("irc.eu.example.net", "hub-2.example.org"),
        )
        # Networks that hide their servers' names.
        self.assertEqual(netsplitServers("*.net *.split"), ("*.net", "*.split"))

    def test_otherReasons(self) -> None:
        for reason in (
            "",
            "a.test",
            "Quit: a.test b.test",  # a user's own reason, prefixed by the server
            "a.test  b.test",  # two spaces
            " a.test b.test",
            "a.test b.test ",
            "a.test b.test c.test",
            "a.test\tb.test",
            "a.test a.test",  # the same server twice
            "A.test a.TEST",
            "Ping timeout: 120 seconds",
            "localhost b.test",  # no dot: not a server's name here
            "a..test b.test",
            "-a.test b.test",
            "a-.test b.test",
            "a_b.test c.test",
            "a.test b.test\u200b",
            "a.*.test b.test",
            "1.2.3.4 b.test:6667",
            "%s.test b.test" % ("x" * 64,),  # a label over 63 characters
        ):
            self.assertIsNone(netsplitServers(reason), reason)

    def test_hostLength(self) -> None:
        name = ".".join(["x" * 60] * 4) + ".t"  # 4 * 61 + 1 = 245 characters
        self.assertTrue(isHostLike(name))
        self.assertTrue(isHostLike(name + "est.tes"))  # 252
        self.assertFalse(isHostLike(name + "est.test.t"))  # 255: 253 is the most


class EventTests(SynchronousTestCase):
    def test_quitEventCarriesTheSplit(self) -> None:
        split = ev.UserQuit("bob", "a.test b.test", ("#lab",))
        self.assertEqual(split.netsplit, ("a.test", "b.test"))
        self.assertEqual(
            json.loads(json.dumps(split.asDict())),
            {"type": "quit", "nick": "bob", "reason": "a.test b.test", "rooms": ["#lab"],
             "netsplit": ["a.test", "b.test"]},
        )
        plain = ev.UserQuit("bob", "Quit: a.test b.test", ("#lab",))
        self.assertEqual(plain.asDict()["netsplit"], [])

    def test_consoleSaysNetsplit(self) -> None:
        [(text, _)] = formatEvent(ev.UserQuit("bob", "a.test b.test", ("#lab",)), "12:00")
        self.assertEqual(text, "12:00 -- bob left in a netsplit (a.test b.test)")
        [(text, _)] = formatEvent(ev.UserQuit("bob", "Quit: bye", ("#lab",)), "12:00")
        self.assertEqual(text, "12:00 -- bob quit (Quit: bye)")


class SessionTests(SessionCase):
    def test_serverQuitLine(self) -> None:
        """A QUIT from the server with the two names becomes a split quit event."""
        self.register()
        self.joinRoom()
        self.feed(":bob!~b@h JOIN #lab")
        self.feed(":bob!~b@h QUIT :irc.a.test irc.b.test")
        [quit] = self.ofType(ev.UserQuit)
        self.assertEqual((quit.nick, quit.rooms, quit.netsplit), ("bob", ("#lab",), ("irc.a.test", "irc.b.test")))
