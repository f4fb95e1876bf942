"""
Tests for the relay's Twisted adapter: pacing, SendQ, timeouts, bad input and
connection limits, with L{StringTransport} and L{Clock}.
"""

from __future__ import annotations

from typing import List

from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import formatEvent, globalLogPublisher
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from securechat.relay.factory import ConnectionSettings, RelayFactory
from securechat.relay.limits import SendQueue, TokenBucket
from securechat.relay.protocol import (
    CLOSE_GRACE,
    CLOSING,
    OPEN,
    SPLIT_LINES,
    THROTTLED,
    RefusingProtocol,
    RelayProtocol,
)
from securechat.relay.state import RelayConfig
from securechat.wire import Message, parseLine


class Connection:
    """One fake connection: a protocol on a L{StringTransport}."""

    def __init__(self, factory: RelayFactory, host: str = "127.0.0.1", port: int = 40000) -> None:
        address = IPv4Address("TCP", host, port)
        self.clock = factory.clock
        self.protocol = factory.buildProtocol(address)
        self.transport = StringTransport(peerAddress=address)
        self.protocol.makeConnection(self.transport)

    def send(self, data: bytes) -> None:
        """Deliver C{data}, then let the reactor turn end (and flush)."""
        self.protocol.dataReceived(data)
        self.clock.advance(0)

    def lines(self) -> List[Message]:
        """What the relay wrote, once the flush it scheduled has run."""
        self.clock.advance(0)
        data = self.transport.value()
        self.transport.clear()
        return [parseLine(line) for line in data.split(b"\r\n") if line]

    def commands(self) -> List[str]:
        return [m.command for m in self.lines()]

    def lose(self) -> None:
        self.protocol.connectionLost(Failure(ConnectionDone()))


class _PausingTransport(StringTransport):
    """
    A L{StringTransport} that pauses its streaming producer once more than
    C{bufferSize} bytes are held, as Twisted's C{FileDescriptor.write} does.
    """

    def __init__(self, original: StringTransport, bufferSize: int) -> None:
        super().__init__(peerAddress=original.getPeer())
        self.bufferSize = bufferSize
        self.registerProducer(original.producer, original.streaming)
        self.full = False

    def write(self, data: bytes) -> None:
        super().write(data)
        if len(self.value()) > self.bufferSize and not self.full:
            self.full = True
            self.producer.pauseProducing()


class ProtocolTestCase(SynchronousTestCase):
    settings = ConnectionSettings()
    config = RelayConfig()

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1000)
        self.factory = RelayFactory(self.config, self.settings, self.clock)

    def registered(self, nick: str, **kw) -> Connection:
        connection = Connection(self.factory, **kw)
        connection.send(b"NICK %s\r\nUSER %s 0 * :x\r\n" % (nick.encode(), nick.encode()))
        self.assertEqual(connection.commands()[0], "001")
        return connection


