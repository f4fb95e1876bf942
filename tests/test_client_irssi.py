"""
A real IRC client, irssi, in the same room as ours (driven in tmux): it
sees plain-layer messages as text and protected ones as C{+sc1} lines, and
what it says in a plain room reaches our client as plain text.  Skips,
saying why, when irssi or tmux is missing.
"""

from __future__ import annotations

import shutil

from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import SkipTest

from securechat.client import events as ev

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
        arrived = alice.wait_for(lambda e: isinstance(e, ev.Joined) and e.nick == "irssiuser", WAIT)
        tmux.start(
            "irssi --noconnect -n irssiuser --home=%s" % (home,), width=160, height=30,
        )
        yield tmux.waitFor("Irssi")
        tmux.keys("/connect 127.0.0.1 %d" % (self.portNumber,), "Enter")
        yield tmux.waitFor("Welcome to the securechat network")
        tmux.keys("/join %s" % (ROOM,), "Enter")
        yield arrived

        alice.send(ROOM, "plain words for everyone")
        yield tmux.waitFor("< alice> plain words for everyone")

        heard = alice.wait_for(ev.IncomingMessage, WAIT)
        tmux.keys("hello from irssi", "Enter")
        message = yield heard
        self.assertEqual(
            (message.sender, message.body, message.protection), ("irssiuser", "hello from irssi", "none")
        )

        yield alice.set_key(ROOM, b"irssi cannot read this", "fernet-ttl")
        alice.send(ROOM, "hidden words")
        screen = yield tmux.waitFor("< alice> +sc1 fernet-ttl ")
        self.assertNotIn("hidden words", screen)

        left = alice.wait_for(ev.UserQuit, WAIT)
        tmux.keys("/quit", "Enter")
        yield left
