"""
Issue 14, IRC habits through the headless core and the JSON face: /me
(sealed in keyed rooms), CTCP shown and never answered, topics, WHOIS
and AWAY, against the in-process relay and a raw IRC client (as irssi).
"""

from __future__ import annotations

import json

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.task import deferLater
from twisted.trial.unittest import SynchronousTestCase

from securechat.client.core import ctcp
from securechat.client.core import events as ev
from securechat.client.core.replies import describeWhois
from securechat.client.faces.jsonlines import JsonLinesFrontend

from .test_client_jsonlines import Lines
from .test_client_support import WAIT, LoopbackCase

ROOM = "#lab"


class CtcpParsingTests(SynchronousTestCase):
    def test_parse(self):
        self.assertEqual(ctcp.split("\x01ACTION waves\x01"), ("waves", None))
        self.assertEqual(ctcp.split("\x01ACTION waves"), ("waves", None))
        self.assertEqual(ctcp.split("\x01version\x01"), (None, ctcp.Ctcp("VERSION", "")))
        self.assertEqual(ctcp.split("plain text"), (None, None))
        self.assertEqual(ctcp.split("\x01"), (None, None))
        self.assertEqual(ctcp.action("waves"), "\x01ACTION waves\x01")

    def test_incomingKeepsTheProtection(self):
        message = ev.IncomingMessage(ROOM, "bob", "\x01ACTION waves\x01", "fernet", "authenticated")
        action = ctcp.incoming(message)
        self.assertIsInstance(action, ev.Action)
        self.assertEqual((action.body, action.protection, action.kind), ("waves", "authenticated", "action"))
        request = ctcp.incoming(ev.IncomingMessage(ROOM, "bob", "\x01PING 123\x01", "plain", "none"))
        self.assertEqual(request, ev.CtcpRequest(ROOM, "bob", "PING", "plain", "none"))
        self.assertIs(ctcp.incoming(ev.IncomingMessage(ROOM, "b", "hi", "plain", "none")).__class__,
                      ev.IncomingMessage)

    def test_whoisInWords(self):
        self.assertEqual(describeWhois("311", ["me", "bob", "~b", "host", "*", "Bob B"]),
                         ("bob", "is ~b@host (Bob B)"))
        self.assertEqual(describeWhois("301", ["me", "bob", "gone fishing"]), ("bob", "is away: gone fishing"))
        self.assertEqual(describeWhois("317", ["me", "bob", "12", "1700000000", "seconds idle"])[1][:19],
                         "has been idle 12 s,")
        self.assertIsNone(describeWhois("318", ["me", "bob", "End"]))


