"""
Direct messages over pairwise sessions, in the sans-IO session: held until
the session is ready and never in clear; a peer who never answers gets
"not sent" with the explicit choice; a /key secret still wins; and a relay
that replays, reorders, drops, re-attributes or answers the handshake
itself gets nothing shown (issue 22, points 1 and 3).
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from securechat.client.core import events as ev
from securechat.client.core.directsessions import HELD_NOTE
from securechat.client.core.pairwise import HANDSHAKE_TIMEOUT, SESSION_LAYER
from securechat.client.core.rules import CommandError
from securechat.codec import TEST_KDF, Identity, derive_room_keys, direct_target
from securechat.codec.sessions.framing import SESSION_MARKER

from .pairwise_support import Pair


def bodies(net: Pair, nick: str) -> list:
    return [(event.sender, event.body) for event in net.of(nick, ev.IncomingMessage)]


def reasons(net: Pair, nick: str) -> list:
    return [event.reason for event in net.of(nick, ev.RejectedMessage)]


class SendingTests(SynchronousTestCase):
    def setUp(self):
        self.net = Pair("alice", "bob")
        self.alice = self.net.clients["alice"]

    def crossed(self, secret: str) -> list:
        return [text for _, _, text in self.net.recorded if secret in text]

    def test_heldUntilReadyNeverInClear(self):
        """The first message waits for the session, says so, and crosses the relay sealed only."""
        answer = self.alice.sendMessage("bob", "meet at noon")
        self.assertIsInstance(answer, ev.Queued)
        self.assertEqual(answer.reason, HELD_NOTE % ("bob",))
        self.assertEqual(
            answer.reason, "starting a protected session with bob; your message is held (never sent in clear)"
        )
        self.net.pump()
        self.assertEqual(bodies(self.net, "bob"), [("alice", "meet at noon")])
        shown = self.net.of("bob", ev.IncomingMessage)[0]
        self.assertEqual((shown.layer, shown.direct, shown.trust), (SESSION_LAYER, True, "first-use"))
        self.assertEqual(shown.signer, self.alice.identity.fingerprint)
        self.assertEqual(self.crossed("noon"), [])
        self.assertTrue(all(text.startswith(SESSION_MARKER + " ") for _, _, text in self.net.recorded))

    def test_laterMessagesGoAtOnce(self):
        self.alice.sendMessage("bob", "one")
        self.net.pump()
        answer = self.alice.sendMessage("bob", "two")
        self.assertIsInstance(answer, ev.Sent)
        self.assertEqual(answer.layer, SESSION_LAYER)
        self.net.clients["bob"].sendMessage("alice", "three")
        self.net.pump()
        self.assertEqual(bodies(self.net, "bob"), [("alice", "one"), ("alice", "two")])
        self.assertEqual(bodies(self.net, "alice"), [("bob", "three")])

    def test_actionIsAnAction(self):
        """/me over a session: the CTCP framing is inside the record, shown as an action."""
        from securechat.client.core import commands as cmd

        cmd.execute(self.alice, cmd.Me("bob", "waves"))
        self.net.pump()
        [action] = self.net.of("bob", ev.Action)
        self.assertEqual((action.sender, action.body, action.layer), ("alice", "waves", SESSION_LAYER))

    def test_sessionMessagesWaitForThePace(self):
        """Once a session exists, a message waits unsealed for the server's pace like any other."""
        self.alice.sendMessage("bob", "first")
        self.net.pump()
        woken = []
        self.alice.pacedBy(woken.append)
        self.alice.setDrainBlocked(True)
        self.assertIsInstance(self.alice.sendMessage("bob", "paced"), ev.Paced)
        self.assertEqual(self.net.take("alice"), [])
        self.alice.setDrainBlocked(False)
        self.net.pump()
        self.assertEqual(bodies(self.net, "bob")[-1], ("alice", "paced"))

    def test_longMessageTakesSeveralLines(self):
        text = "x" * 1500
        self.alice.sendMessage("bob", "hi")
        self.net.pump()
        self.assertGreater(self.alice.sendMessage("bob", text).lines, 1)
        self.net.pump()
        self.assertEqual(bodies(self.net, "bob")[-1], ("alice", text))

    def test_bothStartAtOnce(self):
        """Both send first: one handshake wins (the smaller identity key initiates), nothing is lost."""
        self.alice.sendMessage("bob", "from alice")
        self.net.clients["bob"].sendMessage("alice", "from bob")
        self.net.pump()
        self.assertEqual(bodies(self.net, "bob"), [("alice", "from alice")])
        self.assertEqual(bodies(self.net, "alice"), [("bob", "from bob")])
        self.assertEqual(reasons(self.net, "alice") + reasons(self.net, "bob"), [])

    def test_unansweredIsNotSentWithTheChoice(self):
        """A peer with no securechat: after the timeout the message is not sent, and the user chooses."""
        self.net.tamper = lambda sender, target, text: []  # a plain IRC user answers nothing
        self.alice.sendMessage("bob", "are you there")
        self.net.pump()
        self.net.clock.now += HANDSHAKE_TIMEOUT
        self.alice.expire()
        unanswered = self.net.of("alice", ev.SessionUnanswered)
        self.assertEqual([(e.target, e.body) for e in unanswered], [("bob", "are you there")])
        self.assertIn("did not answer a protected session within 30 seconds", unanswered[0].reason)
        self.assertEqual(self.crossed("are you there"), [])
        # The explicit choice: force sends this one in clear.
        sent = self.alice.sendMessage("bob", "are you there", force=True)
        self.assertEqual(sent.layer, "plain")
        self.assertEqual(self.crossed("are you there"), [])  # the relay drops everything here
        self.assertIn(b"PRIVMSG bob :are you there", b"".join(self.net.outbox["alice"]))

    def test_keyedPeerKeepsItsSecret(self):
        """A peer with a /key secret: the secret still works, no session is started."""
        keys = derive_room_keys(b"pair secret", direct_target("alice", "bob"), TEST_KDF)
        self.alice.setKeys("bob", keys, "signed")
        self.net.clients["bob"].setKeys("alice", keys, "signed")
        self.alice.sendMessage("bob", "keyed")
        self.net.pump()
        self.assertEqual([text.split()[:2] for _, _, text in self.net.recorded], [["+sc2", "signed"]])
        self.assertEqual(bodies(self.net, "bob"), [("alice", "keyed")])
        self.assertFalse(self.alice.pairwise.hasSession("bob"))

    def test_plainChosenIsPlain(self):
        """Choosing plain for a peer (the user's word) sends in clear, no session."""
        self.alice.setLayer("bob", "plain")
        self.assertEqual(self.alice.sendMessage("bob", "hello").layer, "plain")

    def test_roomsAreNotPairwise(self):
        self.alice.join("#lab")
        self.alice.lineReceived(b":alice!~alice@h JOIN #lab")
        self.assertEqual(self.alice.sendMessage("#lab", "hi").layer, "plain")

    def test_offWhenAsked(self):
        """A session built with directSessions=False sends direct messages to unkeyed peers as before."""
        net = Pair("carol", "dave", directSessions=False)
        self.assertEqual(net.clients["carol"].sendMessage("dave", "plain hi").layer, "plain")


