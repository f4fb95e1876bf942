"""
The sans-IO session with fakes (a list for what it sends, a list for what
it tells the user, a settable clock), and the Twisted adapter over
C{StringTransport}.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from securechat.client.adapters.protocol import IDLE_PING, PING_TIMEOUT, RECEIVE_MAX_LINE, IRCClientFactory
from securechat.client.core import events as ev
from securechat.client.core.listings import MAX_NICKLEN, MAX_ROOM_MEMBERS, MAX_WHO_CHARS, MAX_WHO_ENTRIES
from securechat.client.core.session import (
    DISCONNECTED,
    MAX_ISUPPORT_TOKEN_LENGTH,
    MAX_ISUPPORT_TOKENS,
    MAX_UNSOLICITED_ROOMS,
    REGISTERED,
    REGISTERING,
    WORST_HOST,
    WORST_USER,
    ClientSession,
    CommandError,
    NeedsForce,
    NotConnected,
)
from securechat.codec import TEST_KDF, Conversation, ReassemblyLimits, derive_room_keys, direct_target
from securechat.wire import LineSplitter, formatMessage, parseLine

SERVER = "irc.test"
PREFIX = "alice!~alice@127.0.0.1"


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class SessionCase(SynchronousTestCase):
    def setUp(self):
        self.sent = []
        self.events = []
        self.clock = FakeClock()
        self.session = self.makeSession("alice")

    def makeSession(self, nick, **kw):
        return ClientSession(nick, self.events.append, clock=self.clock, **kw)

    def connect(self, session=None):
        (session or self.session).connectionMade(self.sent.append)

    def feed(self, line: str, session=None) -> None:
        (session or self.session).lineReceived(line.encode("utf-8"))

    def register(self, session=None, nick="alice", isupport="CASEMAPPING=rfc1459 LINELEN=512 NICKLEN=30"):
        self.connect(session)
        self.feed(":%s 001 %s :Welcome to the test network %s!~%s@127.0.0.1" % (SERVER, nick, nick, nick), session)
        self.feed(":%s 005 %s %s :are supported by this server" % (SERVER, nick, isupport), session)

    def lines(self):
        return [parseLine(line.rstrip(b"\r\n")) for line in self.sent]

    def commands(self):
        return [(m.command,) + m.params for m in self.lines()]

    def ofType(self, kind):
        return [e for e in self.events if isinstance(e, kind)]

    def joinRoom(self, room="#lab"):
        self.session.join(room)
        self.feed(":%s JOIN %s" % (PREFIX, room))

    def keys(self, target, passphrase=b"pw"):
        return derive_room_keys(passphrase, target, TEST_KDF)


class RegistrationTests(SessionCase):
    def test_phases(self):
        """Disconnected, registering once connected, registered on 001, disconnected again when lost."""
        self.assertEqual((self.session.phase, self.session.connected), (DISCONNECTED, False))
        self.connect()
        self.assertEqual((self.session.phase, self.session.connected), (REGISTERING, False))
        self.assertRaises(NotConnected, self.session.names, "#lab")
        self.register()
        self.assertEqual((self.session.phase, self.session.connected), (REGISTERED, True))
        self.session.connectionLost("gone", True)
        self.assertEqual((self.session.phase, self.session.connected), (DISCONNECTED, False))

    def test_welcomeWithoutConnection(self):
        """A 001 handled after the connection was lost registers nothing."""
        self.register()
        self.session.connectionLost("gone", True)
        self.feed(":%s 001 alice :Welcome again" % (SERVER,))
        self.assertEqual(self.session.phase, DISCONNECTED)
        self.assertEqual(len(self.ofType(ev.Connected)), 1)

    def test_registers(self):
        self.connect()
        self.assertEqual(
            self.commands(), [("NICK", "alice"), ("USER", "securechat", "0", "*", "securechat client")]
        )

    def test_serverPassword(self):
        session = self.makeSession("alice", password=b"letmein")
        self.connect(session)
        self.assertEqual(self.commands()[0], ("PASS", "letmein"))

    def test_welcome(self):
        self.register()
        [connected] = self.ofType(ev.Connected)
        self.assertEqual(connected, ev.Connected("alice", SERVER, "alice", False))
        self.assertEqual(self.session.prefix, PREFIX)
        self.assertTrue(self.session.connected)

    def test_welcomePrefixOnlyIfOurs(self):
        """
        The prefix 001 ends with is believed only when it names our nick:
        another one would make every line-length budget wrong.
        """
        self.connect()
        self.feed(":%s 001 alice :Welcome to the test network mallory!~m@a-much-longer-host.example" % (SERVER,))
        self.assertIsNone(self.session.prefix)

    def test_pingPong(self):
        self.register()
        self.feed("PING :token123")
        self.assertEqual(self.commands()[-1], ("PONG", "token123"))

    def test_nickInUseTriesAlternatives(self):
        self.connect()
        self.feed(":%s 433 * alice :Nickname is already in use" % (SERVER,))
        self.feed(":%s 433 * alice_ :Nickname is already in use" % (SERVER,))
        self.assertEqual(self.commands()[-2:], [("NICK", "alice_"), ("NICK", "alice__")])
        self.assertEqual([e.new for e in self.ofType(ev.NickChanged)], ["alice_", "alice__"])
        self.assertIn("in use", self.ofType(ev.NickChanged)[0].reason)
        self.feed(":%s 001 alice__ :Welcome alice__!~a@h" % (SERVER,))
        [connected] = self.ofType(ev.Connected)
        self.assertEqual((connected.nick, connected.requested), ("alice__", "alice"))

    def test_nickInUseStaysWithinNicklen(self):
        session = self.makeSession("abcdefghi")
        self.connect(session)
        self.feed(":%s 433 * abcdefghi :in use" % (SERVER,), session)
        self.assertEqual(self.commands()[-1], ("NICK", "abcdefgh1"))

    def test_nickInUseGivesUp(self):
        self.connect()
        for _ in range(20):
            self.feed(":%s 433 * x :in use" % (SERVER,))
        self.assertEqual(len([c for c in self.commands() if c[0] == "NICK"]), 1 + 8)
        self.assertIn("every nick", self.ofType(ev.Error)[-1].message)

    def test_nickInUseAfterRegistrationIsAnError(self):
        self.register()
        self.session.changeNick("bob")
        self.feed(":%s 433 alice bob :Nickname is already in use" % (SERVER,))
        self.assertEqual(self.ofType(ev.Error)[-1].message, "nick bob is already in use")
        self.assertEqual(self.session.nick, "alice")

    def test_isupport(self):
        self.register(isupport="CASEMAPPING=ascii LINELEN=1024 NICKLEN=12 CHANTYPES=#&")
        self.assertEqual(self.session.lineLength, 1024)
        self.assertEqual(self.session.nickLength, 12)
        self.assertEqual(self.session.fold("[A]"), "[a]")
        self.assertTrue(self.session.isRoom("&local"))

    def test_nicklenIsClamped(self):
        """
        NICKLEN is the server's word: believed between RFC 2812's 9 and
        MAX_NICKLEN, so a negative, tiny or huge value cannot make the
        alternative to a taken nick empty, digits only or oddly cut.
        """
        cases = (("-5", 9, "abcdefgh1"), ("0", 9, "abcdefgh1"), ("1", 9, "abcdefgh1"),
                 ("12", 12, "abcdefghi_"), ("9" * 50, MAX_NICKLEN, "abcdefghi_"),
                 (str(MAX_NICKLEN + 1), MAX_NICKLEN, "abcdefghi_"), ("x", 9, "abcdefgh1"))
        for advertised, used, alternative in cases:
            self.sent.clear()
            session = self.makeSession("abcdefghi")
            self.connect(session)
            self.feed(":%s 005 * NICKLEN=%s :are supported" % (SERVER, advertised), session)
            self.assertEqual(session.nickLength, used, advertised[:10])
            self.feed(":%s 433 * abcdefghi :in use" % (SERVER,), session)
            self.assertEqual(self.commands()[-1], ("NICK", alternative), advertised[:10])

    def test_isupportIsBounded(self):
        """
        A relay sending new 005 tokens forever, or enormous ones, gets at
        most MAX_ISUPPORT_TOKENS kept, none longer than
        MAX_ISUPPORT_TOKEN_LENGTH; the tokens we act on still apply, and a
        negated token is forgotten.
        """
        self.register()
        for line in range(MAX_ISUPPORT_TOKENS // 10 + 20):
            tokens = " ".join("X%d_%d=v" % (line, i) for i in range(10))
            self.feed(":%s 005 alice %s :are supported" % (SERVER, tokens))
        self.feed(":%s 005 alice BIG=%s CHANTYPES=#%s :are supported" % (SERVER, "v" * 8000, "&" * 8000))
        self.assertEqual(len(self.session.isupport), MAX_ISUPPORT_TOKENS)
        longest = max(len(k) + len(v or "") for k, v in self.session.isupport.items())
        self.assertLessEqual(longest, MAX_ISUPPORT_TOKEN_LENGTH)
        self.assertNotIn("BIG", self.session.isupport)
        self.assertEqual(self.session.chanTypes, "#")
        self.feed(":%s 005 alice CASEMAPPING=ascii LINELEN=1024 :are supported" % (SERVER,))
        self.assertEqual((self.session.fold("[A]"), self.session.lineLength), ("[a]", 1024))
        self.assertEqual(self.session.isupport["LINELEN"], "1024", "known keys are updated in place")
        self.feed(":%s 005 alice -X0_0 :are supported" % (SERVER,))
        self.assertNotIn("X0_0", self.session.isupport)
        self.feed(":%s 005 alice NEW=1 :are supported" % (SERVER,))
        self.assertEqual(self.session.isupport["NEW"], "1")

    def test_errorNumericsBecomeErrors(self):
        self.register()
        self.feed(":%s 404 alice #lab :Cannot send to channel" % (SERVER,))
        self.assertEqual(self.ofType(ev.Error)[-1], ev.Error("#lab Cannot send to channel", "404"))

    def test_unparsableLineIgnored(self):
        self.register()
        self.session.lineReceived(b"\xff\xfe garbage")
        self.session.lineReceived(b":only.a.prefix")
        self.feed("PING :still alive")
        self.assertEqual(self.commands()[-1], ("PONG", "still alive"))


class PayloadTests(SessionCase):
    def test_fromWelcomePrefix(self):
        self.register()
        head = ":%s PRIVMSG #lab :" % (PREFIX,)
        self.assertEqual(self.session.maxPayload("#lab"), 512 - len(head) - 2)

    def test_worstCaseWithoutPrefix(self):
        self.connect()
        self.feed(":%s 001 alice :Welcome to the network" % (SERVER,))
        head = ":alice!%s@%s PRIVMSG #lab :" % ("u" * WORST_USER, "h" * WORST_HOST)
        self.assertEqual(self.session.maxPayload("#lab"), 512 - len(head) - 2)

    def test_everyLineFitsWhenRelayed(self):
        self.register()
        self.joinRoom()
        self.session.setKeys("#lab", self.keys("#lab"), "fernet-ttl")
        self.session.sendMessage("#lab", "é" * 3000)
        for message in self.lines():
            if message.command == "PRIVMSG":
                relayed = ":%s PRIVMSG %s :%s\r\n" % (PREFIX, *message.params)
                self.assertLessEqual(len(relayed.encode("utf-8")), 512)


    def test_hugeLinelenIsCapped(self):
        """
        A relay advertising an enormous LINELEN does not get lines longer than
        any securechat client receives: once relayed with our prefix, every
        line passes the receiving adapter's splitter.
        """
        self.register(isupport="CASEMAPPING=rfc1459 LINELEN=1000000000 NICKLEN=30")
        self.assertEqual(self.session.lineLength, RECEIVE_MAX_LINE)
        self.joinRoom()
        self.session.sendMessage("#lab", "plain " * 20_000)
        self.session.setKeys("#lab", self.keys("#lab"), "fernet-ttl")
        self.session.sendMessage("#lab", "secret " * 20_000)
        privmsgs = [m for m in self.lines() if m.command == "PRIVMSG"]
        self.assertGreater(len(privmsgs), 2)
        receiver = LineSplitter(RECEIVE_MAX_LINE)
        for message in privmsgs:
            relayed = formatMessage("PRIVMSG", message.params, PREFIX)
            self.assertLessEqual(len(relayed), RECEIVE_MAX_LINE)
            self.assertEqual(receiver.feed(relayed), [relayed[:-2]])

    def test_linelenBetweenTheBoundsIsBelieved(self):
        self.register(isupport="LINELEN=%d" % (RECEIVE_MAX_LINE,))
        self.assertEqual(self.session.lineLength, RECEIVE_MAX_LINE)
        cases = (
            ("100", 512), ("-5", 512), ("x", 512),
            ("9" * 50, RECEIVE_MAX_LINE), (str(RECEIVE_MAX_LINE + 1), RECEIVE_MAX_LINE),
        )
        for advertised, used in cases:
            session = self.makeSession("alice")
            self.register(session, isupport="LINELEN=" + advertised)
            self.assertEqual(session.lineLength, used, advertised[:10])


class PhaseTests(SessionCase):
    """What reaches the server in each phase is the phase table's (PHASE_ALLOWS), nothing else."""

    def test_eachPhaseAllowsItsTable(self):
        from securechat.client.core.registration import DISCONNECTED, PHASE_ALLOWS, REGISTERED, REGISTERING

        session = self.session
        self.assertEqual(session.phase, DISCONNECTED)
        session.join("#lab")  # kept for the next registration, nothing written
        session.changeNick("alice2")
        self.assertEqual(self.sent, [])
        self.assertRaises(NotConnected, session.names, "#lab")
        self.assertRaises(NotConnected, session.sendMessage, "#lab", "hi")

        self.connect()
        self.assertEqual(session.phase, REGISTERING)
        self.sent.clear()
        session.changeNick("alice3")  # a registration may still change its nick
        session.join("#more")  # waits for 001
        self.assertEqual(self.commands(), [("NICK", "alice3")])
        self.assertRaises(NotConnected, session.setAway, "lunch")
        self.assertRaises(NotConnected, session.who, "#lab")

        self.feed(":%s 001 alice3 :Welcome alice3!~a@h" % (SERVER,))
        self.assertEqual(session.phase, REGISTERED)
        self.assertEqual(sorted(c for c in self.commands() if c[0] == "JOIN"), [("JOIN", "#lab"), ("JOIN", "#more")])
        self.sent.clear()
        session.setAway("lunch")
        session.who("#lab")
        self.assertEqual(self.commands(), [("AWAY", "lunch"), ("WHO", "#lab")])
        self.assertEqual(
            {phase: sorted(actions) for phase, actions in PHASE_ALLOWS.items()},
            {DISCONNECTED: [], REGISTERING: ["nick", "quit"],
             REGISTERED: ["ask", "away", "join", "nick", "part", "quit", "send"]},
        )


