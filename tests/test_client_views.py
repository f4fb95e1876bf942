"""
Views that agree, in the client (issue 23, point 3): the core turns what
members' signed digests say into events, and the faces render them: the
console and the proxy say what was withheld, the JSON lines carry the
events, and a sender learns who received its messages.
"""

from __future__ import annotations

import json
from typing import List

from twisted.trial.unittest import SynchronousTestCase

from securechat.client.core import events as ev
from securechat.client.faces.commands import formatEvent
from securechat.client.faces.jsonlines import encodeEvent
from securechat.client.faces.routing import Router
from securechat.client.faces.windows import HIGHLIGHTED, QUIET, WindowList
from securechat.client.faces.windows import ROOM as ROOM_KIND
from securechat.codec.views import NOT_REACHED_GRACE

from .test_client_layers import ROOM, Member
from .test_client_session import FakeClock
from .test_proxy_core import Side, relay


def joinAll(members: List[Member]) -> None:
    """Every member's session learns the others joined (its room roster)."""
    for member in members:
        for other in members:
            if other is not member:
                line = ":%s!~%s@h JOIN %s" % (other.nick, other.nick, ROOM)
                member.session.lineReceived(line.encode())


class CoreEventTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = FakeClock()
        self.alice, self.bob, self.carol = (Member(nick, self.clock, "signed") for nick in ("alice", "bob", "carol"))
        joinAll([self.alice, self.bob, self.carol])

    def of(self, member: Member, kind: type) -> List[ev.Event]:
        return [e for e in member.events if isinstance(e, kind)]

    def test_withheldFromOneIsSaidToThatOne(self) -> None:
        self.bob.session.sendMessage(ROOM, "for alice only")
        self.alice.hear(self.bob)  # the relay never gives carol bob's line
        self.alice.session.sendMessage(ROOM, "did you see bob's?")
        sent = list(self.alice.sent)
        self.carol.hear(self.alice)
        [differs] = self.of(self.carol, ev.ViewDiffers)
        self.assertEqual(differs, ev.ViewDiffers(ROOM, "alice", "bob", "withheld", 1, 1))
        [(shown, _style)] = formatEvent(differs, "12:00")
        # carol never heard bob: "before you joined" is as possible as the relay.
        self.assertEqual(
            shown,
            "12:00 #lab alice has seen bob's #1, and you none of bob's messages: "
            "the relay withheld them from you, or they were said before you joined",
        )
        self.assertEqual(
            json.loads(encodeEvent(differs)),
            {"type": "view", "target": ROOM, "reporter": "alice", "member": "bob", "finding": "withheld",
             "first": 1, "last": 1},
        )
        # bob, who sent it, learns from alice's digest that she received it.
        self.alice.sent.extend(sent)
        self.bob.hear(self.alice)
        [seen] = self.of(self.bob, ev.SeenBy)
        self.assertEqual(seen, ev.SeenBy(ROOM, "alice", 1, 1, ("alice",)))
        [(shown, _style)] = formatEvent(seen, "12:00")
        self.assertEqual(shown, "12:00 #lab your #1 seen by alice")

    def test_whatWasSaidWhileWeWereAwayIsNotWithheld(self) -> None:
        """
        carol leaves #lab and comes back: bob's #2-3, said while she was
        out, never reached her, and no relay withheld them; alice's view
        naming them is no alarm.  What is withheld after she is back is.
        """
        self.bob.session.sendMessage(ROOM, "one")
        one = list(self.bob.sent)
        self.alice.hear(self.bob)
        self.bob.sent.extend(one)
        self.carol.hear(self.bob)
        self.carol.session.lineReceived(b":carol!~carol@h PART #lab")
        for body in ("two", "three"):
            self.bob.session.sendMessage(ROOM, body)
            self.alice.hear(self.bob)
        self.carol.session.join(ROOM)
        self.carol.session.lineReceived(b":carol!~carol@h JOIN #lab")
        self.alice.session.sendMessage(ROOM, "welcome back")
        self.carol.hear(self.alice)
        self.assertEqual(self.of(self.carol, ev.ViewDiffers), [])
        self.bob.session.sendMessage(ROOM, "four")  # the relay keeps it from carol
        self.alice.hear(self.bob)
        self.alice.session.sendMessage(ROOM, "did you see four?")
        self.carol.hear(self.alice)
        self.assertEqual(self.of(self.carol, ev.ViewDiffers), [ev.ViewDiffers(ROOM, "alice", "bob", "withheld", 4, 4)])

    def test_whatWeSaidWhileAMemberWasAwayIsNotNotReached(self) -> None:
        """
        alice leaves #lab and comes back: carol's #2-3, said while alice was
        out, never reached her, and no relay withheld them; alice's view
        (still at carol's #1) says nothing to carol.  What the relay keeps
        from alice after she is back is said.
        """
        self.carol.session.sendMessage(ROOM, "one")
        self.alice.hear(self.carol)
        for member in (self.bob, self.carol):
            member.session.lineReceived(b":alice!~alice@h PART #lab")
        for body in ("two", "three"):
            self.carol.session.sendMessage(ROOM, body)
            self.bob.hear(self.carol)
        for member in (self.bob, self.carol):
            member.session.lineReceived(b":alice!~alice@h JOIN #lab")
        self.clock.now += NOT_REACHED_GRACE
        self.alice.session.sendMessage(ROOM, "back")
        self.carol.hear(self.alice)
        self.assertEqual(self.of(self.carol, ev.ViewDiffers), [])
        self.carol.session.sendMessage(ROOM, "four")  # the relay keeps it from alice
        self.carol.sent.clear()
        self.clock.now += NOT_REACHED_GRACE
        self.alice.session.sendMessage(ROOM, "anyone?")
        self.carol.hear(self.alice)
        self.assertEqual(
            self.of(self.carol, ev.ViewDiffers), [ev.ViewDiffers(ROOM, "alice", "alice", "not-reached", 4, 4)]
        )

    def test_withheldAfterWhatWeHoldBlamesTheRelay(self) -> None:
        """carol has bob's #1: his #2, which alice has, can only have been withheld."""
        event = ev.ViewDiffers(ROOM, "alice", "bob", "withheld", 2, 3)
        self.assertEqual(
            formatEvent(event, "12:00")[0][0],
            "12:00 #lab alice has seen bob's #2-3, which never reached you: the relay withheld them",
        )

    def test_seenByEveryone(self) -> None:
        self.bob.session.sendMessage(ROOM, "hello")
        hello = list(self.bob.sent)
        self.alice.hear(self.bob)
        self.bob.sent.extend(hello)
        self.carol.hear(self.bob)
        self.alice.session.sendMessage(ROOM, "hi bob")
        self.bob.hear(self.alice)
        self.carol.session.sendMessage(ROOM, "hi bob")
        self.bob.hear(self.carol)
        seen = self.of(self.bob, ev.SeenBy)
        self.assertEqual(seen[-1], ev.SeenBy(ROOM, "carol", 1, 1, ("alice", "carol")))
        self.assertEqual(formatEvent(seen[-1], "12:00")[0][0], "12:00 #lab your #1 seen by carol (#1: alice, carol)")
        self.assertEqual(self.of(self.bob, ev.ViewDiffers), [])


