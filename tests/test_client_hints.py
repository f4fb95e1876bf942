"""
Issue 23, point 4: senders who know.  A member who cannot open a message
tells its sender with a refusal hint (docs/wire.md, "Refusal hints"), in
clear since a wrong key is what it may be about, shown as unauthenticated.
A relay that forges or floods hints, a member with a wrong key, and hints
about messages we never sent, each driven by hand, as a relay would.
"""

from __future__ import annotations

import json
from typing import List

from twisted.trial.unittest import SynchronousTestCase

from securechat.client.core import events as ev
from securechat.client.core.hints import (
    DIRECT,
    MAX_ENTRIES,
    MAX_IDS,
    MAX_SENT_PER_WINDOW,
    MAX_SHOWN_PER_WINDOW,
    WINDOW,
    Hint,
    MalformedHint,
    formatHint,
    isHint,
    msgidOf,
    parseHint,
)
from securechat.client.core.session import ClientSession
from securechat.client.core.wording import hintNote, spellConsole
from securechat.codec import TEST_KDF, derive_room_keys
from securechat.wire import Message, parseLine

from .test_client_session import FakeClock

ROOM = "#lab"
ID = "A" * 22
OTHER_ID = "B" * 22


class Member:
    """One member's session, its lines to the server and its events recorded."""

    def __init__(self, nick: str, clock: FakeClock, passphrase: bytes = b"room passphrase",
                 layer: str = "fernet-ttl") -> None:
        self.nick = nick
        self.events: List[ev.Event] = []
        self.sent: List[bytes] = []
        self.session = ClientSession(nick, self.events.append, clock=clock)
        self.session.connectionMade(self.sent.append)
        self.session.lineReceived(b":irc.test 001 %s :Welcome %s!u@h" % (nick.encode(), nick.encode()))
        self.session.join(ROOM)
        self.session.lineReceived(b":%s!u@h JOIN %s" % (nick.encode(), ROOM.encode()))
        if passphrase:
            self.session.setKeys(ROOM, derive_room_keys(passphrase, ROOM, TEST_KDF), layer)
        self.sent.clear()
        self.events.clear()

    def lines(self) -> List[Message]:
        return [parseLine(line.rstrip(b"\r\n")) for line in self.sent]

    def hintsSent(self) -> List[Message]:
        return [m for m in self.lines() if m.command == "NOTICE" and isHint(m.params[1])]

    def ofType(self, kind):
        return [e for e in self.events if isinstance(e, kind)]

    def hear(self, source: str, line: Message) -> None:
        """C{line}, as the relay delivers it from C{source}."""
        text = ":%s!u@h %s %s :%s" % (source, line.command, line.params[0], line.params[1])
        self.session.lineReceived(text.encode("utf-8"))

    def say(self, body: str, target: str = ROOM) -> ev.Sent:
        self.sent.clear()
        event = self.session.sendMessage(target, body)
        assert isinstance(event, ev.Sent)
        return event


def relay(sender: Member, receiver: Member) -> None:
    """What C{sender} wrote reaches C{receiver} (and is no longer waiting)."""
    lines, sender.sent[:] = sender.lines(), []
    for line in lines:
        receiver.hear(sender.nick, line)


