"""
Telling a netsplit from a quit, by its QUIT reason.  No I/O, no imports of
ours: the client's events use it, and anything else may.

When two linked IRC servers lose each other, each tells its users that
everyone behind the other one quit, with the reason C{"near.server
far.server"}: the two servers' names, one space between (ngIRCd, InspIRCd,
Ergo, ircu and their kind; networks that hide their servers write
C{"*.net *.split"}).  A user's own quit reason is prefixed by those
servers (C{"Quit: ..."}), so a bare pair of names is the servers' word.
It is a hint from the server, not a proof: a relay, or a server that does
not prefix quit reasons, can send anything (docs/security.md).
"""

from __future__ import annotations

import re
from typing import Optional, Tuple

#: One label of a host name (letters, digits, inner hyphens), or C{*} as
#: the first label of a hidden server's name.
_LABEL = r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)"
_HOST = re.compile(r"(?:\*|%s)(?:\.%s)+\Z" % (_LABEL, _LABEL))
#: The longest host name (RFC 1035).
HOST_LENGTH = 253


def isHostLike(name: str) -> bool:
    """Whether C{name} reads as a server's name: dotted labels (C{irc.a.test}, C{*.net})."""
    return 0 < len(name) <= HOST_LENGTH and _HOST.match(name) is not None


def netsplitServers(reason: str) -> Optional[Tuple[str, str]]:
    """
    The two servers of a netsplit QUIT reason (C{"a.test b.test"}), or
    L{None} for any other reason: exactly two host-like names, one space
    between them, nothing before or after, not the same name twice.
    """
    near, space, far = reason.partition(" ")
    if not space or not isHostLike(near) or not isHostLike(far):
        return None
    if near.lower() == far.lower():
        return None
    return near, far
