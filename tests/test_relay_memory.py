"""
A connection the relay has cut gives its memory back at once, without
waiting for the cyclic garbage collector: the protocol, its transport and
the bytes queued for a reader that did not read are freed by reference
counting alone (issue 17: 50 cut slow readers left ~50 MB behind until a
collection happened to run).  These tests run with C{gc} disabled.
"""

from __future__ import annotations

import gc
import platform
import socket
import weakref

from twisted.internet import defer, reactor, task
from twisted.trial.unittest import SkipTest, SynchronousTestCase, TestCase

from securechat.relay.factory import TRIM_DELAY, ConnectionSettings, RelayFactory
from securechat.relay.memory import findTrimmer
from securechat.relay.sendnow import releaseBuffers

from .test_relay_integration import TIMEOUT, LoopbackMixin
from .test_relay_protocol import Connection, ProtocolTestCase

#: Freed "at once" means by reference counting, which PyPy does not have:
#: there a lost connection's objects go at the next collection, and only
#: the explicit release of the buffers is promised.
REFCOUNTED = platform.python_implementation() == "CPython"
NOT_REFCOUNTED = "no reference counting on %s" % (platform.python_implementation(),)

#: Small enough that a few hundred KB of traffic cuts the slow reader.
SENDQ = 64 * 1024


def withoutGC(case: SynchronousTestCase) -> None:
    """Disable the cyclic collector for the rest of C{case}, then restore it."""
    if gc.isenabled():
        gc.disable()
        case.addCleanup(gc.enable)


def buffered(transport) -> int:
    """Bytes a TCP transport holds for its peer."""
    return len(transport.dataBuffer) + sum(len(b) for b in transport._tempDataBuffer)


class CutSlowReaderTests(LoopbackMixin, TestCase):
    """A real slow reader on loopback, cut by the SendQ."""

    timeout = TIMEOUT * 3

    @defer.inlineCallbacks
    def cutSlowReader(self):
        """
        Connect alice, bob and slow to one room; make slow a reader that
        does not read (small kernel buffers on both sides, so the relay's
        transport fills fast); send until the relay cuts it.  Returns
        weak references to slow's relay-side protocol and transport, and
        how many bytes its SendQ held when it was cut.
        """
        factory = RelayFactory(
            settings=ConnectionSettings(sendq=SENDQ, floodBurst=20_000, floodRate=20_000)
        )
        alice, bob, slow = yield self.roomWithSlowReader(factory)
        [relaySide] = [p for p in factory.connections if p.client.nick == "slow"]
        relaySide.transport.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        refs = (weakref.ref(relaySide), weakref.ref(relaySide.transport))
        sendq = relaySide.sendq
        del relaySide
        body = "x" * 400
        for i in range(2000):  # ~850 KB: well past kernel buffers + 64 KiB + SendQ
            alice.send("PRIVMSG #lab :%d %s" % (i, body))
        while True:
            message = yield bob.queue.get()
            if message.command == "QUIT" and message.sourceNick == "slow":
                self.assertEqual(message.params, ("SendQ exceeded",))
                break
        # Let the reactor finish the turn (the factory's flush list).
        yield task.deferLater(reactor, 0, lambda: None)
        self.assertGreater(sendq.backlog, SENDQ, "it was cut holding a full SendQ")
        return refs

    @defer.inlineCallbacks
    def test_unreachableWithoutGC(self):
        """
        Once cut, nothing reachable holds slow's protocol or its transport
        (and so the bytes queued for it), with the cyclic GC off.
        """
        if not REFCOUNTED:
            raise SkipTest(NOT_REFCOUNTED)
        withoutGC(self)
        protocolRef, transportRef = yield self.cutSlowReader()
        self.assertIsNone(protocolRef(), "the protocol outlived its connection")
        self.assertIsNone(transportRef(), "the transport (and its buffers) outlived the connection")

    @defer.inlineCallbacks
    def test_buffersReleasedEvenIfHeld(self):
        """
        Something may keep a lost protocol alive (a log observer that keeps
        events: their C{log_source} is the protocol): the bytes queued for
        the peer are let go all the same.
        """
        withoutGC(self)
        held = []
        original = RelayFactory.connectionClosed

        def keep(factory, protocol):
            held.append(protocol)
            return original(factory, protocol)

        self.patch(RelayFactory, "connectionClosed", keep)
        yield self.cutSlowReader()
        [protocol] = [p for p in held if p.client.nick == "slow"]
        self.assertEqual(buffered(protocol.transport), 0)


