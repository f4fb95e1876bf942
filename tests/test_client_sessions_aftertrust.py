"""
A direct-message session refused for its key (a peer's rename, a changed
identity) is asked again once the user accepts that key (/trust, /verify):
what was held goes out sealed, the user is told, the budgets of openings
still hold, and nothing that was said "not sent" goes out afterwards
(issue 22, point 1).
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from securechat.client.core import events as ev
from securechat.client.core.pairwise import HANDSHAKE_TIMEOUT, SESSION_LAYER
from securechat.client.core.rules import CommandError
from securechat.client.core.sessionsaftertrust import ASKING_AGAIN, MAX_REFUSALS, NOT_ASKED, REMEMBERED
from securechat.codec import Identity
from securechat.codec.errors import SignedByOther
from securechat.codec.sessions.framing import KIND_INIT, SESSION_MARKER, parse_session_line

from .pairwise_support import AliceRuns, Pair


def bodies(net: Pair, nick: str) -> list:
    return [(event.sender, event.body, event.layer) for event in net.of(nick, ev.IncomingMessage)]


def reasons(net: Pair, nick: str) -> list:
    return [event.reason for event in net.of(nick, ev.RejectedMessage)]


def notices(net: Pair, nick: str) -> list:
    return [event.text for event in net.of(nick, ev.Notice)]


def inits(lines: list) -> list:
    """The session openings among C{lines} (PRIVMSGs taken from an outbox)."""
    return [
        line for line in lines
        if line.command == "PRIVMSG" and parse_session_line(line.params[1]).layer == KIND_INIT
    ]  # fmt: skip


class RenamedPeerTests(SynchronousTestCase):
    """Bob becomes bobby: his key is pinned to "bob", so bobby's session is refused until /trust bobby."""

    def setUp(self):
        self.net = Pair("alice", "bob")
        self.alice = self.net.clients["alice"]
        self.alice.sendMessage("bob", "hello")
        self.net.pump()
        self.rename("bob", "bobby")

    def rename(self, old, new):
        self.net.clients[old].changeNick(new)  # bob asks for it: his client seals as bobby from then on
        self.net.take(old)
        for session in self.net.clients.values():
            session.lineReceived((":%s!~%s@h NICK %s" % (old, old, new)).encode())
        self.net.clients[new] = self.net.clients.pop(old)
        self.net.outbox[new] = self.net.outbox.pop(old)
        self.net.events[new] = self.net.events.pop(old)

    def refused(self, text="still you?"):
        """Alice writes to bobby: held, and bobby's answer is refused (signed by bob's key)."""
        self.assertIsInstance(self.alice.sendMessage("bobby", text), ev.Queued)
        self.net.pump()
        self.assertEqual(reasons(self.net, "alice"), ["signed-by-other"])
        self.assertEqual(self.net.of("alice", ev.SessionUnanswered), [])
        self.assertTrue(self.alice.pairwise.starting("bobby"))
        self.assertEqual(self.alice.directSessions.heldCounts(), {"bobby": 1})

    def test_heldMessageArrivesAfterTrust(self):
        """Rename, refused, /trust: a new opening at once, and the held text arrives opened (never in clear)."""
        self.refused()
        self.alice.trustNick("bobby")
        self.assertEqual(notices(self.net, "alice"), [ASKING_AGAIN % ("bobby",)])
        self.assertEqual(ASKING_AGAIN % ("bobby",), "session with bobby: asking again after /trust")
        self.net.pump()
        self.assertEqual(bodies(self.net, "bobby")[-1], ("alice", "still you?", SESSION_LAYER))
        self.assertTrue(self.alice.pairwise.hasSession("bobby"))
        self.assertEqual(self.alice.directSessions.heldCounts(), {})
        self.assertEqual([text for _, _, text in self.net.recorded if "still you" in text], [])
        self.assertTrue(all(text.startswith(SESSION_MARKER + " ") for _, _, text in self.net.recorded))
        # Nothing is said "not sent" later for what was delivered.
        self.net.clock.now += HANDSHAKE_TIMEOUT
        self.alice.expire()
        self.assertEqual(self.net.of("alice", ev.SessionUnanswered), [])
        self.assertIsInstance(self.alice.sendMessage("bobby", "good"), ev.Sent)

    def test_heldMessageArrivesAfterVerify(self):
        """/verify with the refused key's fingerprint accepts it as well: asked again, delivered."""
        self.refused()
        bobby = self.net.clients["bobby"]
        self.alice.verifyNick("bobby", bobby.identity.fingerprint)
        self.assertEqual(notices(self.net, "alice"), [ASKING_AGAIN % ("bobby",)])
        self.net.pump()
        self.assertEqual(bodies(self.net, "bobby")[-1], ("alice", "still you?", SESSION_LAYER))
        self.assertEqual(self.alice.trust.pinned("bobby").status, "verified")

    def test_trustAfterNotSentResendsNothing(self):
        """The held text was said "not sent" (the timeout, naming the refusal): a /trust after it sends nothing."""
        self.refused()
        self.net.clock.now += HANDSHAKE_TIMEOUT
        self.alice.expire()
        [unsent] = self.net.of("alice", ev.SessionUnanswered)
        self.assertEqual(unsent.body, "still you?")
        self.assertIn("refused", unsent.reason)
        self.assertIn("signed by bob's key", unsent.reason)
        self.alice.trustNick("bobby")
        self.assertEqual(self.net.take("alice"), [])
        self.assertEqual(notices(self.net, "alice"), [])
        self.net.pump()
        self.assertEqual([body for _, body, _ in bodies(self.net, "bobby")], ["hello"])
        # The key is accepted: the next message starts a session that is not refused.
        self.alice.sendMessage("bobby", "again")
        self.net.pump()
        self.assertEqual(bodies(self.net, "bobby")[-1], ("alice", "again", SESSION_LAYER))

    def test_repeatedTrustAsksOnce(self):
        """/trust twice: the second has no refused key to accept; /verify after it opens nothing more."""
        self.refused()
        self.alice.trustNick("bobby")
        self.assertEqual(len(inits(self.net.take("alice"))), 1)
        self.assertRaises(CommandError, self.alice.trustNick, "bobby")
        self.alice.verifyNick("bobby", self.net.clients["bobby"].identity.fingerprint)
        self.assertEqual(self.net.take("alice"), [])
        self.assertEqual(notices(self.net, "alice"), [ASKING_AGAIN % ("bobby",)])

    def test_trustOfAnotherKeyAsksNothing(self):
        """The key accepted is not the one bobby's session was refused for: nothing is asked, and the user is told."""
        self.refused()
        carol = Identity.generate()
        self.alice.trust.judge("carol", carol.public_key)
        # A later line offers carol's key for bobby: /trust accepts that one.
        self.assertRaises(SignedByOther, self.alice.trust.judge, "bobby", carol.public_key)
        self.alice.trustNick("bobby")
        self.assertEqual(self.alice.trust.pinned("bobby").public_key, carol.public_key)
        self.assertEqual(self.net.take("alice"), [])
        self.assertEqual(notices(self.net, "alice"), [NOT_ASKED % ("bobby",)])
        # What was held still waits, then is "not sent" as before.
        self.net.clock.now += HANDSHAKE_TIMEOUT
        self.alice.expire()
        self.assertEqual([e.body for e in self.net.of("alice", ev.SessionUnanswered)], ["still you?"])
        self.assertEqual([body for _, body, _ in bodies(self.net, "bobby")], ["hello"])

    def test_trustWithNoSessionRefusedStartsNothing(self):
        """/trust of a key refused elsewhere (no session was refused for it): no opening, no notice."""
        carol = Identity.generate()
        self.alice.trust.judge("carol", carol.public_key)
        self.assertRaises(SignedByOther, self.alice.trust.judge, "dave", carol.public_key)
        self.alice.trustNick("dave")
        self.assertEqual(self.net.take("alice"), [])
        self.assertEqual(notices(self.net, "alice"), [])

    def test_paceAndBudgetStillHold(self):
        """Over the budget of openings (the server's pace here), the new opening waits for it, then goes."""
        self.refused()
        self.alice.pairwise.answers.paced = lambda: False
        self.alice.trustNick("bobby")
        self.assertEqual(self.net.take("alice"), [])
        self.assertEqual(notices(self.net, "alice"), [])
        self.alice.expire()
        self.assertEqual(self.net.take("alice"), [])
        self.alice.pairwise.answers.paced = lambda: True
        self.net.clock.now += 5
        self.alice.expire()
        self.assertEqual(notices(self.net, "alice"), [ASKING_AGAIN % ("bobby",)])
        self.net.pump()
        self.assertEqual(bodies(self.net, "bobby")[-1], ("alice", "still you?", SESSION_LAYER))

    def test_perNickBudgetHolds(self):
        """The per-nick budget of openings counts the one after /trust: spent, it is not exceeded."""
        self.refused()
        answers = self.alice.pairwise.answers
        while answers.allows("bobby"):
            answers.spent("bobby")
        self.alice.trustNick("bobby")
        self.assertEqual(self.net.take("alice"), [])
        self.assertFalse(answers.allows("bobby"))

    def test_theirOpeningRefusedIsAskedAgain(self):
        """
        Bobby writes first: his session's finish is refused at alice (his
        message cannot be read there).  Nothing is held at alice, yet after
        /trust she opens a session at once: bobby believes he holds one, and
        what he writes next can be read.
        """
        bobby = self.net.clients["bobby"]
        bobby.sendMessage("alice", "it's me, bob")
        self.net.pump()
        self.assertEqual(reasons(self.net, "alice"), ["signed-by-other", "no-session"])
        self.assertFalse(self.alice.pairwise.hasSession("bobby"))
        self.alice.trustNick("bobby")
        self.assertEqual(notices(self.net, "alice"), [ASKING_AGAIN % ("bobby",)])
        self.net.pump()
        self.assertTrue(self.alice.pairwise.hasSession("bobby"))
        bobby.sendMessage("alice", "can you read me now?")
        self.net.pump()
        self.assertEqual(bodies(self.net, "alice")[-1], ("bobby", "can you read me now?", SESSION_LAYER))

    def test_theirRefusalIsForgottenAfterAWhile(self):
        """A refusal of bobby's opening is remembered for L{REMEMBERED} seconds, not for ever."""
        bobby = self.net.clients["bobby"]
        bobby.sendMessage("alice", "it's me, bob")
        self.net.pump()
        self.net.clock.now += REMEMBERED + 1
        self.alice.expire()
        self.alice.trustNick("bobby")
        self.assertEqual(self.net.take("alice"), [])


