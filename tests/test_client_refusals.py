"""
Issue 23, point 4 (as far as it goes): refusals grouped.  A wrong
passphrase or an identity change refuses every message of a member: the
first is shown whole, the rest said as one line now and then, and before
that member's next accepted message.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from securechat.client.core import events as ev
from securechat.client.core.identities import KEPT_MARK, signedMark
from securechat.client.core.refusals import MAX_GROUPS, QUIET, SAY_AFTER, SHOW, Grouped, RefusalGroups
from securechat.client.core.rules import MAX_HELD_PER_SENDER
from securechat.client.core.session import ClientSession
from securechat.client.core.wording import groupedNote, spellConsole
from securechat.client.faces.commands import Console
from securechat.codec import TEST_KDF, Conversation, Identity, derive_room_keys

from .test_client_console import Recorder, offlineClient
from .test_client_session import FakeClock


def refused(sender="bob", reason="tampered", target="#lab"):
    return ev.RejectedMessage(target, sender, "fernet-ttl", reason, "tampered or wrong key", False)


class GroupTests(SynchronousTestCase):
    def setUp(self):
        self.groups = RefusalGroups(str.lower)

    def test_firstShownThenGrouped(self):
        said = []
        decisions = []
        for _n in range(25):
            decision, groups = self.groups.refused(refused())
            decisions.append(decision)
            said.extend(groups)
        self.assertEqual(decisions, [SHOW] + [QUIET] * 24)
        self.assertEqual(said, [Grouped("#lab", "bob", "tampered", 9)])
        self.assertEqual(self.groups.accepted("#LAB", "Bob"), [Grouped("#LAB", "Bob", "tampered", 15)])
        self.assertEqual(self.groups.accepted("#lab", "bob"), [])

    def test_eachReasonAndSenderItsOwnGroup(self):
        self.assertEqual(self.groups.refused(refused())[0], SHOW)
        self.assertEqual(self.groups.refused(refused(reason="expired"))[0], SHOW)
        self.assertEqual(self.groups.refused(refused(sender="carol"))[0], SHOW)
        self.assertEqual(self.groups.refused(refused(target="#other"))[0], SHOW)
        self.assertEqual(self.groups.refused(refused())[0], QUIET)

    def test_bounded(self):
        for n in range(MAX_GROUPS + 10):
            self.groups.refused(refused(sender="m%d" % (n,)))
        self.assertEqual(len(self.groups._groups), MAX_GROUPS)
        # The oldest was dropped: its next refusal is shown whole again, not lost.
        self.assertEqual(self.groups.refused(refused(sender="m0"))[0], SHOW)

    def test_aFewRefusalsAreSaidWhenTheyWaited(self):
        """
        bob's wrong passphrase, three messages, then silence: the two after
        the first are said once they waited L{SAY_AFTER}, never lost for
        want of a tenth refusal or an accepted message.
        """
        clock = FakeClock()
        groups = RefusalGroups(str.lower, clock=clock)
        for _n in range(3):
            groups.refused(refused())
        clock.now += SAY_AFTER - 1
        self.assertEqual(groups.due(), [])
        clock.now += 1
        self.assertEqual(groups.due(), [Grouped("#lab", "bob", "tampered", 2)])
        self.assertEqual(groups.due(), [])
        self.assertEqual(groups.accepted("#lab", "bob"), [])

    def test_droppedGroupSaysWhatItCounted(self):
        """A relay inventing senders pushes bob's group out: what it counted is said then, not lost."""
        groups = RefusalGroups(str.lower, limit=2)
        groups.refused(refused())
        groups.refused(refused())
        groups.refused(refused(sender="m1"))
        self.assertEqual(groups.refused(refused(sender="m2")), (SHOW, [Grouped("#lab", "bob", "tampered", 1)]))

    def test_wording(self):
        self.assertEqual(
            groupedNote("#lab", "bob", "tampered", 12, spellConsole),
            "12 more claimed from bob in #lab refused: tampered or wrong key; a wrong passphrase looks the same: "
            "compare /fingerprint #lab with the others",
        )
        self.assertIn("ask bob why, then /trust bob", groupedNote("#lab", "bob", "identity-changed", 3, spellConsole))


def wrongKeyLines(count, passphrase=b"not the room's passphrase"):
    """C{count} lines bob sealed for #lab under another passphrase: tampered or wrong key, each."""
    clock = FakeClock()
    bob = Conversation("#lab", "fernet-ttl", derive_room_keys(passphrase, "#lab", TEST_KDF), clock=clock)
    return [(":bob!~b@h PRIVMSG #lab :" + bob.encode("bob", "m%d" % (n,), 400)[0]).encode() for n in range(count)]


