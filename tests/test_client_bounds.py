"""
What a relay cannot make the client hold (docs/client.md): the send queue
towards a server that does not read, and reading paused while the user
interface (JSON mode's stdout) is backed up.
"""

from __future__ import annotations

import json
import os
import socket

from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.endpoints import TCP4ClientEndpoint, serverFromString
from twisted.internet.error import ConnectionAborted
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.stdio import StandardIO
from twisted.internet.task import Clock, deferLater
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.python.filepath import FilePath
from twisted.trial.unittest import SynchronousTestCase, TestCase

from securechat.client.adapters.headless import HeadlessClient, connect
from securechat.client.adapters.protocol import (
    CUT,
    IDLE_PING,
    LOST,
    OPEN,
    PING_TIMEOUT,
    SEND_STALL,
    SENDQ,
    IRCClientFactory,
    SlowConsumerGuard,
)
from securechat.client.core import events as ev
from securechat.client.core.session import ClientSession
from securechat.client.faces.jsonlines import JsonLinesProtocol
from securechat.codec import TEST_KDF
from securechat.relay import protocol as relayProtocol
from securechat.relay.factory import RelayFactory
from securechat.tlsclient import TlsSettings

from .test_client_support import FAST_RETRY, WAIT
from .test_relay_integration import selfSignedCertificate

WELCOME = b":srv 001 alice :Welcome alice!~a@h\r\n"


def pings(count: int, size: int = 100) -> bytes:
    return b"".join(b"PING :%s\r\n" % (b"%06d" % (n,) + b"x" * size,) for n in range(count))


