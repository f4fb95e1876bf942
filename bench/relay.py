"""
Relay benchmark: our relay against ngIRCd, same load generator, same run.

Each scenario starts a fresh server (so memory figures start from an idle
process), runs ``bench/loadgen.py`` against it in a separate process, and
stops the server; ours and ngIRCd alternate so a slow moment of the machine
hits both.  Every row prints ours, ngIRCd and the ratio ours/ngIRCd (for
latency and memory, lower is better, so a ratio below 1.0 is ours winning).

    python3 bench/relay.py --quick            # about a minute
    python3 bench/relay.py --json bench/results/relay.json
    python3 bench/relay.py --python pypy3     # our relay under PyPy

The machine is shared (2 cores for the server and the generator): each row
also reports server CPU, generator CPU and what other processes took during
the window; trust the rows where "other" is small, and the deliveries per
server CPU-second, which a busy neighbour disturbs much less.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

try:
    from bench import loadgen, ngircd
except ImportError:  # run as a script: python3 bench/relay.py
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from bench import loadgen, ngircd

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOOPBACK = ngircd.LOOPBACK
OURS = "ours"
NGIRCD = "ngircd"
#: Our relay's limits opened up for a benchmark: the flood bucket never empties
#: and the connection caps sit above the largest scenario.  SendQ stays at its
#: default: bounding a slow reader is part of what we measure.
RELAY_BENCH_ARGS = (
    "--flood-rate=1000000",
    "--flood-burst=1000000",
    "--max-clients=10000",
    "--max-per-ip=10000",
    "--ping-interval=600",
    "--registration-timeout=120",
)
LOADGEN_TIMEOUT_MARGIN_S = 60.0
WARN_OTHER_CPU_PCT = 25.0

TWISTD_BOOT = "import sys; from twisted.scripts.twistd import run; sys.argv[0] = 'twistd'; run()"


class RelayServer(ngircd.ServerProcess):
    """Our relay under twistd -n, in its own process, on a loopback port."""

    def __init__(self, python: str, extra: Tuple[str, ...] = (), profile: str = "", path: str = REPO) -> None:
        super().__init__("bench-relay-")
        self.python = python
        self.path = path
        self.extra = extra
        self.profile = profile

    def command(self) -> List[str]:
        cmd = [self.python, "-c", TWISTD_BOOT, "-n", "--pidfile=",
               "--logfile=" + os.path.join(self.workdir, "relay.log")]
        if self.profile:
            cmd += ["--profile=" + self.profile, "--profiler=cprofile", "--savestats"]
        cmd += ["securechat", "--port=tcp:%d:interface=%s" % (self.port, self.host)]
        cmd += list(RELAY_BENCH_ARGS) + list(self.extra)
        return cmd

    def start(self) -> RelayServer:
        env = dict(os.environ)
        env["PYTHONPATH"] = self.path + os.pathsep + env.get("PYTHONPATH", "")
        # twistd reports bad options on stdout, tracebacks on stderr: keep both.
        with open(os.path.join(self.workdir, "stderr.txt"), "wb") as output:
            self.launch(30.0, env=env, output=output)
        return self

    def failedToStart(self) -> None:
        sys.stderr.write(self.stderr_text())

    def stderr_text(self) -> str:
        try:
            with open(os.path.join(self.workdir, "stderr.txt"), "rb") as handle:
                return handle.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self, grace: float = 30.0) -> None:
        """twistd stops the reactor on SIGTERM; --savestats writes then, so wait."""
        super().stop(grace)


def snapshot_relay(path: str) -> Tuple[str, Dict[str, Any]]:
    """
    Copy securechat/ and our twistd plugin to a temp tree and run from there:
    the working tree is shared, and a relay edited halfway through a run
    would mix two versions in one table.  Returns the copy and what it is.
    """
    dest = tempfile.mkdtemp(prefix="bench-relay-src-")
    shutil.copytree(os.path.join(path, "securechat"), os.path.join(dest, "securechat"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    os.makedirs(os.path.join(dest, "twisted", "plugins"))
    shutil.copy(os.path.join(path, "twisted", "plugins", "securechat_plugin.py"),
                os.path.join(dest, "twisted", "plugins"))
    # A compiled build (python -m securechat.relay.build): its extension
    # modules came with securechat/, mypyc's shared runtime sits beside it.
    runtimes = [name for name in os.listdir(path) if "__mypyc" in name and not name.endswith(".c")]
    for name in runtimes:
        shutil.copy(os.path.join(path, name), dest)
    info: Dict[str, Any] = {"source": path, "mypyc_runtime": runtimes or None}
    git = subprocess.run(["git", "-C", path, "log", "-1", "--format=%h %s", "--",
                          "securechat/relay", "securechat/wire.py"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=False)
    dirty = subprocess.run(["git", "-C", path, "status", "--porcelain", "--", "securechat/relay", "securechat/wire.py"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=False)
    info["relay_commit"] = git.stdout.decode("utf-8", "replace").strip() or None
    info["relay_uncommitted_changes"] = bool(dirty.stdout.strip())
    return dest, info


def relay_available(python: str, path: str = REPO) -> Optional[str]:
    """None if our relay's twistd plugin loads under python, else why not."""
    env = dict(os.environ)
    env["PYTHONPATH"] = path + os.pathsep + env.get("PYTHONPATH", "")
    try:
        out = subprocess.run([python, "-c", TWISTD_BOOT, "securechat", "--help"], cwd=path, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    text = out.stdout.decode("utf-8", "replace")
    if out.returncode != 0 or "--flood-rate" not in text:
        return text.strip().splitlines()[-1] if text.strip() else "exit %d" % out.returncode
    return None


# ---------------------------------------------------------------- scenarios

class Spec:
    """One scenario: loadgen settings, and how to read its rows."""

    def __init__(self, key: str, title: str, params: Dict[str, Any],
                 rows: List[Tuple[str, str, Callable[[Dict[str, Any]], Optional[float]]]],
                 repeat: bool = False, warm_runs: int = 0) -> None:
        self.key = key
        self.title = title
        self.params = params
        self.rows = rows
        self.repeat = repeat
        #: Runs of the same load against the same server before the measured
        #: one (their figures kept in the JSON): a JIT's warm-up is then paid.
        self.warm_runs = warm_runs


def _get(*path: str) -> Callable[[Dict[str, Any]], Optional[float]]:
    def pick(result: Dict[str, Any]) -> Optional[float]:
        value: Any = result
        for part in path:
            if not isinstance(value, dict) or part not in value:
                return None
            value = value[part]
        return value if isinstance(value, (int, float)) else None
    return pick


def _ms(*path: str) -> Callable[[Dict[str, Any]], Optional[float]]:
    inner = _get(*path)

    def pick(result: Dict[str, Any]) -> Optional[float]:
        value = inner(result)
        return None if value is None else value / 1000.0
    return pick


def _rss_growth_mb(result: Dict[str, Any]) -> Optional[float]:
    peak = result.get("server_rss_peak_kb")
    ready = result.get("server_memory", {}).get("rss_ready_kb")
    if peak is None or ready is None:
        return None
    return (peak - ready) / 1024.0


def _slow_cut(result: Dict[str, Any]) -> Optional[float]:
    fates = result.get("slow_readers")
    if not fates:
        return None
    return 1.0 if all(f.get("disconnected") for f in fates) else 0.0


#: Open-loop (fixed rate) senders: the window is only a safety cap.  ngIRCd's
#: 2 KiB input limit concerns lines it has not read yet, which at a rate it
#: sustains stay few; lines in flight to receivers (its Nagle delays them by up
#: to ~40 ms) do not count against it.
RATE_WINDOW = 64
#: Closed-loop senders at saturation: window x ~110-byte lines stays under
#: ngIRCd's 2048-byte read buffer even when it falls behind.
SATURATION_WINDOW = 16
#: The saturating generator (fanout_sat): counting receivers read every this
#: many ms by one sweep (bench/loadgen.py, Scenario.sweep_ms), and witnesses
#: that acknowledge at once (TCP_QUICKACK: ngIRCd's Nagle then waits for no
#: delayed ACK, and its senders' window does not stall on it).
SWEEP_MS = 10.0
#: The sweep's one buffer: what a member receives in a sweep interval at 10 M
#: deliveries/s (about 60 KB) fits with room to spare, so one read drains it.
SWEEP_RECV_SIZE = 256 * 1024
#: idle_warm: registration runs before the measured one.  PyPy 3.9 reached
#: its steady rate after 4 000-6 000 connections (docs/performance.md).
WARM_REGISTRATION_RUNS = 5
#: The room of the slow-reader scenario (and of its control, without one).
SLOW_ROOM = dict(clients=50, rooms=1, senders=20, rate=100.0, body_size=400, window=RATE_WINDOW, latency="all")
HIGHER = "higher is better"
LOWER = "lower is better"


def scenarios(quick: bool, window: int = SATURATION_WINDOW, sweep_ms: float = SWEEP_MS) -> List[Spec]:
    """The issue's scenarios; --quick shortens the windows and the idle count."""
    warm, dur = (0.5, 2.0) if quick else (1.0, 5.0)
    idle = 1000 if quick else 2000
    timed = {"warmup": warm, "duration": dur, "drain": 5.0}
    return [
        Spec("fanout", "fan-out: 1 room x 200, 20 senders, saturation",
             dict(clients=200, rooms=1, senders=20, window=window, **timed),
             [("deliveries/s", HIGHER, _get("deliveries_per_s")),
              ("deliveries per server CPU-s", HIGHER, _get("deliveries_per_server_cpu_s")),
              ("p99 latency at saturation, ms", LOWER, _ms("latency_us", "p99"))],
             repeat=True),
        Spec("fanout_sat", "fan-out: 1 room x 200, 20 senders, saturating generator (sweep reads)",
             dict(clients=200, rooms=1, senders=20, window=window, sweep_ms=sweep_ms, quickack=True,
                  recv_size=SWEEP_RECV_SIZE, **timed),
             [("deliveries/s", HIGHER, _get("deliveries_per_s")),
              ("deliveries per server CPU-s", HIGHER, _get("deliveries_per_server_cpu_s")),
              ("p99 latency at saturation, ms", LOWER, _ms("latency_us", "p99"))],
             repeat=True),
        Spec("fanout_rate", "fan-out: 1 room x 200, 20 senders x 25 msg/s",
             dict(clients=200, rooms=1, senders=20, rate=25.0, window=RATE_WINDOW, latency="all", **timed),
             [("p50 latency, ms", LOWER, _ms("latency_us", "p50")),
              ("p99 latency, ms", LOWER, _ms("latency_us", "p99")),
              ("server CPU %", LOWER, _get("server_cpu_pct"))]),
        Spec("rooms", "many rooms: 100 rooms x 5, one sender each, saturation",
             dict(clients=500, rooms=100, senders=100, window=window, **timed),
             [("deliveries/s", HIGHER, _get("deliveries_per_s")),
              ("deliveries per server CPU-s", HIGHER, _get("deliveries_per_server_cpu_s"))],
             repeat=True),
        Spec("direct", "direct messages: 100 sender->receiver pairs, saturation",
             dict(clients=200, rooms=0, senders=100, direct=True, window=window, **timed),
             [("messages/s", HIGHER, _get("deliveries_per_s")),
              ("messages per server CPU-s", HIGHER, _get("deliveries_per_server_cpu_s"))],
             repeat=True),
        Spec("idle", "%d idle registered connections" % idle,
             dict(clients=idle, rooms=0, senders=0, warmup=0.0, duration=1.0, drain=0.0,
                  connect_concurrency=8),
             [("server memory per connection, bytes", LOWER, _get("server_memory", "bytes_per_connection")),
              ("connect+register/s", HIGHER, _get("setup", "register_per_s")),
              ("registrations per server CPU-s", HIGHER, _get("setup", "registrations_per_server_cpu_s"))]),
        # The same registrations against a server that has already
        # registered (and dropped) WARM_REGISTRATION_RUNS times as many: a
        # relay runs for days, and PyPy's JIT compiles the connection path
        # only after a few thousand connections (docs/performance.md, "The
        # relay on PyPy"); the row above keeps the cold figure.
        Spec("idle_warm", "%d registrations, server warmed by %d before" % (idle, idle * WARM_REGISTRATION_RUNS),
             dict(clients=idle, rooms=0, senders=0, warmup=0.0, duration=0.2, drain=0.0,
                  connect_concurrency=8),
             [("connect+register/s, warm server", HIGHER, _get("setup", "register_per_s")),
              ("registrations per server CPU-s, warm", HIGHER, _get("setup", "registrations_per_server_cpu_s"))],
             warm_runs=WARM_REGISTRATION_RUNS),
        Spec("chat400", "control for slow: 50 members, 20 senders x 100/s, 400 B, no slow reader",
             dict(SLOW_ROOM, warmup=warm, duration=max(5.0, dur * 2), drain=5.0),
             [("p99 latency, ms", LOWER, _ms("latency_us", "p99")),
              ("server RSS growth, MB", LOWER, _rss_growth_mb)]),
        Spec("slow", "slow reader: 1 never-reading member + 50, 20 senders x 100/s, 400 B",
             dict(SLOW_ROOM, slow_readers=1, warmup=warm, duration=max(5.0, dur * 2), drain=5.0),
             [("server RSS growth, MB", LOWER, _rss_growth_mb),
              ("slow reader cut off (1 = yes)", HIGHER, _slow_cut),
              ("others' p99 latency, ms", LOWER, _ms("latency_us", "p99"))]),
    ]


# ------------------------------------------------------------------ running

def run_loadgen(params: Dict[str, Any], port: int, pid: int, oper: str, tag: str,
                python: str = sys.executable) -> Dict[str, Any]:
    """One load generator process against a running server; its JSON result."""
    args = [python, "-m", "bench.loadgen", "--port", str(port), "--server-pid", str(pid),
            "--nick-prefix", tag]
    if oper:
        args += ["--oper", oper]
    for key, value in sorted(params.items()):
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            if value:
                args.append(flag)
        else:
            args += [flag, str(value)]
    budget = sum(float(params.get(k, 0.0)) for k in ("warmup", "duration", "drain")) + LOADGEN_TIMEOUT_MARGIN_S
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run(args, cwd=REPO, env=env, capture_output=True, timeout=budget, check=False)
    if out.returncode != 0:
        return {"failed": out.stderr.decode("utf-8", "replace")[-2000:]}
    return json.loads(out.stdout.decode("utf-8"))


def start_server(kind: str, options: argparse.Namespace) -> Any:
    if kind == NGIRCD:
        return ngircd.NgircdServer().start()
    return RelayServer(options.python, tuple(options.relay_arg), options.profile,
                       os.path.abspath(options.relay_path)).start()


def run_one(kind: str, spec: Spec, options: argparse.Namespace, attempt: int) -> Dict[str, Any]:
    server = start_server(kind, options)
    try:
        time.sleep(0.2)  # let the process settle before the baseline RSS
        oper = "%s:%s" % (ngircd.OPER_NAME, ngircd.OPER_PASSWORD) if kind == NGIRCD and options.ngircd_oper else ""
        warm = [run_loadgen(spec.params, server.port, server.pid, oper, "%s%dw%d" % (spec.key[:1], attempt, run),
                            options.loadgen_python)
                for run in range(spec.warm_runs)]
        result = run_loadgen(spec.params, server.port, server.pid, oper, "%s%d" % (spec.key[:1], attempt),
                             options.loadgen_python)
        if warm:
            result["warm_runs"] = [{"failed": True} if w.get("failed") else w.get("setup", {}) for w in warm]
        if kind == OURS and result.get("failed"):
            result["server_stderr"] = server.stderr_text()[-2000:]
        return result
    finally:
        server.stop()
        if kind == OURS and options.profile:
            print_profile(options.profile, spec.key)


PROFILE_TOP = 25


def print_profile(path: str, key: str) -> None:
    """The top of a cProfile dump of our relay (twistd --savestats)."""
    import pstats

    if not os.path.exists(path):
        sys.stderr.write("no profile written at %s\n" % path)
        return
    sys.stdout.write("== profile of our relay, scenario %s (%s)\n" % (key, path))
    stats = pstats.Stats(path, stream=sys.stdout)
    stats.sort_stats("tottime").print_stats(PROFILE_TOP)
    stats.sort_stats("cumulative").print_stats(PROFILE_TOP)
    sys.stdout.flush()


def median_result(results: List[Dict[str, Any]], key: Callable[[Dict[str, Any]], Optional[float]]) -> Dict[str, Any]:
    """The run whose headline figure is the median (so its other figures stay consistent)."""
    scored = [(key(r), i) for i, r in enumerate(results) if key(r) is not None]
    if not scored:
        return results[0]
    scored.sort()
    return results[scored[(len(scored) - 1) // 2][1]]


def fmt(value: Optional[float]) -> str:
    if value is None:
        return "n/a"
    if abs(value) >= 10000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return "%.0f" % value
    return "%.2f" % value


def machine() -> Dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "platform": platform.platform(),
        "bench_python": "%s %s" % (platform.python_implementation(), platform.python_version()),
        "ngircd": ngircd.version() if ngircd.available() else None,
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def interpreter_version(python: str) -> str:
    probe = "import platform; print(platform.python_implementation(), platform.python_version())"
    out = subprocess.run([python, "-c", probe],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
    return out.stdout.decode().strip()


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="Our relay against ngIRCd, side by side.")
    parser.add_argument("--quick", action="store_true", help="short windows, ~1 minute in all")
    parser.add_argument("--json", default="", help="write all results to this file")
    parser.add_argument("--python", default=sys.executable, help="interpreter for OUR relay (e.g. pypy3)")
    parser.add_argument("--servers", default="ours,ngircd", help="comma list: ours, ngircd")
    parser.add_argument("--only", default="", help="comma list of scenario keys")
    parser.add_argument("--repeat", type=int, default=0,
                        help="runs of each saturation scenario, median kept (default 1 quick, 3 full)")
    parser.add_argument("--relay-path", default=REPO,
                        help="source tree our relay is imported from (to compare a variant; default this checkout)")
    parser.add_argument("--relay-arg", action="append", default=[], help="extra twistd securechat option")
    parser.add_argument("--profile", default="",
                        help="run OUR relay under cProfile, dump stats here and print the top entries "
                             "(figures are then not comparable: use with --servers ours --only fanout)")
    parser.add_argument("--no-ngircd-oper", dest="ngircd_oper", action="store_false",
                        help="do not give ngIRCd's senders +F (relaxed flood protection)")
    parser.add_argument("--loadgen-python", default=sys.executable,
                        help="interpreter for the load generator (needs attrs; e.g. a PyPy venv's python)")
    parser.add_argument("--window", type=int, default=SATURATION_WINDOW,
                        help="messages in flight per sender in the saturation scenarios (default %d)"
                             % SATURATION_WINDOW)
    parser.add_argument("--sweep-ms", type=float, default=SWEEP_MS,
                        help="fanout_sat: read the counting receivers every this many ms (default %g)" % SWEEP_MS)
    parser.add_argument("--baseline", default="",
                        help="a --json of an earlier run: the p99 goals compare this run's ratios with its")
    parser.add_argument("--soak", default="", choices=["", "ci", "quick", "long"],
                        help="also run bench/soak.py with this profile on our relay: its witness p99 goal "
                             "joins the table (quick: ~2 minutes more)")
    options = parser.parse_args(argv)
    loadgen.raise_fd_limit()  # the servers inherit it: thousands of sockets

    kinds = [k.strip() for k in options.servers.split(",") if k.strip()]
    relay_info: Dict[str, Any] = {}
    if OURS in kinds:
        snapshot, relay_info = snapshot_relay(os.path.abspath(options.relay_path))
        options.relay_path = snapshot
    skipped: Dict[str, str] = {}
    if OURS in kinds:
        why = relay_available(options.python, os.path.abspath(options.relay_path))
        if why:
            skipped[OURS] = why
    if NGIRCD in kinds and not ngircd.available():
        skipped[NGIRCD] = "ngircd not installed (apt-get install -y ngircd)"
    for kind, why in skipped.items():
        sys.stderr.write("skipping %s: %s\n" % (kind, why))
    kinds = [k for k in kinds if k not in skipped]
    repeat = options.repeat or (1 if options.quick else 3)
    only = {k.strip() for k in options.only.split(",") if k.strip()}

    report: Dict[str, Any] = {
        "machine": machine(),
        "relay_python": interpreter_version(options.python) if OURS in kinds else None,
        "relay_source": relay_info,
        "command": " ".join([os.path.basename(sys.executable)] + sys.argv),
        "loadgen_python": interpreter_version(options.loadgen_python),
        "relay_args": list(RELAY_BENCH_ARGS) + options.relay_arg,
        "ngircd_config": ngircd.render_config(6667, "/tmp/ngircd-bench") if NGIRCD in kinds else None,
        "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "scenarios": {},
    }
    rows: List[Tuple[str, str, str, Optional[float], Optional[float], str]] = []
    for spec in scenarios(options.quick, options.window, options.sweep_ms):
        if only and spec.key not in only:
            continue
        runs: Dict[str, List[Dict[str, Any]]] = {k: [] for k in kinds}
        for attempt in range(repeat if spec.repeat else 1):
            order = kinds if attempt % 2 == 0 else list(reversed(kinds))
            for kind in order:
                runs[kind].append(run_one(kind, spec, options, attempt))
        chosen = {k: median_result(saturated_runs(v) if spec.repeat else v, spec.rows[0][2])
                  for k, v in runs.items()}
        report["scenarios"][spec.key] = {"title": spec.title, "params": spec.params, "runs": runs, "chosen": chosen}
        for label, better, pick in spec.rows:
            ours = pick(chosen[OURS]) if OURS in chosen else None
            theirs = pick(chosen[NGIRCD]) if NGIRCD in chosen else None
            notes = []
            for kind in kinds:
                res = chosen[kind]
                if res.get("failed"):
                    notes.append("%s FAILED" % kind)
                    continue
                other = res.get("other_cpu_pct")
                notes.append("%s srv %s%% gen %s%%%s%s" % (
                    kind, fmt(res.get("server_cpu_pct")), fmt(res.get("loadgen_cpu_pct")),
                    (" other %s%%!" % fmt(other)) if other is not None and other > WARN_OTHER_CPU_PCT else "",
                    saturation_note(res) if spec.repeat else ""))
                lost = res.get("totals", {}).get("lost")
                dead = res.get("totals", {}).get("dead_connections")
                if lost or dead:
                    notes.append("%s lost %s dead %s" % (kind, lost, dead))
            rows.append((spec.key, label, better, ours, theirs, "; ".join(notes) if label == spec.rows[0][0] else ""))
        print_row_block(rows[-len(spec.rows):], spec.title)
    report["rows"] = [
        {"scenario": r[0], "metric": r[1], "better": r[2], "ours": r[3], "ngircd": r[4],
         "ratio": (r[3] / r[4]) if r[3] is not None and r[4] else None}
        for r in rows
    ]
    if options.soak and OURS in kinds:
        from bench import soak  # it imports this module: here, not at the top

        sys.stdout.write("-- soak (--profile %s) of our relay\n" % options.soak)
        report["soak"] = soak.run(soak.PROFILES[options.soak], python=options.python, path=options.relay_path)
    baseline = load_baseline(options.baseline)
    report["goals"] = goals(report["scenarios"], baseline, report.get("soak"))
    print_goals(report["goals"])
    report["finished"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    if relay_info:
        shutil.rmtree(options.relay_path, ignore_errors=True)
        sys.stdout.write("our relay: %s%s, %s\n" % (relay_info.get("relay_commit"),
                         " + uncommitted changes" if relay_info.get("relay_uncommitted_changes") else "",
                         report["relay_python"]))
    if options.json:
        os.makedirs(os.path.dirname(os.path.abspath(options.json)), exist_ok=True)
        with open(options.json, "w", encoding="utf-8") as handle:
            json.dump(report, handle, indent=1, sort_keys=True)
            handle.write("\n")
    return 0


# -------------------------------------------------------------------- goals

def saturated_runs(results: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """
    The runs of a saturation scenario whose server took a core, if any: the
    median is then taken among them, since on a shared machine a run the
    server spent partly waiting measures the machine (all runs if none).
    """
    full = [r for r in results if (r.get("server_cpu_pct") or 0.0) >= SATURATED_CPU_PCT]
    return full or results


def saturation_note(result: Dict[str, Any]) -> str:
    """For a saturation row: whether the server took a core (else the generator or the machine held it back)."""
    server = result.get("server_cpu_pct")
    if server is None:
        return ""
    return " saturated" if server >= SATURATED_CPU_PCT else " NOT saturated"


#: A saturation row whose server took less of a core than this was limited by
#: the generator (or the machine), not by the server: its rate is a floor.
SATURATED_CPU_PCT = 90.0

#: Issue 24's goals: (name, scenario, figure, at least / at most, target,
#: which CPU window the shares come from).  A ratio is ours/ngIRCd from the
#: same run; "baseline" goals compare it with the same ratio in --baseline.
GOALS: List[Tuple[str, str, str, str, float, str]] = [
    ("direct messages/s", "direct", "messages/s", ">=", 1.0, "window"),
    ("direct messages per server CPU-s", "direct", "messages per server CPU-s", ">=", 1.0, "window"),
    ("connect+register/s", "idle", "connect+register/s", ">=", 1.0, "setup"),
    ("fan-out per server CPU-s", "fanout_sat", "deliveries per server CPU-s", ">=", 3.0, "window"),
    ("server CPU at the same paced load", "fanout_rate", "server CPU %", "<=", 1.0, "window"),
    ("connect+register/s, warm server", "idle_warm", "connect+register/s, warm server", ">=", 1.0, "setup"),
    ("idle memory per connection", "idle", "server memory per connection, bytes", "<=", 1.2, "setup"),
    ("p99 at saturation, fan-out", "fanout", "p99 latency at saturation, ms", "baseline", 1.0, "window"),
    ("p99 at the paced load", "fanout_rate", "p99 latency, ms", "baseline", 1.0, "window"),
]


#: Goals that hold only with our server saturated by the generator.
SATURATION_GOALS = frozenset({"fan-out per server CPU-s"})


def _row_picker(key: str, label: str) -> Optional[Callable[[Dict[str, Any]], Optional[float]]]:
    for spec in scenarios(True):
        if spec.key == key:
            for row_label, _better, pick in spec.rows:
                if row_label == label:
                    return pick
    return None


def _shares(result: Dict[str, Any], where: str) -> Dict[str, Optional[float]]:
    source = result.get("setup", {}) if where == "setup" else result
    return {k: source.get(k + "_cpu_pct") for k in ("server", "loadgen", "other")}


def load_baseline(path: str) -> Dict[str, float]:
    """The ratios of an earlier run's --json, by (scenario, metric)."""
    if not path:
        return {}
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    return {"%s/%s" % (r["scenario"], r["metric"]): r["ratio"] for r in data.get("rows", []) if r.get("ratio")}


#: The soak's goal: the witness's p99 in every scenario, in ms (bench/soak.py).
SOAK_GOAL = "soak witness p99, worst scenario"


def goals(results: Dict[str, Any], baseline: Dict[str, float],
          soak_report: Optional[Dict[str, Any]] = None) -> List[Dict[str, Any]]:
    """Each goal with this run's ratio, whether it is met, and both sides' CPU shares."""
    out: List[Dict[str, Any]] = []
    if soak_report and soak_report.get("rows"):
        from bench import soak

        figures = [(row["scenario"], row["witness"].get("p99_ms")) for row in soak_report["rows"]]
        figures = [(name, p99) for name, p99 in figures if p99 is not None]
        worst = max(figures, key=lambda item: item[1]) if figures else None
        out.append({"goal": SOAK_GOAL, "scenario": worst[0] if worst else None, "metric": "witness p99, ms",
                    "ratio": None, "value": worst[1] if worst else None,
                    "target": "<= %g ms" % soak.WITNESS_P99_GOAL_MS,
                    "met": None if worst is None else not soak.p99_goal_misses(soak_report["rows"]),
                    "shares": {}})
    for name, key, label, sense, target, where in GOALS:
        scenario = results.get(key)
        pick = _row_picker(key, label)
        if scenario is None or pick is None:
            continue
        chosen = scenario["chosen"]
        ours = pick(chosen[OURS]) if OURS in chosen else None
        theirs = pick(chosen[NGIRCD]) if NGIRCD in chosen else None
        ratio = ours / theirs if ours is not None and theirs else None
        goal: Dict[str, Any] = {"goal": name, "scenario": key, "metric": label, "ratio": ratio,
                                "shares": {k: _shares(v, where) for k, v in chosen.items()}}
        if sense == "baseline":
            before = baseline.get("%s/%s" % (key, label))
            goal["target"] = "<= %.2fx (baseline)" % before if before else "<= baseline (none given)"
            goal["met"] = None if ratio is None or before is None else ratio <= before * target
        else:
            goal["target"] = "%s %.1fx" % (sense, target)
            goal["met"] = None if ratio is None else (ratio >= target if sense == ">=" else ratio <= target)
        if key in ("fanout", "fanout_sat", "direct"):
            goal["saturated"] = {
                kind: shares.get("server") is not None and shares["server"] >= SATURATED_CPU_PCT
                for kind, shares in goal["shares"].items()
            }
            if name in SATURATION_GOALS:
                # The goal is about a saturated server: a ratio measured
                # below saturation says neither yes nor no.
                goal["target"] += ", saturated"
                if goal["met"] and not goal["saturated"].get(OURS):
                    goal["met"] = None
        out.append(goal)
    return out


def _share_text(shares: Optional[Dict[str, Optional[float]]]) -> str:
    if not shares:
        return "n/a"
    values = (shares["server"], shares["loadgen"], shares["other"])
    return "/".join("%.0f" % v if v is not None else "?" for v in values)


def print_goals(rows: List[Dict[str, Any]]) -> None:
    """The issue's goals, each with its ratio and each side's CPU (server/generator/other, % of a core)."""
    if not rows:
        return
    sys.stdout.write("== goals: ratio ours/ngIRCd of this run; CPU as server/generator/other % of a core\n")
    sys.stdout.write("%-36s %-22s %7s %5s  %-13s %-13s\n"
                     % ("goal", "target", "ratio", "met", "ours CPU", "ngircd CPU"))
    for row in rows:
        ratio = "%.2fx" % row["ratio"] if row["ratio"] is not None else "n/a"
        if row.get("value") is not None:
            ratio = "%.0f ms" % row["value"]  # a figure of ours alone, not a ratio
        met = {True: "yes", False: "NO", None: "?"}[row["met"]]
        under = [kind for kind, full in sorted(row.get("saturated", {}).items()) if not full]
        note = ""
        if under:
            note = "  (%s under %.0f%% of a core: held back by the generator or the machine)" % (
                " and ".join(under), SATURATED_CPU_PCT)
        if row["goal"] == SOAK_GOAL and row.get("scenario"):
            note = "  (in %s)" % row["scenario"]
        sys.stdout.write("%-36s %-22s %7s %5s  %-13s %-13s%s\n" % (
            row["goal"], row["target"], ratio, met, _share_text(row["shares"].get(OURS)),
            _share_text(row["shares"].get(NGIRCD)), note))
    sys.stdout.flush()


HEADER_DONE: List[bool] = []


def print_row_block(rows: List[Tuple[str, str, str, Optional[float], Optional[float], str]], title: str) -> None:
    """Print as we go: a long run shows its figures before it ends."""
    if not HEADER_DONE:
        HEADER_DONE.append(True)
        sys.stdout.write("%-38s %14s %14s %7s  %s\n" % ("metric", "ours", "ngircd", "ratio", "notes"))
    sys.stdout.write("-- %s\n" % title)
    for _key, label, better, ours, theirs, notes in rows:
        ratio = "%.2fx" % (ours / theirs) if ours is not None and theirs else "n/a"
        mark = "^" if better == HIGHER else "v"
        sys.stdout.write("%-38s %14s %14s %7s  %s\n" % (mark + " " + label, fmt(ours), fmt(theirs), ratio, notes))
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
