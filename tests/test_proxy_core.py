"""
The proxy's line rules, without I/O: what passes through untouched, what
is sealed or opened, what *securechat answers, and what never leaves.
Two cores (alice's and bob's) stand for two users; the lines one sends
upstream are fed, with a server's prefix, to the other.
"""

from __future__ import annotations

from typing import Callable, List, Optional

from twisted.logger import globalLogPublisher
from twisted.trial.unittest import TestCase

from securechat.client.core.session import ClientSession
from securechat.codec import TEST_KDF, RoomKeys, derive_room_keys
from securechat.proxy.core import PSEUDO, PSEUDO_SOURCE, ProxyCore
from securechat.wire import Message, parseLine

NOW = 1_800_000_000.0
ROOM = "#lab"
PASSPHRASE = "correct horse battery staple"


class Side:
    """One user's proxy core with its two wires recorded."""

    def __init__(self, nick: str, *, password: Optional[bytes] = None, mark: str = "prefix",
                 immediate: bool = True, now: float = NOW) -> None:
        self.nick = nick
        self.up: List[bytes] = []
        self.down: List[bytes] = []
        self.closed: List[str] = []
        self.immediate = immediate
        self.waiting: List[Callable[[], None]] = []
        self.upstreamAsked = 0
        self.core = ProxyCore(
            lambda emit: ClientSession("placeholder", emit, clock=lambda: now),
            self.derive, self, password=password, mark=mark, clock=lambda: now,
        )
        self.session = self.core.session

    def derive(self, target: str, passphrase: bytes,
               done: Callable[[Optional[RoomKeys], Optional[str]], None]) -> None:
        def run() -> None:
            done(derive_room_keys(passphrase, target, TEST_KDF, self.session.codecFold), None)

        if self.immediate:
            run()
        else:
            self.waiting.append(run)

    # The core's links (L{securechat.proxy.core.Links}).

    def openUpstream(self) -> None:
        self.upstreamAsked += 1

    def closeClient(self, reason: str) -> None:
        self.closed.append(reason)

    def closeUpstream(self) -> None:
        pass

    def connect(self) -> None:
        self.core.clientConnected(self.down.append)

    def serverUp(self) -> None:
        self.core.upstream.connectionMade(self.up.append)

    def client(self, line: str) -> None:
        self.core.clientLine(line.encode("utf-8"))

    def server(self, line: str) -> None:
        self.core.upstream.lineReceived(line.encode("utf-8"))

    def register(self) -> None:
        self.connect()
        self.serverUp()
        self.client("NICK %s" % (self.nick,))
        self.client("USER %s 0 * :real" % (self.nick,))
        self.server(":irc.test 001 %s :Welcome %s!u@h" % (self.nick, self.nick))
        self.client("JOIN %s" % (ROOM,))
        self.server(":%s!u@h JOIN %s" % (self.nick, ROOM))
        self.up.clear()
        self.down.clear()

    def key(self, target: str = ROOM, layer: str = "fernet-ttl", passphrase: str = PASSPHRASE) -> None:
        self.client("PRIVMSG %s :key %s %s" % (PSEUDO, target, layer))
        self.client("PRIVMSG %s :%s" % (PSEUDO, passphrase))
        self.client("PRIVMSG %s :%s" % (PSEUDO, passphrase))  # asked twice

    def downMessages(self) -> List[Message]:
        return [parseLine(line.rstrip(b"\r\n")) for line in self.down]

    def upMessages(self) -> List[Message]:
        return [parseLine(line.rstrip(b"\r\n")) for line in self.up]

    def notices(self) -> List[str]:
        return [m.params[1] for m in self.downMessages() if m.command == "NOTICE" and m.source == PSEUDO_SOURCE]

    def replies(self) -> List[str]:
        return [m.params[1] for m in self.downMessages() if m.command == "PRIVMSG" and m.source == PSEUDO_SOURCE]


def relay(sender: Side, receiver: Side, lines: Optional[List[bytes]] = None) -> None:
    """What C{sender} sent upstream reaches C{receiver} with the sender's prefix, as a relay does."""
    for line in sender.up if lines is None else lines:
        receiver.server(":%s!u@h %s" % (sender.nick, line.rstrip(b"\r\n").decode("utf-8")))


