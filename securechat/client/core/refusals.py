"""
Refusals grouped, without I/O: a wrong passphrase or an identity change
refuses every message of a member, and one alert per message buried the
room.  The first refusal of a member for a reason, in a conversation, is
shown whole; the next ones are counted and said as one line ("12 more from
bob refused: tampered or wrong key") when the count reaches 10, 100, 1000
and every 1000 after, and before that member's next accepted message.

The session decides (L{RefusalGroups.judged}), once for every face: a
refusal counted in a group is marked C{grouped}, and the console, JSON
lines and the proxy say the L{ev.RefusalsGrouped} line instead of it.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Callable, List, Tuple

import attr

from . import events as ev

#: Groups remembered at most (least recently touched dropped first): a
#: relay inventing senders cannot grow them.
MAX_GROUPS = 256
#: Counts at which the group is said without waiting (then every 1000).
SAY_AT = (10, 100, 1000)

#: Refusals never grouped: a line in clear is its own text (the proxy
#: quotes it, so that a newcomer asking how to join is heard), not one
#: more copy of a message nobody could open.
NEVER_GROUPED = frozenset({"unprotected"})

#: What to show for one refusal: all of it, or nothing now.
SHOW = "show"
QUIET = "quiet"


#: One group said: the event every face renders (L{ev.RefusalsGrouped}).
Grouped = ev.RefusalsGrouped


class RefusalGroups:
    """Counts refusals per (conversation, claimed sender, reason), folded by C{fold}."""

    def __init__(self, fold: Callable[[str], str], limit: int = MAX_GROUPS) -> None:
        self.fold = fold
        self.limit = limit
        #: key -> [refusals counted, refusals said (shown or grouped)]
        self._groups: OrderedDict[Tuple[str, str, str], List[int]] = OrderedDict()

    def _key(self, target: str, sender: str, reason: str) -> Tuple[str, str, str]:
        return (self.fold(target), self.fold(sender), reason)

    def refused(self, event: ev.RejectedMessage) -> Tuple[str, List[Grouped]]:
        """L{SHOW} for the first of its group, else L{QUIET}; and any group to say now."""
        if event.reason in NEVER_GROUPED:
            return SHOW, []
        key = self._key(event.target, event.sender, event.reason)
        group = self._groups.get(key)
        if group is None:
            self._groups[key] = [1, 1]
            while len(self._groups) > self.limit:
                self._groups.popitem(last=False)
            return SHOW, []
        self._groups.move_to_end(key)
        group[0] += 1
        count = group[0]
        if count in SAY_AT or (count > SAY_AT[-1] and count % 1000 == 0):
            more = count - group[1]
            group[1] = count
            return QUIET, [Grouped(event.target, event.sender, event.reason, more, event.direct)]
        return QUIET, []

    def accepted(self, target: str, sender: str, direct: bool = False) -> List[Grouped]:
        """What was refused of C{sender} in C{target} and not said yet: said before its accepted message."""
        prefix = (self.fold(target), self.fold(sender))
        said: List[Grouped] = []
        for key, group in self._groups.items():
            if key[:2] == prefix and group[0] > group[1]:
                said.append(Grouped(target, sender, key[2], group[0] - group[1], direct))
                group[1] = group[0]
        return said

    def judged(self, events: List[ev.Event]) -> List[ev.Event]:
        """
        C{events} (the session's verdicts on a line) as every face shows
        them: a refusal counted in a group marked C{grouped}, the groups due
        said before it, and before a member's accepted message.
        """
        out: List[ev.Event] = []
        for event in events:
            if isinstance(event, ev.RejectedMessage):
                decision, groups = self.refused(event)
                out.extend(groups)
                out.append(event if decision == SHOW else attr.evolve(event, grouped=True))
            elif isinstance(event, ev.IncomingMessage):
                out.extend(self.accepted(event.target, event.sender, event.direct))
                out.append(event)
            else:
                out.append(event)
        return out


__all__ = ["MAX_GROUPS", "NEVER_GROUPED", "QUIET", "SAY_AT", "SHOW", "Grouped", "RefusalGroups"]
