"""
When to ping a silent peer, and when to give up on it: the one keepalive
the relay (for its clients) and the client (for its server) both use.

Sans-IO: no clock and no timer of its own.  The adapter tells it when it
heard the peer (L{Keepalive.heard}) and asks it, each time its one timer
fires, what to do (L{Keepalive.check}): nothing, send a PING, or drop the
peer; and after how long to ask again.  A busy connection costs nothing per
line beyond noting the time.

A protocol adapter inherits it (its state is two attributes of the
protocol, no object of its own: the relay keeps thousands of idle
connections) and gives C{keepaliveInterval} and C{keepaliveTimeout}.
"""

from __future__ import annotations

from typing import Optional, Tuple

#: What L{Keepalive.check} asks of the adapter.
WAIT = "wait"
PING = "ping"
DEAD = "dead"


class Keepalive:
    """
    A peer silent for C{keepaliveInterval} seconds is pinged; still silent
    C{keepaliveTimeout} seconds after the ping, it is dead.  Anything heard
    from it counts as an answer.
    """

    keepaliveInterval: float
    keepaliveTimeout: float
    #: When the peer was last heard.
    lastHeard: float = 0.0
    #: When the unanswered ping was sent, if one was.
    pingedAt: Optional[float] = None

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
            return WAIT, self.keepaliveInterval
        pingedAt = self.pingedAt
        if pingedAt is not None and self.lastHeard < pingedAt:
            waited = now - pingedAt
            if waited >= self.keepaliveTimeout:
                return DEAD, 0.0
            return WAIT, self.keepaliveTimeout - waited
        self.pingedAt = None
        idle = now - self.lastHeard
        if idle >= self.keepaliveInterval:
            self.pingedAt = now
            return PING, self.keepaliveTimeout
        return WAIT, self.keepaliveInterval - idle


class KeepaliveState(Keepalive):
    """A L{Keepalive} on its own, with its own interval and timeout."""

    __slots__ = ("keepaliveInterval", "keepaliveTimeout", "lastHeard", "pingedAt")

    def __init__(self, interval: float, timeout: float, now: float) -> None:
        self.keepaliveInterval = interval
        self.keepaliveTimeout = timeout
        self.lastHeard = now
        self.pingedAt = None
