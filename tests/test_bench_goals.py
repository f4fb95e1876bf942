"""
bench/relay.py's goal table: each of issue 24's goals read from a run's
results, judged against its target, with both sides' CPU shares.
"""

from __future__ import annotations

import io
import json
import os
import sys
import tempfile
from typing import Any, Dict
from unittest import mock

from twisted.trial.unittest import SynchronousTestCase

from bench import loadgen, relay


def _result(**fields: Any) -> Dict[str, Any]:
    base: Dict[str, Any] = {"server_cpu_pct": 99.0, "loadgen_cpu_pct": 50.0, "other_cpu_pct": 1.0}
    base.update(fields)
    return base


def _scenarios(ours_direct: float, theirs_direct: float, ours_server: float) -> Dict[str, Any]:
    return {
        "direct": {"chosen": {
            relay.OURS: _result(deliveries_per_s=ours_direct, deliveries_per_server_cpu_s=ours_direct,
                                server_cpu_pct=ours_server),
            relay.NGIRCD: _result(deliveries_per_s=theirs_direct, deliveries_per_server_cpu_s=theirs_direct),
        }},
        "fanout_rate": {"chosen": {
            relay.OURS: _result(server_cpu_pct=40.0, latency_us={"p99": 4000}),
            relay.NGIRCD: _result(server_cpu_pct=50.0, latency_us={"p99": 40000}),
        }},
        "idle": {"chosen": {
            relay.OURS: {"server_memory": {"bytes_per_connection": 3600.0},
                         "setup": {"register_per_s": 5000.0, "server_cpu_pct": 70.0,
                                   "loadgen_cpu_pct": 60.0, "other_cpu_pct": 3.0}},
            relay.NGIRCD: {"server_memory": {"bytes_per_connection": 3000.0},
                           "setup": {"register_per_s": 10000.0}},
        }},
    }


class GoalTests(SynchronousTestCase):
    def goals(self, scenarios: Dict[str, Any], baseline: Dict[str, float]) -> Dict[str, Dict[str, Any]]:
        return {g["goal"]: g for g in relay.goals(scenarios, baseline)}

    def test_ratiosAndVerdicts(self) -> None:
        """Each goal's ratio is ours/ngIRCd and is judged by its direction and target."""
        goals = self.goals(_scenarios(300.0, 200.0, 95.0), {})
        self.assertAlmostEqual(goals["direct messages/s"]["ratio"], 1.5)
        self.assertTrue(goals["direct messages/s"]["met"])
        self.assertAlmostEqual(goals["server CPU at the same paced load"]["ratio"], 0.8)
        self.assertTrue(goals["server CPU at the same paced load"]["met"])
        self.assertAlmostEqual(goals["connect+register/s"]["ratio"], 0.5)
        self.assertFalse(goals["connect+register/s"]["met"])
        self.assertAlmostEqual(goals["idle memory per connection"]["ratio"], 1.2)
        self.assertTrue(goals["idle memory per connection"]["met"])
        # Scenarios not run have no goal row.
        self.assertNotIn("fan-out per server CPU-s", goals)

    def test_sharesFromTheirWindow(self) -> None:
        """Setup goals show the setup's CPU; the others the measurement window's."""
        goals = self.goals(_scenarios(300.0, 200.0, 95.0), {})
        self.assertEqual(goals["connect+register/s"]["shares"][relay.OURS],
                         {"server": 70.0, "loadgen": 60.0, "other": 3.0})
        self.assertEqual(goals["direct messages/s"]["shares"][relay.OURS]["server"], 95.0)

    def test_saturationNoted(self) -> None:
        """A saturation row whose server was not busy is marked, and printed as such."""
        goals = self.goals(_scenarios(300.0, 200.0, 60.0), {})
        self.assertEqual(goals["direct messages/s"]["saturated"], {relay.OURS: False, relay.NGIRCD: True})
        out = io.StringIO()
        with mock.patch.object(sys, "stdout", out):
            relay.print_goals(list(goals.values()))
        [line] = [x for x in out.getvalue().splitlines() if x.startswith("direct messages/s")]
        self.assertIn("ours under 90% of a core", line)

    def test_baselineComparison(self) -> None:
        """The p99 goals compare this run's ratio with the baseline's."""
        goals = self.goals(_scenarios(1.0, 1.0, 99.0), {"fanout_rate/p99 latency, ms": 0.05})
        self.assertFalse(goals["p99 at the paced load"]["met"])  # 0.10x now
        goals = self.goals(_scenarios(1.0, 1.0, 99.0), {"fanout_rate/p99 latency, ms": 0.2})
        self.assertTrue(goals["p99 at the paced load"]["met"])
        goals = self.goals(_scenarios(1.0, 1.0, 99.0), {})
        self.assertIsNone(goals["p99 at the paced load"]["met"])

    def test_loadBaseline(self) -> None:
        """A --json report's rows are read back by scenario and metric."""
        with tempfile.TemporaryDirectory() as where:
            path = os.path.join(where, "run.json")
            with open(path, "w", encoding="utf-8") as handle:
                json.dump({"rows": [{"scenario": "fanout", "metric": "p99 latency at saturation, ms", "ratio": 0.4},
                                    {"scenario": "idle", "metric": "connect+register/s", "ratio": None}]}, handle)
            self.assertEqual(relay.load_baseline(path), {"fanout/p99 latency at saturation, ms": 0.4})
        self.assertEqual(relay.load_baseline(""), {})


