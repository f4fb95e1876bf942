"""
The relay's routing alone: RelayState's CPU per room message and per direct
message, this tree against another (an older commit, a variant), same run.

No sockets, no Twisted reactor: each client's write is a no-op, so what is
timed is parsing, dispatch, routing and the fan-out loop -- the part of the
relay's hot path a change to state.py or wire.py can make slower.  One room
of 200, 20 senders, each turn 20 messages then deliverPending; and 200
direct messages.  The two trees run alternately, each in its own process,
and the best of seven repetitions in each process counts, so the machine's
other load mostly cancels out.

    git worktree add /tmp/base BASE_COMMIT   # or: git archive BASE | tar -x -C /tmp/base
    python3 bench/state.py --base /tmp/base             # about 20 s
    python3 bench/state.py --base /tmp/base --rounds 8
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Dict, List, Optional

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOM_SIZE = 200
SENDERS = 20
REPEATS = 7


def measure(turns: int = 200, direct: int = 20_000) -> dict:
    """In this process (with securechat importable): microseconds per message."""
    from securechat.relay.state import Client, RelayConfig, RelayState
    from securechat.wire import parseLine

    def build():
        state = RelayState(RelayConfig())
        clients = []
        for i in range(ROOM_SIZE):
            client = Client(lambda data: None, lambda: None, "10.0.%d.%d" % (i // 250, i % 250))
            for line in (b"NICK n%03d" % (i,), b"USER u 0 * :real", b"JOIN #bench"):
                state.handle(client, parseLine(line))
            clients.append(client)
        state.deliverPending()
        return state, clients

    state, clients = build()
    lines = [b"PRIVMSG #bench :B %d 12345 1234567890 " % (i,) + b"x" * 40 for i in range(SENDERS)]
    pairs = list(zip(clients[:SENDERS], lines))
    handle, deliver = state.handle, state.deliverPending
    # What the adapter does with a line: the bytes fast path where the tree
    # has one (RelayState.messageLine), else parse and handle.
    fast = getattr(state, "messageLine", None) or (lambda client, line: False)
    room: Optional[float] = None
    for _ in range(REPEATS):
        start = time.process_time()
        for _ in range(turns):
            for client, line in pairs:
                if not fast(client, line):
                    handle(client, parseLine(line))
            deliver()
        spent = time.process_time() - start
        room = spent if room is None else min(room, spent)
    state, clients = build()
    messages = [
        (clients[i], parseLine(b"PRIVMSG n%03d :hello there %d" % ((i + 100) % ROOM_SIZE, i)))
        for i in range(ROOM_SIZE)
    ]
    handle = state.handle
    best: Optional[float] = None
    for _ in range(REPEATS):
        start = time.process_time()
        for _ in range(direct // ROOM_SIZE):
            for client, message in messages:
                handle(client, message)
        spent = time.process_time() - start
        best = spent if best is None else min(best, spent)
    raw = [(client, b"PRIVMSG n%03d :hello there %d" % ((i + 100) % ROOM_SIZE, i))
           for i, client in enumerate(clients)]
    fast = getattr(state, "messageLine", None) or (lambda client, line: False)
    parsed: Optional[float] = None
    for _ in range(REPEATS):
        start = time.process_time()
        for _ in range(direct // ROOM_SIZE):
            for client, line in raw:
                if not fast(client, line):
                    handle(client, parseLine(line))
        spent = time.process_time() - start
        parsed = spent if parsed is None else min(parsed, spent)
    assert room is not None and best is not None and parsed is not None
    return {
        "room_us": room / (turns * SENDERS) * 1e6,
        "direct_us": best / direct * 1e6,
        "direct_line_us": parsed / direct * 1e6,
    }


def run(tree: str) -> dict:
    code = "import json, sys; sys.path.insert(0, %r); sys.path.insert(1, %r); " % (tree, HERE)
    code += "from bench.state import measure; print(json.dumps(measure()))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="a tree holding the securechat/ to compare with")
    parser.add_argument("--rounds", type=int, default=4, help="alternations (default 4)")
    options = parser.parse_args()
    results: Dict[str, List[dict]] = {"base": [], "this": []}
    for _ in range(options.rounds):
        results["base"].append(run(os.path.abspath(options.base)))
        results["this"].append(run(HERE))
    print("%-28s %10s %10s %7s" % ("best of rounds, us/message", "base", "this", "ratio"))
    for key, name in (("room_us", "room of 200 (parse+route)"), ("direct_us", "direct (route only)"),
                      ("direct_line_us", "direct (parse+route)")):
        base = min(r[key] for r in results["base"])
        this = min(r[key] for r in results["this"])
        print("%-28s %10.2f %10.2f %6.3fx" % (name, base, this, this / base))


if __name__ == "__main__":
    main()