class ReceivingTests(SynchronousTestCase):
    """What a relay can do to session lines, and what the user sees of it."""

    def setUp(self):
        self.net = Pair("alice", "bob", "carol")
        self.alice, self.bob = self.net.clients["alice"], self.net.clients["bob"]
        self.alice.sendMessage("bob", "hello")
        self.net.pump()
        self.assertEqual(bodies(self.net, "bob"), [("alice", "hello")])

    def sealed(self, text: str) -> list:
        """What alice's next message looks like on the wire, not delivered."""
        self.alice.sendMessage("bob", text)
        return [message.params[1] for message in self.net.take("alice")]

    def test_replayRefused(self):
        lines = self.sealed("once")
        for line in lines * 2:
            self.net.deliver("alice", "bob", line)
        self.assertEqual(bodies(self.net, "bob")[1:], [("alice", "once")])
        self.assertEqual(reasons(self.net, "bob"), ["replayed"])

    def test_reorderAndDrop(self):
        """Held back and delivered late, a message still opens once; a dropped one costs nothing more."""
        first, second, third = self.sealed("1"), self.sealed("2"), self.sealed("3")
        for line in third + first:
            self.net.deliver("alice", "bob", line)
        self.assertEqual(bodies(self.net, "bob")[1:], [("alice", "3"), ("alice", "1")])
        self.assertEqual(reasons(self.net, "bob"), [])
        del second

    def test_reattributedToAnotherNickRefused(self):
        """Bob's session with alice never opens a line the relay says is from carol, with or without a carol session."""
        line = self.sealed("for bob")
        self.net.deliver("carol", "bob", line[0])
        self.assertEqual(reasons(self.net, "bob"), ["no-session"])
        self.net.clients["carol"].sendMessage("bob", "carol here")
        self.net.pump()
        self.net.deliver("carol", "bob", line[0])
        self.assertEqual(reasons(self.net, "bob"), ["no-session", "tampered"])
        self.assertNotIn(("carol", "for bob"), bodies(self.net, "bob"))
        # The genuine line, from alice, still opens.
        self.net.deliver("alice", "bob", line[0])
        self.assertIn(("alice", "for bob"), bodies(self.net, "bob"))

    def test_lostStateRecovers(self):
        """Bob lost his sessions: alice's next message is refused (unreadable), bob starts anew, then all flows."""
        self.bob.pairwise._sessions.clear()
        for line in self.sealed("lost"):
            self.net.deliver("alice", "bob", line)
        self.assertEqual(reasons(self.net, "bob"), ["no-session"])
        self.assertIn("a new session is being started", self.net.of("bob", ev.RejectedMessage)[0].description)
        self.net.pump()
        self.alice.sendMessage("bob", "after")
        self.bob.sendMessage("alice", "back")
        self.net.pump()
        self.assertEqual(bodies(self.net, "bob")[-1], ("alice", "after"))
        self.assertEqual(bodies(self.net, "alice")[-1], ("bob", "back"))

    def test_unknownNickStartsNothing(self):
        """A ratchet line under a nick we never knew: refused, and no handshake sent to it."""
        self.net.deliver("mallory", "bob", self.sealed("x")[0])
        self.assertEqual(reasons(self.net, "bob"), ["no-session"])
        self.assertEqual(self.net.take("bob"), [])

    def test_alteredLineRefused(self):
        line = self.sealed("intact")[0]
        flipped = line[:-3] + ("A" if line[-3] != "A" else "B") + line[-2:]
        self.net.deliver("alice", "bob", flipped)
        self.assertEqual(reasons(self.net, "bob"), ["tampered"])
        self.net.deliver("alice", "bob", line)
        self.assertEqual(bodies(self.net, "bob")[-1], ("alice", "intact"))

    def test_plainLineFromSessionPeerRefused(self):
        """Plain text under alice's name, once a session exists: refused as unprotected, not shown."""
        self.net.deliver("alice", "bob", "send me your password")
        self.assertEqual(reasons(self.net, "bob"), ["unprotected"])
        self.assertEqual(bodies(self.net, "bob"), [("alice", "hello")])

    def test_malformedSessionLineRefused(self):
        self.net.deliver("alice", "bob", SESSION_MARKER + " msg nonsense")
        self.assertEqual(reasons(self.net, "bob"), ["malformed"])


