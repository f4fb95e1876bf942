"""
Forward rooms of 20-30 members: a member who joins (or comes back with
every session lost) ends up, within bounded virtual time, with a session
with every member, every member's current chain, and its own chain with
every member; the answer budget of session openings still drops what is
over it (the flood protection stays), retries make up for it
(securechat.client.core.forwardretries).  Sans-IO clients, a fake relay,
virtual time.
"""

from __future__ import annotations

from typing import List

from twisted.trial.unittest import SynchronousTestCase

from securechat.client.core import commands as cmd
from securechat.client.core.forwardretries import FIRST_DELAY, MAX_AT_ONCE, MAX_ATTEMPTS, SPREAD, OpeningRetries, spread
from securechat.client.core.pairwise import HANDSHAKE_TIMEOUT
from securechat.client.core.session import ClientSession
from securechat.client.core.sessionanswers import ALL
from securechat.client.core.waitingopenings import MAX_AGE, MAX_WAITING, WaitingOpenings
from securechat.codec import Identity

from .pairwise_support import FakeClock
from .test_client_forward_rooms import ROOM, Room
from .test_client_pairwise_hostile import initLines

#: Virtual seconds a room may take to settle (the tests wait for the state, bounded by this).
BOUND = 300.0
#: How often the adapters' upkeep calls expire (securechat.client.adapters.upkeep).
TICK = 5.0


def incomplete(room: Room, who: List[str]) -> List[str]:
    """The members of C{who} that lack a session, the forward layer, or a chain either way with another."""
    missing = []
    for nick in who:
        client = room.clients[nick]
        others = set(who) - {nick}
        if (
            not client.forwardRoute.isForward(ROOM)
            or any(not client.pairwise.hasSession(other) for other in others)
            or set(client.forwardRoute.part.senders(ROOM)) != others
            or set(client.forwardRoute.part.members(ROOM)) != others
        ):
            missing.append(nick)
    return missing


def settle(room: Room, who: List[str]) -> float:
    """Let virtual time pass (upkeep every L{TICK} s) until C{who} is complete, at most L{BOUND}: seconds taken."""
    start = room.clock.now
    room.pump(500)
    while incomplete(room, who) and room.clock.now - start < BOUND:
        room.clock.now += TICK
        for client in room.clients.values():
            client.expire()
        room.pump(500)
    return room.clock.now - start


