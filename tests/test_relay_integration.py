"""
The relay on real loopback sockets (TCP and TLS), and its twistd plugin and
options.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
import socket
import tempfile
from typing import List

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from twisted.application.service import IServiceMaker
from twisted.internet import defer, endpoints, reactor
from twisted.internet.protocol import Protocol
from twisted.plugin import getPlugins
from twisted.python import usage
from twisted.python.filepath import FilePath
from twisted.trial.unittest import SynchronousTestCase, TestCase

from securechat.relay.factory import ConnectionSettings, RelayFactory
from securechat.relay.options import PASSWORD_ENV, RelayOptions, makeFactory, readPassword
from securechat.relay.state import Client, RelayConfig
from securechat.wire import LineSplitter, Message, parseLine

#: Give up on a loopback exchange after this long: a hang is a failure.
TIMEOUT = 10


class LineClient(Protocol):
    """A raw IRC client for tests: sends bytes, queues parsed lines."""

    def __init__(self) -> None:
        self.splitter = LineSplitter(4096)
        self.queue: defer.DeferredQueue = defer.DeferredQueue()
        self.closed = defer.Deferred()

    def dataReceived(self, data: bytes) -> None:
        for line in self.splitter.feed(data):
            self.queue.put(parseLine(line))

    def connectionLost(self, reason) -> None:
        self.closed.callback(None)

    def send(self, *lines: str) -> None:
        self.transport.write("".join(line + "\r\n" for line in lines).encode("utf-8"))

    @defer.inlineCallbacks
    def until(self, command: str):
        """Lines up to and including the first with C{command}."""
        seen: List[Message] = []
        while True:
            message = yield self.queue.get()
            seen.append(message)
            if message.command == command:
                return seen


class LoopbackMixin:
    def listen(self, factory: RelayFactory, description: str = "tcp:0:interface=127.0.0.1"):
        d = endpoints.serverFromString(reactor, description).listen(factory)

        def listening(port):
            self.addCleanup(port.stopListening)
            # Runs after the clients' own cleanups (added later): their end
            # closing is not the relay's end seeing it, and on a busy
            # machine loopback delivers the FIN late.
            self.addCleanup(self._relaySideClosed, factory)
            return getattr(port.getHost(), "port", None)  # a UNIX socket has none

        return d.addCallback(listening)

    @defer.inlineCallbacks
    def _relaySideClosed(self, factory: RelayFactory):
        """Wait (at most TIMEOUT s) until the relay has seen every connection close."""
        from twisted.internet.task import deferLater

        for _ in range(TIMEOUT * 100):
            if not factory.connections:
                return
            yield deferLater(reactor, 0.01, lambda: None)

    @defer.inlineCallbacks
    def connect(self, description: str, nick: str):
        client = yield endpoints.connectProtocol(
            endpoints.clientFromString(reactor, description), LineClient()
        )
        self.addCleanup(self._close, client)
        client.send("NICK " + nick, "USER %s 0 * :%s" % (nick, nick))
        yield client.until("422")
        return client

    @defer.inlineCallbacks
    def roomWithSlowReader(self, factory: RelayFactory):
        """
        alice, bob and slow in #lab on a relay made by C{factory}; slow
        never reads again, with a small receive buffer so the kernel does
        not absorb megabytes on the relay's behalf.
        """
        port = yield self.listen(factory)
        where = "tcp:127.0.0.1:%d" % (port,)
        alice = yield self.connect(where, "alice")
        bob = yield self.connect(where, "bob")
        slow = yield self.connect(where, "slow")
        for c in (alice, bob, slow):
            c.send("JOIN #lab")
            yield c.until("366")
        slow.transport.getHandle().setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.transport.pauseProducing()
        return alice, bob, slow

    def _close(self, client: LineClient):
        if client.transport.connected:
            client.transport.loseConnection()
            return client.closed


class LoopbackTests(LoopbackMixin, TestCase):
    timeout = TIMEOUT * 3

    @defer.inlineCallbacks
    def test_twoClientsTalk(self):
        """Over real TCP: join, room message, direct message, quit seen by the peer."""
        port = yield self.listen(RelayFactory())
        where = "tcp:127.0.0.1:%d" % (port,)
        alice = yield self.connect(where, "alice")
        bob = yield self.connect(where, "bob")
        alice.send("JOIN #lab")
        yield alice.until("366")
        bob.send("JOIN #lab")
        yield bob.until("366")
        yield alice.until("JOIN")
        bob.send("PRIVMSG #lab :hello alice", "PRIVMSG alice :psst")
        first = yield alice.queue.get()
        second = yield alice.queue.get()
        self.assertEqual(first, Message("PRIVMSG", ("#lab", "hello alice"), "bob!~bob@127.0.0.1"))
        self.assertEqual(second.params, ("alice", "psst"))
        bob.send("QUIT :done")
        quit = yield alice.until("QUIT")
        self.assertEqual(quit[-1].params, ("Quit: done",))

    @defer.inlineCallbacks
    def test_unixEndpoint(self):
        """
        A C{unix:} endpoint serves clients: its peers have no IP address, so
        they are C{localhost} (looking up C{getPeer().host} failed in
        C{connectionMade} and every client got a closed connection).
        """
        # AF_UNIX paths are limited to ~107 bytes, and a checkout's
        # _trial_temp can be deeper than that: use a short directory.
        directory = tempfile.mkdtemp(prefix="securechat-")
        self.addCleanup(shutil.rmtree, directory, True)
        path = os.path.join(directory, "relay.sock")
        factory = RelayFactory()
        yield self.listen(factory, "unix:" + path)
        alice = yield self.connect("unix:" + path, "alice")
        bob = yield self.connect("unix:" + path, "bob")
        alice.send("JOIN #lab", "WHO #lab")
        lines = yield alice.until("315")
        self.assertEqual(lines[0].source, "alice!~alice@localhost")
        self.assertEqual([m.params[3] for m in lines if m.command == "352"], ["localhost"])
        self.assertEqual(factory.perHost, {"localhost": 2})
        bob.send("PING :unix")
        lines = yield bob.until("PONG")
        self.assertEqual(lines[-1].params[-1], "unix")

    @defer.inlineCallbacks
    def test_abruptDisconnect(self):
        port = yield self.listen(RelayFactory())
        where = "tcp:127.0.0.1:%d" % (port,)
        alice = yield self.connect(where, "alice")
        bob = yield self.connect(where, "bob")
        for c in (alice, bob):
            c.send("JOIN #lab")
            yield c.until("366")
        bob.transport.abortConnection()
        quit = yield alice.until("QUIT")
        self.assertEqual(quit[-1].source, "bob!~bob@127.0.0.1")

    @defer.inlineCallbacks
    def test_slowReaderBoundedOthersServed(self):
        """
        A member that never reads is dropped once it owes more than SendQ;
        the others keep receiving every message.
        """
        factory = RelayFactory(settings=ConnectionSettings(floodBurst=20_000, floodRate=20_000))
        alice, bob, slow = yield self.roomWithSlowReader(factory)
        body = "x" * 400
        # ~7 MB for the slow reader: past the relay's socket buffer (at most
        # 4 MiB here), its transport buffer and SendQ.
        count = 16000
        for i in range(count):
            alice.send("PRIVMSG #lab :%d %s" % (i, body))
        got = 0
        dropped = False
        while got < count:
            message = yield bob.queue.get()
            if message.command == "PRIVMSG":
                self.assertEqual(message.params[1].split()[0], str(got))
                got += 1
            elif message.command == "QUIT" and message.sourceNick == "slow":
                self.assertEqual(message.params, ("SendQ exceeded",))
                dropped = True
        if not dropped:
            quit = yield bob.until("QUIT")
            self.assertEqual(quit[-1].params, ("SendQ exceeded",))
        self.assertEqual(len(factory.connections), 2)


def selfSignedCertificate(directory: FilePath) -> str:
    """Write a throwaway key and certificate for 127.0.0.1; return their path."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    directory.makedirs(ignoreExistingDirectory=True)
    pem = directory.child("server.pem")
    pem.setContent(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        + cert.public_bytes(serialization.Encoding.PEM)
    )
    return pem.path


