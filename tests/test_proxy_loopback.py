"""
Two proxies on loopback ports, in front of two raw IRC clients (sockets
speaking IRC by hand, as irssi would), over our relay: they key a room
through *securechat, read each other's text with its mark, while a plain
member of the room (the relay's view) sees only C{+sc2} lines.  Also: one
IRC client at a time, and the command line's refusals.
"""

from __future__ import annotations

import os
from typing import Optional

from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.protocol import Factory
from twisted.python import usage
from twisted.trial.unittest import TestCase

from securechat.codec import TEST_KDF
from securechat.proxy.service import DEFAULT_LISTEN, Options, ProxyService, listensOnLoopbackOnly

from .test_client_support import LoopbackCase, RawIRC

ROOM = "#lab"
PASSPHRASE = "loopback proxy passphrase"


def fromPseudo(text: str):
    return lambda m: m.source is not None and m.source.startswith("*securechat!") and text in m.params[-1]


class ProxyLoopbackTests(LoopbackCase):
    timeout = 60

    @inlineCallbacks
    def proxy(self, **options):
        service = ProxyService(
            reactor, "tcp:0:interface=127.0.0.1", self.endpoint, kdfParams=TEST_KDF, **options
        )
        service.startService()
        self.addCleanup(service.stopService)
        port = yield service.listening
        return service, port.getHost().port

    @inlineCallbacks
    def ircClient(self, port: int, nick: Optional[str] = None):
        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", port)
        protocol = yield endpoint.connect(Factory.forProtocol(RawIRC))
        self.addCleanup(self._closeRaw, protocol)
        if nick is not None:
            yield protocol.register(nick)
        return protocol

    @inlineCallbacks
    def keyed(self, client: RawIRC):
        yield client.join(ROOM)
        client.send("PRIVMSG", "*securechat", "key %s fernet-ttl" % (ROOM,))
        yield client.waitFor(fromPseudo("type the passphrase"))
        client.send("PRIVMSG", "*securechat", PASSPHRASE)
        yield client.waitFor(fromPseudo("again, to confirm"))
        client.send("PRIVMSG", "*securechat", PASSPHRASE)
        yield client.waitFor(fromPseudo("key set for #lab on layer fernet-ttl"))

    @inlineCallbacks
    def test_twoProxiesExchangeProtectedMessages(self):
        _, alicePort = yield self.proxy()
        _, bobPort = yield self.proxy()
        alice = yield self.ircClient(alicePort, "alice")
        bob = yield self.ircClient(bobPort, "bob")
        watcher = yield self.raw("watcher")
        yield watcher.join(ROOM)
        yield self.keyed(alice)
        yield self.keyed(bob)

        alice.send("PRIVMSG", ROOM, "hello bob, only you can read this")
        heard = yield bob.waitFor(lambda m: m.command == "PRIVMSG" and m.sourceNick == "alice")
        self.assertEqual(heard.params, (ROOM, "[auth+fresh] hello bob, only you can read this"))
        seen = yield watcher.waitFor(lambda m: m.command == "PRIVMSG" and m.sourceNick == "alice")
        self.assertTrue(seen.params[1].startswith("+sc2 fernet-ttl "))
        self.assertNotIn("hello", seen.params[1])

        bob.send("PRIVMSG", ROOM, "\x01ACTION waves back\x01")
        heard = yield alice.waitFor(lambda m: m.command == "PRIVMSG" and m.sourceNick == "bob")
        self.assertEqual(heard.params[1], "\x01ACTION [auth+fresh] waves back\x01")

        # The relay's own words in the keyed room are not shown as bob's.
        watcher.send("PRIVMSG", ROOM, "+sc2 fernet-ttl forged 1/1 AAAA")
        refused = yield alice.waitFor(fromPseudo("claimed from watcher"))
        self.assertEqual(refused.command, "NOTICE")

    @inlineCallbacks
    def test_oneIrcClientAtATime(self):
        _, port = yield self.proxy()
        yield self.ircClient(port, "alice")
        second = yield self.ircClient(port)
        error = yield second.waitFor(lambda m: m.command == "ERROR")
        self.assertIn("one IRC client at a time", error.params[0])
        yield second.closed

    @inlineCallbacks
    def test_clientLeavingClosesItsServerConnection(self):
        _, port = yield self.proxy()
        alice = yield self.ircClient(port, "alice")
        yield alice.join(ROOM)
        watcher = yield self.raw("watcher")
        yield watcher.join(ROOM)
        alice.transport.loseConnection()
        quit = yield watcher.waitFor(lambda m: m.command == "QUIT")
        self.assertEqual(quit.sourceNick, "alice")

    @inlineCallbacks
    def test_stateDirectoryHoldsTheIdentity(self):
        state = self.mktemp()
        service, port = yield self.proxy(stateDir=state)
        self.assertTrue(os.listdir(state))
        alice = yield self.ircClient(port, "alice")
        alice.send("PRIVMSG", "*securechat", "fingerprint")
        reply = yield alice.waitFor(fromPseudo("your identity key"))
        self.assertIn(service.session.identity.fingerprint, reply.params[1])

    @inlineCallbacks
    def test_passwordRequiredWhenSet(self):
        _, port = yield self.proxy(password=b"proxy secret")
        refused = yield self.ircClient(port)
        refused.send("PASS", "guess")
        yield refused.waitFor(lambda m: m.command == "464")
        yield refused.closed
        allowed = yield self.ircClient(port)
        allowed.send("PASS", "proxy secret")
        yield allowed.register("alice")