class WireTests(SynchronousTestCase):
    """The hint line as docs/wire.md specifies it."""

    def test_roundTrip(self) -> None:
        hint = Hint(ROOM, "expired", 12, (ID, OTHER_ID))
        text = formatHint(hint)
        self.assertEqual(text, "\x01SC-REFUSED #lab expired 12 %s,%s\x01" % (ID, OTHER_ID))
        self.assertTrue(isHint(text))
        self.assertEqual(parseHint(text), hint)
        # The closing \x01 is optional, as for any CTCP.
        self.assertEqual(parseHint(text[:-1]), hint)

    def test_theSpecificationsExample(self) -> None:
        """docs/wire.md's example is a hint this code reads, and writes back the same."""
        import os

        path = os.path.join(os.path.dirname(__file__), os.pardir, "docs", "wire.md")
        with open(path, encoding="utf-8") as f:
            text = f.read()
        after = text.split("(the hint example the test suite parses):", 1)[1]
        example = [line.strip() for line in after.splitlines() if line.strip()][0].replace("\\x01", "\x01")
        hint = parseHint(example)
        self.assertEqual((hint.conversation, hint.reason, hint.count, len(hint.msgids)), (ROOM, "expired", 3, 2))
        self.assertEqual(formatHint(hint), example)

    def test_malformedIsRefused(self) -> None:
        for text in (
            "\x01SC-REFUSED\x01",
            "\x01SC-REFUSED #lab expired 1\x01",
            "\x01SC-REFUSED #lab replayed 1 %s\x01" % (ID,),  # the relay's doing: never a hint
            "\x01SC-REFUSED #lab expired 0 %s\x01" % (ID,),
            "\x01SC-REFUSED #lab expired 1000000 %s\x01" % (ID,),
            "\x01SC-REFUSED #lab expired -1 %s\x01" % (ID,),
            "\x01SC-REFUSED #lab expired 1 %s\x01" % (",".join([ID] * (MAX_IDS + 1)),),
            "\x01SC-REFUSED #lab expired 1 %s\x01" % ("A" * 21,),
            "\x01SC-REFUSED #lab expired 1 %s\x01" % ("A" * 21 + "=",),
            "\x01SC-REFUSED #lab expired 1 %s extra\x01" % (ID,),
            "\x01SC-REFUSED #lab expired 1 %s%s\x01" % (ID, " " * 400),
        ):
            self.assertTrue(isHint(text), text)
            self.assertRaises(MalformedHint, parseHint, text)

    def test_notAHint(self) -> None:
        for text in ("hello", "\x01VERSION\x01", "\x01SC-REFUSEDX #lab\x01", "+sc2 fernet-ttl " + ID + " 1/1 x"):
            self.assertFalse(isHint(text), text)

    def test_msgidOfAHeader(self) -> None:
        self.assertEqual(msgidOf("+sc2 fernet-ttl %s 1/1 gAAAA" % (ID,)), ID)
        self.assertIsNone(msgidOf("+sc2 fernet-ttl short 1/1 gAAAA"))
        self.assertIsNone(msgidOf("hello %s" % (ID,)))


