"""
Pairwise sessions in the state directory: C{sessions-<network>.json}
(mode 0600: it holds ratchet keys), one per server like the conversations.

Unlike the conversations' state (saved every few seconds), a session's
state is written synchronously each time its ratchet moves: BEFORE a
record it opened is shown (so a restart cannot open that message again:
no replay window), and BEFORE a line it sealed leaves (so a crash can
never make the chain seal twice under one message key).  If it cannot be
written, nothing is sealed (the user is told why) and what was opened is
still shown, with a warning that a restart may reopen it.
"""

from __future__ import annotations

import hashlib
from typing import Callable, List, Optional

from ..core import events as ev
from ..core.pairwise import Pairwise
from .statedir import StateCorrupt, StateDir, StateError


def sessionsFile(network: str) -> str:
    return "sessions-%s.json" % (hashlib.sha256(network.encode("utf-8")).hexdigest()[:16],)


class SessionStore:
    """Loads the saved sessions into a L{Pairwise} part and saves them when its ratchets move."""

    def __init__(self, state: StateDir, network: str, warnings: List[str]) -> None:
        self.state = state
        self.name = sessionsFile(network)
        self._warnings = warnings
        self._pairwise: Optional[Pairwise] = None
        self._emit: Callable[[ev.Event], None] = lambda event: None
        self._failing = False
        self._data: object = None
        try:
            opened = state.makePrivate(self.name)
            if opened is not None:
                warnings.append(
                    "%s was readable by others (mode %o): now 0600; whoever read it can open the "
                    "direct messages of those sessions" % (state.file(self.name), opened)
                )
            self._data = state.readJson(self.name)
        except StateError as exc:
            lost = "kept aside" if isinstance(exc, StateCorrupt) else "not read"
            warnings.append(
                "%s; the pairwise sessions are %s: new ones start with the next message" % (exc, lost)
            )

    def attach(self, pairwise: Pairwise, emit: Callable[[ev.Event], None]) -> None:
        """Bring back the saved sessions, and save synchronously from now on."""
        self._pairwise = pairwise
        self._emit = emit
        if self._data is not None:
            try:
                lost = pairwise.load(self._data)
            except ValueError as exc:
                aside = self.state.setAside(self.name)
                self._warnings.append(
                    "%s: %s (kept as %s); new pairwise sessions start with the next message"
                    % (self.state.file(self.name), exc, aside)
                )
            else:
                if lost:
                    self._warnings.append(
                        "%s: the sessions with %s cannot be read: new ones start with the next message"
                        % (self.state.file(self.name), ", ".join(sorted(lost)[:5]))
                    )
        self._data = None
        pairwise.saveNow = self.save

    def save(self) -> bool:
        """Write every session now; whether it was written."""
        if self._pairwise is None:
            return False
        try:
            self.state.writeJson(self.name, self._pairwise.toDict())
        except StateError as exc:
            if not self._failing:
                self._failing = True
                self._emit(
                    ev.Error(
                        "state directory: %s (pairwise sessions: nothing is sealed until it can be written, "
                        "and a restart may show again what was opened meanwhile)" % (exc,),
                        "state",
                    )
                )
            return False
        self._failing = False
        return True


__all__ = ["SessionStore", "sessionsFile"]
