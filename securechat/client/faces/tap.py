"""
C{twistd -n securechat-client}: the headless client as a long-running
service, e.g. a bot that joins rooms, decrypts, and logs what it sees or
writes it as JSON lines to a file.  Passphrases come from C{--key-file} or
C{$SECURECHAT_KEY}, never from the command line.
"""

from __future__ import annotations

import sys
from typing import IO, Any, List, Optional, cast

from twisted.application.service import IService, MultiService, Service
from twisted.internet.defer import Deferred, maybeDeferred, succeed
from twisted.logger import Logger
from twisted.python import usage

from ...codec import LAYERS, KdfUnavailable
from ...endpointstrings import serverDescription
from ...tlsclient import INSECURE_HELP, TRUST_HELP, TlsSettings, checkTlsSettings
from ..adapters.options import SecretFreeOptions, checkedStateDir
from ..adapters.passphrases import ENV_VAR, PassphraseError, readKeyFile, startupPassphrase
from ..adapters.startup import DEFAULT_SERVER, buildClient, keyRooms
from ..adapters.statedir import STATE_DIR_HELP, StateError
from ..core import events as ev
from ..core.session import ClientSession, CommandError, checkWord
from .jsonlines import encodeEvent


class Options(SecretFreeOptions):
    synopsis = "[options]"
    longdesc = (
        "Run a securechat client without a terminal: it joins rooms, decrypts with the "
        "passphrase from --key-file (or $SECURECHAT_KEY), and logs every event, or writes "
        "them as JSON lines to --output.  It reconnects with backoff when the server goes away."
    )
    optParameters = [
        ["server", "s", DEFAULT_SERVER,
         "The IRC server: HOST:PORT, HOST (port 6667), ircs://HOST[:PORT] (TLS, checked) "
         "or a client endpoint (ssl:HOST:PORT checks its certificate and name)."],
        ["nick", "n", "securebot", "Nickname."],
        ["layer", "l", None, "Layer for the joined rooms when a passphrase is given (default fernet-ttl)."],
        ["key-file", "k", None, "File holding the passphrase for the joined rooms."],
        ["server-password-file", None, None, "File holding the IRC server password."],
        ["output", "o", None, "Append events as JSON lines to this file ('-' for stdout)."],
        ["tls-trust", None, None, TRUST_HELP + "."],
        ["state-dir", None, None, STATE_DIR_HELP + "."],
    ]
    optFlags = [
        ["insecure-skip-tls-verify", None, INSECURE_HELP + "."],
    ]
    secretRefusal = (
        "a passphrase on the command line is visible to every user (ps): use --key-file PATH or $%s" % (ENV_VAR,)
    )

    def __init__(self) -> None:
        usage.Options.__init__(self)
        self["join"] = []

    def opt_join(self, room: str) -> None:
        """Room to join (repeatable)."""
        self["join"].append(room)

    opt_j = opt_join

    def tlsSettings(self) -> TlsSettings:
        return TlsSettings(self["tls-trust"], bool(self["insecure-skip-tls-verify"]))

    def postOptions(self) -> None:
        """
        Refuse here what makeService would refuse: twistd shows a
        UsageError from postOptions as a usage message, but one raised
        by makeService as a traceback.
        """
        if self["layer"] is not None and self["layer"] not in LAYERS:
            raise usage.UsageError("--layer must be one of " + ", ".join(LAYERS))
        try:
            self["server"] = serverDescription(self["server"])
        except ValueError as error:
            raise usage.UsageError("--server: %s" % (error,)) from None
        try:
            checkTlsSettings(self["server"], self.tlsSettings())
        except ValueError as error:
            raise usage.UsageError(str(error)) from None
        try:
            checkWord("nick", self["nick"])
            rules = ClientSession(self["nick"], lambda event: None)
            for room in self["join"]:
                rules.join(room)
            # Read to check, not kept: makeService reads them again and drops them.
            startupPassphrase(self["key-file"])
            if self["server-password-file"]:
                readKeyFile(self["server-password-file"])
        except (CommandError, PassphraseError) as exc:
            raise usage.UsageError(str(exc)) from None
        self._checkStateDir()
        if self["output"] not in (None, "-"):
            try:
                open(self["output"], "ab").close()  # appended to from the start
            except (OSError, ValueError) as exc:
                raise usage.UsageError(
                    "--output %s: %s" % (self["output"], getattr(exc, "strerror", None) or exc)
                ) from None

    def _checkStateDir(self) -> None:
        """The state directory must be usable: refused here, as a usage error, if not."""
        self["state-dir"] = checkedStateDir(self["state-dir"])


