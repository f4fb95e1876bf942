"""
C{twistd -n securechat-client}: the headless client as a long-running
service, e.g. a bot that joins rooms, decrypts, and logs what it sees or
writes it as JSON lines to a file.  Passphrases come from C{--key-file} or
C{$SECURECHAT_KEY}, never from the command line.
"""

from __future__ import annotations

import sys
from typing import IO, Any, List, Optional

from twisted.application.service import IService, MultiService, Service
from twisted.logger import Logger
from twisted.python import usage

from ..codec import LAYERS, KdfUnavailable
from . import events as ev
from .jsonlines import encodeEvent
from .passphrases import PassphraseError, startupPassphrase
from .startup import DEFAULT_SERVER, buildClient, keyRooms


class Options(usage.Options):
    synopsis = "[options]"
    longdesc = (
        "Run a securechat client without a terminal: it joins rooms, decrypts with the "
        "passphrase from --key-file (or $SECURECHAT_KEY), and logs every event, or writes "
        "them as JSON lines to --output.  It reconnects with backoff when the server goes away."
    )
    optParameters = [
        ["server", "s", DEFAULT_SERVER, "Client endpoint of the IRC server."],
        ["nick", "n", "securebot", "Nickname."],
        ["layer", "l", None, "Layer for the joined rooms when a passphrase is given (default fernet-ttl)."],
        ["key-file", "k", None, "File holding the passphrase for the joined rooms."],
        ["server-password-file", None, None, "File holding the IRC server password."],
        ["output", "o", None, "Append events as JSON lines to this file ('-' for stdout)."],
    ]

    def __init__(self) -> None:
        usage.Options.__init__(self)
        self["join"] = []

    def opt_join(self, room: str) -> None:
        """Room to join (repeatable)."""
        self["join"].append(room)

    opt_j = opt_join

    def postOptions(self) -> None:
        if self["layer"] is not None and self["layer"] not in LAYERS:
            raise usage.UsageError("--layer must be one of " + ", ".join(LAYERS))


class EventSink(Service):
    """Writes every client event as a JSON line, or logs it."""

    log = Logger()

    def __init__(self, client: Any, path: Optional[str]) -> None:
        self.client = client
        self.path = path
        self.handle: Optional[IO[bytes]] = None
        self._unsubscribe = client.listen(self.event)

    def startService(self) -> None:
        Service.startService(self)
        if self.path == "-":
            self.handle = sys.stdout.buffer
        elif self.path:
            self.handle = open(self.path, "ab")

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
        if isinstance(event, (ev.RejectedMessage, ev.Error)):
            self.log.warn("{kind}: {event}", kind=event.kind, event=event.asDict())
        else:
            self.log.info("{kind}: {event}", kind=event.kind, event=event.asDict())


def makeService(options: Options) -> IService:
    from twisted.internet import reactor

    try:
        passphrase = startupPassphrase(options["key-file"])
    except PassphraseError as exc:
        raise usage.UsageError(str(exc)) from None
    client = buildClient(
        reactor, options["server"], options["nick"], options["server-password-file"]
    )
    top = MultiService()
    sink = EventSink(client, options["output"])
    sink.setServiceParent(top)
    rooms: List[str] = options["join"]
    try:
        keyRooms(client, rooms, passphrase, options["layer"])
    except (ValueError, KdfUnavailable) as exc:
        raise usage.UsageError(str(exc)) from None
    client.setServiceParent(top)
    return top
