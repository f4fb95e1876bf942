"""
Tests for what the relay speaks beyond the minimal subset (issue 15):
channel operators and modes, KICK, INVITE, WHOIS, AWAY, ISON, USERHOST,
WHO masks, LIST, CAP 302 and the capabilities, message tags.  State level,
with the fake clients of L{tests.test_relay_state}; every refusal has its
numeric checked.
"""

from __future__ import annotations

from typing import List

from twisted.internet.defer import inlineCallbacks

from securechat.client.core import events as ev
from securechat.relay.factory import ConnectionSettings
from securechat.relay.modes import ModeChange, formatModeChanges, parseModeChanges
from securechat.relay.queries import WHO_LIMIT, globMatcher
from securechat.relay.state import RelayConfig, RelayState
from securechat.wire import MAX_CLIENT_TAGS, Message, parseLine, rfc1459Casefold

from .test_client_support import WAIT, LoopbackCase

try:
    from cryptography.hazmat.primitives.kdf.argon2 import Argon2id  # noqa: F401
except ImportError:
    HAVE_ARGON2ID = False
else:
    HAVE_ARGON2ID = True
from .test_relay_protocol import ProtocolTestCase
from .test_relay_state import FakeClient, StateTestCase

ALICE = "alice!~alice@10.0.0.1"
BOB = "bob!~bob@10.0.0.1"


class RoomCase(StateTestCase):
    """alice made #lab (so she is its operator), bob joined it, carol is elsewhere."""

    def setUp(self) -> None:
        super().setUp()
        self.alice, self.bob, self.carol = (self.connect(n) for n in ("alice", "bob", "carol"))
        self.send(self.alice, "JOIN #lab")
        self.send(self.bob, "JOIN #lab")
        self.clear()

    def clear(self) -> None:
        for client in (self.alice, self.bob, self.carol):
            del client.sent[:]

    def modes(self) -> List[str]:
        """The room's modes as 324 gives them to a member."""
        del self.alice.sent[:]
        self.send(self.alice, "MODE #lab")
        reply = self.alice.lines()[0]
        self.assertEqual(reply.command, "324")
        return list(reply.params[2:])


class OperatorTests(RoomCase):
    def test_firstMemberIsOperator(self) -> None:
        """The creator of a room gets @ in NAMES and WHO; later members do not."""
        self.send(self.bob, "NAMES #lab")
        names = self.bob.lines()[0]
        self.assertEqual(names.params[1:], ("=", "#lab", "@alice bob"))
        self.send(self.bob, "WHO #lab")
        flags = {m.params[5]: m.params[6] for m in self.bob.lines() if m.command == "352"}
        self.assertEqual(flags, {"alice": "H@", "bob": "H"})

    def test_opAndDeop(self) -> None:
        """+o is seen by the room and gives the rights; -o takes them back."""
        self.send(self.alice, "MODE #lab +o bob")
        expected = [Message("MODE", ("#lab", "+o", "bob"), ALICE)]
        self.assertEqual(self.alice.lines(), expected)
        self.assertEqual(self.bob.lines(), expected)
        self.send(self.bob, "MODE #lab +m")
        self.assertEqual(self.alice.lines(), [Message("MODE", ("#lab", "+m"), BOB)])
        self.send(self.bob, "MODE #lab -o ALICE")
        self.assertEqual(self.alice.lines(), [Message("MODE", ("#lab", "-o", "alice"), BOB)])
        self.send(self.alice, "MODE #lab -m")
        self.assertEqual(self.alice.numerics(), ["482"])

    def test_nonOperatorRefused(self) -> None:
        """482 for every change a non-operator tries; the room is unchanged and not told."""
        self.bob.lines()
        for line in ("MODE #lab +o bob", "MODE #lab +i", "MODE #lab +k key",
                     "MODE #lab -t", "KICK #lab alice", "TOPIC #lab :mine"):
            self.send(self.bob, line)
        self.assertEqual(self.bob.numerics(), ["482"] * 6)
        self.assertEqual(self.alice.sent, [])
        self.assertEqual(self.modes(), ["+nt"])

    def test_statusFollowsNickAndLeaves(self) -> None:
        """A renamed operator stays one; one who parts and rejoins is not."""
        self.send(self.alice, "NICK alicia")
        self.send(self.alice, "MODE #lab +v bob")
        self.assertEqual(self.bob.lines()[-1].params, ("#lab", "+v", "bob"))
        self.send(self.alice, "PART #lab")
        self.send(self.alice, "JOIN #lab")
        self.alice.lines()
        self.send(self.alice, "MODE #lab +m")
        self.assertEqual(self.alice.numerics(), ["482"])

    def test_statusErrors(self) -> None:
        """401 for a nick not here, 441 for one not in the room; the rest still applies."""
        self.send(self.alice, "MODE #lab +ooo nobody carol bob")
        lines = self.alice.lines()
        self.assertEqual([m.command for m in lines], ["401", "441", "MODE"])
        self.assertEqual(lines[-1].params, ("#lab", "+o", "bob"))

    def test_multiPrefix(self) -> None:
        """With multi-prefix, NAMES and WHO show every status (@+); without, the highest."""
        self.send(self.alice, "MODE #lab +v alice")
        self.send(self.bob, "NAMES #lab")
        self.assertEqual(self.bob.lines()[-2].params[-1], "@alice bob")
        self.send(self.bob, "CAP REQ multi-prefix")
        self.bob.lines()
        self.send(self.bob, "NAMES #lab")
        self.assertEqual(self.bob.lines()[0].params[-1], "@+alice bob")
        self.send(self.bob, "WHO #lab")
        self.assertEqual(self.bob.lines()[0].params[6], "H@+")

    def test_kick(self) -> None:
        """The room sees the KICK with its reason; the kicked member is out."""
        self.send(self.alice, "KICK #lab bob :behave")
        expected = [Message("KICK", ("#lab", "bob", "behave"), ALICE)]
        self.assertEqual(self.alice.lines(), expected)
        self.assertEqual(self.bob.lines(), expected)
        self.assertNotIn("#lab", self.bob.rooms)
        self.assertNotIn("bob", self.state.rooms["#lab"].members)
        self.send(self.bob, "PRIVMSG #lab :back?")
        self.assertEqual(self.bob.numerics(), ["404"])

    def test_kickDefaultReasonAndErrors(self) -> None:
        self.send(self.alice, "KICK #lab bob")
        self.assertEqual(self.alice.lines()[0].params, ("#lab", "bob", "alice"))
        for line in ("KICK #lab", "KICK #nowhere bob", "KICK #lab carol", "KICK #lab a,b,c,d,e"):
            self.send(self.alice, line)
        self.assertEqual(self.alice.numerics(), ["461", "403", "441", "407"])
        self.send(self.carol, "KICK #lab alice")
        self.assertEqual(self.carol.numerics(), ["442"])

    def test_topicNeedsOperatorUnderT(self) -> None:
        """New rooms are +t: only operators set the topic; after -t anyone may."""
        self.send(self.bob, "TOPIC #lab :bob's")
        self.assertEqual(self.bob.numerics(), ["482"])
        self.send(self.alice, "TOPIC #lab :alice's")
        self.assertEqual(self.bob.lines()[0].params, ("#lab", "alice's"))
        self.send(self.alice, "MODE #lab -t")
        self.clear()
        self.send(self.bob, "TOPIC #lab :bob's")
        self.assertEqual(self.alice.lines(), [Message("TOPIC", ("#lab", "bob's"), BOB)])


