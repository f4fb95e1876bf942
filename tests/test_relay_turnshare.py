"""
Peers that flood share a reactor turn's lines (L{TurnShare}): a round of
slices stays about L{YIELD_LINES} lines however many flood, every flooder
still gets L{LEAST_LINES} a turn, and a peer with one line is answered at once.
"""

from __future__ import annotations

from typing import List

from twisted.trial.unittest import SynchronousTestCase

from securechat.relay.factory import ConnectionSettings, RelayFactory
from securechat.relay.limits import TurnShare
from securechat.relay.protocol import LEAST_LINES, OPEN, THROTTLED, YIELD_LINES
from securechat.relay.state import RelayConfig

from .test_relay_protocol import Connection
from .test_relay_turns import OpenBucketCase


class TurnShareTests(SynchronousTestCase):
    """The sans-IO share."""

    def test_aloneGetsTheTurn(self) -> None:
        share = TurnShare(64, 8)
        self.assertEqual((share.waiting, share.slice()), (0, 64))

    def test_sharedAmongThoseWaiting(self) -> None:
        """The turn is divided among those waiting and the one asking."""
        share = TurnShare(64, 8)
        peers = [object() for _ in range(3)]
        for peer in peers:
            share.wait(peer)
        self.assertEqual((share.waiting, share.slice()), (3, 16))
        share.done(peers[0])
        self.assertEqual((share.waiting, share.slice()), (2, 21))

    def test_leastLines(self) -> None:
        """However many wait, each gets C{leastLines}."""
        share = TurnShare(64, 8)
        for _ in range(100):
            share.wait(object())
        self.assertEqual(share.slice(), 8)

    def test_waitAndDoneAreIdempotent(self) -> None:
        """A peer counts once, and a peer that is not waiting can be done (a throttled one, a lost one)."""
        share = TurnShare(64, 8)
        peer = object()
        share.done(peer)
        share.wait(peer)
        share.wait(peer)
        self.assertEqual(share.waiting, 1)
        share.done(peer)
        share.done(peer)
        self.assertEqual(share.waiting, 0)

    def test_bounds(self) -> None:
        for turn, least in ((8, 0), (8, 9), (0, 0)):
            self.assertRaises(ValueError, TurnShare, turn, least)


class FloodersShareTests(OpenBucketCase):
    """Through the adapter, with the flood bucket opened, as the soak runs it."""

    def answered(self, connection: Connection) -> int:
        """Lines handled so far (each PING queued one PONG; nothing flushed yet)."""
        return b"".join(connection.protocol._outbox).count(b"\r\n") + connection.transport.value().count(b"\r\n")

    def flood(self, connections: List[Connection], count: int) -> None:
        for connection in connections:
            connection.protocol.dataReceived(b"".join(b"PING :%d\r\n" % (i,) for i in range(count)))

    def nextTurn(self) -> None:
        """Run the slices that are due now (not those they schedule: the turn after)."""
        due = [call for call in self.clock.getDelayedCalls() if call.getTime() <= self.clock.seconds()]
        for call in due:
            if call.active():
                self.clock.calls.remove(call)
                call.called = 1
                call.func(*call.args, **call.kw)

    def test_sliceShrinksWithThoseWaiting(self) -> None:
        """
        Each flooder's first read is handled in a slice the smaller for the
        flooders already waiting; in the turn after, each of the four gets a
        quarter; every line is answered, in order, in the end.
        """
        peers = [self.registered("p%d" % (i,)) for i in range(4)]
        count = YIELD_LINES * 2
        self.flood(peers, count)
        self.assertEqual([self.answered(p) for p in peers],
                         [YIELD_LINES, YIELD_LINES // 2, YIELD_LINES // 3, YIELD_LINES // 4])
        self.assertEqual(self.factory.turnShare.waiting, 4)
        before = [self.answered(p) for p in peers]
        self.nextTurn()
        self.assertEqual([self.answered(p) - b for p, b in zip(peers, before)], [YIELD_LINES // 4] * 4)
        self.clock.advance(0)
        for peer in peers:
            self.assertEqual([m.params[-1] for m in peer.lines()], [str(i) for i in range(count)])
            self.assertEqual((peer.protocol.phase, peer.transport.producerState), (OPEN, "producing"))
        self.assertEqual(self.factory.turnShare.waiting, 0)

    def test_leastLinesEach(self) -> None:
        """With more flooders than the turn's lines go round, each still gets L{LEAST_LINES} a turn."""
        many = YIELD_LINES // LEAST_LINES + 4
        peers = [self.registered("p%d" % (i,)) for i in range(many)]
        self.flood(peers, YIELD_LINES * 2)
        before = [self.answered(p) for p in peers]
        self.assertEqual(before[-1], LEAST_LINES)
        self.nextTurn()
        self.assertEqual([self.answered(p) - b for p, b in zip(peers, before)], [LEAST_LINES] * many)

    def test_oneLineAnsweredAtOnce(self) -> None:
        """While others flood, a peer's single line is handled in the read that brings it."""
        peers = [self.registered("p%d" % (i,)) for i in range(6)]
        self.flood(peers, YIELD_LINES * 4)
        witness = self.registered("witness")
        witness.protocol.dataReceived(b"PING :now\r\n")
        self.assertEqual(self.answered(witness), 1)
        self.assertEqual(witness.protocol.phase, OPEN)

    def test_lostPeerLeavesTheShare(self) -> None:
        """A flooder that disconnects while waiting no longer shrinks the others' slices."""
        alice, bob = self.registered("alice"), self.registered("bob")
        self.flood([alice, bob], YIELD_LINES * 3)
        self.assertEqual(self.factory.turnShare.waiting, 2)
        bob.lose()
        self.assertEqual(self.factory.turnShare.waiting, 1)
        before = self.answered(alice)
        self.nextTurn()
        self.assertEqual(self.answered(alice) - before, YIELD_LINES)

    def test_throttledByTheBucketDoesNotWait(self) -> None:
        """A peer paced by its flood bucket is not one of those sharing a turn."""
        factory = RelayFactory(RelayConfig(), ConnectionSettings(floodBurst=5, floodRate=1.0), self.clock)
        connection = Connection(factory)
        connection.send(b"NICK carol\r\nUSER carol 0 * :x\r\n" + b"PING :x\r\n" * 10)
        self.assertEqual(connection.protocol.phase, THROTTLED)
        self.assertEqual(factory.turnShare.waiting, 0)
