"""
Tests for L{securechat.relay.state}: registration, rooms, routing and every
error numeric, with fake clients that record what they are sent.
"""

from __future__ import annotations

from typing import List

from twisted.trial.unittest import SynchronousTestCase

from securechat.relay.state import (
    CLOSING,
    CONNECTED,
    NEGOTIATING,
    PHASE_COMMANDS,
    PRE_REGISTRATION,
    REGISTERED,
    Client,
    RelayConfig,
    RelayState,
)
from securechat.wire import Message, parseLine


class FakeClient(Client):
    """A L{Client} whose writes land in a list and whose close is recorded."""

    __slots__ = ("sent", "closed")

    def __init__(self, host: str = "10.0.0.1") -> None:
        self.sent: List[bytes] = []
        self.closed = False
        super().__init__(self.sent.append, self._close, host)

    def _close(self) -> None:
        self.closed = True

    def lines(self) -> List[Message]:
        """Everything sent so far, parsed, then forgotten."""
        data = b"".join(self.sent)
        self.assertEndsWithCRLF(data)
        out = [parseLine(line) for line in data.split(b"\r\n")[:-1]]
        del self.sent[:]
        return out

    @staticmethod
    def assertEndsWithCRLF(data: bytes) -> None:
        if data and not data.endswith(b"\r\n"):
            raise AssertionError("output does not end with CRLF: %r" % (data[-20:],))

    def numerics(self) -> List[str]:
        return [m.command for m in self.lines()]


class StateTestCase(SynchronousTestCase):
    def setUp(self) -> None:
        self.now = 1_000_000.0
        self.state = RelayState(RelayConfig(), now=lambda: self.now)

    def send(self, client: Client, line: str) -> None:
        """Handle C{line}, then end the turn as the adapter does."""
        self.state.handle(client, parseLine(line.encode("utf-8")))
        self.state.deliverPending()

    def connect(self, nick: str, host: str = "10.0.0.1") -> FakeClient:
        client = FakeClient(host)
        self.send(client, "NICK " + nick)
        self.send(client, "USER %s 0 * :Real %s" % (nick, nick))
        self.assertTrue(client.registered)
        client.lines()
        return client