class PassThroughTests(TestCase):
    def test_everythingElsePassesByteForByte(self) -> None:
        alice = Side("alice")
        alice.register()
        # Issue 22: to a peer with no secret, a direct message goes over a
        # pairwise session unless the user chose plain for that peer.
        alice.client("PRIVMSG *securechat :layer! bob plain")
        alice.down.clear()
        lines = ["MODE #lab +nt", "WHO #lab", "PRIVMSG #plain :hello there", "PRIVMSG bob :hi",
                 "TOPIC #lab :a topic", "@+draft/reply=1 PRIVMSG #plain :tagged"]
        for line in lines:
            alice.client(line)
        self.assertEqual(alice.up, [line.encode() + b"\r\n" for line in lines])
        incoming = [":bob!u@h PRIVMSG #plain :plain words", ":irc.test 332 alice #lab :topic",
                    ":bob!u@h MODE #lab +o alice", "PING :irc.test"]
        for line in incoming:
            alice.server(line)
        # A plain message passes, marked plain (its text could mimic a mark).
        expected = [":bob!u@h PRIVMSG #plain :[plain] plain words"] + incoming[1:]
        self.assertEqual(alice.down, [line.encode() + b"\r\n" for line in expected])

    def test_upstreamRequestedAtOnceWithoutPassword(self) -> None:
        alice = Side("alice")
        alice.connect()
        self.assertEqual(alice.upstreamAsked, 1)
        alice.client("CAP LS 302")
        alice.client("NICK alice")
        self.assertEqual(alice.up, [])  # held until the server connection is up
        alice.serverUp()
        self.assertEqual(alice.up, [b"CAP LS 302\r\n", b"NICK alice\r\n"])

    def test_echoMessageHiddenFromTheClient(self) -> None:
        alice = Side("alice")
        alice.connect()
        alice.serverUp()
        alice.server(":irc.test CAP * LS :multi-prefix echo-message message-tags")
        self.assertEqual(alice.downMessages()[-1].params[-1], "multi-prefix message-tags")


