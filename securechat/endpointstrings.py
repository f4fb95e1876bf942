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

A person names a server the way IRC clients do: C{HOST:PORT}, C{HOST}
(port 6667), C{irc://HOST[:PORT]} or C{ircs://HOST[:PORT]} (TLS, port 6697,
the certificate checked).  L{serverDescription} turns those into endpoint
descriptions and checks them; endpoint descriptions pass unchanged.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Callable

from twisted.internet import endpoints

#: What Twisted's endpoint parsers raise for a description they cannot use.
PARSE_ERRORS = (ValueError, TypeError, OSError, IndexError, KeyError)
#: The IRC ports a bare host (or C{irc://}) and C{ircs://} mean.
IRC_PORT = 6667
IRCS_PORT = 6697
#: Client endpoint types a server string may start with (Twisted's own):
#: anything else before a colon is a host name.
ENDPOINT_TYPES = ("tcp", "ssl", "tls", "unix")
SCHEMES = (("ircs://", "tls", IRCS_PORT), ("irc://", "tcp", IRC_PORT))
#: A host name or IPv4 address (letters, digits, dots, hyphens, underscores).
_HOST = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")


def _unusable(description: str, reason: object) -> ValueError:
    return ValueError(f"{description!r} is not a usable endpoint: {reason}")


def _check(make: Callable[[object, str], object], description: str) -> object:
    try:
        return make(None, description)
    except PARSE_ERRORS as error:
        raise _unusable(description, error) from None


def checkServerEndpoint(description: str) -> None:
    """L{ValueError}, saying why, unless Twisted can make this server endpoint."""
    _check(endpoints.serverFromString, description)


def checkClientEndpoint(description: str) -> None:
    """
    L{ValueError}, saying why, unless C{description} is a client endpoint
    Twisted can make, to a port that exists: Twisted accepted C{tcp:h:66670},
    and the client retried it for ever.
    """
    kind = description.split(":", 1)[0].lower()
    if kind == "tcp" and description.count(":") == 1 and "=" not in description:
        raise _unusable(description, "no port (tcp:HOST:PORT, or just HOST:PORT)")
    if kind in ("ssl", "tls"):
        # Made by securechat.tlsclient (which checks the server), not by
        # Twisted's parser, which refuses an IPv6 address.
        from .tlsclient import parseTlsDescription

        try:
            parseTlsDescription(description)
        except ValueError as error:
            reason = str(error)
            if reason.startswith(repr(description) + ": "):
                reason = reason[len(repr(description)) + 2 :]
            raise _unusable(description, reason) from None
        return
    made = _check(endpoints.clientFromString, description)
    port = getattr(made, "_port", None)
    if isinstance(port, int) and not 0 < port < 65536:
        raise _unusable(description, f"port {port} is not in 1-65535")


def _hostPort(text: str, default: int) -> tuple[str, int]:
    """HOST, HOST:PORT, [V6]:PORT or a bare IPv6 address; else L{ValueError}."""
    host, port = text, ""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError("an IPv6 address in brackets needs its ']'")
        host, rest = text[1:end], text[end + 1 :]
        if rest and not rest.startswith(":"):
            raise ValueError("expected [ADDRESS]:PORT")
        port = rest[1:]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{host!r} is not an IPv6 address") from None
    elif text.count(":") > 1:
        try:
            ipaddress.IPv6Address(text)  # a bare IPv6 address, no port
        except ValueError:
            raise ValueError("an IPv6 address and port: [ADDRESS]:PORT") from None
    elif ":" in text:
        host, port = text.split(":", 1)
        if not _HOST.match(host):
            raise ValueError(f"{host!r} is not a host name")
    elif not _HOST.match(host):
        raise ValueError(f"{host!r} is not a host name")
    if not port:
        if text.endswith(":"):
            raise ValueError("no port after ':'")
        return host, default
    if not port.isdigit():
        raise ValueError(f"the port {port!r} is not a number")
    number = int(port)
    if not 0 < number < 65536:
        raise ValueError(f"port {number} is not in 1-65535")
    return host, number


def _escape(host: str) -> str:
    """A host as one part of an endpoint description (IPv6 colons escaped)."""
    return host.replace("\\", "\\\\").replace(":", "\\:")


def userServer(text: str) -> str | None:
    """
    The endpoint description for a server written as IRC users do, or
    L{None} when C{text} is already an endpoint description.
    """
    lowered = text.lower()
    for scheme, kind, port in SCHEMES:
        if lowered.startswith(scheme):
            rest = text[len(scheme) :].rstrip("/")
            if "/" in rest:
                raise ValueError("rooms are not part of the server: use --join")
            host, number = _hostPort(rest, port)
            return f"{kind}:{_escape(host)}:{number}"
    if text.split(":", 1)[0].lower() in ENDPOINT_TYPES:
        return None
    host, number = _hostPort(text, IRC_PORT)
    return f"tcp:{_escape(host)}:{number}"


def serverDescription(text: str) -> str:
    """
    The client endpoint description for the server the user named
    (C{HOST:PORT}, C{HOST}, C{irc://}, C{ircs://}, or an endpoint
    description), checked: L{ValueError} saying why it cannot be used.
    """
    try:
        described = userServer(text)
    except ValueError as error:
        raise _unusable(
            text,
            f"{error} (use HOST:PORT, HOST, ircs://HOST[:PORT] "
            "or an endpoint such as tcp:HOST:PORT)",
        ) from None
    description = text if described is None else described
    checkClientEndpoint(description)
    return description
