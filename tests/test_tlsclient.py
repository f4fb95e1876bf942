"""
TLS to the relay checks the server (issue 11, point 5): a CA and
certificates made in the test (short-lived, in a temporary directory), our
relay behind Twisted's C{ssl:} server endpoint on 127.0.0.1, and the client
connecting with C{ssl:localhost:PORT}.
"""

from __future__ import annotations

import datetime
import io
import ipaddress
import json
import os
import sys
from typing import List, Optional, Tuple

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.endpoints import serverFromString
from twisted.internet.protocol import ProcessProtocol
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase, TestCase

from securechat import cli
from securechat.client.adapters.headless import HeadlessClient
from securechat.client.core import events as ev
from securechat.client.faces import tap
from securechat.codec import TEST_KDF
from securechat.mitm import cli as mitmCli
from securechat.relay.factory import RelayFactory
from securechat.tlsclient import (
    CheckedTlsEndpoint,
    TlsSettings,
    checkTlsSettings,
    clientEndpoint,
    isTlsDescription,
    parseTlsDescription,
)

from .test_client_support import FAST_RETRY, WAIT

NOW = datetime.datetime.now(datetime.timezone.utc)
HOUR = datetime.timedelta(hours=1)


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _write(path: str, data: bytes) -> str:
    with open(path, "wb") as handle:
        handle.write(data)
    return path


