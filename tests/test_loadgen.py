"""
The benchmark's load generator (bench/loadgen.py) is an instrument: before we
trust its figures it must count right.  Against our relay on loopback, every
message a sender sends must reach every other member of its room (or its
direct partner) exactly once.  No timings here: those live in bench/.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Dict

from twisted.internet import reactor, threads
from twisted.internet.endpoints import serverFromString
from twisted.trial.unittest import SynchronousTestCase, TestCase

from bench.loadgen import (
    Conn,
    LoadGenerator,
    Scenario,
    percentiles_us,
    run_scenario,
)
from securechat.relay.factory import ConnectionSettings, RelayFactory

#: Generous limits: the test checks counting, not the relay's flood control.
OPEN_LIMITS = ConnectionSettings(floodBurst=100_000, floodRate=100_000.0)
#: Deadline for one whole generator run (setup, sending and drain).
RUN_BUDGET_S = 8.0


class ExactlyOnceAgainstOurRelayTests(TestCase):
    """Short real runs: the relay in this reactor, the generator in a thread."""

    timeout = 30

    def setUp(self):
        endpoint = serverFromString(reactor, "tcp:0:interface=127.0.0.1")
        d = endpoint.listen(RelayFactory(settings=OPEN_LIMITS))

        def listening(port):
            self.port = port
            self.addCleanup(port.stopListening)

        return d.addCallback(listening)

    def generate(self, **params: Any):
        scenario = Scenario(
            port=self.port.getHost().port,
            verify=True,
            duration=RUN_BUDGET_S,
            drain=0.0,
            setup_timeout=RUN_BUDGET_S,
            **params,
        )
        return threads.deferToThread(run_scenario, scenario)

    def assertExactlyOnce(self, result: Dict[str, Any], sent: int) -> None:
        self.assertEqual(result["errors"], [])
        self.assertEqual(result["setup"]["failed"], 0)
        self.assertEqual(result["verify"], {"missing": 0, "duplicated": 0, "unexpected": 0, "messages": sent})
        totals = result["totals"]
        self.assertEqual(totals["sent"], sent)
        self.assertEqual(totals["delivered"], totals["expected"])
        self.assertEqual(totals["dead_connections"], 0)

    def test_rooms(self):
        """3 rooms of 4, 2 senders each (the witness of a room is not one)."""
        d = self.generate(clients=12, rooms=3, senders=6, messages=40, window=8)

        def check(result):
            self.assertExactlyOnce(result, sent=6 * 40)
            # each room message reaches the 3 other members of its room
            self.assertEqual(result["totals"]["expected"], 6 * 40 * 3)
            self.assertEqual(result["latency_us"]["count"], 6 * 40 * 3)

        return d.addCallback(check)

    def test_direct(self):
        """Direct messages: each sender's partner gets each message once."""
        d = self.generate(clients=8, rooms=0, senders=4, direct=True, messages=40, window=4)
        return d.addCallback(self.assertExactlyOnce, sent=4 * 40)

    def test_fixed_rate(self):
        """Open-loop senders on a schedule still deliver exactly once."""
        d = self.generate(clients=6, rooms=1, senders=2, rate=200.0, messages=30, window=64)
        return d.addCallback(self.assertExactlyOnce, sent=2 * 30)


class PlanTests(SynchronousTestCase):
    """Who sends, who witnesses, who is where: no sockets."""

    def test_every_room_has_senders_and_a_non_sending_witness(self):
        gen = LoadGenerator(Scenario(clients=500, rooms=100, senders=100))
        self.assertEqual(len(gen.senders), 100)
        self.assertEqual(sorted(c.room for c in gen.senders), list(range(100)))
        for members in gen.room_members:
            self.assertEqual(len(members), 5)
            witnesses = [c for c in members if c.witness_for]
            self.assertEqual(len(witnesses), 1)
            self.assertEqual(witnesses[0].sid, -1)

    def test_fanout_counts_every_member_but_the_sender(self):
        gen = LoadGenerator(Scenario(clients=200, rooms=1, senders=20))
        self.assertEqual(gen.fanout, [199])
        for conn in gen.senders:
            conn.seq = 10
        self.assertEqual(gen._expected_deliveries(), 20 * 10 * 199)

    def test_slow_readers_are_not_expected_to_receive(self):
        gen = LoadGenerator(Scenario(clients=10, rooms=1, senders=2, slow_readers=1))
        self.assertEqual(gen.fanout, [9])
        self.assertTrue(gen.conns[-1].slow)

    def test_direct_pairs(self):
        gen = LoadGenerator(Scenario(clients=6, rooms=0, senders=3, direct=True))
        self.assertEqual([c.target for c in gen.senders], [b"b3", b"b4", b"b5"])
        self.assertTrue(all(c.witness_for and c.parse for c in gen.conns[3:]))

    def test_impossible_plans_are_refused(self):
        for params in (dict(clients=4, senders=3, direct=True, rooms=0),
                       dict(clients=3, rooms=2, senders=2),
                       dict(clients=10, rooms=5, senders=2),
                       dict(window=0)):
            self.assertRaises(ValueError, Scenario(**params).validate)


