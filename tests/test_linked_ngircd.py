"""
Outgrowing one relay (issue 25, point 5): two of our clients and a proxy
across two linked ngIRCd servers on loopback, one server killed (a split)
and started again (a rejoin).  What must hold: the split shows as a
netsplit, not as a quit; the peer comes back and rejoins with its keys;
a protected line from before the split, replayed, is refused.

docs/operations.md ("Linked servers") shows the same two configuration
files.  Skips, saying why, only when the ngircd binary cannot be found.
"""

from __future__ import annotations

import os

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.protocol import Factory
from twisted.internet.task import deferLater
from twisted.trial.unittest import SkipTest, TestCase

from securechat.client.adapters.headless import connect
from securechat.client.core import events as ev
from securechat.client.faces.commands import formatEvent
from securechat.codec import TEST_KDF
from securechat.codec.chunks import MARKER_PREFIX
from securechat.proxy.service import ProxyService
from securechat.wire import formatMessage

from .test_client_ngircd import ServerProcess, findNgircd, freePort
from .test_client_support import FAST_RETRY, WAIT, RawIRC

ROOM = "#linked"
PASSPHRASE = "linked servers passphrase"
#: Seconds we give a server to listen, and the two to link.
STARTUP = 20.0
#: A TTL far longer than the test: a replayed line must be refused as a
#: replay, whatever the machine's speed, not merely as too old.
TTL = 3600
#: One server's configuration: it links to the other.  The side that waits
#: for the link is Passive (a.test here); b.test connects, and reconnects
#: every ConnectRetry seconds once it is back.
CONFIG = """\
[Global]
\tName = {name}
\tInfo = securechat linked servers test
\tListen = 127.0.0.1
\tPorts = {port}
[Limits]
\tMaxNickLength = 30
\tConnectRetry = 5
[Options]
\tPAM = no
\tDNS = no
\tIdent = no
[Server]
\tName = {peer}
\tHost = 127.0.0.1
\tPort = {peerPort}
\tMyPassword = {myPassword}
\tPeerPassword = {peerPassword}
\tPassive = {passive}
"""


def fromPseudo(text: str):
    return lambda m: m.source is not None and m.source.startswith("*securechat!") and text in m.params[-1]


