"""
Soak test: the relay under abuse, with a witness pair that must not notice.

Starts our relay (``twistd -n securechat``, its own process, so its memory is
real) on 127.0.0.1 and a *witness* pair (its own process too: the abuse must
not slow the instrument) that talks in ``#witness`` at a steady rate for the
whole run, timing every message.  Then, one after the other, scenarios that
attack the relay:

    fuzz       random bytes and random commands (invalid UTF-8, NUL, long lines...)
    storm      connect/register/QUIT cycles, then connections that never register
    slowloris  peers sending one byte a second of a line they never finish
    resets     members of a busy room that leave with a TCP reset mid-fan-out
    slow       members of a room at 1,000 msg/s that never read (cut by the SendQ), in waves
    slowdm     the same, sent direct messages: each reader's queue is its own bytes
    biglines   1 MiB and 64 KiB lines, then a PING on the same connection
    churn      NICK/JOIN/PART as fast as the relay takes them
    restart    kill -9 the relay, start it again on the same port

Per scenario it reports: the witness's p99 latency, witness messages lost,
witness connections dropped, attackers the relay cut, the relay's RSS at the
start, its peak and ``settle`` seconds after the end (5 s but in the CI
profile), and the relay's CPU (RSS and CPU from /proc/PID).  It fails (exit 1)
on any lost witness message, any witness connection dropped (but by the
restart), any traceback in the relay's log, any attacker not cut or answered
as documented, or memory not returned: RSS ``settle`` seconds after a
scenario more than ``--rss-slack-mb`` (default 16 MB) above where it started,
or later waves of slow readers adding more than that to the first's (see
L{memory_verdict}).

    python3 bench/soak.py                     # long form, the issue's counts (~4 min)
    python3 bench/soak.py --profile quick     # ~2 minutes
    python3 bench/soak.py --profile ci        # what tests/test_soak.py runs (~30 s)
    python3 bench/soak.py --only slow,restart --json /tmp/soak.json

Every loop is bounded in count and in time; everything talks to 127.0.0.1 only
and stops by itself.  See docs/operations.md for figures.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import random
import selectors
import socket
import struct
import subprocess
import sys
import threading
import time
from collections import Counter
from functools import partial
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

import attr

try:
    from bench import loadgen, ngircd
    from bench.relay import REPO, RelayServer
except ImportError:  # run as a script: python3 bench/soak.py
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from bench import loadgen, ngircd
    from bench.relay import REPO, RelayServer
from securechat.relay.factory import ConnectionSettings  # noqa: E402 (after the path is set)

LOOPBACK = ngircd.LOOPBACK
NS = 1_000_000_000
WITNESS_ROOM = b"#witness"
#: Seconds the witness drains at the end: a message not arrived by then is lost.
WITNESS_DRAIN_S = 5.0
#: The witness gives up by itself after this long, whatever the driver does.
WITNESS_MAX_S = 3600.0
#: Default for "memory not returned": RSS this far above the scenario's start,
#: ``settle`` seconds after it ended, fails the run.  Issue 17's leak was
#: 42-54 MB after one wave of 50 cut slow readers.
RSS_SLACK_MB = 16.0
TICK_S = 0.02
RECV_SIZE = 65536


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Profile:
    """How hard and how long: counts, rates and the relay's timeouts."""

    name: str
    registration_timeout: float
    ping_interval: float
    settle: float
    witness_rate: float
    fuzz_lines: int
    fuzz_peers: int
    storm_cycles: int
    storm_halfopen: int
    slowloris: int
    resets: int
    reset_rate: float
    slow_readers: int
    slow_waves: int
    slow_rate: float
    slow_rcvbuf: int
    slowdm_rate: float
    big_mib: int
    big_64k: int
    churn: int
    #: "open": flood control out of the way (the hostile clients go as fast
    #: as TCP lets them); "default": the relay's own defaults (8 lines/s,
    #: burst 40), which pace every client, the witness included.
    flood: str = "open"


PROFILES = {
    # The run: 100,000 fuzz lines, 3,000 cycles, 2,000 half-open,
    # 1,980 resets, 50 readers that never read, 30,000 NICK/JOIN/PART.
    "long": Profile("long", 10.0, 30.0, 5.0, 50.0, 100_000, 8, 3000, 2000, 200, 1980, 200.0,
                    50, 2, 1000.0, 0, 8000.0, 4, 64, 30_000),
    "quick": Profile("quick", 3.0, 5.0, 5.0, 50.0, 20_000, 4, 1000, 500, 50, 500, 200.0,
                     10, 2, 1000.0, 4096, 6000.0, 2, 16, 10_000),
    # What CI affords: every scenario, a few seconds each.
    "ci": Profile("ci", 2.0, 3.0, 1.0, 50.0, 3000, 3, 150, 100, 20, 100, 200.0,
                  3, 1, 4000.0, 4096, 3000.0, 1, 4, 2000),
}


#: The witness's rate when the relay's flood control is at its defaults (8
#: lines/s after a burst of 40): under it, so the witness's own bucket never
#: delays it and its latency is the relay's, not its own throttling.
DEFAULT_FLOOD_WITNESS_RATE = 6.0


def choose_profile(name: str, flood: str = "open") -> Profile:
    """A named profile, with the relay's default flood control if C{flood} is "default" (and the witness under it)."""
    profile = PROFILES[name]
    if flood == "default":
        profile = attr.evolve(profile, flood="default",
                              witness_rate=min(profile.witness_rate, DEFAULT_FLOOD_WITNESS_RATE))
    return profile


def relay_args(profile: Profile) -> Tuple[str, ...]:
    """
    The relay's options for a soak run (after bench.relay's, which they
    override): flood control opened up so the fuzz and churn finish in
    time, connection caps above the largest storm (all come from
    127.0.0.1), and short timeouts so slowloris and half-open peers are cut
    within the scenario.  SendQ stays at its default: it is what ``slow``
    tests.
    """
    if profile.flood == "default":
        defaults = ConnectionSettings()
        flood = ("--flood-rate=%g" % defaults.floodRate, "--flood-burst=%d" % defaults.floodBurst)
    else:
        flood = ("--flood-rate=1000000", "--flood-burst=1000000")
    return flood + (
        "--max-clients=10000", "--max-per-ip=10000",
        "--registration-timeout=%g" % profile.registration_timeout,
        "--ping-interval=%g" % profile.ping_interval,
        "--ping-timeout=%g" % profile.ping_interval,
    )


# ------------------------------------------------------------------ sampling

