"""
Client soak: the real client behind a hostile server, for as long as it takes.

A small IRC server of the bench's own (one ``selectors`` loop, bytes only)
registers two genuine clients, ``alice`` and ``bob``: the real client, each in
its own process, in JSON-lines mode (``python -m securechat --json``, keyed by
``--key-file`` on ``fernet-ttl``), so the figures are the client's and the
bench needs no internal API.  They exchange sealed messages in ``#soak``
(some long enough to take several lines) and the server relays them, while
it sends each of them, at a bounded rate, a mix of what a hostile relay can
invent:

    join/part/nick/quit   thousands of invented nicks coming, going, renaming
                          (some incoherent: a PART of a nick never seen)
    plain                 clear text from invented nicks in the keyed room
    garbage               protected-looking lines (the wire's marker) from
                          invented nicks: random tokens, single and partial
                          multi-chunk, some claiming to come from the peer
    replay                a genuine line of the peer's, sent again later
    ctcp                  CTCP VERSION/PING/TIME, to the room and direct
    direct                plain direct messages from invented nicks
    long                  lines of 8-16 KiB, and some past 16 KiB
    bytes                 random bytes: invalid UTF-8, NUL, controls
    ping                  ``PING`` from the server: each wants its ``PONG``

It passes (exit 0) when, at the end: both clients are alive (the last
messages, sent after the junk stopped, arrive; ``quit`` ends each with status
0); every genuine message arrived, exactly once, as protected; nothing else
was shown as protected (junk, replays, forged senders); every ``PING`` got
its ``PONG`` and no CTCP was answered; and each client's RSS at the end is
within ``--rss-slack-mb`` (20 MB) of its value ``baseline`` seconds (a
minute) into the run.  It prints the client's CPU per junk line.

    python3 bench/clientsoak.py                       # 30 minutes (long)
    python3 bench/clientsoak.py --minutes 5           # shorter, same mix
    python3 bench/clientsoak.py --profile ci          # what tests/test_soak.py runs (~1 min)

Everything talks to 127.0.0.1 only, every loop is bounded in time, and the
state directories are temporary.  Figures: docs/operations.md.
"""

from __future__ import annotations

import argparse
import base64
import errno
import json
import os
import random
import selectors
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from typing import Any, Dict, List, Optional, Set, TextIO, Tuple

import attr

try:
    from bench import loadgen
except ImportError:  # run as a script: python3 bench/clientsoak.py
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from bench import loadgen
# Refusal hints' word and the bounds docs/wire.md ("Refusal hints") states.
from securechat.client.core.hints import HINT, MAX_ENTRIES, MAX_SENT_PER_WINDOW
from securechat.client.core.hints import WINDOW as HINT_WINDOW

# The wire's marker (``+sc`` and its version): garbage must look current.
# The codec's published constant, not the client's internals.
from securechat.codec import MARKER

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOOPBACK = "127.0.0.1"
SERVER_NAME = b"soak.invalid"
ROOM = "#soak"
PEERS = ("alice", "bob")
#: The room's passphrase: a throwaway, written to a 0600 file, never argv.
PASSPHRASE = b"client soak throwaway passphrase"
RECV_SIZE = 65536
#: Past this much unsent to a client, the junk waits (the rate is bounded,
#: the client's reading is what is measured, not the kernel's buffers).
OUTBUF_CAP = 1 << 20
TICK_S = 0.01
#: The longest line a securechat client accepts from a server.
CLIENT_LINE_MAX = 16 * 1024
#: Seconds to wait for the clients to start, key and join.
STARTUP_S = 120.0
#: Seconds to wait, after the junk stops, for what is in flight.
DRAIN_S = 60.0
RSS_SLACK_MB = 20.0

#: Junk kinds and their weights in the mix.
MIX: Tuple[Tuple[str, int], ...] = (
    ("join", 14), ("part", 10), ("nick", 8), ("quit", 4),
    ("plain", 14), ("garbage", 14), ("replay", 3), ("ctcp", 6),
    ("direct", 8), ("long", 4), ("bytes", 6), ("ping", 3),
    ("incoherent", 6),
)

#: Kinds that need an invented nick in the room.
PRESENCE = ("part", "nick", "quit")


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Profile:
    """How long and how hard."""

    name: str
    #: Seconds of junk.
    duration: float
    #: Junk lines per second, to each client.
    junk_rate: float
    #: Genuine messages per second, from each client.
    genuine_rate: float
    #: Seconds into the run when the RSS baseline is taken.
    baseline: float
    #: Invented nicks to draw from.
    nicks: int


