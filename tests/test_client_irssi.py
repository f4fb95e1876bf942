"""
A real IRC client, irssi, in the same room as ours (driven in tmux): it
sees plain-layer messages as text and protected ones as C{+sc2} lines, and
what it says in a plain room reaches our client as plain text; and, making
a room, it is its operator and sets its topic and modes.  Skips, saying
why, when irssi or tmux is missing.
"""

from __future__ import annotations

import shutil

from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import SkipTest

from securechat.client.core import events as ev

from .test_client_support import WAIT, LoopbackCase, Tmux

ROOM = "#lab"


class IrssiTests(LoopbackCase):
    timeout = 60

    def setUp(self):
        for program in ("irssi", "tmux"):
            if shutil.which(program) is None:
                raise SkipTest("%s is not installed: this test drives irssi in tmux" % (program,))
        return LoopbackCase.setUp(self)

    @inlineCallbacks
    def test_irssiSeesTextAndMarkers(self):
        alice = yield self.client("alice")
        yield self.joined(ROOM, alice)
        home = self.mktemp()
        tmux = Tmux(self, "irssi")
        arrived = alice.waitFor(lambda e: isinstance(e, ev.Joined) and e.nick == "irssiuser", WAIT)
        tmux.start(
            "irssi --noconnect -n irssiuser --home=%s" % (home,), width=160, height=30,
        )
        yield tmux.waitFor("Irssi")
        tmux.keys("/connect 127.0.0.1 %d" % (self.portNumber,), "Enter")
        yield tmux.waitFor("Welcome to the securechat network")
        tmux.keys("/join %s" % (ROOM,), "Enter")
        yield arrived

        alice.send(ROOM, "plain words for everyone")
        # alice made the room: she is its operator, and irssi shows her so.
        yield tmux.waitFor("<@alice> plain words for everyone")

        heard = alice.waitFor(ev.IncomingMessage, WAIT)
        tmux.keys("hello from irssi", "Enter")
        message = yield heard
        self.assertEqual(
            (message.sender, message.body, message.protection), ("irssiuser", "hello from irssi", "none")
        )

        yield alice.setKey(ROOM, b"irssi cannot read this", "fernet-ttl")
        alice.send(ROOM, "hidden words")
        screen = yield tmux.waitFor("<@alice> +sc2 fernet-ttl ")
        self.assertNotIn("hidden words", screen)

        left = alice.waitFor(ev.UserQuit, WAIT)
        tmux.keys("/quit", "Enter")
        yield left

    @inlineCallbacks
    def test_irssiOperatesItsRoom(self):
        """
        irssi makes a room, so it gets ops (CAP multi-prefix negotiated on
        the way, as irssi asks for it); it sets a topic and modes, which a
        plain member sees, and our client keeps working in that room.
        """
        home = self.mktemp()
        tmux = Tmux(self, "irssi-ops")
        tmux.start(
            "irssi --noconnect -n irssiop --home=%s" % (home,), width=160, height=30,
        )
        yield tmux.waitFor("Irssi")
        # irssi paces its own commands (2.2 s apart past a burst): not here.
        tmux.keys("/set cmd_queue_speed 0", "Enter")
        tmux.keys("/connect 127.0.0.1 %d" % (self.portNumber,), "Enter")
        yield tmux.waitFor("Welcome to the securechat network")
        tmux.keys("/join #ops", "Enter")
        yield tmux.waitFor("[@irssiop]")
        watcher = yield self.raw("watcher")
        yield watcher.join("#ops")
        alice = yield self.client("alice")
        yield self.joined("#ops", alice)

        tmux.keys("/topic operators at work", "Enter")
        topic = yield watcher.waitFor(lambda m: m.command == "TOPIC")
        self.assertEqual(
            (topic.sourceNick, topic.params), ("irssiop", ("#ops", "operators at work"))
        )
        tmux.keys("/mode #ops +mv alice", "Enter")
        mode = yield watcher.waitFor(lambda m: m.command == "MODE")
        self.assertEqual((mode.sourceNick, mode.params), ("irssiop", ("#ops", "+mv", "alice")))
        yield tmux.waitFor("mode/#ops [+mv alice] by irssiop")
        # +m: the voiced member speaks, the others may not.
        alice.send("#ops", "voiced words")
        yield tmux.waitFor("<+alice> voiced words")
        watcher.send("PRIVMSG", "#ops", "unvoiced")
        refused = yield watcher.waitFor(lambda m: m.command == "404")
        self.assertEqual(refused.params[1], "#ops")
        tmux.keys("/quit", "Enter")