class JoinLargeRoomTests(SynchronousTestCase):
    def room(self, size: int) -> Room:
        nicks = ["m%02d" % index for index in range(size)]
        room = Room(*nicks)
        cmd.execute(room.clients[nicks[0]], cmd.Layer(ROOM, "forward"))
        settle(room, nicks)
        self.assertEqual(incomplete(room, nicks), [])
        return room

    def everyoneReadsEveryone(self, room: Room, who: List[str]) -> None:
        for nick in who:
            cmd.execute(room.clients[nick], cmd.Say(ROOM, "from %s" % (nick,)))
            room.pump(500)
        for nick in who:
            heard = sorted(body for sender, body, layer in room.shown(nick) if layer == "forward")
            self.assertEqual(heard, sorted("from %s" % (other,) for other in who if other != nick), nick)

    def joins(self, size: int, limit: float = BOUND) -> None:
        room = self.room(size)
        members = list(room.clients)
        room.add("zed")
        room.join("zed")
        taken = settle(room, members + ["zed"])
        self.assertEqual(incomplete(room, members + ["zed"]), [])
        self.assertLess(taken, limit)
        self.everyoneReadsEveryone(room, members + ["zed"])

    def test_joinRoomOf20(self) -> None:
        """A joiner in a room of 20 gets 20 openings at once; all its sessions and chains are there in bounded time."""
        self.joins(20, HANDSHAKE_TIMEOUT)  # the openings over its budget waited: none had to be retried

    def test_joinRoomOf30(self) -> None:
        """The same in a room of 30: the budget of answers drops some openings, retries bring them."""
        self.joins(30)

    def test_budgetStillHolds(self) -> None:
        """
        The flood protection is not lifted: a joiner of a room of 30 answers
        a burst of openings at once, and the rest wait for its budget.
        """
        room = self.room(30)
        before = len(room.recorded)
        room.add("zed")
        room.join("zed")
        room.pump(500)
        self.assertGreater(len(room.clients["zed"].pairwise.waiting), 0)
        replies = [
            text for nick, _, text in room.recorded[before:] if nick == "zed" and text.startswith("+scs1 reply ")
        ]
        self.assertTrue(0 < len(replies) <= ALL.burst, len(replies))

    def test_comesBackWithoutSessions(self) -> None:
        """
        A member quits and comes back with no session state (its identity and
        pins kept): every member's session with it restarts at once.
        """
        room = self.room(20)
        members = list(room.clients)
        old = room.clients["m07"]
        room.leave("m07")
        room.pump(500)
        fresh = ClientSession(
            "m07", lambda event: room.events["m07"].append(event), clock=room.clock, identity=old.identity,
            trust=old.trust,
        )  # fmt: skip
        room.add("m07", fresh)
        room.join("m07")
        settle(room, members)
        self.assertEqual(incomplete(room, members), [])
        self.everyoneReadsEveryone(room, members)

    def test_comesBackWhileMembersPaceIsSpent(self) -> None:
        """
        A member comes back with its sessions lost just as every member's
        copy of the server's bucket is empty: its openings are not dropped
        (nobody would ask again: the members think they hold a session) but
        wait, and are answered once the pace allows.
        """
        room = self.room(10)
        members = list(room.clients)
        old = room.clients["m07"]
        room.leave("m07")
        room.pump(500)
        for nick in members:
            pacer = room.clients[nick].pacer
            pacer.spent(room.clock(), int(pacer.tokens) + 5)
        fresh = ClientSession(
            "m07", lambda event: room.events["m07"].append(event), clock=room.clock, identity=old.identity,
            trust=old.trust,
        )  # fmt: skip
        before = len(room.recorded)
        room.add("m07", fresh)
        room.join("m07")
        room.pump(500)
        self.assertEqual([text for _, _, text in room.recorded[before:] if text.startswith("+scs1 reply ")], [])
        self.assertTrue(any(len(room.clients[nick].pairwise.waiting) for nick in members if nick != "m07"))
        taken = settle(room, members)
        self.assertEqual(incomplete(room, members), [])
        self.assertLess(taken, 30.0)  # before m07's openings time out: no retry was needed
        self.everyoneReadsEveryone(room, members)

    def netsplit(self, room: Room, nick: str) -> None:
        """The others see C{nick} quit in a netsplit; its client keeps running, with all its state."""
        for member in room.present:
            if member != nick:
                room.tell(member, ":%s!~%s@127.0.0.1 QUIT :*.net *.split" % (nick, nick))
        room.present.remove(nick)
        room.pump(500)

    def reconnect(self, room: Room, nick: str) -> None:
        """C{nick}'s client connects again, with everything it held (its events still told where they were)."""
        events, client = room.events[nick], room.clients[nick]
        room.add(nick, client)
        room.events[nick], client.emit = events, events.append

    def test_comesBackAfterANetsplitWithItsState(self) -> None:
        """
        The members renewed their chains when the netsplit took m07 away; when
        it heals, m07 (its sessions kept: no handshake) is admitted again and
        holds their new chains, and they its own new one.
        """
        room = self.room(20)
        members = list(room.clients)
        self.netsplit(room, "m07")
        before = len(room.recorded)
        self.reconnect(room, "m07")
        room.join("m07")
        self.assertLess(settle(room, members), HANDSHAKE_TIMEOUT)
        self.assertEqual(incomplete(room, members), [])
        self.assertEqual([text for _, _, text in room.recorded[before:] if text.startswith("+scs1 init ")], [])
        self.everyoneReadsEveryone(room, members)


