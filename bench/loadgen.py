"""
An IRC load generator for relay benchmarks: one process, one epoll loop,
non-blocking sockets, bytes only, no Twisted (so it measures the server, not
itself, and runs against any IRC server: our relay, ngIRCd, ...).

It opens N client connections to a server on loopback, registers them
(NICK/USER, answering PINGs), joins them to rooms, then has S senders send
``PRIVMSG`` lines that carry ``B <sender-id> <seq> <monotonic-ns> <padding>``.
Every receiver timestamps arrivals with the same monotonic clock, so a
delivery's latency is arrival time minus the sender's timestamp.

Why the shape of things:

- Receivers that only count (most of them, at saturation) never split lines:
  they count ``b" PRIVMSG "`` in each complete chunk, which runs in C.  One
  *witness* per room (or the partner of a direct message) parses every line;
  it times each message and acknowledges it to its sender.
- Senders keep at most ``window`` messages unacknowledged (closed loop).  At
  saturation this keeps the server's input and output queues bounded, which
  matters: ngIRCd disconnects a client more than 2 KiB ahead of it, or a reader
  more than 32 KiB behind.  With ``rate > 0`` a sender sends on a fixed schedule
  (open loop), the window acting only as a safety cap (counted as ``capped``).
- With ``sweep_ms > 0`` the counting receivers are not read when epoll says
  they are readable but each once every ``sweep_ms`` milliseconds (in eight slices), into
  one preallocated buffer (``recv_into``, counted in place): one read then
  brings the many turns the server wrote since the last sweep, so the
  generator's cost no longer follows the server's ``send`` calls one for
  one, and the generator can saturate a server at fan-out (docs/performance.md,
  "A generator that saturates the relay").  ``rcvbuf`` sizes their kernel
  receive buffers so that what a sweep has not read yet stays there, not in
  the server's queue.  Witnesses (and every receiver under ``verify`` or
  ``latency=all``) are read at once as before: latency and the senders'
  window keep their meaning.
- ``verify`` makes every receiver parse and remember what it got, then checks
  that each message reached every other member of its room exactly once.
- Everything is bounded: setup, warm-up, measurement and drain each have a
  deadline, and the run stops by itself.

Server CPU and memory come from /proc/PID (pass ``--server-pid``); the
generator's own CPU from ``os.times()``.  The result is one JSON object.
"""

from __future__ import annotations

import argparse
import array
import errno
import json
import os
import resource
import selectors
import socket
import sys
import time
from collections import Counter
from typing import Any, Dict, Iterable, List, Optional, Set, Tuple

import attr

LOOPBACK = "127.0.0.1"
RECV_SIZE = 32768
PRIVMSG_MARK = b" PRIVMSG "
BODY_MARK = b"B"
#: Loop wake-up bound while nothing else is due, seconds.
IDLE_TICK_S = 0.05
NS_PER_S = 1_000_000_000
NS_PER_US = 1_000
PERCENTILES = (50, 90, 99, 99.9)
#: Slices of the lazy receivers, one read per sweep (LoadGenerator._sweep).
SWEEP_GROUPS = 8
#: Linux: acknowledge at once instead of delaying ACKs (re-armed after each recv).
TCP_QUICKACK = getattr(socket, "TCP_QUICKACK", 12)

# connection states
CONNECTING = 0
REGISTERING = 1
JOINING = 2
READY = 3
DEAD = 4


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Scenario:
    """What one run does.  Times in seconds, sizes in bytes."""

    host: str = LOOPBACK
    port: int = 6667
    clients: int = 200
    rooms: int = 1
    senders: int = 20
    direct: bool = False
    rate: float = 0.0
    window: int = 8
    body_size: int = 64
    warmup: float = 1.0
    duration: float = 3.0
    drain: float = 5.0
    setup_timeout: float = 60.0
    connect_concurrency: int = 8
    latency: str = "witness"
    verify: bool = False
    messages: int = 0
    slow_readers: int = 0
    slow_rcvbuf: int = 0
    server_pid: int = 0
    nick_prefix: str = "b"
    oper: str = ""
    rss_interval: float = 0.1
    quickack: bool = False
    #: Bytes asked of one recv(): a counting receiver's cost is mostly per
    #: call, so larger reads let one generator keep up with more deliveries.
    recv_size: int = RECV_SIZE
    #: Read counting receivers every this many ms instead of on readiness
    #: (0: on readiness, one recv per wake-up).
    sweep_ms: float = 0.0
    #: SO_RCVBUF of the counting receivers, bytes (0: the kernel's autotuning).
    rcvbuf: int = 0

    def validate(self) -> None:
        if self.direct:
            if self.clients < 2 * self.senders:
                raise ValueError("direct messages need clients >= 2 * senders")
        elif self.senders and self.rooms < 1:
            raise ValueError("senders need at least one room (or --direct)")
        if self.rooms and self.clients < 2 * self.rooms:
            raise ValueError("each room needs at least two members")
        if self.rooms and not self.direct and self.senders and self.senders < self.rooms:
            raise ValueError("give every room at least one sender")
        if self.latency not in ("witness", "all"):
            raise ValueError("latency is 'witness' or 'all'")
        if self.window < 1:
            raise ValueError("window must be >= 1")
        if self.recv_size < 512:
            raise ValueError("recv_size must be >= 512")
        if self.sweep_ms < 0 or self.rcvbuf < 0:
            raise ValueError("sweep_ms and rcvbuf must be >= 0")