class BadInputTests(ProtocolTestCase):
    config = RelayConfig(maxLine=64)

    def test_overLongLineDroppedNextLinesKept(self) -> None:
        """417 for the long line; the valid lines in the same chunk still work."""
        c = self.registered("alice")
        c.send(b"PING :one\r\n" + b"PRIVMSG #x :" + b"y" * 100 + b"\r\nPING :two\r\n")
        lines = c.lines()
        self.assertEqual([m.command for m in lines], ["PONG", "417", "PONG"])
        self.assertEqual(lines[2].params[-1], "two")
        self.assertFalse(c.transport.disconnecting)

    def test_invalidUtf8AnsweredNotFatal(self) -> None:
        c = self.registered("alice")
        c.send(b"PRIVMSG #x :\xc3\x28\r\nPING :ok\r\n")
        lines = c.lines()
        self.assertEqual(
            lines[0], Message("FAIL", ("*", "INVALID_UTF8", "Line is not valid UTF-8"), "securechat.local")
        )
        self.assertEqual(lines[1].command, "PONG")

    def test_nulAndCrRejected(self) -> None:
        c = self.registered("alice")
        c.send(b"PING :a\x00b\r\nPING :a\rb\r\n")
        self.assertEqual([m.params[1] for m in c.lines()], ["INVALID_CHARACTER"] * 2)

    def test_emptyLinesIgnored(self) -> None:
        c = self.registered("alice")
        c.send(b"\r\n\n\r\n")
        self.assertEqual(c.transport.value(), b"")

    def test_bugDropsOnlyThatClient(self) -> None:
        """
        An exception inside the state is logged with its traceback, that
        client is dropped and its peers see why; the relay goes on.
        """
        alice, bob = self.registered("alice"), self.registered("bob")
        alice.send(b"JOIN #lab\r\n")
        bob.send(b"JOIN #lab\r\n")
        alice.lines()

        def broken(client, params):
            raise ZeroDivisionError("a bug")

        self.factory.state._dispatch["TOPIC"] = broken
        events: List[dict] = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        bob.send(b"TOPIC #lab :x\r\nPING :never\r\n")
        self.assertTrue(bob.transport.disconnected)
        self.assertNotIn(b"PONG", bob.transport.value())
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)
        self.assertTrue(any("log_failure" in e for e in events))
        bob.lose()
        self.assertEqual(alice.lines(), [Message("QUIT", ("Internal error",), "bob!~bob@127.0.0.1")])
        alice.send(b"PING :still\r\n")
        self.assertEqual(alice.commands(), ["PONG"])

    def test_bugOnTheFastPathDropsOnlyThatClient(self) -> None:
        """
        The same on the bytes fast path (several messages in one read): the
        lines before the failing one were delivered, the client is dropped,
        the lines after it are not handled.
        """
        alice, bob = self.registered("alice"), self.registered("bob")
        self.registered("carol")
        alice.send(b"JOIN #lab\r\n")
        bob.send(b"JOIN #lab\r\n")
        alice.lines()

        def broken(data: bytes) -> None:
            raise ZeroDivisionError("a bug")

        self.factory.state.clients["carol"].write = broken
        bob.send(b"PRIVMSG alice :first\r\nPRIVMSG carol :boom\r\nPRIVMSG alice :never\r\n")
        self.assertTrue(bob.transport.disconnected)
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)
        bob.lose()
        self.assertEqual(
            alice.lines(),
            [Message("PRIVMSG", ("alice", "first"), "bob!~bob@127.0.0.1"),
             Message("QUIT", ("Internal error",), "bob!~bob@127.0.0.1")],
        )


class LifecycleLogTests(ProtocolTestCase):
    def test_oneEventPerStep(self) -> None:
        """
        A connection's life is logged as connect, register, join, part and
        one disconnect naming the nick, the host and the reason.
        """
        events: List[dict] = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        alice = self.registered("alice")
        alice.send(b"JOIN #lab\r\nPART #lab\r\nQUIT :gone fishing\r\n")
        alice.lose()
        texts = [formatEvent(e) for e in events if e.get("log_namespace", "").startswith("securechat.relay")]
        self.assertEqual(
            texts,
            [
                "connect from 127.0.0.1",
                "register alice!~alice@127.0.0.1",
                "join alice #lab",
                "part alice #lab",
                "disconnect alice@127.0.0.1: Quit: gone fishing",
            ],
        )


class BatchingTests(ProtocolTestCase):
    def test_oneWritePerRecipientPerTurn(self) -> None:
        """
        Messages reaching a member within one reactor turn, from several
        senders, leave in one C{transport.write}, in order.
        """
        alice, bob, carol = (self.registered(n) for n in ("alice", "bob", "carol"))
        for c in (alice, bob, carol):
            c.send(b"JOIN #lab\r\n")
            c.lines()
        writes: List[bytes] = []
        original = carol.transport.write

        def countingWrite(data: bytes) -> None:
            writes.append(data)
            original(data)

        carol.transport.write = countingWrite
        alice.protocol.dataReceived(b"PRIVMSG #lab :one\r\nPRIVMSG #lab :two\r\n")
        bob.protocol.dataReceived(b"PRIVMSG #lab :three\r\n")
        self.assertEqual(writes, [], "nothing leaves before the turn ends")
        self.clock.advance(0)
        self.assertEqual(len(writes), 1)
        self.assertEqual([m.params[1] for m in carol.lines()], ["one", "two", "three"])


