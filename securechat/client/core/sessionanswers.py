"""
How often a pairwise session opening (an INIT) is answered, without I/O.

An INIT is answered automatically: that is what lets a stranger's first
C{/msg} arrive protected, and the members of a forward room admit one who
joins (each of them opens a session with it at once).  An answer is a line
we write because someone else wrote one, so a flood of openings, from one
nick or from many that a relay invents, must not make us flood: the server
would cut us off for it (its flood limit), or we would flood a victim nick
for a lying relay.  So an opening is answered only

  - within a budget per nick: L{MAX_PER_NICK} per L{WINDOW} seconds;
  - within a budget in all: a burst of L{ALL.burst <ALL>}, then
    L{ALL.rate <ALL>} a second (the size of a room whose members greet a
    joiner at once, then a trickle);
  - when our own copy of the server's flood bucket
    (L{securechat.client.core.pacing}) has a line to spare now: an answer
    never goes past it (C{paced}, set by the session).

An opening left unanswered is dropped: its sender's handshake times out
and says "not sent", as for a peer with no securechat; except one from a
member of a room we share, which waits for the budget
(L{securechat.client.core.waitingopenings}).  Such drops are
told to the user at most once per window, with their count.  What an
answer reveals, and why anyone is answered: docs/security.md, "Who a
session opening is answered for".  A session opening that arrives as a
C{NOTICE} is never answered (the session part refuses it before it gets
here): a NOTICE is never answered automatically (RFC 1459).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from typing import Callable, Deque, Optional

from .pacing import Pace, Pacer

#: Seconds over which the per-nick budget counts, and unanswered openings are told.
WINDOW = 60.0
#: Openings answered per nick per window: a new session, a retry, one after
#: a nick change and one after trusting the new key all fit.
MAX_PER_NICK = 4
#: Openings answered in all: 16 at once, then one every 4 seconds.
ALL = Pace(burst=16, rate=0.25)
#: Nicks whose recent answers are remembered (the least recently used dropped:
#: the budget in all still holds for the ones forgotten).
MAX_NICKS = 256


class AnswerBudget:
    """
    Whether we may answer one more opening from a nick now (L{allows}),
    and the answers given (L{spent}).  Nicks are given codec-folded.
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._all = Pacer(ALL, clock())
        self._byNick: OrderedDict[str, Deque[float]] = OrderedDict()
        #: Set by the session: whether the server would read one more line
        #: from us now (our copy of its flood bucket).  Without it, always.
        self.paced: Optional[Callable[[], bool]] = None
        #: Openings not answered since the user was last told.
        self.unanswered = 0
        self._told: Optional[float] = None

    def allows(self, nick: str) -> bool:
        """Whether an opening from C{nick} may be answered now (nothing is spent)."""
        now = self._clock()
        times = self._byNick.get(nick)
        if times is not None:
            while times and now - times[0] >= WINDOW:
                times.popleft()
            if len(times) >= MAX_PER_NICK:
                return False
        if not self._all.ready(now):
            return False
        return self.paced is None or self.paced()

    def spent(self, nick: str) -> None:
        """An opening from C{nick} was answered (or one of ours started unasked): it counts."""
        now = self._clock()
        self._all.spent(now)
        times = self._byNick.pop(nick, None)
        if times is None:
            times = deque(maxlen=MAX_PER_NICK)
        times.append(now)
        self._byNick[nick] = times
        while len(self._byNick) > MAX_NICKS:
            self._byNick.popitem(last=False)

    def refused(self) -> Optional[int]:
        """
        One more opening not answered: how many to tell the user about now
        (at most once per window, with the count since), else L{None}.
        """
        self.unanswered += 1
        now = self._clock()
        if self._told is not None and now - self._told < WINDOW:
            return None
        count, self.unanswered, self._told = self.unanswered, 0, now
        return count


__all__ = ["ALL", "MAX_NICKS", "MAX_PER_NICK", "WINDOW", "AnswerBudget"]