class ModeTests(RoomCase):
    def test_queryAnswers324And329(self) -> None:
        """A new room is +nt; 329 gives its creation time."""
        self.send(self.carol, "MODE #lab")
        self.assertEqual(
            self.carol.lines(),
            [
                Message("324", ("carol", "#lab", "+nt"), "securechat.local"),
                Message("329", ("carol", "#lab", str(int(self.now))), "securechat.local"),
            ],
        )

    def test_changesBroadcastAndShown(self) -> None:
        """Several changes in one command: applied, told to the room in one line, in 324."""
        self.send(self.alice, "MODE #lab +kl-t sesame 5")
        expected = [Message("MODE", ("#lab", "+kl-t", "sesame", "5"), ALICE)]
        self.assertEqual(self.bob.lines(), expected)
        self.assertEqual(self.alice.lines(), expected)
        self.assertEqual(self.modes(), ["+nkl", "sesame", "5"])
        # Non-members see that there is a key, not the key.
        self.send(self.carol, "MODE #lab")
        self.assertEqual(self.carol.lines()[0].params[2:], ("+nkl", "*", "5"))
        self.send(self.alice, "MODE #lab -kl *")
        self.assertEqual(self.bob.lines()[0].params, ("#lab", "-kl", "*"))
        self.assertEqual(self.modes(), ["+n"])

    def test_noChangeNoBroadcast(self) -> None:
        """Setting what is already set tells no one."""
        self.send(self.alice, "MODE #lab +nt")
        self.send(self.alice, "MODE #lab -o bob")
        self.assertEqual(self.bob.sent, [])
        self.assertEqual(self.alice.sent, [])

    def test_unknownModes472(self) -> None:
        """Each unknown mode character gets one 472; known ones in the same line still apply."""
        self.send(self.alice, "MODE #lab +xyxm")
        lines = self.alice.lines()
        self.assertEqual([(m.command, m.params[1]) for m in lines[:2]], [("472", "x"), ("472", "y")])
        self.assertEqual(lines[2].params, ("#lab", "+m"))

    def test_nAlwaysSet(self) -> None:
        """-n is refused (472 with the reason): only members ever speak."""
        self.send(self.alice, "MODE #lab -n")
        [reply] = self.alice.lines()
        self.assertEqual((reply.command, reply.params[1]), ("472", "n"))
        self.assertEqual(self.modes(), ["+nt"])

    def test_banListEmpty(self) -> None:
        """Clients ask for the ban list on join: it is empty (368); setting a ban is 472."""
        self.send(self.bob, "MODE #lab b")
        self.assertEqual(self.bob.numerics(), ["368"])
        self.send(self.alice, "MODE #lab +b *!*@*")
        self.send(self.alice, "MODE #lab -b *!*@*")
        self.assertEqual(self.alice.numerics(), ["472", "472"])

    def test_invalidParameters696(self) -> None:
        self.send(self.alice, "MODE #lab +l many")
        self.send(self.alice, "MODE #lab +k :a,b")
        self.assertEqual(self.alice.numerics(), ["696", "696"])
        self.assertEqual(self.modes(), ["+nt"])

    def test_keyRefuses475(self) -> None:
        self.send(self.alice, "MODE #lab +k sesame")
        self.send(self.carol, "JOIN #lab")
        self.send(self.carol, "JOIN #lab wrong")
        self.assertEqual(self.carol.numerics(), ["475", "475"])
        self.send(self.carol, "JOIN #other,#lab x,sesame")
        self.assertIn("#lab", self.carol.rooms)
        self.assertIn("#other", self.carol.rooms)

    def test_limitRefuses471(self) -> None:
        self.send(self.alice, "MODE #lab +l 2")
        self.send(self.carol, "JOIN #lab")
        self.assertEqual(self.carol.numerics(), ["471"])
        self.send(self.bob, "PART #lab")
        self.send(self.carol, "JOIN #lab")
        self.assertIn("#lab", self.carol.rooms)

    def test_inviteOnlyRefuses473UntilInvited(self) -> None:
        self.send(self.alice, "MODE #lab +i")
        self.clear()
        self.send(self.carol, "JOIN #lab")
        self.assertEqual(self.carol.numerics(), ["473"])
        self.send(self.bob, "INVITE carol #lab")
        self.assertEqual(self.bob.numerics(), ["482"])
        self.send(self.alice, "INVITE carol #lab")
        self.assertEqual(
            self.alice.lines(), [Message("341", ("alice", "carol", "#lab"), "securechat.local")]
        )
        self.assertEqual(self.carol.lines(), [Message("INVITE", ("carol", "#lab"), ALICE)])
        self.send(self.carol, "JOIN #lab")
        self.assertIn("#lab", self.carol.rooms)
        # An invitation is good for one join.
        self.send(self.carol, "PART #lab")
        self.carol.lines()
        self.send(self.carol, "JOIN #lab")
        self.assertEqual(self.carol.numerics(), ["473"])

    def test_invitationNotInheritedByNick(self) -> None:
        """An invitation belongs to the client, not to whoever takes its nick next."""
        self.send(self.alice, "MODE #lab +i")
        self.send(self.alice, "INVITE carol #lab")
        self.send(self.carol, "QUIT")
        self.state.remove(self.carol, "Quit")
        dave = self.connect("carol")
        self.send(dave, "JOIN #lab")
        self.assertEqual(dave.numerics(), ["473"])

    def test_inviteErrors(self) -> None:
        for line in ("INVITE carol", "INVITE nobody #lab", "INVITE carol #nowhere", "INVITE bob #lab"):
            self.send(self.alice, line)
        self.assertEqual(self.alice.numerics(), ["461", "401", "403", "443"])
        self.send(self.carol, "JOIN #two")
        self.carol.lines()
        self.send(self.carol, "INVITE alice #lab")
        self.send(self.bob, "INVITE alice #two")
        self.assertEqual(self.carol.numerics(), ["442"])
        self.assertEqual(self.bob.numerics(), ["442"])
        # Without +i any member may invite.
        self.send(self.bob, "INVITE carol #lab")
        self.assertEqual(self.bob.numerics(), ["341"])

    def test_invitationsBounded(self) -> None:
        """A room keeps at most MAX_INVITES invitations, dropping the oldest."""
        from securechat.relay.channels import MAX_INVITES

        room = self.state.rooms["#lab"]
        guests = [self.connect("guest%d" % (i,)) for i in range(MAX_INVITES + 5)]
        for guest in guests:
            self.send(self.alice, "INVITE %s #lab" % (guest.nick,))
        self.assertEqual(len(room.invited), MAX_INVITES)
        self.assertNotIn(guests[0], room.invited)
        self.assertIn(guests[-1], room.invited)

    def test_moderatedRefuses404(self) -> None:
        """Under +m only operators and voiced members speak; NOTICE stays silent."""
        self.send(self.alice, "MODE #lab +m")
        self.clear()
        self.send(self.bob, "PRIVMSG #lab :hi")
        self.assertEqual(self.bob.numerics(), ["404"])
        self.send(self.bob, "NOTICE #lab :hi")
        self.assertEqual(self.bob.sent, [])
        self.assertEqual(self.alice.sent, [])
        self.send(self.alice, "MODE #lab +v bob")
        self.clear()
        self.send(self.bob, "PRIVMSG #lab :now I may")
        self.assertEqual(self.alice.lines()[0].params, ("#lab", "now I may"))
        self.send(self.alice, "PRIVMSG #lab :ops too")
        self.assertEqual(self.bob.lines()[0].params, ("#lab", "ops too"))

    def test_secretRoomHidden(self) -> None:
        """+s: not in LIST, NAMES, WHO or WHOIS for non-members; members see it."""
        self.send(self.alice, "MODE #lab +s")
        self.clear()
        self.send(self.carol, "LIST")
        self.assertEqual(self.carol.numerics(), ["321", "323"])
        self.send(self.carol, "NAMES #lab")
        self.assertEqual(self.carol.numerics(), ["366"])
        self.send(self.carol, "WHO #lab")
        self.assertEqual(self.carol.numerics(), ["315"])
        self.send(self.carol, "WHOIS alice")
        self.assertNotIn("319", self.carol.numerics())
        self.send(self.carol, "TOPIC #lab")
        self.assertEqual(self.carol.numerics(), ["442"])
        self.send(self.bob, "LIST")
        self.assertEqual(self.bob.numerics(), ["321", "322", "323"])
        self.send(self.bob, "NAMES #lab")
        self.assertEqual(self.bob.lines()[0].params[1:3], ("@", "#lab"))

    def test_parseModeChanges(self) -> None:
        """Parameters are taken in order; missing ones drop their mode; MODES bounds them."""
        parsed = parseModeChanges("+ov-k+l", ["a", "b"])
        self.assertEqual(
            parsed.changes,
            [ModeChange(True, "o", "a"), ModeChange(True, "v", "b"), ModeChange(False, "k")],
        )
        parsed = parseModeChanges("+ooooo", ["a", "b", "c", "d", "e"])
        self.assertEqual(len(parsed.changes), 4)
        self.assertEqual(
            formatModeChanges([ModeChange(True, "i"), ModeChange(False, "k"), ModeChange(False, "o", "x")]),
            ["+i-ko", "*", "x"],
        )

    def test_modeLineFitsAndFormats(self) -> None:
        """A mode change from a client with a hostile key cannot break the line."""
        self.send(self.alice, "MODE #lab +k ::x")
        self.assertEqual(self.alice.numerics(), ["696"])


