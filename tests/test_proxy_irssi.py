"""
The real thing: two irssi instances (in tmux), each through its own
securechat proxy, over ngIRCd.  They key a room through *securechat,
exchange fernet-ttl messages and see each other's text with its mark,
while a plain member on the server's side sees only C{+sc2} lines.  Skips,
saying why, when irssi, tmux or ngircd is missing.
"""

from __future__ import annotations

import os
import shutil

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.protocol import Factory
from twisted.internet.task import deferLater
from twisted.trial.unittest import SkipTest, TestCase

from securechat.codec import TEST_KDF
from securechat.proxy.service import ProxyService

from . import test_client_ngircd as ngircd
from .test_client_support import WAIT, RawIRC, Tmux

ROOM = "#interop"
PASSPHRASE = "irssi through the proxy"


class Unanswered:
    """No question open: nothing typed yet."""

    first = None


class IrssiProxyTests(TestCase):
    timeout = 90

    # ngIRCd on a free loopback port, started and stopped as the ngircd tests do.
    startServer = ngircd.NgircdTests.setUp
    waitListening = ngircd.NgircdTests.waitListening
    stopServer = ngircd.NgircdTests.stopServer
    endpoint = ngircd.NgircdTests.endpoint

    def setUp(self):
        for program in ("irssi", "tmux"):
            if shutil.which(program) is None:
                raise SkipTest("%s is not installed: this test drives irssi in tmux" % (program,))
        if ngircd.findNgircd() is None:
            raise SkipTest("ngircd not found (apt-get install ngircd): this test needs a real IRC server")
        return self.startServer()

    @inlineCallbacks
    def proxy(self):
        service = ProxyService(reactor, "tcp:0:interface=127.0.0.1", self.endpoint, kdfParams=TEST_KDF)
        service.startService()
        self.addCleanup(service.stopService)
        port = yield service.listening
        return service, port.getHost().port

    @inlineCallbacks
    def watcher(self):
        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", self.port)
        protocol = yield endpoint.connect(Factory.forProtocol(RawIRC))
        self.addCleanup(lambda: protocol.transport.loseConnection())
        yield protocol.register("watcher")
        yield protocol.join(ROOM)
        return protocol

    @inlineCallbacks
    def irssi(self, nick: str, port: int, watcher: RawIRC):
        home = self.mktemp()
        os.makedirs(home)
        tmux = Tmux(self, "proxy-" + nick)
        tmux.start("irssi --noconnect -n %s --home=%s" % (nick, home), width=160, height=30)
        yield tmux.waitFor("Irssi")
        tmux.keys("/set cmd_queue_speed 0", "Enter")
        joined = watcher.waitFor(lambda m: m.command == "JOIN" and m.sourceNick == nick, 30)
        tmux.keys("/connect 127.0.0.1 %d" % (port,), "Enter")
        yield tmux.waitFor("Welcome to the Internet Relay Network", 30)
        tmux.keys("/join %s" % (ROOM,), "Enter")
        yield joined
        return tmux

    @inlineCallbacks
    def key(self, tmux: Tmux, service: ProxyService):
        # docs/proxy.md's recipe: the *securechat window first, the key
        # command and the passphrase (twice) typed there, back to the room.
        tmux.keys("/query *securechat", "Enter")
        tmux.keys("-l", "key %s fernet-ttl" % (ROOM,))
        tmux.keys("Enter")
        yield self.until(lambda: service.core.commands.asking is not None)
        tmux.keys("-l", PASSPHRASE)
        tmux.keys("Enter")
        yield self.until(lambda: (service.core.commands.asking or Unanswered).first is not None)
        tmux.keys("-l", PASSPHRASE)
        tmux.keys("Enter")
        yield self.until(lambda: service.session.layerFor(ROOM) == "fernet-ttl")
        tmux.keys("/window goto %s" % (ROOM,), "Enter")

    @inlineCallbacks
    def until(self, condition, timeout: float = WAIT):
        deadline = reactor.seconds() + timeout
        while not condition():
            if reactor.seconds() > deadline:
                self.fail("condition never held")
            yield deferLater(reactor, 0.1, lambda: None)

    @inlineCallbacks
    def test_twoIrssiThroughProxiesOverNgircd(self):
        watcher = yield self.watcher()
        aliceProxy, alicePort = yield self.proxy()
        bobProxy, bobPort = yield self.proxy()
        alice = yield self.irssi("alice", alicePort, watcher)
        bob = yield self.irssi("bob", bobPort, watcher)
        yield self.key(alice, aliceProxy)
        yield self.key(bob, bobProxy)

        alice.keys("hello from alice in irssi", "Enter")
        screen = yield bob.waitFor("[auth+fresh] hello from alice in irssi", 20)
        line = [row for row in screen.splitlines() if "hello from alice in irssi" in row][0]
        self.assertIn("alice", line.split("[auth+fresh]")[0])
        bob.keys("and hello from bob", "Enter")
        screen = yield alice.waitFor("[auth+fresh] and hello from bob", 20)
        line = [row for row in screen.splitlines() if "and hello from bob" in row][0]
        self.assertIn("bob", line.split("[auth+fresh]")[0])

        # The server's side: only +sc2 lines, never the words.
        seen = []
        for nick in ("alice", "bob"):
            message = yield watcher.waitFor(
                lambda m, nick=nick: m.command == "PRIVMSG" and m.sourceNick == nick and m.params[0] == ROOM
            )
            seen.append(message)
        for message in seen + [m for m in watcher.lines if m.command in ("PRIVMSG", "NOTICE")]:
            self.assertTrue(message.params[1].startswith("+sc2 fernet-ttl "), message)
            self.assertNotIn("hello", message.params[1])
        for tmux in (alice, bob):
            tmux.keys("/quit", "Enter")