class TLSTests(LoopbackMixin, TestCase):
    timeout = TIMEOUT

    @defer.inlineCallbacks
    def test_sslEndpoint(self):
        """The relay serves TLS from an C{ssl:} endpoint string."""
        pem = selfSignedCertificate(FilePath(self.mktemp()))
        port = yield self.listen(
            RelayFactory(), "ssl:0:interface=127.0.0.1:privateKey=%s:certKey=%s" % (pem, pem)
        )
        where = "tls:127.0.0.1:%d:trustRoots=%s" % (port, os.path.dirname(pem))
        alice = yield self.connect(where, "alice")
        alice.send("PING :over-tls")
        lines = yield alice.until("PONG")
        self.assertEqual(lines[-1].params[-1], "over-tls")


class PluginTests(SynchronousTestCase):
    def test_pluginListed(self) -> None:
        """C{twistd securechat} is found by twistd's plugin system."""
        import twisted.plugins

        names = [p.tapname for p in getPlugins(IServiceMaker, twisted.plugins)]
        self.assertIn("securechat", names)

    def test_optionsToFactory(self) -> None:
        options = RelayOptions()
        options.parseOptions(
            ["--max-line", "1024", "--sendq", "4096", "--flood-rate", "3.5", "--log-payloads",
             "--casemapping", "ascii", "--port", "tcp:7000"]
        )
        factory = makeFactory(options)
        self.assertEqual(factory.state.config.maxLine, 1024)
        self.assertEqual(factory.state.config.casemapping, "ascii")
        self.assertTrue(factory.state.config.logPayloads)
        self.assertEqual(factory.settings.sendq, 4096)
        self.assertEqual(factory.settings.floodRate, 3.5)

    def test_badOptions(self) -> None:
        for argv in (["--max-line", "10"], ["--casemapping", "klingon"], ["--sendq", "-1"],
                     ["--password", "x"], ["--port", "garbage"], ["--port", "tcp:host"]):
            self.assertRaises(usage.UsageError, RelayOptions().parseOptions, argv)

    def test_namesThatCannotBeSentRefused(self) -> None:
        """
        The server and network names go into every reply: one that cannot
        be formatted (a space, a colon, empty) is refused at startup, not
        met as an internal error on each client's first line.
        """
        for argv in (["--server-name", "my relay"], ["--server-name", ""],
                     ["--server-name", ":x"], ["--server-name", "a!b@c"],
                     ["--network", "two words"], ["--network", "tab\there"],
                     ["--server-name", "a" * 64], ["--network", "\u00e9" * 32]):
            self.assertRaises(usage.UsageError, RelayOptions().parseOptions, argv)
        options = RelayOptions()
        options.parseOptions(["--server-name", "irc.example.org", "--network", "Example-Net"])
        self.assertEqual(makeFactory(options).state.config.serverName, "irc.example.org")

    def test_longestNamesFitTheWelcome(self) -> None:
        """At the longest names and nick, every welcome line holds 512 bytes (replies are cut to fit)."""
        options = RelayOptions()
        options.parseOptions(["--server-name", "s" * 63, "--network", "\u00e9" * 31 + "n"])
        state = makeFactory(options).state
        out: List[bytes] = []
        client = Client(out.append, lambda: None, "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff")
        nick = "n" * state.config.nickLength
        state.handle(client, parseLine(b"NICK " + nick.encode()))
        state.handle(client, parseLine(b"USER " + b"u" * 20 + b" 0 * :real"))
        lines = b"".join(out).split(b"\r\n")[:-1]
        self.assertIn(b"005", lines[4])
        for line in lines:
            self.assertLessEqual(len(line) + 2, 512, line[:40])

    def test_motdWithNulRefused(self) -> None:
        """A MOTD line with a NUL could not be sent to anyone: refused at startup."""
        path = FilePath(self.mktemp())
        path.setContent(b"hello\nbad\x00line\n")
        self.assertRaises(
            usage.UsageError, RelayOptions().parseOptions, ["--motd-file", path.path]
        )

    def test_passwordFromFileOrEnvironment(self) -> None:
        path = FilePath(self.mktemp())
        path.setContent(b"hunter2\n")
        self.assertEqual(readPassword(path.path, {}), b"hunter2")
        self.assertEqual(readPassword(None, {PASSWORD_ENV: "fromenv"}), b"fromenv")
        self.assertIsNone(readPassword(None, {}))
        self.assertRaises(usage.UsageError, readPassword, path.path + ".missing", {})
        empty = FilePath(self.mktemp())
        empty.setContent(b"\n")
        self.assertRaises(usage.UsageError, readPassword, empty.path, {})

    def test_passwordNotInRepr(self) -> None:
        self.assertNotIn("hunter2", repr(RelayConfig(password=b"hunter2")))
