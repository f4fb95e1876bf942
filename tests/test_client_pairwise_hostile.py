"""
Pairwise sessions against a hostile relay or a stranger (issue 22, a
hostile review): an opening the relay forges never makes a held message
vanish; openings are answered within budgets, never as NOTICEs, never past
our own copy of the server's flood bucket; a forged session line from a
pinned nick starts a bounded number of handshakes.
"""

from __future__ import annotations

from typing import List

from twisted.trial.unittest import SynchronousTestCase

from securechat.client.core import events as ev
from securechat.client.core.pairwise import HANDSHAKE_TIMEOUT
from securechat.client.core.sessionanswers import ALL, MAX_PER_NICK, WINDOW
from securechat.codec import Identity
from securechat.codec.sessions import Initiator
from securechat.codec.sessions.framing import KIND_INIT, KIND_MESSAGE, SESSION_MARKER, frame

from .pairwise_support import Pair


def initLines(identity: Identity, sender: str, target: str) -> List[str]:
    """The session lines of an INIT from C{sender} (holding C{identity}) to C{target}."""
    return frame(KIND_INIT, Initiator(identity, sender, target).init(), 400)


def identitySmallerThan(key: bytes) -> Identity:
    """An identity whose public key sorts before C{key}: it wins a simultaneous open."""
    while True:
        identity = Identity.generate()
        if identity.public_key < key:
            return identity


def kinds(net: Pair, nick: str) -> List[str]:
    """The session kinds (init, reply, ...) of the lines C{nick} wrote since the last call."""
    return [message.params[1].split(" ")[1] for message in net.take(nick)]


class ForgedSimultaneousOpenTests(SynchronousTestCase):
    """
    Defect B: a relay forges bob's INIT with an identity key smaller than
    ours while our opening holds a message.  The INIT's key is only a
    claim: our opening and what it holds stay until a session is
    authenticated, and an opening that never finishes says NOT SENT.
    """

    def setUp(self):
        self.net = Pair("alice", "bob")
        self.alice = self.net.clients["alice"]
        self.assertIsInstance(self.alice.sendMessage("bob", "secret plan"), ev.Queued)
        self.ourInit = [message.params[1] for message in self.net.take("alice")]
        self.assertEqual([text.split(" ")[1] for text in self.ourInit], ["init"])
        forger = identitySmallerThan(self.alice.identity.public_key)
        for line in initLines(forger, "bob", "alice"):
            self.net.deliver("bob", "alice", line)
        self.assertEqual(kinds(self.net, "alice"), ["reply"])

    def test_heldMessageSaidNotSentWhenNothingFinishes(self):
        """The relay also withholds our INIT: after the timeout the held message is NOT SENT, never gone silently."""
        self.net.clock.now += 2 * HANDSHAKE_TIMEOUT + 2
        self.alice.expire()
        self.assertEqual([event.body for event in self.net.of("alice", ev.SessionUnanswered)], ["secret plan"])
        self.assertEqual(self.alice.directSessions.heldCounts(), {})

    def test_realPeerAnswersOurOpeningAndReads(self):
        """The relay passes our INIT on: the real bob answers it, and reads what was held."""
        self.assertTrue(self.alice.pairwise.starting("bob"))
        for text in self.ourInit:
            self.net.deliver("alice", "bob", text)
        self.net.pump()
        self.assertEqual(
            [(event.sender, event.body) for event in self.net.of("bob", ev.IncomingMessage)], [("alice", "secret plan")]
        )
        self.assertEqual(self.net.of("alice", ev.SessionUnanswered), [])
        self.net.clock.now += 2 * HANDSHAKE_TIMEOUT + 2
        self.alice.expire()
        self.assertEqual(self.net.of("alice", ev.SessionUnanswered), [])