PROFILES = {
    "long": Profile("long", 1800.0, 100.0, 1.0, 60.0, 5000),
    "quick": Profile("quick", 300.0, 100.0, 1.0, 60.0, 3000),
    # A minute, as the relay soak's ci profile: every kind, a few thousand lines.
    "ci": Profile("ci", 60.0, 60.0, 1.0, 15.0, 2000),
}


# ------------------------------------------------------------------ the junk

def _b64(rng: random.Random, n: int) -> bytes:
    return base64.urlsafe_b64encode(bytes(rng.getrandbits(8) for _ in range(n))).rstrip(b"=")


def garbage_line(rng: random.Random) -> Tuple[bytes, bool]:
    """
    A protected-looking body (the wire's current marker) that no key
    opens, and whether it is a whole message (``1/1``: the client judges
    it at once) or one chunk of several (held for the reassembly window,
    then dropped or reported incomplete).
    """
    layer = rng.choice((b"fernet-ttl", b"fernet", b"signed", b"aes-ctr", b"bogus"))
    msgid = _b64(rng, 16)
    whole = rng.random() < 0.7
    total = 1 if whole else rng.randint(2, 5)
    index = 1 if whole else rng.randint(1, total)
    piece = _b64(rng, rng.randint(40, 300))
    return b"%s %s %s %d/%d %s" % (MARKER.encode("ascii"), layer, msgid, index, total, piece), whole


class Junk:
    """What a hostile server invents, one line at a time, for one client."""

    def __init__(self, rng: random.Random, me: bytes, peer: bytes, nicks: int) -> None:
        self.rng = rng
        self.me = me
        self.peer = peer
        self.pool = [b"n%05d" % i for i in range(nicks)]
        self.present: List[bytes] = []
        self.presentSet: Set[bytes] = set()
        self.replayable: List[bytes] = []
        self.kinds = [k for k, _ in MIX]
        self.weights = [w for _, w in MIX]
        self.counts: Counter[str] = Counter()
        #: Kinds not sent yet: the first lines go through every kind once,
        #: so a short run (or a slow machine) still sends each.
        self.unsent = list(self.kinds)
        self.pingSeq = 0
        #: Garbage lines that are a whole message (``1/1``).
        self.wholeGarbage = 0

    def _who(self, nick: bytes) -> bytes:
        return b":%s!~%s@inv.%s.invalid" % (nick, nick, nick[-2:])

    def _someone(self) -> bytes:
        if self.present and self.rng.random() < 0.8:
            return self.rng.choice(self.present)
        return self.rng.choice(self.pool)

    def _leave(self, nick: bytes) -> None:
        if nick in self.presentSet:
            self.presentSet.discard(nick)
            self.present.remove(nick)

    def _arrive(self, nick: bytes) -> None:
        if nick not in self.presentSet:
            self.presentSet.add(nick)
            self.present.append(nick)

    def line(self) -> Tuple[str, bytes]:
        """The next junk line (with CRLF), and its kind."""
        ready = [k for k in self.unsent
                 if (k != "replay" or self.replayable) and (k not in PRESENCE or self.present)]
        if ready:
            kind = ready[0]
            self.unsent.remove(kind)
        elif any(k in PRESENCE for k in self.unsent):
            kind = "join"  # someone to rename, part or quit first
        else:
            kind = self.rng.choices(self.kinds, self.weights)[0]
        if kind == "replay" and not self.replayable:
            kind = "garbage"
        if kind in PRESENCE and not self.present:
            kind = "join"
        self.counts[kind] += 1
        rng = self.rng
        room = ROOM.encode()
        if kind == "join":
            nick = rng.choice(self.pool)
            self._arrive(nick)
            out = self._who(nick) + b" JOIN " + room
        elif kind == "part":
            nick = rng.choice(self.present)
            self._leave(nick)
            out = self._who(nick) + b" PART " + room + b" :bye"
        elif kind == "quit":
            nick = rng.choice(self.present)
            self._leave(nick)
            out = self._who(nick) + b" QUIT :Quit: gone"
        elif kind == "nick":
            nick = rng.choice(self.present)
            new = rng.choice(self.pool)
            self._leave(nick)
            self._arrive(new)
            out = self._who(nick) + b" NICK :" + new
        elif kind == "incoherent":
            # A PART or NICK for someone never seen, a JOIN of a room we are not in.
            nick = b"ghost%d" % rng.randint(0, 999999)
            out = self._who(nick) + rng.choice(
                (b" PART " + room, b" NICK :ghost%d" % rng.randint(0, 999999), b" JOIN #elsewhere",
                 b" KICK " + room + b" " + nick + b" :out"))
        elif kind == "plain":
            out = self._who(self._someone()) + b" PRIVMSG " + room + b" :plain text %d" % rng.randint(0, 10 ** 9)
        elif kind == "garbage":
            body, whole = garbage_line(rng)
            # Some claim to be the peer: the relay can name any sender.
            sender = self.peer if rng.random() < 0.2 else self._someone()
            target = room if rng.random() < 0.8 else self.me
            out = self._who(sender) + b" PRIVMSG " + target + b" :" + body
            if whole:  # judged at once: a rejection each
                self.wholeGarbage += 1
        elif kind == "replay":
            out = rng.choice(self.replayable).rstrip(b"\r\n")
        elif kind == "ctcp":
            what = rng.choice((b"VERSION", b"PING %d" % rng.randint(0, 10 ** 9), b"TIME", b"CLIENTINFO"))
            target = room if rng.random() < 0.5 else self.me
            out = self._who(self._someone()) + b" PRIVMSG " + target + b" :\x01" + what + b"\x01"
        elif kind == "direct":
            out = self._who(self._someone()) + b" PRIVMSG " + self.me + b" :hello %d" % rng.randint(0, 10 ** 9)
        elif kind == "long":
            size = rng.choice((8 * 1024, 12 * 1024, CLIENT_LINE_MAX - 200, CLIENT_LINE_MAX + 100, 64 * 1024))
            head = self._who(self._someone()) + b" PRIVMSG " + room + b" :"
            out = head + b"x" * max(0, size - len(head))
        elif kind == "bytes":
            raw = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 600)))
            out = raw.replace(b"\r", b"?").replace(b"\n", b"?")
        else:  # ping
            self.pingSeq += 1
            out = b"PING :soak-%d" % self.pingSeq
        return kind, out + b"\r\n"

    def recordGenuine(self, line: bytes) -> None:
        """Keep a few of the peer's genuine lines to replay later."""
        if len(self.replayable) < 64:
            self.replayable.append(line)
        else:
            self.replayable[self.rng.randrange(64)] = line


