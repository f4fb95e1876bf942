"""
The relay's direct-message path in-process: bytes into L{RelayProtocol}
(splitter, bucket, fast path, routing, the peer's queue, the turn's flush)
on Twisted's C{StringTransport} and C{Clock}, no sockets and no reactor.

100 sender->receiver pairs, 16 messages a read (what the bench's direct
scenario brings per read); CPU microseconds per message, best of five.
Point it at a tree (a pure one, a compiled one: python -m
securechat.relay.build) to compare them; under valgrind, the difference
of two --rounds counts instructions per message repeatably on a busy
machine (docs/performance.md, "Relay after issue 24, third pass").

    python3 bench/directpath.py [--tree DIR] [--rounds 30]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

PAIRS = 100
PER_READ = 16
REPEATS = 5


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        help="the tree holding the securechat/ to measure (default: this checkout)")
    parser.add_argument("--rounds", type=int, default=30, help="reads of every sender per repetition")
    options = parser.parse_args()
    sys.path.insert(0, os.path.abspath(options.tree))
    from twisted.internet.address import IPv4Address
    from twisted.internet.task import Clock
    from twisted.internet.testing import StringTransport

    import securechat.relay.state
    from securechat.relay.factory import ConnectionSettings, RelayFactory
    from securechat.relay.state import RelayConfig

    clock = Clock()
    clock.advance(1000)
    settings = ConnectionSettings(floodRate=1e9, floodBurst=10**9, maxPerIP=10_000)
    factory = RelayFactory(RelayConfig(), settings, clock)
    connections = []
    for i in range(2 * PAIRS):
        address = IPv4Address("TCP", "127.0.0.1", 40000 + i)
        protocol = factory.buildProtocol(address)
        transport = StringTransport(peerAddress=address)
        protocol.makeConnection(transport)
        protocol.dataReceived(b"NICK n%03d\r\nUSER u 0 * :x\r\n" % (i,))
        clock.advance(0)
        transport.clear()
        connections.append((protocol, transport))
    reads = [
        (connections[i][0], b"".join(
            b"PRIVMSG n%03d :hello there %d 1234567890 abcdefghijklmnop\r\n" % (i + PAIRS, j)
            for j in range(PER_READ)))
        for i in range(PAIRS)
    ]
    best = None
    for _ in range(REPEATS):
        start = time.process_time()
        for _ in range(options.rounds):
            for protocol, data in reads:
                protocol.dataReceived(data)
            clock.advance(0)
            for _, transport in connections[PAIRS:]:
                transport.clear()
        spent = time.process_time() - start
        best = spent if best is None else min(best, spent)
    assert best is not None
    messages = options.rounds * PAIRS * PER_READ
    where = securechat.relay.state.__file__
    sys.stdout.write("%.3f us/message (%s)\n" % (best / messages * 1e6 if messages else 0.0,
                                                 "compiled" if not where.endswith(".py") else "pure"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