class FloodTests(ProtocolTestCase):
    settings = ConnectionSettings(floodBurst=5, floodRate=2.0)

    def test_phases(self) -> None:
        """Open; throttled while the bucket is empty; open again; closing for good after QUIT."""
        c = self.registered("alice")
        self.assertEqual(c.protocol.phase, OPEN)
        self.clock.advance(10)
        c.send(b"PING :x\r\n" * 6)
        self.assertEqual((c.protocol.phase, c.transport.producerState), (THROTTLED, "paused"))
        self.clock.advance(0.5)
        self.assertEqual((c.protocol.phase, c.transport.producerState), (OPEN, "producing"))
        self.clock.advance(10)
        c.lines()
        c.send(b"QUIT :bye\r\nPING :late\r\n")
        self.assertEqual(c.protocol.phase, CLOSING)
        self.assertEqual([m.command for m in c.lines()], ["ERROR"])
        c.send(b"PING :later\r\n")
        self.assertEqual(c.lines(), [])

    def test_pacedNotDropped(self) -> None:
        """
        Past the burst the relay stops reading from the flooder; every line is
        still answered, in order, as tokens come back.
        """
        c = self.registered("alice")
        self.clock.advance(10)  # refill after registration
        c.send(b"".join(b"PING :%d\r\n" % (i,) for i in range(12)))
        self.assertEqual([m.params[-1] for m in c.lines()], [str(i) for i in range(5)])
        self.assertEqual(c.transport.producerState, "paused")
        self.clock.advance(0.5)
        self.assertEqual([m.params[-1] for m in c.lines()], ["5"])
        self.clock.pump([0.5] * 6)  # 2 lines/s: six more
        self.assertEqual([m.params[-1] for m in c.lines()], ["6", "7", "8", "9", "10", "11"])
        self.assertEqual(c.transport.producerState, "producing")

    def test_unreadLinesStayBytes(self) -> None:
        """
        Lines the bucket cannot pay for yet stay as the bytes received, not
        as thousands of split lines: one read of short lines once cost some
        fourteen times its size in memory for as long as reading it took.
        Every line is still handled, in order, and long lines among them
        still get their C{417}.
        """
        c = self.registered("alice")
        self.clock.advance(10)
        lines = [b"PING :%d" % (i,) for i in range(3000)]
        lines[1500] = b"PING :" + b"x" * 600
        c.send(b"\r\n".join(lines) + b"\r\n" + b"\n" * 5000)
        self.assertLessEqual(len(c.protocol._pending), SPLIT_LINES)
        answers = c.lines()
        # Bounded: a relay that dropped the peer while paused made this hang.
        for _ in range(10_000):
            if c.transport.producerState != "paused":
                break
            self.assertFalse(c.transport.disconnecting)
            self.clock.advance(1)
            self.assertLessEqual(len(c.protocol._pending), SPLIT_LINES)
            answers.extend(c.lines())
        else:
            self.fail("still paused after 10,000 s")
        self.assertEqual(answers[1500].command, "417")
        del answers[1500], lines[1500]
        self.assertEqual([m.params[-1].encode() for m in answers], [line[6:] for line in lines])
        self.assertEqual((c.protocol._unread, len(c.protocol._pending)), (b"", 0))

    def test_othersUnaffected(self) -> None:
        alice, bob = self.registered("alice"), self.registered("bob")
        self.clock.advance(10)
        alice.send(b"PING :x\r\n" * 50)
        self.assertEqual(alice.transport.producerState, "paused")
        bob.send(b"PING :bob\r\n")
        self.assertEqual(bob.commands(), ["PONG"])
        self.assertEqual(bob.transport.producerState, "producing")