# ---------------------------------------------------------------- the server

class Peer:
    """One genuine client: its process, its socket, what it said and saw."""

    def __init__(self, nick: str) -> None:
        self.nick = nick
        self.bnick = nick.encode()
        self.proc: Optional[subprocess.Popen[bytes]] = None
        self.sock: Optional[socket.socket] = None
        self.inbuf = b""
        self.outbuf = bytearray()
        self.stdoutTail = b""
        self.registered = False
        self.joined = False
        self.keyed = False
        self.junk: Optional[Junk] = None
        # What happened, counted.
        self.events: Counter[str] = Counter()
        self.rejected: Counter[str] = Counter()
        #: What the bench told it to send, and what it said it sent.
        self.asked: List[str] = []
        self.sentBodies: List[str] = []
        self.seenBodies: Counter[str] = Counter()
        self.acceptedJunk: List[Dict[str, Any]] = []
        self.pingsSent = 0
        self.pongs = 0
        self.ctcpReplies = 0
        #: Refusal hints the client sent (to the junk's claimed senders).
        self.hints = 0
        self.unexpected: Counter[bytes] = Counter()
        self.samples: List[Tuple[float, int, int]] = []  # (t, rss kB, cpu ticks)
        self.exitCode: Optional[int] = None
        self.stderrPath = ""