class RegistrationTests(StateTestCase):
    def test_welcome(self) -> None:
        """NICK + USER gives 001-005 and the MOTD (422 when there is none)."""
        client = FakeClient()
        self.send(client, "NICK alice")
        self.assertEqual(client.sent, [])
        self.send(client, "USER al 0 * :Alice Liddell")
        lines = client.lines()
        self.assertEqual(
            [m.command for m in lines], ["001", "002", "003", "004", "005", "005", "422"]
        )
        self.assertEqual(lines[0].params[-1].split()[-1], "alice!~al@10.0.0.1")
        # 13 tokens a line at most: 15 parameters with the nick and the text.
        self.assertTrue(all(len(line.params) <= 15 for line in lines))
        isupport = lines[4].params[1:-1] + lines[5].params[1:-1]
        for token in ("CASEMAPPING=rfc1459", "CHANTYPES=#", "NICKLEN=30",
                      "CHANNELLEN=50", "LINELEN=512", "UTF8ONLY",
                      "CHANMODES=,k,l,imnst", "PREFIX=(ov)@+", "MODES=4"):
            self.assertIn(token, isupport)
        self.assertTrue(any(t.startswith("TARGMAX=PRIVMSG:4") for t in isupport))
        # TAGMSG has the same limit (407 past it): a client must be told.
        [targmax] = [t for t in isupport if t.startswith("TARGMAX=")]
        self.assertIn("TAGMSG:4", targmax.split("=", 1)[1].split(","))

    def test_motd(self) -> None:
        self.state = RelayState(RelayConfig(motd=("hello", "world")), now=lambda: self.now)
        client = FakeClient()
        self.send(client, "NICK a")
        self.send(client, "USER a 0 * :a")
        lines = client.lines()
        self.assertEqual([m.command for m in lines[-4:]], ["375", "372", "372", "376"])
        self.assertEqual(lines[-3].params[-1], "- hello")

    def test_capNegotiationHoldsRegistration(self) -> None:
        client = FakeClient()
        self.send(client, "CAP LS 302")
        self.assertEqual(
            client.lines(),
            [Message("CAP", ("*", "LS", "multi-prefix away-notify server-time echo-message message-tags"),
                     "securechat.local")],
        )
        self.send(client, "NICK a")
        self.send(client, "USER a 0 * :a")
        self.assertFalse(client.registered)
        self.send(client, "CAP REQ :sasl")
        self.assertEqual(client.lines()[0].params[1:], ("NAK", "sasl"))
        self.send(client, "CAP END")
        self.assertTrue(client.registered)
        self.send(client, "CAP FROB")
        self.assertEqual(client.numerics()[-1], "410")

    def test_notRegistered(self) -> None:
        client = FakeClient()
        for line in ("JOIN #a", "PRIVMSG #a :x", "FROB"):
            self.send(client, line)
        self.assertEqual(client.numerics(), ["451", "451", "451"])

    def test_nickErrors(self) -> None:
        self.connect("alice")
        client = FakeClient()
        self.send(client, "NICK")
        self.send(client, "NICK 9lives")
        self.send(client, "NICK ALICE")
        self.assertEqual(client.numerics(), ["431", "432", "433"])

    def test_casemappingRfc1459(self) -> None:
        """C{[}, C{]} and C{\\} fold to C{{}, C{}} and C{|}: one nick, not two."""
        self.connect("a[b]")
        client = FakeClient()
        self.send(client, "NICK A{B}")
        self.assertEqual(client.numerics(), ["433"])

    def test_userErrors(self) -> None:
        client = FakeClient()
        self.send(client, "USER a 0 *")
        self.assertEqual(client.numerics(), ["461"])
        registered = self.connect("bob")
        self.send(registered, "USER a 0 * :x")
        self.send(registered, "PASS x")
        self.assertEqual(registered.numerics(), ["462", "462"])

    def test_password(self) -> None:
        self.state = RelayState(RelayConfig(password=b"s3cret"), now=lambda: self.now)
        bad = FakeClient()
        self.send(bad, "PASS wrong")
        self.send(bad, "NICK a")
        self.send(bad, "USER a 0 * :a")
        lines = bad.lines()
        self.assertEqual(lines[0].command, "464")
        self.assertEqual(lines[1].command, "ERROR")
        self.assertTrue(bad.closed)
        self.assertFalse(bad.registered)
        good = FakeClient()
        self.send(good, "PASS s3cret")
        self.send(good, "NICK a")
        self.send(good, "USER a 0 * :a")
        self.assertTrue(good.registered)
        self.assertIsNone(good.password, "the password is not kept after use")

    def test_usernameAsciiOnly(self) -> None:
        """
        The user part of a prefix keeps ASCII letters, digits and C{-_.}
        only, so no look-alike letter can mimic another user's prefix.
        """
        client = FakeClient()
        self.send(client, "NICK eve")
        self.send(client, "USER \u0430lice_1.x 0 * :Eve")  # Cyrillic a
        self.assertEqual(client.prefix, "eve!~lice_1.x@10.0.0.1")

    def test_ping(self) -> None:
        client = FakeClient()
        self.send(client, "PING :abc")
        self.send(client, "PING")
        lines = client.lines()
        self.assertEqual(lines[0], Message("PONG", ("securechat.local", "abc"), "securechat.local"))
        self.assertEqual(lines[1].command, "461")

    def test_unknownCommand(self) -> None:
        client = self.connect("a")
        self.send(client, "FROBNICATE x")
        lines = client.lines()
        self.assertEqual(lines[0].command, "421")
        self.assertEqual(lines[0].params[1], "FROBNICATE")
        self.assertFalse(client.closed)