class LostConnectionUnitTests(ProtocolTestCase):
    """The same promise, with L{StringTransport} and the state's callbacks."""

    def test_noCycleThroughTheClient(self) -> None:
        """
        The state's L{Client} held our bound methods: protocol -> client ->
        protocol.  After the loss the client no longer refers to us, writing
        to it queues nothing, and the protocol dies with its last reference.
        """
        if not REFCOUNTED:
            raise SkipTest(NOT_REFCOUNTED)
        withoutGC(self)
        alice = self.registered("alice")
        bob = self.registered("bob")
        alice.send(b"JOIN #lab\r\n")
        bob.send(b"JOIN #lab\r\n")
        client = bob.protocol.client
        ref = weakref.ref(bob.protocol)
        bob.lose()
        self.assertNotIn(bob.protocol, gc.get_referents(client.write) + gc.get_referents(client.close))
        client.write(b"late\r\n")
        client.close()
        self.clock.advance(0)
        self.assertEqual(bob.protocol._outbox, [])
        del bob
        self.assertIsNone(ref())

    def test_releaseBuffersLeavesOthersAlone(self) -> None:
        """Only a lost plain TCP transport is emptied; others are not touched."""
        connection = Connection(self.factory)
        connection.transport.write(b"kept")
        releaseBuffers(connection.transport)
        self.assertEqual(connection.transport.value(), b"kept")


class TrimTests(ProtocolTestCase):
    """Free memory goes back to the system once slow readers are cut."""

    settings = ConnectionSettings(sendq=1000, floodBurst=1000, floodRate=1000)

    def setUp(self) -> None:
        super().setUp()
        self.trims = 0

        def trimmer() -> None:
            self.trims += 1

        self.factory.trimmer = trimmer

    def cutSlowReader(self, alice: Connection, nick: str) -> Connection:
        slow = self.registered(nick)
        slow.send(b"JOIN #lab\r\n")
        slow.transport.producer.pauseProducing()  # what a full TCP buffer does
        while not slow.transport.disconnected:
            alice.send(b"PRIVMSG #lab :" + b"z" * 200 + b"\r\n")
        return slow

    def test_oneTrimAfterAWaveOfCuts(self) -> None:
        alice = self.registered("alice")
        alice.send(b"JOIN #lab\r\n")
        for nick in ("slow1", "slow2", "slow3"):
            self.cutSlowReader(alice, nick).lose()
        self.assertEqual(self.trims, 0, "not while the wave is being cut")
        self.clock.advance(TRIM_DELAY)
        self.assertEqual(self.trims, 1)
        self.clock.advance(TRIM_DELAY * 10)
        self.assertEqual(self.trims, 1)

    def test_noTrimForOrdinaryDisconnects(self) -> None:
        self.registered("alice").lose()
        self.clock.advance(TRIM_DELAY * 10)
        self.assertEqual(self.trims, 0)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_stopFactoryCancels(self) -> None:
        alice = self.registered("alice")
        alice.send(b"JOIN #lab\r\n")
        self.cutSlowReader(alice, "slow").lose()
        self.factory.doStart()
        self.factory.doStop()
        self.clock.advance(TRIM_DELAY)
        self.assertEqual(self.trims, 0)

    def test_glibcTrimmer(self) -> None:
        """On glibc (Linux CI) there is a trimmer, and it runs."""
        trimmer = findTrimmer()
        if trimmer is None:
            raise SkipTest("no malloc_trim in this C library")
        trimmer()
