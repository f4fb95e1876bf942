"""
What the client seals, and under which nick (issue 11, points 1 and 2),
on the sans-IO session: a target whose key is being derived is keyed
already; lowering protection is the user's explicit choice; the relay
cannot choose the nick messages are sealed under.
"""

from __future__ import annotations

from securechat.client.core import events as ev
from securechat.client.core.session import (
    MAX_QUEUED_MESSAGES,
    CommandError,
    NeedsForce,
    NotConnected,
)
from securechat.codec import Conversation, Identity, direct_target

from .test_client_session import PREFIX, SERVER, SessionCase


class SealingCase(SessionCase):
    def setUp(self):
        SessionCase.setUp(self)
        self.register()
        self.joinRoom()

    def privmsgs(self):
        return [m.params for m in self.lines() if m.command == "PRIVMSG"]

    def bodiesAs(self, layer, room="#lab", sender="alice"):
        """What a member keyed on C{layer} reads of what we sent to C{room}."""
        reader = Conversation(room, layer, self.keys(room), clock=self.clock)
        out = []
        for _target, text in self.privmsgs():
            for result in reader.receive(sender, text):
                out.append((getattr(result, "body", None), getattr(result, "reason", "ok")))
        return out


class PendingKeyTests(SealingCase):
    """A target whose key is being derived is keyed: its messages wait for the key."""

    def test_sendWhileKeyPendingWaitsAndGoesOutSealed(self):
        """
        The order docs/client.md shows (key, then send at once) used to
        send the body as plain text: now it waits, then goes out sealed.
        """
        request = self.session.keyRequested("#lab")
        self.sent.clear()
        queued = self.session.sendMessage("#lab", "meet at noon")
        self.assertIsInstance(queued, ev.Queued)
        self.assertEqual(self.sent, [], "nothing leaves before the key is there")
        self.assertEqual(self.ofType(ev.Sent), [])
        self.session.keyArrived("#lab", request, self.keys("#lab"))
        [sent] = self.ofType(ev.Sent)
        self.assertEqual((sent.target, sent.body, sent.layer), ("#lab", "meet at noon", "fernet-ttl"))
        self.assertEqual(self.bodiesAs("fernet-ttl"), [("meet at noon", "ok")])
        kinds = [type(e) for e in self.events if isinstance(e, (ev.Queued, ev.KeySet, ev.Sent))]
        self.assertEqual(kinds, [ev.Queued, ev.KeySet, ev.Sent])

    def test_pendingKeyOnTheAskedLayer(self):
        request = self.session.keyRequested("#lab", "fernet")
        self.session.sendMessage("#lab", "one")
        self.session.keyArrived("#lab", request, self.keys("#lab"), "fernet")
        self.assertEqual([e.layer for e in self.ofType(ev.Sent)], ["fernet"])

    def test_failedDerivationRefusesWhatWaited(self):
        request = self.session.keyRequested("#lab")
        self.session.sendMessage("#lab", "secret plan")
        self.sent.clear()
        self.session.keyFailed("#lab", request, "Not enough memory")
        [unsent] = self.ofType(ev.Unsent)
        self.assertEqual((unsent.target, unsent.body), ("#lab", "secret plan"))
        self.assertIn("Not enough memory", unsent.reason)
        self.assertEqual(self.sent, [])
        self.assertFalse(self.session.keyPending("#lab"))

    def test_queueIsBounded(self):
        self.session.keyRequested("#lab")
        for i in range(MAX_QUEUED_MESSAGES):
            self.session.sendMessage("#lab", "m%d" % (i,))
        error = self.assertRaises(CommandError, self.session.sendMessage, "#lab", "one too many")
        self.assertIn("already wait for the key", str(error))
        self.assertEqual(len(self.ofType(ev.Queued)), MAX_QUEUED_MESSAGES)
        self.assertEqual(self.privmsgs(), [])

    def test_queueIsBoundedInCharacters(self):
        self.session.keyRequested("#lab")
        self.session.sendMessage("#lab", "x" * 40000)
        self.assertRaises(CommandError, self.session.sendMessage, "#lab", "y" * 40000)

    def test_queuedChecksHappenAtOnce(self):
        """Bad input is refused when typed, not later when the key arrives."""
        self.session.keyRequested("#elsewhere")
        self.assertRaises(CommandError, self.session.sendMessage, "#elsewhere", "hi")
        self.session.keyRequested("#lab")
        self.assertRaises(CommandError, self.session.sendMessage, "#lab", "a\x00b")
        self.assertEqual(self.ofType(ev.Queued), [])

    def test_disconnectedWhenTheKeyArrives(self):
        request = self.session.keyRequested("#lab")
        self.session.sendMessage("#lab", "hello")
        self.session.connectionLost("gone", True)
        self.session.keyArrived("#lab", request, self.keys("#lab"))
        [unsent] = self.ofType(ev.Unsent)
        self.assertIn("not connected", unsent.reason)

    def test_laterRequestWins(self):
        """Two keys asked in a row: what was typed meanwhile waits for the second."""
        first = self.session.keyRequested("#lab")
        second = self.session.keyRequested("#lab")
        self.session.sendMessage("#lab", "for the second key")
        self.session.keyArrived("#lab", first, self.keys("#lab", b"old"))
        self.assertEqual(self.privmsgs(), [])
        self.session.keyArrived("#lab", second, self.keys("#lab", b"new"))
        self.assertEqual(len(self.privmsgs()), 1)
        self.assertEqual(self.session.keysFor("#lab").fingerprint("fernet-ttl"),
                         self.keys("#lab", b"new").fingerprint("fernet-ttl"))

    def test_olderDerivationFinishingLateDoesNotReplaceANewerKey(self):
        first = self.session.keyRequested("#lab")
        second = self.session.keyRequested("#lab")
        self.session.keyArrived("#lab", second, self.keys("#lab", b"new"))
        self.assertRaises(CommandError, self.session.keyArrived, "#lab", first, self.keys("#lab", b"old"))
        self.assertEqual(self.session.keysFor("#lab").fingerprint("fernet-ttl"),
                         self.keys("#lab", b"new").fingerprint("fernet-ttl"))

    def test_loweringWhileWaitingRefusesWhatWaited(self):
        """Forcing plain while a key is derived: what was typed for the key is not sent in clear."""
        request = self.session.keyRequested("#lab")
        self.session.sendMessage("#lab", "typed for the key")
        self.assertRaises(NeedsForce, self.session.setLayer, "#lab", "plain")
        self.session.setLayer("#lab", "plain", force=True)
        [unsent] = self.ofType(ev.Unsent)
        self.assertEqual(unsent.body, "typed for the key")
        self.session.keyArrived("#lab", request, self.keys("#lab"), "fernet-ttl")
        self.assertEqual(self.privmsgs(), [])
        self.assertEqual(self.session.layerFor("#lab"), "plain", "the user's later choice stands")

    def test_layerChosenWhileWaitingIsTheKeysLayer(self):
        request = self.session.keyRequested("#lab", "aes-ctr")
        error = self.assertRaises(CommandError, self.session.setLayer, "#lab", "fernet")
        self.assertIn("still being derived", str(error))
        self.session.keyArrived("#lab", request, self.keys("#lab"), "aes-ctr")
        self.assertEqual(self.session.layerFor("#lab"), "fernet")

    def test_directKeyPending(self):
        request = self.session.keyRequested("bob")
        self.session.sendMessage("bob", "psst")
        self.assertEqual(self.privmsgs(), [])
        pair = direct_target("alice", "bob")
        self.session.keyArrived("bob", request, self.keys(pair))
        [(target, text)] = self.privmsgs()
        reader = Conversation(pair, "fernet-ttl", self.keys(pair), clock=self.clock)
        [result] = reader.receive("alice", text)
        self.assertEqual(result.body, "psst")


