"""
TLS to the relay that checks who answers.

Twisted's C{ssl:HOST:PORT} client endpoint checks nothing: it accepts any
certificate, for any name, so anyone on the path could read the server
password and every line.  Here C{ssl:} and C{tls:} client descriptions both
become Twisted's verifying client (L{optionsForClientTLS}) with a verify
callback of ours (L{CheckingCreator}): the certificate must chain to a
trusted authority (the system's, or the ones in the C{--tls-trust} file)
and name, in its subjectAltName, the host we asked for.  Skipping the checks
takes C{--insecure-skip-tls-verify}, and every connection made that way
says so, loudly.

A refused certificate ends the connection before anything of ours is sent
(NICK, PASS and the rest wait for the handshake), with a sentence saying
what was wrong, not an OpenSSL tuple.
"""

from __future__ import annotations

import datetime
from typing import Any, Callable, Dict, List, Optional, cast

import attr
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import HostnameEndpoint, clientFromString, wrapClientTLS
from twisted.internet.interfaces import IOpenSSLClientConnectionCreator, IProtocol, IStreamClientEndpoint
from twisted.internet.protocol import connectionDone
from twisted.logger import Logger
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory
from twisted.python.failure import Failure
from zope.interface import implementer

#: Client descriptions that mean TLS (Twisted's names for it).
TLS_TYPES = ("ssl", "tls")
#: What an C{ssl:}/C{tls:} description may hold besides host and port.
TLS_KEYWORDS = ("host", "port", "timeout", "bindAddress")
DEFAULT_TIMEOUT = 30

INSECURE_OPTION = "--insecure-skip-tls-verify"
TRUST_OPTION = "--tls-trust"
#: The two options' help, the same for every command that connects to a server.
TRUST_HELP = (
    "PEM file of CA certificates (or the server's self-signed certificate) to trust for "
    "an ssl: server, instead of the system's authorities"
)
INSECURE_HELP = (
    "DANGEROUS: do not check the ssl: server's certificate or name (anyone on the path "
    "can then read the server password and every line); warns on every connection"
)

log = Logger()


class TlsRefused(Exception):
    """The server's certificate was refused; the message says why, for a person."""


@attr.s(frozen=True, slots=True, auto_attribs=True)
class TlsSettings:
    """
    How to check the server: C{trustFile} is a PEM file of CA certificates
    (or self-signed server certificates) to trust instead of the system's;
    C{insecure} skips every check.
    """

    trustFile: Optional[str] = None
    insecure: bool = False

    @property
    def isDefault(self) -> bool:
        return self.trustFile is None and not self.insecure


@attr.s(frozen=True, slots=True, auto_attribs=True)
class TlsTarget:
    """Where a C{ssl:}/C{tls:} description points."""

    host: str
    port: int
    timeout: int = DEFAULT_TIMEOUT
    bindAddress: Optional[str] = None


def _split(description: str) -> List[str]:
    """Split on colons not escaped with a backslash, as Twisted does (C{tls:\\:\\:1:6697})."""
    parts: List[str] = []
    current: List[str] = []
    chars = iter(description)
    for char in chars:
        if char == "\\":
            current.append(next(chars, ""))
        elif char == ":":
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def isTlsDescription(description: str) -> bool:
    """Does this client description ask for TLS (C{ssl:} or C{tls:})?"""
    return _split(description)[0].lower() in TLS_TYPES