class Sampler(threading.Thread):
    """The relay's RSS and CPU from /proc/PID every ``interval`` seconds."""

    def __init__(self, interval: float = 0.1) -> None:
        super().__init__(name="soak-sampler", daemon=True)
        self.interval = interval
        self.pid = 0
        self.samples: List[Tuple[int, int, int, int]] = []  # (ns, pid, rss_kb, cpu ticks)
        self._halt = threading.Event()
        self._lock = threading.Lock()

    def run(self) -> None:
        while not self._halt.wait(self.interval):
            self.sample()

    def sample(self) -> Optional[Tuple[int, int, int, int]]:
        pid = self.pid
        if not pid:
            return None
        try:
            point = (time.monotonic_ns(), pid, loadgen.read_rss_kb(pid), loadgen.read_cpu_ticks(pid))
        except (OSError, IndexError, ValueError):
            return None
        with self._lock:
            self.samples.append(point)
        return point

    def stop(self) -> None:
        self._halt.set()

    def between(self, start: int, end: int) -> List[Tuple[int, int, int, int]]:
        with self._lock:
            return [s for s in self.samples if start <= s[0] <= end]


# ------------------------------------------------------------------- witness

class _WConn:
    __slots__ = ("nick", "sock", "tail", "joined")

    def __init__(self, nick: bytes, sock: socket.socket) -> None:
        self.nick = nick
        self.sock = sock
        self.tail = b""
        self.joined = False


