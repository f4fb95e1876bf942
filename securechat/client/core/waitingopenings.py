"""
Session openings over the answer budget that wait for it, without I/O.

An opening (INIT) over the budget of answers
(L{securechat.client.core.sessionanswers}) is dropped, except one from a
member of a forward room we share: a member who comes back with its
sessions lost opens a session with every member at once, and each of them
may have just spent its budget (or its share of the server's pace) on
something else.  Such an opening waits here, bounded (L{MAX_WAITING}, the
latest per nick, the oldest dropped first), and is answered when the budget
has room again, within the budget as any other, while its sender still
waits for it (L{MAX_AGE}, below the sender's handshake timeout).  The
budget is not lifted: a relay that lists nicks of its own in a room can
fill this queue, which delays answers to real members, never adds any.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Callable, List, Optional, Tuple

import attr

#: Openings waiting at once (one per nick: the latest).
MAX_WAITING = 32
#: Seconds an opening may wait: its sender gives up after 30 (HANDSHAKE_TIMEOUT), our upkeep runs every 5.
MAX_AGE = 20.0


@attr.s(frozen=True, slots=True, auto_attribs=True)
class WaitingOpening:
    """An INIT not answered yet: who sent it, its bytes, when, and the session we had with the sender then."""

    sender: str
    data: bytes
    received: float
    sessionId: Optional[bytes]


class WaitingOpenings:
    """The openings that wait for the budget (codec-folded nicks), oldest first."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._waiting: OrderedDict[str, WaitingOpening] = OrderedDict()

    def __len__(self) -> int:
        return len(self._waiting)

    def hold(self, folded: str, sender: str, data: bytes, sessionId: Optional[bytes]) -> Optional[WaitingOpening]:
        """Keep C{data} (the latest from C{folded}); the oldest opening dropped to make room, if one was."""
        self._waiting.pop(folded, None)
        self._waiting[folded] = WaitingOpening(sender, data, self._clock(), sessionId)
        if len(self._waiting) > MAX_WAITING:
            return self._waiting.popitem(last=False)[1]
        return None

    def take(self, allows: Callable[[str], bool]) -> Tuple[List[WaitingOpening], List[WaitingOpening]]:
        """
        The next opening to answer now (the oldest that C{allows(nick)}: the
        budget, which each answer spends, so the caller answers it and asks
        again), and the ones that waited too long (dropped).
        """
        now = self._clock()
        ready: List[WaitingOpening] = []
        stale: List[WaitingOpening] = []
        for folded, opening in list(self._waiting.items()):
            if now - opening.received > MAX_AGE:
                del self._waiting[folded]
                stale.append(opening)
            elif allows(folded):
                del self._waiting[folded]
                ready.append(opening)
                break
        return ready, stale

    def forget(self, folded: str) -> None:
        self._waiting.pop(folded, None)


__all__ = ["MAX_AGE", "MAX_WAITING", "WaitingOpening", "WaitingOpenings"]
