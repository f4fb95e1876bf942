"""
The forward layer in the client: sans-IO sessions in one room on a fake
relay, pairwise sessions and sender chains for real, end to end.
"""

from __future__ import annotations

from typing import List, Optional

from twisted.trial.unittest import SynchronousTestCase

from securechat.client.core import commands as cmd
from securechat.client.core import events as ev
from securechat.client.core.rules import CommandError
from securechat.codec import TEST_KDF, derive_room_keys

from .pairwise_support import Pair

ROOM = "#lab"


class Room(Pair):
    """L{Pair}, plus one room: PRIVMSGs to it reach every other member."""

    def __init__(self, *nicks: str, secret: bytes = b"room secret", keyed: bool = True) -> None:
        self.present: List[str] = []
        self.keyed = keyed
        super().__init__(*nicks)
        self.keys = derive_room_keys(secret, ROOM, TEST_KDF)
        for nick in nicks:
            self.join(nick)

    def join(self, nick: str, keys: Optional[object] = None) -> None:
        self.clients[nick].join(ROOM)
        self.take(nick)
        for member in self.present + [nick]:
            self.tell(member, ":%s!~%s@127.0.0.1 JOIN %s" % (nick, nick, ROOM))
        self.present.append(nick)
        for member in self.present:
            if member != nick:
                self.tell(nick, ":%s!~%s@127.0.0.1 JOIN %s" % (member, member, ROOM))
        if self.keyed:
            self.clients[nick].setKeys(ROOM, keys or self.keys, "signed")  # type: ignore[arg-type]

    def leave(self, nick: str, tellLeaver: bool = True) -> None:
        for member in self.present:
            if member == nick and not tellLeaver:
                continue
            self.tell(member, ":%s!~%s@127.0.0.1 PART %s :bye" % (nick, nick, ROOM))
        self.present.remove(nick)

    def tell(self, nick: str, line: str) -> None:
        self.clients[nick].lineReceived(line.encode("utf-8"))

    def pump(self, rounds: int = 40) -> None:
        for _ in range(rounds):
            moved = False
            for nick in list(self.clients):
                for message in self.take(nick):
                    if message.command != "PRIVMSG":
                        continue
                    target, text = message.params[0], message.params[1]
                    self.recorded.append((nick, target, text))
                    moved = True
                    if target == ROOM:
                        for member in self.present:
                            if member != nick and nick in self.present:
                                self.tell(member, ":%s!~%s@127.0.0.1 PRIVMSG %s :%s" % (nick, nick, ROOM, text))
                    elif target in self.clients:
                        self.deliver(nick, target, text)
            if not moved:
                return

    def shown(self, nick: str) -> List[tuple]:
        return [
            (e.sender, e.body, e.layer)
            for e in self.events[nick]
            if isinstance(e, ev.IncomingMessage) and e.target == ROOM
        ]

    def refused(self, nick: str) -> List[tuple]:
        return [(e.sender, e.reason) for e in self.events[nick] if isinstance(e, ev.RejectedMessage)]


class ForwardRoomTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.room = Room("alice", "bob", "carol")
        self.alice = self.room.clients["alice"]

    def forward(self) -> None:
        cmd.execute(self.alice, cmd.Layer(ROOM, "forward"))
        self.room.pump()

    def test_layerForwardAndMembersFollow(self) -> None:
        """/layer forward: members prove the room secret over pairwise sessions, follow, and read each other."""
        self.forward()
        for nick in ("alice", "bob", "carol"):
            self.assertTrue(self.room.clients[nick].forwardRoute.isForward(ROOM), nick)
        cmd.execute(self.alice, cmd.Say(ROOM, "on sender chains now"))
        cmd.execute(self.room.clients["bob"], cmd.Say(ROOM, "and mine"))
        self.room.pump()
        self.assertEqual(self.room.shown("bob"), [("alice", "on sender chains now", "forward")])
        self.assertEqual(self.room.shown("carol"),
                         [("alice", "on sender chains now", "forward"), ("bob", "and mine", "forward")])  # fmt: skip
        # What the relay recorded of the room is forward lines only.
        texts = [text for _, target, text in self.room.recorded if target == ROOM]
        self.assertTrue(texts and all(text.startswith("+sc2 forward ") for text in texts))

    def test_forwardNeedsKeyAndRoom(self) -> None:
        """The room secret admits: no key, no forward layer; and only in a room we are in."""
        dave = Room("dave", keyed=False).clients["dave"]
        error = self.assertRaises(CommandError, cmd.execute, dave, cmd.Layer(ROOM, "forward"))
        self.assertIn("no key yet", str(error))
        self.assertFalse(dave.forwardRoute.isForward(ROOM))
        self.assertRaises(CommandError, cmd.execute, dave, cmd.Layer("#elsewhere", "forward"))
        self.assertRaises(CommandError, cmd.execute, dave, cmd.Layer("bob", "forward"))

    def test_afterLeave(self) -> None:
        """
        carol parts: alice and bob renew their chains for each other.  carol's
        client keeps all it had (the relay never tells it she left): it still
        cannot open what follows.
        """
        self.forward()
        self.room.leave("carol", tellLeaver=False)
        self.room.pump()
        cmd.execute(self.alice, cmd.Say(ROOM, "carol is gone"))
        self.room.pump()
        self.assertEqual(self.room.shown("bob")[-1], ("alice", "carol is gone", "forward"))
        # The relay hands carol the line anyway: she holds no chain for it.
        line = [text for sender, target, text in self.room.recorded if sender == "alice" and target == ROOM][-1]
        self.room.tell("carol", ":alice!~alice@127.0.0.1 PRIVMSG %s :%s" % (ROOM, line))
        self.assertNotIn(("alice", "carol is gone", "forward"), self.room.shown("carol"))
        self.assertIn(("alice", "not-admitted"), self.room.refused("carol"))

    def test_removeByAnyMember(self) -> None:
        """/remove carol by bob: sealed to the room, alice follows; both renew; carol reads nothing after."""
        self.forward()
        bob = self.room.clients["bob"]
        cmd.execute(bob, cmd.Remove(ROOM, "carol"))
        self.room.pump()
        self.assertEqual(self.alice.forwardRoute.part.members(ROOM), ["bob"])
        cmd.execute(self.alice, cmd.Say(ROOM, "without carol"))
        self.room.pump()
        self.assertEqual(self.room.shown("bob")[-1], ("alice", "without carol", "forward"))
        self.assertNotIn(("alice", "without carol", "forward"), self.room.shown("carol"))

    def test_relayMemberGetsNoChain(self) -> None:
        """The relay lists a member of its own (no securechat, no secret): it is asked, never given a chain."""
        self.room.tell("alice", ":mallory!~m@127.0.0.1 JOIN %s" % (ROOM,))
        self.forward()
        self.assertEqual(self.alice.forwardRoute.part.members(ROOM), ["bob", "carol"])

    def test_plainAndOlderLayersRefused(self) -> None:
        """In a forward room a signed line (or clear text) is not a message: refused."""
        self.forward()
        self.room.tell("bob", ":alice!~alice@127.0.0.1 PRIVMSG %s :hello in clear" % (ROOM,))
        self.assertIn(("alice", "unprotected"), self.room.refused("bob"))

    def test_loweringNeedsForce(self) -> None:
        self.forward()
        self.assertRaises(CommandError, cmd.execute, self.alice, cmd.Layer(ROOM, "signed"))
        cmd.execute(self.alice, cmd.Layer(ROOM, "signed", force=True))
        self.assertFalse(self.alice.forwardRoute.isForward(ROOM))

    def test_memberListedByNamesOnlyIsAsked(self) -> None:
        """A member the server lists by NAMES after /layer forward (no JOIN seen) is asked and admitted."""
        room = Room("alice", "bob")
        room.add("dave")
        dave = room.clients["dave"]
        dave.join(ROOM)
        room.take("dave")
        for member in ("dave", "alice", "bob"):
            room.tell("dave", ":%s!~%s@127.0.0.1 JOIN %s" % (member, member, ROOM))
        room.tell("bob", ":dave!~dave@127.0.0.1 JOIN %s" % (ROOM,))
        room.present.append("dave")
        dave.setKeys(ROOM, room.keys, "signed")
        alice = room.clients["alice"]
        cmd.execute(alice, cmd.Layer(ROOM, "forward"))
        room.pump()
        self.assertNotIn("dave", alice.forwardRoute.part.senders(ROOM))
        room.tell("alice", ":irc.test 353 alice = %s :alice bob dave" % (ROOM,))
        room.tell("alice", ":irc.test 366 alice %s :End of NAMES list" % (ROOM,))
        room.pump()
        self.assertIn("dave", alice.forwardRoute.part.senders(ROOM))
        self.assertIn("dave", alice.forwardRoute.part.members(ROOM))

    def test_shownWithItsSendersTrust(self) -> None:
        """A forward message carries its signer and the trust store's status: faces mark it 'forward, first use'."""
        from securechat.client.core.identities import signedMark

        self.forward()
        cmd.execute(self.alice, cmd.Say(ROOM, "marked"))
        self.room.pump()
        [event] = [e for e in self.room.events["bob"] if isinstance(e, ev.IncomingMessage) and e.body == "marked"]
        self.assertEqual((event.layer, event.trust), ("forward", "first-use"))
        self.assertEqual(signedMark(event), "forward, first use")

    def test_describedAsForward(self) -> None:
        """Faces asking a room's protection hear 'forward'; a peer is still the direct part's to describe."""
        self.forward()
        self.assertEqual(self.alice.forwardRoute.describe(ROOM), "forward")
        self.assertEqual(self.alice.forwardRoute.describe("bob"), self.alice.directSessions.describe("bob"))

    def test_madeUpPartAndJoinHeals(self) -> None:
        """
        The relay tells alice and carol that bob parted and joined again (bob
        is told nothing, as after a reconnect they see): bob is admitted anew
        and reads and is read, rather than handing chains nobody takes.
        """
        self.forward()
        for nick in ("alice", "carol"):
            self.room.tell(nick, ":bob!~bob@127.0.0.1 PART %s :bye" % (ROOM,))
            self.room.tell(nick, ":bob!~bob@127.0.0.1 JOIN %s" % (ROOM,))
        self.room.pump()
        cmd.execute(self.room.clients["bob"], cmd.Say(ROOM, "still here"))
        cmd.execute(self.alice, cmd.Say(ROOM, "welcome back"))
        self.room.pump()
        self.assertIn(("bob", "still here", "forward"), self.room.shown("alice"))
        self.assertIn(("alice", "welcome back", "forward"), self.room.shown("bob"))

    def rejoinAlice(self, listed: str) -> None:
        """alice reconnects and joins again; the server's NAMES lists C{listed}."""
        self.alice.connectionLost("gone", True)
        self.alice.connectionMade(self.room.outbox["alice"].append)
        self.room.tell("alice", ":irc.test 001 alice :Welcome alice!~alice@127.0.0.1")
        self.room.take("alice")
        self.room.tell("alice", ":alice!~alice@127.0.0.1 JOIN %s" % (ROOM,))
        self.room.tell("alice", ":irc.test 353 alice = %s :%s" % (ROOM, listed))
        self.room.tell("alice", ":irc.test 366 alice %s :End of NAMES list" % (ROOM,))
        self.room.pump()

    def test_leftWhileWeWereAway(self) -> None:
        """
        carol parts while alice is away (a reconnect): alice never sees the
        PART, but the NAMES after her own JOIN no longer lists carol, so
        carol is treated as gone: a new chain of alice's goes to bob only.
        """
        self.forward()
        self.room.tell("bob", ":carol!~carol@127.0.0.1 PART %s :bye" % (ROOM,))
        self.room.present.remove("carol")
        self.rejoinAlice("alice bob")
        self.assertEqual(self.alice.forwardRoute.part.members(ROOM), ["bob"])
        self.assertEqual(self.alice.forwardRoute.part.senders(ROOM), ["bob"])
        self.assertTrue(any("carol is no longer in #lab" in e.text for e in self.room.of("alice", ev.Notice)))
        cmd.execute(self.alice, cmd.Say(ROOM, "carol left while I was away"))
        self.room.pump()
        self.assertEqual(self.room.shown("bob")[-1], ("alice", "carol left while I was away", "forward"))
        # A relay that hands carol the line anyway: she holds no chain for it.
        line = [text for sender, target, text in self.room.recorded if sender == "alice" and target == ROOM][-1]
        self.room.tell("carol", ":alice!~alice@127.0.0.1 PRIVMSG %s :%s" % (ROOM, line))
        self.assertNotIn(("alice", "carol left while I was away", "forward"), self.room.shown("carol"))
        self.assertIn(("alice", "not-admitted"), self.room.refused("carol"))

    def test_everyoneListedAfterRejoinKeepsChains(self) -> None:
        """Our rejoin with everyone still listed: nobody is dropped, everyone still reads us."""
        self.forward()
        self.rejoinAlice("alice bob carol")
        self.assertEqual(self.alice.forwardRoute.part.members(ROOM), ["bob", "carol"])
        cmd.execute(self.alice, cmd.Say(ROOM, "back"))
        self.room.pump()
        self.assertEqual(self.room.shown("carol")[-1], ("alice", "back", "forward"))

    def test_namesLaterDropsNobody(self) -> None:
        """A NAMES reply the user asks for later (not after our JOIN) admits, but never treats anyone as gone."""
        self.forward()
        self.room.tell("alice", ":irc.test 353 alice = %s :alice bob" % (ROOM,))
        self.room.tell("alice", ":irc.test 366 alice %s :End of NAMES list" % (ROOM,))
        self.assertEqual(self.alice.forwardRoute.part.members(ROOM), ["bob", "carol"])