class HabitsLoopbackTests(LoopbackCase):
    @inlineCallbacks
    def test_actionIsSealedInAKeyedRoom(self):
        """/me in a keyed room: the relay (and eve) see only +sc2 lines; bob sees an action."""
        eve = yield self.raw("eve")
        yield eve.join(ROOM)
        alice = yield self.client("alice")
        bob = yield self.client("bob")
        yield self.joined(ROOM, alice, bob)
        yield alice.setKey(ROOM, b"pw", "fernet-ttl")
        yield bob.setKey(ROOM, b"pw", "fernet-ttl")
        heard = bob.waitFor(ev.IncomingMessage, WAIT)
        alice.action(ROOM, "waves secretly")
        action = yield heard
        self.assertIsInstance(action, ev.Action)
        self.assertEqual((action.sender, action.body, action.protection),
                         ("alice", "waves secretly", "authenticated+fresh"))
        seen = yield eve.waitFor(lambda m: m.command == "PRIVMSG")
        self.assertTrue(seen.params[-1].startswith("+sc2 "))
        self.assertNotIn("ACTION", seen.params[-1])
        self.assertNotIn("secretly", " ".join(str(m.params) for m in eve.lines))

    @inlineCallbacks
    def test_ircClientsActionAndCtcpAreShownNeverAnswered(self):
        raw = yield self.raw("irssi")
        alice = yield self.client("alice")
        yield raw.join(ROOM)
        yield self.joined(ROOM, alice)
        heard = alice.waitFor(ev.IncomingMessage, WAIT)
        raw.send("PRIVMSG", ROOM, "\x01ACTION waves\x01")
        action = yield heard
        self.assertEqual((action.kind, action.body, action.protection), ("action", "waves", "none"))
        asked = alice.waitFor(ev.CtcpRequest, WAIT)
        raw.send("PRIVMSG", "alice", "\x01VERSION\x01")
        request = yield asked
        self.assertEqual((request.sender, request.command, request.direct), ("irssi", "VERSION", True))
        # A PING round trip after it: any answer would have arrived first.
        alice.session.registration.write("PRIVMSG", "irssi", "after")
        yield raw.waitFor(lambda m: m.command == "PRIVMSG" and m.params[-1] == "after")
        self.assertEqual([m for m in raw.lines if m.command in ("NOTICE", "PRIVMSG")], [])

    @inlineCallbacks
    def test_topicOnJoinAndOnChange(self):
        raw = yield self.raw("op")
        yield raw.join(ROOM)
        raw.send("TOPIC", ROOM, "the plan")
        yield raw.waitFor(lambda m: m.command == "TOPIC")
        alice = yield self.client("alice")
        onJoin = alice.waitFor(ev.Topic, WAIT)
        alice.join(ROOM)
        topic = yield onJoin
        self.assertEqual((topic.room, topic.topic, topic.change), (ROOM, "the plan", False))
        changed = alice.waitFor(ev.Topic, WAIT)
        raw.send("TOPIC", ROOM, "new plan")
        topic = yield changed
        self.assertEqual((topic.topic, topic.by, topic.change), ("new plan", "op", True))
        asked = alice.waitFor(ev.Topic, WAIT)
        alice.topic(ROOM)
        topic = yield asked
        self.assertEqual((topic.topic, topic.change), ("new plan", False))

    @inlineCallbacks
    def test_whoisAndAway(self):
        alice = yield self.client("alice")
        bob = yield self.client("bob")
        marked = bob.waitFor(lambda e: isinstance(e, ev.Notice) and "away" in e.text.lower(), WAIT)
        bob.away("gone fishing")
        yield marked
        self.assertTrue(bob.session.away)
        lines = []
        alice.listen(lambda e: lines.append(e) if isinstance(e, ev.Whois) else None)
        alice.whois("bob")
        for _ in range(int(WAIT / 0.02)):
            if any("away" in w.info for w in lines):
                break
            yield deferLater(reactor, 0.02, lambda: None)
        infos = [w.info for w in lines if w.nick == "bob"]
        self.assertIn("is away: gone fishing", infos)
        self.assertTrue(any(info.startswith("is ~securechat@") for info in infos), infos)
        back = bob.waitFor(lambda e: isinstance(e, ev.Notice) and "away" in e.text.lower(), WAIT)
        bob.away()
        yield back
        self.assertFalse(bob.session.away)

    @inlineCallbacks
    def test_jsonCommands(self):
        alice = yield self.client("alice")
        bob = yield self.client("bob")
        yield self.joined(ROOM, bob, alice)  # bob first: the operator may set the topic
        out = Lines()
        front = JsonLinesFrontend(bob, out.write)
        heard = alice.waitFor(ev.Action, WAIT)
        front.lineReceived(json.dumps({"cmd": "action", "target": ROOM, "text": "nods"}).encode())
        action = yield heard
        self.assertEqual(action.body, "nods")
        changed = alice.waitFor(ev.Topic, WAIT)
        echoed = bob.waitFor(ev.Topic, WAIT)
        front.lineReceived(json.dumps({"cmd": "topic", "room": ROOM, "text": "json topic"}).encode())
        topic = yield changed
        self.assertEqual((topic.topic, topic.by), ("json topic", "bob"))
        yield echoed  # the relay's echo to bob, which the front writes out
        self.assertEqual(out.ofType("topic")[-1]["topic"], "json topic")
        whois = bob.waitFor(ev.Whois, WAIT)
        front.lineReceived(b'{"cmd": "whois", "nick": "alice"}')
        yield whois
        front.lineReceived(b'{"cmd": "away", "text": "brb"}')
        front.lineReceived(b'{"cmd": "action", "target": "#lab", "text": "two\\nlines"}')
        self.assertIn("one line", out.ofType("error")[-1]["message"])
        self.assertEqual(out.ofType("error")[-1]["code"], "refused")