class WarmRegistrationTests(SynchronousTestCase):
    def test_warmGoalReadsItsOwnScenario(self) -> None:
        """The warm-server registration goal comes from idle_warm; the cold goal stays on idle."""
        scenarios = _scenarios(1.0, 1.0, 99.0)
        goals = {g["goal"]: g for g in relay.goals(scenarios, {})}
        self.assertNotIn("connect+register/s, warm server", goals)
        scenarios["idle_warm"] = {"chosen": {
            relay.OURS: {"setup": {"register_per_s": 11000.0, "server_cpu_pct": 80.0}},
            relay.NGIRCD: {"setup": {"register_per_s": 10000.0}},
        }}
        goals = {g["goal"]: g for g in relay.goals(scenarios, {})}
        self.assertAlmostEqual(goals["connect+register/s, warm server"]["ratio"], 1.1)
        self.assertTrue(goals["connect+register/s, warm server"]["met"])
        self.assertAlmostEqual(goals["connect+register/s"]["ratio"], 0.5)
        self.assertFalse(goals["connect+register/s"]["met"])

    def test_warmRunsBeforeTheMeasuredOne(self) -> None:
        """
        idle_warm runs the same load against the same server first, as many
        times as its spec says, and keeps their setup figures beside the
        measured run's; other scenarios run once.
        """
        [spec] = [s for s in relay.scenarios(True) if s.key == "idle_warm"]
        self.assertEqual(spec.warm_runs, relay.WARM_REGISTRATION_RUNS)
        self.assertGreater(spec.warm_runs, 0)

        class Server:
            port, pid = 6667, 42
            stopped = 0

            def stop(self) -> None:
                self.stopped += 1

        server = Server()
        calls = []

        def fake(params, port, pid, oper, tag, python=sys.executable):
            calls.append((port, pid, tag))
            return {"setup": {"register_per_s": float(len(calls))}}

        options = mock.Mock(profile="", ngircd_oper=False, loadgen_python=sys.executable)
        with mock.patch.object(relay, "start_server", return_value=server), \
                mock.patch.object(relay, "run_loadgen", side_effect=fake), \
                mock.patch.object(relay.time, "sleep"):
            result = relay.run_one(relay.NGIRCD, spec, options, 0)
        self.assertEqual(len(calls), spec.warm_runs + 1)
        self.assertEqual({(port, pid) for port, pid, _ in calls}, {(6667, 42)})
        self.assertEqual(len({tag for _, _, tag in calls}), len(calls), "each run its own nicks")
        self.assertEqual(result["setup"]["register_per_s"], float(spec.warm_runs + 1))
        self.assertEqual([w["register_per_s"] for w in result["warm_runs"]],
                         [float(n) for n in range(1, spec.warm_runs + 1)])
        self.assertEqual(server.stopped, 1)
        calls.clear()
        [idle] = [s for s in relay.scenarios(True) if s.key == "idle"]
        with mock.patch.object(relay, "start_server", return_value=server), \
                mock.patch.object(relay, "run_loadgen", side_effect=fake), \
                mock.patch.object(relay.time, "sleep"):
            result = relay.run_one(relay.NGIRCD, idle, options, 0)
        self.assertEqual(len(calls), 1)
        self.assertNotIn("warm_runs", result)


