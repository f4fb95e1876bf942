"""
Rooms on the forward layer in the state directory: C{forward-<network>.json}
(mode 0600: it holds sender-chain keys), one per server.

Written synchronously whenever a chain moves: BEFORE a message a chain
opened is shown (a restart cannot open it again: no replay window) and
BEFORE a line our chain sealed leaves (a crash never seals twice under one
message key).  If it cannot be written, nothing is sealed on the layer (the
user is told) and what was opened is still shown, with a warning.
"""

from __future__ import annotations

from typing import List

from .keysfile import KeysFileStore, KeysWording, fileFor
from .statedir import StateDir

WORDING = KeysWording(
    exposed="the forward-layer messages of those chains it had not yet used",
    subject="the forward-layer rooms",
    then="/layer forward starts them again",
    thenAside="/layer forward starts the rooms again",
    unreadable="the chains of %s",
    stops="forward-layer rooms: nothing is sealed on them",
)


def forwardFile(network: str) -> str:
    return fileFor("forward", network)


class ForwardStore(KeysFileStore):
    """
    Loads the saved rooms into a L{securechat.client.core.forwardrooms.ForwardRooms}
    part and saves them as its chains move.
    """

    def __init__(self, state: StateDir, network: str, warnings: List[str]) -> None:
        super().__init__(state, forwardFile(network), warnings, WORDING)


__all__ = ["ForwardStore", "forwardFile"]
