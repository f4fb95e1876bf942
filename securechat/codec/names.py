"""
Nick and target names as the codec compares them.

The codec keeps its own rfc1459 casefolding (it imports nothing of ours) so
that "Alice" and "alice" are the same sender and "#Room" and "#room" the same
target, exactly as the relay sees them.
"""

from __future__ import annotations

import functools
from typing import Callable

_RFC1459_TABLE = str.maketrans(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ[]\\~",
    "abcdefghijklmnopqrstuvwxyz{}|^",
)

#: Joins the two nicks of a direct conversation; no nick or room may contain it.
DIRECT_SEPARATOR = " "

Casefold = Callable[[str], str]


@functools.lru_cache(maxsize=1024)
def rfc1459_casefold(name: str) -> str:
    """
    Lower-case C{name} the IRC way: ASCII letters and C{[]\\~} -> C{{}|^}.

    Cached: every protected message folds its sender two or three times and
    a conversation sees few names, so a hit replaces a translate.  Bounded,
    so names a relay invents only churn the cache.
    """
    return name.translate(_RFC1459_TABLE)


def direct_target(nick_a: str, nick_b: str, casefold: Casefold = rfc1459_casefold) -> str:
    """
    The envelope target of a direct message between two nicks.

    Sorted, so both ends compute the same string whoever speaks first; joined
    by a space, which no nick and no room name can contain, so a pair can
    never be confused with a room.
    """
    return DIRECT_SEPARATOR.join(sorted((casefold(nick_a), casefold(nick_b))))