class UserQueryTests(RoomCase):
    def test_whois(self) -> None:
        """311, 319, 312, 317, 318; 301 when away; the host is the prefix's."""
        self.now += 42
        self.send(self.alice, "PRIVMSG #lab :hi")
        self.now += 8
        self.send(self.carol, "WHOIS alice")
        lines = self.carol.lines()
        self.assertEqual([m.command for m in lines], ["311", "319", "312", "317", "318"])
        self.assertEqual(lines[0].params[1:], ("alice", "~alice", "10.0.0.1", "*", "Real alice"))
        self.assertEqual(lines[1].params[1:], ("alice", "@#lab"))
        self.assertEqual(lines[3].params[1:3], ("alice", "8"))
        self.assertEqual(lines[3].params[3], str(int(self.now - 50)))
        self.send(self.alice, "AWAY :lunch")
        self.send(self.carol, "WHOIS bob ALICE")
        lines = self.carol.lines()
        self.assertIn(Message("301", ("carol", "alice", "lunch"), "securechat.local"), lines)

    def test_whoisErrors(self) -> None:
        self.send(self.carol, "WHOIS")
        self.send(self.carol, "WHOIS nobody")
        self.send(self.carol, "WHOIS a,b,c,d,e")
        self.assertEqual(self.carol.numerics(), ["431", "401", "318", "407"])

    def test_whoisChannelsSplit(self) -> None:
        """A member of many rooms gets 319 lines that each fit the line limit."""
        for i in range(40):
            self.send(self.bob, "JOIN #room-with-a-long-name-%02d" % (i,))
        self.bob.lines()
        self.send(self.carol, "WHOIS bob")
        raw = b"".join(self.carol.sent)
        self.assertTrue(all(len(line) + 2 <= 512 for line in raw.split(b"\r\n")))
        rooms = [r for m in self.carol.lines() if m.command == "319" for r in m.params[2].split()]
        self.assertEqual(len(rooms), 41)

    def test_away(self) -> None:
        """306/305; a PRIVMSG to an away nick gets 301, a NOTICE does not; WHO shows G."""
        self.send(self.bob, "AWAY :out")
        self.assertEqual(self.bob.numerics(), ["306"])
        self.send(self.carol, "PRIVMSG bob :hello?")
        self.assertEqual(self.carol.lines(), [Message("301", ("carol", "bob", "out"), "securechat.local")])
        self.send(self.carol, "NOTICE bob :hello?")
        self.assertEqual(self.carol.sent, [])
        self.send(self.carol, "WHO bob")
        self.assertEqual(self.carol.lines()[0].params[6], "G")
        self.send(self.carol, "USERHOST bob alice")
        self.assertEqual(self.carol.lines()[0].params[1], "bob=-~bob@10.0.0.1 alice=+~alice@10.0.0.1")
        self.send(self.bob, "AWAY")
        self.assertEqual(self.bob.numerics()[-1], "305")
        self.send(self.carol, "WHO bob")
        self.assertEqual(self.carol.lines()[0].params[6], "H")

    def test_awayNotify(self) -> None:
        """Room peers with away-notify see AWAY changes, and a member who joins while away."""
        self.send(self.alice, "CAP REQ :away-notify")
        self.alice.lines()
        self.send(self.bob, "AWAY :brb")
        self.assertEqual(self.alice.lines(), [Message("AWAY", ("brb",), BOB)])
        self.send(self.bob, "AWAY")
        self.assertEqual(self.alice.lines(), [Message("AWAY", (), BOB)])
        self.send(self.carol, "AWAY :zzz")
        self.assertEqual(self.alice.sent, [], "not a peer: not told")
        self.clear()
        self.send(self.carol, "JOIN #lab")
        self.assertEqual(
            [m.command for m in self.alice.lines()], ["JOIN", "AWAY"]
        )
        self.assertEqual([m.command for m in self.bob.lines()], ["JOIN"])

    def test_ison(self) -> None:
        self.send(self.carol, "ISON :ALICE nobody bob")
        self.assertEqual(self.carol.lines()[0].params[1], "alice bob")
        self.send(self.carol, "ISON nobody")
        self.assertEqual(self.carol.lines()[0].params[1], "")
        self.send(self.carol, "ISON")
        self.send(self.carol, "USERHOST")
        self.assertEqual(self.carol.numerics(), ["461", "461"])

    def test_isonFitsOneLine(self) -> None:
        """However many present nicks are asked about, the 303 fits the line limit."""
        nicks = ["n%028d" % (i,) for i in range(17)]
        for nick in nicks:
            self.connect(nick)
        self.send(self.carol, "ISON " + " ".join(nicks[:14]) + " :" + " ".join(nicks[14:]))
        [line] = self.carol.sent
        self.assertLessEqual(len(line), 512)
        self.assertGreater(len(self.carol.lines()[0].params[1].split()), 10)

    def test_userhostAtMostFive(self) -> None:
        self.send(self.carol, "USERHOST bob bob bob bob bob alice")
        self.assertEqual(self.carol.lines()[0].params[1].count("="), 5)

    def test_whoMasks(self) -> None:
        """WHO al*, WHO *, WHO ?ob list matching nicks; WHO mask o lists no one (no opers)."""
        self.connect("albert")
        for mask, nicks in (("al*", ["alice", "albert"]), ("*", ["alice", "bob", "carol", "albert"]),
                            ("?OB", ["bob"]), ("0", ["alice", "bob", "carol", "albert"]),
                            ("*z*", [])):
            self.send(self.carol, "WHO " + mask)
            lines = self.carol.lines()
            self.assertEqual(sorted(m.params[5] for m in lines[:-1]), sorted(nicks), mask)
            self.assertEqual(lines[-1].command, "315")
        self.send(self.carol, "WHO * o")
        self.assertEqual(self.carol.numerics(), ["315"])

    def test_whoMaskBounded(self) -> None:
        """A mask lists at most WHO_LIMIT entries."""
        for i in range(WHO_LIMIT + 3):
            self.state.clients["n%d" % (i,)] = self.state.clients["bob"]
        self.send(self.carol, "WHO *")
        self.assertEqual(len(self.carol.lines()), WHO_LIMIT + 1)

    def test_globMatcher(self) -> None:
        match = globMatcher("a*[b]?", rfc1459Casefold, 30)
        self.assertTrue(match("A{b}x"))
        self.assertTrue(match("axx[B]y"))
        self.assertFalse(match("a[b]"))
        self.assertFalse(globMatcher("x" * 40 + "*", rfc1459Casefold, 30)("x" * 30))
        self.assertTrue(globMatcher("*" * 200 + "c", rfc1459Casefold, 30)("abc"))
        # Many stars against a long non-matching name stay quick (no backtracking blow-up).
        self.assertFalse(globMatcher("*a" * 15 + "*b", rfc1459Casefold, 30)("a" * 30))

    def test_list(self) -> None:
        self.send(self.alice, "TOPIC #lab :science")
        self.send(self.carol, "JOIN #empty-topic")
        self.clear()
        self.send(self.carol, "LIST")
        lines = self.carol.lines()
        self.assertEqual(lines[0].command, "321")
        self.assertEqual(
            sorted(m.params[1:] for m in lines if m.command == "322"),
            [("#empty-topic", "1", ""), ("#lab", "2", "science")],
        )
        self.assertEqual(lines[-1].command, "323")
        self.send(self.carol, "LIST #LAB,#nowhere")
        self.assertEqual([m.command for m in self.carol.lines()], ["321", "322", "323"])