class Witness:
    """
    Two clients in #witness: ``a`` sends ``W <seq> <monotonic ns>`` at a fixed
    rate once both have joined, ``b`` times each arrival.  A broken
    connection is recorded and both reconnect (new nicks: the old ones may
    linger a moment).  Runs until stdin closes, then drains and prints one
    ``result`` line of JSON.
    """

    def __init__(self, host: str, port: int, rate: float) -> None:
        self.addr = (host, port)
        self.interval_ns = int(NS / rate)
        self.sel = selectors.DefaultSelector()
        self.epoch = 0
        self.a: Optional[_WConn] = None
        self.b: Optional[_WConn] = None
        self.seq = 0
        self.sent: List[Tuple[int, int, int]] = []  # (seq, epoch, sent ns)
        self.recv: Dict[int, int] = {}
        self.duplicates = 0
        self.drops: List[Tuple[int, str, str]] = []
        self.next_due = 0
        self.reconnect_at = 0
        self.sending = True

    def say(self, line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    def _connect(self) -> None:
        self.epoch += 1
        conns: List[Any] = []
        for side in (b"a", b"b"):
            nick = b"w%s%d" % (side, self.epoch)
            try:
                sock = socket.create_connection(self.addr, timeout=2.0)
            except OSError:
                for c in conns:
                    c.sock.close()
                self.reconnect_at = time.monotonic_ns() + NS // 5
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setblocking(False)
            conns.append(_WConn(nick, sock))
        self.a, self.b = conns
        for c in conns:
            self.sel.register(c.sock, selectors.EVENT_READ, c)
            self._send(c, b"NICK %s\r\nUSER %s 0 * :witness\r\n" % (c.nick, c.nick))

    def _send(self, conn: _WConn, data: bytes) -> None:
        try:
            conn.sock.setblocking(True)
            conn.sock.settimeout(2.0)
            conn.sock.sendall(data)
        except OSError as exc:
            self._broken(conn, "send: %s" % exc)
        else:
            conn.sock.setblocking(False)

    def _broken(self, conn: _WConn, why: str) -> None:
        if conn is not self.a and conn is not self.b:
            return
        self.drops.append((time.monotonic_ns(), conn.nick.decode(), why))
        for c in (self.a, self.b):
            if c is not None:
                try:
                    self.sel.unregister(c.sock)
                except (KeyError, ValueError):
                    pass
                c.sock.close()
        self.a = self.b = None
        self.reconnect_at = time.monotonic_ns() + NS // 5

    def _read(self, conn: _WConn) -> None:
        try:
            data = conn.sock.recv(RECV_SIZE)
        except BlockingIOError:
            return
        except OSError as exc:
            self._broken(conn, "recv: %s" % exc)
            return
        now = time.monotonic_ns()
        if not data:
            self._broken(conn, "closed by the relay: " + conn.tail[-200:].decode("utf-8", "replace"))
            return
        data = conn.tail + data
        lines = data.split(b"\n")
        conn.tail = lines.pop()
        for raw in lines:
            line = raw.rstrip(b"\r")
            words = line.split(b" ", 3)
            if words[0] == b"PING":
                self._send(conn, b"PONG " + line[5:] + b"\r\n")
                continue
            if len(words) < 2:
                continue
            command = words[1]
            if command == b"001":
                self._send(conn, b"JOIN " + WITNESS_ROOM + b"\r\n")
            elif command == b"366":
                conn.joined = True
                if self.a is not None and self.b is not None and self.a.joined and self.b.joined:
                    self.next_due = now
                    self.say("ready %d" % self.epoch)
            elif command == b"PRIVMSG" and conn is self.b and len(words) == 4:
                body = words[3]
                if body.startswith(b":W "):
                    parts = body.split(b" ")
                    seq = int(parts[1])
                    if seq in self.recv:
                        self.duplicates += 1
                    else:
                        self.recv[seq] = now

    def _pump(self, now: int) -> None:
        a, b = self.a, self.b
        if not self.sending or a is None or b is None or not (a.joined and b.joined):
            return
        if now < self.next_due:
            return
        if now - self.next_due > NS:
            self.next_due = now  # we were stalled: no catch-up burst
        self.next_due += self.interval_ns
        seq = self.seq
        self.seq += 1
        stamp = time.monotonic_ns()
        self.sent.append((seq, self.epoch, stamp))
        self._send(a, b"PRIVMSG %s :W %d %d\r\n" % (WITNESS_ROOM, seq, stamp))

    def _outstanding(self) -> bool:
        return any(seq not in self.recv for seq, epoch, _ in self.sent[-200:] if epoch == self.epoch)

    def run(self) -> int:
        stdin = sys.stdin.buffer
        self.sel.register(stdin, selectors.EVENT_READ, None)
        give_up = time.monotonic_ns() + int(WITNESS_MAX_S * NS)
        drain_until = 0
        while True:
            now = time.monotonic_ns()
            if now > give_up or (drain_until and (now > drain_until or not self._outstanding())):
                break
            if self.a is None and now >= self.reconnect_at:
                self._connect()
            self._pump(now)
            wait = max(0, min(self.next_due - now, TICK_S * NS)) / NS if self.a else TICK_S
            for key, _ in self.sel.select(wait):
                if key.data is None:
                    if not os.read(stdin.fileno(), 4096):
                        self.sel.unregister(stdin)
                        self.sending = False
                        drain_until = time.monotonic_ns() + int(WITNESS_DRAIN_S * NS)
                    continue
                self._read(key.data)
        result = {
            "sent": self.sent,
            "recv": sorted(self.recv.items()),
            "duplicates": self.duplicates,
            "drops": self.drops,
        }
        self.say("result " + json.dumps(result))
        return 0


class WitnessProcess:
    """The witness as a child process, with its stdout read by a thread."""

    def __init__(self, port: int, rate: float) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.soak", "--witness", "--port", str(port), "--rate", str(rate)],
            cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.lines: queue.Queue[str] = queue.Queue()
        self.result: Optional[Dict[str, Any]] = None
        self.reader = threading.Thread(target=self._reader, name="soak-witness-reader", daemon=True)
        self.reader.start()

    def _reader(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if line.startswith("result "):
                self.result = json.loads(line[7:])
            self.lines.put(line)

    def forget(self) -> None:
        """Drop status lines read so far (before waiting for a new one)."""
        while True:
            try:
                self.lines.get_nowait()
            except queue.Empty:
                return

    def wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.lines.get(timeout=max(0.01, deadline - time.monotonic())).startswith("ready"):
                    return True
            except queue.Empty:
                break
        return False

    def finish(self) -> Dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(WITNESS_DRAIN_S + 10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.reader.join(10.0)
        return self.result or {"sent": [], "recv": [], "duplicates": 0, "drops": [["0", "witness", "no result"]]}


# --------------------------------------------------------------- attackers

class Peer:
    """One attacking connection: raw bytes, a bounded memory of replies."""

    __slots__ = ("nick", "sock", "out", "tail", "closed", "why", "pong", "parse", "seen",
                 "registered", "joined", "muted", "got")

    def __init__(self, nick: bytes, sock: socket.socket, pong: bool, parse: bool) -> None:
        self.nick = nick
        self.sock = sock
        self.out = bytearray()
        self.tail = b""
        self.closed = False
        self.why = ""
        self.pong = pong
        self.parse = parse
        self.seen: Counter = Counter()  # replies by command, and QUIT reasons
        self.registered = False
        self.joined = 0
        self.muted = False
        self.got = 0


class Mob:
    """Many raw sockets in one selector loop; every wait has a deadline."""

    def __init__(self, port: int) -> None:
        self.addr = (LOOPBACK, port)
        self.sel = selectors.DefaultSelector()
        self.peers: List[Peer] = []
        self.refused = 0

    def open(self, nick: bytes = b"", join: bytes = b"", rcvbuf: int = 0, pong: bool = True,
             parse: bool = True, first: bytes = b"") -> Optional[Peer]:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.settimeout(3.0)
        try:
            sock.connect(self.addr)
        except OSError:
            sock.close()
            self.refused += 1
            return None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        peer = Peer(nick, sock, pong, parse)
        self.peers.append(peer)
        self.sel.register(sock, selectors.EVENT_READ, peer)
        data = first
        if nick:
            data += b"NICK %s\r\nUSER %s 0 * :soak\r\n" % (nick, nick)
        if join:
            data += b"JOIN " + join + b"\r\n"
        if data:
            self.send(peer, data)
        return peer

    def send(self, peer: Peer, data: bytes) -> None:
        if peer.closed:
            return
        peer.out += data
        self._flush(peer)

    def _events(self, peer: Peer) -> None:
        events = (0 if peer.muted else selectors.EVENT_READ) | (selectors.EVENT_WRITE if peer.out else 0)
        try:
            if events:
                self.sel.modify(peer.sock, events, peer)
            else:
                self.sel.unregister(peer.sock)
        except KeyError:
            if events:
                self.sel.register(peer.sock, events, peer)

    def _flush(self, peer: Peer) -> None:
        had = bool(peer.out)
        try:
            sent = peer.sock.send(peer.out)
        except BlockingIOError:
            sent = 0
        except OSError as exc:
            self._closed(peer, "send: %s" % exc)
            return
        del peer.out[:sent]
        if had != bool(peer.out) or peer.out:
            self._events(peer)

    def mute(self, peer: Peer) -> None:
        """Never read from it again (a slow reader)."""
        if peer.closed:
            return
        peer.muted = True
        self._events(peer)

    def _closed(self, peer: Peer, why: str) -> None:
        if peer.closed:
            return
        peer.closed = True
        peer.why = why
        try:
            self.sel.unregister(peer.sock)
        except (KeyError, ValueError):
            pass
        peer.sock.close()

    def close(self, peer: Peer, reset: bool = False) -> None:
        """Close our end; with ``reset`` as a TCP RST (SO_LINGER 0)."""
        if peer.closed:
            return
        if reset:
            try:
                peer.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
        self._closed(peer, "closed by us")

    def close_all(self, reset: bool = False) -> None:
        for peer in self.peers:
            self.close(peer, reset)
        self.peers = []
        self.sel.close()

    def _read(self, peer: Peer) -> None:
        try:
            data = peer.sock.recv(RECV_SIZE)
        except BlockingIOError:
            return
        except OSError as exc:
            self._closed(peer, "recv: %s" % exc)
            return
        if not data:
            self._closed(peer, "closed by the relay")
            return
        peer.got += len(data)
        if not peer.parse:
            if b"PING" in data and peer.pong:
                self.send(peer, b"PONG :soak\r\n")
            return
        data = peer.tail + data
        lines = data.split(b"\n")
        peer.tail = lines.pop()[-4096:]
        for raw in lines:
            line = raw.rstrip(b"\r")
            words = line.split(b" ", 3)
            if words[0] == b"PING":
                if peer.pong:
                    self.send(peer, b"PONG " + line[5:] + b"\r\n")
                continue
            if words[0] == b"ERROR":
                peer.seen[b"ERROR " + line[7:].split(b"(")[-1][:40]] += 1
                continue
            if len(words) < 2:
                continue
            command = words[1]
            peer.seen[command] += 1
            if command == b"001":
                peer.registered = True
            elif command == b"366":
                peer.joined += 1
            elif command == b"QUIT":
                peer.seen[b"QUIT " + (line.split(b" ", 2)[2] if len(words) > 2 else b"")[:40]] += 1

    def run(self, seconds: float, until: Optional[Callable[[], bool]] = None,
            tick: Optional[Callable[[], None]] = None) -> bool:
        """Serve the sockets for up to ``seconds``; True once ``until()`` holds."""
        deadline = time.monotonic() + seconds
        while True:
            if until is not None and until():
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return until is None
            if tick is not None:
                tick()
            for key, mask in self.sel.select(min(TICK_S, left)):
                peer = key.data
                if peer.closed:
                    continue
                if mask & selectors.EVENT_WRITE:
                    self._flush(peer)
                if mask & selectors.EVENT_READ and not peer.closed:
                    self._read(peer)


class Pacer:
    """Calls ``send(n)`` with the messages due at ``rate`` per second (no catch-up past 1 s)."""

    def __init__(self, rate: float, send: Callable[[int], None]) -> None:
        self.rate = rate
        self.send = send
        self.start = time.monotonic()
        self.done = 0

    def __call__(self) -> None:
        due = int((time.monotonic() - self.start) * self.rate) - self.done
        if due > self.rate:
            self.done += due - int(self.rate)
            due = int(self.rate)
        if due > 0:
            self.done += due
            self.send(due)


# ----------------------------------------------------------------- scenarios

class Ctx:
    """What a scenario may use: the relay, the profile, a seeded RNG."""

    def __init__(self, profile: Profile, server: RelayServer, sampler: Sampler,
                 witness: WitnessProcess, seed: int, python: str, path: str) -> None:
        self.profile = profile
        self.server = server
        self.sampler = sampler
        self.witness = witness
        self.rng = random.Random(seed)
        self.python = python
        self.path = path
        self.logs: List[str] = []  # logs of relays that are gone (restart)
        self.expected_drop_windows: List[Tuple[int, int]] = []

    @property
    def port(self) -> int:
        return self.server.port


Outcome = Dict[str, Any]


def _register_all(mob: Mob, peers: List[Peer], seconds: float, joins: int = 0) -> bool:
    return mob.run(seconds, lambda: all(p.closed or (p.registered and p.joined >= joins) for p in peers))


FUZZ_COMMANDS = [b"PRIVMSG", b"NOTICE", b"JOIN", b"PART", b"NICK", b"USER", b"MODE", b"TOPIC",
                 b"NAMES", b"WHO", b"WHOIS", b"KICK", b"INVITE", b"AWAY", b"ISON", b"USERHOST",
                 b"LIST", b"CAP", b"PING", b"PONG", b"PASS", b"MOTD", b"OPER", b"KILL", b"TAGMSG",
                 b"privmsg", b"@time=x PRIVMSG", b":spoof!x@y PRIVMSG", b"\x01ACTION", b"FOO"]


def fuzz_line(rng: random.Random) -> bytes:
    """One hostile line, CRLF-terminated, never a QUIT and never about #witness."""
    kind = rng.random()
    if kind < 0.3:
        body = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 300)))
        body = body.replace(b"\n", b"").replace(b"\r", b"")
        return body + b"\r\n"
    if kind < 0.35:
        return b"PRIVMSG #f :" + b"y" * rng.choice((600, 600, 600, 5000, 5000, 70000)) + b"\r\n"
    command = rng.choice(FUZZ_COMMANDS)
    params = []
    for _ in range(rng.randrange(0, 17)):
        choice = rng.random()
        if choice < 0.3:
            params.append(b"#f%d" % rng.randrange(20))
        elif choice < 0.45:
            params.append(b"fz%d" % rng.randrange(50))
        elif choice < 0.55:
            params.append(rng.choice((b"+o", b"-o", b"+ntikmlsv", b"+b", b"*", b"0", b",,,", b"#", b"")))
        elif choice < 0.7:
            params.append(bytes(rng.choice(b"\x00\x01\x02\xc3\xff\xfe:,!@#&") for _ in range(rng.randrange(1, 8))))
        else:
            params.append(("%x" % rng.getrandbits(32)).encode())
    line = command + (b" " + b" ".join(params) if params else b"")
    if rng.random() < 0.5:
        line += b" :" + "caf\u00e9 \u202e text".encode("utf-8")[: rng.randrange(0, 20)]
    return line.replace(b"\n", b"").replace(b"\r", b"") + (b"\r\n" if rng.random() < 0.9 else b"\n")



