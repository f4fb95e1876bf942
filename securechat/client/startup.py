"""
What the command line and the twistd plugin share: building a
L{HeadlessClient} from options, and keying the rooms given at startup.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional

from ..codec import LAYERS
from ..tlsclient import TlsSettings
from .headless import HeadlessClient
from .kdfworker import derive_one_at_a_time
from .passphrases import readKeyFile
from .session import DEFAULT_KEYED_LAYER

#: Where the client connects when no --server is given.
DEFAULT_SERVER = "tcp:127.0.0.1:6667"


def buildClient(
    reactor: Any,
    server: str,
    nick: str,
    serverPasswordFile: Optional[str] = None,
    tlsTrust: Optional[str] = None,
    insecureTls: bool = False,
    **options: Any,
) -> HeadlessClient:
    """
    A client (not started) for C{server}; the server password comes from a
    file.  An C{ssl:}/C{tls:} server's certificate is checked against the
    system's authorities, or those in C{tlsTrust}; C{insecureTls} skips it.
    """
    password = readKeyFile(serverPasswordFile) if serverPasswordFile else None
    tls = TlsSettings(trustFile=tlsTrust, insecure=insecureTls)
    return HeadlessClient(reactor, server, nick, password=password, tls=tls, **options)


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
                passphrase, session.codecTarget(room), client.kdf_params, session.codecFold
            )
            client.set_keys(room, keys, layer or DEFAULT_KEYED_LAYER)