class LinkedNgircdTests(TestCase):
    timeout = 120

    @inlineCallbacks
    def setUp(self):
        binary = findNgircd()
        if binary is None:
            raise SkipTest(
                "ngircd not found (apt-get install ngircd; .ci/run installs it): "
                "the linked-servers test needs two real IRC servers"
            )
        self.binary = binary
        self.directory = self.mktemp()
        os.makedirs(self.directory)
        os.chmod(self.directory, 0o755)  # ngircd drops root for nobody; it must still read its config
        self.ports = {"a.test": freePort(), "b.test": freePort()}
        self.processes = {}
        for name, peer, passive in (("a.test", "b.test", "yes"), ("b.test", "a.test", "no")):
            path = os.path.join(self.directory, name + ".conf")
            with open(path, "w") as handle:
                handle.write(CONFIG.format(
                    name=name, port=self.ports[name], peer=peer, peerPort=self.ports[peer],
                    myPassword="link-" + name, peerPassword="link-" + peer, passive=passive,
                ))
            os.chmod(path, 0o644)
        self.addCleanup(self.stopAll)
        for name in self.ports:
            yield self.start(name)
        yield self.waitLinked()

    def start(self, name: str):
        server = ServerProcess()
        path = os.path.join(self.directory, name + ".conf")
        # No -p (passive): b.test must connect to a.test on its own.
        process = reactor.spawnProcess(server, self.binary, [self.binary, "-n", "-f", path], env=dict(os.environ))
        self.processes[name] = (server, process)
        return self.waitListening(name)

    @inlineCallbacks
    def waitListening(self, name: str):
        server, _ = self.processes[name]
        deadline = reactor.seconds() + STARTUP
        while True:
            try:
                raw = yield self.raw(name)
            except Exception:
                if reactor.seconds() > deadline or server.ended.called:
                    self.fail("ngircd %s did not start:\n%s" % (name, server.output.decode("utf-8", "replace")))
                yield deferLater(reactor, 0.1, lambda: None)
            else:
                raw.transport.loseConnection()
                return

    @inlineCallbacks
    def waitLinked(self):
        """Until a.test lists b.test among its links (LINKS: 364 lines, then 365)."""
        probe = yield self.raw("a.test")
        yield probe.register("probe")
        deadline = reactor.seconds() + STARTUP
        try:
            while True:
                probe.send("LINKS")
                links = []
                while True:
                    line = yield probe.waitFor(lambda m: m.command in ("364", "365"))
                    if line.command == "365":
                        break
                    links.append(line.params[1])
                if "b.test" in links:
                    return
                if reactor.seconds() > deadline:
                    self.fail("the servers did not link: %s" % (self.output(),))
                yield deferLater(reactor, 0.2, lambda: None)
        finally:
            probe.transport.loseConnection()

    def output(self) -> str:
        return "\n".join(
            "%s:\n%s" % (name, server.output.decode("utf-8", "replace"))
            for name, (server, _) in self.processes.items()
        )

    def stop(self, name: str, signal: str = "TERM"):
        server, process = self.processes[name]
        if not server.ended.called:
            process.signalProcess(signal)
        return server.ended

    @inlineCallbacks
    def stopAll(self):
        for name in list(self.processes):
            yield self.stop(name)

    def endpoint(self, name: str) -> str:
        return "tcp:127.0.0.1:%d" % (self.ports[name],)

    @inlineCallbacks
    def raw(self, name: str, port: int = 0):
        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", port or self.ports[name])
        protocol = yield endpoint.connect(Factory.forProtocol(RawIRC))
        self.addCleanup(protocol.transport.loseConnection)
        return protocol

    @inlineCallbacks
    def client(self, nick: str, server: str):
        client = yield connect(
            reactor, self.endpoint(server), nick, kdfParams=TEST_KDF,
            retryPolicy=FAST_RETRY, timeout=WAIT, ttl=TTL,
        )
        self.addCleanup(client.quit)
        names = client.waitFor(ev.Names, WAIT)
        client.join(ROOM)
        yield names
        yield client.setKey(ROOM, PASSPHRASE.encode("utf-8"), "fernet-ttl")
        return client

    @inlineCallbacks
    def proxied(self, nick: str, server: str):
        """An IRC client (what irssi sends) through our proxy to C{server}, keyed."""
        proxy = ProxyService(reactor, "tcp:0:interface=127.0.0.1", self.endpoint(server), kdfParams=TEST_KDF)
        proxy.startService()
        self.addCleanup(proxy.stopService)
        port = yield proxy.listening
        irc = yield self.raw(server, port.getHost().port)
        yield irc.register(nick)
        yield irc.join(ROOM)
        irc.send("PRIVMSG", "*securechat", "key %s fernet-ttl" % (ROOM,))
        yield irc.waitFor(fromPseudo("type the passphrase"))
        irc.send("PRIVMSG", "*securechat", PASSPHRASE)
        yield irc.waitFor(fromPseudo("again, to confirm"))
        irc.send("PRIVMSG", "*securechat", PASSPHRASE)
        yield irc.waitFor(fromPseudo("key set for %s on layer fernet-ttl" % (ROOM,)))
        return irc

    @inlineCallbacks
    def test_splitAndRejoin(self):
        alice = yield self.client("alice", "a.test")
        carol = yield self.proxied("carol", "a.test")
        watcher = yield self.raw("a.test")
        yield watcher.register("watcher")
        yield watcher.join(ROOM)
        bobJoined = alice.waitFor(lambda e: isinstance(e, ev.Joined) and e.nick == "bob", WAIT)
        bob = yield self.client("bob", "b.test")
        yield bobJoined

        # Before the split: bob's line crosses the link, protected.
        heard = alice.waitFor(ev.IncomingMessage, WAIT)
        bob.send(ROOM, "before the split")
        message = yield heard
        self.assertEqual((message.sender, message.body, message.protection),
                         ("bob", "before the split", "authenticated+fresh"))
        line = yield watcher.waitFor(lambda m: m.command == "PRIVMSG" and m.sourceNick == "bob")
        sealed = formatMessage("PRIVMSG", line.params, line.source)
        self.assertTrue(line.params[1].startswith(MARKER_PREFIX + "fernet-ttl "))
        shown = yield carol.waitFor(lambda m: m.command == "PRIVMSG" and m.sourceNick == "bob")
        self.assertEqual(shown.params[1], "[auth+fresh] before the split")

        # The split: b.test is lost (killed: a crash or a cut link, where a
        # TERM lets ngIRCd quit its users one by one first, and on a busy
        # machine a.test then relays bob's own QUIT before the link drops);
        # a.test's users see bob leave in a netsplit.
        left = alice.waitFor(ev.UserQuit, WAIT)
        dropped = bob.waitFor(ev.Disconnected, WAIT)
        carolSaw = carol.waitFor(lambda m: m.command == "QUIT" and m.sourceNick == "bob")
        yield self.stop("b.test", "KILL")
        quit = yield left
        self.assertEqual((quit.nick, quit.rooms, quit.netsplit), ("bob", (ROOM,), ("a.test", "b.test")))
        self.assertEqual(quit.asDict()["netsplit"], ["a.test", "b.test"])
        [(text, _)] = formatEvent(quit, "12:00")
        self.assertEqual(text, "12:00 -- bob left in a netsplit (a.test b.test)")
        self.assertEqual((yield carolSaw).params, ("a.test b.test",))
        self.assertTrue((yield dropped).reconnecting)

        # The rejoin: b.test is back, links again; bob reconnects and rejoins, keyed.
        back = alice.waitFor(lambda e: isinstance(e, ev.Joined) and e.nick == "bob", 2 * STARTUP)
        yield self.start("b.test")
        yield back
        heard = alice.waitFor(ev.IncomingMessage, WAIT)
        shown = carol.waitFor(lambda m: m.command == "PRIVMSG" and m.sourceNick == "bob")
        bob.send(ROOM, "after the rejoin")
        message = yield heard
        self.assertEqual((message.sender, message.body, message.protection),
                         ("bob", "after the rejoin", "authenticated+fresh"))
        self.assertEqual((yield shown).params[1], "[auth+fresh] after the rejoin")
        self.assertEqual(bob.layer(ROOM), "fernet-ttl")

        # A relay replaying bob's line from before the split: refused.
        verdict = alice.waitFor(lambda e: isinstance(e, (ev.IncomingMessage, ev.RejectedMessage)), WAIT)
        alice.session.lineReceived(sealed.rstrip(b"\r\n"))
        refused = yield verdict
        self.assertEqual((refused.kind, refused.sender, refused.reason), ("rejected", "bob", "replayed"))