def keyedIn(session):
    """C{session} registered as alice, in #lab keyed on fernet-ttl."""
    session.connectionMade(lambda line: None)
    session.lineReceived(b":s 001 alice :Welcome alice!~a@h")
    session.join("#lab")
    session.lineReceived(b":alice!~a@h JOIN #lab")
    keys = derive_room_keys(b"pw", "#lab", TEST_KDF)
    session.setKeys("#lab", keys, "fernet-ttl")
    return Conversation("#lab", "fernet-ttl", keys, clock=session.keyring.clock)


class CoreDecidesTests(SynchronousTestCase):
    """The session groups, once: the events every face renders."""

    def test_groupedInTheSessionsEvents(self):
        events = []
        session = ClientSession("alice", events.append, clock=FakeClock())
        good = keyedIn(session)
        for line in wrongKeyLines(25):
            session.lineReceived(line)
        session.lineReceived((":bob!~b@h PRIVMSG #lab :" + good.encode("bob", "fixed", 400)[0]).encode())
        rejected = [e for e in events if isinstance(e, ev.RejectedMessage)]
        self.assertEqual([e.grouped for e in rejected], [False] + [True] * 24)
        groups = [e for e in events if isinstance(e, ev.RefusalsGrouped)]
        self.assertEqual(
            [(g.sender, g.reason, g.count) for g in groups], [("bob", "tampered", 9), ("bob", "tampered", 15)]
        )
        # The last group is said before bob's accepted message, not after it.
        self.assertIs(events[-2], groups[-1])
        self.assertEqual(events[-1].body, "fixed")


    def test_refusalsWithNoFollowUpAreSaidByTheUpkeep(self):
        clock = FakeClock()
        events = []
        session = ClientSession("alice", events.append, clock=clock)
        keyedIn(session)
        for line in wrongKeyLines(3):
            session.lineReceived(line)
        clock.now += SAY_AFTER
        session.expire()
        groups = [e for e in events if isinstance(e, ev.RefusalsGrouped)]
        self.assertEqual([(g.target, g.sender, g.reason, g.count) for g in groups], [("#lab", "bob", "tampered", 2)])


class ConsoleTests(SynchronousTestCase):
    def setUp(self):
        self.client = offlineClient()
        self.screen = Recorder()
        self.console = Console(self.client, self.screen.show, self.screen.ask, self.screen.quits.append, current="#lab")
        self.client.listen(self.console.event)

    def test_twentyFiveRefusalsAreThreeLines(self):
        """
        The grouping is the session's now (it was the console's): the
        console renders its decision, the same lines as before.
        """
        good = keyedIn(self.client.session)
        for line in wrongKeyLines(25):
            self.client.session.lineReceived(line)
        self.client.session.lineReceived(
            (":bob!~b@h PRIVMSG #lab :" + good.encode("bob", "fixed my passphrase", 400)[0]).encode())
        texts = [text for text, _style in self.screen.shown]
        refusalLines = [t for t in texts if "bob" in t and "fixed" not in t]
        self.assertEqual(len(refusalLines), 3, texts)
        self.assertIn("9 more claimed from bob in #lab refused: tampered or wrong key", refusalLines[1])
        self.assertIn("15 more claimed from bob in #lab refused", refusalLines[2])
        self.assertIn("fixed my passphrase", texts[-1])


class JsonLinesTests(SynchronousTestCase):
    def test_sameGroupingAsTheConsole(self):
        """
        JSON lines is read by programs: it writes every refusal, each with
        the session's decision ("grouped"), and the same "refusals-grouped"
        lines the console shows, where the console shows them.
        """
        import json

        from securechat.client.faces.jsonlines import JsonLinesFrontend

        client = offlineClient()
        written = []
        JsonLinesFrontend(client, written.append)
        keyedIn(client.session)
        for line in wrongKeyLines(12):
            client.session.lineReceived(line)
        out = [json.loads(line) for line in written]
        refusals = [o for o in out if o["type"] in ("rejected", "refusals-grouped")]
        self.assertEqual(
            [(o["type"], o.get("grouped"), o.get("count")) for o in refusals],
            [("rejected", False, None)] + [("rejected", True, None)] * 8
            + [("refusals-grouped", None, 9)] + [("rejected", True, None)] * 3,
        )
        shown = [o for o in refusals if not o.get("grouped")]
        self.assertEqual([o["type"] for o in shown], ["rejected", "refusals-grouped"])
        self.assertEqual((shown[1]["sender"], shown[1]["reason"]), ("bob", "tampered"))


class ProxyTests(SynchronousTestCase):
    def test_sameGroupingAsTheConsole(self):
        from .test_proxy_core import Side

        bob = Side("alice")
        bob.register()
        bob.key(passphrase="pw")
        bob.down.clear()
        for line in wrongKeyLines(12):
            bob.server(line.decode())
        notices = bob.notices()
        self.assertEqual(len(notices), 2, notices)
        self.assertIn("REJECTED message claimed from bob: tampered", notices[0])
        self.assertIn("9 more claimed from bob in #lab refused: tampered or wrong key", notices[1])
        self.assertIn("compare /msg *securechat fingerprint #lab", notices[1])


