"""
Tests for IRC operators and user modes (issue 25, point 4): the operators
file and its scrypt hashes, OPER (381, 464, 491), KILL, WALLOPS, LIST of
+s rooms, +i in WHO and NAMES, and replies cut to fit the line limit.
"""

from __future__ import annotations

import io
from typing import List

from hypothesis import given
from hypothesis import strategies as st
from twisted.python import usage
from twisted.python.filepath import FilePath
from twisted.trial.unittest import SynchronousTestCase

from securechat.relay import opers as opersModule
from securechat.relay.fit import cutUtf8, formatFitted
from securechat.relay.operators import MAX_OPER_FAILURES
from securechat.relay.opers import (
    OperEntry,
    OperFileError,
    hashPassword,
    parseHash,
    parseOpers,
)
from securechat.relay.options import RelayOptions, makeFactory
from securechat.relay.state import RelayConfig, RelayState
from securechat.wire import Message, formatMessage, parseLine

from .test_relay_protocol import ProtocolTestCase
from .test_relay_state import FakeClient, StateTestCase

#: Cheap hashes: the tests check the logic, not the cost.
CHEAP = 4
ADMIN_HASH = hashPassword(b"correct horse", logN=CHEAP)
OPERS = (
    OperEntry("admin", "*@10.0.0.1", ADMIN_HASH),
    OperEntry("remote", "*@192.0.2.*", hashPassword(b"other", logN=CHEAP)),
)


class HashTests(SynchronousTestCase):
    def test_roundTrip(self) -> None:
        """A hash verifies its password only, and survives being written and read."""
        hashed = hashPassword(b"s3cret", logN=CHEAP)
        self.assertTrue(hashed.verify(b"s3cret"))
        self.assertFalse(hashed.verify(b"s3cret "))
        text = hashed.format()
        self.assertTrue(text.startswith("$scrypt$ln=4,r=8,p=1$"))
        self.assertNotIn("s3cret", text)
        again = parseHash(text)
        self.assertEqual(again, hashed)
        self.assertTrue(again.verify(b"s3cret"))

    def test_salted(self) -> None:
        """The same password hashes differently each time (a fresh salt)."""
        first, second = (hashPassword(b"same", logN=CHEAP) for _ in range(2))
        self.assertNotEqual(first.salt, second.salt)
        self.assertNotEqual(first.digest, second.digest)

    def test_badHashes(self) -> None:
        good = hashPassword(b"x", logN=CHEAP).format()
        salt, digest = good.split("$")[3:]
        for text in (
            "plaintext",
            "$argon2id$v=19$m=1,t=1,p=1$%s$%s" % (salt, digest),
            "$scrypt$ln=4,r=8$%s$%s" % (salt, digest),
            "$scrypt$ln=x,r=8,p=1$%s$%s" % (salt, digest),
            "$scrypt$ln=4,r=8,p=1$%s$!!" % (salt,),
            "$scrypt$ln=4,r=8,p=1$YQ$%s" % (digest,),  # a 1-byte salt
            # 128 * r * 2**ln over 64 MiB: a typo must not exhaust the relay.
            "$scrypt$ln=20,r=8,p=1$%s$%s" % (salt, digest),
            "$scrypt$ln=4,r=8,p=9$%s$%s" % (salt, digest),
        ):
            self.assertRaises(ValueError, parseHash, text)

    def test_parseOpers(self) -> None:
        hashed = hashPassword(b"pw", logN=CHEAP).format()
        entries = parseOpers(
            "# name mask hash\n\nalice *@127.0.0.1 %s\n  bob ~bob@10.* %s  \n" % (hashed, hashed)
        )
        self.assertEqual([(e.name, e.mask) for e in entries], [("alice", "*@127.0.0.1"), ("bob", "~bob@10.*")])
        self.assertTrue(entries[1].password.verify(b"pw"))

    def test_parseOpersNamesTheBadLine(self) -> None:
        hashed = hashPassword(b"pw", logN=CHEAP).format()
        for text, message in (
            ("ok *@h %s\nalice *@h\n" % (hashed,), "line 2: expected `name mask hash`"),
            ("alice 127.0.0.1 %s\n" % (hashed,), "line 1: the mask must be user@host"),
            ("# c\nalice *@h secret\n", "line 2: not a $scrypt$"),
        ):
            with self.assertRaises(OperFileError) as caught:
                parseOpers(text)
            self.assertIn(message, str(caught.exception))
        # The password in a bad hash field is never repeated in the error.
        with self.assertRaises(OperFileError) as caught:
            parseOpers("alice *@h hunter2\n")
        self.assertNotIn("hunter2", str(caught.exception))


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