class ChangedIdentityTests(SynchronousTestCase):
    """Bob's key is not the one alice pinned for "bob" (a reinstall): refused, then /verify or /trust."""

    def setUp(self):
        self.net = Pair("alice", "bob")
        self.alice, self.bob = self.net.clients["alice"], self.net.clients["bob"]
        self.alice.trust.judge("bob", Identity.generate().public_key)
        self.assertIsInstance(self.alice.sendMessage("bob", "new laptop?"), ev.Queued)
        self.net.pump()
        self.assertEqual(reasons(self.net, "alice"), ["identity-changed"])

    def test_verifyTheNewKey(self):
        self.alice.verifyNick("bob", self.bob.identity.fingerprint)
        self.net.pump()
        self.assertEqual(bodies(self.net, "bob"), [("alice", "new laptop?", SESSION_LAYER)])
        self.assertEqual(notices(self.net, "alice"), [ASKING_AGAIN % ("bob",)])

    def test_trustTheNewKey(self):
        self.alice.trustNick("bob")
        self.net.pump()
        self.assertEqual(bodies(self.net, "bob"), [("alice", "new laptop?", SESSION_LAYER)])
        self.assertEqual(self.net.of("alice", ev.SessionUnanswered), [])


class BoundsTests(SynchronousTestCase):
    """The refusals remembered are bounded: a relay inventing nicks cannot grow them."""

    def test_atMostMaxRefusals(self):
        from securechat.client.core.sessionsaftertrust import SessionsAfterTrust

        net = Pair("alice")
        alice = net.clients["alice"]
        part = SessionsAfterTrust(alice.registration, alice.pairwise, lambda event: None, net.clock)
        for number in range(MAX_REFUSALS + 10):
            part.refused("nick%d" % (number,), b"k" * 32, ours=False)
        self.assertEqual(len(part), MAX_REFUSALS)