class SealingTests(TestCase):
    def test_keyFlowAsksThePassphraseAndNeverShowsIt(self) -> None:
        alice = Side("alice")
        alice.register()
        logged: List[dict] = []
        globalLogPublisher.addObserver(logged.append)
        self.addCleanup(globalLogPublisher.removeObserver, logged.append)
        alice.key()
        self.assertEqual(alice.up, [])  # neither the command nor the passphrase leaves
        everything = b"".join(alice.down).decode()
        self.assertNotIn(PASSPHRASE, everything)
        self.assertNotIn(PASSPHRASE, repr(logged))
        self.assertIn("type the passphrase for #lab", alice.replies()[0])
        self.assertTrue(any("key set for #lab on layer fernet-ttl" in r for r in alice.replies()))
        self.assertEqual(alice.session.layerFor(ROOM), "fernet-ttl")

    def test_keyedRoomIsSealedAndOpenedWithItsMark(self) -> None:
        alice, bob = Side("alice"), Side("bob")
        for side in (alice, bob):
            side.register()
            side.key()
        alice.client("PRIVMSG #lab :see you at noon")
        self.assertTrue(alice.up)
        for message in alice.upMessages():
            self.assertEqual(message.command, "PRIVMSG")
            self.assertTrue(message.params[1].startswith("+sc2 fernet-ttl "))
            self.assertNotIn("noon", message.params[1])
        bob.down.clear()
        relay(alice, bob)
        self.assertEqual(bob.down, [b":alice!u@h PRIVMSG #lab :[auth+fresh] see you at noon\r\n"])

    def test_longMessagesAreChunkedToTheServersLineLength(self) -> None:
        alice, bob = Side("alice"), Side("bob")
        for side in (alice, bob):
            side.register()
            side.key()
        text = "word " * 300
        alice.client("PRIVMSG #lab :" + text)
        self.assertGreater(len(alice.up), 1)
        prefix = len(":alice!u@h ")
        for line in alice.up:
            self.assertLessEqual(len(line) + prefix, 512)
        bob.down.clear()
        relay(alice, bob)
        pieces = [m.params[1] for m in bob.downMessages()]
        self.assertTrue(all(piece.startswith("[auth+fresh] ") for piece in pieces))
        # Long text reaches the IRC client in several marked lines, all of it.
        opened = "".join(piece[len("[auth+fresh] "):] for piece in pieces)
        self.assertEqual(opened.replace(" ", ""), text.replace(" ", ""))

    def test_actionIsSealedAndShownAsAnAction(self) -> None:
        alice, bob = Side("alice"), Side("bob")
        for side in (alice, bob):
            side.register()
            side.key()
        alice.client("PRIVMSG #lab :\x01ACTION waves\x01")
        self.assertNotIn(b"waves", b"".join(alice.up))
        bob.down.clear()
        relay(alice, bob)
        self.assertEqual(bob.down, [b":alice!u@h PRIVMSG #lab :\x01ACTION [auth+fresh] waves\x01\r\n"])

    def test_sealedCtcpRequestIsToldNeverPassedOn(self) -> None:
        """
        A CTCP request that arrives sealed (our console's users can send
        one) is told as a notice; the IRC client never sees it, so it cannot
        answer it with anything a relay could use.
        """
        alice, bob = Side("alice"), Side("bob")
        for side in (alice, bob):
            side.register()
            side.key()
        alice.core.session.sendMessage(ROOM, "\x01VERSION\x01")
        bob.down.clear()
        relay(alice, bob)
        self.assertEqual(
            bob.notices(), ["in %s: alice sent a CTCP VERSION request (not answered)" % (ROOM,)]
        )
        self.assertEqual([m for m in bob.downMessages() if m.command == "PRIVMSG"], [])

    def test_sentWhileDerivingWaitsForTheKey(self) -> None:
        alice = Side("alice", immediate=False)
        alice.register()
        alice.key()
        alice.client("PRIVMSG #lab :early words")
        self.assertEqual(alice.up, [])
        self.assertIn("#lab (waiting for the key): sent when it is ready", alice.notices()[-1])
        alice.waiting.pop()()
        self.assertTrue(alice.up)
        self.assertTrue(all(m.params[1].startswith("+sc2 fernet-ttl") for m in alice.upMessages()))

    def test_unsentActionReadsAsTyped(self) -> None:
        """An action refused while waiting names it as /me, without CTCP bytes mid-notice."""
        alice = Side("alice", immediate=False)
        alice.register()
        alice.key()
        alice.client("PRIVMSG #lab :\x01ACTION waves\x01")
        alice.client("PRIVMSG %s :layer! #lab plain" % (PSEUDO,))
        unsent = [n for n in alice.notices() if n.startswith("#lab NOT SENT")]
        self.assertEqual(len(unsent), 1, alice.notices())
        self.assertIn("NOT SENT: /me waves -- ", unsent[0])
        self.assertNotIn("\x01", unsent[0])
        self.assertEqual(alice.up, [])

    def test_noticeToAKeyedRoomIsRefusedNotSentInClear(self) -> None:
        alice = Side("alice")
        alice.register()
        alice.key()
        alice.client("NOTICE #lab :quiet words")
        self.assertEqual(alice.up, [])
        self.assertIn("NOT SENT to #lab", alice.notices()[-1])

    def test_mixedTargetsTheKeyedTextNeverGoesInClear(self) -> None:
        """Text typed to a keyed room and a plain one is sealed for the first, not sent to the second."""
        alice = Side("alice")
        alice.register()
        alice.key()
        alice.up.clear()
        alice.client("PRIVMSG #lab,#plain :both rooms")
        clear = [m for m in alice.upMessages() if "both rooms" in m.params[1]]
        self.assertEqual(clear, [])
        self.assertTrue(any(m.params[0] == ROOM and m.params[1].startswith("+sc2") for m in alice.upMessages()))
        self.assertIn("NOT SENT to #plain: the same text was for keyed #lab", " ".join(alice.notices()))

    def test_forcedRenameStopsProtectedSending(self) -> None:
        alice = Side("alice")
        alice.register()
        alice.key()
        alice.server(":alice!u@h NICK carol")
        self.assertIn("protected messages are not sent until you choose", alice.notices()[-1])
        alice.up.clear()
        alice.client("PRIVMSG #lab :as whom?")
        self.assertEqual(alice.up, [])
        self.assertIn("not sent: the server calls you carol", alice.notices()[-1])
        # The user accepts the new nick from the IRC client: sealing resumes.
        alice.client("NICK carol")
        alice.client("PRIVMSG #lab :as carol")
        self.assertTrue(alice.up and alice.upMessages()[-1].params[1].startswith("+sc2"))

    def test_fallbackNickAtRegistrationIsNotAChoice(self) -> None:
        alice = Side("alice")
        alice.connect()
        alice.serverUp()
        alice.client("NICK alice")
        alice.client("USER alice 0 * :real")
        alice.server(":irc.test 433 * alice :Nickname is already in use")
        alice.client("NICK alice_")  # the IRC client's own fallback
        alice.server(":irc.test 001 alice_ :Welcome")
        self.assertFalse(alice.session.nickConfirmed)
        self.assertIn("protected messages are not sent until you choose", alice.notices()[-1])