class HashCommandTests(SynchronousTestCase):
    """C{python -m securechat.relay.opers NAME MASK}."""

    def test_fromPipe(self) -> None:
        out, err = io.StringIO(), io.StringIO()
        code = opersModule.main(["alice", "*@10.0.0.*"], io.StringIO("pass word\n"), out, err)
        self.assertEqual(code, 0)
        [entry] = parseOpers(out.getvalue())
        self.assertEqual((entry.name, entry.mask), ("alice", "*@10.0.0.*"))
        self.assertTrue(entry.password.verify(b"pass word"))
        self.assertEqual(entry.password.logN, opersModule.DEFAULT_LOG_N)
        self.assertNotIn("pass word", out.getvalue())

    def test_promptTwice(self) -> None:
        answers: List[str] = ["one", "two"]
        out, err = io.StringIO(), io.StringIO()
        code = opersModule.main([], _Tty(), out, err, lambda prompt: answers.pop(0))
        self.assertEqual((code, out.getvalue()), (1, ""))
        self.assertIn("differ", err.getvalue())
        answers[:] = ["same", "same"]
        self.assertEqual(opersModule.main([], _Tty(), out, err, lambda prompt: answers.pop(0)), 0)
        [entry] = parseOpers(out.getvalue())
        self.assertEqual((entry.name, entry.mask), ("admin", "*@127.0.0.1"))

    def test_emptyRefused(self) -> None:
        out, err = io.StringIO(), io.StringIO()
        self.assertEqual(opersModule.main([], io.StringIO("\n"), out, err), 1)
        self.assertEqual(out.getvalue(), "")