class CpuShareTests(SynchronousTestCase):
    def test_shares(self) -> None:
        """Server, generator and others' CPU between two snapshots, and a count per server CPU-second."""
        gen = loadgen.LoadGenerator(loadgen.Scenario(clients=2, rooms=1, senders=1, server_pid=1))
        gen.ticks_per_s = 100
        out: Dict[str, Any] = {}
        # (ns, server ticks, own CPU seconds, busy ticks of the machine)
        gen._cpu_shares(out, (0, 100, 1.0, 1000), (2 * loadgen.NS_PER_S, 250, 2.0, 1400), 3000, "per_cpu")
        self.assertEqual(out, {"loadgen_cpu_pct": 50.0, "server_cpu_pct": 75.0, "per_cpu": 2000.0,
                               "other_cpu_pct": 75.0})


class SoakGoalTests(SynchronousTestCase):
    def test_p99Misses(self) -> None:
        """Scenarios over the witness p99 goal are named with their figure; a scenario without one is not."""
        from bench import soak

        rows = [{"scenario": "fuzz", "witness": {"p99_ms": 13.2}},
                {"scenario": "churn", "witness": {"p99_ms": 211.9}},
                {"scenario": "restart", "witness": {"p99_ms": None}},
                {"scenario": "storm", "witness": {"p99_ms": soak.WITNESS_P99_GOAL_MS}}]
        self.assertEqual(soak.p99_goal_misses(rows), [("churn", 211.9)])
        out = io.StringIO()
        soak._print_summary(out, [dict(r, witness=dict(r["witness"], sent=1, max_ms=1.0, lost=0, drops=0))
                                  for r in rows],
                            {"sent": 4, "lost": 0, "lost_to_restart": 0, "p99_ms": 12.0}, [])
        self.assertIn("witness p99 goal (<= 50 ms in every scenario, issue 24): NOT met: churn 211.9 ms",
                      out.getvalue())

    def test_floodControl(self) -> None:
        """The soak opens the relay's flood control unless asked for its defaults; then the witness stays under them."""
        from bench import soak

        opened = soak.choose_profile("quick")
        self.assertIn("--flood-rate=1000000", soak.relay_args(opened))
        closed = soak.choose_profile("quick", "default")
        self.assertEqual([a for a in soak.relay_args(closed) if a.startswith("--flood")],
                         ["--flood-rate=8", "--flood-burst=40"])
        self.assertLessEqual(closed.witness_rate, 8.0)
        self.assertEqual(closed.witness_rate, soak.DEFAULT_FLOOD_WITNESS_RATE)
        self.assertEqual(opened.witness_rate, soak.PROFILES["quick"].witness_rate)

    def test_soakGoalRow(self) -> None:
        """With a soak report, the worst scenario's witness p99 is a goal row of its own."""
        report = {"rows": [{"scenario": "fuzz", "witness": {"p99_ms": 13.2}},
                           {"scenario": "churn", "witness": {"p99_ms": 61.0}},
                           {"scenario": "restart", "witness": {"p99_ms": None}}]}
        [row] = [g for g in relay.goals({}, {}, report) if g["goal"] == relay.SOAK_GOAL]
        self.assertEqual((row["scenario"], row["value"], row["met"]), ("churn", 61.0, False))
        report["rows"][1]["witness"]["p99_ms"] = 20.0
        [row] = relay.goals({}, {}, report)
        self.assertEqual((row["scenario"], row["value"], row["met"]), ("churn", 20.0, True))
        out = io.StringIO()
        with mock.patch.object(sys, "stdout", out):
            relay.print_goals([row])
        self.assertIn("20 ms", out.getvalue())
        self.assertIn("(in churn)", out.getvalue())


class RecvSizeTests(SynchronousTestCase):
    def test_recvSize(self) -> None:
        """The receivers' read size is the scenario's, and a tiny one is refused."""
        self.assertRaises(ValueError, loadgen.Scenario(recv_size=100).validate)
        gen = loadgen.LoadGenerator(loadgen.Scenario(clients=2, rooms=1, senders=1, recv_size=4096))
        asked = []

        class Sock:
            def recv(self, size: int) -> bytes:
                asked.append(size)
                return b""

        conn = gen.conns[0]
        conn.sock = Sock()  # type: ignore[assignment]
        conn.state = loadgen.READY
        with mock.patch.object(gen, "_kill"):
            gen._readable(conn)
        self.assertEqual(asked, [4096])