class PKI:
    """A throwaway CA in C{directory}, and server certificates it (or another CA) signs."""

    def __init__(self, directory: str, name: str = "securechat test CA") -> None:
        os.makedirs(directory, exist_ok=True)
        self.directory = directory
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = _name(name)
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(self.name)
            .issuer_name(self.name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - HOUR)
            .not_valid_after(NOW + HOUR)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            )
            .sign(self.key, hashes.SHA256())
        )
        self.caFile = _write(
            os.path.join(directory, "ca.pem"), self.certificate.public_bytes(serialization.Encoding.PEM)
        )

    def server(
        self,
        stem: str,
        names: Tuple[str, ...] = ("localhost",),
        validFor: Tuple[datetime.timedelta, datetime.timedelta] = (-HOUR, HOUR),
        subjectAltName: bool = True,
        selfSigned: bool = False,
    ) -> Tuple[str, str]:
        """(key file, certificate file) of a server certificate for C{names}."""
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(names[0]))
            .issuer_name(_name(names[0]) if selfSigned else self.name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW + validFor[0])
            .not_valid_after(NOW + validFor[1])
            .add_extension(x509.ExtendedKeyUsage([x509.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        )
        if subjectAltName:
            alternative: List[x509.GeneralName] = [x509.DNSName(n) for n in names]
            # A certificate for localhost is for 127.0.0.1 too.
            address = "127.0.0.1" if "localhost" in names else "127.0.0.2"
            alternative.append(x509.IPAddress(ipaddress.ip_address(address)))
            builder = builder.add_extension(x509.SubjectAlternativeName(alternative), critical=False)
        certificate = builder.sign(key if selfSigned else self.key, hashes.SHA256())
        keyFile = _write(
            os.path.join(self.directory, stem + ".key"),
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )
        certFile = _write(
            os.path.join(self.directory, stem + ".pem"), certificate.public_bytes(serialization.Encoding.PEM)
        )
        return keyFile, certFile


class DescriptionTests(SynchronousTestCase):
    def test_sslAndTlsDescriptions(self):
        self.assertTrue(isTlsDescription("ssl:relay.example:6697"))
        self.assertTrue(isTlsDescription("TLS:relay.example:6697"))
        self.assertFalse(isTlsDescription("tcp:relay.example:6667"))
        target = parseTlsDescription("ssl:relay.example:6697")
        self.assertEqual((target.host, target.port, target.timeout), ("relay.example", 6697, 30))
        target = parseTlsDescription("tls:host=relay.example:port=7000:timeout=5:bindAddress=10.0.0.1")
        self.assertEqual(
            (target.host, target.port, target.timeout, target.bindAddress), ("relay.example", 7000, 5, "10.0.0.1")
        )
        self.assertEqual(parseTlsDescription("ssl:\\:\\:1:6697").host, "::1")

    def test_unusableDescriptionsAreRefusedWithAReason(self):
        for description, says in (
            ("ssl:relay.example", "expected ssl:HOST:PORT"),
            ("ssl:relay.example:port", "must be numbers"),
            ("ssl:relay.example:0", "1-65535"),
            ("ssl:relay.example:6697:caCertsDir=/etc/ssl/certs", "--tls-trust"),
            ("tls:relay.example:6697:trustRoots=/etc/ssl/certs", "accepts only"),
        ):
            with self.assertRaises(ValueError) as raised:
                parseTlsDescription(description)
            self.assertIn(says, str(raised.exception))

    def test_settingsAreCheckedAtStart(self):
        trust = self.mktemp()
        PKI(trust)
        caFile = os.path.join(trust, "ca.pem")
        checkTlsSettings("ssl:relay.example:6697", TlsSettings(trustFile=caFile))
        checkTlsSettings("ssl:relay.example:6697", TlsSettings(insecure=True))
        checkTlsSettings("tcp:127.0.0.1:6667", TlsSettings())
        empty = _write(self.mktemp(), b"not a certificate\n")
        for description, settings, says in (
            ("ssl:relay.example:6697", TlsSettings(caFile, True), "contradict"),
            ("tcp:127.0.0.1:6667", TlsSettings(insecure=True), "ssl: or tls: servers only"),
            ("tcp:127.0.0.1:6667", TlsSettings(trustFile=caFile), "ssl: or tls: servers only"),
            ("ssl:relay.example:6697", TlsSettings(trustFile=empty), "no PEM certificate"),
            ("ssl:relay.example:6697", TlsSettings(trustFile=self.mktemp()), "No such file"),
        ):
            with self.assertRaises(ValueError) as raised:
                checkTlsSettings(description, settings)
            self.assertIn(says, str(raised.exception))

    def test_insecureWarnsOnEveryConnect(self):
        """--insecure-skip-tls-verify is loud: each connection attempt says so again."""
        heard: List[Tuple[str, str]] = []
        endpoint = clientEndpoint(
            reactor, "ssl:127.0.0.1:1", TlsSettings(insecure=True), lambda m, c: heard.append((m, c))
        )
        attempts: List[object] = []
        endpoint.wrapped = Fake(attempts)  # nothing really connects
        for _attempt in range(2):
            endpoint.connect(object())
        self.assertEqual(len(attempts), 2)
        self.assertEqual([code for _, code in heard], ["tls-unverified", "tls-unverified"])
        self.assertIn("NOT checked (--insecure-skip-tls-verify)", heard[0][0])


class Fake:
    def __init__(self, attempts: List[object]) -> None:
        self.attempts = attempts

    def connect(self, factory: object) -> Deferred:
        self.attempts.append(factory)
        return Deferred()


class TlsRelayCase(TestCase):
    """Our relay behind TLS on 127.0.0.1, with a certificate from a CA made for the test."""

    timeout = 30

    def setUp(self):
        self.pki = PKI(self.mktemp())

    @inlineCallbacks
    def serve(self, keyFile: str, certFile: str):
        self.relay = RelayFactory()
        port = yield serverFromString(
            reactor,
            "ssl:0:interface=127.0.0.1:privateKey=%s:certKey=%s" % (keyFile, certFile),
        ).listen(self.relay)
        self.addCleanup(port.stopListening)
        self.addCleanup(self.cut)
        self.portNumber = port.getHost().port

    def cut(self):
        for protocol in list(self.relay.connections):
            protocol.transport.abortConnection()



class LoopbackTlsTests(TlsRelayCase):
    """HeadlessClient against it, asking for 127.0.0.1 or localhost."""

    def start(
        self, settings: Optional[TlsSettings] = None, host: str = "localhost", retry=FAST_RETRY
    ) -> HeadlessClient:
        client = HeadlessClient(
            reactor,
            "ssl:%s:%d" % (host, self.portNumber),
            "alice",
            kdfParams=TEST_KDF,
            retryPolicy=retry,
            tls=settings,
        )
        self.events: List[ev.Event] = []
        client.listen(self.events.append)
        client.startService()
        self.addCleanup(client.quit)
        return client

    @inlineCallbacks
    def refused(self, settings: Optional[TlsSettings], says: str, host: str = "127.0.0.1"):
        """
        The client is refused with a sentence containing C{says}, and never
        registers.  By address: after a refusal HostnameEndpoint would try
        localhost's other address (::1) 0.3 s later, a timer left behind.
        """
        client = self.start(settings, host, retry=lambda attempt: 5.0)
        error = yield client.waitFor(lambda e: isinstance(e, ev.Error) and e.code == "tls", WAIT)
        lost = yield client.waitFor(ev.Disconnected, WAIT)
        self.assertIn(says, error.message)
        self.assertEqual(lost.reason, error.message)
        self.assertNotIn("Traceback", error.message)
        self.assertFalse(any(isinstance(e, ev.Connected) for e in self.events))
        return error

    @inlineCallbacks
    def test_rightNameAndTrustedCAConnects(self):
        yield self.serve(*self.pki.server("good"))
        client = self.start(TlsSettings(trustFile=self.pki.caFile))
        event = yield client.waitFor(ev.Connected, WAIT)
        self.assertEqual(event.nick, "alice")
        self.assertFalse(any(isinstance(e, ev.Error) for e in self.events))

    @inlineCallbacks
    def test_wrongNameIsRefused(self):
        """A certificate from the trusted CA, but for another host: someone else answering."""
        yield self.serve(*self.pki.server("other", ("relay.example",)))
        error = yield self.refused(TlsSettings(trustFile=self.pki.caFile), "is for relay.example, 127.0.0.2")
        self.assertIn("not 127.0.0.1", error.message)

    @inlineCallbacks
    def test_wrongHostNameIsRefused(self):
        """The same by name (SNI sent, DNS name checked)."""
        yield self.serve(*self.pki.server("other", ("relay.example",)))
        error = yield self.refused(TlsSettings(trustFile=self.pki.caFile), "is for relay.example", "localhost")
        self.assertIn("not localhost", error.message)

    @inlineCallbacks
    def test_unknownCAIsRefused(self):
        """Right name, but signed by a CA we were not told to trust."""
        stranger = PKI(self.mktemp(), "somebody else's CA")
        yield self.serve(*stranger.server("stranger"))
        error = yield self.refused(
            TlsSettings(trustFile=self.pki.caFile), "not signed by an authority this client trusts"
        )
        self.assertIn("somebody else's CA", error.message)
        self.assertIn("--tls-trust FILE", error.message)

    @inlineCallbacks
    def test_defaultTrustsOnlyTheSystemAuthorities(self):
        """
        With no option, a private CA's certificate is refused: before, ssl:
        accepted any certificate at all.
        """
        yield self.serve(*self.pki.server("good"))
        yield self.refused(None, "not signed by an authority")

    @inlineCallbacks
    def test_expiredCertificateIsRefused(self):
        yield self.serve(*self.pki.server("old", validFor=(-2 * HOUR, -HOUR)))
        yield self.refused(TlsSettings(trustFile=self.pki.caFile), "expired on")

    @inlineCallbacks
    def test_selfSignedServerCertificateCanBeTrusted(self):
        """--tls-trust may name the server's own self-signed certificate (no CA)."""
        keyFile, certFile = self.pki.server("self", selfSigned=True)
        yield self.serve(keyFile, certFile)
        client = self.start(TlsSettings(trustFile=certFile))
        yield client.waitFor(ev.Connected, WAIT)

    @inlineCallbacks
    def test_selfSignedServerCertificateIsNotTrustedByDefault(self):
        yield self.serve(*self.pki.server("self", selfSigned=True))
        yield self.refused(TlsSettings(trustFile=self.pki.caFile), "is self-signed and not trusted here")

    @inlineCallbacks
    def test_certificateWithoutSubjectAltNameIsRefused(self):
        """
        CN=localhost only: service_identity refuses to match it, and Twisted's
        own verify callback only logged that refusal and let the handshake go on.
        """
        yield self.serve(*self.pki.server("cn-only", subjectAltName=False))
        yield self.refused(
            TlsSettings(trustFile=self.pki.caFile),
            "its certificate (CN=localhost) names no host: it has no subjectAltName",
        )

    @inlineCallbacks
    def test_serverWithoutTlsIsAReadableError(self):
        """ssl: to a relay that speaks plain IRC: a sentence, not an OpenSSL tuple."""
        self.relay = RelayFactory()
        port = yield serverFromString(reactor, "tcp:0:interface=127.0.0.1").listen(self.relay)
        self.addCleanup(port.stopListening)
        self.addCleanup(self.cut)
        self.portNumber = port.getHost().port
        error = yield self.refused(TlsSettings(trustFile=self.pki.caFile), "TLS: handshake with 127.0.0.1:")
        self.assertIn("does not seem to speak TLS on this port", error.message)
        self.assertNotIn("SSL routines", error.message)
        self.assertNotIn("[(", error.message)

    @inlineCallbacks
    def test_insecureConnectsAndSaysSo(self):
        stranger = PKI(self.mktemp(), "somebody else's CA")
        yield self.serve(*stranger.server("other", ("relay.example",)))
        client = self.start(TlsSettings(insecure=True))
        yield client.waitFor(ev.Connected, WAIT)
        [warning] = [e for e in self.events if isinstance(e, ev.Error)]
        self.assertEqual(warning.code, "tls-unverified")
        self.assertIn("anyone on the path can read and change this connection", warning.message)


class OptionTests(SynchronousTestCase):
    """The command line, the twistd plugin and securechat-mitm take the same two options."""

    def setUp(self):
        self.pki = PKI(self.mktemp())

    def test_commandLineRefusesNonsenseAtStart(self):
        for argv, says in (
            (["--insecure-skip-tls-verify"], "apply to ssl: or tls: servers only"),
            (["--server", "ssl:relay.example:6697", "--tls-trust", self.mktemp()], "--tls-trust"),
            (["--server", "ssl:relay.example:6697", "--tls-trust", self.pki.caFile,
              "--insecure-skip-tls-verify"], "contradict"),
        ):
            stderr = io.StringIO()
            self.patch(sys, "stderr", stderr)
            with self.assertRaises(SystemExit) as exited:
                cli.main(["--json"] + argv)
            self.assertEqual(exited.exception.code, cli.EXIT_USAGE)
            self.assertIn(says, stderr.getvalue())

    def test_pluginChecksTheServer(self):
        options = tap.Options()
        options.parseOptions(["-s", "ssl:relay.example:6697", "--tls-trust", self.pki.caFile])
        self.assertEqual(options.tlsSettings(), TlsSettings(self.pki.caFile, False))
        [client] = [s for s in tap.makeService(options) if isinstance(s, HeadlessClient)]
        self.assertIsInstance(client.endpoint, CheckedTlsEndpoint)
        self.assertEqual(client.endpoint.settings, TlsSettings(self.pki.caFile, False))
        options = tap.Options()
        options.parseOptions(["-s", "ssl:relay.example:6697"])
        [client] = [s for s in tap.makeService(options) if isinstance(s, HeadlessClient)]
        self.assertEqual(client.endpoint.settings, TlsSettings())
        for argv in (
            ["--insecure-skip-tls-verify"],
            ["-s", "ssl:relay.example:6697", "--tls-trust", self.mktemp()],
            ["-s", "ssl:relay.example:6697:certKey=x", "--insecure-skip-tls-verify"],
        ):
            self.assertRaises(usage.UsageError, tap.Options().parseOptions, argv)
        self.assertIn("--insecure-skip-tls-verify", tap.Options().getUsage())

    def test_mitmUpstreamIsCheckedToo(self):
        for argv, says in (
            (["--insecure-skip-tls-verify"], "apply to ssl: or tls: servers only"),
            (["--upstream", "ssl:relay.example:6697", "--tls-trust", self.mktemp()], "--tls-trust"),
        ):
            stderr = io.StringIO()
            self.patch(mitmCli.sys, "stderr", stderr)
            with self.assertRaises(SystemExit) as exited:
                mitmCli.main(argv, out=io.StringIO())
            self.assertEqual(exited.exception.code, 2)
            self.assertIn(says, stderr.getvalue())


class Events(ProcessProtocol):
    def __init__(self) -> None:
        self.buffer = b""
        self.events: List[dict] = []
        self.stderr = b""
        self.ended: Deferred = Deferred()
        self.waiting: List[Tuple[object, Deferred]] = []

    def outReceived(self, data: bytes) -> None:
        self.buffer += data
        while b"\n" in self.buffer:
            line, self.buffer = self.buffer.split(b"\n", 1)
            event = json.loads(line)
            self.events.append(event)
            for match, d in list(self.waiting):
                if match(event):
                    self.waiting.remove((match, d))
                    d.callback(event)

    def errReceived(self, data: bytes) -> None:
        self.stderr += data

    def wait(self, match) -> Deferred:
        d: Deferred = Deferred()
        self.waiting.append((match, d))
        return d

    def processEnded(self, reason) -> None:
        self.ended.callback(reason.value.exitCode)


class CommandLineTlsTests(TlsRelayCase):
    """`securechat --json --server ssl:...`: the options reach the connection."""

    timeout = 60

    def spawn(self, *extra: str) -> Events:
        protocol = Events()
        env = dict(os.environ)
        top = os.path.dirname(os.path.dirname(os.path.abspath(cli.__file__)))
        env["PYTHONPATH"] = os.pathsep.join([top] + sys.path)
        env.pop("SECURECHAT_KEY", None)
        reactor.spawnProcess(
            protocol,
            sys.executable,
            [sys.executable, "-m", "securechat", "--json", "--nick", "carol",
             "--server", "ssl:127.0.0.1:%d" % (self.portNumber,),
             "--state-dir", os.path.abspath(self.mktemp())] + list(extra),
            env=env,
        )
        return protocol

    @inlineCallbacks
    def runClient(self, *extra: str):
        yield self.serve(*self.pki.server("good"))
        child = self.spawn(*extra)
        first = yield child.wait(lambda e: e["type"] in ("connected", "disconnected"))
        child.transport.closeStdin()
        code = yield child.ended
        self.assertEqual(code, 0, child.stderr)
        return first, child

    @inlineCallbacks
    def test_trustedCAConnects(self):
        first, child = yield self.runClient("--tls-trust", self.pki.caFile)
        self.assertEqual(first["type"], "connected")

    @inlineCallbacks
    def test_unknownCAIsRefusedWithAnErrorEvent(self):
        first, child = yield self.runClient()
        [error] = [e for e in child.events if e["type"] == "error"]
        self.assertEqual(error["code"], "tls")
        self.assertIn("not signed by an authority this client trusts", error["message"])
        self.assertEqual((first["type"], first["reason"]), ("disconnected", error["message"]))
        self.assertNotIn(b"Traceback", child.stderr)

    @inlineCallbacks
    def test_insecureSaysSoAndConnects(self):
        first, child = yield self.runClient("--insecure-skip-tls-verify")
        self.assertEqual(first["type"], "connected")
        self.assertEqual(child.events[0]["code"], "tls-unverified")