class CapabilityTests(StateTestCase):
    def test_reqAckAndList(self) -> None:
        """A known list is ACKed whole, LIST shows it, -cap removes one."""
        client = FakeClient()
        self.send(client, "CAP LS 302")
        self.send(client, "CAP REQ :multi-prefix server-time")
        self.send(client, "CAP LIST")
        self.assertEqual(
            [m.params[1:] for m in client.lines()[1:]],
            [("ACK", "multi-prefix server-time"), ("LIST", "multi-prefix server-time")],
        )
        self.send(client, "CAP REQ -server-time")
        self.send(client, "CAP LIST")
        self.assertEqual(client.lines()[-1].params[1:], ("LIST", "multi-prefix"))

    def test_unknownNakedWhole(self) -> None:
        """One unknown capability NAKs the whole request: nothing in it is enabled."""
        client = FakeClient()
        self.send(client, "CAP REQ :multi-prefix sasl")
        self.assertEqual(client.lines()[0].params[1:], ("NAK", "multi-prefix sasl"))
        self.assertEqual(client.caps, frozenset())
        self.send(client, "CAP REQ")
        self.assertEqual(client.lines()[0].params[1:], ("NAK", ""))

    def test_capAfterRegistration(self) -> None:
        """CAP REQ works after registration too (and does not hold anything)."""
        alice = self.connect("alice")
        self.send(alice, "CAP REQ echo-message")
        self.assertEqual(alice.lines()[0].params, ("alice", "ACK", "echo-message"))
        self.assertTrue(alice.echo)

    def test_emptyRealname461(self) -> None:
        client = FakeClient()
        self.send(client, "NICK alice")
        self.send(client, "USER al 0 * :")
        self.assertEqual(client.numerics(), ["461"])
        self.assertFalse(client.registered)