class ProxyTests(SynchronousTestCase):
    def test_proxySaysWhatWasWithheld(self) -> None:
        alice, bob, carol = Side("alice"), Side("bob"), Side("carol")
        for side in (alice, bob, carol):
            side.register()
            side.key(layer="signed")
            for other in (alice, bob, carol):
                if other is not side:
                    side.server(":%s!u@h JOIN %s" % (other.nick, ROOM))
            side.up.clear()
            side.down.clear()
        bob.client("PRIVMSG %s :for alice only" % (ROOM,))
        relay(bob, alice)
        alice.client("PRIVMSG %s :seen it" % (ROOM,))
        relay(alice, carol)
        self.assertIn(
            "in #lab: alice has seen bob's #1, and you none of bob's messages: "
            "the relay withheld them from you, or they were said before you joined",
            carol.notices(),
        )


class RoutingTests(SynchronousTestCase):
    """In the console, what differs is an alert in the room; who saw what goes to the status window."""

    def test_whereTheyGo(self) -> None:
        member = Member("bob", FakeClock(), "signed")
        windows = WindowList(member.session.fold)
        room = windows.open(ROOM, ROOM_KIND)
        router = Router(windows, member.session)
        differs = ev.ViewDiffers(ROOM, "alice", "carol", "withheld", 1, 2)
        seen = ev.SeenBy(ROOM, "alice", 1, 1, ("alice",))
        self.assertEqual(router.route(differs), [room])
        self.assertEqual(router.level(differs), HIGHLIGHTED)
        self.assertEqual(router.route(seen), [windows.status])
        self.assertEqual(router.level(seen), QUIET)
