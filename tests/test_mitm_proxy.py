"""
Tests for L{securechat.mitm.proxy}: the malicious relay's Twisted adapter.

Unit tests drive it with L{StringTransport}s and a L{task.Clock}; one
integration test puts it between our real relay and two raw IRC clients
on loopback.
"""

from __future__ import annotations

from functools import partial
from typing import List, Optional

from twisted.internet import defer, endpoints, reactor, task
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase, TestCase

from securechat.mitm.attacks import Selector, makeAttack
from securechat.mitm.proxy import (
    CLOSED,
    CONNECTING,
    DROPPED_BY_ATTACK,
    RELAYING,
    TO_CLIENT,
    TO_RELAY,
    MitmFactory,
    Plan,
    Seen,
)
from securechat.relay.factory import RelayFactory
from securechat.wire import LineSplitter, parseLine

WELCOME = b":srv 001 bob :Welcome bob\r\n"
MESSAGE = b":alice!a@127.0.0.1 PRIVMSG #lab :hello bob"
INTEGRATION_TIMEOUT = 10.0
SETTLE_POLL = 0.01


class FakeUpstream:
    """An endpoint whose connections are StringTransports, answered when the test says."""

    def __init__(self) -> None:
        self.pending: List[defer.Deferred] = []
        self.protocols: List[Protocol] = []

    def connect(self, factory: Factory) -> defer.Deferred:
        d: defer.Deferred = defer.Deferred()
        self.pending.append(d)

        def up(_):
            protocol = factory.buildProtocol(None)
            protocol.makeConnection(StringTransport())
            self.protocols.append(protocol)
            return protocol

        return d.addCallback(up)

    def succeed(self) -> Protocol:
        self.pending.pop(0).callback(None)
        return self.protocols[-1]


class ProxyUnitTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = task.Clock()
        self.upstream = FakeUpstream()
        self.factory = MitmFactory(self.upstream, clock=self.clock)
        self.seen: List[Seen] = []
        self.factory.taps.append(self.seen.append)

    def connect(self, plan: Optional[Plan] = None, up: bool = True):
        if plan is not None:
            self.factory.plan = plan
        downstream = self.factory.buildProtocol(None)
        transport = StringTransport()
        downstream.makeConnection(transport)
        relay = self.upstream.succeed() if up else None
        return downstream, transport, relay

    def test_clientLinesAreForwardedAndSeen(self) -> None:
        downstream, transport, relay = self.connect()
        downstream.dataReceived(b"NICK bob\r\nUSER b 0 * :Bob\nPRIVMSG #lab :se")
        self.assertEqual(relay.transport.value(), b"NICK bob\r\nUSER b 0 * :Bob\r\n")
        downstream.dataReceived(b"cret\r\n")
        self.assertTrue(relay.transport.value().endswith(b"PRIVMSG #lab :secret\r\n"))
        self.assertEqual(
            [(s.direction, s.raw) for s in self.seen][-1], (TO_RELAY, b"PRIVMSG #lab :secret")
        )

    def test_clientWaitsForTheUpstream(self) -> None:
        """Nothing is lost, and the client is not read, until the relay connection is up."""
        downstream, transport, _ = self.connect(up=False)
        self.assertEqual(transport.producerState, "paused")
        downstream.dataReceived(b"NICK bob\r\n")
        relay = self.upstream.succeed()
        self.assertEqual(transport.producerState, "producing")
        self.assertEqual(relay.transport.value(), b"NICK bob\r\n")

    def test_flowControlBothWays(self) -> None:
        """A client that stops reading stops us reading from the relay, and back."""
        downstream, transport, relay = self.connect()
        self.assertIs(transport.producer, relay.transport)
        self.assertIs(relay.transport.producer, transport)
        transport.producer.pauseProducing()
        self.assertEqual(relay.transport.producerState, "paused")
        relay.transport.producer.pauseProducing()
        self.assertEqual(transport.producerState, "paused")

    def test_relayLinesForwardedVerbatimAndNickLearnt(self) -> None:
        downstream, transport, relay = self.connect()
        odd = b":srv NOTICE *  :two  spaces:kept"
        relay.dataReceived(WELCOME + odd + b"\r\n")
        self.assertEqual(transport.value(), WELCOME + odd + b"\r\n")
        self.assertEqual(downstream.nick, "bob")
        self.assertEqual(self.seen[-1], Seen(TO_CLIENT, "bob", odd))

    def test_invalidUtf8IsForwardedToo(self) -> None:
        downstream, transport, relay = self.connect()
        relay.dataReceived(b":srv NOTICE bob :\xff\r\n")
        self.assertEqual(transport.value(), b":srv NOTICE bob :\xff\r\n")

    def test_overlongLineDropped(self) -> None:
        downstream, transport, relay = self.connect()
        relay.dataReceived(b"x" * 70000 + b"\r\n" + WELCOME)
        self.assertEqual(transport.value(), WELCOME)

    def test_rosterIsFed(self) -> None:
        downstream, transport, relay = self.connect()
        relay.dataReceived(b":alice!a@h JOIN #lab\r\n")
        self.assertEqual(self.factory.roster.members("#lab"), ["alice"])

    def test_matchedLinesGoThroughTheAttack(self) -> None:
        plan = Plan(partial(makeAttack, "duplicate"), Selector(sender="alice"))
        downstream, transport, relay = self.connect(plan)
        relay.dataReceived(WELCOME + MESSAGE + b"\r\n" + b":carol!c@h PRIVMSG #lab :hi\r\n")
        self.assertEqual(
            transport.value(),
            WELCOME + MESSAGE + b"\r\n" + MESSAGE + b"\r\n" + b":carol!c@h PRIVMSG #lab :hi\r\n",
        )
        self.assertIn(Seen(TO_CLIENT, "bob", MESSAGE, "attack duplicate"), self.seen)

    def test_receiverSelectorUsesTheLearntNick(self) -> None:
        plan = Plan(partial(makeAttack, "drop-chunk"), Selector(receiver="carol"))
        downstream, transport, relay = self.connect(plan)
        relay.dataReceived(WELCOME + MESSAGE + b"\r\n")
        self.assertEqual(transport.value(), WELCOME + MESSAGE + b"\r\n")

    def test_delayRunsOnTheInjectedClock(self) -> None:
        plan = Plan(partial(makeAttack, "delay", delay=40.0))
        downstream, transport, relay = self.connect(plan)
        relay.dataReceived(MESSAGE + b"\r\n")
        self.assertEqual(transport.value(), b"")
        self.clock.advance(39)
        self.assertEqual(transport.value(), b"")
        self.clock.advance(1)
        self.assertEqual(transport.value(), MESSAGE + b"\r\n")

    def test_closingCancelsDelayedLines(self) -> None:
        plan = Plan(partial(makeAttack, "replay", delay=60.0))
        downstream, transport, relay = self.connect(plan)
        relay.dataReceived(MESSAGE + b"\r\n")
        downstream.connectionLost(None)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertTrue(relay.transport.disconnecting)
        self.assertEqual(self.factory.connections, [])

    def test_upstreamLossReleasesHeldLinesAndCloses(self) -> None:
        plan = Plan(partial(makeAttack, "reorder"))
        downstream, transport, relay = self.connect(plan)
        relay.dataReceived(MESSAGE + b"\r\n")
        self.assertEqual(transport.value(), b"")
        relay.connectionLost(None)
        self.assertEqual(transport.value(), MESSAGE + b"\r\n")
        self.assertTrue(transport.disconnecting)

    def test_planChangesApplyToNewConnections(self) -> None:
        first, firstTransport, firstRelay = self.connect(Plan(partial(makeAttack, "duplicate")))
        second, secondTransport, secondRelay = self.connect(Plan())
        firstRelay.dataReceived(MESSAGE + b"\r\n")
        secondRelay.dataReceived(MESSAGE + b"\r\n")
        self.assertEqual(firstTransport.value().count(b"hello bob"), 2)
        self.assertEqual(secondTransport.value().count(b"hello bob"), 1)

    def test_upstreamFailure(self) -> None:
        downstream, transport, _ = self.connect(up=False)
        self.upstream.pending.pop(0).errback(ConnectionRefusedError())
        self.assertTrue(transport.value().startswith(b"ERROR :"))
        self.assertTrue(transport.disconnecting)

    def test_ownNickChangeIsFollowed(self) -> None:
        """
        After bob becomes robert, the selector's receiver and the logs say
        robert (a stale nick made --receiver miss, and re-attribution blame
        the receiver himself).
        """
        plan = Plan(partial(makeAttack, "duplicate"), Selector(receiver="robert"))
        downstream, transport, relay = self.connect(plan)
        relay.dataReceived(WELCOME + b":alice!a@h NICK :alicia\r\n")
        self.assertEqual(downstream.nick, "bob")
        relay.dataReceived(b":Bob!b@h NICK :robert\r\n" + MESSAGE + b"\r\n")
        self.assertEqual(downstream.nick, "robert")
        self.assertEqual(transport.value().count(b"hello bob"), 2)
        self.assertEqual(self.seen[-1].client, "robert")

    def test_closedClientLeavesTheRoster(self) -> None:
        """A client alone in its room: nobody sees its QUIT, so the proxy forgets it itself."""
        downstream, transport, relay = self.connect()
        relay.dataReceived(WELCOME + b":bob!b@h JOIN #solo\r\n")
        self.assertEqual(self.factory.roster.members("#solo"), ["bob"])
        downstream.connectionLost(None)
        self.assertEqual(self.factory.roster.rooms("bob"), [])

    def test_lineLetThroughIsNotTaggedAndDropsAreShown(self) -> None:
        """
        Only lines an attack changed are tagged; a dropped line is shown to
        the taps as dropped (it was only logged, so --verbose could not say
        which message went missing).
        """
        plan = Plan(partial(makeAttack, "drop", after=1))
        downstream, transport, relay = self.connect(plan)
        second = MESSAGE + b" again"
        relay.dataReceived(WELCOME + MESSAGE + b"\r\n" + second + b"\r\n")
        self.assertEqual(transport.value(), WELCOME + MESSAGE + b"\r\n")
        self.assertEqual(
            self.seen[-3:],
            [
                Seen(TO_CLIENT, "bob", MESSAGE),
                Seen(TO_CLIENT, "bob", second, "attack drop"),
                Seen(DROPPED_BY_ATTACK, "bob", second, "dropped"),
            ],
        )

    def test_serverPasswordIsNotShown(self) -> None:
        downstream, transport, relay = self.connect()
        lines = b"PASS :hunter2 x\r\npass hunter2\r\nPASS hunter\xff2\r\nNICK bob\r\n"
        downstream.dataReceived(lines)
        self.assertEqual(relay.transport.value(), lines)
        self.assertEqual([s.raw for s in self.seen], [b"PASS <redacted>"] * 3 + [b"NICK bob"])

    def test_phases(self) -> None:
        """Connecting until the relay connection is up, then relaying; closed once the client is gone."""
        downstream, transport, _ = self.connect(up=False)
        self.assertEqual(downstream.phase, CONNECTING)
        self.upstream.succeed()
        self.assertEqual(downstream.phase, RELAYING)
        downstream.connectionLost(None)
        self.assertEqual(downstream.phase, CLOSED)
        downstream.deliver(b":late PRIVMSG bob :x")
        self.assertEqual(transport.value(), b"")

    def test_upstreamArrivingAfterTheClientLeft(self) -> None:
        downstream, transport, _ = self.connect(up=False)
        downstream.connectionLost(None)
        relay = self.upstream.succeed()
        self.assertTrue(relay.transport.disconnecting)