class WaitingOpeningsTests(SynchronousTestCase):
    """The openings of forward room members over the budget wait for it (and only theirs)."""

    def setUp(self) -> None:
        self.clock = FakeClock(1000.0)
        self.waiting = WaitingOpenings(self.clock)

    def test_latestPerNickOldestDropped(self) -> None:
        self.assertIsNone(self.waiting.hold("bob", "Bob", b"one", None))
        self.assertIsNone(self.waiting.hold("bob", "Bob", b"two", None))
        self.assertEqual(len(self.waiting), 1)
        for number in range(MAX_WAITING - 1):
            self.assertIsNone(self.waiting.hold("n%d" % number, "n%d" % number, b"x", None))
        displaced = self.waiting.hold("last", "last", b"x", None)
        self.assertIsNotNone(displaced)
        assert displaced is not None
        self.assertEqual((displaced.sender, displaced.data), ("Bob", b"two"))
        self.assertEqual(len(self.waiting), MAX_WAITING)

    def test_takenWithinTheBudgetOldestFirstAndStaleDropped(self) -> None:
        self.waiting.hold("old", "old", b"1", None)
        self.clock.now += MAX_AGE / 2
        self.waiting.hold("bob", "bob", b"2", None)
        self.waiting.hold("carol", "carol", b"3", None)
        ready, stale = self.waiting.take(lambda nick: nick != "bob")
        self.assertEqual(([o.sender for o in ready], stale), (["old"], []))
        ready, stale = self.waiting.take(lambda nick: False)
        self.assertEqual((ready, stale), ([], []))
        self.clock.now += MAX_AGE + 1
        ready, stale = self.waiting.take(lambda nick: True)
        self.assertEqual((ready, [o.sender for o in stale]), ([], ["bob", "carol"]))
        self.assertEqual(len(self.waiting), 0)

    def test_onlyForwardMembersWaitAndTheBudgetHolds(self) -> None:
        """Over the budget: a member's opening waits and is answered later, within it; another nick's is dropped."""
        room = Room("alice", "bob")
        cmd.execute(room.clients["alice"], cmd.Layer(ROOM, "forward"))
        room.pump()
        alice = room.clients["alice"]
        alice.pacer.spent(room.clock(), int(alice.pacer.tokens) + 5)
        for sender, identity in (("bob", room.clients["bob"].identity), ("mallory", Identity.generate())):
            for line in initLines(identity, sender, "alice"):
                room.deliver(sender, "alice", line)
        self.assertEqual(room.take("alice"), [])
        self.assertEqual(len(alice.pairwise.waiting), 1)
        alice.expire()
        self.assertEqual(room.take("alice"), [])  # still no room in the pace: it waits on
        room.clock.now += alice.pacer.waitTime(room.clock()) + 0.01
        alice.expire()
        self.assertEqual([m.params[0] for m in room.take("alice")], ["bob"])
        self.assertEqual(len(alice.pairwise.waiting), 0)


class OpeningRetriesTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = FakeClock(1000.0)
        self.retries = OpeningRetries(self.clock, lambda: "me")

    def test_spreadDiffersPerPairAndSide(self) -> None:
        """The spread is the pair's own: the same each time, another for the other side, within L{SPREAD}."""
        self.assertEqual(spread("me", "bob"), spread("me", "bob"))
        self.assertNotEqual(spread("me", "bob"), spread("bob", "me"))
        self.assertNotEqual(spread("me", "bob"), spread("me", "carol"))
        self.assertTrue(all(0 <= spread("me", "n%d" % i) < SPREAD for i in range(50)))

    def test_backoffDoublesAndGivesUp(self) -> None:
        """Due after L{FIRST_DELAY} plus its spread, then twice as long each time, at most L{MAX_ATTEMPTS} times."""
        self.retries.waiting("bob")
        self.assertEqual(self.retries.due(lambda nick: False), [])
        times = []
        while len(times) < MAX_ATTEMPTS + 1 and self.clock.now < 1000.0 + 10_000:
            self.clock.now += 0.5
            if self.retries.due(lambda nick: False):
                times.append(self.clock.now)
        self.assertEqual(len(times), MAX_ATTEMPTS)
        share = spread("me", "bob")
        self.assertLessEqual(abs(times[0] - (1000.0 + FIRST_DELAY + share)), 0.5)
        for attempt, (before, after) in enumerate(zip(times, times[1:]), start=1):
            self.assertLessEqual(abs(after - before - (FIRST_DELAY * 2**attempt + share)), 0.5)
        self.assertEqual(self.retries.attempts("bob"), MAX_ATTEMPTS)

    def test_atMostAFewAtOnce(self) -> None:
        """Many members due at once (a relay listing nicks that never answer): a few per tick, the longest due first."""
        for number in range(3 * MAX_AT_ONCE):
            self.retries.waiting("n%02d" % number)
        self.clock.now += FIRST_DELAY + SPREAD
        first = self.retries.due(lambda nick: False)
        self.assertEqual(len(first), MAX_AT_ONCE)
        self.assertEqual(len(self.retries.due(lambda nick: False)), MAX_AT_ONCE)
        self.assertEqual(len(self.retries.due(lambda nick: False)), MAX_AT_ONCE)
        self.assertEqual(self.retries.due(lambda nick: False), [])

    def test_busyWaitsAndSettledForgets(self) -> None:
        """A handshake under way is waited for (no retry counted); a settled member starts afresh."""
        self.retries.waiting("bob")
        self.clock.now += FIRST_DELAY + SPREAD
        self.assertEqual(self.retries.due(lambda nick: True), [])
        self.assertEqual(self.retries.attempts("bob"), 0)
        self.assertEqual(self.retries.due(lambda nick: False), ["bob"])
        self.retries.settled("bob")
        self.assertEqual(self.retries.tracked(), [])
        self.retries.waiting("bob")
        self.assertEqual(self.retries.attempts("bob"), 0)