class PhaseTests(StateTestCase):
    """A client's phase, and the one table of what each phase allows."""

    def test_phases(self) -> None:
        """CAP LS holds registration in NEGOTIATING; CAP END, NICK, USER register; QUIT closes."""
        client = FakeClient()
        self.assertEqual((client.phase, client.nick, client.folded), (CONNECTED, "", ""))
        self.send(client, "CAP LS 302")
        self.assertEqual(client.phase, NEGOTIATING)
        self.send(client, "NICK Alice")
        self.send(client, "USER al 0 * :A")
        self.assertEqual(client.phase, NEGOTIATING)
        self.send(client, "CAP END")
        self.assertEqual((client.phase, client.nick, client.folded), (REGISTERED, "Alice", "alice"))
        self.assertTrue(client.registered)
        self.send(client, "QUIT :bye")
        self.assertEqual(client.phase, CLOSING)
        self.assertFalse(client.registered)
        self.assertTrue(client.closed)

    def test_table(self) -> None:
        """Registration commands only, then everything, then nothing."""
        self.assertEqual(PHASE_COMMANDS[CONNECTED], PRE_REGISTRATION)
        self.assertEqual(PHASE_COMMANDS[NEGOTIATING], PRE_REGISTRATION)
        self.assertIsNone(PHASE_COMMANDS[REGISTERED])
        self.assertEqual(PHASE_COMMANDS[CLOSING], frozenset())

    def test_closingHandlesNothing(self) -> None:
        """After ERROR, a line that slipped through is neither handled nor answered."""
        alice, bob = self.connect("alice"), self.connect("bob")
        self.send(alice, "JOIN #lab")
        self.send(bob, "JOIN #lab")
        alice.lines(), bob.lines()
        self.state.error(alice, "Closing Link: test")
        alice.lines()
        for line in ("PRIVMSG #lab :late", "NICK carol", "BOGUS", "PING x"):
            self.send(alice, line)
        self.assertEqual((alice.sent, bob.sent), ([], []))
        # Its departure is still announced, once.
        self.state.remove(alice, "gone")
        self.assertEqual([m.command for m in bob.lines()], ["QUIT"])

    def test_nickTakenMeanwhile(self) -> None:
        """A nick taken between NICK and USER leaves the client unnamed, not registered."""
        late = FakeClient()
        self.send(late, "NICK alice")
        self.connect("alice")
        self.send(late, "USER al 0 * :A")
        self.assertEqual(late.numerics(), ["433"])
        self.assertEqual((late.phase, late.nick, late.folded), (CONNECTED, "", ""))
        self.send(late, "NICK alice2")
        self.assertEqual((late.phase, late.nick), (REGISTERED, "alice2"))