class DowngradeTests(SealingCase):
    """Lowering protection needs the user's explicit confirmation (force), and says what is lost."""

    def test_layerPlainInAKeyedRoomNeedsForce(self):
        self.session.setKeys("#lab", self.keys("#lab"), "fernet-ttl")
        error = self.assertRaises(NeedsForce, self.session.setLayer, "#lab", "plain")
        for words in ("confidentiality", "integrity", "freshness", "/layer! plain #lab", '"force": true'):
            self.assertIn(words, str(error))
        self.assertEqual(self.session.layerFor("#lab"), "fernet-ttl")
        self.session.setLayer("#lab", "plain", force=True)
        self.assertEqual(self.session.layerFor("#lab"), "plain")

    def test_aesCtrNamesOnlyWhatIsLost(self):
        self.session.setKeys("#lab", self.keys("#lab"), "fernet")
        error = self.assertRaises(NeedsForce, self.session.setLayer, "#lab", "aes-ctr")
        self.assertIn("integrity", str(error))
        self.assertNotIn("confidentiality", str(error))
        self.assertNotIn("freshness", str(error))

    def test_raisingNeedsNoForce(self):
        self.session.setKeys("#lab", self.keys("#lab"), "aes-ctr")
        self.assertEqual(self.session.setLayer("#lab", "fernet-ttl").layer, "fernet-ttl")

    def test_loweringAPendingTargetNeedsForce(self):
        self.session.keyRequested("#lab")
        self.assertRaises(NeedsForce, self.session.setLayer, "#lab", "plain")

    def test_keyOnALowerLayerNeedsForce(self):
        self.session.setKeys("#lab", self.keys("#lab"), "fernet-ttl")
        self.assertRaises(NeedsForce, self.session.keyRequested, "#lab", "plain")
        self.assertRaises(NeedsForce, self.session.setKeys, "#lab", self.keys("#lab"), "aes-ctr")
        self.assertEqual(self.session.setKeys("#lab", self.keys("#lab"), "aes-ctr", force=True).layer, "aes-ctr")

    def test_clearMessageToAKeyedPeerNeedsForce(self):
        """
        A keyed conversation with bob whose key no longer applies (bob was
        renamed): one message in clear only when forced.
        """
        self.session.setKeys("bob", self.keys(direct_target("alice", "bob")))
        self.feed(":bob!~b@h NICK robert")
        self.sent.clear()
        error = self.assertRaises(NeedsForce, self.session.sendMessage, "robert", "hi")
        self.assertIn("/msg! robert", str(error))
        self.assertEqual(self.sent, [])
        sent = self.session.sendMessage("robert", "hi in clear", force=True)
        self.assertEqual(sent.layer, "plain")
        self.assertEqual(self.privmsgs(), [("robert", "hi in clear")])
        # Forcing one message does not unkey the conversation.
        self.assertRaises(NeedsForce, self.session.sendMessage, "robert", "again")

    def test_peerRenamedWhileItsKeyIsPending(self):
        """
        bob is renamed (by himself or the relay) while his key is derived:
        the console's window follows him to the new nick, so what is typed
        there goes to robert, who must count as keyed, not get clear text.
        """
        self.session.keyRequested("bob")
        self.feed(":bob!~b@h NICK robert")
        self.sent.clear()
        self.assertRaises(NeedsForce, self.session.sendMessage, "robert", "psst")
        self.assertEqual(self.sent, [])
        self.assertRaises(NeedsForce, self.session.setLayer, "robert", "plain")


