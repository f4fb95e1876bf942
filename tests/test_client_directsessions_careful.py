"""
Direct messages over pairwise sessions, second pass: what a careful user
expects (issue 22/23): the parts get what they need at construction; a
peer chosen plain stays plain across a restart; refusal hints to a session
peer travel authenticated over the session; a message held for a session
is never lost silently by a restart.
"""

from __future__ import annotations

import inspect

from twisted.trial.unittest import SynchronousTestCase

from securechat.client.core import events as ev
from securechat.client.core.conversations import Conversations
from securechat.client.core.hints import Hint, formatHint, isHint
from securechat.client.core.session import ClientSession
from securechat.client.core.wording import hintNote, notReadMark, spellConsole
from securechat.codec import TEST_KDF, derive_room_keys
from securechat.codec.sessions.framing import SESSION_MARKER

from .pairwise_support import Pair

ROOM = "#lab"


class ConstructionTests(SynchronousTestCase):
    def test_conversationsGetTheDirectPartAtConstruction(self):
        """The direct-sessions part is a constructor argument, with no default: nothing is set afterwards."""
        parameter = inspect.signature(Conversations).parameters["directSessions"]
        self.assertIs(parameter.default, inspect.Parameter.empty)
        session = ClientSession("alice", lambda event: None)
        self.assertIs(session.conversationsPart.directSessions, session.directSessions)
        self.assertFalse(hasattr(session.conversationsPart, "sessionJudge"))


class HintOverSessionTests(SynchronousTestCase):
    """
    Issue 22/23: a refusal hint to a peer we hold a session with goes sealed
    over it and is shown as authenticated; to a peer with none, the clear
    NOTICE, shown as unauthenticated.  A relay forges each.
    """

    def setUp(self):
        self.net = Pair("alice", "bob")
        self.alice, self.bob = self.net.clients["alice"], self.net.clients["bob"]
        for nick, passphrase in (("alice", b"the right one"), ("bob", b"a wrong one")):
            session = self.net.clients[nick]
            session.join(ROOM)
            session.lineReceived((":%s!~%s@h JOIN %s" % (nick, nick, ROOM)).encode())
            session.setKeys(ROOM, derive_room_keys(passphrase, ROOM, TEST_KDF), "fernet")

    def session(self):
        """alice and bob start a pairwise session (a direct message)."""
        self.alice.sendMessage("bob", "hello")
        self.net.pump()
        self.assertTrue(self.alice.pairwise.hasSession("bob"))
        self.assertTrue(self.bob.pairwise.hasSession("alice"))

    def roomMessage(self, body: str) -> str:
        """alice says C{body} in the room; the relay hands it to bob; bob's answer is returned as alice's msgid."""
        del self.net.outbox["alice"][:]
        sent = self.alice.sendMessage(ROOM, body)
        for message in self.net.take("alice"):
            self.bob.lineReceived((":alice!~alice@h PRIVMSG %s :%s" % (ROOM, message.params[1])).encode())
        return sent.msgid

    def test_hintGoesOverTheSessionAuthenticated(self):
        self.session()
        msgid = self.roomMessage("for the room")
        self.assertEqual(self.net.of("bob", ev.RejectedMessage)[-1].reason, "tampered")
        lines = self.net.take("bob")
        # No clear NOTICE: one session line to alice.
        self.assertEqual([m.command for m in lines], ["PRIVMSG"])
        self.assertTrue(lines[0].params[1].startswith(SESSION_MARKER + " msg "))
        self.assertNotIn("SC-REFUSED", lines[0].params[1])
        self.net.deliver("bob", "alice", lines[0].params[1])
        [hint] = self.net.of("alice", ev.RefusalHint)
        self.assertTrue(hint.authenticated)
        self.assertEqual((hint.by, hint.target, hint.reason, hint.msgids), ("bob", ROOM, "tampered", (msgid,)))
        note = hintNote(hint, spellConsole)
        self.assertIn("authenticated: it came over your protected session with bob", note)
        self.assertNotIn("UNAUTHENTICATED", note)
        self.assertIn("over your session", notReadMark(hint))

    def test_noSessionHintIsAClearNoticeShownUnauthenticated(self):
        msgid = self.roomMessage("for the room")
        [notice] = [m for m in self.net.take("bob") if m.command == "NOTICE"]
        self.assertTrue(isHint(notice.params[1]))
        self.alice.lineReceived((":bob!~bob@h NOTICE alice :%s" % (notice.params[1],)).encode())
        [hint] = self.net.of("alice", ev.RefusalHint)
        self.assertFalse(hint.authenticated)
        self.assertEqual(hint.msgids, (msgid,))
        self.assertIn("UNAUTHENTICATED", hintNote(hint, spellConsole))

    def test_forgedClearHintStaysUnauthenticatedAndTakesNoWindow(self):
        """The relay forges a clear hint under bob's name while a session exists: shown as unauthenticated,
        and bob's genuine hint over the session is still shown, authenticated, within the same window."""
        self.session()
        msgid = self.roomMessage("for the room")
        genuine = self.net.take("bob")
        forged = formatHint(Hint(ROOM, "tampered", 1, (msgid,)))
        self.alice.lineReceived((":bob!~bob@h NOTICE alice :%s" % (forged,)).encode())
        self.net.deliver("bob", "alice", genuine[0].params[1])
        hints = self.net.of("alice", ev.RefusalHint)
        self.assertEqual([h.authenticated for h in hints], [False, True])

    def test_forgedSessionHintIsRefused(self):
        """The relay cannot seal a hint record: a session line it made up (or altered) shows no hint."""
        self.session()
        self.roomMessage("for the room")
        [line] = self.net.take("bob")
        text = line.params[1]
        altered = text[:-6] + ("AAAA" if not text.endswith("AAAA") else "BBBB") + text[-2:]
        self.net.deliver("bob", "alice", altered)
        forged = "%s msg %s 1/1 %s" % (SESSION_MARKER, "A" * 22, "AQ" + "A" * 120)
        self.net.deliver("carol", "alice", forged)
        self.assertEqual(self.net.of("alice", ev.RefusalHint), [])
        self.assertTrue(self.net.of("alice", ev.RejectedMessage))
