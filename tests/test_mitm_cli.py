"""
Tests for L{securechat.mitm.cli}: the C{securechat-mitm} command line.
"""

from __future__ import annotations

import io
import os
import sys

from twisted.internet import defer, endpoints, protocol, reactor, task
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.protocol import Factory, Protocol
from twisted.trial.unittest import SynchronousTestCase, TestCase

from securechat.mitm import attacks, cli
from securechat.relay.factory import RelayFactory
from securechat.wire import LineSplitter, parseLine

#: The checkout holding the securechat package (securechat/mitm/cli.py -> three levels up).
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(cli.__file__))))
PROCESS_TIMEOUT = 20.0
RETRY_DELAY = 0.05


class CliTests(SynchronousTestCase):
    def plan(self, *argv: str):
        return cli.planFromArgs(cli.parser().parse_args(list(argv)))

    def test_defaultsReadEverything(self) -> None:
        args = cli.parser().parse_args([])
        self.assertEqual((args.listen, args.upstream), (cli.DEFAULT_LISTEN, cli.DEFAULT_UPSTREAM))
        plan = self.plan()
        self.assertIsInstance(plan.makeAttack(), attacks.Read)
        self.assertEqual(plan.selector, attacks.Selector())

    def test_attackParametersAndSelector(self) -> None:
        plan = self.plan(
            "--attack", "replay", "--delay", "12.5", "--times", "2",
            "--sender", "alice", "--target", "#lab", "--receiver", "bob",
        )
        attack = plan.makeAttack()
        self.assertIsInstance(attack, attacks.Replay)
        self.assertEqual((attack.delay, attack.remaining), (12.5, 2))
        self.assertEqual(plan.selector, attacks.Selector(sender="alice", target="#lab", receiver="bob"))

    def test_eachConnectionGetsAFreshAttack(self) -> None:
        plan = self.plan("--attack", "reorder")
        self.assertIsNot(plan.makeAttack(), plan.makeAttack())

    def test_namedParameters(self) -> None:
        self.assertEqual(self.plan("--attack", "reattribute", "--as", "carol").makeAttack().as_nick, "carol")
        self.assertEqual(self.plan("--attack", "move-room", "--to-room", "#ops").makeAttack().to_room, "#ops")
        self.assertEqual(self.plan("--attack", "drop-chunk", "--index", "2").makeAttack().index, 2)
        self.assertEqual(self.plan("--attack", "drop", "--index", "3").makeAttack().after, 3)
        self.assertEqual(self.plan("--attack", "truncate", "--count", "9").makeAttack().count, 9)

    def test_unknownAttackIsAUsageError(self) -> None:
        stderr = io.StringIO()
        self.patch(cli.sys, "stderr", stderr)
        self.assertRaises(SystemExit, cli.parser().parse_args, ["--attack", "nonsense"])
        self.assertIn("invalid choice", stderr.getvalue())

    def test_badEndpointsAndNamesAreUsageErrors(self) -> None:
        """
        Refused before the reactor runs (a bad --listen left the proxy
        running without listening; a bad --to-room broke every line it
        touched and dropped the receiver's connection).
        """
        for argv, said in (
            (["--listen", "garbage"], "'garbage' is not a usable endpoint"),
            (["--listen", "tcp:notaport"], "'tcp:notaport' is not a usable endpoint"),
            (["--upstream", "tcp:host"], "'tcp:host' is not a usable endpoint"),
            (["--attack", "move-room", "--to-room", "#a b"], "cannot move to '#a b'"),
            (["--attack", "reattribute", "--as", ":x"], "cannot blame ':x'"),
        ):
            stderr = io.StringIO()
            self.patch(cli.sys, "stderr", stderr)
            with self.assertRaises(SystemExit) as exited:
                cli.main(argv, out=io.StringIO())
            self.assertEqual(exited.exception.code, 2, argv)
            self.assertIn(said, stderr.getvalue())

    def test_listAttacks(self) -> None:
        out = io.StringIO()
        self.assertEqual(cli.main(["--list-attacks"], out=out), cli.EXIT_OK)
        listed = out.getvalue().splitlines()
        self.assertEqual([line.split()[0] for line in listed], sorted(attacks.ATTACKS))


