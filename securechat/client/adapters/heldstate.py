"""
Messages held for a pairwise session, across a restart: C{held-<network>.json}.

A message typed to a peer while our session with them starts is held in
memory only, and never written to disk: its text would be the first
plaintext the state directory holds (everything else there is keys, pins
and counters).  What is written, synchronously each time it changes and
before the user is told "held", is only which peers have messages held and
how many.  A run that ends (a quit, a crash, a power cut) with messages
held leaves that list, and the next run says those messages were never
sent, so that a restart never drops one silently.
"""

from __future__ import annotations

import hashlib
from typing import Any, Callable, Dict, List

from ..core import events as ev
from .statedir import StateDir, StateError

STATE_FORMAT = 1
#: Peers named at most in what a restart says (the rest counted).
MAX_NAMED = 5


def heldFile(network: str) -> str:
    return "held-%s.json" % (hashlib.sha256(network.encode("utf-8")).hexdigest()[:16],)


def lostNote(counts: Dict[str, int]) -> str:
    """What a restart says of the messages a previous run held and never sent."""
    named = sorted(counts.items())
    said = ", ".join("%d to %s" % (count, nick) for nick, count in named[:MAX_NAMED])
    if len(named) > MAX_NAMED:
        said += " and more to %d other peers" % (len(named) - MAX_NAMED,)
    return (
        "when securechat last stopped, messages were waiting for a protected session and were never "
        "sent (%s); their text was not kept: send them again" % (said,)
    )


def _counts(data: Any) -> Dict[str, int]:
    """The counts a held file holds; L{ValueError} when it is not one."""
    if not isinstance(data, dict) or data.get("format") != STATE_FORMAT or not isinstance(data.get("held"), dict):
        raise ValueError("not a held-messages file of format %d" % (STATE_FORMAT,))
    counts = {}
    for nick, count in data["held"].items():
        if not isinstance(nick, str) or not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise ValueError("a count of held messages is not a positive number")
        counts[nick] = count
    return counts


class HeldStore:
    """Says at start what a previous run held and lost; writes what this run holds as it changes."""

    def __init__(self, state: StateDir, network: str, warnings: List[str]) -> None:
        self.state = state
        self.name = heldFile(network)
        self._emit: Callable[[ev.Event], None] = lambda event: None
        self._failing = False
        try:
            lost = _counts(state.readJson(self.name) or {"format": STATE_FORMAT, "held": {}})
        except StateError as exc:  # StateCorrupt too: the file is set aside
            warnings.append("%s; messages held for a session when securechat last stopped may not have been sent"
                            % (exc,))
        except ValueError as exc:
            aside = state.setAside(self.name)
            warnings.append(
                "%s: %s (kept as %s); messages held for a session when securechat last stopped may not "
                "have been sent" % (state.file(self.name), exc, aside)
            )
        else:
            if lost:
                warnings.append(lostNote(lost))

    def attach(self, directSessions: Any, emit: Callable[[ev.Event], None]) -> None:
        """From now on, write what C{directSessions} holds each time it changes (nothing held yet)."""
        self._emit = emit
        directSessions.onHeldChanged(self.save)
        self.save(directSessions.heldCounts())

    def save(self, counts: Dict[str, int]) -> None:
        try:
            self.state.writeJson(self.name, {"format": STATE_FORMAT, "held": counts})
        except StateError as exc:
            if not self._failing:
                self._failing = True
                self._emit(ev.Error(
                    "state directory: %s (should securechat stop now, it could not say which held messages "
                    "were never sent)" % (exc,), "state"))
            return
        self._failing = False


__all__ = ["HeldStore", "heldFile", "lostNote"]