class ClientSoak:
    """The server loop, the two clients and the verdict."""

    def __init__(self, profile: Profile, seed: int, python: str, out: TextIO,
                 rssSlackMb: float = RSS_SLACK_MB) -> None:
        self.profile = profile
        self.rng = random.Random(seed)
        self.python = python
        self.out = out
        self.rssSlackMb = rssSlackMb
        self.sel = selectors.DefaultSelector()
        self.peers = {nick: Peer(nick) for nick in PEERS}
        self.workdir = tempfile.mkdtemp(prefix="clientsoak-")
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((LOOPBACK, 0))
        self.listener.listen(8)
        self.listener.setblocking(False)
        self.port = self.listener.getsockname()[1]
        self.sel.register(self.listener, selectors.EVENT_READ, ("accept", None))
        self.pending: List[socket.socket] = []
        self.genuineSeq = 0
        self.tick = os.sysconf("SC_CLK_TCK")

    # -------------------------------------------------------------- processes

    def spawn(self) -> None:
        keyFile = os.path.join(self.workdir, "room.key")
        fd = os.open(keyFile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(PASSPHRASE)
        env = dict(os.environ)
        env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
        env.pop("SECURECHAT_KEY", None)
        for peer in self.peers.values():
            state = os.path.join(self.workdir, "state-" + peer.nick)
            peer.stderrPath = os.path.join(self.workdir, peer.nick + ".stderr")
            with open(peer.stderrPath, "wb") as err:
                peer.proc = subprocess.Popen(
                    [self.python, "-m", "securechat", "--json", "--server", "tcp:%s:%d" % (LOOPBACK, self.port),
                     "--nick", peer.nick, "--join", ROOM, "--key-file", keyFile, "--state-dir", state],
                    cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err)
            assert peer.proc.stdout is not None
            os.set_blocking(peer.proc.stdout.fileno(), False)
            self.sel.register(peer.proc.stdout, selectors.EVENT_READ, ("stdout", peer))

    def command(self, peer: Peer, obj: Dict[str, Any]) -> None:
        assert peer.proc is not None and peer.proc.stdin is not None
        peer.proc.stdin.write(json.dumps(obj).encode() + b"\n")
        peer.proc.stdin.flush()

    def readStdout(self, peer: Peer) -> None:
        assert peer.proc is not None and peer.proc.stdout is not None
        try:
            data = os.read(peer.proc.stdout.fileno(), RECV_SIZE)
        except BlockingIOError:
            return
        if not data:
            self.sel.unregister(peer.proc.stdout)
            return
        lines = (peer.stdoutTail + data).split(b"\n")
        peer.stdoutTail = lines.pop()
        for raw in lines:
            self.onEvent(peer, json.loads(raw))

    def onEvent(self, peer: Peer, event: Dict[str, Any]) -> None:
        kind = event.get("type", "?")
        peer.events[kind] += 1
        if kind == "key" and event.get("target") == ROOM:
            peer.keyed = True
        elif kind == "rejected":
            peer.rejected[str(event.get("reason"))] += 1
        elif kind == "sent" and event.get("target") == ROOM:
            peer.sentBodies.append(event["body"])
        elif kind in ("message", "action") and event.get("protection") != "none":
            other = self.peers[PEERS[1] if peer.nick == PEERS[0] else PEERS[0]]
            body = event.get("body", "")
            if (event.get("sender") == other.nick and event.get("target") == ROOM
                    and body.startswith("G %s " % other.nick) and not peer.seenBodies[body]):
                peer.seenBodies[body] += 1
            else:
                peer.acceptedJunk.append(event)

    # ----------------------------------------------------------------- server

    def accept(self) -> None:
        try:
            sock, _ = self.listener.accept()
        except BlockingIOError:
            return
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sel.register(sock, selectors.EVENT_READ, ("unregistered", [sock, b"", None]))

    def readRegistering(self, state: List[Any]) -> None:
        sock = state[0]
        try:
            data = sock.recv(RECV_SIZE)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.sel.unregister(sock)
            sock.close()
            return
        state[1] += data
        *lines, state[1] = state[1].split(b"\n")
        for raw in lines:
            words = raw.rstrip(b"\r").split(b" ")
            if words[0].upper() == b"NICK" and len(words) > 1:
                state[2] = words[1].lstrip(b":").decode("utf-8", "replace")
            elif words[0].upper() == b"USER" and state[2] in self.peers:
                peer = self.peers[state[2]]
                self.sel.unregister(sock)
                if peer.sock is not None:  # a reconnection: the old one is gone
                    self.dropPeerSocket(peer)
                peer.sock = sock
                peer.inbuf = state[1]
                peer.outbuf = bytearray()
                self.sel.register(sock, selectors.EVENT_READ, ("peer", peer))
                self.welcome(peer)
                return

    def welcome(self, peer: Peer) -> None:
        n = peer.bnick
        self.send(peer, b":%s 001 %s :Welcome to the soak %s!%s@127.0.0.1\r\n" % (SERVER_NAME, n, n, n))
        self.send(peer, b":%s 005 %s CHANTYPES=# NICKLEN=30 CASEMAPPING=rfc1459 :are supported\r\n"
                  % (SERVER_NAME, n))
        self.send(peer, b":%s 422 %s :MOTD File is missing\r\n" % (SERVER_NAME, n))
        peer.registered = True

    def dropPeerSocket(self, peer: Peer) -> None:
        if peer.sock is None:
            return
        try:
            self.sel.unregister(peer.sock)
        except (KeyError, ValueError):
            pass
        peer.sock.close()
        peer.sock = None
        peer.registered = peer.joined = False

    def send(self, peer: Peer, data: bytes) -> None:
        if peer.sock is None:
            return
        peer.outbuf += data
        self.flush(peer)

    def flush(self, peer: Peer) -> None:
        sock = peer.sock
        if sock is None:
            return
        while peer.outbuf:
            try:
                sent = sock.send(peer.outbuf[:RECV_SIZE])
            except BlockingIOError:
                break
            except OSError:
                self.dropPeerSocket(peer)
                return
            del peer.outbuf[:sent]
        want = selectors.EVENT_READ | (selectors.EVENT_WRITE if peer.outbuf else 0)
        self.sel.modify(sock, want, ("peer", peer))

    def readPeer(self, peer: Peer) -> None:
        assert peer.sock is not None
        try:
            data = peer.sock.recv(RECV_SIZE)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.dropPeerSocket(peer)
            return
        *lines, peer.inbuf = (peer.inbuf + data).split(b"\n")
        for raw in lines:
            self.onLine(peer, raw.rstrip(b"\r"))

    def other(self, peer: Peer) -> Peer:
        return self.peers[PEERS[1] if peer.nick == PEERS[0] else PEERS[0]]

    def onLine(self, peer: Peer, line: bytes) -> None:
        words = line.split(b" ", 2)
        command = words[0].upper()
        n = peer.bnick
        prefix = b":%s!%s@127.0.0.1" % (n, n)
        room = ROOM.encode()
        if command == b"PING":
            self.send(peer, b":%s PONG %s %s\r\n" % (SERVER_NAME, SERVER_NAME, line[5:]))
        elif command == b"PONG":
            peer.pongs += 1
        elif command == b"JOIN" and len(words) > 1 and words[1] == room:
            peer.joined = True
            other = self.other(peer)
            members = [b"@" + n] + ([other.bnick] if other.joined else [])
            assert peer.junk is not None
            members += peer.junk.present[:200]
            self.send(peer, b"%s JOIN %s\r\n" % (prefix, room))
            self.send(peer, b":%s 353 %s = %s :%s\r\n" % (SERVER_NAME, n, room, b" ".join(members)))
            self.send(peer, b":%s 366 %s %s :End of /NAMES list.\r\n" % (SERVER_NAME, n, room))
            if other.joined:
                self.send(other, b"%s JOIN %s\r\n" % (prefix, room))
        elif command == b"NOTICE" and len(words) == 3 and words[2].startswith(b":\x01" + HINT.encode() + b" "):
            # A refusal hint (docs/wire.md): not an answer to a CTCP request; bounded.
            peer.hints += 1
        elif command in (b"PRIVMSG", b"NOTICE") and len(words) == 3:
            target = words[1]
            other = self.other(peer)
            if b"\x01" in words[2] and command == b"NOTICE":
                peer.ctcpReplies += 1
            if target in (room, other.bnick):
                out = b"%s %s %s %s\r\n" % (prefix, command, target, words[2])
                self.send(other, out)
                if other.junk is not None and command == b"PRIVMSG" and target == room:
                    other.junk.recordGenuine(out)
            else:
                peer.unexpected[command + b" " + target[:20]] += 1
        elif command in (b"MODE", b"WHO", b"CAP", b"USERHOST", b"QUIT", b"PART", b"NAMES", b"TOPIC"):
            pass
        else:
            peer.unexpected[command[:20]] += 1

    # ------------------------------------------------------------------- loop

    def poll(self, timeout: float) -> None:
        for key, mask in self.sel.select(timeout):
            what, obj = key.data
            if what == "accept":
                self.accept()
            elif what == "unregistered":
                self.readRegistering(obj)
            elif what == "stdout":
                self.readStdout(obj)
            elif what == "peer":
                if mask & selectors.EVENT_WRITE:
                    self.flush(obj)
                if mask & selectors.EVENT_READ and obj.sock is not None:
                    self.readPeer(obj)

    def waitUntil(self, done: Any, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline or self.anyDead():
                return bool(done())
            self.poll(0.05)
        return True

    def anyDead(self) -> bool:
        return any(p.proc is None or p.proc.poll() is not None for p in self.peers.values())

    def sample(self, now: float) -> None:
        for peer in self.peers.values():
            if peer.proc is None or peer.proc.poll() is not None:
                continue
            try:
                peer.samples.append((now, loadgen.read_rss_kb(peer.proc.pid), loadgen.read_cpu_ticks(peer.proc.pid)))
            except (OSError, IndexError, ValueError):
                pass

    def sendGenuine(self, peer: Peer, long: bool) -> None:
        self.genuineSeq += 1
        text = "G %s %d" % (peer.nick, self.genuineSeq)
        if long:  # several PRIVMSG lines: reassembled among the junk
            text += " " + "".join(self.rng.choice("abcdefghij ") for _ in range(3000))
        peer.asked.append(text)
        self.command(peer, {"cmd": "send", "target": ROOM, "text": text})

    def run(self) -> Dict[str, Any]:
        p = self.profile
        failures: List[str] = []
        try:
            self.spawn()
            for nick, peer in self.peers.items():
                peer.junk = Junk(random.Random(self.rng.random()), peer.bnick,
                                 self.peers[PEERS[1] if nick == PEERS[0] else PEERS[0]].bnick, p.nicks)
            ready = self.waitUntil(
                lambda: all(x.joined and x.keyed for x in self.peers.values()), STARTUP_S)
            if not ready:
                failures.append("the clients did not connect, key and join within %d s" % STARTUP_S)
            else:
                failures += self.soak()
        finally:
            report = self.finish(failures)
        return report

    def soak(self) -> List[str]:
        p = self.profile
        start = time.monotonic()
        end = start + p.duration
        junkInterval = 1.0 / p.junk_rate
        genuineInterval = 1.0 / p.genuine_rate
        nextJunk = {nick: start for nick in self.peers}
        nextGenuine = start
        nextSample = start
        self.baselineAt = start + p.baseline
        self.junkStart = start
        self.sample(start)
        failures: List[str] = []
        genuineTurn = 0
        lastReport = start
        while True:
            now = time.monotonic()
            if now >= end and not any(x.junk and x.junk.unsent for x in self.peers.values()):
                break
            if now >= end + 60.0:
                failures.append("not every kind of junk was sent: %s"
                                % sorted({k for x in self.peers.values() if x.junk for k in x.junk.unsent}))
                break
            if self.anyDead():
                failures.append("a client exited during the soak")
                return failures
            for nick, peer in self.peers.items():
                # Bounded rate; no catch-up burst after a stall longer than a second.
                if now - nextJunk[nick] > 1.0:
                    nextJunk[nick] = now
                while nextJunk[nick] <= now and len(peer.outbuf) < OUTBUF_CAP and peer.sock is not None:
                    assert peer.junk is not None
                    kind, line = peer.junk.line()
                    if kind == "ping":
                        peer.pingsSent += 1
                    self.send(peer, line)
                    nextJunk[nick] += junkInterval
            if now - nextGenuine > 1.0:
                nextGenuine = now  # stalled: no catch-up burst
            if now >= nextGenuine:
                genuineTurn += 1
                for peer in self.peers.values():
                    self.sendGenuine(peer, long=genuineTurn % 10 == 0)
                nextGenuine += genuineInterval
            if now >= nextSample:
                self.sample(now)
                nextSample += 1.0
            if now - lastReport >= 60.0:
                lastReport = now
                self.progress(now - start)
            wake = min(min(nextJunk.values()), nextGenuine, nextSample, end)
            self.poll(max(0.0, min(TICK_S, wake - time.monotonic())))
        self.junkEnd = time.monotonic()
        self.sample(self.junkEnd)
        return failures

    def progress(self, elapsed: float) -> None:
        parts = []
        for peer in self.peers.values():
            rss = peer.samples[-1][1] / 1024.0 if peer.samples else 0.0
            junk = sum(peer.junk.counts.values()) if peer.junk else 0
            parts.append("%s: %d junk, %d genuine in, RSS %.1f MB" % (peer.nick, junk, len(peer.seenBodies), rss))
        self.out.write("  %4.0f s  %s\n" % (elapsed, "; ".join(parts)))
        self.out.flush()

    def finish(self, failures: List[str]) -> Dict[str, Any]:
        """Drain, prove each client alive, quit them, judge."""
        drained = False
        if not failures:
            # The last words: sent after the junk stopped, they prove the client alive.
            for peer in self.peers.values():
                peer.asked.append("G %s last" % peer.nick)
                self.command(peer, {"cmd": "send", "target": ROOM, "text": peer.asked[-1]})

            def allIn() -> bool:
                return all(
                    all(body in self.other(peer).seenBodies for body in peer.asked)
                    and peer.pongs >= peer.pingsSent
                    for peer in self.peers.values())
            drained = self.waitUntil(allIn, DRAIN_S)
            if not drained:
                failures.append("not everything arrived within %d s of the end" % DRAIN_S)
            self.sample(time.monotonic())
        endSamples = {nick: (p.samples[-1] if p.samples else None) for nick, p in self.peers.items()}
        for peer in self.peers.values():
            if peer.proc is None:
                continue
            if peer.proc.poll() is None:
                try:
                    self.command(peer, {"cmd": "quit", "reason": "soak over"})
                except OSError:
                    pass
            deadline = time.monotonic() + 20.0
            while peer.proc.poll() is None and time.monotonic() < deadline:
                self.poll(0.05)
            if peer.proc.poll() is None:
                peer.proc.kill()
                failures.append("%s did not exit after quit" % peer.nick)
            peer.exitCode = peer.proc.wait()
            while self.readStdoutRest(peer):
                pass
        report = self.judge(failures, endSamples)
        self.close()
        return report

    def readStdoutRest(self, peer: Peer) -> bool:
        assert peer.proc is not None and peer.proc.stdout is not None
        try:
            data = os.read(peer.proc.stdout.fileno(), RECV_SIZE)
        except (BlockingIOError, ValueError, OSError):
            return False
        if not data:
            return False
        lines = (peer.stdoutTail + data).split(b"\n")
        peer.stdoutTail = lines.pop()
        for raw in lines:
            self.onEvent(peer, json.loads(raw))
        return True

    def rssAt(self, peer: Peer, at: float) -> Optional[float]:
        best = [s for s in peer.samples if s[0] >= at]
        return best[0][1] / 1024.0 if best else None

    def judge(self, failures: List[str], endSamples: Dict[str, Any]) -> Dict[str, Any]:
        p = self.profile
        rows = []
        for peer in self.peers.values():
            other = self.other(peer)
            junkLines = sum(peer.junk.counts.values()) if peer.junk else 0
            missing = [b for b in other.asked if b not in peer.seenBodies]
            unsent = [b for b in other.asked if b not in other.sentBodies]
            baseline = self.rssAt(peer, getattr(self, "baselineAt", 0.0))
            end = endSamples[peer.nick]
            endRss = end[1] / 1024.0 if end else None
            cpuTicks = None
            start = [s for s in peer.samples if s[0] >= getattr(self, "junkStart", 0.0)]
            if start and end:
                cpuTicks = end[2] - start[0][2]
            cpuS = cpuTicks / self.tick if cpuTicks is not None else None
            row = {
                "client": peer.nick,
                "exit_code": peer.exitCode,
                "junk_lines": junkLines,
                "junk_by_kind": dict(sorted(peer.junk.counts.items())) if peer.junk else {},
                "junk_whole_garbage": peer.junk.wholeGarbage if peer.junk else 0,
                "pings": peer.pingsSent,
                "pongs": peer.pongs,
                "ctcp_replies": peer.ctcpReplies,
                "hints": peer.hints,
                "unexpected_lines": {k.decode("utf-8", "replace"): v for k, v in peer.unexpected.items()},
                "genuine_sent_to_it": len(other.asked),
                "genuine_not_sent": len(unsent),
                "genuine_arrived": len(peer.seenBodies),
                "genuine_missing": len(missing),
                "junk_accepted_as_protected": len(peer.acceptedJunk),
                "events": dict(sorted(peer.events.items())),
                "rejected": dict(sorted(peer.rejected.items())),
                "rss_first_mb": peer.samples[0][1] / 1024.0 if peer.samples else None,
                "rss_baseline_mb": baseline,
                "rss_end_mb": endRss,
                "rss_peak_mb": max(s[1] for s in peer.samples) / 1024.0 if peer.samples else None,
                "cpu_s": cpuS,
                "cpu_us_per_junk_line": (cpuS * 1e6 / junkLines) if cpuS is not None and junkLines else None,
            }
            rows.append(row)
            name = peer.nick
            if peer.exitCode != 0:
                failures.append("%s exited with status %s" % (name, peer.exitCode))
            if missing:
                failures.append("%s: %d genuine messages never arrived" % (name, len(missing)))
            if unsent:
                failures.append("%s: %d genuine messages were never sent to it" % (name, len(unsent)))
            if peer.acceptedJunk:
                failures.append("%s accepted %d junk messages as protected, e.g. %r"
                                % (name, len(peer.acceptedJunk), peer.acceptedJunk[0]))
            if peer.pongs < peer.pingsSent:
                failures.append("%s answered %d of %d PINGs" % (name, peer.pongs, peer.pingsSent))
            if peer.ctcpReplies:
                failures.append("%s answered %d CTCP requests" % (name, peer.ctcpReplies))
            if peer.unexpected:
                failures.append("%s sent unexpected lines: %r" % (name, dict(peer.unexpected)))
            hintBound = (int(p.duration // HINT_WINDOW) + 1) * MAX_SENT_PER_WINDOW + MAX_ENTRIES
            if peer.hints > hintBound:
                failures.append("%s sent %d refusal hints, more than its bound %d" % (name, peer.hints, hintBound))
            if baseline is not None and endRss is not None and endRss - baseline > self.rssSlackMb:
                failures.append("%s: RSS %.1f MB at the end, %.1f MB above its %.1f MB at %d s"
                                % (name, endRss, endRss - baseline, baseline, p.baseline))
            if baseline is None or endRss is None:
                failures.append("%s: no RSS figures" % name)
            tracebacks = self.stderrTracebacks(peer)
            row["tracebacks"] = tracebacks
            if tracebacks:
                failures.append("%s wrote %d tracebacks to stderr" % (name, tracebacks))
        report = {"profile": attr.asdict(p), "rows": rows, "failures": failures}
        self.print(report)
        return report

    def stderrTracebacks(self, peer: Peer) -> int:
        try:
            with open(peer.stderrPath, "rb") as handle:
                return handle.read().count(b"Traceback (most recent call last)")
        except OSError:
            return 0

    def print(self, report: Dict[str, Any]) -> None:
        out = self.out
        p = self.profile
        out.write("client soak, profile %s: %.0f s of junk at %g lines/s to each client, %g genuine msg/s each way\n"
                  % (p.name, p.duration, p.junk_rate, p.genuine_rate))
        for row in report["rows"]:
            out.write("%s: exit %s; junk %d lines (%s)\n" % (
                row["client"], row["exit_code"], row["junk_lines"],
                ", ".join("%s %d" % kv for kv in row["junk_by_kind"].items())))
            out.write("  genuine %d/%d arrived, %d missing; junk accepted as protected: %d; "
                      "PINGs %d, PONGs %d; CTCP replies %d; refusal hints sent %d\n" % (
                          row["genuine_arrived"], row["genuine_sent_to_it"], row["genuine_missing"],
                          row["junk_accepted_as_protected"], row["pings"], row["pongs"], row["ctcp_replies"],
                          row["hints"]))
            out.write("  rejected: %s\n" % (", ".join("%s %d" % kv for kv in row["rejected"].items()) or "none"))
            out.write("  RSS MB: start %s, at %d s %s, peak %s, end %s; CPU %s s, %s us per junk line\n" % (
                _fmt(row["rss_first_mb"]), p.baseline, _fmt(row["rss_baseline_mb"]), _fmt(row["rss_peak_mb"]),
                _fmt(row["rss_end_mb"]), _fmt(row["cpu_s"]), _fmt(row["cpu_us_per_junk_line"])))
        if report["failures"]:
            out.write("FAILED:\n" + "".join("  %s\n" % f for f in report["failures"]))
        else:
            out.write("PASSED\n")
        out.flush()

    def close(self) -> None:
        for peer in self.peers.values():
            if peer.proc is not None and peer.proc.poll() is None:
                peer.proc.kill()
                peer.proc.wait()
            for stream in (peer.proc.stdin, peer.proc.stdout) if peer.proc else ():
                if stream is not None:
                    try:
                        stream.close()
                    except OSError as exc:
                        if exc.errno != errno.EPIPE:
                            raise
            if peer.sock is not None:
                peer.sock.close()
        self.listener.close()
        self.sel.close()
        shutil.rmtree(self.workdir, ignore_errors=True)


def _fmt(value: Optional[float]) -> str:
    return "-" if value is None else "%.1f" % value


def run(profile: Profile, seed: int = 25, python: str = sys.executable, out: TextIO = sys.stdout,
        rssSlackMb: float = RSS_SLACK_MB) -> Dict[str, Any]:
    """One soak run; the report's C{failures} is empty when it passed."""
    return ClientSoak(profile, seed, python, out, rssSlackMb).run()


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="Soak the client behind a hostile server; exit 1 on any failed check.")
    parser.add_argument("--profile", choices=sorted(PROFILES), default="long")
    parser.add_argument("--minutes", type=float, default=0.0, help="override the profile's duration")
    parser.add_argument("--rate", type=float, default=0.0, help="override the junk lines/s to each client")
    parser.add_argument("--python", default=sys.executable, help="interpreter for the clients")
    parser.add_argument("--rss-slack-mb", type=float, default=RSS_SLACK_MB)
    parser.add_argument("--seed", type=int, default=25)
    parser.add_argument("--json", default="", help="write the full report here")
    options = parser.parse_args(argv)
    profile = PROFILES[options.profile]
    if options.minutes:
        profile = attr.evolve(profile, duration=options.minutes * 60.0)
    if options.rate:
        profile = attr.evolve(profile, junk_rate=options.rate)
    report = run(profile, options.seed, options.python, sys.stdout, options.rss_slack_mb)
    given = list(argv) if argv is not None else sys.argv[1:]
    report["command"] = " ".join(["python3", "bench/clientsoak.py"] + given)
    if options.json:
        with open(options.json, "w", encoding="utf-8") as handle:
            json.dump(report, handle, indent=1, sort_keys=True)
            handle.write("\n")
    return 1 if report["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