class OpeningTests(TestCase):
    def keyedPair(self, **options) -> tuple:
        alice, bob = Side("alice"), Side("bob", **options)
        for side in (alice, bob):
            side.register()
            side.key()
            side.up.clear()
            side.down.clear()
        return alice, bob

    def test_tamperedIsANoticeFromSecurechatNeverFromTheSender(self) -> None:
        alice, bob = self.keyedPair()
        alice.client("PRIVMSG #lab :genuine")
        line = alice.up[0].decode().rstrip("\r\n")
        head, piece = line.rsplit(" ", 1)
        flipped = piece[:-5] + ("A" if piece[-5] != "A" else "B") + piece[-4:]
        relay(alice, bob, [(head + " " + flipped).encode()])
        messages = bob.downMessages()
        self.assertEqual([m.source for m in messages], [PSEUDO_SOURCE])
        self.assertEqual(messages[0].command, "NOTICE")
        self.assertIn("in #lab: REJECTED message claimed from alice: tampered", messages[0].params[1])

    def test_plainLineInAKeyedRoomIsRejected(self) -> None:
        alice, bob = self.keyedPair()
        bob.server(":alice!u@h PRIVMSG #lab :I am alice, trust me")
        messages = bob.downMessages()
        self.assertEqual([m.source for m in messages], [PSEUDO_SOURCE])
        self.assertIn("claimed from alice", messages[0].params[1])
        self.assertIn("unprotected", messages[0].params[1])

    def test_replayIsRejected(self) -> None:
        alice, bob = self.keyedPair()
        alice.client("PRIVMSG #lab :once")
        relay(alice, bob)
        bob.down.clear()
        relay(alice, bob)
        self.assertEqual([m.source for m in bob.downMessages()], [PSEUDO_SOURCE])
        self.assertIn("replayed", bob.notices()[0])

    def test_droppedMessagesAreCounted(self) -> None:
        alice, bob = self.keyedPair()
        for text in ("one", "two", "three"):
            alice.client("PRIVMSG #lab :" + text)
        first, dropped, third = alice.up
        relay(alice, bob, [first, third])
        self.assertEqual(
            [m.params[1] for m in bob.downMessages()],
            ["[auth+fresh] one", "[auth+fresh] three",
             "in #lab: 1 earlier message(s) from alice never arrived (dropped?)"],
        )

    def test_protectedLineWithoutKeySaysHowToKey(self) -> None:
        alice, bob = Side("alice"), Side("bob")
        alice.register()
        bob.register()
        alice.key()
        alice.client("PRIVMSG #lab :secret")
        relay(alice, bob)
        self.assertEqual(len(bob.downMessages()), 1)
        self.assertIn("/msg *securechat key #lab", bob.notices()[0])

    def test_newlinesInABodyCannotInjectLines(self) -> None:
        alice, bob = self.keyedPair()
        alice.session.sendMessage(ROOM, "first\n:carol!u@h PRIVMSG #lab :forged")
        relay(alice, bob)
        self.assertEqual(
            bob.down,
            [b":alice!u@h PRIVMSG #lab :[auth+fresh] first\r\n",
             b":alice!u@h PRIVMSG #lab :[auth+fresh] :carol!u@h PRIVMSG #lab :forged\r\n"],
        )

    def test_markAsMessageTagWhenNegotiated(self) -> None:
        alice, bob = self.keyedPair(mark="tag")
        bob.server(":irc.test CAP bob ACK :message-tags")
        bob.down.clear()
        alice.client("PRIVMSG #lab :tagged words")
        relay(alice, bob)
        message = bob.downMessages()[0]
        self.assertEqual(message.params, (ROOM, "tagged words"))
        self.assertIn(("securechat/protection", "auth+fresh"), message.tags)

    def test_tagModeFallsBackToThePrefixWithoutMessageTags(self) -> None:
        alice, bob = self.keyedPair(mark="tag")
        alice.client("PRIVMSG #lab :words")
        relay(alice, bob)
        self.assertEqual(bob.downMessages()[0].params[1], "[auth+fresh] words")

    def test_relayCannotForgeTheMarkTag(self) -> None:
        alice, bob = self.keyedPair(mark="tag")
        bob.server(":irc.test CAP bob ACK :message-tags")
        bob.down.clear()
        bob.server("@securechat/protection=auth+fresh;time=2026 :mallory!u@h PRIVMSG #other :trust me")
        message = bob.downMessages()[0]
        self.assertEqual(message.tags, (("time", "2026"), ("securechat/protection", "plain")))
        self.assertEqual(message.params, ("#other", "trust me"))
        self.assertEqual(bob.core.refusedCounts, {"forged protection tag": 1})

    def test_directMessages(self) -> None:
        alice, bob = Side("alice"), Side("bob")
        alice.register()
        bob.register()
        alice.key("bob")
        bob.key("alice")
        alice.up.clear()
        bob.down.clear()
        alice.client("PRIVMSG bob :just us")
        self.assertTrue(alice.upMessages()[0].params[1].startswith("+sc2 fernet-ttl"))
        relay(alice, bob)
        self.assertEqual(bob.down, [b":alice!u@h PRIVMSG bob :[auth+fresh] just us\r\n"])


