"""
Direct messages over pairwise sessions, second pass: what a careful user
expects (issue 22/23): the parts get what they need at construction; a
peer chosen plain stays plain across a restart; refusal hints to a session
peer travel authenticated over the session; a message held for a session
is never lost silently by a restart.
"""

from __future__ import annotations

import inspect
import json
import os

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from securechat.client.adapters.heldstate import heldFile
from securechat.client.adapters.persist import StateKeeper, conversationsFile
from securechat.client.adapters.statedir import StateDir
from securechat.client.core import events as ev
from securechat.client.core.conversations import Conversations
from securechat.client.core.directsessions import unansweredNote
from securechat.client.core.hints import Hint, formatHint, isHint
from securechat.client.core.pairwise import HANDSHAKE_TIMEOUT
from securechat.client.core.session import ClientSession
from securechat.client.core.wording import hintNote, notReadMark, spellConsole
from securechat.client.faces.jsonlines import encodeEvent
from securechat.codec import TEST_KDF, derive_room_keys
from securechat.codec.sessions.framing import SESSION_MARKER

from .pairwise_support import NETWORK, AliceRuns, Pair

ROOM = "#lab"


class ConstructionTests(SynchronousTestCase):
    def test_conversationsGetTheDirectPartAtConstruction(self):
        """The direct-sessions part is a constructor argument, with no default: nothing is set afterwards."""
        parameter = inspect.signature(Conversations).parameters["directSessions"]
        self.assertIs(parameter.default, inspect.Parameter.empty)
        session = ClientSession("alice", lambda event: None)
        # The route it gets is the forward rooms' part, which wraps the direct one.
        self.assertIs(session.conversationsPart.directSessions, session.forwardRoute)
        self.assertIs(session.forwardRoute._direct, session.directSessions)
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


class RestartTests(AliceRuns, SynchronousTestCase):
    """What survives a restart: the peers chosen plain; and held messages are never lost silently."""

    def test_plainChoiceSurvivesARestart(self):
        """A service chosen plain once (NickServ) is plain after a restart: no 30 s hold, no session tried."""
        keeper, session = self.alice()
        session.setLayer("NickServ", "plain")
        keeper.stopService()
        keeper, session = self.alice()
        sent = session.sendMessage("NickServ", "IDENTIFY hunter2")
        self.assertIsInstance(sent, ev.Sent)
        self.assertEqual(sent.layer, "plain")
        self.assertIn(b"PRIVMSG NickServ :IDENTIFY hunter2", b"".join(self.net.outbox["alice"]))
        self.assertFalse(session.pairwise.starting("NickServ"))

    def test_unchosenPeerIsHeldAfterARestart(self):
        """Only the user's choice is saved: another peer without securechat is still held, never in clear."""
        keeper, session = self.alice()
        session.setLayer("NickServ", "plain")
        keeper.stopService()
        keeper, session = self.alice()
        self.assertIsInstance(session.sendMessage("ChanServ", "secret words"), ev.Queued)
        self.assertNotIn(b"secret words", b"".join(self.net.outbox["alice"]))

    def test_liftedPlainChoiceIsForgotten(self):
        """/layer <a protected layer> bob lifts the choice: sessions again, and after a restart too."""
        keeper, session = self.alice()
        session.setLayer("bob", "plain")
        lifted = session.setLayer("bob", "signed")
        self.assertEqual((lifted.target, lifted.layer), ("bob", "session"))
        self.assertIsInstance(session.sendMessage("bob", "over a session"), ev.Queued)
        keeper.stopService()
        keeper, session = self.alice()
        self.assertEqual(session.directSessions.describe("bob"), "session: none yet")

    def test_heldMessageLostByARestartIsSaid(self):
        """A crash while a message waits for a session: the next run says it was never sent; no text on disk."""
        self.net.tamper = lambda sender, target, text: []  # bob never answers
        keeper, session = self.alice()
        session.sendMessage("bob", "the launch code is 0000")
        session.sendMessage("bob", "and a second one")
        self.crash(keeper)
        for name in os.listdir(self.path):
            with open(os.path.join(self.path, name), "rb") as f:
                self.assertNotIn(b"launch code", f.read())
        keeper, session = self.alice()
        errors = [event.message for event in self.net.of("alice", ev.Error)]
        self.assertEqual(len([text for text in errors if "were never sent (2 to bob)" in text]), 1, errors)
        # Said once: the run after that has nothing to say.
        keeper.stopService()
        keeper, session = self.alice()
        self.assertFalse([event for event in self.net.of("alice", ev.Error) if "never sent" in event.message])

    def test_heldThenSentIsNotSaid(self):
        """Held messages that went out when the session came are not reported by the next run."""
        keeper, session = self.alice()
        session.sendMessage("bob", "hello")
        self.assertEqual(session.directSessions.heldCounts(), {"bob": 1})
        self.net.pump()
        self.assertEqual(session.directSessions.heldCounts(), {})
        self.crash(keeper)
        keeper, session = self.alice()
        self.assertFalse([event for event in self.net.of("alice", ev.Error) if "never sent" in event.message])

    def test_unansweredIsNotSaidAgain(self):
        """A held message already said NOT SENT (the peer never answered) is not reported again at restart."""
        self.net.tamper = lambda sender, target, text: []
        keeper, session = self.alice()
        session.sendMessage("bob", "hello")
        self.net.clock.now += HANDSHAKE_TIMEOUT
        session.expire()
        self.assertTrue(self.net.of("alice", ev.SessionUnanswered))
        self.crash(keeper)
        keeper, session = self.alice()
        self.assertFalse([event for event in self.net.of("alice", ev.Error) if "never sent" in event.message])

    def test_malformedHeldFileIsSaidAndSetAside(self):
        os.makedirs(self.path, exist_ok=True)
        name = heldFile(NETWORK)
        with open(os.path.join(self.path, name), "w") as f:
            json.dump({"format": 1, "held": {"bob": "two"}}, f)
        keeper, session = self.alice()
        errors = [event.message for event in self.net.of("alice", ev.Error)]
        self.assertTrue([text for text in errors if "may not have been sent" in text and "kept as" in text], errors)
        self.assertTrue(os.path.exists(os.path.join(self.path, name + ".corrupt")))

    def test_malformedPlainListIsSaidAndNothingGoesInClear(self):
        """A plain list that cannot be read: said, and no peer becomes plain by a guess."""
        keeper, session = self.alice()
        session.setLayer("NickServ", "plain")
        keeper.stopService()
        path = os.path.join(self.path, conversationsFile(NETWORK))
        with open(path) as f:
            data = json.load(f)
        self.assertEqual(data["plain"], ["nickserv"])
        data["plain"] = "nickserv"
        with open(path, "w") as f:
            json.dump(data, f)
        keeper, session = self.alice()
        errors = [event.message for event in self.net.of("alice", ev.Error)]
        self.assertTrue([text for text in errors if "chose plain for is malformed" in text], errors)
        self.assertIsInstance(session.sendMessage("NickServ", "IDENTIFY hunter2"), ev.Queued)
        self.assertNotIn(b"hunter2", b"".join(self.net.outbox["alice"]))