class SenderLearnsTests(SynchronousTestCase):
    """bob's passphrase is wrong: alice learns that bob could not read her, and why."""

    def setUp(self) -> None:
        self.clock = FakeClock()
        self.alice = Member("alice", self.clock)
        self.bob = Member("bob", self.clock, passphrase=b"a wrong passphrase")

    def test_wrongKeyHintReachesTheSender(self) -> None:
        sent = self.alice.say("meet at noon")
        self.assertEqual(sent.msgid, msgidOf(self.alice.lines()[0].params[1]))
        relay(self.alice, self.bob)
        [refused] = self.bob.ofType(ev.RejectedMessage)
        self.assertEqual(refused.reason, "tampered")
        [hint] = self.bob.hintsSent()
        self.assertEqual(hint.params[0], "alice")
        self.assertEqual(parseHint(hint.params[1]), Hint(ROOM, "tampered", 1, (sent.msgid,)))
        relay(self.bob, self.alice)
        [said] = self.alice.ofType(ev.RefusalHint)
        self.assertEqual(said, ev.RefusalHint(ROOM, "bob", "tampered", 1, (sent.msgid,), ("meet at noon",)))
        note = hintNote(said, spellConsole)
        self.assertIn("bob's client says it could not open your message 'meet at noon' in #lab", note)
        self.assertIn("compare /fingerprint #lab with them", note)
        self.assertIn("UNAUTHENTICATED: the relay could forge or hide this", note)
        # Never answered: alice writes nothing back.
        self.assertEqual(self.alice.sent, [])

    def test_expiredHintNamesTheMessage(self) -> None:
        """bob's key is right; the relay held alice's message past its TTL."""
        bob = Member("bob", self.clock)
        sent = self.alice.say("late news")
        self.clock.now += 3600
        relay(self.alice, bob)
        [hint] = bob.hintsSent()
        self.assertEqual(parseHint(hint.params[1]), Hint(ROOM, "expired", 1, (sent.msgid,)))
        relay(bob, self.alice)
        [said] = self.alice.ofType(ev.RefusalHint)
        self.assertEqual((said.reason, said.bodies), ("expired", ("late news",)))
        self.assertIn("check your clock; or the relay held it back", hintNote(said, spellConsole))

    def test_directMessage(self) -> None:
        for member, peer in ((self.alice, "bob"), (self.bob, "alice")):
            passphrase = b"ours" if member is self.alice else b"not ours"
            keys = derive_room_keys(passphrase, member.session.codecTarget(peer), TEST_KDF)
            member.session.setKeys(peer, keys, "fernet-ttl")
        sent = self.alice.say("just for you", "bob")
        relay(self.alice, self.bob)
        [hint] = self.bob.hintsSent()
        self.assertEqual(parseHint(hint.params[1]).conversation, DIRECT)
        relay(self.bob, self.alice)
        [said] = self.alice.ofType(ev.RefusalHint)
        self.assertEqual((said.target, said.direct, said.msgids), ("bob", True, (sent.msgid,)))

    def test_oneHintPerWindowThenTheRestGrouped(self) -> None:
        msgids = []
        for n in range(30):
            msgids.append(self.alice.say("m%d" % (n,)).msgid)
            relay(self.alice, self.bob)
        [first] = self.bob.hintsSent()
        self.assertEqual(parseHint(first.params[1]).msgids, (msgids[0],))
        self.bob.sent.clear()
        self.bob.session.expire()
        self.assertEqual(self.bob.hintsSent(), [])  # the window has not passed
        self.clock.now += WINDOW
        self.bob.session.expire()
        [grouped] = self.bob.hintsSent()
        self.assertEqual(parseHint(grouped.params[1]), Hint(ROOM, "tampered", 29, tuple(msgids[-MAX_IDS:])))
        relay(self.bob, self.alice)
        [said] = self.alice.ofType(ev.RefusalHint)
        self.assertEqual((said.count, said.bodies[-1]), (29, "m29"))
        self.assertIn("29 of your messages in #lab, the last 'm29'", hintNote(said, spellConsole))
        # Said, nothing more to say.
        self.clock.now += WINDOW
        self.bob.session.expire()
        self.assertEqual(self.bob.hintsSent(), [])

    def test_wrongKeyMemberHintsAreShownAsWhatTheyAre(self) -> None:
        """
        bob, with his wrong key, writes too: alice refuses him and tells him;
        his hints about alice's messages reach her, unauthenticated.  Neither
        key blocks a hint.
        """
        bobSent = self.bob.say("can anyone read me?")
        relay(self.bob, self.alice)
        [toBob] = self.alice.hintsSent()
        self.assertEqual(toBob.params[0], "bob")
        self.alice.sent.clear()
        self.alice.say("yes, can you?")
        relay(self.alice, self.bob)
        relay(self.bob, self.alice)
        self.assertEqual([e.by for e in self.alice.ofType(ev.RefusalHint)], ["bob"])
        self.bob.hear("alice", toBob)
        [said] = self.bob.ofType(ev.RefusalHint)
        self.assertEqual((said.by, said.msgids, said.reason), ("alice", (bobSent.msgid,), "tampered"))

    def test_noHintForANotice(self) -> None:
        """A NOTICE is never answered automatically: two clients cannot loop."""
        sealed = self.alice.say("x")
        line = self.alice.lines()[0]
        self.bob.hear("alice", Message("NOTICE", (line.params[0], line.params[1])))
        self.assertEqual(len(self.bob.ofType(ev.RejectedMessage)), 1)
        self.assertEqual(self.bob.hintsSent(), [])
        self.assertIsNotNone(sealed.msgid)

    def test_noHintFromAPlainConversation(self) -> None:
        """carol has no key for #lab (she never claimed one): no hint to every sealed sender."""
        carol = Member("carol", self.clock, passphrase=b"")
        self.alice.say("sealed")
        relay(self.alice, carol)
        self.assertEqual([e.reason for e in carol.ofType(ev.RejectedMessage)], ["no-key"])
        self.assertEqual(carol.hintsSent(), [])

    def test_noHintForTheRelaysOwnDoing(self) -> None:
        """A replay is the relay's doing, not the sender's: no hint."""
        bob = Member("bob", self.clock)
        self.alice.say("once")
        lines = self.alice.lines()
        for _ in range(2):
            for line in lines:
                bob.hear("alice", line)
        self.assertEqual([e.reason for e in bob.ofType(ev.RejectedMessage)], ["replayed"])
        self.assertEqual(bob.hintsSent(), [])