def parseTlsDescription(description: str) -> TlsTarget:
    """The host and port of a C{ssl:}/C{tls:} client description; L{ValueError} saying why not."""
    kind, *rest = _split(description)
    positional: List[str] = []
    keywords: Dict[str, str] = {}
    for part in rest:
        if "=" in part:
            name, value = part.split("=", 1)
            if name not in TLS_KEYWORDS:
                raise ValueError(
                    "%r: %s: accepts only %s (trust a CA with %s FILE)"
                    % (description, kind, ", ".join(TLS_KEYWORDS), TRUST_OPTION)
                )
            keywords[name] = value
        else:
            positional.append(part)
    for name, value in zip(("host", "port"), positional):
        if name in keywords:
            raise ValueError("%r: %s given twice" % (description, name))
        keywords[name] = value
    if len(positional) > 2 or not keywords.get("host") or "port" not in keywords:
        raise ValueError("%r: expected %s:HOST:PORT" % (description, kind))
    try:
        port = int(keywords["port"])
        timeout = int(keywords.get("timeout", DEFAULT_TIMEOUT))
    except ValueError:
        raise ValueError("%r: port and timeout must be numbers" % (description,)) from None
    if not 0 < port < 65536 or timeout <= 0:
        raise ValueError("%r: port must be 1-65535 and timeout positive" % (description,))
    return TlsTarget(keywords["host"], port, timeout, keywords.get("bindAddress"))


