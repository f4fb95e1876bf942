"""
The relay's bounds, as small sans-IO objects: a token bucket that paces what
one peer may send, and a send-queue account that decides when a peer reads
too slowly to be kept.  Time is always passed in, so tests choose it.
"""

from __future__ import annotations

from typing import Set


class TokenBucket:
    """
    A bucket of C{capacity} tokens refilled at C{rate} tokens a second.

    Each received line takes one token.  When the bucket is empty the
    adapter stops reading from that peer until L{waitTime} has passed: the
    peer's lines wait in its own socket buffer, nothing is dropped, and no
    one else is slowed.
    """

    __slots__ = ("capacity", "rate", "_tokens", "_stamp")

    def __init__(self, capacity: float, rate: float, now: float) -> None:
        if capacity < 1 or rate <= 0:
            raise ValueError("a token bucket needs capacity >= 1 and rate > 0")
        self.capacity = float(capacity)
        self.rate = float(rate)
        self._tokens = float(capacity)
        self._stamp = now

    def _refill(self, now: float) -> None:
        elapsed = now - self._stamp
        if elapsed > 0:
            self._tokens = min(self.capacity, self._tokens + elapsed * self.rate)
        self._stamp = now

    def take(self, now: float, count: float = 1.0) -> bool:
        """Take C{count} tokens if there are that many; say whether we did."""
        if now != self._stamp:  # the adapter reads the clock once per read: most takes share it
            self._refill(now)
        if self._tokens < count:
            return False
        self._tokens -= count
        return True

    def has(self, now: float, count: float = 1.0) -> bool:
        """Whether L{take} of C{count} would succeed now (taking nothing)."""
        if now != self._stamp:
            self._refill(now)
        return self._tokens >= count

    def waitTime(self, now: float, count: float = 1.0) -> float:
        """Seconds until C{count} tokens will be there (0 if they are now)."""
        self._refill(now)
        missing = count - self._tokens
        return max(0.0, missing / self.rate)

    def available(self, now: float) -> int:
        """How many whole tokens could be taken now."""
        self._refill(now)
        return int(self._tokens)

    @property
    def tokens(self) -> float:
        """Tokens left at the last refill (for logs and tests)."""
        return self._tokens


class SendQueue:
    """
    How much we have queued for one peer beyond what its transport holds.

    Twisted's transport tells its registered producer to pause once its own
    buffer is full (64 KiB) and to resume when it has drained.  Between the
    two, every byte we write is memory held for a reader that is not
    reading; past C{limit} bytes the peer is dropped, so one slow reader can
    cost the relay at most the transport buffer, the write that filled it
    (one reactor turn's output) and C{limit}.
    """

    __slots__ = ("limit", "backlog", "blocked")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.backlog = 0
        self.blocked = False

    def written(self, size: int) -> bool:
        """Account C{size} bytes; return L{False} once the limit is passed."""
        if not self.blocked:
            return True
        self.backlog += size
        return self.backlog <= self.limit

    def pause(self) -> None:
        """The transport's buffer is full: count from here."""
        self.blocked = True

    def resume(self) -> None:
        """The transport drained: nothing is held beyond its buffer."""
        self.blocked = False
        self.backlog = 0


class TurnShare:
    """
    How many lines one peer may have handled before the reactor takes a
    turn, when several peers have more than that waiting.

    Each peer paced by yielding (not by its bucket) waits for its next slice
    in the reactor's next turn, and in that turn every one of them gets its
    slice: with a fixed slice per peer, a turn grows with the number of
    flooders, and so does the wait of every other peer (a chat line among
    them).  Sharing C{turnLines} among the peers that are waiting keeps a
    round of slices about that long however many flood; C{leastLines} each
    keeps every one of them moving (and bounds the round at that many per
    flooder past C{turnLines // leastLines} of them).  A peer no one waits
    with gets C{turnLines}.

    Sans-IO: the adapter says who waits (L{wait}, L{done}); the members are
    its connections, compared by identity.
    """

    __slots__ = ("turnLines", "leastLines", "_waiting")

    def __init__(self, turnLines: int, leastLines: int) -> None:
        if not 1 <= leastLines <= turnLines:
            raise ValueError("a turn share needs 1 <= leastLines <= turnLines")
        self.turnLines = turnLines
        self.leastLines = leastLines
        self._waiting: Set[object] = set()

    def wait(self, peer: object) -> None:
        """C{peer} yielded with lines left: it waits for its next slice."""
        self._waiting.add(peer)

    def done(self, peer: object) -> None:
        """C{peer}'s slice is due (or it is gone): it no longer waits."""
        self._waiting.discard(peer)

    @property
    def waiting(self) -> int:
        """How many peers wait for their next slice."""
        return len(self._waiting)

    def slice(self) -> int:
        """Lines a peer may have handled now: its share of a turn among those waiting."""
        return max(self.leastLines, self.turnLines // (len(self._waiting) + 1))
