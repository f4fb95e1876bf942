"""
Which window an event's lines go to, and how much they matter there (the
status bar's activity markers).  Sans-IO: events and the window model in,
windows out.
"""

from __future__ import annotations

from ..core import events as ev
from ..core.session import ClientSession
from .windows import ACTIVE, HIGHLIGHTED, QUERY, QUIET, ROOM, Window, WindowList

#: Characters of a nick besides letters and digits (RFC 2812), for mentions.
NICK_CHARS = "-_[]\\^{}|`"
#: Events about one room or peer, shown in its window if there is one.
TARGETED = (ev.Sent, ev.Queued, ev.Unsent, ev.SessionUnanswered, ev.KeySet, ev.LayerSet, ev.Fingerprint, ev.ViewDiffers)
#: What is said of refusals besides each one: shown where the message was, opening no window.
REFUSAL_NEWS = (ev.RefusalsGrouped, ev.RefusalHint)
#: Events that highlight their window: something the user must see.
ALERTS = (ev.RejectedMessage, ev.NickUnconfirmed, ev.Unsent, ev.SessionUnanswered, ev.ViewDiffers) + REFUSAL_NEWS


def _unique(windows: list[Window | None]) -> list[Window]:
    out: list[Window] = []
    for window in windows:
        if window is not None and window not in out:
            out.append(window)
    return out


class Router:
    """Routes events for one session's console into its windows."""

    def __init__(self, windows: WindowList, session: ClientSession) -> None:
        self.windows = windows
        self.session = session

    def window(self, name: str | None, open: bool = False) -> Window | None:
        """C{name}'s window (opened when C{open}, within the bound), else L{None}."""
        if name is None:
            return self.windows.status
        window = self.windows.find(name)
        if window is None and open:
            kind = ROOM if self.session.isRoom(name) else QUERY
            window = self.windows.open(name, kind)
        return window

    def route(self, event: ev.Event) -> list[Window]:
        """The windows C{event}'s lines go to (the current one when none fits)."""
        return self._routes(event) or [self.windows.current]

    def _routes(self, event: ev.Event) -> list[Window]:
        windows = self.windows
        status, current = windows.status, windows.current
        if isinstance(event, (ev.IncomingMessage, ev.RejectedMessage, ev.CtcpRequest) + REFUSAL_NEWS):
            # Only a message opens a window: a relay's rejected junk does not.
            opening = isinstance(event, ev.IncomingMessage)
            return _unique([self.window(event.target, open=opening)])
        if isinstance(event, TARGETED):
            return _unique([self.window(event.target)])
        if isinstance(event, (ev.Joined, ev.Parted, ev.Topic, ev.Names)):
            ours = isinstance(event, ev.Joined) and event.me
            return _unique([self.window(event.room, open=ours)])
        if isinstance(event, ev.UserQuit):
            found = [self.window(room) for room in event.rooms]
            return _unique([*found, self.window(event.nick)]) or [status]
        if isinstance(event, ev.NickChanged):
            if event.me:
                return _unique([status, current])
            query = self.window(event.old)
            if query is not None:
                windows.rename(query, event.new)
            new = self.session.fold(event.new)
            rooms = [
                self.window(state.name)
                for state in self.session.rooms.values()
                if new in state.members
            ]
            return _unique([*rooms, query]) or [status]
        if isinstance(event, (ev.Notice, ev.Connected, ev.SeenBy)):
            return [status]
        if isinstance(event, (ev.Disconnected, ev.NickUnconfirmed)):
            return _unique([status, current])
        if isinstance(event, ev.Error) and event.code == "connect":
            # The first failure of a row says what to check: seen where the user is.
            first = " -- " in event.message
            return _unique([status, current if first else None])
        return [current]

    def level(self, event: ev.Event) -> int:
        """How much a background window's line matters: the status bar marks it."""
        if isinstance(event, ev.IncomingMessage):
            if event.direct or self.mentions(event.body):
                return HIGHLIGHTED
            return ACTIVE
        if isinstance(event, ALERTS):
            return HIGHLIGHTED
        if isinstance(event, (ev.CtcpRequest, ev.Topic)):
            return ACTIVE
        return QUIET

    def mentions(self, body: str) -> bool:
        """Whether C{body} names our nick as a word."""
        fold = self.session.fold
        folded = fold(body)
        words = "".join(c if c.isalnum() or c in NICK_CHARS else " " for c in folded)
        return fold(self.session.nick) in words.split()
