"""
Views that agree on the forward layer (issue 23, point 3): each message
carries its author's view inside what its batch signature covers; a relay
that withholds a member's messages from one member, or shows two members
two subsets, is named by another member's view; a sender learns who
received its messages.  Sans-IO sessions on a fake relay that misbehaves.
"""

from __future__ import annotations

from typing import Callable, List, Optional

from twisted.trial.unittest import SynchronousTestCase

from securechat.client.core import commands as cmd
from securechat.client.core import events as ev
from securechat.client.core.forwardviews import VIEW_MARK, ForwardViews, carryView, splitView, viewFits
from securechat.codec import Accepted, Identity
from securechat.codec.errors import Malformed
from securechat.codec.forward import PROTECTION, ForwardRoom
from securechat.codec.layers import FORWARD
from securechat.codec.sessions import RoomChains
from securechat.codec.views import (
    NOT_REACHED_GRACE,
    WITHHELD,
    Entry,
    ViewBook,
    ViewFinding,
    decode_view,
    encode_view,
    member_tag,
)

from .test_client_forward_rooms import ROOM, Room

#: (sender, receiver, line) -> whether the relay keeps the line from that receiver.
Withhold = Callable[[str, str, str], bool]


class Relay(Room):
    """L{Room} whose relay can keep a member's room lines from chosen members."""

    withhold: Optional[Withhold] = None

    def tell(self, nick: str, line: str) -> None:
        if self.withhold is not None and " PRIVMSG %s :" % (ROOM,) in line:
            sender = line[1 : line.index("!")]
            if self.withhold(sender, nick, line.split(" :", 1)[1]):
                return
        super().tell(nick, line)


class ForwardViewTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.room = Relay("alice", "bob", "carol")
        self.alice, self.bob, self.carol = (self.room.clients[nick] for nick in ("alice", "bob", "carol"))
        cmd.execute(self.alice, cmd.Layer(ROOM, "forward"))
        self.room.pump()

    def say(self, nick: str, text: str, withhold: Optional[Withhold] = None) -> None:
        self.room.withhold = withhold
        cmd.execute(self.room.clients[nick], cmd.Say(ROOM, text))
        self.room.pump()
        self.room.withhold = None

    def differs(self, nick: str) -> List[ev.ViewDiffers]:
        return self.room.of(nick, ev.ViewDiffers)

    def test_withheldFromOne(self) -> None:
        """
        The relay keeps bob's message from carol only: no later message of
        bob's shows her a gap, alice's view names it; bob learns who has it.
        """
        self.say("bob", "for alice only", lambda sender, receiver, line: sender == "bob" and receiver == "carol")
        self.assertNotIn(("bob", "for alice only", "forward"), self.room.shown("carol"))
        self.assertEqual(self.differs("carol"), [])
        self.say("alice", "did you see bob's?")
        self.assertEqual(self.differs("carol"), [ev.ViewDiffers(ROOM, "alice", "bob", "withheld", 1, 1)])
        # The view is taken out of the text: every member reads what alice typed.
        self.assertEqual(self.room.shown("carol")[-1], ("alice", "did you see bob's?", "forward"))
        self.assertEqual(self.room.of("bob", ev.SeenBy), [ev.SeenBy(ROOM, "alice", 1, 1, ("alice",))])
        # Said once: the next view naming the same message is no new alarm.
        self.say("alice", "again")
        self.assertEqual(len(self.differs("carol")), 1)
        self.assertEqual(self.differs("alice") + self.differs("bob"), [])

    def test_splitView(self) -> None:
        """alice's #1 goes to bob only, her #2 to carol only: carol's view tells bob of #2."""
        self.say("alice", "first, for bob", lambda sender, receiver, line: sender == "alice" and receiver == "carol")
        self.say("alice", "second, for carol", lambda sender, receiver, line: sender == "alice" and receiver == "bob")
        self.assertEqual(self.room.shown("bob"), [("alice", "first, for bob", "forward")])
        self.assertEqual(self.room.shown("carol"), [("alice", "second, for carol", "forward")])
        self.say("carol", "quiet here")
        self.assertEqual(self.differs("bob"), [ev.ViewDiffers(ROOM, "carol", "alice", "withheld", 2, 2)])
        # alice hears from both who received what.
        self.say("bob", "here too")
        seen = self.room.of("alice", ev.SeenBy)
        self.assertIn(ev.SeenBy(ROOM, "carol", 1, 2, ("carol",)), seen)
        self.assertIn(ev.SeenBy(ROOM, "bob", 1, 1, ("bob", "carol")), seen)

    def test_notReached(self) -> None:
        """bob's #2 is kept from carol; her view, written well after, tells bob it never reached her."""
        self.say("bob", "one")
        self.say("bob", "two", lambda sender, receiver, line: sender == "bob" and receiver == "carol")
        self.room.clock.now += NOT_REACHED_GRACE
        self.say("carol", "after a while")
        self.assertEqual(self.differs("bob"), [ev.ViewDiffers(ROOM, "carol", "carol", "not-reached", 2, 2)])

    def test_saidBeforeAMemberWasGivenTheChainIsNotWithheld(self) -> None:
        """
        dave joins after bob spoke: bob's chain reaches him from its current
        index, and alice's view naming bob's #1-3 is no alarm; what the relay
        keeps from him after that is.
        """
        for text in ("one", "two", "three"):
            self.say("bob", text)
        self.room.add("dave")
        self.room.join("dave")
        self.room.pump()
        self.assertIn("bob", self.room.clients["dave"].forwardRoute.part.senders(ROOM))
        self.say("alice", "welcome dave")
        self.assertEqual(self.room.shown("dave"), [("alice", "welcome dave", "forward")])
        self.assertEqual(self.differs("dave"), [])
        self.say("bob", "four", lambda sender, receiver, line: sender == "bob" and receiver == "dave")
        self.say("alice", "did dave get four?")
        self.assertEqual(self.differs("dave"), [ev.ViewDiffers(ROOM, "alice", "bob", "withheld", 4, 4)])

    def test_memberWhoSendsDifferentMessagesToDifferentMembers(self) -> None:
        """
        bob's client seals two messages at one index of his chain, one for
        alice, one for carol (each signed by him): alice's view names bob's
        #1 with a head that is not carol's.
        """
        from securechat.codec.sessions.senderchain import OutboundChain

        part = self.bob.forwardRoute.part
        chains = part.chains(ROOM)
        assert chains is not None
        saved = chains.outbound.to_dict()
        for receiver, text in (("alice", "meet at noon"), ("carol", "meet at six")):
            chains.outbound = OutboundChain.from_dict(saved, self.bob.identity)
            for line in part.encode(ROOM, text):
                self.room.tell(receiver, ":bob!~bob@127.0.0.1 PRIVMSG %s :%s" % (ROOM, line))
        self.assertEqual(self.room.shown("carol"), [("bob", "meet at six", "forward")])
        self.say("alice", "see you then")
        self.assertEqual(self.differs("carol"), [ev.ViewDiffers(ROOM, "alice", "bob", "differs", 1, 1)])

    def test_viewIsInsideTheSeal(self) -> None:
        """The relay sees no view (and cannot strip one): only forward lines, with no clear text."""
        self.say("bob", "hello")
        self.say("alice", "a view rides here")
        for _sender, target, text in self.room.recorded:
            if target == ROOM:
                self.assertTrue(text.startswith("+sc2 forward "), text)
                self.assertNotIn("a view rides here", text)

    def test_unreadableViewIsRefused(self) -> None:
        """A member's client that writes a view no one can read: its message is refused as malformed, not shown."""
        part = self.bob.forwardRoute.part
        lines = part.encode(ROOM, VIEW_MARK + "!!!" + VIEW_MARK + "broken client")
        for line in lines:
            self.room.tell("alice", ":bob!~bob@127.0.0.1 PRIVMSG %s :%s" % (ROOM, line))
        self.assertIn(("bob", "malformed"), self.room.refused("alice"))
        self.assertNotIn("broken client", [body for _s, body, _l in self.room.shown("alice")])