class RoomPhaseTests(SessionCase):
    """What the user may do with a room is its phase's row of ROOM_ALLOWS, nothing else."""

    def test_eachRoomPhaseAllowsItsTable(self):
        from securechat.client.core.rooms import (
            JOINED,
            LEAVING,
            OUTSIDE,
            ROOM_ALLOWS,
            UNSOLICITED,
            WANTED,
        )

        rooms = self.session.roomsPart
        self.assertEqual(rooms.phaseOf("#lab"), OUTSIDE)
        self.assertRaises(CommandError, self.session.part, "#lab")
        self.session.join("#lab")  # not connected: only wanted
        self.assertEqual(rooms.phaseOf("#LAB"), WANTED)
        self.register()
        self.assertEqual(rooms.phaseOf("#lab"), WANTED)  # JOIN sent, not yet answered
        self.assertRaises(CommandError, self.session.sendMessage, "#lab", "early")
        self.feed(":%s JOIN #lab" % (PREFIX,))
        self.assertEqual(rooms.phaseOf("#lab"), JOINED)
        self.sent.clear()
        self.session.sendMessage("#lab", "hi")
        self.session.part("#lab")
        self.assertEqual(rooms.phaseOf("#lab"), LEAVING)
        self.session.sendMessage("#lab", "bye")  # the server has not parted us yet
        self.assertEqual(
            [c[0] for c in self.commands()], ["PRIVMSG", "PART", "PRIVMSG"]
        )
        self.feed(":%s PART #lab" % (PREFIX,))
        self.assertEqual(rooms.phaseOf("#lab"), OUTSIDE)
        self.feed(":%s JOIN #forced" % (PREFIX,))
        self.assertEqual(rooms.phaseOf("#forced"), UNSOLICITED)
        self.assertRaises(CommandError, self.session.sendMessage, "#forced", "hi")
        self.sent.clear()
        self.session.part("#forced")
        self.assertEqual(self.commands(), [("PART", "#forced")])
        self.assertEqual(rooms.phaseOf("#forced"), OUTSIDE)
        self.session.join("#later")
        self.session.connectionLost("gone", True)
        self.sent.clear()
        self.session.part("#later")  # a wish forgotten: nothing to send
        self.assertEqual((self.sent, rooms.phaseOf("#later")), ([], OUTSIDE))
        self.assertEqual(
            {phase: sorted(actions) for phase, actions in ROOM_ALLOWS.items()},
            {OUTSIDE: [], WANTED: ["part"], JOINED: ["part", "say"], LEAVING: ["part", "say"],
             UNSOLICITED: ["part"]},
        )