def _opened(peers: Iterable[Optional[Peer]]) -> List[Peer]:
    """The peers that could connect."""
    return [peer for peer in peers if peer is not None]


def _settled(peers: List[Peer]) -> bool:
    """Whether every one of C{peers} joined or was closed."""
    return all(x.joined or x.closed for x in peers)


def _sendRepeated(mob: Mob, sender: Peer, line: bytes, n: int) -> None:
    mob.send(sender, line * n)


def _allCut(sender: Peer, quits: bytes, before: int, readers: int) -> bool:
    """Whether the sender saw C{readers} more SendQ quits than C{before} (or was closed)."""
    return sender.seen[quits] - before >= readers or sender.closed

def scenario_fuzz(ctx: Ctx) -> Outcome:
    p = ctx.profile
    mob = Mob(ctx.port)
    peers = [mob.open(b"fz%d" % i, b"#f0", parse=True) for i in range(p.fuzz_peers)]
    live = [x for x in peers if x is not None]
    _register_all(mob, live, 10.0, joins=1)
    sent = 0
    replaced = 0
    deadline = time.monotonic() + max(10.0, p.fuzz_lines / 2000.0)
    while sent < p.fuzz_lines and time.monotonic() < deadline:
        for i, peer in enumerate(live):
            if peer.closed:  # a fuzz line may be taken as a fatal error: say which, go on
                replaced += 1
                fresh = mob.open(b"fz%d" % (50 + replaced), b"#f0")
                if fresh is None:
                    continue
                live[i] = peer = fresh
            batch = b"".join(fuzz_line(ctx.rng) for _ in range(50))
            mob.send(peer, batch)
            sent += 50
        mob.run(0.02, lambda: all(not x.out for x in live))
    mob.run(2.0, lambda: all(not x.out for x in live))
    for peer in live:
        mob.send(peer, b"PING :alive\r\n")
    answered = mob.run(5.0, lambda: all(x.closed or x.seen[b"PONG"] for x in live))
    checks = []
    if not answered:
        checks.append("fuzz peers did not answer PING after the fuzz")
    mob.close_all()
    return {"attackers": len(live) + replaced, "cut": replaced, "lines": sent, "checks": checks}