class SendQueueTests(SynchronousTestCase):
    """The client's send queue, over StringTransport (whose producer we drive)."""

    def setUp(self):
        self.events = []
        self.clock = Clock()
        self.session = ClientSession("alice", self.events.append)
        self.factory = IRCClientFactory(self.session, self.clock, sendq=4096)
        self.protocol = self.factory.buildProtocol(None)
        self.transport = StringTransport()
        self.protocol.makeConnection(self.transport)
        self.protocol.dataReceived(WELCOME)
        self.transport.clear()

    def lost(self):
        self.assertTrue(self.transport.disconnecting)
        self.protocol.connectionLost(Failure(ConnectionAborted()))
        return [e for e in self.events if isinstance(e, ev.Disconnected)]

    def test_pingFloodStopsReadingThenDisconnects(self):
        """
        A relay that sends PINGs and never reads: once the transport says
        its buffer is full, the client counts what it still writes; past the
        bound it stops reading (the rest of that read is not handled) and
        disconnects with the reason, holding at most the bound meanwhile.
        """
        self.transport.producer.pauseProducing()  # what a full socket buffer does
        self.protocol.dataReceived(pings(30))
        self.assertEqual(self.transport.producerState, "producing")
        self.assertFalse(self.transport.disconnecting)
        self.protocol.dataReceived(pings(1000))
        self.assertLessEqual(len(self.transport.value()), 4096)
        self.assertEqual(self.transport.producerState, "paused")
        [lost] = self.lost()
        self.assertIn("send queue exceeded: the server is not reading", lost.reason)
        self.assertTrue(lost.reconnecting)

    def test_pauseRepeatedOnEveryWriteKeepsCounting(self):
        """A real transport calls pauseProducing again on each write while full: the count must not restart."""
        self.protocol.transport.producer.pauseProducing()
        for _n in range(100):
            self.transport.producer.pauseProducing()
            self.protocol.dataReceived(pings(1))
        self.assertIn("send queue exceeded", self.lost()[0].reason)

    def test_userMessagesWaitUnsealed(self):
        """
        Changed on purpose (issue 23): while the server does not drain, a
        typed message is neither written nor sealed (it would pile up
        towards the cut and age); it waits in the session's send queue and
        leaves, sealed then, once the server reads again.  (Issue 22: to a
        peer with no session, plain text goes only when the user insists,
        C{force}; without it the message would wait for a session.)
        """
        self.transport.producer.pauseProducing()
        first = self.session.sendMessage("bob", "x" * 3000, force=True)
        second = self.session.sendMessage("bob", "y" * 3000, force=True)
        self.assertEqual((type(first), type(second)), (ev.Paced, ev.Paced))
        self.assertEqual(self.transport.value(), b"")
        self.assertFalse(self.transport.disconnecting)
        self.transport.producer.resumeProducing()
        self.assertIn(b"x" * 400, self.transport.value())
        self.assertIn(b"y" * 400, self.transport.value())
        self.assertEqual(self.session.waiting, 0)

    def test_drainedStartsTheCountAgain(self):
        self.transport.producer.pauseProducing()
        self.protocol.dataReceived(pings(30))
        self.assertGreater(self.protocol.backlog, 3000)
        self.transport.producer.resumeProducing()
        self.assertEqual(self.protocol.backlog, 0)
        # The count starts again from zero at the next pause.
        self.transport.producer.pauseProducing()
        self.protocol.dataReceived(pings(30))
        self.assertFalse(self.transport.disconnecting)
        self.clock.advance(SEND_STALL - 1)
        self.transport.producer.resumeProducing()
        self.clock.advance(SEND_STALL)
        self.assertFalse(self.transport.disconnecting)

    def test_stalledServerIsCut(self):
        """A server that never drains is cut after SEND_STALL even if we write nothing more."""
        self.transport.producer.pauseProducing()
        self.clock.advance(SEND_STALL - 0.5)
        self.assertFalse(self.transport.disconnecting)
        self.assertEqual(self.protocol.phase, OPEN)
        self.clock.advance(0.5)
        self.assertEqual(self.protocol.phase, CUT)
        self.transport.clear()
        self.protocol.dataReceived(b"PING :after the cut\r\n")
        self.assertEqual(self.transport.value(), b"", "nothing is read or written once cut")
        self.assertIn("read nothing we sent for 120 s", self.lost()[0].reason)
        self.assertEqual(self.protocol.phase, LOST)

    def test_ownPauseIsNotServerSilence(self):
        """While we do not read (stdout backed up), the keepalive does not call the server dead."""
        self.factory.pauseReading()
        self.assertEqual(self.transport.producerState, "paused")
        for _ in range(10):
            self.clock.advance(IDLE_PING + PING_TIMEOUT)
        self.assertFalse(self.transport.disconnecting)
        self.assertEqual(self.transport.value(), b"")
        self.factory.resumeReading()
        self.assertEqual(self.transport.producerState, "producing")
        self.clock.advance(IDLE_PING)
        self.assertEqual(self.transport.value(), b"PING :securechat-keepalive\r\n")

    def test_blockedWritesDoNotStopReading(self):
        """
        On TLS the transport reports its buffer full until the handshake is
        done: not reading then would stall the handshake for good.
        """
        self.factory.pauseReading()
        self.transport.producer.pauseProducing()
        self.transport.producer.resumeProducing()
        self.assertEqual(self.transport.producerState, "paused")  # still the consumer's pause
        self.factory.resumeReading()
        self.transport.producer.pauseProducing()
        self.assertEqual(self.transport.producerState, "producing")

    def test_consumerPauseCarriesOverToTheNextConnection(self):
        self.factory.pauseReading()
        self.protocol.connectionLost(Failure(ConnectionAborted()))
        protocol = self.factory.buildProtocol(None)
        transport = StringTransport()
        protocol.makeConnection(transport)
        self.assertEqual(transport.producerState, "paused")
        self.factory.resumeReading()
        self.assertEqual(transport.producerState, "producing")

    def test_quitUnregistersTheProducer(self):
        """After our QUIT the close follows: our producer must not hold it back (TLS waits for it)."""
        self.session.quit("bye")
        self.assertIsNone(self.transport.producer)
        self.assertEqual(self.transport.value(), b"QUIT bye\r\n")

    def test_defaults(self):
        """The documented bounds (docs/client.md)."""
        self.assertEqual((SENDQ, SEND_STALL), (1024 * 1024, 120.0))
        protocol = IRCClientFactory(self.session).buildProtocol(None)
        self.assertEqual((protocol.sendq, protocol.sendStall), (SENDQ, SEND_STALL))


