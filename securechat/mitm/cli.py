"""
C{securechat-mitm}: run the malicious relay by hand.

    securechat-mitm --listen tcp:6668 --upstream tcp:127.0.0.1:6667 \\
        --attack bit-flip --sender alice --receiver bob --times 1

Point clients at the C{--listen} port instead of the relay's, and watch
what the relay sees (every line is logged) and what the receivers say.
"""

from __future__ import annotations

import argparse
import sys
from functools import partial
from typing import List, Optional, Sequence, TextIO

from twisted.internet import endpoints
from twisted.logger import globalLogBeginner, textFileLogObserver
from twisted.python.failure import Failure

from ..endpointstrings import checkClientEndpoint, checkServerEndpoint
from ..tlsclient import INSECURE_OPTION, TRUST_OPTION, TlsSettings, checkTlsSettings, clientEndpoint
from .attacks import ATTACKS, Selector, makeAttack
from .proxy import MitmFactory, Plan

DEFAULT_LISTEN = "tcp:6668:interface=127.0.0.1"
DEFAULT_UPSTREAM = "tcp:127.0.0.1:6667"
EXIT_OK = 0
EXIT_FAILED = 1


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="securechat-mitm",
        description="A malicious relay: forwards to a real one, logs every line, attacks chosen traffic.",
    )
    p.add_argument("--listen", default=DEFAULT_LISTEN, help="endpoint clients connect to (default %(default)s)")
    p.add_argument(
        "--upstream", default=DEFAULT_UPSTREAM,
        help="the real relay's endpoint (default %(default)s); ssl:HOST:PORT checks its certificate and name",
    )
    p.add_argument(
        TRUST_OPTION, dest="tls_trust", metavar="FILE",
        help="PEM file of CA certificates (or the relay's self-signed certificate) to trust for an ssl: upstream",
    )
    p.add_argument(
        INSECURE_OPTION, dest="insecure_skip_tls_verify", action="store_true",
        help="do not check the ssl: upstream's certificate or name (warns on every connection)",
    )
    p.add_argument("--attack", default="read", choices=sorted(ATTACKS), help="what to do (default %(default)s)")
    p.add_argument("--list-attacks", action="store_true", help="describe every attack and exit")
    p.add_argument("--sender", help="attack only messages from this nick")
    p.add_argument("--target", help="attack only messages to this room or nick")
    p.add_argument("--receiver", help="attack only the copy delivered to this nick")
    p.add_argument("--times", type=int, help="attack at most this many lines per connection (default: all)")
    p.add_argument("--delay", type=float, help="seconds, for replay, delay and clock-shift")
    p.add_argument("--count", type=int, help="bytes to cut, for truncate (default 3)")
    p.add_argument("--index", type=int, help="chunk to drop, for drop-chunk (default 1); "
                   "messages to let through first, for drop (default 0)")
    p.add_argument("--as", dest="as_nick", help="nick to blame, for reattribute (default: another member); "
                   "the nick to give --sender, for rename")
    p.add_argument("--to-room", help="room to move to, for move-room (default: one both ends share)")
    p.add_argument("--via", choices=("nick", "welcome"),
                   help="for rename: a forged NICK (default), or a 001 after a forced reconnect")
    return p


def planFromArgs(args: argparse.Namespace) -> Plan:
    """The attack plan the command line asks for."""
    parameters = {
        "delay": args.delay,
        "count": args.count,
        "index": args.index,
        "after": args.index,
        "as_nick": args.as_nick,
        "to_room": args.to_room,
        "victim": args.sender,
        "via": args.via,
    }
    selector = Selector(sender=args.sender, target=args.target, receiver=args.receiver)
    return Plan(partial(makeAttack, args.attack, args.times, **parameters), selector)


def describeAttacks() -> str:
    width = max(len(name) for name in ATTACKS)
    return "".join("%-*s  %s\n" % (width, name, cls.summary) for name, cls in sorted(ATTACKS.items()))


def main(argv: Optional[Sequence[str]] = None, out: TextIO = sys.stdout) -> int:
    """Run the proxy until interrupted; usage errors exit 2 before anything starts."""
    options = parser()
    args = options.parse_args(argv)
    if args.list_attacks:
        out.write(describeAttacks())
        return EXIT_OK
    from twisted.internet import reactor

    # Everything the command line can get wrong is found here, before the
    # reactor starts: a bad --listen ends the process instead of leaving it idle.
    plan = planFromArgs(args)
    try:
        checkClientEndpoint(args.upstream)
        tls = TlsSettings(args.tls_trust, args.insecure_skip_tls_verify)
        checkTlsSettings(args.upstream, tls)
        checkServerEndpoint(args.listen)
        plan.makeAttack()
    except ValueError as error:
        options.error(str(error))
    upstream = clientEndpoint(reactor, args.upstream, tls)
    listen = endpoints.serverFromString(reactor, args.listen)

    globalLogBeginner.beginLoggingTo([textFileLogObserver(out)], redirectStandardIO=False)
    factory = MitmFactory(upstream, plan, reactor)
    failures: List[str] = []

    def failed(reason: Failure) -> None:
        failures.append(reason.getErrorMessage())
        reactor.stop()

    def start() -> None:
        listen.listen(factory).addErrback(failed)

    reactor.callWhenRunning(start)
    reactor.run()
    if failures:
        sys.stderr.write("securechat-mitm: cannot listen on %s: %s\n" % (args.listen, failures[0]))
        return EXIT_FAILED
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
