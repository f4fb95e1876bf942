"""
End to end over loopback sockets with our relay in-process: two headless
clients exchange messages on every layer, long messages are chunked, the
client survives a relay restart, and each kind of rejection a member or
the relay can cause is reported as such.
"""

from __future__ import annotations

import time

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.error import ConnectionRefusedError

from securechat.client.adapters.headless import HeadlessClient
from securechat.client.core import events as ev
from securechat.codec import MARKER, TEST_KDF

from .test_client_support import WAIT, LoopbackCase

ROOM = "#lab"
PASSPHRASE = b"correct horse battery staple"
KEYED_LAYERS = ("aes-ctr", "fernet", "fernet-ttl")
PROTECTION = {
    "plain": "none",
    "aes-ctr": "confidential",
    "fernet": "authenticated",
    "fernet-ttl": "authenticated+fresh",
}
TEN_KIB = 10 * 1024


def isMessage(event: ev.Event) -> bool:
    return isinstance(event, ev.IncomingMessage)


def isRejection(event: ev.Event) -> bool:
    return isinstance(event, ev.RejectedMessage)


class ExchangeTests(LoopbackCase):
    """Two clients in a room, every layer."""

    @inlineCallbacks
    def pair(self, layer: str = "plain", **bobOptions):
        alice = yield self.client("alice")
        bob = yield self.client("bob", **bobOptions)
        yield self.joined(ROOM, alice, bob)
        if layer != "plain":
            yield alice.setKey(ROOM, PASSPHRASE, layer)
            yield bob.setKey(ROOM, PASSPHRASE, layer)
        return alice, bob

    @inlineCallbacks
    def test_everyLayer(self):
        """Each layer delivers, with the protection that layer can claim."""
        alice, bob = yield self.pair()
        for layer in ("plain",) + KEYED_LAYERS:
            if layer != "plain":
                yield alice.setKey(ROOM, PASSPHRASE, layer)
                yield bob.setKey(ROOM, PASSPHRASE, layer)
            waiting = bob.waitFor(isMessage, WAIT)
            sent = alice.send(ROOM, "hello on " + layer)
            self.assertEqual(sent.layer, layer)
            message = yield waiting
            self.assertEqual(
                (message.target, message.sender, message.body, message.layer, message.protection),
                (ROOM, "alice", "hello on " + layer, layer, PROTECTION[layer]),
            )
            self.assertEqual(alice.fingerprint(ROOM), bob.fingerprint(ROOM))

    @inlineCallbacks
    def test_chunkedTenKiB(self):
        """A 10 KiB message is split to fit the line limit and put back together."""
        alice, bob = yield self.pair("fernet-ttl")
        body = "".join(chr(0x41 + i % 26) for i in range(TEN_KIB - 4)) + " éà€"
        waiting = bob.waitFor(isMessage, WAIT)
        sent = alice.send(ROOM, body)
        self.assertGreater(sent.lines, 10)
        message = yield waiting
        self.assertEqual(message.body, body)
        self.assertEqual(message.protection, "authenticated+fresh")

    @inlineCallbacks
    def test_linesFitTheRelayedLimit(self):
        """
        Every line the relay forwards (with alice's prefix in front) fits
        512 bytes, so no IRC server truncates a protected message.
        """
        alice = yield self.client("alice")
        raw = yield self.raw("watcher")
        yield self.joined(ROOM, alice)
        yield raw.join(ROOM)
        yield alice.setKey(ROOM, PASSPHRASE, "fernet")
        sent = alice.send(ROOM, "z" * 3000)
        for _ in range(sent.lines):
            message = yield raw.waitFor(lambda m: m.command == "PRIVMSG")
            relayed = ":%s PRIVMSG %s :%s\r\n" % (message.source, *message.params)
            self.assertLessEqual(len(relayed.encode("utf-8")), 512)

    @inlineCallbacks
    def test_directMessages(self):
        """A direct conversation has its own key (derived for the pair of nicks)."""
        alice, bob = yield self.pair()
        yield alice.setKey("bob", PASSPHRASE, "fernet")
        yield bob.setKey("alice", PASSPHRASE, "fernet")
        waiting = bob.waitFor(isMessage, WAIT)
        alice.send("bob", "just between us")
        message = yield waiting
        self.assertEqual(
            (message.target, message.direct, message.body, message.layer),
            ("alice", True, "just between us", "fernet"),
        )

    @inlineCallbacks
    def test_wrongKeyIsTampered(self):
        """A different passphrase cannot be told from an alteration: 'tampered'."""
        alice, bob = yield self.pair()
        yield alice.setKey(ROOM, PASSPHRASE, "fernet-ttl")
        yield bob.setKey(ROOM, b"another passphrase", "fernet-ttl")
        waiting = bob.waitFor(lambda e: isMessage(e) or isRejection(e), WAIT)
        alice.send(ROOM, "secret")
        rejection = yield waiting
        self.assertIsInstance(rejection, ev.RejectedMessage)
        self.assertEqual((rejection.sender, rejection.reason), ("alice", "tampered"))
        self.assertNotIn("secret", rejection.description)

    @inlineCallbacks
    def test_noKeySaysSo(self):
        """A room without a key reports protected lines instead of showing ciphertext."""
        alice, bob = yield self.pair()
        yield alice.setKey(ROOM, PASSPHRASE, "fernet")
        waiting = bob.waitFor(lambda e: isMessage(e) or isRejection(e), WAIT)
        alice.send(ROOM, "secret")
        rejection = yield waiting
        self.assertEqual((rejection.kind, rejection.reason), ("rejected", "no-key"))

    @inlineCallbacks
    def test_plainInKeyedRoomIsUnprotected(self):
        """A plain line in a keyed room is flagged, whoever sends it."""
        alice, bob = yield self.pair("fernet-ttl")
        raw = yield self.raw("mallory")
        yield raw.join(ROOM)
        waiting = bob.waitFor(lambda e: isMessage(e) or isRejection(e), WAIT)
        raw.send("PRIVMSG", ROOM, "trust me, I am alice")
        rejection = yield waiting
        self.assertEqual((rejection.sender, rejection.reason), ("mallory", "unprotected"))

    @inlineCallbacks
    def test_resentByAnotherMemberIsReattributed(self):
        """
        A member who copies alice's protected line and sends it as its own is
        caught: the sealed sender is alice, the relay says mallory.
        """
        alice, bob = yield self.pair("fernet-ttl")
        raw = yield self.raw("mallory")
        yield raw.join(ROOM)
        genuine = bob.waitFor(isMessage, WAIT)
        alice.send(ROOM, "I owe bob 10 euros")
        line = yield raw.waitFor(lambda m: m.command == "PRIVMSG")
        yield genuine
        waiting = bob.waitFor(lambda e: isMessage(e) or isRejection(e), WAIT)
        raw.send("PRIVMSG", ROOM, line.params[1])
        rejection = yield waiting
        self.assertEqual((rejection.sender, rejection.reason), ("mallory", "re-attributed"))

    @inlineCallbacks
    def test_movedToAnotherRoomIsRefused(self):
        """
        alice's line for #lab, re-sent by her connection into #other where the
        same passphrase is set, is refused: each room's keys are derived with
        its own salt, so the MAC already fails ('tampered'); the sealed target
        (wrong-room) is the second line of defence, tested in the codec.
        """
        alice, bob = yield self.pair("fernet")
        yield self.joined("#other", bob)
        yield bob.setKey("#other", PASSPHRASE, "fernet")
        # alice is the one who sends it to #other, so only the room differs.
        yield self.joined("#other", alice)
        yield alice.setKey("#other", PASSPHRASE, "fernet")
        captured = []
        transport = alice.factory.current.transport
        original = transport.write
        transport.write = lambda data: (captured.append(data), original(data))
        genuine = bob.waitFor(isMessage, WAIT)
        alice.send(ROOM, "for #lab only")
        yield genuine
        waiting = bob.waitFor(lambda e: isMessage(e) or isRejection(e), WAIT)
        original(captured[0].replace(b"PRIVMSG #lab ", b"PRIVMSG #other "))
        rejection = yield waiting
        self.assertEqual(
            (rejection.target, rejection.sender, rejection.reason), ("#other", "alice", "tampered")
        )

    @inlineCallbacks
    def test_replayedLineIsReplayed(self):
        """The same fernet-ttl line delivered twice under alice's name: 'replayed'."""
        alice, bob = yield self.pair("fernet-ttl")
        captured = []
        transport = alice.factory.current.transport
        original = transport.write
        transport.write = lambda data: (captured.append(data), original(data))
        genuine = bob.waitFor(isMessage, WAIT)
        alice.send(ROOM, "pay 10 euros")
        yield genuine
        waiting = bob.waitFor(lambda e: isMessage(e) or isRejection(e), WAIT)
        original(captured[0])
        rejection = yield waiting
        self.assertEqual((rejection.sender, rejection.reason), ("alice", "replayed"))

    @inlineCallbacks
    def test_shiftedClockIsExpired(self):
        """A sender whose clock is 45 s behind sends tokens that are already expired."""
        alice, bob = yield self.pair("fernet-ttl")
        alice.setClock(lambda: time.time() - 45)
        waiting = bob.waitFor(lambda e: isMessage(e) or isRejection(e), WAIT)
        alice.send(ROOM, "late")
        rejection = yield waiting
        self.assertEqual((rejection.sender, rejection.reason), ("alice", "expired"))
        alice.setClock(lambda: time.time() + 45)
        waiting = bob.waitFor(lambda e: isMessage(e) or isRejection(e), WAIT)
        alice.send(ROOM, "early")
        rejection = yield waiting
        self.assertEqual(rejection.reason, "from-future")

    @inlineCallbacks
    def test_fernetDoesNotCheckFreshness(self):
        """The same shifted clock on plain fernet goes through: the TTL layer is the fix."""
        alice, bob = yield self.pair("fernet")
        alice.setClock(lambda: time.time() - 45)
        waiting = bob.waitFor(lambda e: isMessage(e) or isRejection(e), WAIT)
        alice.send(ROOM, "late but accepted")
        message = yield waiting
        self.assertEqual((message.kind, message.body), ("message", "late but accepted"))


