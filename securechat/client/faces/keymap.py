"""
What a key means, without a terminal: Twisted's insults hands over either
bytes (typed text, control characters) or one of its named keys (C{PGUP},
C{F1}...), with a modifier for Alt.  Named keys are never text: they used
to be typed into the input line as C{[PGUP]} and sent with the next Enter.
"""

from __future__ import annotations

from typing import Any

from twisted.conch.insults.insults import FUNCTION_KEYS, ServerProtocol

#: Actions a key can ask for (the adapter carries them out).
ENTER, BACKSPACE, DELETE, LEFT, RIGHT, HOME, END = (
    "enter", "backspace", "delete", "left", "right", "home", "end",
)
CLEAR, DELETE_WORD, REDRAW, INTERRUPT, EOF = (
    "clear", "delete-word", "redraw", "interrupt", "eof",
)
HISTORY_UP, HISTORY_DOWN, PAGE_UP, PAGE_DOWN = (
    "history-up", "history-down", "page-up", "page-down",
)
NEXT_WINDOW, PREVIOUS_WINDOW, WINDOW, COMPLETE, TEXT, IGNORE = (
    "next-window", "previous-window", "window", "complete", "text", "ignore",
)

#: insults sets its key names (PGUP, ALT...) at import: unseen by type checkers.
P: Any = ServerProtocol
_CONTROL = {
    b"\r": ENTER,
    b"\n": ENTER,
    b"\x7f": BACKSPACE,
    b"\x08": BACKSPACE,
    b"\x01": HOME,
    b"\x05": END,
    b"\x15": CLEAR,
    b"\x17": DELETE_WORD,
    b"\x0c": REDRAW,
    b"\x03": INTERRUPT,
    b"\x04": EOF,
    b"\x0e": NEXT_WINDOW,
    b"\x10": PREVIOUS_WINDOW,
    b"\t": COMPLETE,
}
_NAMED = {
    P.DELETE: DELETE,
    P.LEFT_ARROW: LEFT,
    P.RIGHT_ARROW: RIGHT,
    P.HOME: HOME,
    P.END: END,
    P.UP_ARROW: HISTORY_UP,
    P.DOWN_ARROW: HISTORY_DOWN,
    P.PGUP: PAGE_UP,
    P.PGDN: PAGE_DOWN,
}
#: Sequences insults does not name: Alt-arrows switch windows (as in irssi).
SEQUENCES = {
    b"\x1b[1;3C": NEXT_WINDOW,
    b"\x1b[1;3D": PREVIOUS_WINDOW,
}


def classify(keyID: Any, modifier: Any) -> tuple[str, Any]:
    """C{(action, argument)} for one keystroke; unknown keys are L{IGNORE}."""
    if modifier == P.ALT:
        if isinstance(keyID, bytes) and keyID.isdigit():
            number = int(keyID)
            return WINDOW, 10 if number == 0 else number
        return IGNORE, None
    if modifier is not None:
        return IGNORE, None
    action = _NAMED.get(keyID)
    if action is not None:
        return action, None
    if keyID in FUNCTION_KEYS or not isinstance(keyID, bytes):
        return IGNORE, None
    action = _CONTROL.get(keyID)
    if action is not None:
        return action, None
    return TEXT, keyID
