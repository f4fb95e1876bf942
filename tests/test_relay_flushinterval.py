"""
C{--flush-interval}: an operator may trade a bounded latency for fewer
sends, at most one flush of everyone's output per interval.  Off (0) by
default: every reactor turn ends with a flush.
"""

from __future__ import annotations

from typing import List

from twisted.internet.task import Clock
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

from securechat.relay.factory import ConnectionSettings, RelayFactory
from securechat.relay.options import RelayOptions, makeFactory
from securechat.relay.state import RelayConfig

from .test_relay_protocol import Connection


class CountingConnection(Connection):
    """A connection whose transport counts the writes it was given."""

    def __init__(self, factory: RelayFactory) -> None:
        super().__init__(factory)
        self.writes: List[bytes] = []
        write = self.transport.write

        def counting(data: bytes) -> None:
            self.writes.append(data)
            write(data)

        self.transport.write = counting  # type: ignore[method-assign]


class FlushIntervalTests(SynchronousTestCase):
    def room(self, interval: float) -> List[CountingConnection]:
        self.clock = Clock()
        self.clock.advance(1000)
        settings = ConnectionSettings(floodBurst=1000, floodRate=1000.0, flushInterval=interval)
        self.factory = RelayFactory(RelayConfig(), settings, self.clock)
        members = []
        for nick in (b"alice", b"bob"):
            member = CountingConnection(self.factory)
            member.send(b"NICK %s\r\nUSER %s 0 * :x\r\nJOIN #lab\r\n" % (nick, nick))
            members.append(member)
        # Let every flush the registrations scheduled run, let an interval
        # pass, then start clean.
        self.clock.advance(0.01)
        self.clock.advance(0.01)
        for member in members:
            member.transport.clear()
            del member.writes[:]
        return members

    def speak(self, alice: CountingConnection, turns: int) -> None:
        """C{turns} reactor turns, each with one message from alice."""
        for n in range(turns):
            alice.protocol.dataReceived(b"PRIVMSG #lab :message %d\r\n" % (n,))
            self.clock.advance(0)

    def test_everyTurnByDefault(self) -> None:
        """Without the option each turn's message leaves in its own write."""
        alice, bob = self.room(0.0)
        self.speak(alice, 3)
        self.assertEqual(len(bob.writes), 3)

    def test_turnsShareOneFlush(self) -> None:
        """
        With an interval, the first message of a quiet relay leaves at once;
        those of the next turns within the interval wait for one flush, and
        leave together, in order, in one write.
        """
        alice, bob = self.room(0.005)
        self.speak(alice, 1)
        self.assertEqual(len(bob.writes), 1)
        self.speak(alice, 3)
        self.assertEqual(len(bob.writes), 1)
        self.clock.advance(0.004)
        self.assertEqual(len(bob.writes), 1)
        self.clock.advance(0.001)
        self.assertEqual(len(bob.writes), 2)
        texts = [line.split(b" :", 1)[1] for line in bob.writes[1].split(b"\r\n") if line]
        self.assertEqual(texts, [b"message 0", b"message 1", b"message 2"])

    def test_quietRelayFlushesAtOnce(self) -> None:
        """Past the interval since the last flush, a message is not held."""
        alice, bob = self.room(0.005)
        self.speak(alice, 1)
        self.clock.advance(0.01)
        self.speak(alice, 1)
        self.assertEqual(len(bob.writes), 2)

    def test_option(self) -> None:
        """C{--flush-interval} is milliseconds, 0 to 100; the default is 0."""
        options = RelayOptions()
        options.parseOptions([])
        self.assertEqual(makeFactory(options, Clock()).settings.flushInterval, 0.0)
        options = RelayOptions()
        options.parseOptions(["--flush-interval", "5"])
        self.assertEqual(makeFactory(options, Clock()).settings.flushInterval, 0.005)
        for bad in ("-1", "101", "soon"):
            self.assertRaises(usage.UsageError, RelayOptions().parseOptions, ["--flush-interval", bad])