class TagTests(RoomCase):
    """server-time, echo-message, message-tags on the fan-out path."""

    def test_serverTime(self) -> None:
        """A member with server-time gets @time from the relay's clock; the others, plain bytes."""
        self.now = 1_700_000_000.25
        self.send(self.bob, "CAP REQ server-time")
        self.bob.lines()
        self.send(self.alice, "@+x=1 PRIVMSG #lab :hi")
        [line] = self.bob.lines()
        self.assertEqual(line.tags, (("time", "2023-11-14T22:13:20.250Z"),))
        self.assertEqual(line.params, ("#lab", "hi"))
        self.send(self.carol, "JOIN #lab")
        self.clear()
        self.send(self.bob, "PRIVMSG #lab :plain for others")
        self.assertEqual(self.alice.sent, [b":bob!~bob@10.0.0.1 PRIVMSG #lab :plain for others\r\n"])
        self.assertIs(self.alice.sent[0], self.carol.sent[0])

    def test_echoMessage(self) -> None:
        """With echo-message the sender gets its own room and direct messages back."""
        self.send(self.alice, "CAP REQ echo-message")
        self.alice.lines()
        self.send(self.alice, "PRIVMSG #lab :one")
        self.send(self.alice, "PRIVMSG carol :two")
        self.assertEqual(
            self.alice.lines(),
            [Message("PRIVMSG", ("#lab", "one"), ALICE), Message("PRIVMSG", ("carol", "two"), ALICE)],
        )
        self.assertEqual(self.bob.lines(), [Message("PRIVMSG", ("#lab", "one"), ALICE)])
        # Without it, a sender never gets its own lines, even in a batch with others'.
        self.state.handle(self.bob, parseLine(b"PRIVMSG #lab :b1"))
        self.state.handle(self.alice, parseLine(b"PRIVMSG #lab :a1"))
        self.state.deliverPending()
        self.assertEqual([m.params[1] for m in self.bob.lines()], ["a1"])
        self.assertEqual([m.params[1] for m in self.alice.lines()], ["b1", "a1"])

    def test_echoWithTags(self) -> None:
        """An echo carries the tags the sender took: its time, its own client tags; TAGMSG too."""
        self.now = 1_700_000_000.0
        self.send(self.alice, "CAP REQ :echo-message server-time message-tags")
        self.alice.lines()
        self.send(self.alice, "@+k=v PRIVMSG #lab :hi")
        [echoed] = self.alice.lines()
        self.assertEqual(echoed.tags, (("time", "2023-11-14T22:13:20.000Z"), ("+k", "v")))
        self.assertEqual(self.bob.lines(), [Message("PRIVMSG", ("#lab", "hi"), ALICE)])
        self.send(self.alice, "@+typing=paused TAGMSG bob")
        [echoed] = self.alice.lines()
        self.assertEqual((echoed.command, echoed.params), ("TAGMSG", ("bob",)))
        self.assertEqual(self.bob.sent, [], "bob did not take message-tags")

    def test_clientTagsPassedToMessageTags(self) -> None:
        """Client-only tags reach members with message-tags; server tags from clients do not."""
        self.send(self.alice, "CAP REQ message-tags")
        self.send(self.bob, "CAP REQ message-tags")
        self.clear()
        self.send(self.alice, "@+draft/react=x;label=7;+y PRIVMSG #lab :hi")
        [line] = self.bob.lines()
        self.assertEqual(line.tags, (("+draft/react", "x"), ("+y", "")))
        self.send(self.carol, "@+z=1 PRIVMSG bob :direct")
        self.assertIsNone(self.bob.lines()[0].tags, "carol did not take message-tags")
        self.send(self.alice, "@+z=a\\sb PRIVMSG bob :direct")
        self.assertEqual(self.bob.lines()[0].tags, (("+z", "a b"),))

    def test_tagmsg(self) -> None:
        """TAGMSG reaches only message-tags members, and not when it carries nothing."""
        self.send(self.alice, "CAP REQ message-tags")
        self.send(self.bob, "CAP REQ :message-tags server-time")
        self.send(self.carol, "JOIN #lab")
        self.clear()
        self.send(self.alice, "@+typing=active TAGMSG #lab")
        [line] = self.bob.lines()
        self.assertEqual((line.command, line.params), ("TAGMSG", ("#lab",)))
        self.assertEqual([k for k, _ in line.tags], ["time", "+typing"])
        self.assertEqual(self.carol.sent, [])
        self.assertEqual(self.alice.sent, [])
        self.send(self.alice, "TAGMSG #lab")
        self.assertEqual(self.bob.sent, [])
        self.send(self.carol, "@+t=1 TAGMSG #nowhere,nobody")
        self.send(self.carol, "TAGMSG")
        self.assertEqual(self.carol.numerics(), ["403", "401", "411"])

    def test_tagmsgEachTargetOnce(self) -> None:
        """As with PRIVMSG, a target named twice (any case) in one TAGMSG gets it once."""
        self.send(self.alice, "CAP REQ message-tags")
        self.send(self.bob, "CAP REQ message-tags")
        self.clear()
        self.send(self.alice, "@+typing=active TAGMSG #lab,#LAB,bob,BOB")
        self.assertEqual(
            [(m.command, m.params) for m in self.bob.lines()],
            [("TAGMSG", ("#lab",)), ("TAGMSG", ("bob",))],
        )

    def test_taggedBatchesPerKind(self) -> None:
        """Members that take the same tags share one bytes object; senders skip their own."""
        dave = self.connect("dave")
        for client in (self.carol, dave):
            self.send(client, "JOIN #lab")
            self.send(client, "CAP REQ server-time")
        self.clear()
        del dave.sent[:]
        self.state.handle(self.carol, parseLine(b"PRIVMSG #lab :c"))
        self.state.handle(self.alice, parseLine(b"PRIVMSG #lab :a"))
        self.state.deliverPending()
        self.assertEqual([m.params[1] for m in dave.lines()], ["c", "a"])
        self.assertEqual([m.params[1] for m in self.carol.lines()], ["a"])
        self.assertEqual(self.carol.lines(), [])
        self.assertEqual([m.params[1] for m in self.alice.lines()], ["c"])
        self.assertEqual([m.params[1] for m in self.bob.lines()], ["c", "a"])

    def test_taggedCountFollowsMembership(self) -> None:
        """The room's count of tagged members stays right through caps, joins, nick changes, parts."""
        room = self.state.rooms["#lab"]
        self.send(self.bob, "CAP REQ server-time")
        self.send(self.bob, "CAP REQ echo-message")
        self.assertEqual(room.tagged, 1)
        self.send(self.carol, "CAP REQ message-tags")
        self.send(self.carol, "JOIN #lab")
        self.assertEqual(room.tagged, 2)
        self.send(self.bob, "CAP REQ :-server-time -echo-message")
        self.assertEqual(room.tagged, 1)
        self.send(self.carol, "PART #lab")
        self.assertEqual(room.tagged, 0)
        self.send(self.alice, "PRIVMSG #lab :plain path again")
        self.assertEqual(self.bob.sent[-1], b":alice!~alice@10.0.0.1 PRIVMSG #lab :plain path again\r\n")

    def test_tooLongTags417(self) -> None:
        """The adapter's splitter marks over-long tags; the 417 says so."""
        self.state.inputTooLong(self.alice, True)
        [reply] = self.alice.lines()
        self.assertEqual(reply.command, "417")
        self.assertIn("message tags over 4094 bytes", reply.params[-1])


