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
from securechat.codec import Identity
from securechat.codec.sessions import Initiator
from securechat.codec.sessions.framing import KIND_INIT, frame

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
