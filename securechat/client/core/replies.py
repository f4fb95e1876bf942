"""
Server replies about people, in words: C{WHOIS} (311-319 and friends)
and C{301} (away).  Sans-IO: numeric and parameters in, a sentence out.
"""

from __future__ import annotations

import time
from typing import Optional, Sequence, Tuple

from ...numerics import RPL_ENDOFWHOIS

#: Numerics that answer WHOIS (and 301, sent for a message to an away nick).
WHOIS_NUMERICS = frozenset(
    {"301", "307", "311", "312", "313", "317", "319", "320", "330", "338", "378", "671"}
)
#: 318 ends a WHOIS (importable from here for the session).
__all__ = ["RPL_ENDOFWHOIS", "WHOIS_NUMERICS", "describeWhois"]


def _when(seconds: str) -> str:
    try:
        moment = int(seconds)
    except ValueError:
        return seconds
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(moment))


def describeWhois(code: str, params: Sequence[str]) -> Optional[Tuple[str, str]]:
    """
    C{(nick, sentence)} for a WHOIS reply (C{params} as received, our nick
    first), or L{None} when it is not one or is too short to read.
    """
    if code not in WHOIS_NUMERICS or len(params) < 3:
        return None
    nick, rest = params[1], params[2:]
    last = rest[-1]
    if code == "311" and len(rest) >= 4:
        return nick, f"is {rest[0]}@{rest[1]} ({last})"
    if code == "312" and len(rest) >= 2:
        return nick, f"is on {rest[0]} ({last})"
    if code == "319":
        return nick, f"is in {last}"
    if code == "301":
        return nick, f"is away: {last}"
    if code == "317" and len(rest) >= 2 and rest[0].isdigit():
        signon = f", signed on {_when(rest[1])}" if len(rest) >= 3 else ""
        return nick, f"has been idle {int(rest[0])} s{signon}"
    if code == "330" and len(rest) >= 2:
        return nick, f"is logged in as {rest[0]}"
    return nick, " ".join(rest)