class HandshakeAttackTests(SynchronousTestCase):
    """The relay answers the handshake itself, or never delivers the reply."""

    def setUp(self):
        self.net = Pair("alice", "bob")
        self.alice, self.bob = self.net.clients["alice"], self.net.clients["bob"]
        # Alice verified bob's identity (compared the fingerprint out of band).
        self.alice.trust.trust("bob", self.bob.identity.public_key)
        self.alice.trust.verify("bob", self.bob.identity.fingerprint)

    def impostorAnswers(self):
        """The relay plays bob with an identity of its own: its REPLY reaches alice."""
        from securechat.client.core.session import ClientSession

        impostor = ClientSession("bob", lambda event: None, clock=self.net.clock, directSessions=True)
        self.net.clients["bob"] = self.net.add("bob", impostor)
        self.alice.sendMessage("bob", "secret plan")
        self.net.pump()

    def test_relayAnsweringWithItsOwnKeyIsRefused(self):
        self.impostorAnswers()
        refused = self.net.of("alice", ev.RejectedMessage)
        self.assertEqual([event.reason for event in refused], ["identity-changed"])
        self.assertIn("identity changed", refused[0].description)
        self.assertFalse(self.alice.pairwise.hasSession("bob"))
        self.assertEqual(self.net.of("bob", ev.IncomingMessage), [])
        self.assertEqual([text for _, _, text in self.net.recorded if "plan" in text], [])
        # It stays not sent: the timeout says so, as for a peer who never answered.
        self.net.clock.now += HANDSHAKE_TIMEOUT
        self.alice.expire()
        self.assertEqual([e.body for e in self.net.of("alice", ev.SessionUnanswered)], ["secret plan"])

    def test_relayAnsweringWithoutIdentityIsRefused(self):
        """A REPLY whose signature is not by the key it names: bad signature."""
        def forge(sender, target, text):
            if " reply " in text:
                raw = text.split(" ")[4]
                tampered = raw[:-6] + ("AAAAAA" if raw[-6:] != "AAAAAA" else "BBBBBA")
                return [(sender, text[: -len(raw)] + tampered)]
            return [(sender, text)]

        self.net.tamper = forge
        self.alice.sendMessage("bob", "secret plan")
        self.net.pump()
        self.assertIn(self.net.of("alice", ev.RejectedMessage)[0].reason, ("bad-signature", "tampered", "malformed"))
        self.assertFalse(self.alice.pairwise.hasSession("bob"))

    def test_replyNeverDeliveredIsNotSent(self):
        self.net.tamper = lambda sender, target, text: [] if " reply " in text else [(sender, text)]
        self.alice.sendMessage("bob", "secret plan")
        self.net.pump()
        self.net.clock.now += HANDSHAKE_TIMEOUT
        self.alice.expire()
        self.assertEqual([e.body for e in self.net.of("alice", ev.SessionUnanswered)], ["secret plan"])
        self.assertEqual(self.net.of("bob", ev.IncomingMessage), [])

    def test_verifiedPeerGenuineWorks(self):
        self.alice.sendMessage("bob", "secret plan")
        self.net.pump()
        self.assertEqual(bodies(self.net, "bob"), [("alice", "secret plan")])
        self.assertEqual(self.alice.trust.pinned("bob").status, "verified")

    def test_impostorInitiatingIsRefusedByPin(self):
        """Someone else's INIT under a pinned nick: refused at once (identity-changed), nothing answered."""
        other = Identity.generate()
        from securechat.codec.sessions import Initiator
        from securechat.codec.sessions.framing import KIND_INIT, frame

        init = Initiator(other, "bob", "alice").init()
        for line in frame(KIND_INIT, init, 400):
            self.net.deliver("bob", "alice", line)
        self.assertEqual([e.reason for e in self.net.of("alice", ev.RejectedMessage)], ["identity-changed"])
        self.assertEqual(self.net.take("alice"), [])