class RoomTests(StateTestCase):
    def test_joinSeenByAllWithNames(self) -> None:
        alice = self.connect("alice")
        bob = self.connect("bob")
        self.send(alice, "JOIN #lab")
        self.assertEqual(alice.numerics(), ["JOIN", "353", "366"])
        self.send(bob, "JOIN #Lab,#other")
        self.assertEqual(alice.lines(), [Message("JOIN", ("#lab",), "bob!~bob@10.0.0.1")])
        lines = bob.lines()
        self.assertEqual(lines[1].params[-1].split(), ["@alice", "bob"])
        self.assertEqual([m.command for m in lines], ["JOIN", "353", "366"] * 2)

    def test_joinErrors(self) -> None:
        alice = self.connect("alice")
        self.send(alice, "JOIN")
        self.send(alice, "JOIN nohash")
        self.assertEqual(alice.numerics(), ["461", "403"])

    def test_tooManyChannels(self) -> None:
        self.state = RelayState(RelayConfig(maxChannels=2), now=lambda: self.now)
        alice = self.connect("alice")
        self.send(alice, "JOIN #a,#b,#c")
        self.assertEqual(alice.numerics()[-1], "405")
        self.assertEqual(len(alice.rooms), 2)

    def test_namesSplitToFitTheLine(self) -> None:
        """353 lines never exceed the line limit, and together hold every nick."""
        nicks = ["member%02dxxxxxxxxxxxxxxx" % (i,) for i in range(60)]
        clients = [self.connect(n) for n in nicks]
        for client in clients:
            self.send(client, "JOIN #big")
        clients[0].lines()
        self.send(clients[0], "NAMES #big")
        raw = list(clients[0].sent)
        self.assertTrue(all(len(line) <= 512 for line in raw))
        lines = clients[0].lines()
        self.assertGreater(len(lines), 2)
        seen = [n for m in lines if m.command == "353" for n in m.params[-1].split()]
        self.assertEqual(sorted(n.lstrip("@") for n in seen), sorted(nicks))
        self.assertEqual(seen.count("@" + nicks[0]), 1)

    def test_part(self) -> None:
        alice, bob = self.connect("alice"), self.connect("bob")
        self.send(alice, "JOIN #lab")
        self.send(bob, "JOIN #lab")
        alice.lines()
        bob.lines()
        self.send(bob, "PART #lab :bye now")
        self.assertEqual(alice.lines(), [Message("PART", ("#lab", "bye now"), "bob!~bob@10.0.0.1")])
        self.send(bob, "PART #lab")
        self.send(bob, "PART #nowhere")
        self.send(bob, "PART")
        self.assertEqual(bob.numerics(), ["PART", "442", "403", "461"])

    def test_emptyRoomForgotten(self) -> None:
        alice = self.connect("alice")
        self.send(alice, "JOIN #lab")
        self.send(alice, "PART #lab")
        self.assertEqual(self.state.rooms, {})

    def test_joinZeroPartsAll(self) -> None:
        alice = self.connect("alice")
        self.send(alice, "JOIN #a,#b")
        self.send(alice, "JOIN 0")
        self.assertEqual(alice.rooms, {})
        self.assertEqual(self.state.rooms, {})

    def test_topic(self) -> None:
        alice, bob = self.connect("alice"), self.connect("bob")
        self.send(alice, "JOIN #lab")
        self.send(alice, "TOPIC #lab")
        self.assertEqual(alice.numerics()[-1], "331")
        self.send(alice, "TOPIC #lab :crypto today")
        self.assertEqual(alice.lines(), [Message("TOPIC", ("#lab", "crypto today"), "alice!~alice@10.0.0.1")])
        self.send(bob, "TOPIC #lab :mine")
        self.assertEqual(bob.numerics(), ["442"])
        self.send(bob, "JOIN #lab")
        self.assertEqual(bob.numerics(), ["JOIN", "332", "333", "353", "366"])
        self.send(bob, "TOPIC #nowhere")
        self.send(bob, "TOPIC")
        self.assertEqual(bob.numerics(), ["403", "461"])

    def test_who(self) -> None:
        alice, bob = self.connect("alice"), self.connect("bob")
        self.send(alice, "JOIN #lab")
        self.send(bob, "JOIN #lab")
        bob.lines()
        self.send(bob, "WHO #lab")
        lines = bob.lines()
        self.assertEqual([m.command for m in lines], ["352", "352", "315"])
        self.assertEqual(lines[0].params[1:6], ("#lab", "~alice", "10.0.0.1", "securechat.local", "alice"))
        self.assertEqual(lines[0].params[-1], "0 Real alice")
        self.send(bob, "WHO alice")
        self.assertEqual(bob.numerics(), ["352", "315"])
        self.send(bob, "WHO nobody")
        self.assertEqual(bob.numerics(), ["315"])

    def test_mode(self) -> None:
        alice = self.connect("alice")
        self.connect("bob")
        self.send(alice, "JOIN #lab")
        alice.lines()
        for line in ("MODE #lab", "MODE #lab +x", "MODE alice", "MODE alice +i",
                     "MODE bob", "MODE nobody", "MODE #nowhere", "MODE"):
            self.send(alice, line)
        self.assertEqual(
            alice.numerics(), ["324", "329", "472", "221", "MODE", "502", "401", "403", "461"]
        )