class OperCase(StateTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.state = RelayState(RelayConfig(opers=OPERS), now=lambda: self.now)

    def oper(self, client: FakeClient) -> None:
        self.send(client, "OPER admin :correct horse")
        self.assertEqual(client.numerics(), ["381", "MODE"])


class OperTests(OperCase):
    def test_oper(self) -> None:
        """381, then +o as a MODE line; MODE ownnick shows it, WHOIS and WHO say so."""
        alice = self.connect("alice")
        self.send(alice, "OPER admin :correct horse")
        lines = alice.lines()
        self.assertEqual(lines[0].command, "381")
        self.assertEqual(lines[1], Message("MODE", ("alice", "+o"), "alice!~alice@10.0.0.1"))
        self.assertTrue(alice.isOper)
        self.send(alice, "MODE alice")
        self.assertEqual(alice.lines()[0].params, ("alice", "+o"))
        bob = self.connect("bob")
        self.send(bob, "WHOIS alice")
        whois = bob.lines()
        self.assertIn(("313", ("bob", "alice", "is an IRC operator")), [(m.command, m.params) for m in whois])
        self.send(bob, "WHO alice")
        self.assertEqual(bob.lines()[0].params[6], "H*")
        self.send(bob, "WHOIS bob")
        self.assertNotIn("313", bob.numerics())

    def test_wrongPassword464(self) -> None:
        alice = self.connect("alice")
        self.send(alice, "OPER admin :wrong")
        self.assertEqual(alice.numerics(), ["464"])
        self.assertFalse(alice.isOper)

    def test_unknownName464(self) -> None:
        """An unknown name is a 464 like a wrong password: names are not revealed."""
        alice = self.connect("alice")
        # remote's password, but remote may not come from this host.
        self.send(alice, "OPER remote other")
        self.send(alice, "OPER nobody :correct horse")
        self.assertEqual(alice.numerics(), ["464", "464"])
        self.assertFalse(alice.isOper)

    def test_noOperHost491(self) -> None:
        """No entry for the client's host: 491, whatever the name and password."""
        outsider = self.connect("eve", host="198.51.100.7")
        self.send(outsider, "OPER admin :correct horse")
        self.assertEqual(outsider.numerics(), ["491"])
        self.assertFalse(outsider.isOper)
        self.state = RelayState(RelayConfig(), now=lambda: self.now)
        alice = self.connect("alice")
        self.send(alice, "OPER admin :correct horse")
        self.assertEqual(alice.numerics(), ["491"])

    def test_needsParameters(self) -> None:
        alice = self.connect("alice")
        self.send(alice, "OPER admin")
        self.assertEqual(alice.numerics(), ["461"])

    def test_notBeforeRegistration(self) -> None:
        client = FakeClient()
        self.send(client, "OPER admin :correct horse")
        self.assertEqual(client.numerics(), ["451"])

    def test_attemptsBounded(self) -> None:
        """Past the failures allowed, even the right password is refused, unhashed."""
        alice = self.connect("alice")
        for _ in range(MAX_OPER_FAILURES):
            self.send(alice, "OPER admin :guess")
        self.assertEqual(alice.numerics(), ["464"] * MAX_OPER_FAILURES)
        calls: List[bytes] = []
        original = type(ADMIN_HASH).verify
        self.patch(type(ADMIN_HASH), "verify", lambda self, pw: calls.append(pw) or original(self, pw))
        self.send(alice, "OPER admin :correct horse")
        self.assertEqual(alice.numerics(), ["464"])
        self.assertEqual(calls, [])
        self.assertFalse(alice.isOper)
        # Another connection still can.
        bob = self.connect("bob")
        self.oper(bob)


class UserModeTests(OperCase):
    def test_invisibleAndWallops(self) -> None:
        """+i and +w set and unset, each change told once; 221 shows them."""
        alice = self.connect("alice")
        self.send(alice, "MODE alice +iw")
        self.assertEqual(alice.lines(), [Message("MODE", ("alice", "+iw"), "alice!~alice@10.0.0.1")])
        self.send(alice, "MODE alice +i")
        self.assertEqual(alice.sent, [])
        self.send(alice, "MODE ALICE")
        self.assertEqual(alice.lines()[0], Message("221", ("alice", "+iw"), "securechat.local"))
        self.send(alice, "MODE alice -i+i-w")
        # Each change is applied, and told, in the order given.
        self.assertEqual(alice.lines()[0].params, ("alice", "-i+i-w"))
        self.send(alice, "MODE alice")
        self.assertEqual(alice.lines()[0].params[1], "+i")

    def test_operOnlyFromOper(self) -> None:
        """+o by MODE is ignored; -o drops it."""
        alice = self.connect("alice")
        self.send(alice, "MODE alice +o")
        self.assertEqual(alice.sent, [])
        self.assertFalse(alice.isOper)
        self.oper(alice)
        self.send(alice, "MODE alice -o")
        self.assertEqual(alice.lines()[0].params, ("alice", "-o"))
        self.assertFalse(alice.isOper)
        self.send(alice, "KILL bob :x")
        self.assertEqual(alice.numerics(), ["481"])

    def test_unknownFlag501(self) -> None:
        """An unknown flag gets 501; the known ones in the line still apply."""
        alice = self.connect("alice")
        self.send(alice, "MODE alice +xi")
        lines = alice.lines()
        self.assertEqual([m.command for m in lines], ["501", "MODE"])
        self.assertEqual(lines[1].params, ("alice", "+i"))

    def test_myInfoListsUserModes(self) -> None:
        client = FakeClient()
        self.send(client, "NICK a")
        self.send(client, "USER a 0 * :a")
        [myinfo] = [m for m in client.lines() if m.command == "004"]
        self.assertEqual(myinfo.params[3], "iow")


class KillTests(OperCase):
    def test_kill(self) -> None:
        """The victim gets KILL and ERROR and is closed; its peers see the conventional QUIT."""
        admin, bob, carol = (self.connect(n) for n in ("admin", "bob", "carol"))
        for client in (bob, carol):
            self.send(client, "JOIN #lab")
        self.oper(admin)
        carol.lines()
        self.send(admin, "KILL BOB :spamming the room")
        killed = bob.lines()
        self.assertEqual(killed[-2], Message("KILL", ("bob", "spamming the room"), "admin!~admin@10.0.0.1"))
        self.assertEqual(
            killed[-1],
            Message("ERROR", ("Closing Link: 10.0.0.1 (Killed (admin (spamming the room)))",)),
        )
        self.assertTrue(bob.closed)
        self.assertEqual(
            carol.lines(), [Message("QUIT", ("Killed (admin (spamming the room))",), "bob!~bob@10.0.0.1")]
        )
        # The nick is free at once, and the adapter's later remove does nothing more.
        self.assertNotIn("bob", self.state.clients)
        self.state.remove(bob, "Connection closed")
        self.assertEqual(carol.sent, [])
        self.connect("bob")

    def test_killRefusals(self) -> None:
        admin, bob = self.connect("admin"), self.connect("bob")
        self.send(bob, "KILL admin :no")
        self.send(bob, "KILL admin")
        self.assertEqual(bob.numerics(), ["481", "461"])
        self.oper(admin)
        self.send(admin, "KILL nobody :gone")
        self.assertEqual(admin.numerics(), ["401"])
        self.assertFalse(admin.closed)


class WallopsTests(OperCase):
    def test_wallops(self) -> None:
        """Operators and +w users get WALLOPS; others do not; only operators send it."""
        admin, watcher, other = (self.connect(n) for n in ("admin", "watcher", "other"))
        self.send(other, "WALLOPS :hello")
        self.assertEqual(other.numerics(), ["481"])
        self.oper(admin)
        self.send(watcher, "MODE watcher +w")
        watcher.lines()
        self.send(admin, "WALLOPS :maintenance at noon")
        expected = [Message("WALLOPS", ("maintenance at noon",), "admin!~admin@10.0.0.1")]
        self.assertEqual(admin.lines(), expected)
        self.assertEqual(watcher.lines(), expected)
        self.assertEqual(other.sent, [])
        self.send(admin, "WALLOPS")
        self.assertEqual(admin.numerics(), ["461"])


class VisibilityTests(OperCase):
    def test_secretRoomsListedToOperators(self) -> None:
        owner, admin, bob = (self.connect(n) for n in ("owner", "admin", "bob"))
        self.send(owner, "JOIN #hidden")
        self.send(owner, "MODE #hidden +s")
        self.send(bob, "LIST")
        self.assertEqual(bob.numerics(), ["321", "323"])
        self.oper(admin)
        self.send(admin, "LIST")
        lines = admin.lines()
        self.assertEqual([m.command for m in lines], ["321", "322", "323"])
        self.assertEqual(lines[1].params[1], "#hidden")

    def test_invisibleHiddenFromWhoOfStrangers(self) -> None:
        """+i: out of WHO (nick, mask, room) and NAMES of whoever shares no room with it."""
        carol, bob = self.connect("carol"), self.connect("bob")
        self.send(carol, "JOIN #carols")
        self.send(carol, "MODE carol +i")
        carol.lines()

        def whoNicks(client: FakeClient, *args: str) -> List[str]:
            self.send(client, "WHO " + " ".join(args))
            return [m.params[5] for m in client.lines() if m.command == "352"]

        self.assertEqual(whoNicks(bob, "carol"), [])
        self.assertEqual(whoNicks(bob, "*"), ["bob"])
        self.assertEqual(whoNicks(bob, "#carols"), [])
        self.send(bob, "NAMES #carols")
        self.assertEqual([m.command for m in bob.lines()], ["366"])
        # Herself, she sees.
        self.assertEqual(whoNicks(carol, "carol"), ["carol"])
        # Once they share a room, bob sees her everywhere.
        self.send(bob, "JOIN #carols")
        bob.lines()
        self.assertEqual(whoNicks(bob, "carol"), ["carol"])
        self.assertEqual(sorted(whoNicks(bob, "*")), ["bob", "carol"])
        self.assertEqual(sorted(whoNicks(bob, "#carols")), ["bob", "carol"])
        # Without +i, a stranger sees her again.
        dave = self.connect("dave")
        self.send(carol, "MODE carol -i")
        self.assertEqual(whoNicks(dave, "carol"), ["carol"])
        self.send(dave, "NAMES #carols")
        self.assertEqual(dave.lines()[0].params[-1], "@carol bob")

    def test_operatorsSeeInvisible(self) -> None:
        carol, admin = self.connect("carol"), self.connect("admin")
        self.send(carol, "MODE carol +i")
        self.oper(admin)
        self.send(admin, "WHO carol")
        self.assertEqual(admin.numerics(), ["352", "315"])

    def test_whoOperators(self) -> None:
        """WHO mask o lists the IRC operators among the matches."""
        admin, bob = self.connect("admin"), self.connect("bob")
        self.send(bob, "WHO * o")
        self.assertEqual(bob.numerics(), ["315"])
        self.oper(admin)
        self.send(bob, "WHO * o")
        lines = bob.lines()
        self.assertEqual([(m.command, m.params[5]) for m in lines[:-1]], [("352", "admin")])


class FitTests(StateTestCase):
    """Replies carrying a client's text are cut to the line limit, at a character boundary."""

    def assertFits(self, data: bytes) -> List[Message]:
        lines = data.split(b"\r\n")[:-1]
        for line in lines:
            self.assertLessEqual(len(line) + 2, 512, line)
        return [parseLine(line) for line in lines]

    def longClient(self, nick: str, realname: str) -> FakeClient:
        client = FakeClient()
        # As long as the 512-byte USER line allows.
        line = "USER %s 0 * :%s" % (nick, realname)
        line = cutUtf8(line, 510)
        self.send(client, "NICK " + nick)
        self.send(client, line)
        self.assertTrue(client.registered)
        client.lines()
        return client

    def test_whoAndWhoisWithLongRealname(self) -> None:
        realname = "é" * 300  # 600 bytes, cut to what fits USER
        owner = self.longClient("longname_owner_with_long_nick", realname)
        self.send(owner, "JOIN #a_room_with_a_rather_long_name_for_testing_it")
        asker = self.connect("asker_with_a_long_nick_too")
        for query in ("WHO #a_room_with_a_rather_long_name_for_testing_it",
                      "WHO longname_owner_with_long_nick", "WHOIS longname_owner_with_long_nick"):
            del asker.sent[:]
            self.send(asker, query)
            data = b"".join(asker.sent)
            lines = self.assertFits(data)
            for message in lines:
                if message.command in ("352", "311"):
                    shown = message.params[-1]
                    if message.command == "352":
                        shown = shown[2:]  # "0 " hop count
                    self.assertTrue(owner.realname.startswith(shown))
                    self.assertGreater(len(shown), 150)
                    self.assertLess(len(shown), len(owner.realname))

    def test_awayAndTopic(self) -> None:
        """301 (AWAYLEN counts characters: 200 of 4 bytes), 332 and 322 fit too."""
        alice, bob = self.connect("alice"), self.connect("bob")
        self.send(alice, "AWAY :" + "\U0001f600" * 120)
        self.send(alice, "JOIN #lab")
        self.send(alice, "TOPIC #lab :" + "ü" * 240)
        alice.lines()
        self.send(bob, "PRIVMSG alice :hi")
        self.send(bob, "WHOIS alice")
        self.send(bob, "TOPIC #lab")
        self.send(bob, "LIST")
        lines = self.assertFits(b"".join(bob.sent))
        cut = {m.command: m.params[-1] for m in lines if m.command in ("301", "332", "322")}
        self.assertEqual(set(cut), {"301", "332", "322"})
        self.assertTrue(set(cut["301"]) == {"\U0001f600"})
        self.assertTrue(set(cut["332"]) == {"ü"})

    def test_quitReasonFits(self) -> None:
        alice, bob = self.connect("a" * 30), self.connect("bob")
        for client in (alice, bob):
            self.send(client, "JOIN #lab")
        bob.lines()
        self.send(alice, cutUtf8("QUIT :" + "ж" * 300, 510))
        self.state.remove(alice, "Connection closed")
        [quit] = self.assertFits(b"".join(bob.sent))
        self.assertEqual(quit.command, "QUIT")
        self.assertTrue(quit.params[0].startswith("Quit: жж"))

    def test_cutUtf8(self) -> None:
        self.assertEqual(cutUtf8("abc", 10), "abc")
        self.assertEqual(cutUtf8("aéb", 2), "a")
        self.assertEqual(cutUtf8("aéb", 3), "aé")
        self.assertEqual(cutUtf8("\U0001f600", 3), "")
        self.assertEqual(cutUtf8("x", -1), "")

    def test_oneWordCutToEmpty(self) -> None:
        """A one-word last parameter cut to nothing needs a colon: that byte is taken too."""
        line = formatFitted("PRIVMSG", ("#room", "w" * 10), "server", 24)
        self.assertEqual(line, b":server PRIVMSG #room :\r\n")
        line = formatFitted("PRIVMSG", ("#room", "w" * 10), "server", 27)
        self.assertLessEqual(len(line), 27)
        self.assertEqual(parseLine(line[:-2]).params, ("#room", "www"))

    @given(st.text(), st.integers(min_value=40, max_value=600))
    def test_fittedAlwaysFitsAndParses(self, text: str, limit: int) -> None:
        text = text.replace("\r", "").replace("\n", "").replace("\x00", "")
        line = formatFitted("311", ("nick", "who", text), "server.example", limit)
        self.assertLessEqual(len(line), limit)
        self.assertTrue(line.endswith(b"\r\n"))
        message = parseLine(line[:-2])
        self.assertTrue(text.startswith(message.params[-1]))
        if len(formatMessage("311", ("nick", "who", text), "server.example")) <= limit:
            self.assertEqual(message.params[-1], text)


class OptionTests(SynchronousTestCase):
    def test_opersFile(self) -> None:
        path = FilePath(self.mktemp())
        path.setContent(b"admin *@127.0.0.1 " + ADMIN_HASH.format().encode() + b"\n")
        options = RelayOptions()
        options.parseOptions(["--opers", path.path])
        [entry] = makeFactory(options).state.config.opers
        self.assertEqual((entry.name, entry.mask), ("admin", "*@127.0.0.1"))
        self.assertEqual(makeFactory(self.parsed([])).state.config.opers, ())

    def parsed(self, argv: List[str]) -> RelayOptions:
        options = RelayOptions()
        options.parseOptions(argv)
        return options

    def test_badOpersFileStopsTheStart(self) -> None:
        path = FilePath(self.mktemp())
        path.setContent(b"admin *@127.0.0.1 not-a-hash\n")
        with self.assertRaises(usage.UsageError) as caught:
            self.parsed(["--opers", path.path])
        self.assertIn("line 1", str(caught.exception))
        self.assertRaises(usage.UsageError, self.parsed, ["--opers", path.path + ".missing"])


class AdapterTests(ProtocolTestCase):
    config = RelayConfig(opers=(OperEntry("admin", "*@*", ADMIN_HASH),))

    def test_killClosesTheConnection(self) -> None:
        """Through the adapter: the victim's connection closes, its peer sees one QUIT."""
        admin, bob, carol = (self.registered(n) for n in ("admin", "bob", "carol"))
        for connection in (bob, carol):
            connection.send(b"JOIN #lab\r\n")
        self.clock.advance(0)
        carol.lines()
        admin.send(b"OPER admin :correct horse\r\nKILL bob :bye\r\n")
        self.clock.advance(0)
        self.assertTrue(bob.transport.disconnecting)
        self.assertTrue(bob.transport.value().endswith(b"ERROR :Closing Link: 127.0.0.1 (Killed (admin (bye)))\r\n"))
        bob.lose()
        self.clock.advance(0)
        quits = [m for m in carol.lines() if m.command == "QUIT"]
        self.assertEqual([m.params[0] for m in quits], ["Killed (admin (bye))"])
