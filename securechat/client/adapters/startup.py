"""
What the command line and the twistd plugin share: building a
L{HeadlessClient} from options, and keying the rooms given at startup.
"""

from __future__ import annotations

import time
from typing import Any, Iterable, Optional

from ...cannotstart import CannotStart
from ...codec import LAYERS
from ...tlsclient import TlsSettings
from ..core.session import DEFAULT_KEYED_LAYER
from .headless import HeadlessClient
from .kdfworker import derive_one_at_a_time
from .passphrases import readKeyFile
from .persist import StateKeeper
from .statedir import StateDir, StateError

#: Where the client connects when no --server is given.
DEFAULT_SERVER = "tcp:127.0.0.1:6667"


def buildClient(
    reactor: Any,
    server: str,
    nick: str,
    serverPasswordFile: Optional[str] = None,
    tlsTrust: Optional[str] = None,
    insecureTls: bool = False,
    stateDir: Optional[str] = None,
    **options: Any,
) -> HeadlessClient:
    """
    A client (not started) for C{server}; the server password comes from a
    file.  An C{ssl:}/C{tls:} server's certificate is checked against the
    system's authorities, or those in C{tlsTrust}; C{insecureTls} skips it.
    With C{stateDir}, its identity, pins and replay state live there
    (L{StateError} if that directory cannot be used); start them with
    L{startState}.  Without, they live in memory for this run only.
    """
    password = readKeyFile(serverPasswordFile) if serverPasswordFile else None
    tls = TlsSettings(trustFile=tlsTrust, insecure=insecureTls)
    keeper = None
    if stateDir is not None:
        keeper = StateKeeper(StateDir.open(stateDir), server, reactor, time.time)
    return HeadlessClient(reactor, server, nick, password=password, tls=tls, stateKeeper=keeper, **options)


def clientFromOptions(reactor: Any, options: Any) -> HeadlessClient:
    """
    L{buildClient} from the command line's options (console and JSON mode);
    L{CannotStart} when the state directory is unusable.
    """
    try:
        return buildClient(
            reactor, options.server, options.nick, options.server_password_file,
            options.tls_trust, options.insecure_skip_tls_verify,
            stateDir=getattr(options, "state_dir", None),
        )
    except StateError as exc:
        raise CannotStart(str(exc)) from None


def startState(reactor: Any, client: HeadlessClient) -> None:
    """Start saving C{client}'s state on its schedule, and once more at shutdown."""
    keeper = client.stateKeeper
    if keeper is not None:
        keeper.startService()
        reactor.addSystemEventTrigger("before", "shutdown", keeper.stopService)


def keyRooms(
    client: HeadlessClient,
    rooms: Iterable[str],
    passphrase: Optional[bytes],
    layer: Optional[str],
) -> None:
    """
    Join C{rooms} and, with a passphrase, key them on C{layer} (default
    fernet-ttl).  Derivation runs here, synchronously, once per room,
    before the reactor starts: ~0.25 s each with the default parameters,
    one at a time (L{derive_one_at_a_time}).
    """
    if layer is not None and layer not in LAYERS:
        raise ValueError("unknown layer %r: choose one of %s" % (layer, ", ".join(LAYERS)))
    session = client.session
    for room in rooms:
        client.join(room)
        if passphrase is not None and layer != "plain":
            keys = derive_one_at_a_time(
                passphrase, session.codecTarget(room), client.kdfParams, session.codecFold
            )
            client.setKeys(room, keys, layer or DEFAULT_KEYED_LAYER)