class CommandTests(TestCase):
    def test_commandsAnswerAndNeverLeave(self) -> None:
        alice = Side("alice")
        alice.register()
        alice.key()
        for command in ("help", "status", "fingerprint #lab", "layer #lab", "layer", "bogus"):
            alice.down.clear()
            alice.client("PRIVMSG %s :%s" % (PSEUDO, command))
            self.assertTrue(alice.replies(), command)
        self.assertEqual(alice.up, [])
        alice.down.clear()
        alice.client("PRIVMSG *securechat :fingerprint #lab")
        self.assertIn(alice.session.fingerprint(ROOM), alice.replies()[0])
        # The console's words (wording.fingerprintNote), not a sentence of the proxy's own.
        self.assertEqual(
            "#lab on layer fernet-ttl: %s" % (alice.session.fingerprint(ROOM),), alice.replies()[0]
        )

    def test_loweringNeedsForce(self) -> None:
        alice = Side("alice")
        alice.register()
        alice.key()
        alice.client("PRIVMSG %s :layer #lab plain" % (PSEUDO,))
        advice = alice.replies()[-1].split("To do it anyway: ", 1)[1]
        self.assertEqual(advice, "/msg *securechat layer! #lab plain")
        self.assertEqual(alice.session.layerFor(ROOM), "fernet-ttl")
        # Typed exactly as told, as an IRC client sends it.
        target, text = advice[len("/msg "):].split(" ", 1)
        alice.client("PRIVMSG %s :%s" % (target, text))
        self.assertEqual(alice.session.layerFor(ROOM), "plain")
        alice.up.clear()
        alice.client("PRIVMSG #lab :now in clear")
        self.assertEqual(alice.up, [b"PRIVMSG #lab :now in clear\r\n"])

    def test_keyLostAdviceWorksAsTyped(self) -> None:
        """A peer's key lost to a rename: the advice names proxy commands only, and works typed."""
        alice = Side("alice")
        alice.register()
        alice.key("bob")
        alice.server(":bob!u@h NICK robert")
        alice.up.clear()
        alice.client("PRIVMSG robert :hello again")
        self.assertEqual(alice.up, [])
        advice = alice.notices()[-1]
        self.assertIn("set it again (/msg *securechat key robert)", advice)
        self.assertIn("or choose plain (/msg *securechat layer! robert plain)", advice)
        self.assertNotIn("/msg!", advice)
        command = advice.split("or choose plain (", 1)[1].split(")", 1)[0]
        target, text = command[len("/msg "):].split(" ", 1)
        alice.client("PRIVMSG %s :%s" % (target, text))
        alice.client("PRIVMSG robert :hello again")
        self.assertEqual(alice.up, [b"PRIVMSG robert :hello again\r\n"])

    def test_layerTakesTheConsolesOrderToo(self) -> None:
        """The console's /layer! takes the layer first: the same words work here."""
        alice = Side("alice")
        alice.register()
        alice.key()
        alice.client("PRIVMSG %s :layer! fernet #lab" % (PSEUDO,))
        self.assertEqual(alice.session.layerFor(ROOM), "fernet")
        self.assertEqual(alice.replies()[-1], "#lab now uses layer fernet")

    def test_passphraseNeverGoesToAnotherTargetToo(self) -> None:
        alice = Side("alice")
        alice.register()
        alice.client("PRIVMSG %s :key #lab" % (PSEUDO,))
        alice.client("PRIVMSG #plain,%s :%s" % (PSEUDO, PASSPHRASE))
        self.assertEqual(alice.up, [])
        self.assertIn("goes to it alone", alice.notices()[-1])

    def test_cancelForgetsTheQuestion(self) -> None:
        alice = Side("alice")
        alice.register()
        alice.client("PRIVMSG %s :key #lab" % (PSEUDO,))
        alice.client("PRIVMSG %s :cancel" % (PSEUDO,))
        self.assertEqual(alice.session.layerFor(ROOM), "plain")
        self.assertIn("no key set", alice.replies()[-1])

    def test_newRoomSecret(self) -> None:
        alice = Side("alice")
        alice.register()
        alice.client("PRIVMSG %s :key --new #lab" % (PSEUDO,))
        self.assertIn("room secret for #lab: sc-", alice.replies()[0])
        self.assertEqual(alice.session.layerFor(ROOM), "fernet-ttl")


