"""
Interoperability: our client against ngircd, a real IRC server.  ngircd is
started on a free loopback port with a temporary configuration; the tests
skip, saying why, only when the ngircd binary cannot be found.
"""

from __future__ import annotations

import os
import shutil
import socket

from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.error import ConnectError
from twisted.internet.protocol import Factory, ProcessProtocol, Protocol
from twisted.internet.task import deferLater
from twisted.trial.unittest import SkipTest, TestCase

from securechat.client.adapters.headless import connect
from securechat.client.core import events as ev
from securechat.client.core.pacing import NGIRCD_PACE
from securechat.codec import MARKER, TEST_KDF

from .test_client_support import FAST_RETRY, WAIT, RawIRC

ROOM = "#interop"
PASSPHRASE = b"interop passphrase"
#: Seconds we give ngircd to start listening.
STARTUP = 10.0
CONFIG = """\
[Global]
\tName = irc.interop.test
\tInfo = securechat interoperability test
\tListen = 127.0.0.1
\tPorts = {port}
\tMotdPhrase = "securechat interop"
[Limits]
\tMaxNickLength = 30
[Options]
\tPAM = no
\tDNS = no
\tIdent = no
"""


def findNgircd():
    """ngircd lives in /usr/sbin on Debian, which is not on every user's PATH."""
    found = shutil.which("ngircd")
    if found:
        return found
    for candidate in ("/usr/sbin/ngircd", "/usr/local/sbin/ngircd"):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def freePort() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ServerProcess(ProcessProtocol):
    def __init__(self) -> None:
        self.output = b""
        self.ended: Deferred = Deferred()

    def outReceived(self, data: bytes) -> None:
        self.output += data

    errReceived = outReceived

    def processEnded(self, reason) -> None:
        self.ended.callback(None)


