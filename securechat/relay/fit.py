"""
Making a reply fit the line limit.  A reply repeats what clients chose (a
real name in 352 and 311, an away message, a topic, a quit reason) after
the relay's own prefix and parameters, so it can be longer than the line
the client sent; a client may drop such a line, or its library raise on
it.  The free text, always the last parameter, is cut instead, at a
character boundary: never in the middle of a UTF-8 sequence.
"""

from __future__ import annotations

from typing import Optional, Sequence

from ..wire import formatMessage


def cutUtf8(text: str, limit: int) -> str:
    """The longest start of C{text} whose UTF-8 encoding holds at most C{limit} bytes."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    # "ignore" drops only the sequence cut in two at the end: the rest was
    # encoded from a str, so it is valid.
    return data[: max(limit, 0)].decode("utf-8", "ignore")


def formatFitted(
    command: str, params: Sequence[str], source: Optional[str], maxLine: int
) -> bytes:
    """
    L{formatMessage}, with the last parameter cut (see L{cutUtf8}) so the
    line, CRLF included, holds at most C{maxLine} bytes.  Only when the
    other parts alone are over the limit (a server name of hundreds of
    bytes) is the line still longer: then the last parameter is empty.
    """
    line = formatMessage(command, params, source)
    if len(line) <= maxLine or not params:
        return line
    last = params[-1]
    # The first cut may turn a one-word parameter into an empty one, which
    # needs a colon: a second pass takes that byte off too.
    for _ in range(2):
        excess = len(line) - maxLine
        if excess <= 0 or not last:
            break
        last = cutUtf8(last, len(last.encode("utf-8")) - excess)
        line = formatMessage(command, list(params[:-1]) + [last], source)
    return line
