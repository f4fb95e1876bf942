"""
IRCv3 capabilities (CAP 302) and the tags they put on messages, without
state or I/O: which capabilities exist, reading a C{CAP REQ}, and the
C{time} tag's format.
"""

from __future__ import annotations

import time
from typing import Iterable, List, Optional, Tuple

from ..wire import Tags, formatTags

MULTI_PREFIX = "multi-prefix"
AWAY_NOTIFY = "away-notify"
SERVER_TIME = "server-time"
ECHO_MESSAGE = "echo-message"
MESSAGE_TAGS = "message-tags"

#: What C{CAP LS} offers, in that order.  None takes a value.
CAPABILITIES = (MULTI_PREFIX, AWAY_NOTIFY, SERVER_TIME, ECHO_MESSAGE, MESSAGE_TAGS)

#: Bits of L{Client.tagMode}: which tags a client gets on messages.
TAG_TIME = 1
TAG_CLIENT = 2


def parseCapRequest(text: str) -> Optional[List[Tuple[str, bool]]]:
    """
    The (capability, enable) pairs of a C{CAP REQ} list, or L{None} when
    any is unknown or the list is empty: the request is then NAKed whole
    (IRCv3 capability negotiation).
    """
    wanted = []
    for word in text.split():
        enable = not word.startswith("-")
        name = word if enable else word[1:]
        if name not in CAPABILITIES:
            return None
        wanted.append((name, enable))
    return wanted or None


def tagMode(caps: Iterable[str]) -> int:
    """The L{TAG_TIME}/L{TAG_CLIENT} bits for a client's capabilities."""
    mode = 0
    for cap in caps:
        if cap == SERVER_TIME:
            mode |= TAG_TIME
        elif cap == MESSAGE_TAGS:
            mode |= TAG_CLIENT
    return mode


def serverTime(now: float) -> str:
    """The C{time} tag value: UTC, milliseconds (C{2026-11-30T18:20:11.123Z})."""
    seconds = int(now)
    return "%s.%03dZ" % (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)),
        int((now - seconds) * 1000),
    )


def clientTags(tags: Optional[Tags]) -> Tags:
    """
    The tags of a client's message that are passed on: client-only ones
    (C{+name}).  Others (C{label}, C{msgid}...) are the server's to set,
    and we set none but C{time}.
    """
    if not tags:
        return ()
    return tuple(pair for pair in tags if pair[0][:1] == "+")


def tagPrefix(mode: int, stamp: str, passed: Tags) -> bytes:
    """The tag section a client of C{mode} gets before one message."""
    tags: List[Tuple[str, str]] = []
    if mode & TAG_TIME:
        tags.append(("time", stamp))
    if mode & TAG_CLIENT:
        tags.extend(passed)
    return formatTags(tags).encode("utf-8")
