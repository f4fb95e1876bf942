"""
The console's windows, without a terminal: one for the server (status),
one per room and per direct conversation, each with its own bounded
scrollback, scroll position and activity.  The terminal adapter draws the
current one; the console decides which window a line belongs to.

Bounded whatever the relay does: a direct message from a new nick opens a
window only while fewer than L{MAX_WINDOWS} are open (the relay can invent
nicks), and each window keeps at most L{SCROLLBACK} lines and
L{SCROLLBACK_CHARS} characters.
"""

from __future__ import annotations

import collections
from typing import Callable

from .render import Segment

STATUS_WINDOW = "status"
ROOM = "room"
QUERY = "query"
#: Activity levels, in increasing order: what the status bar shows.
QUIET, ACTIVE, HIGHLIGHTED = 0, 1, 2
SCROLLBACK = 2000
SCROLLBACK_CHARS = 256 * 1024
MAX_WINDOWS = 64


class Line(tuple):
    """
    A screen line: a C{(text, style)} pair (what tests and simple sinks
    read) that also carries its coloured C{segments}.
    """

    segments: tuple[Segment, ...]

    def __new__(cls, segments: tuple[Segment, ...], style: str) -> Line:
        line = super().__new__(cls, ("".join(t for t, _ in segments), style))
        line.segments = segments
        return line

    @classmethod
    def plain(cls, text: str, style: str) -> Line:
        return cls(((text, style),), style)

    @property
    def text(self) -> str:
        return str(self[0])

    @property
    def style(self) -> str:
        return str(self[1])


class Window:
    """One window: a name (L{None} for status), its lines, scroll and activity."""

    def __init__(self, name: str | None, kind: str) -> None:
        self.name = name
        self.kind = kind
        self.lines: collections.deque[Line] = collections.deque()
        self.chars = 0
        #: Rows scrolled back from the bottom (0: following new lines).
        self.scroll = 0
        self.activity = QUIET

    @property
    def title(self) -> str:
        return self.name if self.name is not None else STATUS_WINDOW

    def add(self, line: Line) -> None:
        self.lines.append(line)
        self.chars += len(line.text)
        while len(self.lines) > SCROLLBACK or (
            self.chars > SCROLLBACK_CHARS and len(self.lines) > 1
        ):
            self.chars -= len(self.lines.popleft().text)

    def replace(self, old: Line, new: Line) -> bool:
        """Put C{new} where C{old} is (the newest first), if it is still in the scrollback."""
        for index in range(len(self.lines) - 1, -1, -1):
            if self.lines[index] is old:
                self.lines[index] = new
                self.chars += len(new.text) - len(old.text)
                return True
        return False

    def clear(self) -> None:
        self.lines.clear()
        self.chars = 0
        self.scroll = 0


class WindowList:
    """The windows in order (status first), and which one is shown."""

    def __init__(self, fold: Callable[[str], str]) -> None:
        self.fold = fold
        self.windows: list[Window] = [Window(None, STATUS_WINDOW)]
        self.current = self.windows[0]

    @property
    def status(self) -> Window:
        return self.windows[0]

    def number(self, window: Window) -> int:
        """1 for status, then in order of opening."""
        return self.windows.index(window) + 1

    def find(self, name: str | None) -> Window | None:
        if name is None:
            return self.status
        folded = self.fold(name)
        for window in self.windows[1:]:
            if window.name is not None and self.fold(window.name) == folded:
                return window
        return None

    def open(self, name: str, kind: str) -> Window | None:
        """The window for C{name}, opened if needed; L{None} past L{MAX_WINDOWS}."""
        window = self.find(name)
        if window is None:
            if len(self.windows) >= MAX_WINDOWS:
                return None
            window = Window(name, kind)
            self.windows.append(window)
        return window

    def close(self, window: Window) -> None:
        """Close C{window} (never status); the one before it is shown."""
        if window is self.status:
            return
        index = self.windows.index(window)
        self.windows.remove(window)
        if self.current is window:
            self.select(self.windows[index - 1])

    def rename(self, window: Window, name: str) -> None:
        window.name = name

    def select(self, window: Window) -> None:
        self.current = window
        window.activity = QUIET

    def selectNumber(self, number: int) -> bool:
        if not 1 <= number <= len(self.windows):
            return False
        self.select(self.windows[number - 1])
        return True

    def step(self, delta: int) -> None:
        """The next (C{+1}) or previous (C{-1}) window, wrapping around."""
        index = (self.windows.index(self.current) + delta) % len(self.windows)
        self.select(self.windows[index])

    def add(self, window: Window, line: Line, level: int) -> None:
        window.add(line)
        if window is not self.current and level > window.activity:
            window.activity = level

    def active(self) -> list[tuple[int, Window]]:
        """The windows with activity, with their numbers (for the status bar)."""
        return [
            (number, window)
            for number, window in enumerate(self.windows, 1)
            if window.activity > QUIET and window is not self.current
        ]