def scenario_storm(ctx: Ctx) -> Outcome:
    p = ctx.profile
    mob = Mob(ctx.port)
    done = started = 0
    active: List[Peer] = []
    deadline = time.monotonic() + max(15.0, p.storm_cycles / 50.0)
    while done < p.storm_cycles and time.monotonic() < deadline:
        while started < p.storm_cycles and len(active) < 32:
            peer = mob.open(b"st%d" % started)
            started += 1
            if peer is not None:
                active.append(peer)
        mob.run(0.05, lambda: any(x.closed or (x.registered and not x.seen[b"QUITSENT"]) for x in active))
        for peer in list(active):
            if peer.registered and not peer.seen[b"QUITSENT"]:
                peer.seen[b"QUITSENT"] = 1
                mob.send(peer, b"QUIT :storm\r\n")
            if peer.closed:
                active.remove(peer)
                done += 1
                if peer in mob.peers:
                    mob.peers.remove(peer)
    mob.run(5.0, lambda: all(x.closed for x in active))
    checks = []
    if done < p.storm_cycles:
        checks.append("storm: %d of %d connect/register/QUIT cycles done" % (done, p.storm_cycles))
    # Then connections that never register: cut by the registration timeout.
    half = [mob.open() for _ in range(p.storm_halfopen)]
    halfopen = [x for x in half if x is not None]
    cut = mob.run(p.registration_timeout + 10.0, lambda: all(x.closed for x in halfopen))
    timed_out = sum(1 for x in halfopen if any(k.startswith(b"ERROR Registration timed out") for k in x.seen))
    if not cut:
        checks.append("storm: %d never-registering connections still open"
                      % sum(1 for x in halfopen if not x.closed))
    mob.close_all()
    return {"attackers": started + len(halfopen), "cut": sum(1 for x in halfopen if x.closed),
            "cycles": done, "refused": mob.refused, "registration_timeouts": timed_out, "checks": checks}