class PasswordTests(TestCase):
    def test_rightPasswordOpensUpstreamAndIsNotForwarded(self) -> None:
        alice = Side("alice", password=b"s3cret")
        alice.connect()
        self.assertEqual(alice.upstreamAsked, 0)
        alice.client("CAP LS 302")
        alice.client("PASS s3cret")
        self.assertEqual(alice.upstreamAsked, 1)
        alice.client("NICK alice")
        alice.serverUp()
        self.assertEqual(alice.up, [b"CAP LS 302\r\n", b"NICK alice\r\n"])

    def test_wrongOrMissingPasswordCloses(self) -> None:
        for first in ("PASS wrong", "NICK alice"):
            alice = Side("alice", password=b"s3cret")
            alice.connect()
            alice.client(first)
            self.assertEqual(alice.upstreamAsked, 0)
            self.assertEqual(len(alice.closed), 1)
            self.assertEqual(alice.downMessages()[0].command, "464")


class EndTests(TestCase):
    def test_serverGoneClosesTheClientSayingWhy(self) -> None:
        alice = Side("alice")
        alice.register()
        alice.core.upstream.connectionLost("Connection lost", False)
        self.assertEqual(alice.downMessages()[-1].command, "ERROR")
        self.assertIn("server connection ended", alice.downMessages()[-1].params[0])
        self.assertEqual(len(alice.closed), 1)

    def test_afterQuitNoSecondError(self) -> None:
        alice = Side("alice")
        alice.register()
        alice.client("QUIT :bye")
        alice.server("ERROR :Closing Link (Quit)")
        alice.core.upstream.connectionLost("closed cleanly", False)
        self.assertEqual([m.command for m in alice.downMessages()], ["ERROR"])
        self.assertEqual(len(alice.closed), 1)


