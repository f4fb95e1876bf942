"""
What the console draws, as text and styles, without a terminal: rows cut
on terminal columns, characters that move or hide text named instead of
drawn, and the colours that tell protection levels and nicks apart.

A screen line is a sequence of segments, each C{(text, style)}; a style is
a name (L{STYLES} maps it to an SGR sequence).  Only what the client itself
adds gets a colour: the protection mark, the sender's nick.  Text from the
network is neutralised and drawn in the line's style, so it can neither
move the cursor nor take the colour of a genuine mark.
"""

from __future__ import annotations

import unicodedata
import zlib
from collections.abc import Iterable, Sequence

# The mark each protection level gets on screen: worded once, for every face.
from ..core.wording import MARKS as MARKS

NORMAL = "normal"
OWN = "own"
INFO = "info"
ALERT = "alert"
STATUS = "status"
HIGHLIGHT = "highlight"

#: What starts every row after the first of a long line: no message header
#: starts with it (they start with the time), so text padded to the width
#: cannot make its second row read like a message of someone else.  U+21AA
#: is one column wide everywhere (East Asian width "N", not ambiguous).
CONTINUATION = "  \u21aa "


CSI = "\x1b["
RESET = CSI + "0m"
#: The protection marks: text AND colour differ by level, and plain is
#: drawn white on red, which nothing else on screen is.
MARK_STYLES = {
    "none": "mark-plain",
    "confidential": "mark-enc",
    "authenticated": "mark-auth",
    "authenticated+fresh": "mark-fresh",
    "signed+fresh": "mark-fresh",
    "session": "mark-fresh",
}
#: Nick colours: none of the marks' (red, yellow, green) nor the alerts'.
NICK_COLOURS = ("34", "35", "36", "94", "95", "96")
STYLES = {
    NORMAL: "",
    OWN: CSI + "1m",
    INFO: CSI + "2m",
    ALERT: CSI + "1;31m",
    STATUS: CSI + "7m",
    HIGHLIGHT: CSI + "1;33m",
    "mark-plain": CSI + "1;37;41m",
    "mark-enc": CSI + "33m",
    "mark-auth": CSI + "32m",
    "mark-fresh": CSI + "1;32m",
    "status-alert": CSI + "7;1;31m",
    "status-highlight": CSI + "7;1;33m",
}
for _colour in NICK_COLOURS:
    STYLES["nick-" + _colour] = CSI + _colour + "m"

Segment = tuple[str, str]


def nickStyle(folded: str) -> str:
    """The same colour for the same (casefolded) nick, on every run."""
    return "nick-" + NICK_COLOURS[zlib.crc32(folded.encode()) % len(NICK_COLOURS)]


def markStyle(protection: str) -> str:
    return MARK_STYLES.get(protection, ALERT)


def neutralise(text: str) -> str:
    """
    C{text} with every character that is not printable shown as C{<U+XXXX>}:
    C0/C1 controls (escape sequences, carriage returns), bidirectional
    overrides and isolates (U+202A-202E, U+2066-2069), marks (U+200E/F,
    U+061C) and other format characters that reorder or hide text, line
    and paragraph separators.  What is left cannot move the cursor or
    reorder what the screen shows.
    """
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else f"<U+{ord(c):04X}>" for c in text)


def columns(char: str) -> int:
    """Terminal columns C{char} takes: 0 combining, 2 wide (CJK, emoji), else 1."""
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in "WF" else 1


def textColumns(text: str) -> int:
    if text.isascii():
        return len(text)
    return sum(columns(c) for c in text)


def wrapSegments(segments: Sequence[Segment], width: int) -> list[list[Segment]]:
    """
    Cut a line into rows of at most C{width} columns, every row after the
    first starting with L{CONTINUATION}: the terminal never wraps a row
    itself, and no text can start a row of its own.
    """
    rows: list[list[Segment]] = []
    row: list[Segment] = []
    used = 0
    count = 0  # characters in the row (a row takes at least one)
    for text, style in segments:
        text = neutralise(text)
        piece: list[str] = []
        for char in text:
            width_ = columns(char)
            if used + width_ > width and count > (len(CONTINUATION) if rows else 0):
                if piece:
                    row.append(("".join(piece), style))
                    piece = []
                rows.append(row)
                row = [(CONTINUATION, INFO)]
                used = count = len(CONTINUATION)
            piece.append(char)
            used += width_
            count += 1
        if piece:
            row.append(("".join(piece), style))
    rows.append(row)
    return rows


def wrap(text: str, width: int) -> list[str]:
    """L{wrapSegments} for plain text: the rows as strings."""
    return ["".join(t for t, _ in row) for row in wrapSegments([(text, NORMAL)], width)]


def cut(segments: Iterable[Segment], width: int) -> list[Segment]:
    """The segments (neutralised) that fit in C{width} columns: one row, no more."""
    out: list[Segment] = []
    used = 0
    for text, style in segments:
        kept: list[str] = []
        for char in neutralise(text):
            used += columns(char)
            if used > width:
                break
            kept.append(char)
        if kept:
            out.append(("".join(kept), style))
        if used > width:
            break
    return out


def encode(segments: Iterable[Segment]) -> bytes:
    """Segments as bytes for the terminal: each in its style, reset after."""
    out: list[str] = []
    for text, style in segments:
        code = STYLES.get(style, "")
        out.append(code + text + RESET if code else text)
    return "".join(out).encode("utf-8")
