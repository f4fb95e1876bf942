"""
Helpers for the client tests: an in-process relay on a loopback port, a
raw IRC client (a socket speaking IRC by hand, as irssi would), and
headless clients with cheap Argon2id parameters.  No tests here.
"""

from __future__ import annotations

from typing import Any, Callable, List, Optional

import attr
from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks, returnValue
from twisted.internet.endpoints import TCP4ClientEndpoint, serverFromString
from twisted.internet.protocol import Factory, Protocol
from twisted.trial.unittest import TestCase

from securechat.client.adapters.headless import HeadlessClient, connect
from securechat.client.core import commands as cmd
from securechat.client.core import events as ev
from securechat.codec import TEST_KDF
from securechat.relay.factory import RelayFactory
from securechat.wire import LineSplitter, Message, formatMessage, parseLine

#: The client's old command methods and the command each face now builds instead.
_COMMANDS = {
    "send": cmd.Say, "join": cmd.Join, "part": cmd.Part, "action": cmd.Me, "topic": cmd.Topic,
    "whois": cmd.Whois, "away": cmd.Away, "names": cmd.Names, "who": cmd.Who, "setLayer": cmd.Layer,
}


def patchCommands(case: Any, client: HeadlessClient, **handlers: Callable[..., Any]) -> None:
    """
    Stand in for some of the commands a face hands C{client} (its C{run}):
    each command of a kind named (as the client's method, C{send=...}) goes
    to its handler with the command's fields in order; others run as usual.
    """
    real = client.run
    table = {_COMMANDS[name]: handler for name, handler in handlers.items()}

    def run(command: Any) -> Any:
        handler = table.get(type(command))
        if handler is None:
            return real(command)
        return handler(*attr.astuple(command, recurse=False))

    case.patch(client, "run", run)

#: Every wait in these tests is bounded by this many seconds.
WAIT = 10.0
#: Reconnect quickly in tests.
FAST_RETRY = lambda attempt: 0.05  # noqa: E731


class RawIRC(Protocol):
    """A bare IRC client: what irssi or a script would send and see."""

    def __init__(self) -> None:
        self.splitter = LineSplitter(16 * 1024)
        self.lines: List[Message] = []
        self._waiters: List[tuple] = []
        self.closed: Deferred = Deferred()

    def dataReceived(self, data: bytes) -> None:
        for line in self.splitter.feed(data):
            if not isinstance(line, bytes) or not line:
                continue
            message = parseLine(line)
            if message.command == "PING":
                self.send("PONG", *message.params)
            for waiter in list(self._waiters):
                match, d = waiter
                if match(message):
                    self._waiters.remove(waiter)
                    d.callback(message)
                    break
            else:
                self.lines.append(message)

    def connectionLost(self, reason: object = None) -> None:
        self.closed.callback(None)

    def send(self, command: str, *params: str) -> None:
        self.transport.write(formatMessage(command, params))

    def sendRaw(self, data: bytes) -> None:
        self.transport.write(data)

    def waitFor(self, match: Callable[[Message], bool], timeout: float = WAIT) -> Deferred:
        for message in self.lines:
            if match(message):
                self.lines.remove(message)
                from twisted.internet.defer import succeed

                return succeed(message)
        d: Deferred = Deferred()
        self._waiters.append((match, d))
        d.addTimeout(timeout, reactor)
        return d

    @inlineCallbacks
    def register(self, nick: str):
        self.send("NICK", nick)
        self.send("USER", nick, "0", "*", "raw client")
        yield self.waitFor(lambda m: m.command == "001")
        self.lines = []

    @inlineCallbacks
    def join(self, room: str):
        self.send("JOIN", room)
        yield self.waitFor(lambda m: m.command == "366")


class LoopbackCase(TestCase):
    """A relay on 127.0.0.1:<random port> for each test, torn down after it."""

    timeout = 30

    @inlineCallbacks
    def setUp(self):
        self.relay = RelayFactory()
        yield self.startRelay(0)

    @inlineCallbacks
    def startRelay(self, port: int):
        self.port = yield serverFromString(
            reactor, "tcp:%d:interface=127.0.0.1" % (port,)
        ).listen(self.relay)
        self.portNumber = self.port.getHost().port
        self.addCleanup(self.stopRelay)

    @inlineCallbacks
    def stopRelay(self):
        """Stop listening and cut every connection (a relay crash)."""
        if self.port is not None:
            yield self.port.stopListening()
            self.port = None
        for protocol in list(self.relay.connections):
            protocol.transport.abortConnection()

    @property
    def endpoint(self) -> str:
        return "tcp:127.0.0.1:%d" % (self.portNumber,)

    @inlineCallbacks
    def client(self, nick: str, endpoint: Optional[str] = None, **options) -> HeadlessClient:
        options.setdefault("kdfParams", TEST_KDF)
        options.setdefault("retryPolicy", FAST_RETRY)
        client = yield connect(reactor, endpoint or self.endpoint, nick, timeout=WAIT, **options)
        self.addCleanup(client.quit)
        returnValue(client)

    @inlineCallbacks
    def joined(self, room: str, *clients: HeadlessClient):
        """Join C{clients} to C{room} one after the other; wait until each is in."""
        for client in clients:
            waiting = client.waitFor(
                lambda e: isinstance(e, ev.Names) and e.room.lower() == room.lower(), WAIT
            )
            client.join(room)
            yield waiting

    @inlineCallbacks
    def raw(self, nick: str) -> RawIRC:
        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", self.portNumber)
        factory = Factory.forProtocol(RawIRC)
        protocol = yield endpoint.connect(factory)
        self.addCleanup(self._closeRaw, protocol)
        yield protocol.register(nick)
        returnValue(protocol)

    def _closeRaw(self, protocol: RawIRC):
        if protocol.transport.connected:
            protocol.transport.loseConnection()
            return protocol.closed
        return None


class Tmux:
    """A private tmux server (its own socket) holding one program in a window of known size."""

    def __init__(self, testCase: TestCase, name: str) -> None:
        import os

        self.socket = "securechat-%s-%d" % (name, os.getpid())
        testCase.addCleanup(self.kill)

    def run(self, *args: str) -> str:
        import subprocess

        return subprocess.run(
            ["tmux", "-L", self.socket] + list(args),
            check=True, capture_output=True, text=True, timeout=10,
        ).stdout

    def start(self, command: str, width: int = 100, height: int = 20) -> None:
        self.run("new-session", "-d", "-s", "main", "-x", str(width), "-y", str(height), command)

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", "main", *keys)

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "main")

    @inlineCallbacks
    def waitFor(self, text: str, timeout: float = WAIT):
        """The screen once C{text} is on it; fails after C{timeout} seconds."""
        import time

        from twisted.internet.task import deferLater

        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if text in screen:
                return screen
            if time.monotonic() > deadline:
                raise AssertionError("%r never appeared on the screen:\n%s" % (text, screen))
            yield deferLater(reactor, 0.1, lambda: None)

    def kill(self) -> None:
        import subprocess

        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=10)
