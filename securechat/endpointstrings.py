"""
Endpoint strings (C{tcp:6667}, C{ssl:HOST:6697}...) checked when the user
gives them, not when they are used.

Twisted parses a description when it makes the endpoint, and reports what
is wrong with whichever exception its parser meets: L{ValueError} (an
unknown type, a port that is not a number), L{TypeError} (a missing part),
L{OSError} (an C{ssl:} certificate file that is not there).  Our commands
parse the strings first, with no reactor (making an endpoint only stores
it; nothing listens or connects), so a typo is a one-line usage error
rather than a traceback once the program has started.
"""

from __future__ import annotations

from typing import Callable

from twisted.internet import endpoints

#: What Twisted's endpoint parsers raise for a description they cannot use.
PARSE_ERRORS = (ValueError, TypeError, OSError, IndexError, KeyError)


def _check(make: Callable[[object, str], object], description: str) -> None:
    try:
        make(None, description)
    except PARSE_ERRORS as error:
        raise ValueError("%r is not a usable endpoint: %s" % (description, error)) from None


def checkServerEndpoint(description: str) -> None:
    """L{ValueError}, saying why, unless C{description} is a server endpoint Twisted can make."""
    _check(endpoints.serverFromString, description)


def checkClientEndpoint(description: str) -> None:
    """L{ValueError}, saying why, unless C{description} is a client endpoint Twisted can make."""
    _check(endpoints.clientFromString, description)
