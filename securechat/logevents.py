"""
How the sans-IO core reports what it noticed without logging it itself.

A core object (L{securechat.relay.state.RelayState},
L{securechat.client.core.session.ClientSession}...) is handed an L{EventLog}: it
emits structured events, a format string and named fields (the shape of
C{twisted.logger}'s events), and the adapter that built it decides where they
go, usually a C{twisted.logger.Logger}.  Built without one, a core object
emits into L{DISCARD}.  Nothing here imports Twisted.
"""

from __future__ import annotations

from typing import Protocol


class EventLog(Protocol):
    """What the core emits events to; C{twisted.logger.Logger} is one."""

    def debug(self, format: str, **fields: object) -> None: ...

    def info(self, format: str, **fields: object) -> None: ...

    def warn(self, format: str, **fields: object) -> None: ...


class DiscardEvents:
    """An L{EventLog} nobody listens to: every event is dropped."""

    __slots__ = ()

    def debug(self, format: str, **fields: object) -> None:
        """Dropped."""

    def info(self, format: str, **fields: object) -> None:
        """Dropped."""

    def warn(self, format: str, **fields: object) -> None:
        """Dropped."""


#: The one L{DiscardEvents}.
DISCARD: EventLog = DiscardEvents()