class Conn:
    """One client connection and everything the loop needs to know about it."""

    __slots__ = (
        "idx", "nick", "sock", "state", "tail", "parse", "count", "room",
        "target", "sid", "seq", "acked", "out", "writing", "joins_left",
        "witness_for", "got", "slow", "due_base_ns", "interval_ns", "capped",
        "error", "lazy", "events",
    )

    def __init__(self, idx: int, nick: str) -> None:
        self.idx = idx
        self.nick = nick
        self.sock: Optional[socket.socket] = None
        self.state = CONNECTING
        self.tail = b""
        self.parse = False
        self.count = 0
        self.room = -1
        self.target = b""
        self.sid = -1
        self.seq = 0
        self.acked = 0
        self.out = b""
        self.writing = False
        self.joins_left = 0
        self.witness_for = False
        self.got: Optional[Counter] = None
        self.slow = False
        self.due_base_ns = 0
        self.interval_ns = 0
        self.capped = 0
        self.error = b""
        #: Read by the sweep once ready, not on readiness (Scenario.sweep_ms).
        self.lazy = False
        #: The selector events registered for this socket (0: not registered).
        self.events = 0


def percentiles_us(samples: array.array[int]) -> Dict[str, Any]:
    """p50/p90/p99/p99.9/max of latency samples (microseconds)."""
    if not samples:
        return {"count": 0}
    ordered = sorted(samples)
    last = len(ordered) - 1
    out: Dict[str, Any] = {"count": len(ordered), "max": ordered[last]}
    for pct in PERCENTILES:
        out["p%s" % ("%g" % pct)] = ordered[min(last, int(round(pct / 100.0 * last)))]
    return out