class RawClientTests(LoopbackCase):
    """What a plain IRC client (irssi, a script) sees of our client's messages."""

    @inlineCallbacks
    def test_rawClientSeesTextAndMarkers(self):
        alice = yield self.client("alice")
        raw = yield self.raw("irssi")
        yield self.joined(ROOM, alice)
        yield raw.join(ROOM)
        alice.send(ROOM, "hello everyone")
        line = yield raw.waitFor(lambda m: m.command == "PRIVMSG")
        self.assertEqual(line.params, (ROOM, "hello everyone"))
        yield alice.setKey(ROOM, PASSPHRASE, "fernet-ttl")
        alice.send(ROOM, "secret plans")
        line = yield raw.waitFor(lambda m: m.command == "PRIVMSG")
        self.assertTrue(line.params[1].startswith(MARKER + " fernet-ttl "), line.params[1])
        self.assertNotIn("secret", line.params[1])

    @inlineCallbacks
    def test_rawClientTalksToPlainRoom(self):
        alice = yield self.client("alice")
        raw = yield self.raw("irssi")
        yield self.joined(ROOM, alice)
        yield raw.join(ROOM)
        waiting = alice.waitFor(isMessage, WAIT)
        raw.send("PRIVMSG", ROOM, "hi from irssi")
        message = yield waiting
        self.assertEqual(
            (message.sender, message.body, message.protection), ("irssi", "hi from irssi", "none")
        )