class LimitsStillApplyTests(StateTestCase):
    def test_kickLengthBounded(self) -> None:
        """A KICK reason is cut to KICKLEN like a topic."""
        self.state = RelayState(RelayConfig(topicLength=10), now=lambda: self.now)
        alice, bob = self.connect("alice"), self.connect("bob")
        self.send(alice, "JOIN #lab")
        self.send(bob, "JOIN #lab")
        bob.lines()
        self.send(alice, "KICK #lab bob :" + "x" * 50)
        self.assertEqual(bob.lines()[0].params[-1], "x" * 10)

    def test_awayLengthBounded(self) -> None:
        from securechat.relay.state import AWAY_LENGTH

        alice = self.connect("alice")
        self.send(alice, "AWAY :" + "y" * 400)
        self.assertEqual(len(alice.away), AWAY_LENGTH)


class AdapterTests(ProtocolTestCase):
    """Through L{RelayProtocol}: the tag limits, and the old limits on new commands."""

    settings = ConnectionSettings(floodBurst=5, floodRate=2.0)

    def test_tagsWithinTheirLimitPass(self) -> None:
        """A client may add up to 4094 bytes of tags on top of a 512-byte line."""
        alice, bob = self.registered("alice"), self.registered("bob")
        self.clock.advance(10)
        bob.send(b"CAP REQ message-tags\r\n")
        alice.send(b"CAP REQ message-tags\r\nJOIN #lab\r\n")
        bob.send(b"JOIN #lab\r\n")
        self.clock.advance(10)
        bob.lines()
        value = b"v" * (MAX_CLIENT_TAGS - 10)
        text = b"t" * 400
        alice.send(b"@+big=" + value + b" PRIVMSG #lab :" + text + b"\r\n")
        [line] = bob.lines()
        self.assertEqual(line.tags, (("+big", value.decode()),))
        self.assertEqual(line.params, ("#lab", text.decode()))

    def test_tooLongTagsRefusedClearly(self) -> None:
        """Over 4094 bytes of tags: 417 saying so; the connection and next lines are kept."""
        alice = self.registered("alice")
        self.clock.advance(10)
        alice.send(b"@+big=" + b"v" * MAX_CLIENT_TAGS + b" PING :x\r\nPING :after\r\n")
        lines = alice.lines()
        self.assertEqual([m.command for m in lines], ["417", "PONG"])
        self.assertIn("message tags", lines[0].params[-1])
        self.assertFalse(alice.transport.disconnecting)

    def test_operatorCommandsPayTheFloodBucket(self) -> None:
        """An operator's MODE and KICK lines are paced like any other."""
        alice = self.registered("alice")
        self.clock.advance(10)
        alice.send(b"JOIN #lab\r\n")
        alice.lines()
        self.clock.advance(10)
        alice.send(b"".join(b"MODE #lab %sm\r\n" % (b"+-"[i % 2:i % 2 + 1],) for i in range(12)))
        self.assertEqual(len([m for m in alice.lines() if m.command == "MODE"]), 5)
        self.assertEqual(alice.transport.producerState, "paused")


