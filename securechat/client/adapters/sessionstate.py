"""
Pairwise sessions in the state directory: C{sessions-<network>.json}
(mode 0600: it holds ratchet keys), one per server like the conversations.

Unlike the conversations' state (saved every few seconds), a session's
state is written synchronously each time its ratchet moves: BEFORE a
record it opened is shown (so a restart cannot open that message again:
no replay window), and BEFORE a line it sealed leaves (so a crash can
never make the chain seal twice under one message key).  If it cannot be
written, nothing is sealed (the user is told why) and what was opened is
still shown, with a warning that a restart may reopen it.
"""

from __future__ import annotations

from typing import List

from .keysfile import KeysFileStore, KeysWording, fileFor
from .statedir import StateDir

WORDING = KeysWording(
    exposed="the direct messages of those sessions",
    subject="the pairwise sessions",
    then="new ones start with the next message",
    thenAside="new pairwise sessions start with the next message",
    unreadable="the sessions with %s",
    stops="pairwise sessions: nothing is sealed",
)


def sessionsFile(network: str) -> str:
    return fileFor("sessions", network)


class SessionStore(KeysFileStore):
    """
    Loads the saved sessions into a L{securechat.client.core.pairwise.Pairwise}
    part and saves them when its ratchets move.
    """

    def __init__(self, state: StateDir, network: str, warnings: List[str]) -> None:
        super().__init__(state, sessionsFile(network), warnings, WORDING)


__all__ = ["SessionStore", "sessionsFile"]