class SimultaneousOpenTests(SynchronousTestCase):
    """Both sides open at once, for real: whichever key is smaller, both read what the other held."""

    def test_bothHeldMessagesArrive(self):
        for first, second in (("alice", "bob"), ("bob", "alice")):
            net = Pair("alice", "bob")
            net.clients[first].sendMessage(second, "from %s" % (first,))
            net.clients[second].sendMessage(first, "from %s" % (second,))
            net.pump()
            for nick, peer in ((first, second), (second, first)):
                self.assertEqual(
                    [(event.sender, event.body) for event in net.of(nick, ev.IncomingMessage)],
                    [(peer, "from %s" % (peer,))],
                )
                self.assertTrue(net.clients[nick].pairwise.hasSession(peer))
                self.assertFalse(net.clients[nick].pairwise.starting(peer))


class OpeningFloodTests(SynchronousTestCase):
    """
    Defect A: every INIT was answered at once, with no limit, even as a
    NOTICE, past the server's flood bucket.  Now: never a NOTICE, within a
    budget per nick and in all, and never past our copy of the bucket.
    """

    def setUp(self):
        self.net = Pair("alice")
        self.alice = self.net.clients["alice"]
        self.mallory = Identity.generate()

    def opening(self, sender: str, command: str = "PRIVMSG") -> None:
        for line in initLines(self.mallory, sender, "alice"):
            self.alice.lineReceived((":%s!~m@h %s alice :%s" % (sender, command, line)).encode("utf-8"))

    def refusals(self, reason: str) -> list:
        return [event for event in self.net.of("alice", ev.RejectedMessage) if event.reason == reason]

    def test_oneNickFloodingIsAnsweredWithinItsBudget(self):
        for _ in range(200):
            self.opening("mallory")
        self.assertEqual(kinds(self.net, "alice"), ["reply"] * MAX_PER_NICK)
        told = self.refusals("not-answered")
        self.assertEqual(len(told), 1)  # said once per window, not 198 times
        self.assertIn("1 protected session opening(s) not answered, the last from mallory", told[0].description)
        # Another nick is still answered; mallory again once the window passed.
        self.opening("carol")
        self.assertEqual(kinds(self.net, "alice"), ["reply"])
        self.net.clock.now += WINDOW
        self.opening("mallory")
        self.assertEqual(kinds(self.net, "alice"), ["reply"])

    def test_manyNicksAreAnsweredWithinTheBudgetInAll(self):
        """A relay inventing 200 nicks gets a burst of answers, then a trickle: never 200 lines."""
        for number in range(200):
            self.opening("n%d" % (number,))
        self.assertEqual(kinds(self.net, "alice"), ["reply"] * ALL.burst)
        told = self.refusals("not-answered")
        self.assertEqual(len(told), 1)
        self.assertIn("%d protected session opening(s)" % (1,), told[0].description)
        self.net.clock.now += 1 / ALL.rate
        for number in range(200, 210):
            self.opening("n%d" % (number,))
        self.assertEqual(kinds(self.net, "alice"), ["reply"])
        # The next window says how many went unanswered since.
        self.net.clock.now += WINDOW
        self.opening("n%d" % (999,))
        told = self.refusals("not-answered")
        self.assertEqual(len(told), 1)
        self.assertEqual(len(kinds(self.net, "alice")), 1)

    def test_openingAsNoticeIsNeverAnswered(self):
        self.opening("mallory", "NOTICE")
        self.assertEqual(self.net.take("alice"), [])
        refused = self.net.of("alice", ev.RejectedMessage)
        self.assertEqual([(event.sender, event.reason) for event in refused], [("mallory", "malformed")])
        self.assertIn("a session line sent as a NOTICE", refused[0].description)
        self.assertFalse(self.alice.pairwise.hasSession("mallory"))

    def test_answersNeverGoPastTheServersPace(self):
        """Our copy of the server's flood bucket is empty (a paste went out): the opening is not answered."""
        talk = self.alice.conversationsPart
        talk.pacer.spent(self.net.clock(), int(talk.pacer.tokens) + 5)
        self.opening("bob")
        self.assertEqual(self.net.take("alice"), [])
        self.net.clock.now += talk.pacer.waitTime(self.net.clock()) + 0.01
        self.opening("carol")
        self.assertEqual(kinds(self.net, "alice"), ["reply"])
        # A socket that stopped draining: nothing is answered either.
        talk.setDrainBlocked(True)
        self.opening("dave")
        self.assertEqual(self.net.take("alice"), [])