class SaturationGoalTests(SynchronousTestCase):
    def test_fanoutNeedsASaturatedServer(self) -> None:
        """The fan-out goal is met only when our server was saturated; below, it is unknown."""
        def scenario(server: float) -> Dict[str, Any]:
            return {"fanout_sat": {"chosen": {
                relay.OURS: _result(deliveries_per_server_cpu_s=9e6, server_cpu_pct=server),
                relay.NGIRCD: _result(deliveries_per_server_cpu_s=2e6),
            }}}

        [saturated] = [g for g in relay.goals(scenario(97.0), {}) if g["goal"] == "fan-out per server CPU-s"]
        self.assertEqual((saturated["met"], saturated["target"]), (True, ">= 3.0x, saturated"))
        [below] = [g for g in relay.goals(scenario(60.0), {}) if g["goal"] == "fan-out per server CPU-s"]
        self.assertIsNone(below["met"])

    def test_medianAmongSaturatedRuns(self) -> None:
        """A saturation scenario's figure comes from the runs whose server took a core, when there are some."""
        runs = [_result(server_cpu_pct=cpu, deliveries_per_s=rate)
                for cpu, rate in ((99.0, 9.0), (60.0, 8.0), (70.0, 7.0), (95.0, 5.0), (97.0, 4.0))]
        self.assertEqual([r["deliveries_per_s"] for r in relay.saturated_runs(runs)], [9.0, 5.0, 4.0])
        chosen = relay.median_result(relay.saturated_runs(runs), relay._get("deliveries_per_s"))
        self.assertEqual(chosen["deliveries_per_s"], 5.0)
        unsaturated = runs[1:3]
        self.assertEqual(relay.saturated_runs(unsaturated), unsaturated)

    def test_fanoutGoalReadsTheSaturatingGenerator(self) -> None:
        """The fan-out goal comes from the sweep generator's scenario, not the readiness one."""
        only_old = {"fanout": {"chosen": {relay.OURS: _result(deliveries_per_server_cpu_s=9e6),
                                          relay.NGIRCD: _result(deliveries_per_server_cpu_s=2e6)}}}
        self.assertEqual([g["goal"] for g in relay.goals(only_old, {})], ["p99 at saturation, fan-out"])
        [spec] = [s for s in relay.scenarios(True) if s.key == "fanout_sat"]
        self.assertEqual((spec.params["sweep_ms"], spec.params["quickack"]), (relay.SWEEP_MS, True))
        self.assertEqual(relay.saturation_note({"server_cpu_pct": 95.0}), " saturated")
        self.assertEqual(relay.saturation_note({"server_cpu_pct": 60.0}), " NOT saturated")


LINE = b":f003!f003@127.0.0.1 PRIVMSG #r0 :B 00003 0000000017 00000000001234567890 xxxx\r\n"


class FakeSock:
    """recv_into from a list of chunks, then EAGAIN (or end of stream: b"")."""

    def __init__(self, chunks: Any, end: bool = False) -> None:
        self.chunks = list(chunks)
        self.end = end
        self.sent: list = []

    def recv_into(self, view: memoryview) -> int:
        if not self.chunks:
            if self.end:
                return 0
            raise BlockingIOError()
        chunk = self.chunks.pop(0)
        assert len(chunk) <= len(view)
        view[:len(chunk)] = chunk
        return len(chunk)

    def send(self, data: bytes) -> int:
        self.sent.append(data)
        return len(data)

    def close(self) -> None:
        pass