class ViewInTheBodyTests(SynchronousTestCase):
    def test_carryAndSplit(self) -> None:
        view = encode_view([Entry(member_tag("bob"), b"ab", 3, bytes(12))])
        self.assertEqual(splitView(carryView(view, "text")), (view, "text"))
        self.assertEqual(carryView(b"", "text"), "text")
        self.assertEqual(splitView("text"), (b"", "text"))
        self.assertEqual(splitView(carryView(b"", VIEW_MARK + "x")), (b"", VIEW_MARK + "x"))

    def test_malformed(self) -> None:
        self.assertRaises(Malformed, splitView, VIEW_MARK + "AAAA")  # never closed
        self.assertRaises(Malformed, splitView, VIEW_MARK + "!!" + VIEW_MARK)  # not base64
        self.assertRaises(Malformed, splitView, VIEW_MARK + "AAA" + VIEW_MARK)  # an entry cut short

    def test_aViewNeverAddsALine(self) -> None:
        """
        For every text length and a room of 20, the lines of a message with
        its view are those of the same message without; on a 466-byte budget
        (docs/security.md) a short message carries 8 entries, a 200-byte one
        stays one line and carries none.
        """
        clock = lambda: 1_700_000_000.0  # noqa: E731
        identity = Identity.generate()
        plain = ForwardRoom(RoomChains("#lab", "alice", identity), identity, clock)
        viewed = ForwardRoom(RoomChains("#lab", "alice", identity), identity, clock)
        carried = {}
        for maxPayload in (300, 420, 466):
            for size in list(range(0, 700, 7)) + [10, 50, 100, 150, 200, 250]:
                book = ViewBook()
                for number in range(19):
                    book.received("member%02d" % number, bytes([number]) * 16, 1, 0, bytes(16), b"")
                book.sent("alice", b"s" * 16, 1, 0, bytes(16))
                text = "x" * size
                view = book.digest("alice", b"s" * 16, 2, viewFits(size, maxPayload, False))
                with_view = viewed.encode(carryView(view, text), maxPayload)
                self.assertEqual(len(with_view), len(plain.encode(text, maxPayload)), (maxPayload, size))
                carried[(maxPayload, size)] = len(decode_view(view))
        self.assertEqual([carried[(466, size)] for size in (10, 50, 100, 150, 200, 250)], [8, 6, 4, 2, 0, 11])


class ChainStartTests(SynchronousTestCase):
    """Where a member's chain starts for us is what it said before we were given it."""

    def setUp(self) -> None:
        self.bobIdentity = Identity.generate()
        self.bob = RoomChains(ROOM, "bob", self.bobIdentity)
        for _ in range(3):
            self.bob.seal(b"said before dave was given the chain")
        self.dave = RoomChains(ROOM, "dave", Identity.generate())
        self.dave.members["bob"] = self.bobIdentity.public_key
        self.views = ForwardViews(lambda: "dave", lambda room: self.dave, lambda: 1_700_000_000.0)

    def aliceSays(self, seq: int, index: int) -> List[ev.Event]:
        """alice's message #index + 1, whose view names bob's chain at C{seq}: its findings."""
        view = encode_view([Entry(member_tag("bob"), self.bob.outbound.chain_id[:2], seq, None)])
        accepted = Accepted(FORWARD, "alice", ROOM, carryView(view, "hi"), PROTECTION, "A" * 21 + "Q", index,
                            1_700_000_000, stream=b"a" * 16)  # fmt: skip
        [result] = self.views.received(ROOM, [accepted])
        self.assertEqual(result.body, "hi")
        return list(result.views)

    def test_chainHandedAfterTheBookWasMade(self) -> None:
        self.assertEqual(self.views.received(ROOM, []), [])  # dave's view of the room exists
        self.dave.receive_start("bob", self.bob.outbound.start_record())
        self.views.chainTaken(ROOM, "bob")
        self.assertEqual(self.aliceSays(3, 0), [])
        self.assertEqual(self.aliceSays(4, 1), [ViewFinding(WITHHELD, "bob", 4, 4)])