class KeptUntilTrustTests(SynchronousTestCase):
    """
    Messages refused as identity-changed are kept and shown, marked, after
    /trust; a replay of one of them is refused, never shown twice.
    """

    def setUp(self):
        self.clock = FakeClock()
        self.events = []
        self.session = ClientSession("bob", self.events.append, clock=self.clock)
        self.session.connectionMade(lambda line: None)
        self.session.lineReceived(b":s 001 bob :Welcome bob!~b@h")
        self.session.join("#lab")
        self.session.lineReceived(b":bob!~b@h JOIN #lab")
        keys = derive_room_keys(b"pw", "#lab", TEST_KDF)
        self.session.setKeys("#lab", keys, "signed")
        self.old = Conversation("#lab", "signed", keys, clock=self.clock, identity=Identity.generate())
        self.new = Conversation("#lab", "signed", keys, clock=self.clock, identity=Identity.generate())

    def say(self, conversation, body):
        lines = conversation.encode("alice", body, 400)
        for text in lines:
            self.session.lineReceived((":alice!~a@h PRIVMSG #lab :" + text).encode())
        return lines

    def test_keptAndShownAfterTrust(self):
        self.say(self.old, "hello, old key")
        first = self.say(self.new, "new laptop, new key")
        self.say(self.new, "second one")
        refused = [e for e in self.events if isinstance(e, ev.RejectedMessage)]
        self.assertEqual([e.reason for e in refused], ["identity-changed"] * 2)
        self.assertEqual([e.body for e in self.events if isinstance(e, ev.IncomingMessage)], ["hello, old key"])
        self.session.trustNick("alice")
        shown = [e for e in self.events if isinstance(e, ev.IncomingMessage)][1:]
        self.assertEqual([e.body for e in shown], ["new laptop, new key", "second one"])
        self.assertEqual({e.trust for e in shown}, {KEPT_MARK})
        self.assertEqual(signedMark(shown[0]), "signed, NEW KEY: held until you /trust")
        # Held no longer: a second /trust shows nothing again; a replay is refused.
        before = len(self.events)
        for text in first:
            self.session.lineReceived((":alice!~a@h PRIVMSG #lab :" + text).encode())
        [replayed] = self.events[before:]
        self.assertEqual(replayed.reason, "replayed")

    def test_onlyTheAcceptedKeysMessagesShown(self):
        """
        Two new keys sign as alice (one of them a member posing as her):
        /trust accepts the last one refused, and only its messages are
        shown; the other key's are not shown under the accepted fingerprint.
        """
        third = Conversation("#lab", "signed", self.new.keys, clock=self.clock, identity=Identity.generate())
        self.say(self.old, "hello, old key")
        self.say(third, "send the money to X")
        self.say(self.new, "new laptop, new key")
        self.session.trustNick("alice")
        shown = [e for e in self.events if isinstance(e, ev.IncomingMessage)][1:]
        self.assertEqual([e.body for e in shown], ["new laptop, new key"])
        self.assertEqual(shown[0].signer, self.new.identity.fingerprint)

    def test_bounded(self):
        self.say(self.old, "hello")
        for n in range(MAX_HELD_PER_SENDER + 5):
            self.say(self.new, "m%d" % (n,))
        self.session.trustNick("alice")
        shown = [e for e in self.events if isinstance(e, ev.IncomingMessage) and e.trust == KEPT_MARK]
        self.assertEqual(len(shown), MAX_HELD_PER_SENDER)


class KeptUntilVerifyTests(SynchronousTestCase):
    """/verify of the new key releases its held messages too; of another key, none."""

    setUp = KeptUntilTrustTests.setUp
    say = KeptUntilTrustTests.say

    def test_verifyReleasesTheVerifiedKeysMessages(self):
        from securechat.client.core.identities import KEPT_VERIFIED_MARK

        self.say(self.old, "hello, old key")
        self.say(self.new, "new laptop, new key")
        self.session.verifyNick("alice", self.new.identity.fingerprint)
        shown = [e for e in self.events if isinstance(e, ev.IncomingMessage)][1:]
        self.assertEqual([e.body for e in shown], ["new laptop, new key"])
        self.assertEqual(shown[0].trust, KEPT_VERIFIED_MARK)
        self.assertEqual(signedMark(shown[0]), "signed, NEW KEY: held until you /verify")

    def test_verifyingTheOldKeyReleasesNothing(self):
        self.say(self.old, "hello, old key")
        self.say(self.new, "new laptop, new key")
        self.session.verifyNick("alice", self.old.identity.fingerprint)
        self.assertEqual([e.body for e in self.events if isinstance(e, ev.IncomingMessage)], ["hello, old key"])
        # Still held for the new key: /trust shows it.
        self.session.trustNick("alice")
        self.assertEqual(
            [e.body for e in self.events if isinstance(e, ev.IncomingMessage)],
            ["hello, old key", "new laptop, new key"],
        )