class NickChangeTests(SynchronousTestCase):
    """A session binds both nicks: a rename ends it, and the next message starts one under the new nick."""

    def setUp(self):
        self.net = Pair("alice", "bob")
        self.alice, self.bob = self.net.clients["alice"], self.net.clients["bob"]
        self.alice.sendMessage("bob", "hello")
        self.net.pump()

    def rename(self, old, new):
        for session in self.net.clients.values():
            session.lineReceived((":%s!~%s@h NICK %s" % (old, old, new)).encode())
        self.net.clients[new] = self.net.clients.pop(old)
        self.net.outbox[new] = self.net.outbox.pop(old)
        self.net.events[new] = self.net.events.pop(old)

    def test_peerRenamedStartsAgainAndIsJudgedForTheNewNick(self):
        self.rename("bob", "bob2")
        self.assertFalse(self.alice.pairwise.hasSession("bob"))
        self.assertFalse(self.bob.pairwise.hasSession("alice"))
        self.assertIsInstance(self.alice.sendMessage("bob2", "still you?"), ev.Queued)
        self.net.pump()
        # bob's key is pinned to "bob": under "bob2" it is another's until the user says so.
        self.assertEqual(reasons(self.net, "alice"), ["signed-by-other"])
        self.assertEqual(bodies(self.net, "bob2"), [("alice", "hello")])
        self.alice.trustNick("bob2")
        self.alice.sendMessage("bob2", "now?")
        self.net.pump()
        self.assertEqual(bodies(self.net, "bob2")[-1], ("alice", "now?"))


class BudgetTests(SynchronousTestCase):
    """A server that leaves too little of a line (a huge host in our prefix): said, nothing crashes."""

    def test_tooLittleRoomToAnswer(self):
        net = Pair("alice", "bob")
        bob = net.clients["bob"]
        bob.lineReceived((":irc.test 001 bob :Welcome bob!~bob@" + "h" * 440).encode())
        net.clients["alice"].sendMessage("bob", "hello")
        net.pump()
        errors = [event for event in net.events["bob"] if isinstance(event, ev.Error)]
        self.assertEqual(len(errors), 1)
        self.assertIn("pairwise session with alice: not sent to alice", errors[0].message)
        self.assertRaises(CommandError, bob.sendMessage, "alice", "x")
        self.assertFalse(bob.pairwise.starting("alice"))