class PingFlooder(Protocol):
    """A relay that welcomes, then sends PINGs and never reads a byte."""

    def connectionMade(self):
        sock = self.transport.getHandle()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.transport.pauseProducing()  # never read
        self.transport.write(WELCOME)
        self.factory.sent += self.factory.total
        self.transport.write(pings(self.factory.total // 410, 400))

    def connectionLost(self, reason=None):
        self.factory.gone.callback(None)


class PingFloodLoopbackTests(TestCase):
    """A real socket: the client's memory stays bounded and it leaves by itself."""

    @inlineCallbacks
    def test_relayThatNeverReads(self):
        factory = Factory.forProtocol(PingFlooder)
        factory.total, factory.sent, factory.gone = 24 * 1024 * 1024, 0, Deferred()
        port = reactor.listenTCP(0, factory, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        client = HeadlessClient(
            reactor, TCP4ClientEndpoint(reactor, "127.0.0.1", port.getHost().port), "alice",
            kdfParams=TEST_KDF, retryPolicy=FAST_RETRY,
        )
        received = []
        backlog = []
        original = client.factory.buildProtocol

        def build(addr):
            protocol = original(addr)
            feed = protocol.dataReceived

            def counted(data):
                received.append(len(data))
                feed(data)
                backlog.append(getattr(protocol, "backlog", 0))

            protocol.dataReceived = counted
            return protocol

        client.factory.buildProtocol = build
        lost = client.waitFor(ev.Disconnected, WAIT)
        client.startService()
        event = yield lost
        yield client.quit()
        yield factory.gone
        self.assertIn("send queue exceeded: the server is not reading", event.reason)
        # It stopped reading: most of what the relay sent was never read...
        self.assertLess(sum(received), factory.total // 2)
        # ...and what it queued past the transport's buffer stayed bounded.
        self.assertLessEqual(max(backlog), SENDQ)
        self.assertGreater(max(backlog), SENDQ // 2)
        yield deferLater(reactor, 0, lambda: None)


def offlineClient() -> HeadlessClient:
    client = HeadlessClient(reactor, "tcp:127.0.0.1:1", "alice", kdfParams=TEST_KDF)
    client.factory.clock = Clock()  # its connections' keepalive timers
    return client


def privmsgs(count: int, size: int = 1000) -> bytes:
    return b"".join(b":bob!b@h PRIVMSG alice :%06d %s\r\n" % (n, b"y" * size) for n in range(count))


class StdoutBackpressureTests(SynchronousTestCase):
    """JSON mode: stdout full means the relay (and stdin) are not read."""

    def setUp(self):
        self.client = offlineClient()
        self.irc = StringTransport()
        self.client.factory.buildProtocol(None).makeConnection(self.irc)
        self.stdio = StringTransport()
        self.protocol = JsonLinesProtocol(self.client, lambda: None)
        self.protocol.makeConnection(self.stdio)

    def test_stdoutFullPausesTheRelayAndStdin(self):
        self.stdio.producer.pauseProducing()
        self.assertEqual((self.irc.producerState, self.stdio.producerState), ("paused", "paused"))
        self.stdio.producer.resumeProducing()
        self.assertEqual((self.irc.producerState, self.stdio.producerState), ("producing", "producing"))

    def test_pauseOutlivesAReconnect(self):
        self.stdio.producer.pauseProducing()
        self.client.factory.current.connectionLost(Failure(ConnectionAborted()))
        irc = StringTransport()
        self.client.factory.buildProtocol(None).makeConnection(irc)
        self.assertEqual(irc.producerState, "paused")
        self.stdio.producer.resumeProducing()
        self.assertEqual(irc.producerState, "producing")

    def test_endUnregistersSoStdoutCloses(self):
        """
        Quitting while stdout is backed up: with our producer registered,
        Twisted would resume it instead of closing once stdout drained, and
        the process would never end.
        """
        self.stdio.producer.pauseProducing()
        self.protocol.readConnectionLost()  # the offline client's quit is done at once
        self.assertIsNone(self.stdio.producer)
        self.assertTrue(self.stdio.disconnecting)

    def test_stdinClosedIsLeftAlone(self):
        """After end of input, a late flow-control call must not touch the closed stdin (it would raise here)."""
        guard = self.stdio.producer
        self.protocol.readConnectionLost()
        guard.pauseProducing()
        guard.resumeProducing()
        self.assertEqual(self.irc.producerState, "producing")


class TerminalBackpressureTests(SynchronousTestCase):
    def test_slowTerminalPausesTheRelay(self):
        """The console registers this guard with its terminal: a backed-up terminal pauses the relay only."""
        client = offlineClient()
        irc = StringTransport()
        client.factory.buildProtocol(None).makeConnection(irc)
        terminal = StringTransport()
        terminal.registerProducer(SlowConsumerGuard(client.factory), True)
        terminal.producer.pauseProducing()
        self.assertEqual((irc.producerState, terminal.producerState), ("paused", "producing"))
        terminal.producer.resumeProducing()
        self.assertEqual(irc.producerState, "producing")


class StdoutPipeTests(TestCase):
    """A real pipe nobody reads: the client stops reading the relay, and resumes when it is read."""

    @inlineCallbacks
    def test_unreadStdout(self):
        client = offlineClient()
        irc = StringTransport()
        ircProtocol = client.factory.buildProtocol(None)
        ircProtocol.makeConnection(irc)
        ircProtocol.dataReceived(WELCOME)
        stdinRead, stdinWrite = os.pipe()
        stdoutRead, stdoutWrite = os.pipe()
        os.set_blocking(stdoutRead, False)
        self.addCleanup(os.close, stdinWrite)
        self.addCleanup(os.close, stdoutRead)
        protocol = JsonLinesProtocol(client, lambda: None)
        stdio = StandardIO(protocol, stdin=stdinRead, stdout=stdoutWrite, reactor=reactor)
        self.addCleanup(stdio.loseConnection)
        count = 0
        # The relay sends until the client stops reading it: a few chunks.
        for _ in range(100):
            if irc.producerState == "paused":
                break
            ircProtocol.dataReceived(privmsgs(50))
            count += 50
            yield deferLater(reactor, 0, lambda: None)
        self.assertEqual(irc.producerState, "paused")
        self.assertLess(count, 1000)  # well before the 100 chunks: bounded
        # Nothing is lost: read the pipe, and every event arrives whole.
        received = b""
        for _ in range(1000):
            try:
                received += os.read(stdoutRead, 1 << 16)
            except BlockingIOError:
                if irc.producerState == "producing" and received.endswith(b"\n"):
                    break
            yield deferLater(reactor, 0.001, lambda: None)
        self.assertEqual(irc.producerState, "producing")
        messages = [json.loads(line) for line in received.splitlines()]
        bodies = [m["body"] for m in messages if m["type"] == "message"]
        self.assertEqual(bodies, ["%06d %s" % (n % 50, "y" * 1000) for n in range(count)])


class TLSTests(TestCase):
    """The send queue's producer over a real TLS connection."""

    @inlineCallbacks
    def test_registersAndQuitsOverTLS(self):
        """
        Until the handshake is done, a TLS transport reports its buffer full
        (NICK and USER wait in it): not reading then would stall the
        handshake.  And a producer still registered kept the TLS close from
        starting: /quit waited until the relay gave up (10 s then).  Here the
        relay never gives up, so /quit ends by itself or not at all.
        """
        self.patch(relayProtocol, "CLOSE_GRACE", 24 * 3600.0)
        pem = selfSignedCertificate(FilePath(self.mktemp()))
        port = yield serverFromString(
            reactor, "ssl:0:interface=127.0.0.1:privateKey=%s:certKey=%s" % (pem, pem)
        ).listen(RelayFactory())
        self.addCleanup(port.stopListening)
        client = yield connect(
            reactor, "tls:127.0.0.1:%d" % (port.getHost().port,),
            "alice", kdfParams=TEST_KDF, timeout=WAIT, tls=TlsSettings(trustFile=pem),
        )
        self.assertTrue(client.connected)
        quitting = client.quit("bye")
        quitting.addTimeout(WAIT, reactor)  # far short of the relay's grace: a hang fails
        yield quitting
        self.assertFalse(client.connected)