class NickTests(SealingCase):
    """The client seals only under the nick its user chose."""

    def forgedRename(self, new="bob"):
        self.feed(":%s NICK %s" % (PREFIX, new))

    def test_forgedNickStopsProtectedSending(self):
        self.session.setKeys("#lab", self.keys("#lab"), "fernet-ttl")
        self.forgedRename("bob")
        [warning] = self.ofType(ev.NickUnconfirmed)
        self.assertEqual((warning.nick, warning.chosen), ("bob", "alice"))
        self.assertIn("did not ask for", warning.cause)
        self.sent.clear()
        error = self.assertRaises(CommandError, self.session.sendMessage, "#lab", "hello")
        self.assertIn("/nick bob", str(error))
        self.assertIn("/nick alice", str(error))
        self.assertEqual(self.sent, [])

    def test_plainStillGoesOut(self):
        """Nothing is sealed on plain: no sealed sender to lie about."""
        self.forgedRename("bob")
        self.assertEqual(self.session.sendMessage("#lab", "plain talk").layer, "plain")

    def test_confirmingTheNewNick(self):
        self.session.setKeys("#lab", self.keys("#lab"), "fernet-ttl")
        self.forgedRename("bob")
        self.sent.clear()
        self.session.changeNick("bob")
        self.assertEqual(self.sent, [], "accepting the server's nick asks nothing of it")
        self.assertTrue(self.session.nickConfirmed)
        self.assertIn("you accept the nick bob", self.ofType(ev.Notice)[-1].text)
        self.sent.clear()
        self.session.sendMessage("#lab", "as bob")
        self.assertEqual(self.bodiesAs("fernet-ttl", sender="bob"), [("as bob", "ok")])

    def test_askingForOursBack(self):
        self.session.setKeys("#lab", self.keys("#lab"), "fernet-ttl")
        self.forgedRename("bob")
        self.session.changeNick("alice")
        self.assertFalse(self.session.nickConfirmed, "until the server says so")
        self.feed(":bob!~alice@127.0.0.1 NICK alice")
        self.assertTrue(self.session.nickConfirmed)
        self.assertEqual(len(self.ofType(ev.NickUnconfirmed)), 1)
        self.session.sendMessage("#lab", "me again")

    def test_requestedNickChangeIsNotAWarning(self):
        self.session.setKeys("#lab", self.keys("#lab"), "fernet-ttl")
        self.session.changeNick("alicia")
        self.feed(":%s NICK alicia" % (PREFIX,))
        self.assertEqual(self.ofType(ev.NickUnconfirmed), [])
        self.assertEqual(self.session.sendMessage("#lab", "renamed").layer, "fernet-ttl")

    def test_earlierRequestAnsweredLateIsNotAWarning(self):
        self.session.changeNick("b1")
        self.session.changeNick("b2")
        self.feed(":%s NICK b1" % (PREFIX,))
        self.feed(":b1!~alice@127.0.0.1 NICK b2")
        self.assertEqual(self.ofType(ev.NickUnconfirmed), [])
        self.assertTrue(self.session.nickConfirmed)

    def test_reconnectRegistersTheChosenNick(self):
        """The relay's nick is not kept: the next registration asks for the user's."""
        self.forgedRename("bob")
        self.session.connectionLost("gone", True)
        self.sent.clear()
        self.connect()
        self.assertEqual(self.commands()[0], ("NICK", "alice"))

    def test_welcomeNamingAnotherNick(self):
        """A forced reconnect whose 001 names another nick: protected sending stops."""
        self.session.setKeys("#lab", self.keys("#lab"), "fernet-ttl")
        self.session.connectionLost("gone", True)
        self.connect()
        self.feed(":%s 001 bob :Welcome bob!~alice@127.0.0.1" % (SERVER,))
        self.feed(":bob!~alice@127.0.0.1 JOIN #lab")
        [warning] = self.ofType(ev.NickUnconfirmed)
        self.assertEqual((warning.nick, warning.chosen), ("bob", "alice"))
        self.assertIn("registered you as bob", warning.cause)
        self.sent.clear()
        self.assertRaises(CommandError, self.session.sendMessage, "#lab", "hello")
        self.assertEqual(self.privmsgs(), [])

    def test_nickInUseFallbackIsUnconfirmed(self):
        session = self.makeSession("carol")
        self.connect(session)
        self.feed(":%s 433 * carol :Nickname is already in use" % (SERVER,), session)
        self.feed(":%s 001 carol_ :Welcome carol_!~c@h" % (SERVER,), session)
        [warning] = self.ofType(ev.NickUnconfirmed)
        self.assertEqual((warning.nick, warning.chosen), ("carol_", "carol"))
        self.assertIn("carol was in use", warning.cause)
        self.assertFalse(session.nickConfirmed)

    def test_refusedNickRequestKeepsThePreviousChoice(self):
        """/nick to a taken nick leaves the user's nick as it was, still confirmed."""
        self.session.changeNick("bob")
        self.feed(":%s 433 alice bob :Nickname is already in use" % (SERVER,))
        self.assertEqual(self.session.requestedNick, "alice")
        self.assertTrue(self.session.nickConfirmed)
        self.session.changeNick("b-d")
        self.feed(":%s 432 alice b-d :Erroneous nickname" % (SERVER,))
        self.assertEqual(self.session.requestedNick, "alice")
        self.assertTrue(self.session.nickConfirmed)

    def test_refusedNickRequestKeepsTheOthersPin(self):
        """
        /nick bob while bob is in use must not re-pin bob to our key: the
        server refuses it, and bob's (perhaps verified) pin, saved in the
        state directory, would be gone, his next message "identity changed".
        """
        bobKey = Identity.generate().public_key
        self.session.trust.pin_own("bob", bobKey)  # a verified pin
        self.session.changeNick("bob")
        self.feed(":%s 433 alice bob :Nickname is already in use" % (SERVER,))
        self.assertEqual(self.session.trust.pinned("bob").public_key, bobKey)

    def test_ourNewNickIsPinnedOnceTheServerGivesIt(self):
        """A nick someone had before is ours, pinned to our key, once the server gives it."""
        carolKey = Identity.generate().public_key
        self.session.trust.pin_own("carol", carolKey)
        self.session.changeNick("carol")
        self.assertEqual(self.session.trust.pinned("carol").public_key, carolKey)
        self.feed(":%s NICK carol" % (PREFIX,))
        pin = self.session.trust.pinned("carol")
        self.assertEqual(
            (pin.public_key, pin.status), (self.session.identity.public_key, "verified")
        )

    def test_pendingKeyQueueRefusedUnderAForcedNick(self):
        request = self.session.keyRequested("#lab")
        self.session.sendMessage("#lab", "typed as alice")
        self.forgedRename("bob")
        self.assertRaises(CommandError, self.session.sendMessage, "#lab", "more")
        self.session.keyArrived("#lab", request, self.keys("#lab"))
        [unsent] = self.ofType(ev.Unsent)
        self.assertIn("a nick you did not choose", unsent.reason)
        self.assertEqual(self.privmsgs(), [])

    def test_notConnectedStillSaysSo(self):
        self.session.connectionLost("gone", False)
        self.assertRaises(NotConnected, self.session.sendMessage, "#lab", "hi")