class SignedTests(TestCase):
    def test_signedMarksFollowVerification(self) -> None:
        alice, bob = Side("alice"), Side("bob")
        for side in (alice, bob):
            side.register()
            side.key(layer="signed")
            side.up.clear()
            side.down.clear()
        alice.client("PRIVMSG #lab :signed words")
        relay(alice, bob)
        self.assertEqual(bob.down, [b":alice!u@h PRIVMSG #lab :[signed, first use] signed words\r\n"])
        bob.down.clear()
        bob.client("PRIVMSG %s :verify alice %s" % (PSEUDO, alice.session.identity.fingerprint))
        self.assertIn("verified", bob.replies()[-1])
        alice.up.clear()
        alice.client("PRIVMSG #lab :more")
        bob.down.clear()
        relay(alice, bob)
        self.assertEqual(bob.down, [b":alice!u@h PRIVMSG #lab :[signed, verified] more\r\n"])

    def test_identityChangedAdviceNamesTheProxyCommand(self) -> None:
        """
        The codec's advice says C{/trust alice}, a console command: an IRC
        client behind the proxy has none, so the notice names the message
        to *securechat that does it.
        """
        alice, bob = Side("alice"), Side("bob")
        for side in (alice, bob):
            side.register()
            side.key(layer="signed")
            side.up.clear()
        alice.client("PRIVMSG #lab :first")
        relay(alice, bob)
        impostor = Side("alice")  # the same nick, another identity key
        impostor.register()
        impostor.key(layer="signed")
        impostor.up.clear()
        impostor.client("PRIVMSG #lab :second")
        bob.down.clear()
        relay(impostor, bob)
        [notice] = bob.notices()
        self.assertIn("REJECTED", notice)
        self.assertIn("/msg %s trust alice" % (PSEUDO,), notice)
        self.assertNotIn("(/trust", notice)
        bob.client("PRIVMSG %s :trust alice" % (PSEUDO,))
        self.assertIn("accepted", bob.replies()[-1])

    def test_oldSealedTimeIsShown(self) -> None:
        alice, bob = Side("alice", now=NOW - 3600), Side("bob")
        for side in (alice, bob):
            side.register()
            side.key(layer="fernet")
            side.down.clear()
        alice.client("PRIVMSG #lab :from an hour ago")
        relay(alice, bob)
        self.assertEqual(
            bob.downMessages()[0].params[1],
            "[auth, sent 2027-01-15 07:00:00 UTC] from an hour ago",
        )

    def test_statusListsKeyedTargets(self) -> None:
        alice = Side("alice")
        alice.register()
        alice.key()
        alice.down.clear()
        alice.client("PRIVMSG %s :status" % (PSEUDO,))
        fingerprint = alice.session.fingerprint(ROOM)
        self.assertIn("#lab: fernet-ttl, key %s" % (fingerprint,), alice.replies())