class NoticeTests(SynchronousTestCase):
    """Session lines travel in PRIVMSG only, both ways."""

    def test_sessionLinesAreWrittenAsPrivmsgOnly(self):
        net = Pair("alice", "bob")
        written = []
        net.clients["alice"].sendMessage("bob", "one")
        net.clients["bob"].sendMessage("alice", "two")
        for _ in range(10):
            for nick, peer in (("alice", "bob"), ("bob", "alice")):
                for message in net.take(nick):
                    written.append(message.command)
                    net.deliver(nick, peer, message.params[1])
        self.assertEqual(net.of("bob", ev.IncomingMessage)[0].body, "one")
        self.assertEqual(net.of("alice", ev.IncomingMessage)[0].body, "two")
        self.assertGreaterEqual(len(written), 5)
        self.assertEqual(set(written), {"PRIVMSG"})

    def test_ratchetMessageAsNoticeIsNotOpened(self):
        """The relay turns bob's sealed PRIVMSG into a NOTICE: refused, not shown, and the ratchet is untouched."""
        net = Pair("alice", "bob")
        net.clients["alice"].sendMessage("bob", "hello")
        net.pump()
        net.clients["bob"].sendMessage("alice", "as a notice")
        (message,) = net.take("bob")
        self.assertTrue(message.params[1].startswith(SESSION_MARKER + " msg "))
        net.clients["alice"].lineReceived((":bob!~bob@h NOTICE alice :%s" % (message.params[1],)).encode())
        self.assertEqual(net.of("alice", ev.IncomingMessage), [])
        self.assertEqual([event.reason for event in net.of("alice", ev.RejectedMessage)], ["malformed"])
        net.deliver("bob", "alice", message.params[1])  # the same line as a PRIVMSG still opens
        self.assertEqual([event.body for event in net.of("alice", ev.IncomingMessage)], ["as a notice"])


class ForgedLineFromPinnedNickTests(SynchronousTestCase):
    """
    Defect C: a session line from a pinned nick we hold no session with
    starts a new session (our state was lost: the peer's next lines become
    readable).  A relay forging such lines under many pinned nicks gets
    those openings within the same budgets as answers, never one per nick.
    """

    def setUp(self):
        self.net = Pair("alice")
        self.alice = self.net.clients["alice"]
        for number in range(200):
            self.alice.trust.trust("p%d" % (number,), Identity.generate().public_key)

    def forged(self, sender: str) -> None:
        for line in frame(KIND_MESSAGE, bytes([1]) + bytes(90), 400):
            self.net.deliver(sender, "alice", line)

    def test_manyPinnedNicksStartABoundedNumberOfSessions(self):
        for number in range(200):
            self.forged("p%d" % (number,))
        self.assertEqual(kinds(self.net, "alice"), ["init"] * ALL.burst)
        refused = self.net.of("alice", ev.RejectedMessage)
        self.assertEqual({event.reason for event in refused}, {"no-session"})
        self.assertEqual(len(refused), 200)
        started = [event for event in refused if event.description.endswith("a new session is being started")]
        self.assertEqual(len(started), ALL.burst)

    def test_onePinnedNickStartsOneHandshakeAtATime(self):
        for _ in range(50):
            self.forged("p1")
        self.assertEqual(kinds(self.net, "alice"), ["init"])
        started = 0
        for _ in range(20):  # ten minutes
            self.net.clock.now += HANDSHAKE_TIMEOUT
            self.alice.expire()
            self.forged("p1")
            started += len(kinds(self.net, "alice"))
        self.assertLessEqual(started, 20)
        self.assertGreaterEqual(started, 10)

    def test_strangerNeverStartsOne(self):
        """A nick with no pin: nothing to restore, so no opening."""
        self.forged("nobody")
        self.assertEqual(self.net.take("alice"), [])
        self.assertEqual([event.reason for event in self.net.of("alice", ev.RejectedMessage)], ["no-session"])
