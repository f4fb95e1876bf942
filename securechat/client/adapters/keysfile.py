"""
A file of keys in the state directory, written synchronously as they move:
what the pairwise sessions (L{securechat.client.adapters.sessionstate})
and the forward layer's rooms (L{securechat.client.adapters.forwardstate})
share.

Such a file (mode 0600) is written BEFORE a message its keys opened is
shown (a restart cannot open it again: no replay window) and BEFORE a line
they sealed leaves (a crash never seals twice under one message key).  If
it cannot be written, nothing is sealed with them (the user is told why)
and what was opened is still shown, with a warning that a restart may
reopen it.
"""

from __future__ import annotations

import hashlib
from typing import Callable, Iterable, List, Optional, Protocol

import attr

from ..core import events as ev
from .statedir import StateCorrupt, StateDir, StateError


class KeysPart(Protocol):
    """What a store asks of the part whose keys it keeps."""

    saveNow: Optional[Callable[[], bool]]

    def load(self, data: object) -> Iterable[str]:
        """Take saved state back; the names whose state could not be read."""

    def toDict(self) -> object:
        """Everything to save, as JSON values."""


@attr.s(frozen=True, slots=True, auto_attribs=True)
class KeysWording:
    """How a store names what it keeps, in the warnings and the error it gives."""

    #: What whoever read a world-readable file can open ("the direct messages of those sessions").
    exposed: str
    #: What is lost when the file cannot be read ("the pairwise sessions").
    subject: str
    #: What the user does, or what happens, then ("new ones start with the next message").
    then: str
    #: The same, said after the file was set aside ("new pairwise sessions start with the next message").
    thenAside: str
    #: What could not be read of it, with the names ("the sessions with %s").
    unreadable: str
    #: What the error says stops while the file cannot be written ("pairwise sessions: nothing is sealed").
    stops: str


def fileFor(prefix: str, network: str) -> str:
    """The file of C{prefix} for one server: C{<prefix>-<16 hex digits>.json}."""
    return "%s-%s.json" % (prefix, hashlib.sha256(network.encode("utf-8")).hexdigest()[:16])


class KeysFileStore:
    """Loads one file of keys into its part and saves it synchronously as the part asks."""

    def __init__(self, state: StateDir, name: str, warnings: List[str], wording: KeysWording) -> None:
        self.state = state
        self.name = name
        self._warnings = warnings
        self._wording = wording
        self._part: Optional[KeysPart] = None
        self._emit: Callable[[ev.Event], None] = lambda event: None
        self._failing = False
        self._data: object = None
        try:
            opened = state.makePrivate(name)
            if opened is not None:
                warnings.append(
                    "%s was readable by others (mode %o): now 0600; whoever read it can open %s"
                    % (state.file(name), opened, wording.exposed)
                )
            self._data = state.readJson(name)
        except StateError as exc:
            lost = "kept aside" if isinstance(exc, StateCorrupt) else "not read"
            warnings.append("%s; %s are %s: %s" % (exc, wording.subject, lost, wording.then))

    def attach(self, part: KeysPart, emit: Callable[[ev.Event], None]) -> None:
        """Bring back what was saved, and save synchronously from now on."""
        self._part = part
        self._emit = emit
        wording = self._wording
        if self._data is not None:
            try:
                lost = list(part.load(self._data))
            except ValueError as exc:
                aside = self.state.setAside(self.name)
                self._warnings.append(
                    "%s: %s (kept as %s); %s" % (self.state.file(self.name), exc, aside, wording.thenAside)
                )
            else:
                if lost:
                    names = wording.unreadable % (", ".join(sorted(lost)[:5]),)
                    where = self.state.file(self.name)
                    self._warnings.append("%s: %s cannot be read: %s" % (where, names, wording.then))
        self._data = None
        part.saveNow = self.save

    def save(self) -> bool:
        """Write everything now; whether it was written."""
        if self._part is None:
            return False
        try:
            self.state.writeJson(self.name, self._part.toDict())
        except StateError as exc:
            if not self._failing:
                self._failing = True
                self._emit(
                    ev.Error(
                        "state directory: %s (%s until it can be written, and a restart may show again what "
                        "was opened meanwhile)" % (exc, self._wording.stops),
                        "state",
                    )
                )
            return False
        self._failing = False
        return True


__all__ = ["KeysFileStore", "KeysPart", "KeysWording", "fileFor"]
