"""
Rooms on the forward layer in the state directory: chains written before a
message they opened is shown and before a line they sealed leaves; a crash
and restart loses the room's chains of nobody and reopens no replay window.
"""

from __future__ import annotations

import json
import os
import stat

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from securechat.client.adapters.forwardstate import forwardFile
from securechat.client.adapters.persist import StateKeeper
from securechat.client.adapters.statedir import CORRUPT_SUFFIX, StateDir
from securechat.client.core import commands as cmd
from securechat.client.core import events as ev
from securechat.client.core.session import ClientSession

from .test_client_forward_rooms import ROOM, Room

NETWORK = "tcp:irc.test:6667"


class ForwardStateTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.path = self.mktemp()
        self.room = Room("bob")
        self.keepers = []

    def tearDown(self) -> None:
        for keeper in self.keepers:
            if keeper.running:
                keeper.stopService()

    def alice(self) -> ClientSession:
        """Alice with her state directory (a fresh run of her client each call), in the room."""
        keeper = StateKeeper(StateDir.open(self.path), NETWORK, Clock(), self.room.clock)
        self.keepers.append(keeper)
        session = ClientSession(
            "alice",
            lambda event: self.room.events["alice"].append(event),
            clock=self.room.clock,
            identity=keeper.identity,
            trust=keeper.trust,
            onConversation=keeper.restore,
        )
        keeper.attach(session)
        keeper.startService()
        if "alice" in self.room.present:
            self.room.present.remove("alice")
        self.room.add("alice", session)
        self.room.join("alice")
        self.keeper = keeper
        return session

    def crash(self) -> None:
        self.keeper._loop.stop()
        self.keeper.state.close()
        self.keepers.remove(self.keeper)

    def saved(self) -> dict:
        with open(os.path.join(self.path, forwardFile(NETWORK)), encoding="utf-8") as handle:
            return json.load(handle)  # type: ignore[no-any-return]

    def test_writtenBeforeShownAndPrivate(self) -> None:
        """The file holds bob's chain moved past the message alice was shown, and only its owner reads it."""
        alice = self.alice()
        cmd.execute(alice, cmd.Layer(ROOM, "forward"))
        self.room.pump()
        cmd.execute(self.room.clients["bob"], cmd.Say(ROOM, "hello alice"))
        self.room.pump()
        self.assertEqual(self.room.shown("alice"), [("bob", "hello alice", "forward")])
        inbound = self.saved()["rooms"]["#lab"]["chains"]["inbound"]["bob"][-1]
        self.assertEqual(inbound["next"], 1)
        mode = stat.S_IMODE(os.stat(os.path.join(self.path, forwardFile(NETWORK))).st_mode)
        self.assertEqual(mode, 0o600)

    def test_crashAndRestartReadsOnReplaysNothing(self) -> None:
        """After a crash, alice's client reads bob's next message on the saved chain; the old line is replayed."""
        alice = self.alice()
        cmd.execute(alice, cmd.Layer(ROOM, "forward"))
        self.room.pump()
        cmd.execute(self.room.clients["bob"], cmd.Say(ROOM, "before the crash"))
        self.room.pump()
        old = [text for sender, target, text in self.room.recorded if sender == "bob" and target == ROOM][-1]
        self.crash()
        alice = self.alice()
        self.assertTrue(alice.forwardRoute.isForward(ROOM))
        self.room.tell("alice", ":bob!~bob@127.0.0.1 PRIVMSG %s :%s" % (ROOM, old))
        cmd.execute(self.room.clients["bob"], cmd.Say(ROOM, "after the restart"))
        self.room.pump()
        self.assertIn(("bob", "replayed"), self.room.refused("alice"))
        self.assertEqual(self.room.shown("alice")[-1], ("bob", "after the restart", "forward"))

    def test_stateOfTheOldChainKdfSetAside(self) -> None:
        """
        A file written when sender chains stepped by HMAC-SHA256 (format 1)
        is never read as chains of today's KDF: it is set aside with a
        warning that says why, and /layer forward starts the room afresh.
        """
        alice = self.alice()
        cmd.execute(alice, cmd.Layer(ROOM, "forward"))
        self.room.pump()
        cmd.execute(self.room.clients["bob"], cmd.Say(ROOM, "before the upgrade"))
        self.room.pump()
        old = [text for sender, target, text in self.room.recorded if sender == "bob" and target == ROOM][-1]
        self.crash()
        path = os.path.join(self.path, forwardFile(NETWORK))
        state = self.saved()
        state["format"] = 1
        chains = state["rooms"]["#lab"]["chains"]
        chains["version"] = chains["outbound"]["version"] = 1
        for inbound in chains["inbound"]["bob"]:
            inbound["version"] = 2
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(state, handle)
        atStart = self.room.events["alice"] = []  # what the restarted client says before it joins
        alice = self.alice()
        [warning] = [e.message for e in atStart if isinstance(e, ev.Error)]
        self.assertIn("format 1", warning)
        self.assertIn("HMAC-SHA256", warning)
        self.assertIn("/layer forward starts the rooms again", warning)
        self.assertTrue(os.path.exists(path + CORRUPT_SUFFIX))
        self.assertFalse(alice.forwardRoute.isForward(ROOM))
        cmd.execute(alice, cmd.Layer(ROOM, "forward"))
        self.room.pump()
        self.room.tell("alice", ":bob!~bob@127.0.0.1 PRIVMSG %s :%s" % (ROOM, old))
        cmd.execute(self.room.clients["bob"], cmd.Say(ROOM, "after the upgrade"))
        self.room.pump()
        self.assertNotIn(("bob", "before the upgrade", "forward"), self.room.shown("alice")[1:])
        self.assertEqual(self.room.shown("alice")[-1], ("bob", "after the upgrade", "forward"))
        self.assertEqual(self.saved()["format"], 2)

    def test_unreadableFormatSetAside(self) -> None:
        """
        A file whose format is not a number (edited, or damaged) is set
        aside with a warning like any unreadable one: the client starts,
        and /layer forward starts the room afresh.  (Asking whether such a
        format is one of the old ones must not raise: a list cannot be
        looked up in a dict.)
        """
        alice = self.alice()
        cmd.execute(alice, cmd.Layer(ROOM, "forward"))
        self.room.pump()
        self.crash()
        path = os.path.join(self.path, forwardFile(NETWORK))
        state = self.saved()
        state["format"] = [1]
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(state, handle)
        atStart = self.room.events["alice"] = []
        alice = self.alice()
        [warning] = [e.message for e in atStart if isinstance(e, ev.Error)]
        self.assertIn("not a forward-rooms state", warning)
        self.assertIn("/layer forward starts the rooms again", warning)
        self.assertTrue(os.path.exists(path + CORRUPT_SUFFIX))
        self.assertFalse(alice.forwardRoute.isForward(ROOM))
        cmd.execute(alice, cmd.Layer(ROOM, "forward"))
        self.room.pump()
        cmd.execute(self.room.clients["bob"], cmd.Say(ROOM, "after the damage"))
        self.room.pump()
        self.assertEqual(self.room.shown("alice")[-1], ("bob", "after the damage", "forward"))
        self.assertEqual(self.saved()["format"], 2)