class MembershipTests(SessionCase):
    def setUp(self):
        SessionCase.setUp(self)
        self.register()

    def test_joinAndPeers(self):
        self.joinRoom()
        self.feed(":bob!~b@h JOIN #lab")
        self.feed(":carol!~c@h JOIN #lab")
        self.feed(":carol!~c@h PART #lab :bye")
        self.feed(":bob!~b@h NICK robert")
        self.feed(":robert!~b@h QUIT :gone")
        kinds = [
            (type(e).__name__, getattr(e, "nick", None)) for e in self.events if not isinstance(e, (ev.Connected,))
        ]
        self.assertEqual(
            kinds,
            [("Joined", "alice"), ("Joined", "bob"), ("Joined", "carol"), ("Parted", "carol"),
             ("NickChanged", None), ("UserQuit", "robert")],
        )
        self.assertEqual(self.ofType(ev.UserQuit)[0].rooms, ("#lab",))
        self.assertEqual(self.session.rooms["#lab"].members, {"alice": "alice"})

    def test_inventedMembersAreBounded(self):
        """
        JOINs from invented nicks keep at most MAX_ROOM_MEMBERS members per
        room (none longer than MAX_NICKLEN), the user told once; they are
        still reported, and members already known keep being tracked.
        """
        self.joinRoom()
        self.feed(":%s!~u@h JOIN #lab" % ("x" * (MAX_NICKLEN + 1),))
        for i in range(MAX_ROOM_MEMBERS + 50):
            self.feed(":n%d!~u@h JOIN #lab" % (i,))
        members = self.session.rooms["#lab"].members
        self.assertEqual(len(members), MAX_ROOM_MEMBERS)
        self.assertIn("alice", members)
        self.assertEqual(len(self.ofType(ev.Joined)), MAX_ROOM_MEMBERS + 52)
        [notice] = self.ofType(ev.Notice)
        self.assertIn("#lab has more than %d members" % (MAX_ROOM_MEMBERS,), notice.text)
        self.feed(":n1!~u@h NICK renamed")
        self.assertIn("renamed", members)
        self.feed(":renamed!~u@h QUIT :bye")
        self.assertEqual(self.ofType(ev.UserQuit)[-1].rooms, ("#lab",))
        self.feed(":n2!~u@h NICK %s" % ("y" * (MAX_NICKLEN + 1),))
        self.assertEqual(len(members), MAX_ROOM_MEMBERS - 2)

    def test_names(self):
        self.joinRoom()
        self.feed(":%s 353 alice = #lab :alice @bob +carol" % (SERVER,))
        self.feed(":%s 353 alice = #lab :dave" % (SERVER,))
        self.feed(":%s 366 alice #lab :End of /NAMES list." % (SERVER,))
        self.assertEqual(self.ofType(ev.Names)[-1], ev.Names("#lab", ("alice", "bob", "carol", "dave")))

    def test_namesOnlyForRoomsWeAreInOrAskedFor(self):
        """
        353 lines that never end (no 366) for rooms we are not in and did
        not ask about are not kept; those we asked about are answered.
        """
        for i in range(500):
            self.feed(":%s 353 alice = #invented%d :bob carol dave" % (SERVER, i))
        self.assertEqual(len(self.session.roomsPart._names), 0)
        self.feed(":%s 366 alice #invented1 :End of /NAMES list." % (SERVER,))
        self.assertEqual(self.ofType(ev.Names), [])
        self.session.names("#Elsewhere")
        self.feed(":%s 353 alice = #elsewhere :bob @carol" % (SERVER,))
        self.feed(":%s 366 alice #elsewhere :End of /NAMES list." % (SERVER,))
        self.assertEqual(self.ofType(ev.Names), [ev.Names("#elsewhere", ("bob", "carol"))])
        self.assertEqual(len(self.session.roomsPart._names), 0)
        self.session.names("#empty")
        self.feed(":%s 366 alice #empty :End of /NAMES list." % (SERVER,))
        self.assertEqual(self.ofType(ev.Names)[-1], ev.Names("#empty", ()))

    def test_namesReplyIsBounded(self):
        """
        A NAMES reply for our room that never ends keeps at most
        MAX_ROOM_MEMBERS names (no name longer than MAX_NICKLEN), the user
        told once; a reconnect forgets it.
        """
        self.joinRoom()
        self.feed(":%s 353 alice = #lab :%s ok" % (SERVER, "x" * (MAX_NICKLEN + 1)))
        for line in range(MAX_ROOM_MEMBERS // 400 + 5):
            self.feed(":%s 353 alice = #lab :%s" % (SERVER, " ".join("n%d_%d" % (line, i) for i in range(400))))
        [notice] = self.ofType(ev.Notice)
        self.assertIn("more than %d names for #lab" % (MAX_ROOM_MEMBERS,), notice.text)
        self.feed(":%s 366 alice #lab :End of /NAMES list." % (SERVER,))
        [names] = self.ofType(ev.Names)
        self.assertEqual((len(names.nicks), names.nicks[0]), (MAX_ROOM_MEMBERS, "ok"))
        self.assertEqual(len(self.session.rooms["#lab"].members), MAX_ROOM_MEMBERS)
        self.feed(":%s 353 alice = #lab :never ended" % (SERVER,))
        self.session.connectionLost("gone", True)
        self.assertEqual(len(self.session.roomsPart._names), 0)

    def test_who(self):
        self.session.who("#lab")
        self.feed(":%s 352 alice #lab ~b host %s bob H :0 Bob B" % (SERVER, SERVER))
        self.feed(":%s 315 alice #lab :End of /WHO list." % (SERVER,))
        self.assertEqual(self.ofType(ev.Who)[-1], ev.Who("#lab", (ev.WhoEntry("bob", "~b", "host", "Bob B"),)))

    def test_whoOnlyWhileAsked(self):
        """
        352 lines no WHO of ours asked for, never ended by a 315, are not
        kept; a 315 with no WHO pending is ignored too.
        """
        for i in range(500):
            self.feed(":%s 352 alice #lab ~u host %s n%d H :0 Real Name" % (SERVER, SERVER, i))
        self.feed(":%s 315 alice #lab :End of /WHO list." % (SERVER,))
        self.assertEqual(self.session.roomsPart._who.entries, [])
        self.assertEqual(self.ofType(ev.Who), [])
        self.session.who("bob")
        self.feed(":%s 352 alice * ~b host %s bob H :0 Bob" % (SERVER, SERVER))
        self.feed(":%s 315 alice bob :End of /WHO list." % (SERVER,))
        self.feed(":%s 352 alice * ~e host %s eve H :0 Eve" % (SERVER, SERVER))
        self.assertEqual(self.ofType(ev.Who), [ev.Who("bob", (ev.WhoEntry("bob", "~b", "host", "Bob"),))])
        self.assertEqual(self.session.roomsPart._who.entries, [])

    def test_whoReplyIsBounded(self):
        """
        A WHO answer that never ends keeps at most MAX_WHO_ENTRIES entries,
        and at most MAX_WHO_CHARS characters however long each line is; the
        user is told once, and a reconnect forgets it.
        """
        self.session.who("#lab")
        for i in range(MAX_WHO_ENTRIES + 100):
            self.feed(":%s 352 alice #lab ~u host %s n%d H :0 Real" % (SERVER, SERVER, i))
        self.assertEqual(len(self.session.roomsPart._who.entries), MAX_WHO_ENTRIES)
        [notice] = self.ofType(ev.Notice)
        self.assertIn("more WHO entries than we keep", notice.text)
        self.feed(":%s 315 alice #lab :End of /WHO list." % (SERVER,))
        self.assertEqual(len(self.ofType(ev.Who)[-1].entries), MAX_WHO_ENTRIES)
        self.session.who("#lab")
        realname = "r" * (RECEIVE_MAX_LINE - 200)
        for i in range(MAX_WHO_CHARS // len(realname) + 50):
            self.feed(":%s 352 alice #lab ~u host %s n%d H :0 %s" % (SERVER, SERVER, i, realname))
        entries = self.session.roomsPart._who.entries
        held = sum(len(e.nick) + len(e.user) + len(e.host) + len(e.realname) for e in entries)
        self.assertLessEqual(held, MAX_WHO_CHARS)
        self.assertGreater(held, MAX_WHO_CHARS - RECEIVE_MAX_LINE)
        self.assertEqual(len(self.ofType(ev.Notice)), 2)
        self.session.connectionLost("gone", True)
        self.assertEqual(self.session.roomsPart._who.entries, [])

    def test_partAndKick(self):
        self.joinRoom()
        self.joinRoom("#other")
        self.session.part("#lab", "later")
        self.assertEqual(self.commands()[-1], ("PART", "#lab", "later"))
        self.feed(":%s PART #lab :later" % (PREFIX,))
        self.feed(":op!~o@h KICK #other alice :out")
        self.assertEqual(self.session.rooms, {})
        self.assertEqual(self.session.wanted, {})
        self.assertIn("kicked by op", self.ofType(ev.Parted)[-1].reason)
        self.assertRaises(CommandError, self.session.part, "#nowhere")

    def test_badRoomName(self):
        self.assertRaises(CommandError, self.session.join, "lab")
        self.assertRaises(CommandError, self.session.join, "#a,#b")

    def test_lineBreakingParametersRefused(self):
        """
        CR, LF or NUL in a name would end the line and inject a command, a
        leading colon would shift the parameters: each is refused with a
        sentence, nothing is sent, and nothing bad is kept for a rejoin.
        """
        self.joinRoom()
        self.sent.clear()
        for call in (
            lambda: self.session.changeNick("eve\r\nQUIT :gotcha"),
            lambda: self.session.who("#lab\nQUIT"),
            lambda: self.session.names("#lab\x00"),
            lambda: self.session.join("#a\r\nPRIVMSG #lab :forged"),
            lambda: self.session.part("#lab", "bye\nQUIT"),
            lambda: self.session.sendMessage(":x", "hi"),
            lambda: self.session.sendMessage("bob\r\nQUIT", "hi"),
            lambda: self.session.sendMessage("bob\n", "hi"),
        ):
            self.assertRaises(CommandError, call)
        self.assertEqual(self.sent, [])
        self.assertEqual(self.session.wanted, {"#lab": "#lab"})
        self.assertEqual(self.session.requestedNick, "alice")

    def test_quitReasonCannotBreakTheLine(self):
        """Leaving always works: line breaks in the reason become spaces."""
        self.sent.clear()
        self.session.quit("bye\r\nNICK eve")
        self.assertEqual(self.commands(), [("QUIT", "bye  NICK eve")])

    def test_unsendableParameterIsACommandError(self):
        """Whatever formatMessage refuses reaches the user as a CommandError, not a ValueError."""
        self.assertRaises(CommandError, self.session.registration.write, "PRIVMSG", "a b", "text")

    def test_unsolicitedSelfJoinIsNotEnteredNorRejoined(self):
        """
        A relay claiming we joined rooms we never asked for cannot place us
        there: the rooms are not entered (nothing can be sent to them), not
        rejoined after a reconnect, and the user is told, once per room.
        """
        self.joinRoom("#asked")
        for i in range(200):
            self.feed(":%s JOIN #trap%d" % (PREFIX, i))
        self.feed(":%s JOIN #a,#b" % (PREFIX,))
        self.assertEqual(set(self.session.rooms), {"#asked"})
        self.assertEqual(self.session.wanted, {"#asked": "#asked"})
        self.assertLessEqual(len(self.session.roomsPart._unsolicited), MAX_UNSOLICITED_ROOMS)
        self.assertEqual([e.room for e in self.ofType(ev.Joined)], ["#asked"])
        notices = [e.text for e in self.ofType(ev.Notice)]
        self.assertEqual(len(notices), 202)
        self.assertIn("#trap0, which you did not ask for", notices[0])
        self.assertRaises(CommandError, self.session.sendMessage, "#trap0", "hi")
        self.session.connectionLost("gone", True)
        self.sent.clear()
        self.register()
        self.assertEqual([c for c in self.commands() if c[0] == "JOIN"], [("JOIN", "#asked")])

    def test_unsolicitedRoomCanBeJoinedOrLeft(self):
        """
        A server that really put us in a room ignores a second JOIN: the
        user's /join takes part at once, and /part leaves it.
        """
        self.feed(":%s JOIN #forced" % (PREFIX,))
        self.feed(":%s JOIN #other" % (PREFIX,))
        self.sent.clear()
        self.session.join("#Forced")
        self.assertEqual(self.commands(), [("JOIN", "#Forced")])
        self.assertEqual(set(self.session.rooms), {"#forced"})
        self.assertEqual(self.session.rooms["#forced"].name, "#forced")
        self.assertEqual(self.ofType(ev.Joined)[-1], ev.Joined("#forced", "alice", True, "plain"))
        self.session.sendMessage("#forced", "hello")
        self.session.part("#other")
        self.assertEqual(self.commands()[-1], ("PART", "#other"))
        self.assertRaises(CommandError, self.session.part, "#other")
        self.assertEqual(self.session.wanted, {"#forced": "#Forced"})

    def test_rejoinAfterReconnect(self):
        self.joinRoom("#a")
        self.joinRoom("#b")
        self.session.connectionLost("gone", True)
        self.assertEqual(self.ofType(ev.Disconnected)[-1], ev.Disconnected("gone", True))
        self.assertFalse(self.session.connected)
        self.assertRaises(NotConnected, self.session.sendMessage, "#a", "hi")
        self.sent.clear()
        self.register()
        self.assertEqual(self.commands()[-2:], [("JOIN", "#a"), ("JOIN", "#b")])
        self.assertTrue(self.ofType(ev.Connected)[-1].reconnect)


class MessageTests(SessionCase):
    """Incoming and outgoing messages through the codec, with injected lines."""

    def setUp(self):
        SessionCase.setUp(self)
        self.register()
        self.joinRoom()
        self.bob = Conversation("#lab", "fernet-ttl", self.keys("#lab"), clock=self.clock)

    def fromBob(self, texts, sender="bob!~b@h", target="#lab"):
        for text in texts:
            self.feed(":%s PRIVMSG %s :%s" % (sender, target, text))

    def verdicts(self):
        return [e for e in self.events if isinstance(e, (ev.IncomingMessage, ev.RejectedMessage))]

    def test_plainRoom(self):
        self.fromBob(["hello"])
        [message] = self.verdicts()
        self.assertEqual(
            (message.target, message.sender, message.body, message.protection), ("#lab", "bob", "hello", "none")
        )

    def test_protectedWithoutKeyIsNoKey(self):
        self.fromBob(self.bob.encode("bob", "secret", 400))
        [rejected] = self.verdicts()
        self.assertEqual((rejected.reason, rejected.layer, rejected.sender), ("no-key", "fernet-ttl", "bob"))

    def test_keyedRoom(self):
        self.session.setKeys("#lab", self.keys("#lab"), "fernet-ttl")
        self.fromBob(self.bob.encode("bob", "secret " * 200, 400))
        [message] = self.verdicts()
        self.assertEqual((message.body, message.protection), ("secret " * 200, "authenticated+fresh"))

    def test_injectedWithAnotherSenderPrefix(self):
        """The relay injects bob's line under mallory's prefix: re-attributed."""
        self.session.setKeys("#lab", self.keys("#lab"), "fernet-ttl")
        self.fromBob(self.bob.encode("bob", "pay mallory", 400), sender="mallory!~m@h")
        [rejected] = self.verdicts()
        self.assertEqual((rejected.sender, rejected.reason), ("mallory", "re-attributed"))

    def test_replayAndExpiry(self):
        self.session.setKeys("#lab", self.keys("#lab"), "fernet-ttl")
        texts = self.bob.encode("bob", "once", 400)
        self.fromBob(texts)
        self.fromBob(texts)
        self.clock.now += 120
        self.fromBob(texts)
        self.assertEqual(
            [getattr(v, "reason", "ok") for v in self.verdicts()], ["ok", "replayed", "expired"]
        )

    def test_droppedMessageIsCounted(self):
        self.session.setKeys("#lab", self.keys("#lab"), "fernet")
        self.bob.set_layer("fernet", self.keys("#lab"))
        first = self.bob.encode("bob", "one", 400)
        self.bob.encode("bob", "two (dropped by the relay)", 400)
        third = self.bob.encode("bob", "three", 400)
        self.fromBob(first + third)
        self.assertEqual([v.missing for v in self.verdicts()], [0, 1])

    def test_reorderedIsFlagged(self):
        self.session.setKeys("#lab", self.keys("#lab"), "fernet-ttl")
        first, second, third = (self.bob.encode("bob", body, 400) for body in ("1", "2", "3"))
        self.fromBob(first + third + second)
        self.assertEqual(
            [(v.body, v.missing, v.reordered) for v in self.verdicts()],
            [("1", 0, False), ("3", 1, False), ("2", 0, True)],
        )

    def test_malformedProtectedLine(self):
        self.session.setKeys("#lab", self.keys("#lab"), "fernet-ttl")
        self.fromBob(["+sc2 fernet-ttl nothex 1/1 AAAA"])
        [rejected] = self.verdicts()
        self.assertEqual((rejected.sender, rejected.reason), ("bob", "malformed"))

    def test_incompleteAfterTimeout(self):
        session = self.makeSession("carol", limits=ReassemblyLimits(timeout=5.0))
        self.register(session, nick="carol")
        session.join("#lab")
        self.feed(":carol!~c@h JOIN #lab", session)
        session.setKeys("#lab", self.keys("#lab"), "fernet-ttl")
        texts = self.bob.encode("bob", "long " * 300, 200)
        self.assertGreater(len(texts), 2)
        self.feed(":bob!~b@h PRIVMSG #lab :%s" % (texts[0],), session)
        self.clock.now += 6
        session.expire()
        [rejected] = self.verdicts()
        self.assertEqual((rejected.sender, rejected.reason), ("bob", "incomplete"))

    def test_directMessage(self):
        pair = self.session.codecTarget("bob")
        self.assertEqual(pair, "alice bob")
        self.session.setKeys("bob", self.keys(pair), "fernet")
        bobSide = Conversation(pair, "fernet", self.keys(pair), clock=self.clock)
        self.fromBob(bobSide.encode("bob", "psst", 400), target="alice")
        [message] = self.verdicts()
        self.assertEqual((message.target, message.direct, message.body), ("bob", True, "psst"))

    def test_directKeyIsNotDroppedToPlainByANickChange(self):
        """
        Direct keys belong to a pair of nicks.  After our nick changes (or
        the relay says it did), the new pair has no key: the message must
        not go out in clear, and the user is told how to go on.
        """
        self.session.setKeys("bob", self.keys(direct_target("alice", "bob")), "fernet")
        self.session.changeNick("alice2")
        self.feed(":%s NICK alice2" % (PREFIX,))
        [changed] = self.ofType(ev.NickChanged)
        self.assertIn("direct-message keys were set for the old nick", changed.reason)
        self.sent.clear()
        error = self.assertRaises(CommandError, self.session.sendMessage, "bob", "secret")
        self.assertIn("/key bob", str(error))
        self.assertEqual(self.sent, [])
        self.session.setKeys("bob", self.keys(direct_target("alice2", "bob")))
        self.assertEqual(self.session.sendMessage("bob", "secret").layer, "fernet")

    def test_peerNickChangeKeepsTheRefusal(self):
        self.session.setKeys("bob", self.keys(direct_target("alice", "bob")))
        self.feed(":bob!~b@h NICK robert")
        self.sent.clear()
        self.assertRaises(CommandError, self.session.sendMessage, "robert", "secret")
        self.assertEqual(self.sent, [])
        self.assertRaises(NeedsForce, self.session.setLayer, "robert", "plain")
        self.session.setLayer("robert", "plain", force=True)
        self.assertEqual(self.session.sendMessage("robert", "not secret").layer, "plain")

    def isupport(self, tokens):
        self.feed(":%s 005 alice %s :are supported by this server" % (SERVER, tokens))

    def privmsgs(self):
        return [m.params for m in self.lines() if m.command == "PRIVMSG"]

    def test_laterCasemappingKeepsKeys(self):
        """
        A 005 that changes CASEMAPPING mid-session (a relay's choice, or
        ngircd's ascii arriving after keys were set at startup) does not
        lose a key: the next message to a keyed room or peer still goes
        out protected, and plain text in the keyed room is still refused.
        """
        self.joinRoom("#x[y]")
        self.session.setKeys("#x[y]", self.keys(self.session.codecTarget("#x[y]")), "fernet")
        pair = self.session.codecTarget("bob[m]")
        self.session.setKeys("bob[m]", self.keys(pair), "fernet")
        self.isupport("CASEMAPPING=ascii")
        self.sent.clear()
        self.assertEqual(self.session.sendMessage("#x[y]", "secret one").layer, "fernet")
        self.assertEqual(self.session.sendMessage("bob[m]", "secret two").layer, "fernet")
        self.assertTrue(all(text.startswith("+sc2 fernet ") for _, text in self.privmsgs()), self.privmsgs())
        self.fromBob(["plain spoof"], target="#x[y]")
        [rejected] = self.verdicts()
        self.assertEqual(rejected.reason, "unprotected")

    def test_roomJoinedBeforeCasemappingIsStillOurs(self):
        """
        /join #a[b] before the 005 said ascii: the server's JOIN echo is the
        room we asked for, not one "we did not ask for".
        """
        session = self.makeSession("carol")
        self.connect(session)
        session.join("#a[b]")
        self.feed(":%s 001 carol :Welcome carol!~c@h" % (SERVER,), session)
        self.feed(":%s 005 carol CASEMAPPING=ascii :are supported" % (SERVER,), session)
        self.feed(":carol!~c@h JOIN #a[b]", session)
        self.assertEqual(list(session.rooms), ["#a[b]"])
        joined = self.ofType(ev.Joined)[-1]
        self.assertEqual((joined.room, joined.me), ("#a[b]", True))
        self.assertFalse([n for n in self.ofType(ev.Notice) if "did not ask" in n.text])

    def test_chantypesOnlyGrowWithinIrcPrefixes(self):
        """
        A 005 saying CHANTYPES=& cannot make #lab a nick (its key would not
        be found and text would go out in clear), and CHANTYPES=b cannot
        make bob a room.
        """
        self.session.setKeys("#lab", self.keys("#lab"), "fernet")
        self.isupport("CHANTYPES=&")
        self.isupport("CHANTYPES=b!")
        self.assertEqual(self.session.chanTypes, "!#&")
        self.assertTrue(self.session.isRoom("#lab") and self.session.isRoom("&ops"))
        self.assertFalse(self.session.isRoom("bob"))
        self.sent.clear()
        self.assertEqual(self.session.sendMessage("#lab", "secret").layer, "fernet")
        self.assertTrue(self.privmsgs()[0][1].startswith("+sc2 fernet "))

    def test_keyedRoomWhoseKeyIsLostIsNotSentInClear(self):
        """The last line of defence: a keyed room without its key refuses to send."""
        self.session.setKeys("#lab", self.keys("#lab"), "fernet")
        for record in self.session.keyring._targets.values():
            record.conversation = None
        self.sent.clear()
        error = self.assertRaises(CommandError, self.session.sendMessage, "#lab", "secret")
        self.assertIn("/key #lab", str(error))
        self.assertEqual(self.sent, [])

    def test_statusmsgFormIsJudgedAsTheRoom(self):
        """A line to @#lab (the ops of #lab) is #lab's: opened with its key, a clear one refused."""
        self.session.setKeys("#lab", self.keys("#lab"), "fernet-ttl")
        self.fromBob(self.bob.encode("bob", "to the ops", 400), target="@#lab")
        self.fromBob(["in clear to the voiced"], target="+#LAB")
        accepted, rejected = self.verdicts()
        self.assertEqual((accepted.target, accepted.body, accepted.direct), ("#lab", "to the ops", False))
        self.assertEqual((rejected.target, rejected.reason, rejected.direct), ("#LAB", "unprotected", False))

    def test_keyedFormsAreTheSessionsDecision(self):
        """
        Every face asks the session which keyed conversation a target is a
        form of.  Changed on purpose (issue 22): a peer with no secret is a
        pairwise session's (never sent in clear) unless chosen plain.
        """
        self.session.setKeys("#lab", self.keys("#lab"), "fernet-ttl")
        self.session.setLayer("carol", "plain")
        self.assertEqual(
            [self.session.keyedFormOf(t) for t in ("#lab", "#LAB", "@#lab", "+#Lab", "#other", "bob", "carol")],
            ["#lab", "#LAB", "#lab", "#Lab", None, "bob", None],
        )

    def test_statusmsgFormOfAKeyedRoomIsNotSent(self):
        """/msg @#lab would reach part of a keyed room in clear: refused, nothing written."""
        self.session.setKeys("#lab", self.keys("#lab"), "fernet-ttl")
        self.sent.clear()
        for form in ("@#lab", "+#LAB"):
            error = self.assertRaises(CommandError, self.session.sendMessage, form, "secret")
            self.assertIn("cannot be protected; send it to %s" % (form[1:],), str(error))
        self.assertEqual(self.sent, [])

    def test_noticeFromABareNickIsAMessage(self):
        """
        ":bob NOTICE #lab :..." (no !user@host) is bob's, not the server's:
        judged by the codec, so in a keyed room it is refused as
        unprotected; the server's own notices are still notices.
        """
        self.session.setKeys("#lab", self.keys("#lab"), "fernet")
        self.feed(":bob NOTICE #lab :I am bob, trust me")
        self.feed(":%s NOTICE #lab :server maintenance at noon" % (SERVER,))
        self.feed(":irc.other.example NOTICE alice :[auth] hello from a server")
        rejected, plain = self.verdicts()
        self.assertEqual((rejected.sender, rejected.reason), ("bob", "unprotected"))
        # The server is the name it gave at registration, nothing else: a
        # dotted source is a member's, and its text is shown as plain.
        self.assertEqual((plain.sender, plain.protection, plain.direct), ("irc.other.example", "none", True))
        self.assertEqual([n.source for n in self.ofType(ev.Notice)][-1:], [SERVER])

    def test_aKeyedNameIsInOnePhaseAtATime(self):
        """Waiting for its key (messages queue), then keyed (sealed); plain again forgets it."""
        from securechat.client.core.keyed import KEYED, SENDING, WAITING_FOR_KEY

        request = self.session.keyRequested("#lab", "fernet")
        self.assertEqual(self.session.keyring.keyedName("#LAB").phase, WAITING_FOR_KEY)
        self.assertEqual(SENDING[WAITING_FOR_KEY], "queue")
        self.assertIsInstance(self.session.sendMessage("#lab", "waits"), ev.Queued)
        self.session.keyArrived("#lab", request, self.keys("#lab"))
        self.assertEqual(self.session.keyring.keyedName("#lab").phase, KEYED)
        self.assertIsInstance(self.session.sendMessage("#lab", "sealed"), ev.Sent)
        self.session.setLayer("#lab", "plain", force=True)
        self.assertIsNone(self.session.keyring.keyedName("#lab"))

    def test_inventedSendersAndRoomsCostNoMemory(self):
        """
        A relay inventing a sender (or a room) per line gets the verdicts it
        always got (plain shown as plain, protected refused as no-key), and
        the session keeps nothing for them: only the conversations the user
        keyed are stored, and they keep working.
        """
        pair = direct_target("alice", "bob")
        self.session.setKeys("bob", self.keys(pair), "fernet")
        bobSide = Conversation(pair, "fernet", self.keys(pair), clock=self.clock)
        chunked = self.bob.encode("bob", "secret " * 100, 200)
        self.assertGreater(len(chunked), 1)
        invented = 300
        for i in range(invented):
            self.fromBob(["hello %d" % i], sender="n%d!~u@h" % i, target="alice")
            self.fromBob(chunked, sender="m%d!~u@h" % i, target="alice")
            self.fromBob(["hi"], sender="r%d!~u@h" % i, target="#room%d" % i)
            # Issue 22: in clear to a peer with no session only when the user insists.
            self.session.sendMessage("n%d" % i, "plain reply", force=True)
        self.session.expire()
        # One record per codec target the user chose, and none for what the relay invented.
        self.assertEqual(set(self.session.conversations()), {pair})
        self.assertEqual(set(self.session.keyring._targets), {pair})
        self.assertEqual(set(self.session.keyring._keyedNames), {"bob"})
        verdicts = self.verdicts()
        self.assertEqual(len(verdicts), 3 * invented)
        self.assertEqual(
            sorted({(v.direct, v.reason if isinstance(v, ev.RejectedMessage) else v.protection) for v in verdicts}),
            [(False, "none"), (True, "no-key"), (True, "none")],
        )
        self.assertEqual({e.layer for e in self.ofType(ev.Sent)}, {"plain"})
        self.events.clear()
        self.fromBob(bobSide.encode("bob", "psst", 400), target="alice")
        [message] = self.verdicts()
        self.assertEqual((message.target, message.body, message.protection), ("bob", "psst", "authenticated"))

    def test_sendEncodesWithRoomLayer(self):
        self.session.setKeys("#lab", self.keys("#lab"), "fernet")
        sent = self.session.sendMessage("#lab", "hello")
        [line] = [m for m in self.lines() if m.command == "PRIVMSG"]
        self.assertTrue(line.params[1].startswith("+sc2 fernet "))
        self.assertEqual((sent.layer, sent.lines), ("fernet", 1))
        reader = Conversation("#lab", "fernet", self.keys("#lab"), clock=self.clock)
        [accepted] = reader.receive("alice", line.params[1])
        self.assertEqual(accepted.body, "hello")

    def test_sendRefusals(self):
        self.assertRaises(CommandError, self.session.sendMessage, "#elsewhere", "hi")
        self.assertRaises(CommandError, self.session.sendMessage, "#lab", "   ")
        self.assertRaises(CommandError, self.session.sendMessage, "#lab", "a\x00b")
        self.assertRaises(CommandError, self.session.sendMessage, "#lab", "a\rb")
        self.assertRaises(CommandError, self.session.sendMessage, "a b", "hi")
        # On a keyed layer too, where the codec itself would carry them.
        self.session.setKeys("#lab", self.keys("#lab"), "fernet")
        self.sent.clear()
        self.assertRaises(CommandError, self.session.sendMessage, "#lab", "a\x00b")
        self.assertRaises(CommandError, self.session.sendMessage, "#lab", "a\rb")
        self.assertEqual(self.sent, [])

    def test_plainKeepsUnicodeLineSeparatorsInOneLine(self):
        """Only CR and LF end an IRC line: U+2028, NEL, VT... are text, one PRIVMSG."""
        body = "one\u2028two\u2029three\x85four\x0bfive\x0csix\x1cseven"
        self.assertEqual(self.session.sendMessage("#lab", body).lines, 1)
        [line] = [m for m in self.lines() if m.command == "PRIVMSG"]
        self.assertEqual(line.params, ("#lab", body))
        self.fromBob([body])
        [message] = self.verdicts()
        self.assertEqual(message.body, body)

    def test_codecRefusalIsACommandError(self):
        """A message too long for receivers to reassemble is refused like any command, not a crash."""
        self.session.setKeys("#lab", self.keys("#lab"), "fernet")
        self.sent.clear()
        error = self.assertRaises(CommandError, self.session.sendMessage, "#lab", "x" * 4_000_000)
        self.assertIn("too long", str(error))
        self.assertEqual(self.sent, [])

    def test_layerChoices(self):
        self.assertRaises(CommandError, self.session.setLayer, "#lab", "fernet")
        self.assertRaises(CommandError, self.session.setLayer, "#lab", "rot13")
        keyed = self.session.setKeys("#lab", self.keys("#lab"))
        self.assertEqual(keyed.layer, "fernet", "the layer asked for before the key was set")
        self.assertRaises(NeedsForce, self.session.setLayer, "#lab", "aes-ctr")
        self.assertEqual(self.session.setLayer("#lab", "aes-ctr", force=True), ev.LayerSet("#lab", "aes-ctr"))
        self.assertEqual(self.session.fingerprint("#lab"), self.keys("#lab").fingerprint("aes-ctr"))
        self.assertRaises(CommandError, self.session.setKeys, "#lab", self.keys("#other"))

    def test_keysSurviveReconnect(self):
        self.session.setKeys("#lab", self.keys("#lab"), "fernet-ttl")
        texts = self.bob.encode("bob", "before", 400)
        self.fromBob(texts)
        self.session.connectionLost("gone", True)
        self.register()
        self.feed(":%s JOIN #lab" % (PREFIX,))
        self.fromBob(texts)
        self.assertEqual([getattr(v, "reason", "ok") for v in self.verdicts()], ["ok", "replayed"])

    @given(st.text(min_size=1, max_size=300).filter(lambda t: t.strip() and "\x00" not in t and "\r" not in t))
    def test_anyTextRoundTrips(self, text):
        """Whatever the user types reaches a reader intact (plain layer splits lines)."""
        self.sent.clear()
        self.session.setKeys("#lab", self.keys("#lab"), "fernet")
        self.session.sendMessage("#lab", text)
        reader = Conversation("#lab", "fernet", self.keys("#lab"), clock=self.clock)
        bodies = []
        for message in self.lines():
            for result in reader.receive("alice", message.params[1]):
                bodies.append(result.body)
        self.assertEqual(bodies, [text])


class AdapterTests(SynchronousTestCase):
    """IRCClientProtocol over StringTransport."""

    def setUp(self):
        self.events = []
        self.session = ClientSession("alice", self.events.append)
        self.factory = IRCClientFactory(self.session, Clock())
        self.protocol = self.factory.buildProtocol(None)
        self.transport = StringTransport()
        self.protocol.makeConnection(self.transport)

    def test_registersOnConnect(self):
        self.assertEqual(self.transport.value(), b"NICK alice\r\nUSER securechat 0 * :securechat client\r\n")

    def test_linesSplitAcrossChunks(self):
        self.transport.clear()
        self.protocol.dataReceived(b":s 001 alice :Welcome alice!~a@h\r\nPI")
        self.protocol.dataReceived(b"NG :x\nPING :y\r\n")
        self.assertEqual(self.transport.value(), b"PONG x\r\nPONG y\r\n")
        self.assertEqual(len([e for e in self.events if isinstance(e, ev.Connected)]), 1)

    def test_overlongLineCostsOnlyItself(self):
        self.transport.clear()
        self.protocol.dataReceived(b"PING :" + b"x" * RECEIVE_MAX_LINE + b"\r\nPING :after\r\n")
        self.assertEqual(self.transport.value(), b"PONG after\r\n")

    def test_injectedLineWithAnotherPrefix(self):
        """A line the relay forges under another prefix goes through the codec like any other."""
        self.protocol.dataReceived(b":s 001 alice :Welcome alice!~a@h\r\n:alice!~a@h JOIN #lab\r\n")
        keys = derive_room_keys(b"pw", "#lab", TEST_KDF)
        self.session.setKeys("#lab", keys, "fernet")
        [text] = Conversation("#lab", "fernet", keys).encode("bob", "genuine bob", 400)
        self.protocol.dataReceived(formatMessage("PRIVMSG", ("#lab", text), "eve!~e@h"))
        [rejected] = [e for e in self.events if isinstance(e, ev.RejectedMessage)]
        self.assertEqual((rejected.sender, rejected.reason), ("eve", "re-attributed"))

    def test_connectionLost(self):
        self.protocol.connectionLost(Failure(ConnectionDone("bye")))
        [lost] = [e for e in self.events if isinstance(e, ev.Disconnected)]
        self.assertTrue(lost.reconnecting)
        self.protocol.dataReceived(b"PING :late\r\n")
        self.assertNotIn(b"late", self.transport.value())


class KeepaliveTests(SynchronousTestCase):
    """A silent server is pinged, then dropped so that the service reconnects."""

    def setUp(self):
        self.clock = Clock()
        self.events = []
        self.session = ClientSession("alice", self.events.append)
        self.protocol = IRCClientFactory(self.session, self.clock).buildProtocol(None)
        self.transport = StringTransport()
        self.protocol.makeConnection(self.transport)
        self.transport.clear()

    def test_busyConnectionIsNotPinged(self):
        for _ in range(10):
            self.clock.advance(IDLE_PING / 2)
            self.protocol.dataReceived(b":s NOTICE * :still here\r\n")
        self.assertEqual(self.transport.value(), b"")

    def test_silentServerIsPingedThenDropped(self):
        self.clock.advance(IDLE_PING)
        self.assertEqual(self.transport.value(), b"PING :securechat-keepalive\r\n")
        self.clock.advance(PING_TIMEOUT - 1)
        self.assertFalse(self.transport.disconnecting)
        self.clock.advance(1)
        self.assertTrue(self.transport.disconnecting)

    def test_answerKeepsTheConnection(self):
        self.clock.advance(IDLE_PING)
        self.clock.advance(PING_TIMEOUT / 2)
        self.protocol.dataReceived(b":s PONG s :securechat-keepalive\r\n")
        self.clock.advance(PING_TIMEOUT)
        self.assertFalse(self.transport.disconnecting)

    def test_timerCancelledOnLoss(self):
        self.protocol.connectionLost(Failure(ConnectionDone("bye")))
        self.assertEqual(self.clock.getDelayedCalls(), [])