class ConnectionTests(LoopbackCase):
    """Registration trouble and connection loss."""

    @inlineCallbacks
    def test_nickInUseTriesAnAlternative(self):
        yield self.client("alice")
        second = yield self.client("alice", retryPolicy=None)
        self.assertEqual(second.nick, "alice_")

    @inlineCallbacks
    def test_nickInUseIsReported(self):
        yield self.client("alice")
        client = HeadlessClient(reactor, self.endpoint, "alice", kdfParams=TEST_KDF)
        seen = []
        client.listen(seen.append)
        connected = client.waitFor(ev.Connected, WAIT)
        client.startService()
        self.addCleanup(client.quit)
        event = yield connected
        self.assertEqual((event.nick, event.requested), ("alice_", "alice"))
        changes = [e for e in seen if isinstance(e, ev.NickChanged)]
        self.assertEqual(len(changes), 1)
        self.assertIn("in use", changes[0].reason)

    @inlineCallbacks
    def test_reconnectAfterRelayRestart(self):
        """The relay dies and comes back: rejoin, keep keys, keep talking."""
        alice = yield self.client("alice")
        bob = yield self.client("bob")
        yield self.joined(ROOM, alice, bob)
        yield alice.setKey(ROOM, PASSPHRASE, "fernet-ttl")
        yield bob.setKey(ROOM, PASSPHRASE, "fernet-ttl")
        lost = bob.waitFor(ev.Disconnected, WAIT)
        aliceBack = alice.waitFor(lambda e: isinstance(e, ev.Joined) and e.me, WAIT)
        bobBack = bob.waitFor(lambda e: isinstance(e, ev.Joined) and e.me, WAIT)
        bobReconnected = bob.waitFor(ev.Connected, WAIT)
        number = self.portNumber
        yield self.stopRelay()
        disconnected = yield lost
        self.assertTrue(disconnected.reconnecting)
        yield self.startRelay(number)
        connected = yield bobReconnected
        self.assertTrue(connected.reconnect)
        yield aliceBack
        yield bobBack
        waiting = bob.waitFor(isMessage, WAIT)
        alice.send(ROOM, "still here")
        message = yield waiting
        self.assertEqual((message.body, message.layer), ("still here", "fernet-ttl"))

    @inlineCallbacks
    def test_connectFailsWhenNothingListens(self):
        number = self.portNumber
        yield self.stopRelay()
        with self.assertRaises(ConnectionRefusedError):
            yield self.client("alice", endpoint="tcp:127.0.0.1:%d" % (number,))

    @inlineCallbacks
    def test_quitStopsReconnecting(self):
        alice = yield self.client("alice")
        bob = yield self.client("bob")
        yield self.joined(ROOM, alice, bob)
        seen = []
        alice.listen(seen.append)
        left = bob.waitFor(ev.UserQuit, WAIT)
        yield alice.quit("see you tomorrow")
        self.assertEqual([e.reconnecting for e in seen if isinstance(e, ev.Disconnected)], [False])
        self.assertFalse(alice.service.running)
        event = yield left
        self.assertEqual((event.nick, event.reason, event.rooms), ("alice", "Quit: see you tomorrow", (ROOM,)))
