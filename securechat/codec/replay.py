"""
Freshness and the replay cache of the fernet-ttl layer.

A TTL alone only shrinks the replay window to TTL + skew; inside it, a token
seen once would be accepted again.  The cache closes that window: it
remembers every accepted message id until its token can no longer be fresh
(token time + TTL + skew), so memory follows the traffic of one window.

Memory is bounded by C{max_entries}.  When full, the cache forgets the oldest
second of entries and raises a I{floor}: tokens stamped at or below the floor
are refused as too old to check, because the cache could no longer tell
whether it saw them.  Entries that age out raise the floor too, so a clock
that jumps back cannot resurrect a forgotten id.  Security is never traded
for memory, only availability of very old-looking messages.  On start
(nothing remembered yet) the floor is start time minus the allowed skew.
"""

from __future__ import annotations

import base64
import binascii
import heapq
from typing import Any, Callable, Dict, List, Set

from securechat.codec.errors import Expired, FromFuture, Replayed

DEFAULT_TTL = 30
DEFAULT_MAX_SKEW = 5
DEFAULT_MAX_ENTRIES = 100_000

Clock = Callable[[], float]


def check_fresh(sent_at: int, now: float, ttl: int, max_skew: int) -> None:
    """
    Refuse a verified timestamp outside [now - ttl - max_skew, now + max_skew].

    The skew is allowed both ways: a sender whose clock runs a little behind
    stamps tokens that look a little older.
    """
    age = now - sent_at
    if age > ttl + max_skew:
        raise Expired(
            f"genuine but {int(age)} s old: older than the {ttl} s time-to-live"
            f" plus {max_skew} s allowed clock skew"
        )
    if -age > max_skew:
        raise FromFuture(
            f"genuine but stamped {int(-age)} s in the future (more than the"
            f" {max_skew} s allowed clock skew)"
        )


class ReplayCache:
    """
    Message ids accepted within the freshness window, bounded in number.

    Entries are kept in one bucket per token second: the oldest bucket is
    what ages out or is evicted, and evicting a whole second costs nothing
    in security since the floor already refuses that second.
    """

    def __init__(
        self,
        clock: Clock,
        ttl: int = DEFAULT_TTL,
        max_skew: int = DEFAULT_MAX_SKEW,
        max_entries: int = DEFAULT_MAX_ENTRIES,
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._clock = clock
        self._retention = ttl + max_skew
        self.max_entries = max_entries
        self._floor: float = clock() - max_skew
        self._seen: Set[bytes] = set()
        self._buckets: Dict[int, List[bytes]] = {}
        self._seconds: List[int] = []

    @property
    def floor(self) -> float:
        """Tokens stamped at or below this time are refused."""
        return self._floor

    def __len__(self) -> int:
        return len(self._seen)

    def __contains__(self, msgid: object) -> bool:
        return msgid in self._seen

    def admit(self, msgid: bytes, sent_at: int) -> None:
        """
        Record C{msgid} as delivered, or raise L{Replayed} if it already was,
        or L{Expired} if C{sent_at} is at or below the floor.
        """
        seconds = self._seconds
        if seconds and seconds[0] < self._clock() - self._retention:  # (one call per message: the hot path)
            self._purge(self._clock())
        if msgid in self._seen:
            raise Replayed()
        if sent_at <= self._floor:
            self._check_floor(sent_at)
        if len(self._seen) >= self.max_entries:
            self._evict_oldest_second()
            self._check_floor(sent_at)
        bucket = self._buckets.get(sent_at)
        if bucket is None:
            bucket = self._buckets[sent_at] = []
            heapq.heappush(self._seconds, sent_at)
        bucket.append(msgid)
        self._seen.add(msgid)

    def _check_floor(self, sent_at: int) -> None:
        if sent_at <= self._floor:
            raise Expired(
                "genuine but older than the replay cache can vouch for"
                " (stamped before this client started, or in a second it had to forget)"
            )

    def _drop_oldest_second(self) -> None:
        second = heapq.heappop(self._seconds)
        for msgid in self._buckets.pop(second):
            self._seen.discard(msgid)
        if second > self._floor:
            self._floor = second

    def _purge(self, now: float) -> None:
        """Forget seconds whose tokens can no longer be fresh (raising the floor)."""
        limit = now - self._retention
        while self._seconds and self._seconds[0] < limit:
            self._drop_oldest_second()

    def _evict_oldest_second(self) -> None:
        while self._seconds and len(self._seen) >= self.max_entries:
            self._drop_oldest_second()

    # Persistence: what a restart must not forget (the client's state directory).

    def export(self) -> Dict[str, Any]:
        """The floor and the remembered ids per token second, JSON-ready."""
        self._purge(self._clock())
        return {
            "floor": self._floor,
            "seconds": {
                str(second): [base64.b64encode(msgid).decode("ascii") for msgid in self._buckets[second]]
                for second in sorted(self._buckets)
            },
        }

    def restore(self, data: Any, clean: bool) -> None:
        """
        Take back what L{export} saved.  After a clean exit (everything was
        saved) the saved floor replaces the start-up one; after a crash the
        ids of the last moments may be missing, so the floor only ever
        rises: the start-up floor stays if it is higher.  L{ValueError} for
        data L{export} does not write (nothing is changed then).
        """
        if not isinstance(data, dict) or not isinstance(data.get("seconds"), dict):
            raise ValueError("not a saved replay cache")
        floor = data.get("floor")
        if not isinstance(floor, (int, float)) or isinstance(floor, bool):
            raise ValueError("the saved replay floor is not a number")
        buckets: Dict[int, List[bytes]] = {}
        for second, ids in data["seconds"].items():
            if not isinstance(ids, list):
                raise ValueError("the saved replay ids are not a list")
            try:
                buckets[int(second)] = [base64.b64decode(str(msgid), validate=True) for msgid in ids]
            except (binascii.Error, ValueError):
                raise ValueError("a saved replay id is not base64") from None
        self._floor = float(floor) if clean else max(self._floor, float(floor))
        for second in sorted(buckets):
            if second <= self._floor:
                continue
            for msgid in buckets[second]:
                if msgid in self._seen:
                    continue
                if len(self._seen) >= self.max_entries:
                    self._evict_oldest_second()
                bucket = self._buckets.get(second)
                if bucket is None:
                    bucket = self._buckets[second] = []
                    heapq.heappush(self._seconds, second)
                bucket.append(msgid)
                self._seen.add(msgid)
        self._purge(self._clock())

    def raise_floor(self, floor: float) -> None:
        """Refuse tokens stamped at or below C{floor} from now on (never lowers it)."""
        if floor > self._floor:
            self._floor = floor
            while self._seconds and self._seconds[0] <= floor:
                self._drop_oldest_second()
