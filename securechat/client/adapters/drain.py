"""
A consumer's drain, watched: registered as a streaming producer with a
transport we write to (stdout, an IRC client), it says when that transport
stops draining and when it drains again, so the writer can stop reading
what it would write (the relay's data then waits in its socket, not in
our memory).  Used by JSON lines and the proxy alike.
"""

from __future__ import annotations

from typing import Callable

from twisted.internet.interfaces import IPushProducer
from zope.interface import implementer


@implementer(IPushProducer)
class Drain:
    """Calls C{blocked(True)} when the consumer is full, C{blocked(False)} when it drained."""

    def __init__(self, blocked: Callable[[bool], None]) -> None:
        self.blocked = blocked

    def pauseProducing(self) -> None:
        self.blocked(True)

    def resumeProducing(self) -> None:
        self.blocked(False)

    def stopProducing(self) -> None:
        pass
