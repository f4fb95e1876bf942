"""
Our own rename in a forward room, end to end (sans-IO sessions, pairwise
sessions and sender chains for real): the members are told that bob's key
now signs as bobby, and bobby is admitted again once they accept the key
for the new nick (/trust or /verify), without anyone rejoining.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from securechat.client.core import commands as cmd
from securechat.client.core import events as ev

from .test_client_forward_rooms import ROOM, Room


class OwnRenameTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.room = Room("alice", "bob", "carol")
        self.alice = self.room.clients["alice"]
        cmd.execute(self.alice, cmd.Layer(ROOM, "forward"))
        self.room.pump()
        self.assertEqual(self.alice.forwardRoute.part.members(ROOM), ["bob", "carol"])

    def rename(self, old: str, new: str) -> None:
        """The server accepts C{old}'s NICK: every member (and the renamed) sees it; the fake relay follows."""
        room = self.room
        cmd.execute(room.clients[old], cmd.Nick(new))
        for mapping in (room.clients, room.events, room.outbox):
            mapping[new] = mapping.pop(old)  # type: ignore[attr-defined]
        room.present[room.present.index(old)] = new
        for nick in room.present:
            room.tell(nick, ":%s!~%s@127.0.0.1 NICK :%s" % (old, old, new))
        room.pump()

    def said(self, sender: str, text: str) -> None:
        cmd.execute(self.room.clients[sender], cmd.Say(ROOM, text))
        self.room.pump()

    def test_membersToldThenTrustReadmits(self) -> None:
        """
        bob becomes bobby: alice and carol refuse bob's key under the new nick
        (and say how to accept it); after alice's /trust bobby, bobby and
        alice read each other again; carol, who did not accept it, neither
        gets bobby's chain nor hands hers to bobby.
        """
        self.rename("bob", "bobby")
        for nick in ("alice", "carol"):
            told = [(e.reason, e.description) for e in self.room.of(nick, ev.RejectedMessage) if e.sender == "bobby"]
            self.assertIn("signed-by-other", [reason for reason, _ in told])
            self.assertTrue(any("/trust bobby" in text for _, text in told), (nick, told))
            self.assertNotIn("bobby", self.room.clients[nick].forwardRoute.part.members(ROOM))
        cmd.execute(self.alice, cmd.Trust("bobby"))
        self.room.pump()
        self.assertIn("bobby", self.alice.forwardRoute.part.members(ROOM))
        self.assertIn("bobby", self.alice.forwardRoute.part.senders(ROOM))
        self.said("bobby", "new name, same me")
        self.said("alice", "hello bobby")
        self.assertIn(("bobby", "new name, same me", "forward"), self.room.shown("alice"))
        self.assertIn(("alice", "hello bobby", "forward"), self.room.shown("bobby"))
        # carol did not accept the key for bobby: no chain either way.
        self.said("carol", "not yet, bobby")
        self.assertNotIn("bobby", self.room.clients["carol"].forwardRoute.part.members(ROOM))
        self.assertNotIn(("bobby", "new name, same me", "forward"), self.room.shown("carol"))
        self.assertIn(("carol", "not yet, bobby", "forward"), self.room.shown("alice"))
        self.assertNotIn(("carol", "not yet, bobby", "forward"), self.room.shown("bobby"))

    def test_verifyReadmits(self) -> None:
        """/verify bobby with bob's fingerprint (compared out of band) admits bobby as /trust does."""
        fingerprint = self.room.clients["bob"].identity.fingerprint
        self.rename("bob", "bobby")
        cmd.execute(self.room.clients["carol"], cmd.Verify("bobby", fingerprint))
        self.room.pump()
        self.assertIn("bobby", self.room.clients["carol"].forwardRoute.part.members(ROOM))
        self.said("bobby", "verified")
        self.assertIn(("bobby", "verified", "forward"), self.room.shown("carol"))
