"""
When to ping a silent peer, and when to give up on it: the one keepalive
the relay (for its clients) and the client (for its server) both use.

Sans-IO: no clock and no timer of its own.  The adapter tells it when it
heard the peer (L{Keepalive.heard}) and asks it, each time its one timer
fires, what to do (L{Keepalive.check}): nothing, send a PING, or drop the
peer; and after how long to ask again.  A busy connection costs nothing per
line beyond noting the time.
"""

from __future__ import annotations

from typing import Optional, Tuple

#: What L{Keepalive.check} asks of the adapter.
WAIT = "wait"
PING = "ping"
DEAD = "dead"


class Keepalive:
    """
    A peer silent for C{interval} seconds is pinged; still silent C{timeout}
    seconds after the ping, it is dead.  Anything heard from it counts as an
    answer.
    """

    __slots__ = ("interval", "timeout", "lastHeard", "pingedAt")

    def __init__(self, interval: float, timeout: float, now: float) -> None:
        self.interval = interval
        self.timeout = timeout
        #: When the peer was last heard.
        self.lastHeard = now
        #: When the unanswered ping was sent, if one was.
        self.pingedAt: Optional[float] = None

    def heard(self, now: float) -> None:
        """The peer said something: it is alive."""
        self.lastHeard = now

    def check(self, now: float, listening: bool = True) -> Tuple[str, float]:
        """
        What to do now (L{WAIT}, L{PING} or L{DEAD}), and in how many seconds
        to check again (meaningless after L{DEAD}).  While we are not
        C{listening} (reading paused by our own flow control), silence
        proves nothing: the wait starts again.
        """
        if not listening:
            self.pingedAt = None
            self.lastHeard = now
            return WAIT, self.interval
        pingedAt = self.pingedAt
        if pingedAt is not None and self.lastHeard < pingedAt:
            waited = now - pingedAt
            if waited >= self.timeout:
                return DEAD, 0.0
            return WAIT, self.timeout - waited
        self.pingedAt = None
        idle = now - self.lastHeard
        if idle >= self.interval:
            self.pingedAt = now
            return PING, self.timeout
        return WAIT, self.interval - idle
