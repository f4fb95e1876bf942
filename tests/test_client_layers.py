"""
Issue 23, point 2 (as far as it goes): a member's authenticated message on
a lower layer than the room's is called what it is, and is never counted
later as a message that "never arrived".
"""

from __future__ import annotations

from typing import List

from twisted.trial.unittest import SynchronousTestCase

from securechat.client.core import events as ev
from securechat.client.core.session import ClientSession
from securechat.client.core.wording import missingNote
from securechat.client.faces.commands import formatEvent
from securechat.codec import TEST_KDF, Conversation, Identity, TrustStore, derive_room_keys

from .test_client_session import FakeClock

ROOM = "#lab"
KEYS = derive_room_keys(b"pw", ROOM, TEST_KDF)


class LowerLayerTests(SynchronousTestCase):
    """alice raised #lab to signed; bob still seals on fernet-ttl."""

    def setUp(self):
        self.clock = FakeClock()
        self.events: List[ev.Event] = []
        self.session = ClientSession("alice", self.events.append, clock=self.clock)
        self.session.connectionMade(lambda line: None)
        self.session.lineReceived(b":s 001 alice :Welcome alice!~a@h")
        self.session.join(ROOM)
        self.session.lineReceived(b":alice!~a@h JOIN #lab")
        self.session.setKeys(ROOM, KEYS, "signed")
        self.bob = Conversation(ROOM, "fernet-ttl", KEYS, clock=self.clock, identity=Identity.generate(),
                                trust=TrustStore())

    def fromBob(self, body: str) -> None:
        for text in self.bob.encode("bob", body, 400):
            self.session.lineReceived((":bob!~b@h PRIVMSG #lab :%s" % (text,)).encode("utf-8"))

    def test_calledWhatItIs(self):
        self.fromBob("still on fernet-ttl")
        [rejected] = [e for e in self.events if isinstance(e, ev.RejectedMessage)]
        self.assertEqual(rejected.reason, "lower-layer")
        [(shown, _style)] = formatEvent(rejected, "12:00")
        self.assertIn("sealed on fernet-ttl, the room asks signed", shown)
        self.assertNotIn("unprotected", shown)

    def test_refusedIsNeverCountedAsNeverArrived(self):
        """The issue's story: alice heard bob on fernet-ttl, then raised #lab to signed."""
        self.session.setLayer(ROOM, "fernet-ttl", force=True)
        self.fromBob("zero, heard")
        self.session.setLayer(ROOM, "signed")
        self.fromBob("one")
        self.fromBob("two")
        self.bob.set_layer("signed", KEYS)
        self.fromBob("three, signed")
        heard = [e for e in self.events if isinstance(e, ev.IncomingMessage)]
        self.assertEqual([e.body for e in heard], ["zero, heard", "three, signed"])
        accepted = heard[-1]
        self.assertEqual(accepted.missing, 0)
        self.assertIsNone(missingNote(accepted))
