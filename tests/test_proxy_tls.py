"""
The proxy's server side checks TLS as the client does: a server whose
certificate chains to the trusted authority and names the host is used;
any other is refused before a line is sent, and the IRC client is told why.
"""

from __future__ import annotations

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.protocol import Factory

from securechat.codec import TEST_KDF
from securechat.proxy.service import ProxyService
from securechat.tlsclient import TlsSettings

from . import test_tlsclient as tlstests
from .test_client_support import RawIRC


class ProxyTlsTests(tlstests.TlsRelayCase):
    @inlineCallbacks
    def through(self, settings: TlsSettings):
        service = ProxyService(
            reactor, "tcp:0:interface=127.0.0.1", "ssl:127.0.0.1:%d" % (self.portNumber,),
            tls=settings, kdfParams=TEST_KDF,
        )
        service.startService()
        self.addCleanup(service.stopService)
        port = yield service.listening
        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", port.getHost().port)
        client = yield endpoint.connect(Factory.forProtocol(RawIRC))
        self.addCleanup(lambda: client.transport.loseConnection())
        return client

    @inlineCallbacks
    def test_trustedServerIsUsed(self):
        yield self.serve(*self.pki.server("good"))
        client = yield self.through(TlsSettings(trustFile=self.pki.caFile))
        # Registered through the proxy: the relay behind TLS answered with its 001.
        yield client.register("alice")
        client.send("PRIVMSG", "*securechat", "status")
        status = yield client.waitFor(lambda m: m.command == "PRIVMSG" and "connected to" in m.params[-1])
        self.assertIn("you are alice", status.params[-1])

    @inlineCallbacks
    def test_untrustedServerIsRefusedAndTheClientTold(self):
        yield self.serve(*self.pki.server("good"))
        client = yield self.through(TlsSettings())
        client.send("NICK", "alice")
        client.send("USER", "alice", "0", "*", "a")
        told = yield client.waitFor(lambda m: m.command == "NOTICE" and "TLS: refused" in m.params[-1])
        self.assertTrue(told.source.startswith("*securechat!"))
        error = yield client.waitFor(lambda m: m.command == "ERROR")
        self.assertIn("server", error.params[0])
        yield client.closed