class VerifyTests(SynchronousTestCase):
    """The exactly-once check itself catches loss, duplicates and strays."""

    def planned(self) -> LoadGenerator:
        gen = LoadGenerator(Scenario(clients=4, rooms=1, senders=1, verify=True))
        gen.senders[0].seq = 3
        gen.sent = 3
        for conn in gen.conns[1:]:
            conn.got = Counter({(0, 0): 1, (0, 1): 1, (0, 2): 1})
        return gen

    def test_clean(self):
        self.assertEqual(self.planned()._verify(),
                         {"missing": 0, "duplicated": 0, "unexpected": 0, "messages": 3})

    def test_detects_each_fault(self):
        gen = self.planned()
        receiver: Conn = gen.conns[2]
        receiver.got[(0, 1)] += 1  # duplicated
        del receiver.got[(0, 2)]  # missing
        receiver.got[(7, 0)] += 1  # from nobody we planned
        self.assertEqual(gen._verify(), {"missing": 1, "duplicated": 1, "unexpected": 1, "messages": 3})


class ParseTests(SynchronousTestCase):
    """Lines as servers send them are counted, timed and acknowledged."""

    def test_witness_acks_and_times(self):
        gen = LoadGenerator(Scenario(clients=3, rooms=1, senders=1))
        witness = gen.conns[-1]
        gen.window_open = True
        data = (b":b0!~b0@127.0.0.1 PRIVMSG #r0 :B 0 0 1000000 xx\r\n"
                b"PING :server\r\n"
                b":b0!b0@h PRIVMSG #r0 :B 0 1 2000000 xx\r\n")
        sent = []
        gen._send = lambda conn, line: sent.append(line)  # type: ignore[assignment]
        gen._parse_lines(witness, data, 3_000_000)
        self.assertEqual(witness.count, 2)
        self.assertEqual(gen.senders[0].acked, 2)
        self.assertEqual(list(gen.latencies), [2000, 1000])
        self.assertEqual(sent, [b"PONG :server\r\n"])

    def test_counting_receiver_answers_ping_between_messages(self):
        gen = LoadGenerator(Scenario(clients=3, rooms=1, senders=1))
        counter = gen.conns[1]
        self.assertFalse(counter.parse)
        sent = []
        gen._send = lambda conn, line: sent.append(line)  # type: ignore[assignment]
        counter.state = 3  # READY

        class FakeSock:
            chunks = [b":b0!x@h PRIVMSG #r0 :B 0 0 1 x\r\nPI", b"NG :s\r\n:b0!x@h PRIVMSG #r0 :B 0 1 1 x\r\n"]

            def recv(self, size):
                return self.chunks.pop(0)

        counter.sock = FakeSock()  # type: ignore[assignment]
        gen._readable(counter)
        self.assertEqual((counter.count, counter.tail), (1, b"PI"))
        gen._readable(counter)
        self.assertEqual(counter.count, 2)
        self.assertEqual(sent, [b"PONG :s\r\n"])

    def test_percentiles(self):
        import array

        samples = array.array("q", range(1, 1001))
        stats = percentiles_us(samples)
        self.assertEqual((stats["count"], stats["max"], stats["p50"], stats["p99"]), (1000, 1000, 501, 990))
        self.assertEqual(percentiles_us(array.array("q")), {"count": 0})
