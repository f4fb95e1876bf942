"""
The proxy as a service: its options (shared by C{securechat proxy} and
C{twistd -n securechat-proxy}), the listening port, the state directory,
the key derivation worker.

It listens on loopback only unless told (C{--allow-remote}), and then only
with a password (C{--password-file} or C{$SECURECHAT_PROXY_PASSWORD},
never argv): whoever reaches the port speaks, and reads, as the user.
"""

from __future__ import annotations

import ipaddress
import os
import sys
import time
from typing import Any, Callable, List, Optional

from twisted.application.service import Service
from twisted.internet.defer import Deferred, maybeDeferred, succeed
from twisted.internet.endpoints import UNIXServerEndpoint, serverFromString
from twisted.logger import Logger
from twisted.python import usage

from ..cannotstart import CannotStart
from ..client.adapters.headless import SESSION_LOG_NAMESPACE
from ..client.adapters.options import SecretFreeOptions, checkedStateDir
from ..client.adapters.passphrases import PassphraseError, readKeyFile
from ..client.adapters.persist import StateKeeper
from ..client.adapters.startup import DEFAULT_SERVER
from ..client.adapters.statedir import STATE_DIR_HELP, StateDir, StateError
from ..client.adapters.upkeep import SessionUpkeep
from ..client.core.session import ClientSession
from ..codec import DEFAULT_KDF, KdfParams, RoomKeys
from ..endpointstrings import PARSE_ERRORS, checkClientEndpoint
from ..tlsclient import INSECURE_HELP, TRUST_HELP, TlsSettings, checkTlsSettings, clientEndpoint
from .core import MARK_MODES, ProxyCore
from .protocol import DownstreamFactory

DEFAULT_LISTEN = "tcp:6668:interface=127.0.0.1"
PASSWORD_ENV = "SECURECHAT_PROXY_PASSWORD"
#: The session's nick until the IRC client sends its own: no nick can be
#: "*", so the pin of our own key made for it stands for nobody.
PLACEHOLDER_NICK = "*"
#: The namespace of the proxy core's events: what it was when it logged them itself.
CORE_LOG_NAMESPACE = "securechat.proxy.core.ProxyCore"


