"""
The pairwise part's contract (L{securechat.client.core.pairwise}): records
of any defined kind held until the session is ready, handed to the
callback registered for their kind with the peer's identity key; session
ids agree; what a peer never answers is handed back as undelivered.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from securechat.client.core.pairwise import HANDSHAKE_TIMEOUT
from securechat.codec.sessions.framing import ROOM_RECORDS, TEXT

from .pairwise_support import Pair

ROOM_KIND = ROOM_RECORDS[0]


class PairwiseContractTests(SynchronousTestCase):
    def setUp(self):
        self.net = Pair("alice", "bob")
        self.alice, self.bob = self.net.clients["alice"].pairwise, self.net.clients["bob"].pairwise
        self.got = []
        self.bob.onRecord(ROOM_KIND, lambda nick, key, body: self.got.append((nick, key, body)))

    def test_recordHeldUntilReadyThenDelivered(self):
        """The first record starts a session and waits; it arrives once, with alice's identity key."""
        self.assertEqual(self.alice.sendRecord("bob", ROOM_KIND, b"chain start"), 0)
        self.assertTrue(self.alice.starting("bob"))
        self.assertEqual(self.got, [])
        self.net.pump()
        alice = self.net.clients["alice"].identity.public_key
        self.assertEqual(self.got, [("alice", alice, b"chain start")])
        self.assertEqual(self.alice.sessionId("bob"), self.bob.sessionId("alice"))
        self.assertEqual(len(self.alice.sessionId("bob") or b""), 32)
        self.assertEqual(self.bob.peerIdentity("alice"), alice)
        self.assertEqual(self.alice.peerIdentity("bob"), self.net.clients["bob"].identity.public_key)

    def test_recordsInOrderAfterReady(self):
        self.alice.sendRecord("bob", ROOM_KIND, b"one")
        self.net.pump()
        self.assertGreater(self.alice.sendRecord("bob", ROOM_KIND, b"two"), 0)
        self.assertGreater(self.alice.sendRecord("bob", ROOM_KIND, b"three"), 0)
        self.net.pump()
        self.assertEqual([body for _, _, body in self.got], [b"one", b"two", b"three"])

    def test_responderCanSendFirst(self):
        """Once bob answered, he seals to alice at once; each side's handler sees the other's identity."""
        back = []
        self.alice.onRecord(ROOM_KIND, lambda nick, key, body: back.append((nick, body)))
        self.alice.sendRecord("bob", ROOM_KIND, b"hello")
        self.net.pump()
        self.assertGreater(self.bob.sendRecord("alice", ROOM_KIND, b"back"), 0)
        self.net.pump()
        self.assertEqual(back, [("bob", b"back")])

    def test_sessionReadyCallback(self):
        ready = []
        self.bob.onSessionReady(lambda nick, key, sid: ready.append((nick, key, sid)))
        self.alice.sendRecord("bob", ROOM_KIND, b"x")
        self.net.pump()
        self.assertEqual(ready, [("alice", self.net.clients["alice"].identity.public_key, self.bob.sessionId("alice"))])

    def test_undeliveredAfterTimeout(self):
        """A peer that never answers: each held record goes to the kind's undelivered callback."""
        lost = []
        self.alice.onUndelivered(ROOM_KIND, lambda nick, body, why: lost.append((nick, body, why)))
        self.alice.sendRecord("bob", ROOM_KIND, b"a")
        self.alice.sendRecord("bob", ROOM_KIND, b"b")
        self.net.take("alice")  # the relay drops the INIT
        self.net.clock.now += HANDSHAKE_TIMEOUT - 1
        self.alice.expire()
        self.assertEqual(lost, [])
        self.net.clock.now += 1
        self.alice.expire()
        self.assertEqual([(nick, body) for nick, body, _ in lost], [("bob", b"a"), ("bob", b"b")])
        self.assertIn("did not answer", lost[0][2])
        self.assertFalse(self.alice.starting("bob"))

    def test_kindsAreChecked(self):
        """Only defined kinds: sending or registering another is a ValueError; one handler per kind."""
        self.assertRaises(ValueError, self.alice.sendRecord, "bob", 0x7F, b"")
        self.assertRaises(ValueError, self.alice.onRecord, 0x00, lambda *a: None)
        self.assertRaises(ValueError, self.bob.onRecord, ROOM_KIND, lambda *a: None)
        self.assertRaises(ValueError, self.bob.onRecord, TEXT, lambda *a: None)

    def test_recordWithoutHandlerRefused(self):
        """A record of a defined kind nobody here handles is refused, not dropped silently."""
        self.alice.sendRecord("bob", ROOM_RECORDS[1], b"x")
        self.net.pump()
        refused = [event for event in self.net.events["bob"] if getattr(event, "reason", None) == "malformed"]
        self.assertEqual(len(refused), 1)
        self.assertIn("no handler", refused[0].description)