def read_cpu_ticks(pid: int) -> int:
    """utime+stime of a process, in clock ticks, from /proc/PID/stat."""
    with open("/proc/%d/stat" % pid, "rb") as handle:
        fields = handle.read().rsplit(b")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def read_rss_kb(pid: int) -> int:
    """Resident set size of a process in KiB, from /proc/PID/status."""
    with open("/proc/%d/status" % pid, "rb") as handle:
        for line in handle:
            if line.startswith(b"VmRSS:"):
                return int(line.split()[1])
    return 0


def read_machine_busy_ticks() -> Tuple[int, int]:
    """(busy, total) clock ticks of all CPUs since boot, from /proc/stat.

    Busy minus the server's and our own ticks is what other processes took
    during a window: a shared machine shows up here, not as a silent dip.
    """
    with open("/proc/stat", "rb") as handle:
        fields = [int(x) for x in handle.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    total = sum(fields[:8])
    return total - idle, total


def raise_fd_limit() -> int:
    """Lift the soft RLIMIT_NOFILE to the hard one: thousands of sockets."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


class LoadGenerator:
    """Runs one Scenario to completion; ``run()`` returns the result dict."""

    def __init__(self, scenario: Scenario) -> None:
        scenario.validate()
        self.sc = scenario
        self.sel = selectors.DefaultSelector()
        self.conns: List[Conn] = []
        self.senders: List[Conn] = []
        self.room_members: List[List[Conn]] = []
        self.pending_connect: List[Conn] = []
        self.in_flight = 0
        self.registered = 0
        self.ready = 0
        self.dead = 0
        self.delivered = 0
        self.sent = 0
        self.sending = False
        self.window_open = False
        self.latencies: array.array[int] = array.array("q")
        self.to_pump: set = set()
        self.rss_peak = 0
        self.next_rss_ns = 0
        self.pad = b"x" * scenario.body_size
        self.ticks_per_s = os.sysconf("SC_CLK_TCK")
        self.errors: List[str] = []
        self.quickack = scenario.quickack
        #: Receivers read by the sweep, and where they are read into.
        self.lazy: List[Conn] = []
        self.sweep_ns = int(scenario.sweep_ms * 1_000_000)
        self.next_sweep_ns = 0
        self.sweeps = 0
        #: A sweep reads one of SWEEP_GROUPS slices of the lazy receivers, every
        #: sweep_ms / SWEEP_GROUPS: each member is still read every sweep_ms,
        #: and the witnesses' acknowledgements never wait for all of them.
        self.sweep_group = 0
        self.sweep_step_ns = self.sweep_ns // SWEEP_GROUPS
        self.sweep_reads = 0
        self.sweep_buf = bytearray(scenario.recv_size)
        self.sweep_view = memoryview(self.sweep_buf)
        self._plan()

    # ------------------------------------------------------------------ plan
    def _plan(self) -> None:
        sc = self.sc
        total = sc.clients + sc.slow_readers
        # Under the sweep every nick has the same width, and so every line
        # of a room the same length (see _pump and _read_lazy).
        width = len(str(total - 1)) if sc.sweep_ms > 0 else 0
        self.conns = [Conn(i, "%s%0*d" % (sc.nick_prefix, width, i)) for i in range(total)]
        regular = self.conns[: sc.clients]
        if sc.direct:
            self._plan_direct(regular)
        elif sc.rooms:
            self._plan_rooms(regular)
        for conn in self.conns[sc.clients:]:
            conn.slow = True
            conn.room = 0
            conn.joins_left = 1 if sc.rooms else 0
            if self.room_members:
                self.room_members[0].append(conn)
        every = sc.verify or sc.latency == "all"
        for conn in self.conns:
            conn.parse = conn.parse or every
            if sc.verify:
                conn.got = Counter()
        for conn in self.senders:
            conn.interval_ns = int(NS_PER_S / sc.rate) if sc.rate > 0 else 0
        if sc.sweep_ms > 0:
            for conn in self.conns:
                conn.lazy = not conn.parse and not conn.slow
        # deliveries per room message: every regular member but the sender
        self.fanout = [sum(1 for m in members if not m.slow) - 1 for members in self.room_members]
        self.pending_connect = list(reversed(self.conns))

    def _plan_rooms(self, regular: List[Conn]) -> None:
        sc = self.sc
        size = len(regular) // sc.rooms
        per_room = sc.senders // sc.rooms if sc.senders else 0
        sid = 0
        for room in range(sc.rooms):
            members = regular[room * size:(room + 1) * size]
            if room == sc.rooms - 1:
                members = regular[room * size:]
            for conn in members:
                conn.room = room
                conn.joins_left = 1
            self.room_members.append(list(members))
            witness = members[-1]
            witness.parse = True
            witness.witness_for = True
            extra = 1 if room < sc.senders - per_room * sc.rooms else 0
            for conn in members[: per_room + extra]:
                conn.sid = sid
                conn.target = ("#r%d" % room).encode("ascii")
                self.senders.append(conn)
                sid += 1

    def _plan_direct(self, regular: List[Conn]) -> None:
        sc = self.sc
        for sid in range(sc.senders):
            sender, partner = regular[sid], regular[sid + sc.senders]
            sender.sid = sid
            sender.target = partner.nick.encode("ascii")
            partner.parse = True
            partner.witness_for = True
            self.senders.append(sender)

    # --------------------------------------------------------------- sockets
    def _open(self, conn: Conn) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if conn.slow and self.sc.slow_rcvbuf:
            # Off by default: on loopback a tiny receive buffer makes the
            # kernel prune and collapse that socket's queue inside the
            # server's send() calls, which then measures the kernel.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.sc.slow_rcvbuf)
        if conn.lazy and self.sc.rcvbuf:
            # Before connect: the window the kernel advertises depends on it.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.sc.rcvbuf)
        sock.setblocking(False)
        conn.sock = sock
        self.in_flight += 1
        err = sock.connect_ex((self.sc.host, self.sc.port))
        if err not in (0, errno.EINPROGRESS):
            self._kill(conn, "connect: %s" % os.strerror(err))
            return
        self._set_events(conn, selectors.EVENT_WRITE)

    def _connected(self, conn: Conn) -> None:
        assert conn.sock is not None
        err = conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            self._kill(conn, "connect: %s" % os.strerror(err))
            return
        conn.state = REGISTERING
        self._set_events(conn, selectors.EVENT_READ)
        self._send(conn, b"NICK %s\r\nUSER %s 0 * :bench\r\n" % (conn.nick.encode(), conn.nick.encode()))

    def _send(self, conn: Conn, data: bytes) -> None:
        """Write now; keep what the kernel refused and finish on EVENT_WRITE."""
        if conn.state == DEAD or conn.sock is None:
            return
        if conn.out:
            conn.out += data
            return
        try:
            sent = conn.sock.send(data)
        except BlockingIOError:
            sent = 0
        except OSError as exc:
            self._kill(conn, "send: %s" % exc)
            return
        if sent < len(data):
            conn.out = data[sent:]
            self._want_write(conn, True)

    def _flush(self, conn: Conn) -> None:
        assert conn.sock is not None
        try:
            sent = conn.sock.send(conn.out)
        except BlockingIOError:
            return
        except OSError as exc:
            self._kill(conn, "send: %s" % exc)
            return
        conn.out = conn.out[sent:]
        if not conn.out:
            self._want_write(conn, False)
            if conn.sid >= 0:
                self.to_pump.add(conn)

    def _want_write(self, conn: Conn, on: bool) -> None:
        if conn.writing == on or conn.sock is None:
            return
        conn.writing = on
        events = selectors.EVENT_WRITE if on else 0
        if not ((conn.slow or conn.lazy) and conn.state == READY):
            events |= selectors.EVENT_READ
        self._set_events(conn, events)

    def _set_events(self, conn: Conn, events: int) -> None:
        """Register, modify or unregister C{conn}'s socket so that it waits for C{events}."""
        if events == conn.events or conn.sock is None:
            return
        if not conn.events:
            self.sel.register(conn.sock, events, conn)
        elif not events:
            self.sel.unregister(conn.sock)
        else:
            self.sel.modify(conn.sock, events, conn)
        conn.events = events

    def _kill(self, conn: Conn, why: str) -> None:
        if conn.state == DEAD:
            return
        if conn.state in (CONNECTING, REGISTERING):
            self.in_flight -= 1
        if len(self.errors) < 20:
            self.errors.append("%s: %s" % (conn.nick, why))
        conn.state = DEAD
        self.dead += 1
        if conn.sock is not None:
            self._set_events(conn, 0)
            conn.sock.close()

    # --------------------------------------------------------------- reading
    def _readable(self, conn: Conn) -> None:
        assert conn.sock is not None
        try:
            data = conn.sock.recv(self.sc.recv_size)
        except BlockingIOError:
            return
        except OSError as exc:
            self._kill(conn, "recv: %s" % exc)
            return
        if not data:
            why = ": " + conn.error.decode("utf-8", "replace") if conn.error else ""
            self._kill(conn, "closed by server%s" % (why,))
            return
        now = time.monotonic_ns()
        if self.quickack:
            conn.sock.setsockopt(socket.IPPROTO_TCP, TCP_QUICKACK, 1)
        if conn.tail:
            data = conn.tail + data
        end = data.rfind(b"\n") + 1
        if end == 0:
            conn.tail = data
            return
        if end < len(data):
            conn.tail = data[end:]
            data = data[:end]
        elif conn.tail:
            conn.tail = b""
        if conn.state != READY:
            self._setup_lines(conn, data)
        elif conn.parse:
            self._parse_lines(conn, data, now)
        else:
            found = data.count(PRIVMSG_MARK)
            conn.count += found
            self.delivered += found
            if data.count(b"\n") != found:
                self._control_lines(conn, data)

    def _sweep(self) -> None:
        """Read the next slice of the lazy receivers once each (more while a read fills the buffer)."""
        self.sweeps += 1
        group = self.sweep_group
        self.sweep_group = (group + 1) % SWEEP_GROUPS
        for conn in self.lazy[group::SWEEP_GROUPS]:
            if conn.state == READY:
                self._read_lazy(conn)

    def _read_lazy(self, conn: Conn) -> None:
        """
        What the kernel holds for C{conn}, read into the shared buffer after
        its partial line and counted there: no bytes object per read.
        """
        assert conn.sock is not None
        buf, view = self.sweep_buf, self.sweep_view
        size = len(buf)
        while True:
            start = len(conn.tail)
            if start:
                buf[:start] = conn.tail
            try:
                got = conn.sock.recv_into(view[start:])
            except BlockingIOError:
                return
            except OSError as exc:
                self._kill(conn, "recv: %s" % exc)
                return
            self.sweep_reads += 1
            if not got:
                why = ": " + conn.error.decode("utf-8", "replace") if conn.error else ""
                self._kill(conn, "closed by server%s" % (why,))
                return
            end = start + got
            cut = buf.rfind(b"\n", 0, end) + 1
            if cut:
                found = self._uniform_lines(buf, cut) if self.window_open else 0
                if not found:
                    found = buf.count(PRIVMSG_MARK, 0, cut)
                    if buf.count(b"\n", 0, cut) != found:
                        self._control_lines(conn, bytes(view[:cut]))
                conn.count += found
                self.delivered += found
            conn.tail = bytes(view[cut:end]) if cut < end else b""
            if end < size:
                return  # the kernel had no more
            if cut == 0:
                self._kill(conn, "a line longer than the %d-byte read buffer" % size)
                return

    @staticmethod
    def _uniform_lines(buf: bytearray, cut: int) -> int:
        """
        How many deliveries C{buf[:cut]} holds if it is all deliveries of one
        length (else 0: then the caller counts line by line).

        Inside the measurement window a ready member receives nothing but
        its room's messages (no JOINs then, PINGs only after 600 s), and
        under the sweep they all have one length (fixed-width nicks and
        numbers): the first line's length divides the whole, and every
        stride has the first line's line feed and " PRIVMSG " at the same
        places.  That check reads three bytes per line; counting
        " PRIVMSG " read them all, and cost the generator as much CPU as
        the server spent sending them.
        """
        size = buf.find(b"\n", 0, cut) + 1
        mark = buf.find(PRIVMSG_MARK, 0, size)
        if cut % size or mark < 0:
            return 0
        lines = cut // size
        # Each line ends where the first does, with " PRIVMSG " where the first has it.
        for offset, byte in ((size - 1, b"\n"), (mark + 1, b"P"), (mark + 7, b"G")):
            if buf[offset:cut:size].count(byte) != lines:
                return 0
        return lines

    def _parse_lines(self, conn: Conn, data: bytes, now: int) -> None:
        window = self.window_open
        lat = self.latencies
        got = conn.got
        senders = self.senders
        witness = conn.witness_for
        found = 0
        for line in data.split(b"\n"):
            mark = line.find(PRIVMSG_MARK)
            if mark < 0:
                if line:
                    self._control_line(conn, line)
                continue
            body = line[line.find(b" :", mark) + 2:]
            parts = body.split(b" ", 4)
            if parts[0] != BODY_MARK or len(parts) < 4:
                continue
            found += 1
            sid = int(parts[1])
            seq = int(parts[2])
            if window:
                lat.append((now - int(parts[3])) // NS_PER_US)
            if got is not None:
                got[(sid, seq)] += 1
            if witness and sid < len(senders):
                sender = senders[sid]
                if seq >= sender.acked:
                    sender.acked = seq + 1
                    self.to_pump.add(sender)
        conn.count += found
        self.delivered += found

    def _control_lines(self, conn: Conn, data: bytes) -> None:
        for line in data.split(b"\n"):
            if line and PRIVMSG_MARK not in line:
                self._control_line(conn, line)

    def _control_line(self, conn: Conn, line: bytes) -> None:
        """PING, ERROR and numerics; anything else is ignored."""
        line = line.rstrip(b"\r")
        words = line.split(b" ", 3)
        if words[0].startswith(b":") and len(words) > 1:
            command = words[1]
            rest = line.split(b" ", 2)[2] if len(words) > 2 else b""
        else:
            command = words[0]
            rest = line.split(b" ", 1)[1] if len(words) > 1 else b""
        if command == b"PING":
            self._send(conn, b"PONG " + rest + b"\r\n")
        elif command == b"ERROR":
            conn.error = line
        return None

    def _setup_lines(self, conn: Conn, data: bytes) -> None:
        for raw in data.split(b"\n"):
            line = raw.rstrip(b"\r")
            if not line:
                continue
            words = line.split(b" ", 3)
            command = words[1] if words[0].startswith(b":") and len(words) > 1 else words[0]
            if command == b"001" and conn.state == REGISTERING:
                self._registered(conn)
            elif command == b"366" and conn.state == JOINING:
                conn.joins_left -= 1
                if conn.joins_left <= 0:
                    self._ready(conn)
            elif command in (b"433", b"432", b"451", b"461", b"403", b"405", b"471", b"473", b"474"):
                self._kill(conn, "setup refused: %s" % line.decode("utf-8", "replace"))
                return
            elif command == b"PRIVMSG":
                continue
            else:
                self._control_line(conn, line)

    def _registered(self, conn: Conn) -> None:
        self.in_flight -= 1
        self.registered += 1
        if self.registered == 1:
            self.first_registered_ns = time.monotonic_ns()
        if self.registered == self.sc.clients + self.sc.slow_readers:
            self.all_registered_ns = time.monotonic_ns()
        lines = b""
        if self.sc.oper and conn.sid >= 0:
            name, _, password = self.sc.oper.partition(":")
            lines += b"OPER %s %s\r\nMODE %s +F\r\n" % (name.encode(), password.encode(), conn.nick.encode())
        if conn.joins_left:
            conn.state = JOINING
            lines += b"JOIN #r%d\r\n" % conn.room
        if lines:
            self._send(conn, lines)
        if not conn.joins_left:
            self._ready(conn)

    def _ready(self, conn: Conn) -> None:
        conn.state = READY
        self.ready += 1
        if (conn.slow or conn.lazy) and conn.sock is not None:
            # A slow reader is never read again: the server has to queue,
            # and cope.  A lazy one is read by the sweep from now on.
            self._set_events(conn, selectors.EVENT_WRITE if conn.writing else 0)
            if conn.lazy:
                self.lazy.append(conn)

    # --------------------------------------------------------------- sending
    def _pump(self, conn: Conn, now: int) -> None:
        """Send what the sender may: its window, and its schedule if rated."""
        if conn.state != READY or conn.out:
            return
        allowed = self.sc.window - (conn.seq - conn.acked)
        if self.sc.messages:
            allowed = min(allowed, self.sc.messages - conn.seq)
        if conn.interval_ns:
            due = (now - conn.due_base_ns) // conn.interval_ns + 1 - conn.seq
            if due > allowed:
                conn.capped += due - max(allowed, 0)
            allowed = min(allowed, due)
        if allowed <= 0:
            return
        first = conn.seq
        conn.seq += allowed
        self.sent += allowed
        if self.lazy:
            # Fixed-width numbers: every delivery of a room is one length.
            head = b"PRIVMSG " + conn.target + b" :B %05d " % conn.sid
            tail = b" %020d " % now + self.pad + b"\r\n"
            self._send(conn, b"".join([head + b"%010d" % seq + tail for seq in range(first, first + allowed)]))
            return
        head = b"PRIVMSG " + conn.target + b" :B %d " % conn.sid
        tail = b" %d " % now + self.pad + b"\r\n"
        self._send(conn, b"".join([head + b"%d" % seq + tail for seq in range(first, first + allowed)]))

    def _pump_all(self, now: int) -> None:
        if not self.sending:
            self.to_pump.clear()
            return
        if self.sc.rate > 0:
            for conn in self.senders:
                self._pump(conn, now)
            self.to_pump.clear()
        else:
            pumping, self.to_pump = self.to_pump, set()
            for conn in pumping:
                self._pump(conn, now)

    # ------------------------------------------------------------------ loop
    def _poll(self, timeout: float) -> None:
        for key, mask in self.sel.select(timeout):
            conn = key.data
            if conn.state == DEAD:
                continue
            if mask & selectors.EVENT_WRITE:
                if conn.state == CONNECTING:
                    self._connected(conn)
                    continue
                self._flush(conn)
            if mask & selectors.EVENT_READ and conn.state != DEAD:
                self._readable(conn)
        self._sample_rss()

    def _sample_rss(self) -> None:
        if not self.sc.server_pid:
            return
        now = time.monotonic_ns()
        if now >= self.next_rss_ns:
            self.next_rss_ns = now + int(self.sc.rss_interval * NS_PER_S)
            try:
                self.rss_peak = max(self.rss_peak, read_rss_kb(self.sc.server_pid))
            except OSError:
                self.errors.append("server process gone")
                self.sc = attr.evolve(self.sc, server_pid=0)

    def _connect_more(self) -> None:
        while self.pending_connect and self.in_flight < self.sc.connect_concurrency:
            self._open(self.pending_connect.pop())

    def _setup(self) -> Dict[str, Any]:
        total = len(self.conns)
        start = time.monotonic_ns()
        self.first_registered_ns = self.all_registered_ns = 0
        deadline = start + int(self.sc.setup_timeout * NS_PER_S)
        self._connect_more()
        while self.ready + self.dead < total and time.monotonic_ns() < deadline:
            self._poll(IDLE_TICK_S)
            self._connect_more()
            if self.lazy and time.monotonic_ns() >= self.next_sweep_ns:
                self._sweep()  # the others' JOINs, and any PING
                self.next_sweep_ns = time.monotonic_ns() + self.sweep_step_ns
        end = time.monotonic_ns()
        reg_end = self.all_registered_ns or end
        reg_s = (reg_end - start) / NS_PER_S
        return {
            "connections": total,
            "registered": self.registered,
            "ready": self.ready,
            "failed": self.dead,
            "connect_register_s": round(reg_s, 4),
            "register_per_s": round(self.registered / reg_s, 1) if reg_s > 0 else None,
            "setup_s": round((end - start) / NS_PER_S, 4),
            "timed_out": self.ready + self.dead < total,
        }

    def _run_until(self, deadline_ns: int, done: Any = None) -> None:
        while True:
            now = time.monotonic_ns()
            if now >= deadline_ns or (done is not None and done()):
                return
            timeout = IDLE_TICK_S
            if self.sending and self.sc.rate > 0:
                timeout = min(timeout, 1.0 / (self.sc.rate * max(1, len(self.senders))))
            elif self.to_pump:
                timeout = 0
            if self.lazy:
                if now >= self.next_sweep_ns:
                    self._sweep()
                    self.next_sweep_ns = now + self.sweep_step_ns
                timeout = min(timeout, max(0, self.next_sweep_ns - now) / NS_PER_S)
            self._poll(min(timeout, (deadline_ns - now) / NS_PER_S))
            self._pump_all(time.monotonic_ns())

    def _expected_deliveries(self) -> int:
        """What the regular receivers should get for everything sent so far."""
        if self.sc.direct:
            return sum(conn.seq for conn in self.senders)
        return sum(conn.seq * self.fanout[conn.room] for conn in self.senders)

    def _all_acked(self) -> bool:
        return all(c.acked >= c.seq or c.state == DEAD for c in self.senders)

    def _drained(self) -> bool:
        return self._all_acked() and self.delivered >= self._expected_deliveries()

    def _snapshot(self) -> Tuple[int, int, float, int]:
        ticks = read_cpu_ticks(self.sc.server_pid) if self.sc.server_pid else 0
        times = os.times()
        busy, _total = read_machine_busy_ticks()
        return time.monotonic_ns(), ticks, times.user + times.system, busy

    def _cpu_shares(self, out: Dict[str, Any], t0: Tuple[int, int, float, int], t1: Tuple[int, int, float, int],
                    count: int, per_cpu_key: str) -> None:
        """
        Server, generator and other processes' CPU between two snapshots, in
        % of one core, and C{count} per server CPU-second under C{per_cpu_key}.
        """
        seconds = (t1[0] - t0[0]) / NS_PER_S
        if seconds <= 0:
            return
        own = t1[2] - t0[2]
        busy = (t1[3] - t0[3]) / float(self.ticks_per_s)
        server = (t1[1] - t0[1]) / float(self.ticks_per_s) if self.sc.server_pid else 0.0
        out["loadgen_cpu_pct"] = round(100.0 * own / seconds, 1)
        if self.sc.server_pid:
            out["server_cpu_pct"] = round(100.0 * server / seconds, 1)
            if server > 0:
                out[per_cpu_key] = round(count / server, 1)
        out["other_cpu_pct"] = round(100.0 * max(0.0, busy - own - server) / seconds, 1)

    def run(self) -> Dict[str, Any]:
        sc = self.sc
        raise_fd_limit()
        result: Dict[str, Any] = {"scenario": attr.asdict(sc)}
        rss_before = read_rss_kb(sc.server_pid) if sc.server_pid else 0
        s0 = self._snapshot()
        setup = self._setup()
        s1 = self._snapshot()
        self._cpu_shares(setup, s0, s1, setup["registered"], "registrations_per_server_cpu_s")
        result["setup"] = setup
        if sc.server_pid:
            rss_ready = read_rss_kb(sc.server_pid)
            per_conn = (rss_ready - rss_before) * 1024.0 / max(1, setup["ready"])
            result["server_memory"] = {
                "rss_before_kb": rss_before,
                "rss_ready_kb": rss_ready,
                "bytes_per_connection": round(per_conn, 1),
            }
            self.rss_peak = rss_ready
        if setup["timed_out"] or setup["failed"]:
            result["errors"] = self.errors
            self._close()
            return result

        start = time.monotonic_ns()
        for number, conn in enumerate(self.senders):
            offset = number * (conn.interval_ns // max(1, len(self.senders))) if conn.interval_ns else 0
            conn.due_base_ns = start + offset
        self.sending = bool(self.senders)
        self.to_pump.update(self.senders)
        if sc.messages:
            t0 = self._snapshot()
            self.window_open = True
            self._run_until(start + int((sc.duration + sc.drain) * NS_PER_S),
                            lambda: all(c.seq >= sc.messages or c.state == DEAD for c in self.senders)
                            and self._drained())
            self.window_open = False
            t1 = self._snapshot()
            sent_in_window, delivered_in_window = self.sent, self.delivered
        else:
            self._run_until(start + int(sc.warmup * NS_PER_S))
            sent0, delivered0 = self.sent, self.delivered
            t0 = self._snapshot()
            self.window_open = True
            self._run_until(t0[0] + int(sc.duration * NS_PER_S))
            self.window_open = False
            t1 = self._snapshot()
            sent_in_window, delivered_in_window = self.sent - sent0, self.delivered - delivered0
            self.sending = False
            self._run_until(t1[0] + int(sc.drain * NS_PER_S), self._drained)

        seconds = (t1[0] - t0[0]) / NS_PER_S
        result["measure_s"] = round(seconds, 4)
        result["messages_sent"] = sent_in_window
        result["deliveries"] = delivered_in_window
        result["messages_per_s"] = round(sent_in_window / seconds, 1) if seconds else None
        result["deliveries_per_s"] = round(delivered_in_window / seconds, 1) if seconds else None
        result["latency_us"] = percentiles_us(self.latencies)
        result["capped_sends"] = sum(c.capped for c in self.senders)
        if self.lazy:
            result["sweep"] = {"receivers": len(self.lazy), "sweeps": self.sweeps, "reads": self.sweep_reads}
        own_cpu = t1[2] - t0[2]
        busy = (t1[3] - t0[3]) / float(self.ticks_per_s)
        result["loadgen_cpu_pct"] = round(100.0 * own_cpu / seconds, 1) if seconds else None
        server_cpu = 0.0
        if sc.server_pid:
            server_cpu = (t1[1] - t0[1]) / float(self.ticks_per_s)
            result["server_cpu_pct"] = round(100.0 * server_cpu / seconds, 1) if seconds else None
            if server_cpu > 0:
                result["deliveries_per_server_cpu_s"] = round(delivered_in_window / server_cpu, 1)
        result["other_cpu_pct"] = round(100.0 * max(0.0, busy - own_cpu - server_cpu) / seconds, 1) if seconds else None
        if sc.server_pid:
            result["server_rss_peak_kb"] = self.rss_peak
            result["server_rss_end_kb"] = read_rss_kb(sc.server_pid)
        expected = self._expected_deliveries()
        result["totals"] = {
            "sent": self.sent,
            "delivered": self.delivered,
            "expected": expected,
            "lost": max(0, expected - self.delivered),
            "dead_connections": sum(1 for c in self.conns if c.state == DEAD and not c.slow),
        }
        if sc.verify:
            result["verify"] = self._verify()
        if sc.slow_readers:
            result["slow_readers"] = self._slow_reader_fate()
        result["errors"] = self.errors
        self._close()
        return result

    def _verify(self) -> Dict[str, int]:
        """Every message reached every other regular member exactly once."""
        missing = duplicated = unexpected = 0
        for conn in self.conns:
            if conn.slow or conn.got is None:
                continue
            expected: Set[Tuple[int, int]] = set()
            for sender in self.senders:
                if sender is conn:
                    continue
                if self.sc.direct:
                    if sender.target != conn.nick.encode("ascii"):
                        continue
                elif sender.room != conn.room:
                    continue
                expected.update((sender.sid, seq) for seq in range(sender.seq))
            for key, times in conn.got.items():
                if key not in expected:
                    unexpected += times
                elif times > 1:
                    duplicated += times - 1
            missing += sum(1 for key in expected if key not in conn.got)
        return {"missing": missing, "duplicated": duplicated, "unexpected": unexpected,
                "messages": self.sent}

    def _slow_reader_fate(self) -> List[Dict[str, Any]]:
        """Read what the server left for each slow reader: did it cut them off?"""
        fates = []
        for conn in self.conns:
            if not conn.slow:
                continue
            fate: Dict[str, Any] = {"nick": conn.nick, "disconnected": conn.state == DEAD, "error": ""}
            if conn.sock is not None and conn.state != DEAD:
                received = 0
                conn.sock.setblocking(True)
                conn.sock.settimeout(0.5)
                try:
                    while True:
                        chunk = conn.sock.recv(RECV_SIZE)
                        if not chunk:
                            fate["disconnected"] = True
                            break
                        received += len(chunk)
                        if b"ERROR" in chunk:
                            fate["error"] = chunk[chunk.find(b"ERROR"):].split(b"\r\n", 1)[0].decode("utf-8", "replace")
                except socket.timeout:
                    pass
                except OSError as exc:
                    fate["disconnected"] = True
                    fate["error"] = fate["error"] or str(exc)
                fate["bytes_buffered_for_it"] = received
            fates.append(fate)
        return fates

    def _close(self) -> None:
        for conn in self.conns:
            if conn.sock is None or conn.state == DEAD:
                continue
            try:
                conn.sock.setblocking(False)
                conn.sock.send(b"QUIT :bench done\r\n")
            except OSError:
                pass
            conn.sock.close()
            conn.state = DEAD
        self.sel.close()


def run_scenario(scenario: Scenario) -> Dict[str, Any]:
    """Run one scenario in this process (the benchmark runs us as a subprocess)."""
    return LoadGenerator(scenario).run()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    defaults = Scenario()
    for field in attr.fields(Scenario):
        flag = "--" + field.name.replace("_", "-")
        default = getattr(defaults, field.name)
        if isinstance(default, bool):
            parser.add_argument(flag, action="store_true", default=default)
        else:
            parser.add_argument(flag, type=type(default), default=default)
    parser.add_argument("--json", default="-", help="where to write the result (default stdout)")
    return parser


def main(argv: Optional[Iterable[str]] = None) -> int:
    args = _parser().parse_args(None if argv is None else list(argv))
    values = {f.name: getattr(args, f.name) for f in attr.fields(Scenario)}
    result = run_scenario(Scenario(**values))
    text = json.dumps(result, indent=1, sort_keys=True)
    if args.json == "-":
        sys.stdout.write(text + "\n")
    else:
        with open(args.json, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
