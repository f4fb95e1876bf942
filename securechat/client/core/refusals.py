"""
Refusals grouped, without I/O: a wrong passphrase or an identity change
refuses every message of a member, and one alert per message buried the
room.  The first refusal of a member for a reason, in a conversation, is
shown whole; the next ones are counted and said as one line ("12 more claimed from
bob refused: tampered or wrong key") when the count reaches 10, 100, 1000
and every 1000 after, before that member's next accepted message, and
at the latest L{SAY_AFTER} seconds after the first of them.

The session decides (L{RefusalGroups.judged}), once for every face: a
refusal counted in a group is marked C{grouped}, and the console, JSON
lines and the proxy say the L{ev.RefusalsGrouped} line instead of it.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Callable, List, Optional, Tuple

import attr

from . import events as ev

#: Groups remembered at most (least recently touched dropped first): a
#: relay inventing senders cannot grow them.
MAX_GROUPS = 256
#: Counts at which the group is said without waiting (then every 1000).
SAY_AT = (10, 100, 1000)
#: Seconds a counted refusal waits at most before its group is said (on
#: the session's periodic upkeep): a member who stops after a few refused
#: messages never reaches a count, and they must not go unsaid.
SAY_AFTER = 60.0

#: Refusals never grouped: a line in clear is its own text (the proxy
#: quotes it, so that a newcomer asking how to join is heard), not one
#: more copy of a message nobody could open.
NEVER_GROUPED = frozenset({"unprotected"})

#: What to show for one refusal: all of it, or nothing now.
SHOW = "show"
QUIET = "quiet"


#: One group said: the event every face renders (L{ev.RefusalsGrouped}).
Grouped = ev.RefusalsGrouped


class _Group:
    """One member's refusals for one reason in one conversation: counted, said, since when unsaid."""

    __slots__ = ("target", "sender", "reason", "direct", "count", "said", "since")

    def __init__(self, event: ev.RejectedMessage) -> None:
        self.target, self.sender, self.reason, self.direct = event.target, event.sender, event.reason, event.direct
        self.count = self.said = 1
        #: When the oldest refusal counted and not yet said came (None: all said).
        self.since: Optional[float] = None

    def say(self, target: Optional[str] = None, sender: Optional[str] = None, direct: Optional[bool] = None) -> Grouped:
        more, self.said, self.since = self.count - self.said, self.count, None
        return Grouped(
            self.target if target is None else target,
            self.sender if sender is None else sender,
            self.reason,
            more,
            self.direct if direct is None else direct,
        )


class RefusalGroups:
    """
    Counts refusals per (conversation, claimed sender, reason), folded by
    C{fold}; C{clock} (seconds) times what waits to be said (L{due}).
    """

    def __init__(
        self, fold: Callable[[str], str], limit: int = MAX_GROUPS, clock: Optional[Callable[[], float]] = None
    ) -> None:
        self.fold = fold
        self.limit = limit
        self.clock = clock
        self._groups: OrderedDict[Tuple[str, str, str], _Group] = OrderedDict()

    def _key(self, target: str, sender: str, reason: str) -> Tuple[str, str, str]:
        return (self.fold(target), self.fold(sender), reason)

    def refused(self, event: ev.RejectedMessage) -> Tuple[str, List[Grouped]]:
        """L{SHOW} for the first of its group, else L{QUIET}; and any group to say now."""
        if event.reason in NEVER_GROUPED:
            return SHOW, []
        key = self._key(event.target, event.sender, event.reason)
        group = self._groups.get(key)
        if group is None:
            self._groups[key] = _Group(event)
            said: List[Grouped] = []
            while len(self._groups) > self.limit:
                _, dropped = self._groups.popitem(last=False)
                if dropped.count > dropped.said:
                    said.append(dropped.say())  # counted: said now, never lost with its group
            return SHOW, said
        self._groups.move_to_end(key)
        group.count += 1
        if group.since is None and self.clock is not None:
            group.since = self.clock()
        count = group.count
        if count in SAY_AT or (count > SAY_AT[-1] and count % 1000 == 0):
            return QUIET, [group.say(event.target, event.sender, event.direct)]
        return QUIET, []

    def accepted(self, target: str, sender: str, direct: bool = False) -> List[Grouped]:
        """What was refused of C{sender} in C{target} and not said yet: said before its accepted message."""
        prefix = (self.fold(target), self.fold(sender))
        return [
            group.say(target, sender, direct)
            for key, group in self._groups.items()
            if key[:2] == prefix and group.count > group.said
        ]

    def due(self) -> List[Grouped]:
        """The groups whose oldest unsaid refusal waited L{SAY_AFTER}: said now (the periodic upkeep)."""
        if self.clock is None:
            return []
        now = self.clock()
        return [
            group.say()
            for group in self._groups.values()
            if group.since is not None and now - group.since >= SAY_AFTER
        ]

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


__all__ = ["MAX_GROUPS", "NEVER_GROUPED", "QUIET", "SAY_AFTER", "SAY_AT", "SHOW", "Grouped", "RefusalGroups"]