class SweepTests(SynchronousTestCase):
    def generator(self, **fields: Any) -> loadgen.LoadGenerator:
        values: Dict[str, Any] = dict(clients=12, rooms=1, senders=2, sweep_ms=10.0, recv_size=1024)
        values.update(fields)
        return loadgen.LoadGenerator(loadgen.Scenario(**values))

    def ready(self, gen: loadgen.LoadGenerator, sock: FakeSock) -> loadgen.Conn:
        conn = gen.conns[0]
        conn.sock = sock  # type: ignore[assignment]
        conn.state = loadgen.READY
        return conn

    def test_whoIsLazy(self) -> None:
        """Counting receivers (senders included) are swept; witnesses and slow readers are not; nicks are one width."""
        gen = self.generator()
        self.assertEqual([c.lazy for c in gen.conns], [True] * 11 + [False])
        self.assertEqual({len(c.nick) for c in gen.conns}, {3})
        self.assertEqual(gen.conns[3].nick, "b03")
        self.assertFalse(any(c.lazy for c in self.generator(sweep_ms=0.0).conns))
        self.assertFalse(any(c.lazy for c in self.generator(verify=True).conns))

    def test_fixedWidthLines(self) -> None:
        """Under the sweep a sender's lines all have one length, whatever the numbers."""
        gen = self.generator()
        sender = gen.senders[0]
        sender.state = loadgen.READY
        sock = FakeSock([])
        sender.sock = sock  # type: ignore[assignment]
        gen.lazy.append(gen.conns[1])
        gen.sending = True
        for now in (5, 10**15):
            sender.acked = sender.seq
            gen._pump(sender, now)
        lines = b"".join(sock.sent).split(b"\r\n")[:-1]
        self.assertEqual(len(lines), 2 * gen.sc.window)
        self.assertEqual(len({len(line) for line in lines}), 1)

    def test_uniformLines(self) -> None:
        """Deliveries of one length are counted by stride; anything else returns 0 (count them all)."""
        buf = bytearray(LINE * 5)
        self.assertEqual(loadgen.LoadGenerator._uniform_lines(buf, len(buf)), 5)
        mixed = bytearray(LINE * 2 + b"PING :x\r\n" + LINE)
        self.assertEqual(loadgen.LoadGenerator._uniform_lines(mixed, len(mixed)), 0)
        ping = b"PING :" + b"y" * (len(LINE) - 8) + b"\r\n"  # a control line as long as a delivery
        same = bytearray(LINE + ping + LINE)
        self.assertEqual(loadgen.LoadGenerator._uniform_lines(same, len(same)), 0)

    def test_readLazyCountsAcrossReads(self) -> None:
        """A line cut between two reads is counted once, when whole; a read that fills the buffer reads again."""
        gen = self.generator()
        gen.window_open = True
        data = LINE * 20  # longer than the 1024-byte buffer
        sock = FakeSock([data[:1024], data[1024:1500]])
        conn = self.ready(gen, sock)
        gen._read_lazy(conn)
        self.assertEqual((conn.count, gen.delivered, gen.sweep_reads), (1500 // len(LINE), 1500 // len(LINE), 2))
        sock.chunks = [data[1500:]]
        gen._read_lazy(conn)
        self.assertEqual((conn.count, gen.delivered, conn.tail), (20, 20, b""))

    def test_readLazyControlLines(self) -> None:
        """A PING among deliveries is answered and not counted, in the window or out of it."""
        for window in (False, True):
            gen = self.generator()
            gen.window_open = window
            sock = FakeSock([LINE * 3 + b"PING :here\r\n" + LINE])
            conn = self.ready(gen, sock)
            gen._read_lazy(conn)
            self.assertEqual((conn.count, sock.sent), (4, [b"PONG :here\r\n"]))

    def test_readLazyClosed(self) -> None:
        """The server closing a swept receiver kills it, with the server's ERROR if any."""
        gen = self.generator()
        sock = FakeSock([b"ERROR :Closing link\r\n"], end=True)
        conn = self.ready(gen, sock)
        conn.events = 0
        gen._read_lazy(conn)  # one read per sweep: the end of the stream is the next sweep's
        self.assertEqual(conn.state, loadgen.READY)
        gen._read_lazy(conn)
        self.assertEqual(conn.state, loadgen.DEAD)
        self.assertIn("Closing link", gen.errors[0])

    def test_sweepSlices(self) -> None:
        """A sweep reads one slice of the lazy receivers; SWEEP_GROUPS sweeps read each exactly once."""
        gen = self.generator(clients=30)
        read: list = []
        with mock.patch.object(gen, "_read_lazy", read.append):
            for conn in gen.conns:
                if conn.lazy:
                    conn.state = loadgen.READY
                    gen.lazy.append(conn)
            gen._sweep()
            self.assertLess(len(read), len(gen.lazy))
            for _ in range(loadgen.SWEEP_GROUPS - 1):
                gen._sweep()
        self.assertEqual(sorted(c.idx for c in read), sorted(c.idx for c in gen.lazy))
        self.assertEqual(gen.sweep_step_ns * loadgen.SWEEP_GROUPS, gen.sweep_ns)

    def test_validate(self) -> None:
        self.assertRaises(ValueError, loadgen.Scenario(sweep_ms=-1.0).validate)
        self.assertRaises(ValueError, loadgen.Scenario(rcvbuf=-1).validate)
