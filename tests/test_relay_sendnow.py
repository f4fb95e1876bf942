"""
Tests for L{securechat.relay.sendnow}: the shortcut past Twisted's write
buffer, over a real loopback TCP connection, where order and completeness
are what matter.
"""

from __future__ import annotations

import os
from typing import List

from twisted.internet import defer, protocol, reactor
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP4ServerEndpoint
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase, TestCase

from securechat.relay.sendnow import directSender


class _Collector(protocol.Protocol):
    """The reading end: keeps every byte, fires when C{expected} arrived."""

    def __init__(self, expected: int) -> None:
        self.chunks: List[bytes] = []
        self.size = 0
        self.expected = expected
        self.done: defer.Deferred = defer.Deferred()

    def dataReceived(self, data: bytes) -> None:
        self.chunks.append(data)
        self.size += len(data)
        if self.size >= self.expected and not self.done.called:
            self.done.callback(b"".join(self.chunks))


class DirectSenderTests(TestCase):
    timeout = 60

    @defer.inlineCallbacks
    def connectedPair(self, expected: int):
        """A server-side TCP transport and the client that reads it."""
        accepted: defer.Deferred = defer.Deferred()
        serverFactory = protocol.Factory.forProtocol(protocol.Protocol)
        original = serverFactory.buildProtocol

        def build(addr):
            p = original(addr)
            p.connectionMade = lambda: accepted.callback(p.transport)
            return p

        serverFactory.buildProtocol = build
        port = yield TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(serverFactory)
        self.addCleanup(port.stopListening)
        collector = _Collector(expected)
        yield TCP4ClientEndpoint(reactor, "127.0.0.1", port.getHost().port).connect(
            protocol.Factory.forProtocol(lambda: collector)
        )
        transport = yield accepted
        self.addCleanup(collector.transport.loseConnection)
        self.addCleanup(transport.loseConnection)
        return transport, collector

    @defer.inlineCallbacks
    def test_smallWriteLeavesAtOnce(self) -> None:
        """A write that fits the socket is sent by the call itself."""
        transport, collector = yield self.connectedPair(5)
        sendNow = directSender(transport)
        self.assertIsNotNone(sendNow)
        self.assertEqual(sendNow(b"hello"), b"")
        self.assertFalse(transport.dataBuffer or transport._tempDataBuffer)
        received = yield collector.done
        self.assertEqual(received, b"hello")

    @defer.inlineCallbacks
    def test_orderKeptBehindTwistedsBuffer(self) -> None:
        """
        What the kernel does not take comes back to be handed to Twisted;
        while Twisted holds bytes, the shortcut sends nothing, so the reader
        gets every byte once and in order.
        """
        big = os.urandom(32 * 1024 * 1024)  # more than loopback buffers hold
        tail = b"tail"
        transport, collector = yield self.connectedPair(len(big) + len(tail))
        sendNow = directSender(transport)
        rest = sendNow(big)
        self.assertTrue(0 < len(rest) < len(big), "part went now, part must wait")
        self.assertEqual(rest, big[len(big) - len(rest):])
        transport.write(rest)
        self.assertEqual(sendNow(tail), tail, "Twisted holds bytes: wait behind them")
        transport.write(tail)
        received = yield collector.done
        self.assertEqual(len(received), len(big) + len(tail))
        self.assertTrue(received == big + tail, "bytes lost, doubled or reordered")

    @defer.inlineCallbacks
    def test_closingConnectionUntouched(self) -> None:
        """Once the transport is closing, everything goes through it."""
        transport, collector = yield self.connectedPair(1)
        sendNow = directSender(transport)
        transport.loseConnection()
        self.assertEqual(sendNow(b"late"), b"late")

    @defer.inlineCallbacks
    def test_notAfterStartTLS(self) -> None:
        """A TCP connection that started TLS in place is not plain bytes."""
        transport, collector = yield self.connectedPair(1)
        transport.TLS = True  # what startTLS sets
        try:
            self.assertIsNone(directSender(transport))
        finally:
            transport.TLS = False


class NotForOtherTransportsTests(SynchronousTestCase):
    def test_stringTransport(self) -> None:
        self.assertIsNone(directSender(StringTransport()))

