"""
The soak run of bench/soak.py in its CI profile: our relay under twistd in
its own process on 127.0.0.1, a witness pair in another, and every scenario
(fuzz, storms, slowloris, resets, slow readers, big lines, churn, kill -9
and restart) cut down to a few seconds.  Its verdicts are checked here too,
on made-up figures, so that a run that should fail does.
"""

from __future__ import annotations

import io

from twisted.trial.unittest import SynchronousTestCase

from bench import soak


class CIProfileTests(SynchronousTestCase):
    def test_everyScenarioPasses(self) -> None:
        """
        No witness message lost, no witness connection dropped (but by the
        restart), no traceback in the relay's log, every attacker cut or
        answered as documented, and memory back after each scenario.
        """
        out = io.StringIO()
        logs = []
        read = soak.relay_log

        def reading(server):
            logs.append(read(server))
            return logs[-1]

        self.patch(soak, "relay_log", reading)
        report = soak.run(soak.PROFILES["ci"], out=out)
        self.assertEqual(report["failures"], [], out.getvalue())
        self.assertEqual([row["scenario"] for row in report["rows"]], [name for name, _ in soak.SCENARIOS])
        for row in report["rows"]:
            self.assertGreater(row["witness"]["sent"], 0, row["scenario"])
            self.assertIsNotNone(row["witness"]["p99_ms"], row["scenario"])
            for key in ("rss_start_mb", "rss_peak_mb", "rss_after_mb", "cpu_s"):
                self.assertIn(key, row, row["scenario"])
        rows = {row["scenario"]: row for row in report["rows"]}
        self.assertEqual(rows["slowloris"]["cut"], rows["slowloris"]["attackers"])
        self.assertEqual(rows["slow"]["cut"], rows["slow"]["attackers"])
        self.assertEqual(rows["storm"]["registration_timeouts"], soak.PROFILES["ci"].storm_halfopen)
        self.assertEqual(rows["restart"]["witness"]["drops"], 1, "the kill -9 broke the witness once")
        self.assertEqual(report["tracebacks"], 0)
        # The relays' logs were read, whatever their length (a busy machine
        # handles fewer lines in the same time, and logs fewer): the
        # relay killed -9 and the one started after it, each from its start.
        self.assertEqual(len(logs), 2, "both relays' logs were read")
        for log in logs:
            self.assertIn("starting up.", log.splitlines()[0])
        self.assertEqual(report["log_chars"], sum(map(len, logs)))
        self.assertIn("PASSED", out.getvalue())


def _result(sent, recv, drops=()):
    return {"sent": sent, "recv": recv, "duplicates": 0, "drops": list(drops)}


class VerdictTests(SynchronousTestCase):
    """The run fails on what the issue names: checked on made-up figures."""

    def test_lostWitnessMessage(self) -> None:
        result = _result([(0, 1, 100), (1, 1, 200), (2, 1, 300)], [(0, 150), (2, 320)])
        window = soak.witness_window(result, 0, 1000, [])
        self.assertEqual((window["sent"], window["lost"]), (3, 1))
        self.assertEqual(soak.witness_window(result, 250, 1000, [])["lost"], 0, "outside the window")

    def test_lostToTheKillIsNotLost(self) -> None:
        """Messages in flight when the relay is killed -9 are counted apart."""
        result = _result([(0, 1, 100), (1, 1, 200), (2, 2, 900)], [(0, 150), (2, 910)],
                         drops=[(250, "wa1", "closed by the relay")])
        window = soak.witness_window(result, 0, 1000, [(240, 800)])
        self.assertEqual((window["lost"], window["lost_to_restart"], window["unexpected_drops"]), (0, 1, []))
        window = soak.witness_window(result, 0, 1000, [])
        self.assertEqual((window["lost"], window["unexpected_drops"]), (1, ["closed by the relay"]))

    def test_memory(self) -> None:
        """Issue 17's figures fail, the fixed relay's pass."""
        before = {"rss_start_mb": 50.2, "rss_peak_mb": 104.2, "rss_after_mb": 103.9}
        self.assertIn("memory not returned", soak.memory_verdict(before, 16.0, 5.0))
        after = {"rss_start_mb": 50.1, "rss_peak_mb": 103.8, "rss_after_mb": 51.0}
        self.assertIsNone(soak.memory_verdict(after, 16.0, 5.0))
        self.assertIsNone(soak.memory_verdict(dict(before, rss_after_mb=66.0), 16.0, 5.0), "within the slack")
        waves = dict(after, rss_start_mb=40.0, rss_after_mb=55.0, waves=[{"rss_settled_mb": 38.0}, {}])
        self.assertIn("memory not reused", soak.memory_verdict(waves, 16.0, 5.0))
        waves["rss_after_mb"] = 38.2
        self.assertIsNone(soak.memory_verdict(waves, 16.0, 5.0))

    def test_fuzzLines(self) -> None:
        """Hostile but bounded: one line each, never a QUIT, never about #witness."""
        import random

        rng = random.Random(1)
        for _ in range(2000):
            line = soak.fuzz_line(rng)
            self.assertTrue(line.endswith(b"\n"))
            self.assertNotIn(b"\n", line[:-1])
            self.assertFalse(line.upper().startswith(b"QUIT"))
            self.assertNotIn(b"witness", line)

    def test_rotatedLogsAreRead(self) -> None:
        """twistd rotates its log every 1 MB: a traceback in an older part counts too."""
        import os

        class Server:
            workdir = self.mktemp()

            def stderr_text(self) -> str:
                return "stderr\n"

        os.makedirs(Server.workdir)
        for name, text in (("relay.log.2", "oldest\n"), ("relay.log.1", "Traceback\n"), ("relay.log", "newest\n"),
                           ("relay.log.x", "not a part\n")):
            with open(os.path.join(Server.workdir, name), "w") as handle:
                handle.write(text)
        self.assertEqual(soak.relay_log(Server()), "oldest\nTraceback\nnewest\nstderr\n")