class SendQueueStillAppliesTests(ProtocolTestCase):
    settings = ConnectionSettings(sendq=1000, floodBurst=1000, floodRate=1000)

    def test_bigRepliesCountAgainstTheSendQ(self) -> None:
        """A reader that does not drain its WHO * replies is dropped like any slow reader."""
        asker = self.registered("asker")
        for i in range(20):  # under the per-address limit; WHO * is ~1.5 kB
            self.registered("user%02d" % (i,))
        asker.transport.producer.pauseProducing()
        asker.transport.clear()
        asker.send(b"WHO *\r\nLIST\r\nWHO *\r\n")
        self.assertTrue(asker.transport.disconnected)
        self.assertTrue(asker.transport.value().endswith(b"ERROR :SendQ exceeded\r\n"))


class OurClientTests(LoopbackCase):
    """Our own client against the relay now that rooms have operators."""

    if not HAVE_ARGON2ID:
        skip = "our client derives keys with Argon2id, which this cryptography lacks (PyPy 3.9 stops at 43)"

    @inlineCallbacks
    def test_namesWithPrefixesAndKick(self):
        """
        The client reads @-prefixed NAMES as plain nicks, still exchanges
        protected messages, and learns it was kicked.
        """
        opener = yield self.raw("opener")
        yield opener.join("#lab")
        alice = yield self.client("alice")
        bob = yield self.client("bob")
        yield self.joined("#lab", alice)
        names = bob.waitFor(lambda e: isinstance(e, ev.Names), WAIT)
        bob.join("#lab")
        listed = yield names
        self.assertEqual(sorted(listed.nicks), ["alice", "bob", "opener"])
        for client in (alice, bob):
            yield client.setKey("#lab", b"a shared passphrase", "fernet-ttl")
        heard = bob.waitFor(lambda e: isinstance(e, ev.IncomingMessage), WAIT)
        alice.send("#lab", "still protected")
        message = yield heard
        self.assertEqual((message.sender, message.body), ("alice", "still protected"))
        kicked = bob.waitFor(lambda e: isinstance(e, ev.Parted) and e.me, WAIT)
        opener.send("KICK", "#lab", "bob", "enough")
        parted = yield kicked
        self.assertEqual(parted.reason, "kicked by opener: enough")


class MemoryTests(StateTestCase):
    def test_noCapsShared(self) -> None:
        """
        A client that took no capability holds the shared empty set (an
        empty frozenset of its own is 216 bytes per idle connection), and
        gets it back when it drops its last one.
        """
        from securechat.relay.state import NO_CAPS

        alice, bob = self.connect("alice"), self.connect("bob")
        self.assertIs(alice.caps, NO_CAPS)
        self.assertIs(bob.caps, NO_CAPS)
        self.send(alice, "CAP REQ multi-prefix")
        self.send(alice, "CAP REQ -multi-prefix")
        self.assertIs(alice.caps, NO_CAPS)