def loadTrustFile(path: str) -> List[x509.Certificate]:
    """The certificates of a PEM file; L{ValueError} with a sentence if there are none."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as error:
        raise ValueError("%s %s: %s" % (TRUST_OPTION, path, error.strerror or error)) from None
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError:
        certificates = []
    if not certificates:
        raise ValueError("%s %s: no PEM certificate in the file" % (TRUST_OPTION, path))
    return certificates


def checkTlsSettings(description: str, settings: TlsSettings) -> None:
    """
    L{ValueError}, saying why, unless C{settings} make sense for the
    client endpoint C{description}: checked at start, like the endpoint.
    """
    if settings.insecure and settings.trustFile is not None:
        raise ValueError(
            "%s and %s contradict each other: choose one" % (INSECURE_OPTION, TRUST_OPTION)
        )
    if not isTlsDescription(description):
        if not settings.isDefault:
            raise ValueError(
                "%s and %s apply to ssl: or tls: servers only, not %r"
                % (TRUST_OPTION, INSECURE_OPTION, description)
            )
        return
    parseTlsDescription(description)
    if settings.trustFile is not None:
        loadTrustFile(settings.trustFile)


def _trustRoot(settings: TlsSettings) -> Any:
    from twisted.internet.ssl import Certificate, platformTrust, trustRootFromCertificates

    if settings.trustFile is None:
        return platformTrust()
    return trustRootFromCertificates(
        [Certificate.loadPEM(cert.public_bytes(Encoding.PEM)) for cert in loadTrustFile(settings.trustFile)]
    )


def clientEndpoint(
    reactor: Any,
    description: str,
    settings: TlsSettings = TlsSettings(),
    report: Optional[Callable[[str, str], None]] = None,
) -> IStreamClientEndpoint:
    """
    The client endpoint for C{description}: Twisted's for plain ones, a
    verifying TLS endpoint for C{ssl:} and C{tls:}.  C{report(message,
    code)} hears of refused certificates and of unchecked connections
    (without it they are logged as warnings).
    """
    checkTlsSettings(description, settings)
    if not isTlsDescription(description):
        return clientFromString(reactor, description)
    from twisted.internet.ssl import CertificateOptions, optionsForClientTLS

    target = parseTlsDescription(description)
    if settings.insecure:
        creator: Any = CertificateOptions()  # verifies nothing: the user asked for it
    else:
        creator = CheckingCreator(target, optionsForClientTLS(target.host, trustRoot=_trustRoot(settings)))
    bind = (target.bindAddress, 0) if target.bindAddress else None
    tcp = HostnameEndpoint(reactor, target.host, target.port, timeout=target.timeout, bindAddress=bind)
    return CheckedTlsEndpoint(wrapClientTLS(creator, tcp), target, settings, report)


#: OpenSSL's X509_V_ERR_* codes met in practice, for the sentence.
_NOT_YET_VALID, _EXPIRED = 9, 10
_SELF_SIGNED = 18
_UNTRUSTED_ISSUER = (2, 19, 20, 21, 24)
_WRONG_PURPOSE = 26


def _names(certificate: x509.Certificate) -> str:
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return "no host"
    names = [str(n) for n in san.get_values_for_type(x509.DNSName)]
    names += [str(n) for n in san.get_values_for_type(x509.IPAddress)]
    return ", ".join(names) or "no host"


def _when(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def refusalSentence(target: TlsTarget, certificate: x509.Certificate, error: int) -> str:
    """Why OpenSSL refused C{certificate} (X509_V_ERR C{error}), for a person."""
    where = "TLS: refused %s:%d:" % (target.host, target.port)
    subject = certificate.subject.rfc4514_string() or "no subject"
    if error == _EXPIRED:
        return "%s its certificate (%s) expired on %s" % (where, subject, _when(certificate.not_valid_after_utc))
    if error == _NOT_YET_VALID:
        return "%s its certificate (%s) is not valid before %s" % (
            where, subject, _when(certificate.not_valid_before_utc))
    hint = "; to trust a private CA or a self-signed certificate use %s FILE" % (TRUST_OPTION,)
    if error == _SELF_SIGNED:
        return "%s its certificate (%s) is self-signed and not trusted here%s" % (where, subject, hint)
    if error in _UNTRUSTED_ISSUER:
        return "%s its certificate (%s, issued by %s) is not signed by an authority this client trusts%s" % (
            where, subject, certificate.issuer.rfc4514_string() or "no name", hint)
    if error == _WRONG_PURPOSE:
        return "%s its certificate (%s) is not meant for a TLS server" % (where, subject)
    return "%s its certificate (%s) failed verification (OpenSSL X509 error %d)" % (where, subject, error)


@implementer(IOpenSSLClientConnectionCreator)
class CheckingCreator:
    """
    Twisted's verifying client connections (trust roots, SNI), with our own
    verify callback: it checks the chain and the host name like Twisted's,
    also refuses a certificate without subjectAltName (Twisted's callback
    only logged service_identity's CertificateError and let it through),
    and fails the connection with a sentence instead of an OpenSSL tuple.
    """

    def __init__(self, target: TlsTarget, inner: Any) -> None:
        from service_identity.hazmat import DNS_ID, IPAddress_ID

        self.target = target
        self.inner = inner
        self.serviceID = (
            IPAddress_ID(target.host) if _isIPAddress(target.host) else DNS_ID(target.host)
        )

    def clientConnectionForTLS(self, tlsProtocol: Any) -> Any:
        from OpenSSL.SSL import VERIFY_FAIL_IF_NO_PEER_CERT, VERIFY_PEER

        connection = self.inner.clientConnectionForTLS(tlsProtocol)
        connection.set_verify(VERIFY_PEER | VERIFY_FAIL_IF_NO_PEER_CERT, self._verifier(tlsProtocol))
        return connection

    def _verifier(self, tlsProtocol: Any) -> Callable[..., bool]:
        from service_identity.exceptions import CertificateError, VerificationError
        from service_identity.hazmat import verify_service_identity
        from service_identity.pyopenssl import extract_patterns

        refused: List[str] = []

        def refuse(sentence: str) -> bool:
            if not refused:
                refused.append(sentence)
                tlsProtocol.failVerification(Failure(TlsRefused(sentence)))
            return False

        def verify(connection: Any, certificate: Any, error: int, depth: int, ok: int) -> bool:
            try:
                if refused:
                    return False
                if not ok:
                    return refuse(refusalSentence(self.target, certificate.to_cryptography(), error))
                if depth != 0:
                    return True
                where = "TLS: refused %s:%d:" % (self.target.host, self.target.port)
                try:
                    verify_service_identity(extract_patterns(certificate), [self.serviceID], [])
                except VerificationError:
                    return refuse(
                        "%s its certificate is for %s, not %s (someone else may be answering)"
                        % (where, _names(certificate.to_cryptography()), self.target.host)
                    )
                except CertificateError:
                    subject = certificate.to_cryptography().subject.rfc4514_string() or "no subject"
                    return refuse(
                        "%s its certificate (%s) names no host: it has no subjectAltName, and a "
                        "common name alone is not accepted" % (where, subject)
                    )
                return True
            except BaseException:
                # An exception inside an OpenSSL callback is lost: refuse instead.
                log.failure("while verifying the certificate of {host}", host=self.target.host)
                return refuse("TLS: refused %s:%d: its certificate could not be checked" % (
                    self.target.host, self.target.port))

        return verify


def _isIPAddress(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


@implementer(IStreamClientEndpoint)
class CheckedTlsEndpoint:
    """A TLS client endpoint that reports refusals and warns on every unchecked connect."""

    def __init__(
        self,
        wrapped: IStreamClientEndpoint,
        target: TlsTarget,
        settings: TlsSettings,
        report: Optional[Callable[[str, str], None]],
    ) -> None:
        self.wrapped = wrapped
        self.target = target
        self.settings = settings
        self.report = report

    def tell(self, message: str, code: str) -> None:
        if self.report is not None:
            self.report(message, code)
        else:
            log.warn("{message}", message=message)

    def connect(self, protocolFactory: Any) -> Deferred:
        if self.settings.insecure:
            self.tell(
                "WARNING: TLS to %s:%d is NOT checked (%s): anyone on the path can read and "
                "change this connection, the server password included"
                % (self.target.host, self.target.port, INSECURE_OPTION),
                "tls-unverified",
            )
        connecting = self.wrapped.connect(_ExplainingFactory(protocolFactory, self))
        # An endpoint fires with the protocol built by *its caller's* factory.
        return connecting.addCallback(_unwrap)


def _unwrap(wrapper: IProtocol) -> IProtocol:
    """The application's protocol inside our wrapper."""
    return cast(ProtocolWrapper, wrapper).wrappedProtocol


class _ExplainingProtocol(ProtocolWrapper):
    """Reports a refused certificate, and hands the application a readable reason."""

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if reason.check(TlsRefused):
            self.factory.endpoint.tell(str(reason.value), "tls")
        else:
            explained = _explainHandshakeFailure(reason, self.factory.endpoint.target)
            if explained is not None:
                self.factory.endpoint.tell(explained, "tls")
                reason = Failure(TlsRefused(explained))
        ProtocolWrapper.connectionLost(self, reason)


class _ExplainingFactory(WrappingFactory):
    protocol = _ExplainingProtocol

    def __init__(self, wrappedFactory: Any, endpoint: CheckedTlsEndpoint) -> None:
        super().__init__(wrappedFactory)
        self.endpoint = endpoint


def _explainHandshakeFailure(reason: Failure, target: TlsTarget) -> Optional[str]:
    """A sentence for a TLS error other than a refused certificate (not TLS at all...)."""
    from OpenSSL.SSL import Error as SSLError

    if not reason.check(SSLError):
        return None
    args = reason.value.args if reason.value is not None else ()
    items = args[0] if args and isinstance(args[0], list) else []
    detail = "; ".join(str(item[-1]) for item in items if isinstance(item, tuple) and item) or str(reason.value)
    if any(sign in detail for sign in ("wrong version number", "packet length too long", "http request")):
        detail += " (the server does not seem to speak TLS on this port)"
    return "TLS: handshake with %s:%d failed: %s" % (target.host, target.port, detail)


__all__ = [
    "INSECURE_OPTION",
    "TRUST_OPTION",
    "CheckedTlsEndpoint",
    "CheckingCreator",
    "TlsRefused",
    "TlsSettings",
    "TlsTarget",
    "checkTlsSettings",
    "clientEndpoint",
    "refusalSentence",
    "isTlsDescription",
    "parseTlsDescription",
]