class HostileRelayTests(SynchronousTestCase):
    """The relay forges, floods and points hints at what we never sent."""

    def setUp(self) -> None:
        self.clock = FakeClock()
        self.alice = Member("alice", self.clock)
        self.sent = self.alice.say("hello room")
        self.alice.sent.clear()
        self.alice.events.clear()

    def forge(self, by: str, text: str, target: str = "alice") -> None:
        self.alice.session.lineReceived((":%s!u@h NOTICE %s :%s" % (by, target, text)).encode("utf-8"))

    def test_forgedHintIsOnlyANotice(self) -> None:
        """Shown, unauthenticated; no state changes, nothing written back."""
        session = self.alice.session
        before = (session.layerFor(ROOM), session.fingerprint(ROOM), dict(session.trust._pins))
        self.forge("bob", formatHint(Hint(ROOM, "identity-changed", 1, (self.sent.msgid,))))
        [said] = self.alice.events
        self.assertIsInstance(said, ev.RefusalHint)
        self.assertIn("UNAUTHENTICATED", hintNote(said, spellConsole))
        self.assertEqual((session.layerFor(ROOM), session.fingerprint(ROOM), dict(session.trust._pins)), before)
        self.assertEqual(self.alice.sent, [])
        # And alice goes on as before.
        self.alice.say("still here")
        self.assertEqual(len(self.alice.lines()), 1)

    def test_floodIsBounded(self) -> None:
        for n in range(1000):
            self.forge("m%d" % (n % 50,), formatHint(Hint(ROOM, "tampered", 1, (self.sent.msgid,))))
        self.assertEqual(len(self.alice.ofType(ev.RefusalHint)), MAX_SHOWN_PER_WINDOW)
        self.assertEqual(self.alice.sent, [])
        # One per (peer, conversation, reason) per window, even within the total.
        self.clock.now += WINDOW
        for _ in range(5):
            self.forge("m0", formatHint(Hint(ROOM, "tampered", 1, (self.sent.msgid,))))
        self.assertEqual(len(self.alice.ofType(ev.RefusalHint)), MAX_SHOWN_PER_WINDOW + 1)

    def test_hintForAMessageNeverSentIsFlagged(self) -> None:
        self.forge("bob", formatHint(Hint(ROOM, "expired", 3, (ID, OTHER_ID))))
        [said] = self.alice.ofType(ev.RefusalHint)
        self.assertEqual((said.msgids, said.unknown), ((), 2))
        self.assertIn("naming none you sent there: ignored", hintNote(said, spellConsole))
        # One of ours, named in another room than the one it went to: not ours there.
        self.forge("carol", formatHint(Hint("#elsewhere", "expired", 1, (self.sent.msgid,))))
        self.assertEqual(self.alice.ofType(ev.RefusalHint)[-1].msgids, ())

    def test_malformedHintIsIgnored(self) -> None:
        self.forge("bob", "\x01SC-REFUSED #lab expired lots %s\x01" % (self.sent.msgid,))
        self.forge("bob", "\x01SC-REFUSED carol expired 1 %s\x01" % (self.sent.msgid,))  # not a room, not *
        self.assertEqual((self.alice.events, self.alice.sent), ([], []))

    def test_hintToARoomIsNoHint(self) -> None:
        """Only a NOTICE to our nick is a hint: one to the room is a line like any, refused there."""
        self.forge("bob", formatHint(Hint(ROOM, "expired", 1, (self.sent.msgid,))), target=ROOM)
        self.assertEqual(self.alice.ofType(ev.RefusalHint), [])
        self.assertEqual([e.reason for e in self.alice.ofType(ev.RejectedMessage)], ["unprotected"])

    def test_forgedRefusalsMakeUsSendBoundedHints(self) -> None:
        """Sealed-looking junk under 200 nicks: at most a window's budget of hints goes out."""
        wrong = Member("x", self.clock, passphrase=b"the relay has no key")
        for n in range(200):
            wrong.say("junk %d" % (n,))
            line = wrong.lines()[0].params[1]
            self.alice.session.lineReceived((":m%d!u@h PRIVMSG #lab :%s" % (n, line)).encode())
        self.assertEqual({e.reason for e in self.alice.ofType(ev.RejectedMessage)}, {"tampered"})
        total = len(self.alice.hintsSent())
        self.assertEqual(total, MAX_SENT_PER_WINDOW)
        # What waits goes out at that pace, and only what the table holds (the
        # least recently refused dropped): then nothing more.
        perWindow = []
        for _ in range(20):
            self.clock.now += WINDOW
            self.alice.sent.clear()
            self.alice.session.expire()
            perWindow.append(len(self.alice.hintsSent()))
        self.assertLessEqual(max(perWindow), MAX_SENT_PER_WINDOW)
        self.assertEqual(perWindow[-1], 0)
        self.assertLessEqual(total + sum(perWindow), MAX_SENT_PER_WINDOW + MAX_ENTRIES)


class JsonTests(SynchronousTestCase):
    def test_hintEventMatchesTheSentEvent(self) -> None:
        from securechat.client.faces.jsonlines import encodeEvent

        clock = FakeClock()
        alice, bob = Member("alice", clock), Member("bob", clock, passphrase=b"wrong")
        sent = alice.say("hi")
        relay(alice, bob)
        relay(bob, alice)
        [hint] = alice.ofType(ev.RefusalHint)
        out = json.loads(encodeEvent(hint))
        self.assertEqual(out["type"], "refusal-hint")
        self.assertEqual(out["msgids"], [json.loads(encodeEvent(sent))["msgid"]])
        self.assertEqual((out["by"], out["reason"], out["count"], out["unknown"]), ("bob", "tampered", 1, 0))


