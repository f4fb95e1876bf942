"""
The console's status bar, as segments: who you are, the window shown and
its protection mark (in the mark's colour), windows with something new,
the connection (with the next attempt while down), the key.  What matters
most comes first: the bar is cut at the terminal's width.
"""

from __future__ import annotations

import time

from ...codec import PROTECTION
from ..adapters.headless import HeadlessClient
from .render import MARKS, Segment, markStyle
from .windows import HIGHLIGHTED, WindowList

BAR = "status"
HIGHLIGHT = "status-highlight"
ALERT = "status-alert"
TIME_FORMAT = "%H:%M:%S"


def statusSegments(
    client: HeadlessClient,
    windows: WindowList,
    retryAt: float | None = None,
    lastFailure: str = "",
) -> list[Segment]:
    window = windows.current
    nick = client.nick + (" (away)" if client.session.away else "")
    parts: list[Segment] = [(f" {nick} | {windows.number(window)}:{window.title}", BAR)]
    if window.name is not None:
        protection = PROTECTION.get(client.layer(window.name), "none")
        parts.append((" ", BAR))
        overSession = client.session.directSessions.describe(window.name)
        if client.session.keyring.restored(window.name):
            # Keyed before a restart, its key not entered again: not plain.
            parts.append((f"[{client.session.expectedLayer(window.name)}: /key]", ALERT))
        elif overSession is not None:
            # A peer with no secret: its messages go over a pairwise session, never in clear.
            parts.append((f"[{overSession}]", markStyle("session")))
        else:
            parts.append((f"[{MARKS.get(protection, protection)}]", markStyle(protection)))
        fingerprint = client.fingerprint(window.name)
        if overSession is not None:
            # The peer's identity, as the session checks it (labelled: "identity ...").
            pin = client.session.trust.pinned(client.session.codecFold(window.name))
            fingerprint = None if pin is None else "%s (%s)" % (pin.fingerprint, pin.status)
        tail = f" | {fingerprint}" if fingerprint else " | no key"  # labelled: "room key ..."
    else:
        tail = " | " + client.endpoint_description
    active = windows.active()
    if active:
        parts.append((" | act: ", BAR))
        for i, (number, other) in enumerate(active):
            loud = other.activity >= HIGHLIGHTED
            text = f"{' ' if i else ''}{number}:{other.title}{'!' if loud else ''}"
            parts.append((text, HIGHLIGHT if loud else BAR))
    parts.append((" | ", BAR))
    if client.connected:
        parts.append(("connected", BAR))
    else:
        state = "NOT CONNECTED"
        if retryAt is not None:
            state += ", retry at " + time.strftime(TIME_FORMAT, time.localtime(retryAt))
        if lastFailure:
            state += f" ({lastFailure})"
        parts.append((state, ALERT))
    if window.scroll:
        parts.append((" | -- more --", HIGHLIGHT))
    parts.append((tail, BAR))
    parts.append((" | /help", BAR))
    return parts
