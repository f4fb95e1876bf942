"""
The room layer on sender chains (securechat.client.core.forwardrooms):
admission over pairwise sessions, a new chain on every leave, joiners read
from then on, state that survives a restart.

The pairwise sessions are a faithful stand-in for the Pairwise part's
contract (records delivered once, in order, after the session is ready;
identity keys as the trust store pinned them; one session id per pair);
everything of the room layer itself is real.
"""

from __future__ import annotations

import os
from collections import deque
from typing import Callable, Deque, Dict, List, Optional, Tuple

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from securechat.client.core.forwardrooms import MAX_MEMBERS, PROOF, REQUEST, START, ForwardRooms, roomName
from securechat.codec import Accepted, Identity
from securechat.codec.sessions import admit_proof

ROOM = "#Lab"
PAYLOAD = 400

Handler = Callable[[str, bytes, bytes], None]


class Network:
    """Members' pairwise sessions and the room's lines, delivered in order."""

    def __init__(self) -> None:
        self.members: Dict[str, Member] = {}
        self.sessions: Dict[frozenset[str], bytes] = {}
        self.queue: Deque[Callable[[], None]] = deque()
        #: Every room line, as the relay records it: (sender, line).
        self.recording: List[Tuple[str, str]] = []
        #: Records as the relay would route them: (from, to, kind).
        self.records: List[Tuple[str, str, int]] = []

    def run(self) -> None:
        while self.queue:
            self.queue.popleft()()


class FakePairwise:
    def __init__(self, network: Network, nick: str) -> None:
        self.network = network
        self.nick = nick
        self.handlers: Dict[int, Handler] = {}
        self.ready: List[Handler] = []

    def onRecord(self, kind: int, callback: Handler) -> None:
        self.handlers[kind] = callback

    def onSessionReady(self, callback: Handler) -> None:
        self.ready.append(callback)

    def sessionId(self, nick: str) -> Optional[bytes]:
        return self.network.sessions.get(frozenset((self.nick, nick.lower())))

    def starting(self, nick: str) -> bool:
        return False  # sessions start at once here

    def sendRecord(self, nick: str, kind: int, body: bytes) -> int:
        network, me = self.network, self.network.members[self.nick]
        peer = network.members.get(nick.lower())
        if peer is None:
            return 0  # no securechat there: never answers
        pair = frozenset((self.nick, peer.nick))
        if pair not in network.sessions:
            sid = network.sessions[pair] = os.urandom(32)
            for one, other in ((me, peer), (peer, me)):
                for callback in one.pairwise.ready:
                    network.queue.append(lambda c=callback, o=other, s=sid: c(o.nick, o.identity.public_key, s))
        network.records.append((self.nick, peer.nick, kind))
        network.queue.append(lambda: peer.pairwise.handlers[kind](me.nick, me.identity.public_key, body))
        return 1


class Member:
    def __init__(self, network: Network, nick: str, clock: Clock, roomKey: Optional[bytes]) -> None:
        self.network = network
        self.nick = nick
        self.identity = Identity.generate()
        self.roomKey = roomKey
        self.pairwise = FakePairwise(network, nick)
        self.notices: List[str] = []
        self.shown: List[Tuple[str, str]] = []
        self.saved: List[dict] = []
        self.rooms = ForwardRooms(
            self.pairwise,
            lambda: self.identity,
            lambda: self.nick,
            lambda room: self.roomKey,
            clock.seconds,
            self.sendLines,
            lambda room: PAYLOAD,
            lambda room, text: self.notices.append(text),
        )
        self.rooms.saveNow = self.save
        network.members[nick] = self

    def save(self) -> bool:
        self.saved.append(self.rooms.toDict())
        return True

    def sendLines(self, room: str, lines: List[str]) -> None:
        for line in lines:
            self.network.recording.append((self.nick, line))
            for other in self.network.members.values():
                if other is not self and other.rooms.isForward(room):
                    other.receiveLine(self.nick, line)

    def say(self, text: str, last: bool = True) -> None:
        self.sendLines(ROOM, self.rooms.encode(ROOM, text, last))

    def receiveLine(self, sender: str, line: str) -> None:
        for result in self.rooms.receive(ROOM, sender, line):
            if isinstance(result, Accepted):
                self.shown.append((sender, result.body))
            else:
                self.shown.append((sender, "REFUSED " + result.reason))


class ForwardRoomsTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.network = Network()
        self.secret = os.urandom(32)
        self.alice = Member(self.network, "alice", self.clock, self.secret)
        self.bob = Member(self.network, "bob", self.clock, self.secret)
        self.carol = Member(self.network, "carol", self.clock, self.secret)

    def enableAll(self, members: List[Member]) -> None:
        names = [member.nick for member in members]
        for member in members:
            member.rooms.enable(ROOM, names)
        self.network.run()

    def test_membersAdmitEachOtherAndRead(self) -> None:
        """Members who prove the room secret over their sessions hand each other chains and read each other."""
        self.enableAll([self.alice, self.bob, self.carol])
        self.assertEqual(self.alice.rooms.members(ROOM), ["bob", "carol"])
        self.assertEqual(self.alice.rooms.senders(ROOM), ["bob", "carol"])
        self.alice.say("hello")
        self.assertEqual(self.bob.shown, [("alice", "hello")])
        self.assertEqual(self.carol.shown, [("alice", "hello")])

    def test_noProofNoChain(self) -> None:
        """A member listed in NAMES without the room secret gets no chain, reads nothing, is named."""
        mallory = Member(self.network, "mallory", self.clock, os.urandom(32))
        self.enableAll([self.alice, self.bob, mallory])
        self.assertEqual(self.alice.rooms.members(ROOM), ["bob"])
        self.assertNotIn(("alice", mallory.nick, START), self.network.records)
        self.alice.say("for members only")
        self.assertEqual(mallory.shown, [("alice", "REFUSED not-admitted")])
        self.assertTrue(any("mallory not admitted" in notice for notice in self.alice.notices))

    def test_relayListedNickWithoutSecuritychat(self) -> None:
        """A nick the relay adds to NAMES that never answers gets a request, nothing more."""
        names = ["alice", "bob", "ghost"]
        for member in (self.alice, self.bob):
            member.rooms.enable(ROOM, names)
        self.network.run()
        self.assertEqual(self.alice.rooms.members(ROOM), ["bob"])

    def test_proofFromOutsideTheRoomIgnored(self) -> None:
        """A proof from a nick the server does not list in the room admits nothing."""
        self.enableAll([self.alice, self.bob])
        self.carol.rooms.enable(ROOM, ["carol", "alice"])
        self.network.run()
        self.assertNotIn("carol", self.alice.rooms.members(ROOM))
        self.assertTrue(any("not in it" in notice for notice in self.alice.notices))

    def test_leaveStartsNewChainsForThoseWhoStay(self) -> None:
        """After carol parts, alice's and bob's new chains go to each other only: carol reads nothing more."""
        self.enableAll([self.alice, self.bob, self.carol])
        before = self.alice.rooms.toDict()["rooms"]["#lab"]["chains"]["outbound"]["chain_id"]
        for member in (self.alice, self.bob):
            member.rooms.left(ROOM, "carol")
        self.network.run()
        after = self.alice.rooms.toDict()["rooms"]["#lab"]["chains"]["outbound"]["chain_id"]
        self.assertNotEqual(before, after)
        self.assertEqual(self.alice.rooms.members(ROOM), ["bob"])
        self.carol.shown.clear()
        self.alice.say("carol has gone")
        self.bob.say("indeed")
        self.assertEqual(self.bob.shown, [("alice", "carol has gone")])
        self.assertEqual(self.alice.shown, [("bob", "indeed")])
        self.assertEqual(self.carol.shown, [("alice", "REFUSED not-admitted"), ("bob", "REFUSED not-admitted")])

    def test_leaveSignsOpenBatchFirst(self) -> None:
        """A batch open when someone leaves is signed on a line of its own before the new chain."""
        self.enableAll([self.alice, self.bob, self.carol])
        self.alice.say("queued", last=False)
        self.assertEqual(self.bob.shown, [])
        self.alice.rooms.left(ROOM, "carol")
        self.assertEqual(self.bob.shown, [("alice", "queued")])

    def test_joinerReadsFromThenOn(self) -> None:
        """A member who joins later is admitted and reads what is said after, never before."""
        self.enableAll([self.alice, self.bob])
        self.alice.say("before carol")
        dave = Member(self.network, "dave", self.clock, self.secret)
        dave.rooms.enable(ROOM, ["alice", "bob", "dave"])
        for member in (self.alice, self.bob):
            member.rooms.joined(ROOM, "dave")
        self.network.run()
        self.assertEqual(dave.rooms.senders(ROOM), ["alice", "bob"])
        # The relay's recording of the earlier line, replayed to the joiner: its key is behind the chain handed over.
        earlier = [line for sender, line in self.network.recording if sender == "alice"]
        dave.receiveLine("alice", earlier[0])
        self.alice.say("after dave")
        self.assertEqual(dave.shown, [("alice", "REFUSED replayed"), ("alice", "after dave")])

    def test_startBeforeProofWaits(self) -> None:
        """A chain start from a member not yet admitted waits for its proof, then counts."""
        self.enableAll([self.alice, self.bob])
        state = self.bob.rooms._rooms["#lab"]
        record = state.chains.outbound.start_record()
        self.alice.rooms._rooms["#lab"].chains.members.pop("bob")
        self.alice.rooms._rooms["#lab"].chains.inbound.pop("bob")
        self.alice.rooms._startReceived("bob", self.bob.identity.public_key, record)
        self.assertEqual(self.alice.rooms.senders(ROOM), [])
        self.alice.rooms._rooms["#lab"].proofsSent.clear()
        self.bob.rooms._rooms["#lab"].proofsSent.clear()
        self.bob.rooms._sendProof("#lab", "alice")
        self.network.run()
        self.assertEqual(self.alice.rooms.senders(ROOM), ["bob"])

    def test_garbageRecordsIgnored(self) -> None:
        """Records naming no room of ours, or cut short, change nothing."""
        self.enableAll([self.alice, self.bob])
        for kind, body in ((REQUEST, b""), (PROOF, b"\x05ab"), (PROOF, roomName("#other") + bytes(32)),
                           (START, b"\x01" * 10), (PROOF, roomName(ROOM) + bytes(5))):  # fmt: skip
            self.alice.pairwise.handlers[kind]("bob", self.bob.identity.public_key, body)
        self.assertEqual(self.alice.rooms.members(ROOM), ["bob"])

    def test_stateSurvivesRestart(self) -> None:
        """Chains are saved before a message opened with them is shown; a restart reads on and reopens nothing."""
        self.enableAll([self.alice, self.bob])
        self.alice.say("one")
        line = self.network.recording[-1][1]
        saved = self.bob.saved[-1]
        self.assertEqual(self.bob.shown, [("alice", "one")])
        restarted = Member(Network(), "bob", self.clock, self.secret)
        restarted.identity = self.bob.identity
        self.assertEqual(restarted.rooms.load(saved), [])
        restarted.receiveLine("alice", line)
        self.alice.say("two")
        restarted.receiveLine("alice", self.network.recording[-1][1])
        self.assertEqual(restarted.shown, [("alice", "REFUSED replayed"), ("alice", "two")])

    def test_skippedKeysErasedAtUpkeepAndOnLoad(self) -> None:
        """
        A key the relay's withheld line left is erased from the state file
        at the first upkeep once that line could no longer be accepted, and
        a state saved with such a key loses it as it loads.
        """
        self.enableAll([self.alice, self.bob])
        withheld = self.alice.rooms.encode(ROOM, "withheld", True)
        self.alice.say("after")
        saved = self.bob.saved[-1]
        self.assertEqual(len(saved["rooms"]["#lab"]["chains"]["inbound"]["alice"][-1]["skipped"]), 1)
        self.clock.advance(39)
        self.bob.rooms.expire()
        self.assertEqual(self.bob.saved[-1], saved)
        self.clock.advance(1)
        self.bob.rooms.expire()
        self.assertEqual(self.bob.saved[-1]["rooms"]["#lab"]["chains"]["inbound"]["alice"][-1]["skipped"], [])
        restarted = Member(Network(), "bob", self.clock, self.secret)
        restarted.identity = self.bob.identity
        self.assertEqual(restarted.rooms.load(saved), [])
        restarted.rooms.expire()
        self.assertEqual(restarted.saved[-1]["rooms"]["#lab"]["chains"]["inbound"]["alice"][-1]["skipped"], [])
        for line in withheld:
            restarted.receiveLine("alice", line)
        self.assertEqual(restarted.shown, [("alice", "REFUSED replayed")])

    def test_unreadableRoomSetAside(self) -> None:
        """A room whose saved chains cannot be read is named, and the others load."""
        self.enableAll([self.alice, self.bob])
        saved = self.alice.rooms.toDict()
        saved["rooms"]["#broken"] = {"chains": {"kind": "nonsense"}, "present": []}
        fresh = Member(Network(), "alice", self.clock, self.secret)
        fresh.identity = self.alice.identity
        self.assertEqual(fresh.rooms.load(saved), ["#broken"])
        self.assertTrue(fresh.rooms.isForward(ROOM))
        self.assertRaises(ValueError, fresh.rooms.load, {"format": 99})

    def test_disableForgetsChains(self) -> None:
        self.enableAll([self.alice, self.bob])
        self.alice.rooms.disable(ROOM)
        self.assertFalse(self.alice.rooms.isForward(ROOM))
        self.assertEqual(self.alice.rooms.toDict()["rooms"], {})

    def test_renameIsLeaveAndJoin(self) -> None:
        """A member's new nick has no chain of ours until it proves itself again under that nick."""
        self.enableAll([self.alice, self.bob])
        self.alice.rooms.renamed("bob", "bobby")
        self.assertEqual(self.alice.rooms.members(ROOM), [])

    def test_proofBeforeJoinIsKeptForTheJoin(self) -> None:
        """A proof that arrives before the server's JOIN of its sender admits it once the JOIN comes."""
        self.enableAll([self.alice, self.bob])
        dave = Member(self.network, "dave", self.clock, self.secret)
        dave.rooms.enable(ROOM, ["alice", "bob", "dave"])
        self.network.run()
        self.assertNotIn("dave", self.alice.rooms.members(ROOM))
        self.alice.rooms.joined(ROOM, "dave")
        self.network.run()
        self.assertIn("dave", self.alice.rooms.members(ROOM))
        self.assertIn("dave", self.alice.rooms.senders(ROOM))

    def test_departedWhoJoinsAgainIsReadmitted(self) -> None:
        """
        A member the others saw leave and join again (a QUIT and JOIN of a
        reconnect, or a PART the relay made up) while it kept its room state
        is admitted anew both ways: it proves itself again when asked, and
        reads and is read, instead of handing a chain nobody takes.
        """
        self.enableAll([self.alice, self.bob, self.carol])
        for member in (self.alice, self.carol):
            member.rooms.left(ROOM, "bob")
            member.rooms.joined(ROOM, "bob")
        self.network.run()
        self.assertEqual(self.alice.rooms.members(ROOM), ["bob", "carol"])
        self.assertEqual(self.alice.rooms.senders(ROOM), ["bob", "carol"])
        self.bob.say("still here")
        self.alice.say("welcome back")
        self.assertEqual(self.alice.shown, [("bob", "still here")])
        self.assertEqual(self.bob.shown, [("alice", "welcome back")])

    def test_ourOwnRenameKeepsUsReadable(self) -> None:
        """
        After our own NICK, our chain names the new nick: the members, who
        saw a leave of the old nick and a join of the new one, admit us again
        and read us, and we read them.
        """
        self.enableAll([self.alice, self.bob, self.carol])
        bob = self.network.members.pop("bob")
        bob.nick = bob.pairwise.nick = "bobby"
        self.network.members["bobby"] = bob
        bob.rooms.renamedSelf()
        for member in (self.alice, self.carol):
            member.rooms.renamed("bob", "bobby")
        self.network.run()
        self.assertEqual(self.alice.rooms.members(ROOM), ["bobby", "carol"])
        self.assertEqual(self.alice.rooms.senders(ROOM), ["bobby", "carol"])
        bob.say("new name, same me")
        self.alice.say("hello bobby")
        self.assertEqual(self.alice.shown, [("bobby", "new name, same me")])
        self.assertEqual(bob.shown, [("alice", "hello bobby")])

    def test_leaveOfAStrangerRenewsNothing(self) -> None:
        """
        A QUIT (or a /remove) of a nick neither listed in the room nor holding
        our chain renews nothing: no new chain, no chain start signed per
        member (a relay inventing QUITs cannot make every room re-sign).
        """
        self.enableAll([self.alice, self.bob, self.carol])
        before = self.alice.rooms.toDict()["rooms"]["#lab"]["chains"]["outbound"]["chain_id"]
        records = len(self.network.records)
        for nick in ("stranger%d" % (number,) for number in range(5)):
            self.alice.rooms.left(ROOM, nick)
        self.network.run()
        self.assertEqual(self.alice.rooms.toDict()["rooms"]["#lab"]["chains"]["outbound"]["chain_id"], before)
        self.assertEqual(len(self.network.records), records)
        self.alice.rooms.left(ROOM, "carol")
        self.assertNotEqual(self.alice.rooms.toDict()["rooms"]["#lab"]["chains"]["outbound"]["chain_id"], before)

    def test_recordNamingTheRoomInAnotherCaseIsTheRoom(self) -> None:
        """
        A record naming the room in capitals (a peer's client that does not
        casefold it) is about the same room: no KeyError out of the record
        handler, and the proof admits as any other.
        """
        self.enableAll([self.alice, self.bob])
        state = self.alice.rooms._rooms["#lab"]
        state.chains.members.pop("bob")
        state.chains.inbound.pop("bob")
        sessionId = self.alice.pairwise.sessionId("bob")
        assert sessionId is not None
        proof = admit_proof(self.secret, "#lab", "bob", sessionId)
        body = bytes((len("#LAB"),)) + b"#LAB" + proof
        # As the forward route sets it: follow a member's proof for a room of ours.
        self.alice.rooms.onProofForRoom = self.alice.rooms.isForward
        self.alice.pairwise.handlers[PROOF]("bob", self.bob.identity.public_key, body)
        self.assertEqual(self.alice.rooms.members(ROOM), ["bob"])

    def test_messageNotSentForAFailedSaveIsNotSignedIntoTheBatch(self) -> None:
        """
        A message refused because the state could not be written (never sent)
        is not in the batch signature that follows: the members still show
        what was sent around it, instead of refusing the whole batch unverified.
        """
        self.enableAll([self.alice, self.bob])
        self.alice.say("one", last=False)
        self.alice.rooms.saveNow = lambda: False
        self.assertRaises(ValueError, self.alice.rooms.encode, ROOM, "lost", False)
        self.alice.rooms.saveNow = self.alice.save
        self.alice.say("three")
        self.clock.advance(61)
        self.alice.say("four")
        self.assertEqual(self.bob.shown, [("alice", "one"), ("alice", "three"), ("alice", "four")])
        # The refused message would have ended the batch: the batch still ends, without it.
        self.alice.say("five", last=False)
        self.alice.rooms.saveNow = lambda: False
        self.assertRaises(ValueError, self.alice.rooms.encode, ROOM, "lost too", True)
        self.assertEqual(self.bob.shown[-1], ("alice", "five"))
        self.assertFalse(self.alice.rooms._rooms["#lab"].forward.batch_open)

    def test_candidatesAreBounded(self) -> None:
        """
        A relay that makes up JOINs of thousands of nicks gets at most
        MAX_MEMBERS candidates per room asked to prove themselves (each ask
        starts a pairwise handshake), and the user is told once.
        """
        self.enableAll([self.alice, self.bob])
        asked: List[str] = []
        send = self.alice.pairwise.sendRecord
        self.alice.pairwise.sendRecord = lambda nick, kind, body: asked.append(nick) or send(nick, kind, body)  # type: ignore[method-assign]
        for number in range(MAX_MEMBERS + 100):
            self.alice.rooms.joined(ROOM, "ghost%d" % (number,))
        state = self.alice.rooms._rooms["#lab"]
        self.assertEqual(len(state.present), MAX_MEMBERS)
        self.assertEqual(len(asked), MAX_MEMBERS - 1)  # bob was there already
        self.assertEqual(len([notice for notice in self.alice.notices if "candidates" in notice]), 1)
        # Put on the layer with too many listed: as many asked, and told.
        carol = self.carol
        carol.rooms.enable(ROOM, ["carol"] + ["ghost%d" % (number,) for number in range(MAX_MEMBERS + 100)])
        self.assertEqual(len(carol.rooms._rooms["#lab"].present), MAX_MEMBERS)
        self.assertEqual(len([notice for notice in carol.notices if "candidates" in notice]), 1)
        # A member who leaves makes room for the next.
        self.alice.rooms.left(ROOM, "ghost0")
        self.alice.rooms.joined(ROOM, "dave")
        self.assertIn("dave", state.present)

    def test_linesThatMoveNoChainWriteNoState(self) -> None:
        """
        Lines that use no key (clear text, a token of no chain we hold, a
        replay, a line cut short) do not write the state file: a relay sending
        junk cannot make every member rewrite every chain per line.  A line
        that opens a message still writes it before it is shown.
        """
        self.enableAll([self.alice, self.bob])
        self.alice.say("one")
        replay = self.network.recording[-1][1]
        mallory = Member(Network(), "mallory", self.clock, self.secret)
        mallory.rooms.enable(ROOM, ["mallory"])
        stranger = mallory.rooms.encode(ROOM, "not for you")[0]
        saves = len(self.bob.saved)
        for line in ("hello in clear", stranger, replay, "+sc2 forward AAAAAAAAAAAAAAAAAAAAAA 1/2 AAAA"):
            self.bob.receiveLine("alice", line)
        self.assertEqual(len(self.bob.saved), saves)
        self.assertEqual([reason for _, reason in self.bob.shown[1:]],
                         ["REFUSED unprotected", "REFUSED not-admitted", "REFUSED replayed"])  # fmt: skip
        self.alice.say("two")
        self.assertEqual(len(self.bob.saved), saves + 1)
        self.assertEqual(self.bob.shown[-1], ("alice", "two"))
