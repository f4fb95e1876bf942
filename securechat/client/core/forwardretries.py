"""
When to open a pairwise session again with a forward room's member whose
first opening went unanswered, without I/O.

A member who joins a forward room of N gets N-1 session openings at once
(every member asks it to prove the room secret), and answers at most a
burst of them (L{securechat.client.core.sessionanswers}: 16, then one every
4 seconds, within the server's pace); the rest are dropped and those
handshakes time out (L{securechat.client.core.pairwise.HANDSHAKE_TIMEOUT}).
The same after a netsplit or a reconnect, when every session restarts at
once.  So a member that is still without a session with a present member
asks again: after a delay that doubles each time, plus a spread that
differs per pair (so the retries of a room do not arrive together again,
and the two sides of one pair do not cross), at most L{MAX_ATTEMPTS} times
while the member stays.  The answer budget is not lifted: retries only
arrive when it has room again.  What a room of N costs: docs/client.md,
"What joining a forward room costs".
"""

from __future__ import annotations

import hashlib
from typing import Callable, Dict, List, Tuple

#: Seconds before the first retry (after the handshake's own timeout), doubled each time.
FIRST_DELAY = 10.0
#: The spread of a pair's retry: up to this many seconds more, the same for
#: the pair each time (from both nicks), different between pairs.
SPREAD = 20.0
#: Retries per member while it stays; a member who answers none is left
#: alone (no securechat there) until it joins again.
MAX_ATTEMPTS = 5
#: Members remembered (a relay inventing members cannot grow this).
MAX_TRACKED = 1024
#: Retries at once (per upkeep tick, every 5 s): a relay listing many
#: members that never answer makes us write at most this many openings a tick.
MAX_AT_ONCE = 4


def spread(me: str, nick: str) -> float:
    """The pair's share of L{SPREAD}: deterministic, different for each side of a pair."""
    digest = hashlib.sha256(("%s\x00%s" % (me, nick)).encode("utf-8")).digest()
    return SPREAD * int.from_bytes(digest[:4], "big") / 2**32


class OpeningRetries:
    """
    The next time to open a session with each member that has none
    (codec-folded nicks): L{due} says who, L{settled} forgets one.
    """

    def __init__(self, clock: Callable[[], float], me: Callable[[], str]) -> None:
        self._clock = clock
        self._me = me
        #: nick -> (retries made, when the next one is due)
        self._next: Dict[str, Tuple[int, float]] = {}

    def waiting(self, nick: str) -> None:
        """C{nick} is a member with no session: schedule its first retry (once, until L{settled})."""
        if nick in self._next or len(self._next) >= MAX_TRACKED:
            return
        self._next[nick] = (0, self._clock() + FIRST_DELAY + spread(self._me(), nick))

    def due(self, busy: Callable[[str], bool]) -> List[str]:
        """
        The members to ask again now, the longest due first, at most
        L{MAX_AT_ONCE} (each counted as one retry; given up after
        L{MAX_ATTEMPTS}); one whose handshake is C{busy} (under way) waits
        for it to end.
        """
        now = self._clock()
        ready: List[str] = []
        for nick, (attempts, when) in sorted(self._next.items(), key=lambda item: item[1][1]):
            if len(ready) >= MAX_AT_ONCE:
                break
            if when > now or attempts >= MAX_ATTEMPTS or busy(nick):
                continue
            attempts += 1
            delay = FIRST_DELAY * 2**attempts + spread(self._me(), nick)
            self._next[nick] = (attempts, now + delay)
            ready.append(nick)
        return ready

    def tracked(self) -> List[str]:
        return sorted(self._next)

    def attempts(self, nick: str) -> int:
        return self._next.get(nick, (0, 0.0))[0]

    def settled(self, nick: str) -> None:
        """C{nick} has a session now, or is gone: nothing more to retry (a later join starts afresh)."""
        self._next.pop(nick, None)


__all__ = ["FIRST_DELAY", "MAX_AT_ONCE", "MAX_ATTEMPTS", "SPREAD", "OpeningRetries", "spread"]