class SendQueueTests(ProtocolTestCase):
    settings = ConnectionSettings(sendq=1000, floodBurst=1000, floodRate=1000)

    def test_slowReaderDropped(self) -> None:
        """
        Once the transport says its buffer is full, bytes written past the
        SendQ limit drop the reader with ERROR and free it at once.
        """
        alice, slow = self.registered("alice"), self.registered("slow")
        alice.send(b"JOIN #lab\r\n")
        slow.send(b"JOIN #lab\r\n")
        slow.transport.producer.pauseProducing()  # what a full TCP buffer does
        slow.transport.clear()
        message = b"PRIVMSG #lab :" + b"z" * 80 + b"\r\n"
        # Forwarded with alice's prefix, each is 120 bytes: 8 fit in 1000.
        for _ in range(8):
            alice.send(message)
        self.assertEqual(len(slow.transport.value()), 960)
        self.assertFalse(slow.transport.disconnecting)
        alice.send(message)
        self.assertTrue(slow.transport.disconnected)
        self.assertTrue(slow.transport.value().endswith(b"ERROR :SendQ exceeded\r\n"))
        written = len(slow.transport.value())
        alice.send(message)
        self.assertEqual(len(slow.transport.value()), written, "nothing more is queued for it")
        slow.lose()
        self.assertNotIn(
            "_abort", [call.func.__name__ for call in self.clock.getDelayedCalls()]
        )
        quits = [m for m in alice.lines() if m.command == "QUIT"]
        self.assertEqual(quits[0].params, ("SendQ exceeded",))

    def test_drainResetsTheCount(self) -> None:
        alice, reader = self.registered("alice"), self.registered("reader")
        alice.send(b"JOIN #lab\r\n")
        reader.send(b"JOIN #lab\r\n")
        message = b"PRIVMSG #lab :" + b"z" * 80 + b"\r\n"
        for _ in range(5):
            reader.transport.producer.pauseProducing()
            for _ in range(8):
                alice.send(message)
            reader.transport.producer.resumeProducing()
        self.assertFalse(reader.transport.disconnecting)

    def test_bigBurstToHealthyReader(self) -> None:
        """
        One turn's output larger than the SendQ, written to a reader whose
        transport was not full, is held by the transport: the write that
        fills it (and pauses us) is not counted, so the reader stays.  Only
        what comes after, while it is still full, counts.
        """
        alice, reader = self.registered("alice"), self.registered("reader")
        pausing = _PausingTransport(reader.transport, bufferSize=500)
        reader.transport = pausing
        reader.protocol.transport = pausing
        alice.send(b"JOIN #lab\r\n")
        reader.send(b"JOIN #lab\r\n")
        pausing.clear()
        message = b"PRIVMSG #lab :" + b"z" * 80 + b"\r\n"
        alice.send(message * 12)  # 12 x 120 = 1440 bytes in one turn, > 1000
        self.assertEqual(len(pausing.value()), 1440)
        self.assertTrue(reader.protocol.sendq.blocked, "the transport paused us")
        self.assertFalse(pausing.disconnecting, "a burst is not a slow reader")
        alice.send(message * 8)  # 960 more while full: within the SendQ
        self.assertFalse(pausing.disconnecting)
        alice.send(message)  # past it: now it is a slow reader
        self.assertTrue(pausing.disconnected)
        self.assertTrue(pausing.value().endswith(b"ERROR :SendQ exceeded\r\n"))

    def test_sendNowFirstTransportForTheRest(self) -> None:
        """
        A flush offers its bytes to the direct sender first and gives the
        transport only what it returns; while the SendQ counts (the
        transport is full), everything goes to the transport.
        """
        alice = self.registered("alice")
        offered: List[bytes] = []

        def halfNow(data: bytes) -> bytes:
            offered.append(data)
            return data[len(data) // 2:]

        alice.protocol._sendNow = halfNow
        alice.send(b"PING :abcdefgh\r\n")
        line = b":securechat.local PONG securechat.local abcdefgh\r\n"
        self.assertEqual(offered, [line])
        self.assertEqual(alice.transport.value(), line[len(line) // 2:])
        alice.transport.clear()
        alice.transport.producer.pauseProducing()
        alice.send(b"PING :x\r\n")
        self.assertEqual(len(offered), 1, "blocked: not offered")
        self.assertTrue(alice.transport.value().endswith(b" x\r\n"))

    def test_sendQueueUnit(self) -> None:
        q = SendQueue(10)
        self.assertTrue(q.written(100), "not blocked: the transport holds it")
        q.pause()
        self.assertTrue(q.written(10))
        self.assertFalse(q.written(1))
        q.resume()
        self.assertEqual(q.backlog, 0)


class TimeoutTests(ProtocolTestCase):
    settings = ConnectionSettings(registrationTimeout=30, pingInterval=120, pingTimeout=60)

    def test_registrationTimeout(self) -> None:
        c = Connection(self.factory)
        c.send(b"NICK lazy\r\n")
        self.clock.advance(29)
        self.assertFalse(c.transport.disconnecting)
        self.clock.advance(2)
        self.assertEqual(c.lines()[-1].params[0], "Closing Link: 127.0.0.1 (Registration timed out)")
        self.assertTrue(c.transport.disconnecting)
        self.clock.advance(CLOSE_GRACE)
        self.assertTrue(c.transport.disconnected, "a close that stalls is cut")

    def test_registrationTimerLeavesAClosingClientAlone(self) -> None:
        """
        A registered client that quits while its close still flushes is not
        "Registration timed out" when the timer fires meanwhile: its QUIT
        is the reason its peers see, and no timeout is logged.
        """
        alice, bob = self.registered("alice"), self.registered("bob")
        alice.send(b"JOIN #lab\r\n")
        bob.send(b"JOIN #lab\r\n")
        self.clock.advance(25)
        bob.send(b"QUIT :bye\r\n")
        self.assertTrue(bob.transport.disconnecting)
        alice.lines()
        events: List[dict] = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        self.clock.advance(6)  # the registration timeout, within CLOSE_GRACE
        bob.lose()
        quits = [m for m in alice.lines() if m.command == "QUIT"]
        self.assertEqual([m.params for m in quits], [("Quit: bye",)])
        self.assertEqual(
            [e for e in events if "registration timeout" in formatEvent(e)], []
        )

    def test_pingThenTimeout(self) -> None:
        c = self.registered("alice")
        self.clock.advance(119)
        c.send(b"PING :busy\r\n")
        c.lines()
        # To the second: PING after exactly pingInterval of silence, the
        # drop after exactly pingTimeout without an answer.
        self.clock.advance(119)
        self.assertEqual(c.lines(), [], "activity postpones the PING")
        self.clock.advance(1)
        self.assertEqual(c.lines(), [Message("PING", ("securechat.local",))])
        self.clock.advance(59)
        self.assertFalse(c.transport.disconnecting)
        self.clock.advance(1)
        self.assertIn("Ping timeout", c.lines()[-1].params[0])
        self.assertTrue(c.transport.disconnecting)

    def test_pongKeepsAlive(self) -> None:
        c = self.registered("alice")
        self.clock.advance(151)
        self.assertEqual(c.commands(), ["PING"])
        c.send(b"PONG :securechat.local\r\n")
        self.clock.advance(60)
        self.assertFalse(c.transport.disconnecting)
        self.clock.advance(200)
        self.assertEqual(c.commands(), ["PING"])

    def test_timersCancelledOnLoss(self) -> None:
        c = self.registered("alice")
        c.lose()
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_unfinishedLineIsNotActivity(self) -> None:
        """
        A peer that sends one byte a second of a line it never finishes is
        idle: pinged after pingInterval, cut pingTimeout later, like a
        silent one.  Bytes are not activity; complete lines are.
        """
        c = self.registered("alice")
        trickle = b"PRIVMSG #nowhere :" + b"a" * 200
        for second in range(1, 120):
            c.send(trickle[second - 1 : second])
            self.clock.advance(1)
        self.assertEqual(c.lines(), [])
        c.send(trickle[119:120])
        self.clock.advance(1)
        self.assertEqual(c.lines(), [Message("PING", ("securechat.local",))])
        for second in range(121, 180):
            c.send(trickle[second - 1 : second])
            self.clock.advance(1)
        self.assertFalse(c.transport.disconnecting)
        c.send(trickle[179:180])
        self.clock.advance(1)
        self.assertIn("Ping timeout", c.lines()[-1].params[0])
        self.assertTrue(c.transport.disconnecting)

    def test_trickledLineCountsWhenComplete(self) -> None:
        """A line sent a byte at a time is activity when its CRLF arrives."""
        c = self.registered("alice")
        line = b"PRIVMSG alice :" + b"b" * 83 + b"\r\n"  # 100 bytes
        for i in range(len(line)):
            c.send(line[i : i + 1])
            self.clock.advance(1)
        self.assertEqual(c.commands(), ["PRIVMSG"])
        # Its CRLF came 1 s ago: PING 120 s after that, not after its start.
        self.clock.advance(118)
        self.assertEqual(c.lines(), [], "idle counted from the line's end")
        self.clock.advance(1)
        self.assertEqual(c.commands(), ["PING"])


class ThrottledPingTests(ProtocolTestCase):
    settings = ConnectionSettings(
        floodBurst=5, floodRate=1.0, registrationTimeout=30, pingInterval=120, pingTimeout=60
    )

    def test_throttledPeerNotTimedOut(self) -> None:
        """
        While the relay does not read from a flooder, the peer's answer to a
        PING waits unread behind its own lines: the relay must not drop it
        for a silence that is the relay's own pause.  Once its lines are
        read, pings work as before.
        """
        c = self.registered("alice")
        self.clock.advance(10)
        c.send(b"PONG :x\r\n" * 400)  # 400 s of reading at 1 line/s
        self.assertEqual(c.transport.producerState, "paused")
        for _ in range(390):
            self.clock.advance(1)
        self.assertFalse(c.transport.disconnecting, "dropped while throttled")
        self.clock.advance(10)
        self.assertEqual(c.transport.producerState, "producing")
        self.clock.advance(300)
        self.assertIn("PING", c.commands())
        self.clock.advance(60)
        self.assertIn("Ping timeout", c.lines()[-1].params[0])
        self.assertTrue(c.transport.disconnecting)


class LimitTests(ProtocolTestCase):
    settings = ConnectionSettings(maxClients=3, maxPerIP=2)

    def test_perIP(self) -> None:
        Connection(self.factory, "10.0.0.1", 1)
        second = Connection(self.factory, "10.0.0.1", 2)
        third = Connection(self.factory, "10.0.0.1", 3)
        self.assertIsInstance(third.protocol, RefusingProtocol)
        self.assertEqual(
            third.transport.value(), b"ERROR :Closing Link: Too many connections from your host\r\n"
        )
        self.assertTrue(third.transport.disconnecting)
        second.lose()
        fourth = Connection(self.factory, "10.0.0.1", 4)
        self.assertIsInstance(fourth.protocol, RelayProtocol)

    def test_maxClients(self) -> None:
        for i in range(3):
            Connection(self.factory, "10.0.0.%d" % (i,), 1)
        refused = Connection(self.factory, "10.0.1.1", 1)
        self.assertEqual(refused.transport.value(), b"ERROR :Closing Link: Server is full\r\n")


class TokenBucketTests(SynchronousTestCase):
    def test_bucket(self) -> None:
        bucket = TokenBucket(capacity=2, rate=4, now=0.0)
        self.assertTrue(bucket.take(0.0))
        self.assertTrue(bucket.take(0.0))
        self.assertFalse(bucket.take(0.0))
        self.assertAlmostEqual(bucket.waitTime(0.0), 0.25)
        self.assertTrue(bucket.take(0.25))
        self.assertFalse(bucket.take(0.25))
        self.assertTrue(bucket.take(100.0))
        self.assertLessEqual(bucket.tokens, 2)
        self.assertRaises(ValueError, TokenBucket, 0, 1, 0.0)
