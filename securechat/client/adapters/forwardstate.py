"""
Rooms on the forward layer in the state directory: C{forward-<network>.json}
(mode 0600: it holds sender-chain keys), one per server.

Written synchronously whenever a chain moves: BEFORE a message a chain
opened is shown (a restart cannot open it again: no replay window) and
BEFORE a line our chain sealed leaves (a crash never seals twice under one
message key).  If it cannot be written, nothing is sealed on the layer (the
user is told) and what was opened is still shown, with a warning.
"""

from __future__ import annotations

import hashlib
from typing import Callable, List, Optional

from ..core import events as ev
from ..core.forwardrooms import ForwardRooms
from .statedir import StateCorrupt, StateDir, StateError


def forwardFile(network: str) -> str:
    return "forward-%s.json" % (hashlib.sha256(network.encode("utf-8")).hexdigest()[:16],)


class ForwardStore:
    """Loads the saved rooms into a L{ForwardRooms} part and saves them as its chains move."""

    def __init__(self, state: StateDir, network: str, warnings: List[str]) -> None:
        self.state = state
        self.name = forwardFile(network)
        self._warnings = warnings
        self._rooms: Optional[ForwardRooms] = None
        self._emit: Callable[[ev.Event], None] = lambda event: None
        self._failing = False
        self._data: object = None
        try:
            opened = state.makePrivate(self.name)
            if opened is not None:
                warnings.append(
                    "%s was readable by others (mode %o): now 0600; whoever read it can open the "
                    "forward-layer messages of those chains it had not yet used" % (state.file(self.name), opened)
                )
            self._data = state.readJson(self.name)
        except StateError as exc:
            lost = "kept aside" if isinstance(exc, StateCorrupt) else "not read"
            warnings.append("%s; the forward-layer rooms are %s: /layer forward starts them again" % (exc, lost))

    def attach(self, rooms: ForwardRooms, emit: Callable[[ev.Event], None]) -> None:
        """Bring back the saved rooms, and save synchronously from now on."""
        self._rooms = rooms
        self._emit = emit
        if self._data is not None:
            try:
                lost = rooms.load(self._data)
            except ValueError as exc:
                aside = self.state.setAside(self.name)
                self._warnings.append(
                    "%s: %s (kept as %s); /layer forward starts the rooms again"
                    % (self.state.file(self.name), exc, aside)
                )
            else:
                if lost:
                    self._warnings.append(
                        "%s: the chains of %s cannot be read: /layer forward starts them again"
                        % (self.state.file(self.name), ", ".join(sorted(lost)[:5]))
                    )
        self._data = None
        rooms.saveNow = self.save

    def save(self) -> bool:
        """Write every room's chains now; whether it was written."""
        if self._rooms is None:
            return False
        try:
            self.state.writeJson(self.name, self._rooms.toDict())
        except StateError as exc:
            if not self._failing:
                self._failing = True
                self._emit(
                    ev.Error(
                        "state directory: %s (forward-layer rooms: nothing is sealed on them until it can be "
                        "written, and a restart may show again what was opened meanwhile)" % (exc,),
                        "state",
                    )
                )
            return False
        self._failing = False
        return True


__all__ = ["ForwardStore", "forwardFile"]