class EventSink(Service):
    """
    Writes every client event as a JSON line, or logs it.  Events from
    before the start (the startup keys' fingerprints) wait for the file.
    """

    log = Logger()

    def __init__(self, client: Any, path: Optional[str]) -> None:
        self.client = client
        self.path = path
        self.handle: Optional[IO[bytes]] = None
        #: Events before the first start, when there is a file to wait for.
        self._early: Optional[List[ev.Event]] = [] if path else None
        self._unsubscribe = client.listen(self.event)

    def startService(self) -> None:
        Service.startService(self)
        if self.path == "-":
            # Not sys.stdout: twistd replaces it with a file that logs.
            stdout = sys.__stdout__
            if stdout is None:
                raise RuntimeError("--output -: this process has no standard output")
            self.handle = cast(IO[bytes], stdout.buffer)
        elif self.path:
            self.handle = open(self.path, "ab")
        early, self._early = self._early or [], None
        for event in early:
            self.event(event)

    def stopService(self) -> None:
        Service.stopService(self)
        if self.handle is not None and self.path != "-":
            self.handle.close()
        self.handle = None

    def event(self, event: ev.Event) -> None:
        if self.handle is not None:
            self.handle.write(encodeEvent(event))
            self.handle.flush()
            return
        if self._early is not None:
            self._early.append(event)
            return
        if isinstance(event, (ev.RejectedMessage, ev.Error)):
            self.log.warn("{kind}: {event}", kind=event.kind, event=event.asDict())
        else:
            self.log.info("{kind}: {event}", kind=event.kind, event=event.asDict())


class BotService(MultiService):
    """
    Stops its children one after the other, last added first: the client
    says QUIT and loses its connection before the sink closes the output,
    so the last events are written too.
    """

    def stopService(self) -> Deferred:
        Service.stopService(self)
        done: Deferred = succeed(None)
        for service in reversed(list(self)):
            done.addBoth(_stopService, service)
        return done


def _stopService(ignored: object, service: IService) -> Deferred:
    """Stop C{service}, whatever came of stopping the one before."""
    return maybeDeferred(service.stopService)


def makeService(options: Options) -> IService:
    from twisted.internet import reactor

    try:
        passphrase = startupPassphrase(options["key-file"])
    except PassphraseError as exc:
        raise usage.UsageError(str(exc)) from None
    try:
        client = buildClient(
            reactor, options["server"], options["nick"], options["server-password-file"],
            options["tls-trust"], bool(options["insecure-skip-tls-verify"]),
            stateDir=options["state-dir"],
        )
    except StateError as exc:
        raise usage.UsageError("--state-dir: %s" % (exc,)) from None
    top = BotService()
    sink = EventSink(client, options["output"])
    sink.setServiceParent(top)
    if client.stateKeeper is not None:
        # Stopped after the client (BotService stops the last added first):
        # the final, clean save comes after QUIT.
        client.stateKeeper.setServiceParent(top)
    rooms: List[str] = options["join"]
    try:
        keyRooms(client, rooms, passphrase, options["layer"])
    except (ValueError, KdfUnavailable) as exc:
        raise usage.UsageError(str(exc)) from None
    client.setServiceParent(top)
    return top
