"""
What one reactor turn of the relay costs while fuzz peers flood it: CPU
milliseconds per slice (one peer's lines handled in one go) and per turn
(every slice and read of one turn), the soak's ``fuzz`` lines fed to real
``RelayProtocol`` connections in-process.

No sockets: each peer is a ``StringTransport``, the reactor a ``Clock`` that
this script turns by hand as Twisted's does -- first the calls due when the
turn starts (the slices of the peers that yielded, the flush), then one read
of up to 64 KiB (Twisted's read size) for each peer that is reading.  The
log goes, buffered per turn as under twistd, to /dev/null.  Times are the
process's CPU time, so other load on the machine does not count; what a
loaded machine adds is the wall time it does not lend the relay.

    python3 bench/turncost.py                  # 4 peers x 5,000 lines, about 5 s
    python3 bench/turncost.py --peers 8 --lines 2000
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from typing import Any, Callable, List, Tuple

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from twisted.internet.address import IPv4Address  # noqa: E402 (after the path is set)
from twisted.internet.task import Clock  # noqa: E402
from twisted.internet.testing import StringTransport  # noqa: E402
from twisted.logger import globalLogPublisher  # noqa: E402

from bench.soak import fuzz_line  # noqa: E402
from securechat.relay import protocol as relayProtocol  # noqa: E402
from securechat.relay.factory import ConnectionSettings, RelayFactory  # noqa: E402
from securechat.relay.state import RelayConfig  # noqa: E402
from securechat.relay.textlog import TurnTextLogObserver  # noqa: E402

#: What Twisted's TCP transport reads at most at once.
READ_SIZE = 65536


def percentiles(values: List[float]) -> str:
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    return "p50 %.2f, p90 %.2f, p99 %.2f, max %.2f ms" % (at(0.5), at(0.9), at(0.99), ordered[-1] * 1000)


def measure(peers: int, lines: int, seed: int) -> Tuple[List[float], List[float], List[int]]:
    """CPU seconds per slice and per turn, and lines per slice."""
    clock = Clock()
    clock.advance(1000)
    clock.running = True  # type: ignore[attr-defined]  # so the log observer buffers per turn
    sink = open(os.devnull, "w")
    observer = TurnTextLogObserver(sink, clock)
    globalLogPublisher.addObserver(observer)
    settings = ConnectionSettings(floodBurst=10**9, floodRate=1e9)  # the soak's opened bucket
    factory = RelayFactory(RelayConfig(), settings, clock)
    connections = []
    for i in range(peers):
        address = IPv4Address("TCP", "127.0.0.1", 40000 + i)
        protocol = factory.buildProtocol(address)
        assert isinstance(protocol, relayProtocol.RelayProtocol)
        transport = StringTransport(peerAddress=address)
        protocol.makeConnection(transport)
        protocol.dataReceived(b"NICK fz%d\r\nUSER u 0 * :x\r\nJOIN #f0\r\n" % (i,))
        connections.append((protocol, transport))
    clock.advance(0)
    rng = random.Random(seed)
    streams = [b"".join(fuzz_line(rng) for _ in range(lines)) for _ in range(peers)]
    slices: List[float] = []
    sliceLines: List[int] = []
    patched: Any = relayProtocol.RelayProtocol  # its methods are wrapped for the run
    drain: Callable[[Any], None] = patched._drain
    lineReceived = patched._lineReceived
    handled = [0]

    def timedDrain(self: Any) -> None:
        before = handled[0]
        start = time.process_time()
        drain(self)
        slices.append(time.process_time() - start)
        sliceLines.append(handled[0] - before)

    def countedLine(self: Any, *args: Any) -> None:
        handled[0] += 1
        lineReceived(self, *args)

    messageLine = factory.state.messageLine

    def countedMessage(client: Any, line: bytes) -> bool:
        routed = messageLine(client, line)
        handled[0] += routed  # else it goes on to _lineReceived, counted there
        return routed

    factory.state.messageLine = countedMessage  # type: ignore[method-assign]

    patched._drain = timedDrain
    patched._lineReceived = countedLine
    turns: List[float] = []
    sent = [0] * peers
    try:
        while any(sent[i] < len(streams[i]) for i in range(peers)) or any(
            p._resumeCall is not None for p, _ in connections
        ):
            start = time.process_time()
            now = clock.seconds()
            for call in [c for c in clock.calls if c.getTime() <= now]:
                if call.active():  # the turn's timed calls: slices, flushes
                    clock.calls.remove(call)
                    call.called = 1
                    call.func(*call.args, **call.kw)
            for i, (protocol, _) in enumerate(connections):
                if protocol.phase is relayProtocol.OPEN and sent[i] < len(streams[i]):
                    protocol.dataReceived(streams[i][sent[i] : sent[i] + READ_SIZE])
                    sent[i] += READ_SIZE
            turns.append(time.process_time() - start)
            for _, transport in connections:
                transport.clear()
    finally:
        patched._drain = drain
        patched._lineReceived = lineReceived
        globalLogPublisher.removeObserver(observer)
        sink.close()
    return slices, turns, sliceLines


def main(argv: Any = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--peers", type=int, default=4, help="fuzz peers (the quick soak's 4)")
    parser.add_argument("--lines", type=int, default=5000, help="fuzz lines per peer")
    parser.add_argument("--seed", type=int, default=1)
    options = parser.parse_args(argv)
    slices, turns, sliceLines = measure(options.peers, options.lines, options.seed)
    print("%d peers x %d fuzz lines, CPU time (%s)" % (options.peers, options.lines, sys.implementation.name))
    print("slices: %d, lines each at most %d; %s" % (len(slices), max(sliceLines), percentiles(slices)))
    print("turns:  %d; %s" % (len(turns), percentiles(turns)))
    print("CPU per line, in slices: %.1f us" % (sum(slices) / sum(sliceLines) * 1e6,))
    return 0


if __name__ == "__main__":
    sys.exit(main())