class ConsoleTests(SynchronousTestCase):
    def test_echoMarkedAndHintSaid(self) -> None:
        from securechat.client.faces.commands import Console

        from .test_client_console import Recorder, offlineClient

        screen = Recorder()
        console = Console(offlineClient(), screen.show, screen.ask, screen.quits.append, current="#lab")
        console.event(ev.Sent(ROOM, "see you at noon", "fernet-ttl", 1, ID))
        console.event(ev.Sent(ROOM, "another", "fernet-ttl", 1, OTHER_ID))
        console.event(ev.RefusalHint(ROOM, "bob", "expired", 1, (ID,), ("see you at noon",)))
        window = console.windows.find(ROOM)
        assert window is not None
        texts = [line.text for line in window.lines]
        echo = [t for t in texts if "see you at noon" in t and "<" in t]
        self.assertEqual(len(echo), 1, texts)
        self.assertTrue(echo[0].endswith("[not read by bob: expired (unauthenticated)]"), echo)
        # Only the message the hint names is marked.
        self.assertFalse(any("not read" in t for t in texts if "another" in t), texts)
        self.assertIn("bob's client says it could not open your message 'see you at noon' in #lab", texts[-1])
        self.assertIn("UNAUTHENTICATED", texts[-1])


class ProxyTests(SynchronousTestCase):
    """Two proxies, bob's with a wrong passphrase: alice's IRC client is told, by *securechat."""

    def test_hintThroughTwoProxies(self) -> None:
        from securechat.proxy.core import PSEUDO_SOURCE

        from .test_proxy_core import Side
        from .test_proxy_core import relay as proxyRelay

        alice, bob = Side("alice"), Side("bob")
        for side, passphrase in ((alice, "the right one"), (bob, "a wrong one")):
            side.register()
            side.key(passphrase=passphrase)
            side.up.clear()
            side.down.clear()
        alice.client("PRIVMSG #lab :can you read this?")
        proxyRelay(alice, bob)
        hints = [m for m in bob.upMessages() if m.command == "NOTICE"]
        self.assertEqual([m.params[0] for m in hints], ["alice"])
        self.assertTrue(isHint(hints[0].params[1]))
        alice.down.clear()
        proxyRelay(bob, alice, [line for line in bob.up if b"NOTICE" in line])
        notices = [m for m in alice.downMessages() if m.command == "NOTICE"]
        # Said by *securechat in #lab's window; the raw hint never reaches the IRC client.
        self.assertEqual([(m.source, m.params[0]) for m in notices], [(PSEUDO_SOURCE, ROOM)])
        self.assertIn("bob's client says it could not open your message 'can you read this?' in #lab: "
                      "tampered or wrong key", notices[0].params[1])
        self.assertIn("compare /msg *securechat fingerprint #lab with them", notices[0].params[1])
        self.assertIn("UNAUTHENTICATED", notices[0].params[1])
        self.assertFalse(any(b"SC-REFUSED" in line for line in alice.down))


class ChunkedTests(SynchronousTestCase):
    def test_aChunkedMessageIsNamedOnce(self) -> None:
        """A message of several lines is refused once, on its last chunk: one hint, its msgid."""
        clock = FakeClock()
        alice, bob = Member("alice", clock), Member("bob", clock, passphrase=b"wrong")
        sent = alice.say("long " * 300)
        self.assertGreater(sent.lines, 1)
        relay(alice, bob)
        self.assertEqual(len(bob.ofType(ev.RejectedMessage)), 1)
        [hint] = bob.hintsSent()
        self.assertEqual(parseHint(hint.params[1]).msgids, (sent.msgid,))


class ProxyForgedTests(SynchronousTestCase):
    def test_forgedHintIsOnlyASecurechatNotice(self) -> None:
        from securechat.proxy.core import PSEUDO_SOURCE

        from .test_proxy_core import Side

        alice = Side("alice")
        alice.register()
        alice.key(passphrase="pw")
        alice.client("PRIVMSG #lab :hello")
        alice.up.clear()
        alice.down.clear()
        for n in range(50):
            alice.server(":bob!u@h NOTICE alice :" + formatHint(Hint(ROOM, "expired", 1, (ID,))))
            alice.server(":m%d!u@h NOTICE alice :\x01SC-REFUSED junk" % (n,))
        messages = alice.downMessages()
        self.assertEqual([m.source for m in messages], [PSEUDO_SOURCE])
        self.assertIn("naming none you sent there: ignored", messages[0].params[1])
        self.assertIn("UNAUTHENTICATED", messages[0].params[1])
        self.assertEqual(alice.up, [])