class OptionsTests(TestCase):
    def parse(self, *argv: str) -> Options:
        options = Options()
        options.parseOptions(["--state-dir", self.mktemp()] + list(argv))
        return options

    def test_loopbackByDefault(self):
        self.assertTrue(listensOnLoopbackOnly(DEFAULT_LISTEN))
        self.assertTrue(listensOnLoopbackOnly(r"tcp6:6668:interface=\:\:1"))
        self.assertFalse(listensOnLoopbackOnly("tcp:6668"))
        self.assertFalse(listensOnLoopbackOnly("tcp:6668:interface=0.0.0.0"))
        self.assertFalse(listensOnLoopbackOnly("tcp:6668:interface=192.0.2.1"))
        self.assertEqual(self.parse()["listen"], DEFAULT_LISTEN)

    def test_remoteListeningRefusedUnlessToldAndPassworded(self):
        with self.assertRaises(usage.UsageError) as caught:
            self.parse("--listen", "tcp:6668")
        self.assertIn("--allow-remote", str(caught.exception))
        with self.assertRaises(usage.UsageError) as caught:
            self.parse("--listen", "tcp:6668", "--allow-remote")
        self.assertIn("needs a password", str(caught.exception))
        secret = self.mktemp()
        with open(secret, "w") as handle:
            handle.write("proxy secret\n")
        options = self.parse("--listen", "tcp:6668", "--allow-remote", "--password-file", secret)
        self.assertEqual(options["password"], b"proxy secret")

    def test_secretsOnArgvRefused(self):
        for option in ("--password", "--key", "--passphrase"):
            with self.assertRaises(usage.UsageError) as caught:
                self.parse(option, "hunter2")
            self.assertNotIn("hunter2", str(caught.exception))

    def test_badEndpointsAndMarks(self):
        for argv in (("--server", "nonsense:1"), ("--listen", "tcp:notaport"), ("--mark", "colour")):
            self.assertRaises(usage.UsageError, self.parse, *argv)

    def test_twistdPluginListed(self):
        from twisted.application.service import IServiceMaker
        from twisted.plugin import getPlugins

        import twisted.plugins

        names = [maker.tapname for maker in getPlugins(IServiceMaker, twisted.plugins)]
        self.assertIn("securechat-proxy", names)

    def test_cliDispatchesToTheProxy(self):
        import io
        import sys

        from securechat import cli

        stderr = io.StringIO()
        self.patch(sys, "stderr", stderr)
        self.assertEqual(cli.main(["proxy", "--listen", "tcp:6668", "--state-dir", self.mktemp()]), 2)
        self.assertIn("reaches beyond this machine", stderr.getvalue())





class BoundsTests(TestCase):
    """An IRC client that stops reading stops our reading of the server; past the bound, it is cut."""

    class Endpoint:
        """Records the factories it is asked to connect; never connects."""

        def __init__(self):
            self.connected = []

        def connect(self, factory):
            self.connected.append(factory)
            return Deferred()

    def test_backedUpClientPausesTheServerThenIsCut(self):
        from twisted.internet.task import Clock
        from twisted.internet.testing import StringTransport

        from securechat.client.core.session import ClientSession
        from securechat.proxy import protocol as proxyProtocol
        from securechat.proxy.core import ProxyCore

        endpoint = self.Endpoint()
        connected = endpoint.connected
        factory = proxyProtocol.DownstreamFactory(
            lambda links: ProxyCore(
                lambda emit: ClientSession("placeholder", emit), lambda target, passphrase, done: None, links
            ),
            Clock(),
            endpoint,
        )
        core = factory.core
        client = factory.buildProtocol(None)
        clientTransport = StringTransport()
        client.makeConnection(clientTransport)
        upstream = connected[0].buildProtocol(None)
        serverTransport = StringTransport()
        upstream.makeConnection(serverTransport)

        clientTransport.producer.pauseProducing()
        self.assertEqual(serverTransport.producerState, "paused")
        clientTransport.producer.resumeProducing()
        self.assertEqual(serverTransport.producerState, "producing")

        clientTransport.producer.pauseProducing()
        self.patch(proxyProtocol, "CLIENT_SENDQ", 1000)
        for _ in range(20):
            core.tell("x" * 100)
        self.assertTrue(client.gone)
        self.assertTrue(clientTransport.disconnecting)

    def test_overlongClientLineIsDroppedWholeWithANotice(self):
        from twisted.internet.task import Clock
        from twisted.internet.testing import StringTransport

        from securechat.client.core.session import ClientSession
        from securechat.proxy import protocol as proxyProtocol
        from securechat.proxy.core import ProxyCore

        factory = proxyProtocol.DownstreamFactory(
            lambda links: ProxyCore(
                lambda emit: ClientSession("*", emit), lambda target, passphrase, done: None, links
            ),
            Clock(),
            self.Endpoint(),
        )
        core = factory.core
        lines = []
        core.clientLine = lines.append  # what the core is given
        client = factory.buildProtocol(None)
        transport = StringTransport()
        client.makeConnection(transport)
        client.dataReceived(b"PRIVMSG #lab :" + b"x" * 600 + b"\r\nPRIVMSG #lab :next\r\n")
        self.assertEqual(lines, [b"PRIVMSG #lab :next"])
        self.assertIn(b"too long: not sent", transport.value())