class MessageTests(StateTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.alice, self.bob, self.carol = (self.connect(n) for n in ("alice", "bob", "carol"))
        for client in (self.alice, self.bob):
            self.send(client, "JOIN #lab")
        for client in (self.alice, self.bob, self.carol):
            client.lines()

    def test_roomMessageFormattedOnce(self) -> None:
        """Every other member gets the very same bytes object; the sender none."""
        self.send(self.alice, "PRIVMSG #LAB :hello there")
        self.assertEqual(self.alice.sent, [])
        self.assertEqual(self.bob.sent, [b":alice!~alice@10.0.0.1 PRIVMSG #lab :hello there\r\n"])
        self.carol.sent.clear()
        self.send(self.carol, "JOIN #lab")
        self.alice.sent.clear()
        self.bob.sent.clear()
        self.send(self.carol, "PRIVMSG #lab :x")
        self.assertIs(self.alice.sent[0], self.bob.sent[0])

    def test_directMessage(self) -> None:
        self.send(self.alice, "PRIVMSG CAROL :psst")
        self.assertEqual(self.carol.lines(), [Message("PRIVMSG", ("carol", "psst"), "alice!~alice@10.0.0.1")])

    def test_commaTargets(self) -> None:
        self.send(self.carol, "JOIN #other")
        self.send(self.alice, "PRIVMSG #lab,carol :both")
        self.assertEqual(self.bob.lines()[0].params, ("#lab", "both"))
        self.assertEqual(self.carol.lines()[-1].params, ("carol", "both"))

    def test_errors(self) -> None:
        for line in (
            "PRIVMSG",
            "PRIVMSG #lab",
            "PRIVMSG #nowhere :x",
            "PRIVMSG nobody :x",
            "PRIVMSG a,b,c,d,e :x",
        ):
            self.send(self.carol, line)
        self.send(self.carol, "PRIVMSG #lab :not a member")
        self.assertEqual(self.carol.numerics(), ["411", "412", "403", "401", "407", "404"])
        self.assertEqual(self.bob.sent, [])

    def test_noticeErrorsAreSilent(self) -> None:
        for line in ("NOTICE #nowhere :x", "NOTICE nobody :x", "NOTICE #lab :x", "NOTICE"):
            self.send(self.carol, line)
        self.assertEqual(self.carol.sent, [])
        self.send(self.alice, "NOTICE #lab :hi")
        self.assertEqual(self.bob.lines()[0].command, "NOTICE")

    def test_nickChangeSeenByPeersOnce(self) -> None:
        self.send(self.carol, "JOIN #lab,#two")
        self.send(self.bob, "JOIN #two")
        for c in (self.alice, self.bob, self.carol):
            c.lines()
        self.send(self.carol, "NICK dave")
        expected = [Message("NICK", ("dave",), "carol!~carol@10.0.0.1")]
        self.assertEqual(self.bob.lines(), expected)
        self.assertEqual(self.alice.lines(), expected)
        self.assertEqual(self.carol.lines(), expected)
        self.send(self.alice, "PRIVMSG dave :hi")
        self.assertEqual(self.carol.lines()[0].source, "alice!~alice@10.0.0.1")
        self.send(self.alice, "PRIVMSG carol :hi")
        self.assertEqual(self.alice.numerics(), ["401"])
        self.send(self.alice, "NICK bob")
        self.assertEqual(self.alice.numerics(), ["433"])

    def test_quitSeenByPeersOnce(self) -> None:
        self.send(self.bob, "JOIN #two")
        self.send(self.alice, "JOIN #two")
        self.bob.lines()
        self.send(self.alice, "QUIT :gone fishing")
        error = self.alice.lines()[-1]
        self.assertEqual(error.command, "ERROR")
        self.assertTrue(self.alice.closed)
        self.state.remove(self.alice, "Connection closed")
        self.state.remove(self.alice, "Connection closed")
        self.assertEqual(
            self.bob.lines(), [Message("QUIT", ("Quit: gone fishing",), "alice!~alice@10.0.0.1")]
        )
        self.assertNotIn("alice", self.state.clients)
        self.assertEqual(list(self.state.rooms["#lab"].members), ["bob"])

    def test_abruptDisconnectReason(self) -> None:
        self.state.remove(self.alice, "Connection reset")
        self.assertEqual(self.bob.lines()[0].params, ("Connection reset",))

    def test_payloadsLoggedOnlyWhenAsked(self) -> None:
        """
        Each message is logged with command, sender, target and size, one
        C{traffic} event per turn; the body only with logPayloads.
        """
        events: List[dict] = []
        from twisted.logger import Logger, formatEvent

        self.state.log = Logger(observer=events.append)
        self.state.handle(self.alice, parseLine(b"PRIVMSG #lab :secret words"))
        self.state.handle(self.bob, parseLine(b"PRIVMSG #lab :more"))
        self.assertEqual([e for e in events if "messages" in e], [], "logged at the end of the turn")
        self.state.deliverPending()
        [event] = [e for e in events if "messages" in e]
        size = len(b":alice!~alice@10.0.0.1 PRIVMSG #lab :secret words\r\n")
        other = len(b":bob!~bob@10.0.0.1 PRIVMSG #lab :more\r\n")
        self.assertEqual(
            event["messages"],
            [("PRIVMSG", "alice", "#lab", size), ("PRIVMSG", "bob", "#lab", other)],
        )
        self.assertEqual(
            formatEvent(event),
            "traffic: PRIVMSG alice -> #lab (%d bytes); PRIVMSG bob -> #lab (%d bytes)"
            % (size, other),
        )
        self.assertNotIn("secret", formatEvent(event))
        self.state.config = RelayConfig(logPayloads=True)
        self.send(self.alice, "PRIVMSG #lab :secret words")
        event = [e for e in events if e.get("command") == "PRIVMSG"][-1]
        self.assertEqual((event["sender"], event["target"]), ("alice", "#lab"))
        self.assertEqual(event["payload"], "secret words")
        self.assertIn("secret words", formatEvent(event))


class DuplicateTargetTests(StateTestCase):
    def test_eachTargetOnce(self) -> None:
        """A target named twice in one message (any case) receives it once."""
        alice, bob = self.connect("alice"), self.connect("bob")
        self.send(alice, "JOIN #lab")
        self.send(bob, "JOIN #lab")
        bob.lines()
        self.send(alice, "PRIVMSG bob,BOB,#lab,#LAB :hi")
        self.assertEqual(
            [(m.command, m.params) for m in bob.lines()],
            [("PRIVMSG", ("bob", "hi")), ("PRIVMSG", ("#lab", "hi"))],
        )


class BatchTests(StateTestCase):
    """Room messages handled in one turn leave together, in order."""

    def setUp(self) -> None:
        super().setUp()
        self.wakeups = 0
        self.state.onPending = self._wake
        self.alice, self.bob, self.carol = (self.connect(n) for n in ("alice", "bob", "carol"))
        for client in (self.alice, self.bob, self.carol):
            self.send(client, "JOIN #lab")
        for client in (self.alice, self.bob, self.carol):
            client.lines()
        self.wakeups = 0

    def _wake(self) -> None:
        self.wakeups += 1

    def handle(self, client: Client, line: str) -> None:
        """Handle a line without ending the turn."""
        self.state.handle(client, parseLine(line.encode("utf-8")))

    def test_oneSharedWriteForNonSenders(self) -> None:
        self.handle(self.alice, "PRIVMSG #lab :one")
        self.handle(self.bob, "PRIVMSG #lab :two")
        self.handle(self.alice, "PRIVMSG #lab :three")
        self.assertEqual(self.carol.sent, [], "nothing leaves before the turn ends")
        self.assertEqual(self.wakeups, 1, "the adapter is woken once per turn")
        self.state.deliverPending()
        self.assertEqual(len(self.carol.sent), 1)
        self.assertEqual([m.params[1] for m in self.carol.lines()], ["one", "two", "three"])
        self.assertEqual([m.params[1] for m in self.alice.lines()], ["two"])
        self.assertEqual([m.params[1] for m in self.bob.lines()], ["one", "three"])

    def test_directMessageAfterRoomMessage(self) -> None:
        """A sender's room line then its DM reach a peer in that order."""
        self.handle(self.alice, "PRIVMSG #lab :in the room")
        self.handle(self.alice, "PRIVMSG bob :in private")
        self.state.deliverPending()
        self.assertEqual(
            [m.params for m in self.bob.lines()],
            [("#lab", "in the room"), ("bob", "in private")],
        )

    def test_partAfterMessage(self) -> None:
        """Other commands first deliver what waits: the message comes before the PART."""
        self.handle(self.alice, "PRIVMSG #lab :bye all")
        self.handle(self.alice, "PART #lab")
        self.state.deliverPending()
        self.assertEqual([m.command for m in self.bob.lines()], ["PRIVMSG", "PART"])

    def test_quitAfterMessage(self) -> None:
        self.handle(self.alice, "PRIVMSG #lab :last words")
        self.state.remove(self.alice, "Connection reset")
        self.assertEqual([m.command for m in self.carol.lines()], ["PRIVMSG", "QUIT"])


class HostileNamesTests(StateTestCase):
    """
    A name the client sent as a trailing parameter or as a comma item may be
    empty, hold a space or start with a colon; the numerics that echo it
    must still be well-formed lines, not an exception that drops the client.
    """

    def test_echoedNamesAreSingleWords(self) -> None:
        alice = self.connect("alice")
        self.connect("bob")
        cases = [
            ("NICK :a b", "432"),
            ("NICK ::x", "432"),
            ("JOIN :#a b", "403"),
            ("JOIN #a,:b", "403"),
            ("PART :#a b", "403"),
            ("PART #a,:b", "403"),
            ("TOPIC :", "403"),
            ("TOPIC :#a b", "403"),
            ("MODE :", "401"),
            ("MODE :#a b", "403"),
            ("WHO :", "315"),
            ("WHO :a b", "315"),
            ("NAMES :#a b", "366"),
            ("NAMES #a,:b", "366"),
            ("CAP :", "410"),
            ("CAP :x y", "410"),
            ("PRIVMSG bob,:b :x", "401"),
            ("PRIVMSG #x,:#b :x", "401"),
        ]
        for line, numeric in cases:
            self.send(alice, line)
            lines = alice.lines()
            self.assertEqual([m.command for m in lines][-1], numeric, line)
            self.assertEqual(lines[-1].params[1], "*", line)
        self.assertFalse(alice.closed)

    def test_validNamesEchoedAsSent(self) -> None:
        alice = self.connect("alice")
        self.send(alice, "PRIVMSG #Nowhere,Nobody :x")
        self.assertEqual(
            [m.params[1] for m in alice.lines()], ["#Nowhere", "Nobody"]
        )


class IPv6HostTests(StateTestCase):
    def test_hostStartingWithColon(self) -> None:
        """
        A peer at C{::1} (or any IPv4 peer of a dual-stack listener,
        C{::ffff:a.b.c.d}) is shown as C{0::1}: as a C{352} middle parameter
        a leading colon would start the trailing one, and formatting it
        raised, dropping whoever asked C{WHO}.
        """
        alice = self.connect("alice", host="::ffff:127.0.0.1")
        bob = self.connect("bob", host="::1")
        self.send(alice, "JOIN #lab")
        self.send(bob, "JOIN #lab")
        self.assertEqual(bob.lines()[0].source, "bob!~bob@0::1")
        self.send(bob, "WHO #lab")
        lines = bob.lines()
        self.assertEqual([m.command for m in lines], ["352", "352", "315"])
        self.assertEqual([m.params[3] for m in lines[:2]], ["0::ffff:127.0.0.1", "0::1"])
        self.assertFalse(bob.closed)