class StateDirectoryTests(AliceRuns, SynchronousTestCase):
    """Alice's client with its state directory: the key accepted and the session asked again outlive a restart."""

    def test_sessionAfterTrustIsKept(self):
        keeper, alice = self.alice()
        alice.sendMessage("bob", "hello")
        self.net.pump()
        bob = self.net.clients["bob"]
        bob.changeNick("bobby")
        for session in self.net.clients.values():
            session.lineReceived(b":bob!~bob@h NICK bobby")
        for table in (self.net.clients, self.net.outbox, self.net.events):
            table["bobby"] = table.pop("bob")
        self.net.take("bobby")
        alice.sendMessage("bobby", "still you?")
        self.net.pump()
        self.assertEqual(reasons(self.net, "alice"), ["signed-by-other"])
        alice.trustNick("bobby")
        self.net.pump()
        self.assertEqual(bodies(self.net, "bobby")[-1], ("alice", "still you?", SESSION_LAYER))
        keeper.stopService()
        keeper, alice = self.alice()
        self.assertEqual(alice.trust.pinned("bobby").public_key, bob.identity.public_key)
        self.assertIsInstance(alice.sendMessage("bobby", "after a restart"), ev.Sent)
        self.net.pump()
        self.assertEqual(bodies(self.net, "bobby")[-1], ("alice", "after a restart", SESSION_LAYER))