class PairwiseSessionTests(TestCase):
    """Issue 22 in the proxy: a direct message to a peer with no secret waits for a session, never in clear."""

    def test_heldThenNotSentWithTheChoiceTypedBack(self) -> None:
        alice = Side("alice")
        alice.register()
        alice.client("PRIVMSG carol :hello carol")
        self.assertEqual([m.params[1].split()[:2] for m in alice.upMessages()], [["+scs1", "init"]])
        self.assertNotIn(b"hello carol", b"".join(alice.up))
        self.assertIn("starting a protected session with carol", " ".join(alice.notices()))
        alice.session.pairwise.timeout = 0
        alice.session.expire()
        [told] = [text for text in alice.notices() if "NOT SENT" in text]
        advice = told.split("To talk to carol in clear (the relay reads it): ", 1)[1]
        self.assertEqual(advice, "/msg *securechat layer! carol plain, then send it again")
        target, text = advice[len("/msg "):-len(", then send it again")].split(" ", 1)
        alice.client("PRIVMSG %s :%s" % (target, text))
        alice.up.clear()
        alice.client("PRIVMSG carol :hello carol")
        self.assertEqual(alice.up, [b"PRIVMSG carol :hello carol\r\n"])

    def test_twoProxiesTalkOverASession(self) -> None:
        alice, bob = Side("alice"), Side("bob")
        alice.register()
        bob.register()
        alice.client("PRIVMSG bob :over a session")
        for _ in range(3):
            relay(alice, bob)
            alice.up.clear()
            relay(bob, alice)
            bob.up.clear()
        delivered = [m for m in bob.downMessages() if m.command == "PRIVMSG" and m.sourceNick == "alice"]
        self.assertEqual([m.params[1] for m in delivered][-1:], ["[session, first use] over a session"])
        # Later messages go at once; the proxy says, in alice's window, how each went out.
        alice.down.clear()
        alice.client("PRIVMSG bob :second")
        self.assertIn("[session] your message to bob went out sealed (session)", alice.notices())
        relay(alice, bob)
        delivered = [m for m in bob.downMessages() if m.command == "PRIVMSG" and m.sourceNick == "alice"]
        self.assertEqual(delivered[-1].params[1], "[session, first use] second")

    def test_plainLineFromASessionPeerIsRefused(self) -> None:
        """The one judge: in the proxy too, plain text under the name of a session's peer is not delivered."""
        alice, bob = Side("alice"), Side("bob")
        alice.register()
        bob.register()
        alice.client("PRIVMSG bob :hello")
        for _ in range(3):
            relay(alice, bob)
            alice.up.clear()
            relay(bob, alice)
            bob.up.clear()
        bob.down.clear()
        bob.server(":alice!u@h PRIVMSG bob :plain words under alice's name")
        self.assertNotIn("plain words", " ".join(m.params[-1] for m in bob.downMessages() if m.command == "PRIVMSG"
                                                 and m.sourceNick == "alice"))
        self.assertIn("unprotected", " ".join(bob.notices() + [m.params[-1] for m in bob.downMessages()]))

    def test_layerOfASessionPeerIsNotPlain(self) -> None:
        alice = Side("alice")
        alice.register()
        alice.client("PRIVMSG *securechat :layer bob")
        self.assertEqual(alice.replies()[-1], "bob: session: none yet")
        alice.client("PRIVMSG *securechat :layer bob plain")
        alice.client("PRIVMSG *securechat :layer bob")
        self.assertEqual(alice.replies()[-1], "bob: plain")


class SessionPeerNoticeTests(TestCase):
    """Issue 22/23: the IRC client's automatic CTCP replies to a peer with no secret typed pass; text does not."""

    def test_ctcpReplyToASessionPeerPasses(self) -> None:
        alice = Side("alice")
        alice.register()
        alice.client("NOTICE carol :\x01VERSION irssi 1.4\x01")
        self.assertEqual(alice.up, [b"NOTICE carol :\x01VERSION irssi 1.4\x01\r\n"])
        self.assertEqual(alice.notices(), [])

    def test_noticeTextToASessionPeerIsRefused(self) -> None:
        alice = Side("alice")
        alice.register()
        alice.client("NOTICE carol :my words")
        self.assertEqual(alice.up, [])
        self.assertIn("NOT SENT to carol", " ".join(alice.notices()))

    def test_ctcpReplyToAKeyedPeerIsStillRefused(self) -> None:
        """A peer with a secret typed: its requests arrive sealed and are never the IRC client's to answer."""
        alice = Side("alice")
        alice.register()
        alice.key("bob")
        alice.up.clear()
        alice.client("NOTICE bob :\x01VERSION irssi 1.4\x01")
        self.assertEqual(alice.up, [])
        self.assertIn("NOT SENT to bob", " ".join(alice.notices()))