class UnansweredAdviceTests(SynchronousTestCase):
    def test_consoleOffersTheSavedChoiceAndTheOneLine(self):
        """The console's NOT SENT names the saved choice of plain, and keeps the one line in clear last."""
        event = ev.SessionUnanswered("carol", "hello carol", "carol did not answer")
        note = unansweredNote(event, spellConsole)
        self.assertIn("To talk to carol in clear from now on (saved): /layer! plain carol. ", note)
        self.assertTrue(note.endswith("To send it in clear anyway (the relay reads it): /msg! carol hello carol"))


class HintJsonTests(SynchronousTestCase):
    def test_jsonSaysWhetherAHintIsAuthenticated(self):
        for authenticated in (True, False):
            event = ev.RefusalHint("#lab", "bob", "tampered", 1, authenticated=authenticated)
            self.assertIs(json.loads(encodeEvent(event))["authenticated"], authenticated)


class PlainByNickTests(AliceRuns, SynchronousTestCase):
    """The saved choice is the peer's nick alone: it holds whatever nick we get (the proxy learns ours late)."""

    def test_plainChoiceHoldsUnderAnotherOwnNick(self):
        keeper, session = self.alice()
        session.setLayer("NickServ", "plain")
        keeper.stopService()
        keeper = StateKeeper(StateDir.open(self.path), NETWORK, Clock(), self.net.clock)
        self.keepers.append(keeper)
        # Built under a placeholder nick, as the proxy builds its session; the server says "alice".
        session = ClientSession("placeholder", lambda event: None, clock=self.net.clock, identity=keeper.identity,
                                trust=keeper.trust, onConversation=keeper.restore)
        keeper.attach(session)
        self.net.add("alice", session)
        keeper.startService()
        self.assertEqual(session.nick, "alice")
        self.assertEqual(session.sendMessage("nickserv", "IDENTIFY hunter2").layer, "plain")
