"""
Refusal hints over pairwise sessions: the carrier that replaces the clear
C{NOTICE} (L{securechat.client.core.hints.noticeCarrier}) for a peer we
hold a session with, and the reading of the hints such a session opens.

A hint sealed as a L{REFUSAL_HINT} record comes from the peer's identity
key (the ratchet authenticates it), so it is shown as authenticated; the
relay can still withhold it, not forge or alter it.  A peer with no
session gets the clear C{NOTICE}, shown to it as unauthenticated.  A hint
never starts a session (it would write an INIT and wait): it goes over one
that exists, or in clear as before.
"""

from __future__ import annotations

from typing import Callable, Protocol

from ...codec.sessions.framing import REFUSAL_HINT
from .rules import CommandError, NotConnected

Carrier = Callable[[str, str], None]


class HintChannel(Protocol):
    """What carrying a hint asks of the pairwise part (L{securechat.client.core.pairwise.Pairwise})."""

    def hasSession(self, nick: str) -> bool: ...

    def sendRecord(self, nick: str, kind: int, body: bytes) -> int: ...

    def onRecord(self, kind: int, callback: Callable[[str, bytes, bytes], None]) -> None: ...


def sessionCarrier(channel: HintChannel, clear: Carrier) -> Carrier:
    """
    A carrier that seals the hint's line for a peer we hold a session with,
    and hands it to C{clear} (the C{NOTICE}) otherwise, or when it could
    not be sealed (a state directory that cannot be written): a hint is
    best effort, and its clear form says nothing the peer's line did not.
    """

    def carry(peer: str, text: str) -> None:
        if channel.hasSession(peer):
            try:
                channel.sendRecord(peer, REFUSAL_HINT, text.encode("utf-8"))
            except (CommandError, NotConnected):
                pass
            else:
                return
        clear(peer, text)

    return carry


def onSessionHint(channel: HintChannel, received: Callable[[str, str], None]) -> None:
    """Call C{received(nick, line)} for each hint record a session opens (a line not UTF-8 is dropped)."""

    def record(nick: str, identityKey: bytes, body: bytes) -> None:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return  # malformed: a hint is ignored, never shown as a message
        received(nick, text)

    channel.onRecord(REFUSAL_HINT, record)


__all__ = ["HintChannel", "onSessionHint", "sessionCarrier"]