class NgircdTests(TestCase):
    timeout = 60

    @inlineCallbacks
    def setUp(self):
        binary = findNgircd()
        if binary is None:
            raise SkipTest(
                "ngircd not found (apt-get install ngircd; .ci/run installs it): "
                "the interoperability tests need a real IRC server"
            )
        directory = self.mktemp()
        os.makedirs(directory)
        os.chmod(directory, 0o755)  # ngircd drops root for nobody; it must still read its config
        self.port = freePort()
        config = os.path.join(directory, "ngircd.conf")
        with open(config, "w") as handle:
            handle.write(CONFIG.format(port=self.port))
        os.chmod(config, 0o644)
        self.server = ServerProcess()
        self.process = reactor.spawnProcess(
            self.server, binary, [binary, "-n", "-p", "-f", config], env=dict(os.environ)
        )
        self.addCleanup(self.stopServer)
        yield self.waitListening()

    @inlineCallbacks
    def waitListening(self):
        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", self.port)
        deadline = reactor.seconds() + STARTUP
        while True:
            try:
                protocol = yield endpoint.connect(Factory.forProtocol(Protocol))
            except ConnectError:
                if reactor.seconds() > deadline or self.server.ended.called:
                    self.fail("ngircd did not start:\n" + self.server.output.decode("utf-8", "replace"))
                yield deferLater(reactor, 0.1, lambda: None)
            else:
                protocol.transport.loseConnection()
                return

    def stopServer(self):
        if not self.server.ended.called:
            self.process.signalProcess("TERM")
        return self.server.ended

    @property
    def endpoint(self) -> str:
        return "tcp:127.0.0.1:%d" % (self.port,)

    @inlineCallbacks
    def client(self, nick: str):
        client = yield connect(
            reactor, self.endpoint, nick, kdfParams=TEST_KDF, retryPolicy=FAST_RETRY, timeout=WAIT
        )
        self.addCleanup(client.quit)
        return client

    @inlineCallbacks
    def keyedPair(self):
        alice = yield self.client("alice")
        bob = yield self.client("bob")
        for client in (alice, bob):
            names = client.waitFor(ev.Names, WAIT)
            client.join(ROOM)
            yield names
            yield client.setKey(ROOM, PASSPHRASE, "fernet-ttl")
        return alice, bob

    @inlineCallbacks
    def test_pasteThroughNgircd(self):
        """
        Issue 23: a 60-line paste through ngIRCd with its default penalties
        (about 2.5 lines a second) arrives whole, in order, with no
        `expired`: the client learns ngIRCd's pace from its 004 and seals
        each line as it leaves.  About 30 s of real time: the pace is the
        server's.
        """
        alice, bob = yield self.keyedPair()
        self.assertEqual(alice.session.pacer.pace, NGIRCD_PACE)
        heard = []
        bob.listen(lambda e: heard.append(e) if isinstance(e, (ev.IncomingMessage, ev.RejectedMessage)) else None)
        lines = ["paste line %02d" % (n,) for n in range(60)]
        drained = alice.waitFor(lambda e: isinstance(e, ev.PaceProgress) and not e.waiting, 150)
        for line in lines:
            alice.send(ROOM, line)
        done = yield drained
        self.assertEqual(done.unsent, 0)
        if not any(isinstance(e, ev.IncomingMessage) and e.body == lines[-1] for e in heard):
            yield bob.waitFor(lambda e: isinstance(e, ev.IncomingMessage) and e.body == lines[-1], WAIT)
        self.assertEqual([e for e in heard if isinstance(e, ev.RejectedMessage)], [])
        self.assertEqual([e.body for e in heard], lines)

    test_pasteThroughNgircd.timeout = 180  # type: ignore[attr-defined]

    @inlineCallbacks
    def test_fernetTtlThroughNgircd(self):
        alice, bob = yield self.keyedPair()
        self.assertEqual(alice.session.isupport.get("IRCD"), "ngIRCd")
        heard = bob.waitFor(ev.IncomingMessage, WAIT)
        alice.send(ROOM, "hello through ngircd")
        message = yield heard
        self.assertEqual(
            (message.target, message.sender, message.body, message.protection),
            (ROOM, "alice", "hello through ngircd", "authenticated+fresh"),
        )
        body = "chunked " * 100
        heard = bob.waitFor(ev.IncomingMessage, WAIT)
        sent = alice.send(ROOM, body)
        self.assertGreater(sent.lines, 2)
        message = yield heard
        self.assertEqual(message.body, body)

    @inlineCallbacks
    def test_directFernetTtlThroughNgircd(self):
        alice, bob = yield self.keyedPair()
        yield alice.setKey("bob", PASSPHRASE, "fernet-ttl")
        yield bob.setKey("alice", PASSPHRASE, "fernet-ttl")
        heard = bob.waitFor(ev.IncomingMessage, WAIT)
        alice.send("bob", "only for bob")
        message = yield heard
        self.assertEqual((message.target, message.direct, message.body), ("alice", True, "only for bob"))

    @inlineCallbacks
    def test_rawClientOnNgircd(self):
        """A plain IRC client on ngircd sees plain text as text, protected lines as +sc2."""
        alice = yield self.client("alice")
        raw = yield TCP4ClientEndpoint(reactor, "127.0.0.1", self.port).connect(
            Factory.forProtocol(RawIRC)
        )
        self.addCleanup(raw.transport.loseConnection)
        yield raw.register("irssi")
        yield raw.join(ROOM)
        names = alice.waitFor(ev.Names, WAIT)
        alice.join(ROOM)
        yield names
        alice.send(ROOM, "plain words")
        line = yield raw.waitFor(lambda m: m.command == "PRIVMSG")
        self.assertEqual(line.params, (ROOM, "plain words"))
        yield alice.setKey(ROOM, PASSPHRASE, "fernet-ttl")
        alice.send(ROOM, "hidden words")
        line = yield raw.waitFor(lambda m: m.command == "PRIVMSG")
        self.assertTrue(line.params[1].startswith(MARKER + " fernet-ttl "))
        heard = alice.waitFor(lambda e: isinstance(e, (ev.IncomingMessage, ev.RejectedMessage)), WAIT)
        raw.send("PRIVMSG", ROOM, "plain from irssi")
        verdict = yield heard
        self.assertEqual((verdict.kind, verdict.reason), ("rejected", "unprotected"))

    @inlineCallbacks
    def test_nickInUseOnNgircd(self):
        yield self.client("alice")
        second = yield self.client("alice")
        self.assertEqual(second.nick, "alice_")

