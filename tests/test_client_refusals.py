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
from securechat.client.core.refusals import MAX_GROUPS, QUIET, SHOW, Grouped, RefusalGroups
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

    def test_wording(self):
        self.assertEqual(
            groupedNote("#lab", "bob", "tampered", 12, spellConsole),
            "12 more from bob in #lab refused: tampered or wrong key; a wrong passphrase looks the same: "
            "compare /fingerprint #lab with the others",
        )
        self.assertIn("ask bob why, then /trust bob", groupedNote("#lab", "bob", "identity-changed", 3, spellConsole))


class ConsoleTests(SynchronousTestCase):
    def setUp(self):
        self.client = offlineClient()
        self.screen = Recorder()
        self.console = Console(self.client, self.screen.show, self.screen.ask, self.screen.quits.append, current="#lab")

    def test_twentyFiveRefusalsAreThreeLines(self):
        for _n in range(25):
            self.console.event(refused())
        self.console.event(ev.IncomingMessage("#lab", "bob", "fixed my passphrase", "fernet-ttl",
                                              "authenticated+fresh"))
        texts = [text for text, _style in self.screen.shown]
        refusalLines = [t for t in texts if "bob" in t and "fixed" not in t]
        self.assertEqual(len(refusalLines), 3, texts)
        self.assertIn("9 more from bob in #lab refused: tampered or wrong key", refusalLines[1])
        self.assertIn("15 more from bob in #lab refused", refusalLines[2])
        self.assertIn("fixed my passphrase", texts[-1])


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