def scenario_slowloris(ctx: Ctx) -> Outcome:
    """Half register, then trickle a line; half trickle their NICK: all must be cut."""
    p = ctx.profile
    mob = Mob(ctx.port)
    registered = _opened(mob.open(b"sl%d" % i, pong=False) for i in range(p.slowloris // 2))
    _register_all(mob, registered, 10.0)
    unregistered = _opened(mob.open(pong=False) for _ in range(p.slowloris - p.slowloris // 2))
    everyone = registered + unregistered
    trickle = b"PRIVMSG #nowhere :" + b"z" * 400
    start = time.monotonic()

    def drip() -> None:
        index = int(time.monotonic() - start)
        for peer in everyone:
            if not peer.closed and peer.seen[b"DRIP"] <= index:
                peer.seen[b"DRIP"] = index + 1
                mob.send(peer, trickle[index % len(trickle): index % len(trickle) + 1])

    bound = max(p.registration_timeout, 2 * p.ping_interval) + 10.0
    cut = mob.run(bound, lambda: all(x.closed for x in everyone), tick=drip)
    checks = []
    if not cut:
        checks.append("slowloris: %d of %d still connected after %.0f s"
                      % (sum(1 for x in everyone if not x.closed), len(everyone), bound))
    reasons: Counter[str] = Counter()
    for peer in everyone:
        for key in peer.seen:
            if key.startswith(b"ERROR"):
                reasons[key.decode("utf-8", "replace")] += 1
    mob.close_all()
    return {"attackers": len(everyone), "cut": sum(1 for x in everyone if x.closed),
            "seconds_to_cut": round(time.monotonic() - start, 1), "reasons": dict(reasons), "checks": checks}


def scenario_resets(ctx: Ctx) -> Outcome:
    """Members of a busy room leave with a TCP reset while the relay writes to them."""
    p = ctx.profile
    mob = Mob(ctx.port)
    sender = mob.open(b"rsend", b"#mob")
    checks: List[str] = []
    if sender is None or not _register_all(mob, [sender], 10.0, joins=1):
        return {"attackers": 0, "cut": 0, "checks": ["resets: the sender could not join"]}
    line = b"PRIVMSG #mob :" + b"r" * 200 + b"\r\n"
    pace = Pacer(p.reset_rate, lambda n: mob.send(sender, line * n))
    done = 0
    deadline = time.monotonic() + max(20.0, p.resets / 20.0)
    wave = 0
    while done < p.resets and time.monotonic() < deadline:
        size = min(50, p.resets - done)
        members = _opened(mob.open(b"rs%d_%d" % (wave, i), b"#mob") for i in range(size))
        mob.run(5.0, partial(_settled, members), tick=pace)
        mob.run(0.2, tick=pace)  # mid-fan-out
        for member in members:
            mob.close(member, reset=True)
        mob.peers = [x for x in mob.peers if not x.closed]
        done += len(members)
        wave += 1
    mob.send(sender, b"PING :alive\r\n")
    if not mob.run(5.0, lambda: sender.closed or sender.seen[b"PONG"] > 0):
        checks.append("resets: the room's sender got no PONG")
    if sender.closed:
        checks.append("resets: the room's sender was cut: %s" % sender.why)
    if done < p.resets:
        checks.append("resets: %d of %d done in time" % (done, p.resets))
    mob.close_all()
    return {"attackers": done, "cut": 0, "resets": done, "checks": checks}


def scenario_slow(ctx: Ctx) -> Outcome:
    """Waves of members that never read, in a room at ``slow_rate`` msg/s of 400 B."""
    return _slow_readers(ctx, "slow", direct=False)


def scenario_slowdm(ctx: Ctx) -> Outcome:
    """
    The same with direct messages (``PRIVMSG a,b,c,d``) at ``slowdm_rate``
    lines/s: here each reader's queue is bytes of its own (a room message is
    formatted once and shared by every member's queue), so what a cut
    reader leaves behind is up to a full SendQ each.
    """
    return _slow_readers(ctx, "slowdm", direct=True)


def _slow_readers(ctx: Ctx, name: str, direct: bool) -> Outcome:
    p = ctx.profile
    mob = Mob(ctx.port)
    room = b"#" + name.encode()
    sender = mob.open(name.encode() + b"snd", room)
    checks: List[str] = []
    if sender is None or not _register_all(mob, [sender], 10.0, joins=1):
        return {"attackers": 0, "cut": 0, "checks": ["%s: the sender could not join" % name]}
    body = b" :" + b"s" * 400 + b"\r\n"
    waves = []
    total = cut = 0
    quits = b"QUIT :SendQ exceeded"
    for wave in range(p.slow_waves):
        nicks = [b"%s%d_%d" % (name.encode(), wave, i) for i in range(p.slow_readers)]
        # Direct messages need few bytes to cut each reader: a small
        # receive buffer keeps the kernel from absorbing megabytes each.
        rcvbuf = 4096 if direct else p.slow_rcvbuf
        readers = _opened(mob.open(nick, room, rcvbuf=rcvbuf) for nick in nicks)
        total += len(readers)
        _register_all(mob, readers, 10.0, joins=1)
        for reader in readers:
            mob.mute(reader)
        before = sender.seen[quits]
        if direct:
            groups = [b",".join(nicks[i:i + 4]) for i in range(0, len(nicks), 4)]
            lines = [b"PRIVMSG " + g + body for g in groups]
            turn = [0]

            def send(n: int, lines: List[bytes] = lines, turn: List[int] = turn) -> None:
                out = []
                for _ in range(n):
                    out.append(lines[turn[0] % len(lines)])
                    turn[0] += 1
                mob.send(sender, b"".join(out))

            pace = Pacer(p.slowdm_rate, send)
        else:
            line = b"PRIVMSG " + room + body
            pace = Pacer(p.slow_rate, partial(_sendRepeated, mob, sender, line))
        started = time.monotonic()
        bound = 60.0 if rcvbuf == 0 else 30.0
        mob.run(bound, partial(_allCut, sender, quits, before, len(readers)), tick=pace)
        wave_cut = sender.seen[quits] - before
        cut += wave_cut
        for reader in readers:
            mob.close(reader)
        mob.peers = [x for x in mob.peers if not x.closed]
        waves.append({"readers": len(readers), "cut_by_sendq": wave_cut,
                      "seconds_to_cut": round(time.monotonic() - started, 1),
                      "rss_after_cut_mb": _rss_mb(ctx)})
        if wave_cut < len(readers):
            checks.append("wave %d: %d of %d readers cut by the SendQ" % (wave, wave_cut, len(readers)))
        if wave + 1 < p.slow_waves:
            mob.run(p.settle)  # let a wave's memory go before the next one
            waves[-1]["rss_settled_mb"] = _rss_mb(ctx)
    if sender.closed:
        checks.append("the sender was cut: %s" % sender.why)
    mob.close_all()
    return {"attackers": total, "cut": cut, "waves": waves, "checks": checks}


def scenario_biglines(ctx: Ctx) -> Outcome:
    """Over-long lines get 417 each; the connection stays and answers a PING."""
    p = ctx.profile
    mob = Mob(ctx.port)
    peer = mob.open(b"bigl", b"#big")
    checks: List[str] = []
    if peer is None or not _register_all(mob, [peer], 10.0, joins=1):
        return {"attackers": 0, "cut": 0, "checks": ["biglines: could not join"]}
    sizes = [1 << 20] * p.big_mib + [64 << 10] * p.big_64k
    for size in sizes:
        mob.send(peer, b"PRIVMSG #big :" + b"L" * size + b"\r\n")
        mob.run(10.0, lambda: not peer.out or peer.closed)
    mob.send(peer, b"PING :alive\r\n")
    mob.run(10.0, lambda: peer.closed or peer.seen[b"PONG"] > 0)
    if peer.seen[b"417"] != len(sizes):
        checks.append("biglines: %d 417 replies for %d over-long lines" % (peer.seen[b"417"], len(sizes)))
    if peer.closed or not peer.seen[b"PONG"]:
        checks.append("biglines: the connection did not survive (%s)" % (peer.why or "no PONG"))
    cut = int(peer.closed)
    mob.close_all()
    return {"attackers": 1, "cut": cut, "lines": len(sizes), "checks": checks}


def scenario_churn(ctx: Ctx) -> Outcome:
    """NICK/JOIN/PART as fast as the relay takes them, from a few clients."""
    p = ctx.profile
    mob = Mob(ctx.port)
    peers = [mob.open(b"ch%d" % i) for i in range(4)]
    live = [x for x in peers if x is not None]
    _register_all(mob, live, 10.0)
    sent = 0
    rename = [0] * len(live)
    deadline = time.monotonic() + max(10.0, p.churn / 1000.0)
    while sent < p.churn and time.monotonic() < deadline:
        for i, peer in enumerate(live):
            lines = []
            for _ in range(30):
                room = ctx.rng.randrange(50)
                step = sent % 3
                if step == 0:
                    rename[i] += 1
                    lines.append(b"NICK ch%d_%d" % (i, rename[i]))
                elif step == 1:
                    lines.append(b"JOIN #c%d" % room)
                else:
                    lines.append(b"PART #c%d :churn" % room)
                sent += 1
            mob.send(peer, b"\r\n".join(lines) + b"\r\n")
        mob.run(0.02, lambda: all(not x.out for x in live))
    for peer in live:
        mob.send(peer, b"PING :alive\r\n")
    answered = mob.run(10.0, lambda: all(x.closed or x.seen[b"PONG"] for x in live))
    cut = sum(1 for x in live if x.closed)
    checks = [] if answered and not cut else ["churn: %d clients did not survive" % cut]
    mob.close_all()
    return {"attackers": len(live), "cut": cut, "commands": sent, "checks": checks}


def scenario_restart(ctx: Ctx) -> Outcome:
    """kill -9, then the same command on the same port: clients come back."""
    old = ctx.server
    ctx.witness.forget()
    killed_at = time.monotonic_ns()
    assert old.proc is not None
    old.proc.kill()
    old.proc.wait(10)
    ctx.logs.append(relay_log(old))
    port = old.port
    old.stop()
    fresh = RelayServer(ctx.python, relay_args(ctx.profile), path=ctx.path)
    fresh.port = port
    fresh.start()
    ctx.server = fresh
    ctx.sampler.pid = fresh.pid
    back = ctx.witness.wait_ready(20.0)
    ctx.expected_drop_windows.append((killed_at, time.monotonic_ns()))
    checks = [] if back else ["restart: the witness did not get back in 20 s"]
    mob = Mob(port)
    probe = mob.open(b"probe", b"#probe")
    if probe is None or not _register_all(mob, [probe], 10.0, joins=1):
        checks.append("restart: a new client could not register and join")
    mob.close_all()
    return {"attackers": 0, "cut": 0, "back_in_s": round((time.monotonic_ns() - killed_at) / NS, 2), "checks": checks}


SCENARIOS: List[Tuple[str, Callable[[Ctx], Outcome]]] = [
    ("fuzz", scenario_fuzz),
    ("storm", scenario_storm),
    ("slowloris", scenario_slowloris),
    ("resets", scenario_resets),
    ("slow", scenario_slow),
    ("slowdm", scenario_slowdm),
    ("biglines", scenario_biglines),
    ("churn", scenario_churn),
    ("restart", scenario_restart),
]


# ------------------------------------------------------------------ running

def _rss_mb(ctx: Ctx) -> Optional[float]:
    point = ctx.sampler.sample()
    return round(point[2] / 1024.0, 1) if point else None


def relay_log(server: RelayServer) -> str:
    """
    What the relay logged, and said on stdout/stderr (read before stop):
    twistd rotates its log every 1 MB (relay.log.1 is the newest of the
    older parts), so every part, oldest first.
    """
    base = os.path.join(server.workdir, "relay.log")
    parts = [base + "." + name[len("relay.log."):] for name in os.listdir(server.workdir)
             if name.startswith("relay.log.") and name[len("relay.log."):].isdigit()]
    parts.sort(key=lambda part: -int(part.rsplit(".", 1)[1]))
    log = ""
    for part in parts + [base]:
        try:
            with open(part, "rb") as handle:
                log += handle.read().decode("utf-8", "replace")
        except OSError:
            pass
    return log + server.stderr_text()


def memory_verdict(row: Dict[str, Any], slack_mb: float, settle: float) -> Optional[str]:
    """
    Why a scenario did not give its memory back, or None.

    RSS ``settle`` seconds after the scenario may be at most ``slack_mb``
    above its start (issue 17: 50 cut slow readers, RSS still at its peak
    5 s later).  The relay frees a cut connection's buffers at once and then
    asks glibc to hand free pages back (L{securechat.relay.memory}); where
    the C library cannot, the allocator may keep them for reuse, and the
    check that still holds is the second: in a scenario run in waves, the
    later waves must not add more than ``slack_mb`` to what the first left.
    """
    growth = row["rss_after_mb"] - row["rss_start_mb"]
    if growth > slack_mb:
        rise = row["rss_peak_mb"] - row["rss_start_mb"]
        return "memory not returned: RSS %.1f MB above the start %g s after (peak +%.1f)" % (growth, settle, rise)
    waves = row.get("waves") or []
    if len(waves) > 1 and waves[0].get("rss_settled_mb") is not None:
        added = row["rss_after_mb"] - waves[0]["rss_settled_mb"]
        if added > slack_mb:
            return "memory not reused: waves 2-%d added %.1f MB to the first's" % (len(waves), added)
    return None


def witness_window(result: Dict[str, Any], start: int, end: int,
                   expected_drops: List[Tuple[int, int]]) -> Dict[str, Any]:
    """Witness figures for messages sent in [start, end)."""
    recv = dict((int(k), v) for k, v in result["recv"])
    latencies = []
    lost = lost_to_restart = sent = 0
    epoch_of_drop = _epochs_ended_by_expected_drop(result, expected_drops)
    for seq, epoch, stamp in result["sent"]:
        if not start <= stamp < end:
            continue
        sent += 1
        if seq in recv:
            latencies.append((recv[seq] - stamp) // 1000)
        elif epoch in epoch_of_drop:
            lost_to_restart += 1
        else:
            lost += 1
    drops = [d for d in result["drops"] if start <= int(d[0]) < end]
    unexpected = [d for d in drops if not any(a <= int(d[0]) <= b for a, b in expected_drops)]
    pct = loadgen.percentiles_us(latencies)  # type: ignore[arg-type]
    return {"sent": sent, "lost": lost, "lost_to_restart": lost_to_restart,
            "p50_ms": pct.get("p50", 0) / 1000.0 if latencies else None,
            "p99_ms": pct.get("p99", 0) / 1000.0 if latencies else None,
            "max_ms": pct.get("max", 0) / 1000.0 if latencies else None,
            "drops": len(drops), "unexpected_drops": [d[2] for d in unexpected]}


def _epochs_ended_by_expected_drop(result: Dict[str, Any], expected: List[Tuple[int, int]]) -> set:
    """Epochs whose connections broke inside an expected window (the restart)."""
    ended = set()
    epoch_at: List[Tuple[int, int]] = []  # (first send ns, epoch)
    for _seq, epoch, stamp in result["sent"]:
        if not epoch_at or epoch_at[-1][1] != epoch:
            epoch_at.append((stamp, epoch))
    for when, _nick, _why in result["drops"]:
        when = int(when)
        if not any(a <= when <= b for a, b in expected):
            continue
        before = [e for s, e in epoch_at if s <= when]
        if before:
            ended.add(before[-1])
    return ended


def run(profile: Profile, only: Optional[List[str]] = None, python: str = sys.executable,
        path: str = REPO, rss_slack_mb: float = RSS_SLACK_MB, seed: int = 17,
        out: Any = sys.stdout) -> Dict[str, Any]:
    """Run the soak; the report dict has ``failures`` (empty when all is well)."""
    loadgen.raise_fd_limit()  # the relay inherits it: thousands of sockets
    chosen = [(name, fn) for name, fn in SCENARIOS if not only or name in only]
    server = RelayServer(python, relay_args(profile), path=path).start()
    sampler = Sampler()
    sampler.pid = server.pid
    sampler.start()
    witness = WitnessProcess(server.port, profile.witness_rate)
    ctx = Ctx(profile, server, sampler, witness, seed, python, path)
    rows: List[Dict[str, Any]] = []
    failures: List[str] = []
    report: Dict[str, Any] = {"profile": attr.asdict(profile), "relay_args": list(relay_args(profile)),
                              "rss_slack_mb": rss_slack_mb,
                              "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
                              "python": sys.version.split()[0], "cpus": os.cpu_count()}
    try:
        if not witness.wait_ready(20.0):
            raise RuntimeError("the witness pair did not join #witness in 20 s")
        time.sleep(min(1.0, profile.settle))
        for name, fn in chosen:
            t0 = time.monotonic_ns()
            start_point = sampler.sample()
            try:
                outcome = fn(ctx)
            except Exception as exc:  # the harness's own failure: say so, go on
                outcome = {"checks": ["the scenario raised %s: %s" % (type(exc).__name__, exc)]}
            t1 = time.monotonic_ns()
            if name == "restart":  # a new process: its own start
                start_point = sampler.sample()
            time.sleep(profile.settle)
            end_point = sampler.sample()
            t2 = time.monotonic_ns()
            window = [s for s in sampler.between(t0, t2) if start_point is None or s[1] == start_point[1]]
            row: Dict[str, Any] = {"scenario": name, "seconds": round((t1 - t0) / NS, 1), "t": (t0, t2)}
            row.update(outcome)
            if start_point and end_point and window:
                ticks = os.sysconf("SC_CLK_TCK")
                during = [s for s in window if s[0] <= t1] or window
                row["rss_start_mb"] = round(start_point[2] / 1024.0, 1)
                row["rss_peak_mb"] = round(max(s[2] for s in window) / 1024.0, 1)
                row["rss_after_mb"] = round(end_point[2] / 1024.0, 1)
                row["cpu_s"] = round((during[-1][3] - during[0][3]) / float(ticks), 2)
                row["cpu_pct"] = round(100.0 * row["cpu_s"] / max(0.001, (during[-1][0] - during[0][0]) / NS), 1)
                if name != "restart":
                    verdict = memory_verdict(row, rss_slack_mb, profile.settle)
                    if verdict:
                        row["checks"].append(verdict)
            rows.append(row)
            _print_row(out, row, first=len(rows) == 1)
    finally:
        result = witness.finish()
        sampler.stop()
        ctx.logs.append(relay_log(ctx.server))
        ctx.server.stop()
    for row in rows:
        t0, t2 = row.pop("t")
        row["witness"] = witness_window(result, t0, t2, ctx.expected_drop_windows)
        w = row["witness"]
        if w["lost"]:
            row["checks"].append("%d witness messages lost" % w["lost"])
        if w["unexpected_drops"]:
            row["checks"].append("witness connection dropped: %s" % "; ".join(w["unexpected_drops"]))
        failures.extend("%s: %s" % (row["scenario"], c) for c in row["checks"])
    everything = witness_window(result, 0, 1 << 62, ctx.expected_drop_windows)
    if everything["lost"] and not any("witness messages lost" in f for f in failures):
        failures.append("%d witness messages lost between scenarios" % everything["lost"])
    if result.get("duplicates"):
        failures.append("%d witness messages delivered twice" % result["duplicates"])
    report["log_chars"] = sum(len(log) for log in ctx.logs)  # the check below read something
    tracebacks = sum(log.count("Traceback") for log in ctx.logs)
    if tracebacks:
        failures.append("%d tracebacks in the relay's log" % tracebacks)
        report["log_excerpt"] = [log[log.find("Traceback") - 300: log.find("Traceback") + 2000]
                                 for log in ctx.logs if "Traceback" in log]
    report["witness_p99_goal_misses"] = p99_goal_misses(rows)
    report.update({"rows": rows, "witness_total": everything, "tracebacks": tracebacks,
                   "failures": failures, "finished": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())})
    _print_summary(out, rows, everything, failures)
    return report


COLUMNS = "%-10s %6s %7s %6s %9s %9s %9s %6s  %s\n"


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "%.1f" % value
    return str(value)


def _print_row(out: Any, row: Dict[str, Any], first: bool) -> None:
    """One line per scenario as it ends (the witness figures come at the end)."""
    if first:
        out.write(COLUMNS % ("scenario", "secs", "attack", "cut", "RSS start", "RSS peak", "RSS after", "CPU s",
                             "checks"))
    out.write(COLUMNS % (row["scenario"], _fmt(row["seconds"]), _fmt(row.get("attackers")), _fmt(row.get("cut")),
                         _fmt(row.get("rss_start_mb")), _fmt(row.get("rss_peak_mb")),
                         _fmt(row.get("rss_after_mb")), _fmt(row.get("cpu_s")),
                         "; ".join(row["checks"]) or "ok"))
    out.flush()


#: Issue 24: however hard a scenario pushes, the witness's p99 stays under this.
#: A figure to print, not a check: how fast is the machine's business.
WITNESS_P99_GOAL_MS = 50.0


def p99_goal_misses(rows: List[Dict[str, Any]]) -> List[Tuple[str, float]]:
    """The scenarios whose witness p99 was over L{WITNESS_P99_GOAL_MS}, with it."""
    return [(row["scenario"], row["witness"]["p99_ms"]) for row in rows
            if row["witness"].get("p99_ms") is not None and row["witness"]["p99_ms"] > WITNESS_P99_GOAL_MS]


def _print_summary(out: Any, rows: List[Dict[str, Any]], total: Dict[str, Any], failures: List[str]) -> None:
    out.write("\n%-10s %7s %9s %9s %6s %6s %9s %9s %9s %7s %7s\n" % (
        "scenario", "w.sent", "w.p99 ms", "w.max ms", "w.lost", "w.drop", "RSS start", "RSS peak", "RSS after",
        "attack", "cut"))
    for row in rows:
        w = row["witness"]
        out.write("%-10s %7d %9s %9s %6d %6d %9s %9s %9s %7s %7s\n" % (
            row["scenario"], w["sent"], _fmt(w["p99_ms"]), _fmt(w["max_ms"]), w["lost"], w["drops"],
            _fmt(row.get("rss_start_mb")), _fmt(row.get("rss_peak_mb")), _fmt(row.get("rss_after_mb")),
            _fmt(row.get("attackers")), _fmt(row.get("cut"))))
    out.write("witness overall: %d sent, %d lost, %d lost to the kill -9, p99 %s ms\n" % (
        total["sent"], total["lost"], total["lost_to_restart"], _fmt(total["p99_ms"])))
    over = p99_goal_misses(rows)
    out.write("witness p99 goal (<= %g ms in every scenario, issue 24): %s\n" % (
        WITNESS_P99_GOAL_MS, "met" if not over else "NOT met: " + ", ".join(
            "%s %s ms" % (name, _fmt(p99)) for name, p99 in over)))
    if failures:
        out.write("FAILED:\n" + "".join("  %s\n" % f for f in failures))
    else:
        out.write("PASSED\n")
    out.flush()


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="Soak the relay on loopback; exit 1 on any failed check.")
    parser.add_argument("--profile", choices=sorted(PROFILES), default="long")
    parser.add_argument("--only", default="", help="comma list of: " + ", ".join(n for n, _ in SCENARIOS))
    parser.add_argument("--json", default="", help="write the full report here")
    parser.add_argument("--python", default=sys.executable, help="interpreter for the relay")
    parser.add_argument("--relay-path", default=REPO, help="source tree the relay is imported from")
    parser.add_argument("--rss-slack-mb", type=float, default=RSS_SLACK_MB,
                        help="RSS growth still counted as 'returned' (default %(default)s)")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--flood", choices=["open", "default"], default="open",
                        help="the relay's flood control: opened up (default) or its own defaults; with "
                             "'default' the witness sends at %g msgs/s, under the relay's rate"
                             % DEFAULT_FLOOD_WITNESS_RATE)
    parser.add_argument("--witness", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--rate", type=float, default=50.0, help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.witness:
        return Witness(LOOPBACK, options.port, options.rate).run()
    only = [x.strip() for x in options.only.split(",") if x.strip()] or None
    unknown = set(only or ()) - {n for n, _ in SCENARIOS}
    if unknown:
        parser.error("unknown scenario(s): %s" % ", ".join(sorted(unknown)))
    report = run(choose_profile(options.profile, options.flood), only, options.python,
                 os.path.abspath(options.relay_path), options.rss_slack_mb, options.seed)
    report["command"] = " ".join(["python3", "bench/soak.py"] + (list(argv) if argv is not None else sys.argv[1:]))
    if options.json:
        with open(options.json, "w", encoding="utf-8") as handle:
            json.dump(report, handle, indent=1, sort_keys=True)
            handle.write("\n")
    return 1 if report["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