def listensOnLoopbackOnly(description: str) -> bool:
    """
    Whether a server endpoint description reaches this machine only: a
    UNIX socket, or TCP/SSL bound to a loopback address.  No interface
    means every interface; an endpoint type we cannot read is not believed.
    """
    try:
        endpoint = serverFromString(None, description)
    except PARSE_ERRORS as error:
        raise ValueError("%r is not a usable endpoint: %s" % (description, error)) from None
    if isinstance(endpoint, UNIXServerEndpoint):
        return True
    interface = getattr(endpoint, "_interface", None)
    if not isinstance(interface, str) or not interface:
        return False
    if interface == "localhost":
        return True
    try:
        return ipaddress.ip_address(interface.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def readPassword(path: Optional[str], environ: Optional[dict] = None) -> Optional[bytes]:
    """The proxy password from a file, else the environment, else L{None}."""
    if path:
        return readKeyFile(path)
    value = (os.environ if environ is None else environ).get(PASSWORD_ENV)
    return value.encode("utf-8") if value else None


class Options(SecretFreeOptions):
    synopsis = "[options]"
    longdesc = (
        "A local IRC proxy: point irssi, weechat or any IRC client at it, and it protects "
        "the messages to and from keyed rooms and peers. /msg *securechat help once connected."
    )
    optParameters = [
        ["listen", "l", DEFAULT_LISTEN, "Server endpoint the IRC client connects to (loopback unless --allow-remote)."],
        ["server", "s", DEFAULT_SERVER,
         "Client endpoint of the IRC server (ssl:HOST:PORT checks its certificate and name)."],
        ["password-file", None, None,
         "File holding the password the IRC client must give (its server password); else $%s. "
         "Required with --allow-remote." % (PASSWORD_ENV,)],
        ["mark", "m", "prefix", "How an opened message shows its protection: prefix ([auth+fresh] text), "
         "tag (a securechat/protection message tag, for clients that negotiate message-tags), or both."],
        ["tls-trust", None, None, TRUST_HELP + "."],
        ["state-dir", None, None, STATE_DIR_HELP + " (shared with the client)."],
    ]
    optFlags = [
        ["allow-remote", None, "Listen beyond loopback (a password is then required)."],
        ["insecure-skip-tls-verify", None, INSECURE_HELP + "."],
    ]
    secretRefusal = (
        "a secret on the command line is visible to every user (ps): use --password-file PATH "
        "or $%s for the proxy's password, /msg *securechat key for keys" % (PASSWORD_ENV,)
    )

    def tlsSettings(self) -> TlsSettings:
        return TlsSettings(self["tls-trust"], bool(self["insecure-skip-tls-verify"]))

    def postOptions(self) -> None:
        if self["mark"] not in MARK_MODES:
            raise usage.UsageError("--mark must be one of " + ", ".join(MARK_MODES))
        try:
            checkClientEndpoint(self["server"])
            checkTlsSettings(self["server"], self.tlsSettings())
            loopback = listensOnLoopbackOnly(self["listen"])
        except ValueError as error:
            raise usage.UsageError(str(error)) from None
        try:
            self["password"] = readPassword(self["password-file"])
        except PassphraseError as exc:
            raise usage.UsageError(str(exc)) from None
        if not loopback:
            if not self["allow-remote"]:
                raise usage.UsageError(
                    "--listen %s reaches beyond this machine: whoever connects reads and writes as you. "
                    "Listen on loopback (%s), or add --allow-remote with a password" % (self["listen"], DEFAULT_LISTEN)
                )
            if self["password"] is None:
                raise usage.UsageError(
                    "--allow-remote needs a password: --password-file PATH or $%s" % (PASSWORD_ENV,)
                )
        self["state-dir"] = checkedStateDir(self["state-dir"])


class ProxyService(Service):
    """The proxy: listens for one IRC client, connects it to the server through the core."""

    log = Logger()

    def __init__(
        self,
        reactor: Any,
        listen: str,
        server: str,
        *,
        tls: Optional[TlsSettings] = None,
        password: Optional[bytes] = None,
        mark: str = "prefix",
        stateDir: Optional[str] = None,
        kdfParams: Optional[KdfParams] = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.reactor = reactor
        self.listen = listen
        self.kdfParams = kdfParams if kdfParams is not None else DEFAULT_KDF
        self.keeper: Optional[StateKeeper] = None
        options: dict = {}
        if stateDir is not None:
            self.keeper = StateKeeper(StateDir.open(stateDir), server, reactor, time.time)
            options = {"identity": self.keeper.identity, "trust": self.keeper.trust}
        def makeSession(emit: Callable[[Any], None]) -> ClientSession:
            session = ClientSession(
                PLACEHOLDER_NICK, emit, clock=clock, log=Logger(namespace=SESSION_LOG_NAMESPACE),
                onConversation=None if self.keeper is None else self.keeper.restore, **options
            )
            if self.keeper is not None:
                self.keeper.attach(session)
            return session

        endpoint = clientEndpoint(reactor, server, tls or TlsSettings(), self._tlsReport)
        self.factory = DownstreamFactory(
            lambda links: ProxyCore(
                makeSession, self._derive, links, password=password, mark=mark, clock=clock,
                log=Logger(namespace=CORE_LOG_NAMESPACE),
            ),
            reactor,
            endpoint,
        )
        self.core = self.factory.core
        self.session = self.core.session
        self.port: Any = None
        self.listening: Optional[Deferred] = None
        #: The key worker and the expiry loop, as every face's session has them.
        self.upkeep = SessionUpkeep(reactor, self.session)

    def _derive(
        self, codecTarget: str, passphrase: bytes, done: Callable[[Optional[RoomKeys], Optional[str]], None]
    ) -> None:
        derived = self.upkeep.derive(codecTarget, passphrase, self.kdfParams)
        derived.addCallbacks(lambda keys: done(keys, None), lambda failure: done(None, failure.getErrorMessage()))

    def _tlsReport(self, message: str, code: str) -> None:
        self.log.warn("{message}", message=message)
        self.core.tell(message)

    def startService(self) -> None:
        Service.startService(self)
        if self.keeper is not None:
            self.keeper.startService()
        self.upkeep.start()
        listening = serverFromString(self.reactor, self.listen).listen(self.factory)

        def listened(port: Any) -> Any:
            self.port = port
            self.log.info("securechat proxy listening on {listen}", listen=self.listen)
            return port

        listening.addCallback(listened)
        self.listening = listening

    def stopService(self) -> Deferred:
        Service.stopService(self)
        self.upkeep.stop()
        self.factory.closeClient("the proxy is stopping")
        self.factory.closeUpstream()
        if self.keeper is not None:
            self.keeper.stopService()
        if self.port is not None:
            port, self.port = self.port, None
            return maybeDeferred(port.stopListening)
        return succeed(None)


def makeService(options: Options, reactor: Any = None) -> ProxyService:
    if reactor is None:
        from twisted.internet import reactor as defaultReactor

        reactor = defaultReactor
    return ProxyService(
        reactor,
        options["listen"],
        options["server"],
        tls=options.tlsSettings(),
        password=options["password"],
        mark=options["mark"],
        stateDir=options["state-dir"],
    )


def main(argv: List[str]) -> int:
    """
    C{securechat proxy ...}: run until interrupted.  L{CannotStart} for bad
    options, an unusable state directory, or an endpoint it cannot listen on.
    """
    options = Options()
    try:
        options.parseOptions(argv)
    except usage.UsageError as error:
        raise CannotStart("proxy: %s\n(securechat proxy --help for the options)" % (error,)) from None
    from twisted.internet import reactor as defaultReactor
    from twisted.logger import globalLogBeginner, textFileLogObserver

    reactor: Any = defaultReactor

    try:
        service = makeService(options, reactor)
    except StateError as exc:
        raise CannotStart("proxy: --state-dir: %s" % (exc,)) from None
    observer: Any = textFileLogObserver(sys.stderr)
    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)
    refusal: List[str] = []

    def start() -> None:
        service.startService()
        assert service.listening is not None

        def failed(reason: Any) -> None:
            refusal.append("proxy: cannot listen on %s: %s" % (options["listen"], reason.getErrorMessage()))
            reactor.stop()

        service.listening.addErrback(failed)

    reactor.callWhenRunning(start)
    reactor.addSystemEventTrigger("before", "shutdown", service.stopService)
    reactor.run()
    if refusal:
        raise CannotStart(refusal[0], status=1)
    return 0