class LineClient(Protocol):
    """A bare IRC client for the integration test: collects parsed lines."""

    def __init__(self) -> None:
        self.splitter = LineSplitter()
        self.lines = []
        self.waiting = []

    def dataReceived(self, data: bytes) -> None:
        for line in self.splitter.feed(data):
            self.lines.append(parseLine(line))
        self._check()

    def send(self, line: str) -> None:
        self.transport.write(line.encode("utf-8") + b"\r\n")

    def waitFor(self, predicate) -> defer.Deferred:
        d: defer.Deferred = defer.Deferred()
        self.waiting.append((predicate, d))
        self._check()
        return d

    def _check(self) -> None:
        for predicate, d in list(self.waiting):
            found = [m for m in self.lines if predicate(m)]
            if found:
                self.waiting.remove((predicate, d))
                d.callback(found)


class ProxyIntegrationTests(TestCase):
    timeout = INTEGRATION_TIMEOUT

    @defer.inlineCallbacks
    def test_betweenTheRelayAndTwoClients(self) -> None:
        relay = RelayFactory()
        relayPort = yield endpoints.serverFromString(reactor, "tcp:0:interface=127.0.0.1").listen(relay)
        self.addCleanup(relayPort.stopListening)
        upstream = endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", relayPort.getHost().port)
        plan = Plan(partial(makeAttack, "duplicate", times=1), Selector(receiver="bob"))
        mitm = MitmFactory(upstream, plan, reactor)
        seen: List[Seen] = []
        mitm.taps.append(seen.append)
        mitmPort = yield endpoints.serverFromString(reactor, "tcp:0:interface=127.0.0.1").listen(mitm)
        self.addCleanup(mitmPort.stopListening)
        clients = {}
        for nick in ("alice", "bob"):
            point = endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", mitmPort.getHost().port)
            client = yield endpoints.connectProtocol(point, LineClient())
            self.addCleanup(client.transport.loseConnection)
            client.send("NICK %s" % (nick,))
            client.send("USER %s 0 * :%s" % (nick, nick))
            client.send("JOIN #lab")
            yield client.waitFor(lambda m: m.command == "366")
            clients[nick] = client
        clients["alice"].send("PRIVMSG #lab :meet at noon")
        clients["alice"].send("PRIVMSG #lab :second")
        yield clients["bob"].waitFor(lambda m: m.command == "PRIVMSG" and m.params[1] == "second")
        bodies = [m.params[1] for m in clients["bob"].lines if m.command == "PRIVMSG"]
        self.assertEqual(bodies, ["meet at noon", "meet at noon", "second"])
        self.assertIn(b"PRIVMSG #lab :meet at noon", [s.raw for s in seen if s.direction == TO_RELAY])
        self.assertEqual(mitm.roster.members("#lab"), ["alice", "bob"])
        for client in clients.values():
            client.transport.loseConnection()
        # Every connection closed and the relay's last flush done: a clean reactor.
        for _ in range(int(INTEGRATION_TIMEOUT / SETTLE_POLL)):
            if not (relay.connections or mitm.connections):
                break
            yield task.deferLater(reactor, SETTLE_POLL, lambda: None)
        yield task.deferLater(reactor, 0, lambda: None)
        self.assertEqual((relay.connections, mitm.connections), ({}, []))