class ProcessTests(TestCase):
    """C{securechat-mitm} as a real process, between our relay and a raw client."""

    timeout = PROCESS_TIMEOUT

    def spawn(self, *argv: str) -> _Child:
        child = _Child()
        reactor.spawnProcess(
            child,
            sys.executable,
            [sys.executable, "-m", "securechat.mitm.cli"] + list(argv),
            env=dict(os.environ),
            path=ROOT,
        )
        return child

    @defer.inlineCallbacks
    def test_cannotListen(self):
        busy = yield endpoints.serverFromString(reactor, "tcp:0:interface=127.0.0.1").listen(
            Factory.forProtocol(Protocol)
        )
        self.addCleanup(busy.stopListening)
        child = self.spawn("--listen", "tcp:%d:interface=127.0.0.1" % (busy.getHost().port,))
        code = yield child.ended
        self.assertEqual(code, cli.EXIT_FAILED)
        self.assertIn(b"cannot listen on", child.err)

    @defer.inlineCallbacks
    def test_forwardsAndAttacks(self):
        relayPort = yield endpoints.serverFromString(reactor, "tcp:0:interface=127.0.0.1").listen(RelayFactory())
        self.addCleanup(relayPort.stopListening)
        probe = yield endpoints.serverFromString(reactor, "tcp:0:interface=127.0.0.1").listen(
            Factory.forProtocol(Protocol)
        )
        port = probe.getHost().port
        yield probe.stopListening()
        child = self.spawn(
            "--listen", "tcp:%d:interface=127.0.0.1" % (port,),
            "--upstream", "tcp:127.0.0.1:%d" % (relayPort.getHost().port,),
            "--attack", "bit-flip",
        )
        self.addCleanup(lambda: child.stop())
        client = yield self.connectWhenUp(port)
        client.transport.write(b"NICK alice\r\nUSER a 0 * :A\r\nJOIN #lab\r\nPRIVMSG alice :pay 100\r\n")
        found = yield client.waitFor(lambda m: m.command == "PRIVMSG")
        self.assertEqual(found[0].params[1], "pay 101")
        client.transport.loseConnection()
        yield client.lost
        yield child.stop()
        # Before the relay's welcome, the proxy does not know the client's nick yet.
        self.assertIn(b"client->relay *: PRIVMSG alice :pay 100", child.out)
        self.assertIn(b"relay->client alice: :alice!~a@127.0.0.1 PRIVMSG alice :pay 100 [attack bit-flip]", child.out)
        self.assertIn(b"bit flipped", child.out)

    @defer.inlineCallbacks
    def connectWhenUp(self, port: int):
        """The child needs a moment to listen: retry briefly."""
        point = endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", port)
        for _ in range(int(PROCESS_TIMEOUT / RETRY_DELAY)):
            try:
                client = yield endpoints.connectProtocol(point, _LineClient())
            except ConnectionRefusedError:
                yield task.deferLater(reactor, RETRY_DELAY, lambda: None)
            else:
                return client
        raise AssertionError("securechat-mitm never listened")


class _Child(protocol.ProcessProtocol):
    def __init__(self) -> None:
        self.out = b""
        self.err = b""
        self.ended: defer.Deferred = defer.Deferred()
        self.done = False

    def outReceived(self, data: bytes) -> None:
        self.out += data

    def errReceived(self, data: bytes) -> None:
        self.err += data

    def processEnded(self, reason) -> None:
        self.done = True
        self.ended.callback(reason.value.exitCode)

    def stop(self) -> defer.Deferred:
        if self.done:
            return defer.succeed(None)
        self.transport.signalProcess("TERM")
        return self.ended


class _LineClient(Protocol):
    def __init__(self) -> None:
        self.splitter = LineSplitter()
        self.lines = []
        self.waiting = []
        self.lost: defer.Deferred = defer.Deferred()

    def dataReceived(self, data: bytes) -> None:
        self.lines.extend(parseLine(line) for line in self.splitter.feed(data))
        for predicate, d in list(self.waiting):
            found = [m for m in self.lines if predicate(m)]
            if found:
                self.waiting.remove((predicate, d))
                d.callback(found)

    def waitFor(self, predicate) -> defer.Deferred:
        d: defer.Deferred = defer.Deferred()
        self.waiting.append((predicate, d))
        self.dataReceived(b"")
        return d

    def connectionLost(self, reason=None) -> None:
        self.lost.callback(None)
