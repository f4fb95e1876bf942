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
from securechat.wire import formatMessage, parseLine

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


class Member:
    """One member's session with what it writes kept, in #lab keyed on C{layer}."""

    def __init__(self, nick: str, clock: FakeClock, layer: str) -> None:
        self.nick = nick
        self.events: List[ev.Event] = []
        self.sent: List[bytes] = []
        self.session = ClientSession(nick, self.events.append, clock=clock)
        self.session.connectionMade(self.sent.append)
        self.session.lineReceived((":s 001 %s :Welcome %s!~%s@h" % (nick, nick, nick)).encode())
        self.session.join(ROOM)
        self.session.lineReceived((":%s!~%s@h JOIN #lab" % (nick, nick)).encode())
        self.session.setKeys(ROOM, KEYS, layer)
        self.sent.clear()

    def hear(self, other: Member) -> None:
        """What C{other} wrote to #lab, as the relay delivers it."""
        for line in other.sent:
            message = parseLine(line.rstrip(b"\r\n"))
            if message.command == "PRIVMSG":
                prefix = "%s!~%s@h" % (other.nick, other.nick)
                self.session.lineReceived(formatMessage("PRIVMSG", tuple(message.params), prefix).rstrip(b"\r\n"))
        other.sent.clear()

    def announced(self) -> List[ev.LayerAnnounced]:
        return [e for e in self.events if isinstance(e, ev.LayerAnnounced)]


class LayerAnnouncementTests(SynchronousTestCase):
    """
    One layer per room, agreed inside the protection: a raise is announced
    sealed and followed; a lowering is shown, never followed; the relay
    cannot forge either.
    """

    def setUp(self):
        self.clock = FakeClock()
        self.alice = Member("alice", self.clock, "fernet-ttl")
        self.bob = Member("bob", self.clock, "fernet-ttl")

    def test_raiseIsFollowedAndSaid(self):
        self.alice.session.setLayer(ROOM, "signed")
        self.assertTrue(self.alice.sent, "the raise is announced")
        self.bob.hear(self.alice)
        self.assertEqual(self.bob.announced(), [ev.LayerAnnounced(ROOM, "alice", "signed", "fernet-ttl", True)])
        self.assertEqual(self.bob.session.layerFor(ROOM), "signed")
        [(shown, _style)] = formatEvent(self.bob.announced()[0], "12:00")
        self.assertIn("alice raised #lab to signed", shown)
        # Not shown as a message, nor as an unanswered CTCP request.
        self.assertEqual([e for e in self.bob.events if isinstance(e, (ev.IncomingMessage, ev.CtcpRequest))], [])
        # From then on both talk signed.
        self.bob.session.sendMessage(ROOM, "on signed now")
        self.alice.hear(self.bob)
        [heard] = [e for e in self.alice.events if isinstance(e, ev.IncomingMessage)]
        self.assertEqual((heard.body, heard.layer), ("on signed now", "signed"))

    def test_loweringIsShownNeverFollowed(self):
        self.alice.session.setLayer(ROOM, "signed")
        self.bob.hear(self.alice)
        self.alice.session.setLayer(ROOM, "fernet", force=True)
        self.bob.hear(self.alice)
        last = self.bob.announced()[-1]
        self.assertEqual(last, ev.LayerAnnounced(ROOM, "alice", "fernet", "signed", False))
        self.assertEqual(self.bob.session.layerFor(ROOM), "signed")
        [(shown, style)] = formatEvent(last, "12:00")
        self.assertIn("alice LOWERED #lab to fernet on their side: not followed", shown)
        self.assertIn("/layer! fernet #lab", shown)

    def test_relayCannotForgeARaise(self):
        forged = ":alice!~alice@h PRIVMSG #lab :\x01SC-LAYER signed\x01"
        self.bob.session.lineReceived(forged.encode())
        self.assertEqual(self.bob.announced(), [])
        self.assertEqual(self.bob.session.layerFor(ROOM), "fernet-ttl")
        [rejected] = [e for e in self.bob.events if isinstance(e, ev.RejectedMessage)]
        self.assertEqual(rejected.reason, "unprotected")

    def test_raiseClaimedOnALowerLayerIsNotFollowed(self):
        """A member's fernet-ttl message that claims signed proves nothing of signed: shown, not followed."""
        mallory = Conversation(ROOM, "fernet-ttl", KEYS, clock=self.clock)
        [text] = mallory.encode("alice", "\x01SC-LAYER signed\x01", 400)
        self.bob.session.lineReceived((":alice!~alice@h PRIVMSG #lab :" + text).encode())
        self.assertEqual(self.bob.announced(), [ev.LayerAnnounced(ROOM, "alice", "signed", "fernet-ttl", False)])
        self.assertEqual(self.bob.session.layerFor(ROOM), "fernet-ttl")

    def test_replayedOldRaiseIsNotFollowed(self):
        """
        fernet has no replay cache: the relay keeps alice's raise and
        replays it after the room was lowered again (by alice, then bob).
        A raise that arrives late (its sequence number already passed) is
        shown, never followed.
        """
        alice = Member("alice", self.clock, "aes-ctr")
        bob = Member("bob", self.clock, "aes-ctr")
        alice.session.setLayer(ROOM, "fernet")
        kept = list(alice.sent)
        bob.hear(alice)
        self.assertEqual(bob.session.layerFor(ROOM), "fernet")
        alice.session.setLayer(ROOM, "aes-ctr", force=True)
        bob.hear(alice)
        bob.session.setLayer(ROOM, "aes-ctr", force=True)
        alice.sent[:] = kept
        bob.hear(alice)
        self.assertEqual(bob.announced()[-1], ev.LayerAnnounced(ROOM, "alice", "fernet", "aes-ctr", False))
        self.assertEqual(bob.session.layerFor(ROOM), "aes-ctr")
