"""
One peer's big read does not hold up the others: the relay handles at most
L{YIELD_LINES} of its lines, lets the reactor turn, then goes on.
"""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from securechat.relay.factory import ConnectionSettings, RelayFactory
from securechat.relay.opers import OperEntry, hashPassword
from securechat.relay.protocol import CLOSING, NO_LINES, OPEN, THROTTLED, YIELD_LINES
from securechat.relay.state import RelayConfig

from .test_relay_protocol import Connection


class OpenBucketCase(SynchronousTestCase):
    """A relay with the flood bucket opened, as the benchmarks and the soak run it (no tests of its own)."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1000)
        settings = ConnectionSettings(floodBurst=1_000_000, floodRate=1_000_000.0)
        self.factory = RelayFactory(RelayConfig(), settings, self.clock)

    def registered(self, nick: str) -> Connection:
        connection = Connection(self.factory)
        connection.send(b"NICK %s\r\nUSER %s 0 * :x\r\n" % (nick.encode(), nick.encode()))
        self.assertEqual(connection.commands()[0], "001")
        return connection


class YieldTests(OpenBucketCase):
    """One read of thousands of lines yields to the others."""

    def test_othersServedBetweenSlices(self) -> None:
        """
        A read of many lines is handled a slice at a time, the peer paused
        in between; another peer's line is handled before the rest, and
        every line of the big read is answered, in order.
        """
        alice, bob = self.registered("alice"), self.registered("bob")
        count = YIELD_LINES * 3 + 5
        alice.protocol.dataReceived(b"".join(b"PING :%d\r\n" % (i,) for i in range(count)))
        self.assertEqual((alice.protocol.phase, alice.transport.producerState), (THROTTLED, "paused"))
        bob.protocol.dataReceived(b"PING :bob\r\n")
        # Bob's line is handled at once, with only the first slice of Alice's
        # (both still queued: the turn's flush has not run).
        self.assertEqual(len(bob.protocol._outbox), 1)
        self.assertEqual(b"".join(alice.protocol._outbox).count(b"\r\n"), YIELD_LINES)
        self.assertEqual([m.params[-1] for m in bob.lines()], ["bob"])
        answers = [m.params[-1] for m in alice.lines()]
        self.assertEqual(answers, [str(i) for i in range(count)])
        self.assertEqual((alice.protocol.phase, alice.transport.producerState), (OPEN, "producing"))

    def test_oneSlicePerTurn(self) -> None:
        """Each reactor turn (a timed call at zero delay) takes one slice more."""
        alice = self.registered("alice")
        count = YIELD_LINES * 2 + 1
        alice.protocol.dataReceived(b"".join(b"PING :%d\r\n" % (i,) for i in range(count)))
        handled = []
        while True:
            # What the factory's flush wrote for the slices handled so far.
            self.factory.flush()
            handled.append(alice.transport.value().count(b"\r\n"))
            call = alice.protocol._resumeCall
            if call is None:
                break
            self.assertEqual(call.getTime(), self.clock.seconds())
            self.clock.calls.remove(call)
            call.func()  # the next turn's slice
        self.assertEqual(handled, [YIELD_LINES, 2 * YIELD_LINES, count])
        self.assertEqual(alice.protocol.phase, OPEN)

    def test_quitInASliceEndsIt(self) -> None:
        """A QUIT among the lines: nothing after it is handled, no slice is left scheduled."""
        alice = self.registered("alice")
        lines = [b"PING :%d\r\n" % (i,) for i in range(YIELD_LINES * 2)]
        lines[YIELD_LINES + 3] = b"QUIT :bye\r\n"
        alice.send(b"".join(lines))
        out = alice.lines()
        self.assertEqual(out[-1].command, "ERROR")
        self.assertEqual(len(out), YIELD_LINES + 4)
        self.assertEqual(alice.protocol.phase, CLOSING)
        self.assertEqual([c for c in self.clock.getDelayedCalls() if c.func == alice.protocol._unthrottle], [])

    def test_idleHoldsNoLines(self) -> None:
        """
        Once its lines are handled a connection keeps no container for
        them: the shared empty L{NO_LINES}, not a deque of its own (768
        bytes an idle connection).
        """
        alice = self.registered("alice")
        self.assertIs(alice.protocol._pending, NO_LINES)
        alice.protocol.dataReceived(b"PING :a\r\nPING :b\r\nPING :unfinish")
        self.assertIs(alice.protocol._pending, NO_LINES)
        alice.protocol.dataReceived(b"ed\r\n")
        self.assertEqual([m.params[-1] for m in alice.lines()], ["a", "b", "unfinished"])
        self.assertIs(alice.protocol._pending, NO_LINES)


class KillMidSliceTests(SynchronousTestCase):
    """An operator's KILL of a peer whose big read is being handled a slice a turn."""

    def test_killedPeerStopsBetweenSlices(self) -> None:
        """
        The victim, paused between slices, has nothing more handled: its
        room sees its messages up to the KILL, then one QUIT, and no slice
        is left scheduled; the connection closes after its ERROR.
        """
        clock = Clock()
        clock.advance(1000)
        settings = ConnectionSettings(floodBurst=1_000_000, floodRate=1_000_000.0)
        config = RelayConfig(opers=(OperEntry("admin", "*@*", hashPassword(b"pw", logN=4)),))
        factory = RelayFactory(config, settings, clock)
        connections = []
        for nick in ("admin", "bob", "carol"):
            connection = Connection(factory)
            connection.send(b"NICK %s\r\nUSER %s 0 * :x\r\nJOIN #lab\r\n" % (nick.encode(), nick.encode()))
            connections.append(connection)
        admin, bob, carol = connections
        factory.flush()
        carol.lines()
        bob.protocol.dataReceived(b"".join(b"PRIVMSG #lab :%d\r\n" % (i,) for i in range(YIELD_LINES * 3)))
        self.assertEqual(bob.protocol.phase, THROTTLED)
        admin.protocol.dataReceived(b"OPER admin pw\r\nKILL bob :flooding\r\n")
        factory.flush()
        clock.advance(0)  # the turn in which bob's next slice would have run
        clock.advance(0)
        seen = carol.lines()
        said = [m.params[-1] for m in seen if m.command == "PRIVMSG"]
        self.assertEqual(said, [str(i) for i in range(YIELD_LINES)])
        self.assertEqual([(m.command, m.params[-1]) for m in seen[len(said):]],
                         [("QUIT", "Killed (admin (flooding))")])
        self.assertEqual(bob.protocol.phase, CLOSING)
        self.assertTrue(bob.transport.disconnecting)
        self.assertTrue(bob.transport.value().endswith(b"(Killed (admin (flooding)))\r\n"))
        self.assertEqual([c for c in clock.getDelayedCalls() if c.func == bob.protocol._unthrottle], [])
        self.assertNotIn("bob", factory.state.clients)
