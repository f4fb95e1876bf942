"""
C{twistd securechat} options, and the service they build.

A server password never comes from argv (other users of the machine can
read it there): only from C{--password-file} or the environment variable
L{PASSWORD_ENV}.
"""

from __future__ import annotations

import os
from typing import Mapping, Optional, Tuple

from twisted.application import service, strports
from twisted.internet.interfaces import IReactorTime
from twisted.python import usage

from ..endpointstrings import checkServerEndpoint
from ..twistedtypes import defaultReactor
from ..wire import CASEMAPPINGS, DEFAULT_MAX_LINE
from .factory import ConnectionSettings, RelayFactory
from .opers import OperEntry, OperFileError, parseOpers
from .state import RelayConfig
from .textlog import LoggingService, TurnTextLogObserver, rotateOnSignal, twistdLogFile

DEFAULT_PORT = "tcp:6667:interface=127.0.0.1"
PASSWORD_ENV = "SECURECHAT_RELAY_PASSWORD"
#: The smallest line limit that still holds a registration command.
MIN_MAX_LINE = 64
#: The longest --flush-interval, in milliseconds: past it a chat stops
#: feeling live, and no CPU is left to save.
MAX_FLUSH_INTERVAL = 100

_DEFAULT_CONFIG = RelayConfig()
_DEFAULT_SETTINGS = ConnectionSettings()


def _positiveInt(value: str) -> int:
    number = int(value)
    if number <= 0:
        raise ValueError("must be a positive integer")
    return number


def _positiveFloat(value: str) -> float:
    number = float(value)
    if not number > 0:
        raise ValueError("must be a positive number")
    return number


def _nonNegativeFloat(value: str) -> float:
    number = float(value)
    if not 0 <= number <= MAX_FLUSH_INTERVAL:
        raise ValueError("must be between 0 and %d" % (MAX_FLUSH_INTERVAL,))
    return number


_positiveInt.coerceDoc = "Must be a positive integer."  # type: ignore[attr-defined]
_positiveFloat.coerceDoc = "Must be a positive number."  # type: ignore[attr-defined]
_nonNegativeFloat.coerceDoc = "Milliseconds, 0 to %d." % (MAX_FLUSH_INTERVAL,)  # type: ignore[attr-defined]


class RelayOptions(usage.Options):
    """Every option shows its default in C{--help}."""

    synopsis = "[options]"
    longdesc = (
        "Run the securechat relay: a strict IRC subset that routes messages it "
        "cannot read when clients protect them. Listens on a Twisted endpoint "
        "string; use ssl:6697:privateKey=key.pem:certKey=cert.pem for TLS."
    )

    optFlags = [
        ["log-payloads", None, "Log message bodies too (to teach what a relay sees)."],
    ]

    optParameters = [
        ["port", "p", DEFAULT_PORT, "Endpoint to listen on (tcp:..., ssl:...)."],
        ["server-name", None, _DEFAULT_CONFIG.serverName, "Name the relay gives itself."],
        ["network", None, _DEFAULT_CONFIG.networkName, "Network name in ISUPPORT."],
        ["max-line", None, DEFAULT_MAX_LINE, "Longest line accepted, CRLF included.", _positiveInt],
        ["sendq", None, _DEFAULT_SETTINGS.sendq, "Bytes queued for a slow reader before it is dropped.", _positiveInt],
        ["max-clients", None, _DEFAULT_SETTINGS.maxClients, "Most connections at once.", _positiveInt],
        ["max-per-ip", None, _DEFAULT_SETTINGS.maxPerIP, "Most connections from one address.", _positiveInt],
        ["flood-burst", None, _DEFAULT_SETTINGS.floodBurst, "Lines a client may send at once.", _positiveInt],
        ["flood-rate", None, _DEFAULT_SETTINGS.floodRate, "Lines per second a client may sustain.", _positiveFloat],
        ["registration-timeout", None, _DEFAULT_SETTINGS.registrationTimeout, "Seconds to register.", _positiveFloat],
        ["ping-interval", None, _DEFAULT_SETTINGS.pingInterval, "Idle seconds before we PING.", _positiveFloat],
        ["ping-timeout", None, _DEFAULT_SETTINGS.pingTimeout, "Seconds to answer our PING.", _positiveFloat],
        [
            "flush-interval",
            None,
            _DEFAULT_SETTINGS.flushInterval,
            "Least milliseconds between two flushes of everyone's output (0: every reactor turn).",
            _nonNegativeFloat,
        ],
        ["max-channels", None, _DEFAULT_CONFIG.maxChannels, "Rooms one client may be in.", _positiveInt],
        ["casemapping", None, _DEFAULT_CONFIG.casemapping, "rfc1459 or ascii."],
        ["motd-file", None, None, "File whose lines are the message of the day."],
        [
            "opers",
            None,
            None,
            "File of IRC operators, one `name user@host-mask scrypt-hash` a line "
            "(make a line with: python -m securechat.relay.opers NAME MASK).",
        ],
        [
            "password-file",
            None,
            None,
            "File holding the server password (else $%s; never on argv)." % (PASSWORD_ENV,),
        ],
    ]

    def postOptions(self) -> None:
        for name in ("server-name", "network"):
            if not isServerName(self[name]):
                raise usage.UsageError(
                    "--%s must be one word of at most %d bytes, without spaces, controls or %s"
                    % (name, NAME_LENGTH, " ".join(_NAME_FORBIDDEN))
                )
        try:
            checkServerEndpoint(self["port"])
        except ValueError as error:
            raise usage.UsageError("--port: %s" % (error,)) from None
        if self["max-line"] < MIN_MAX_LINE:
            raise usage.UsageError("--max-line must be at least %d" % (MIN_MAX_LINE,))
        if self["casemapping"] not in CASEMAPPINGS:
            raise usage.UsageError(
                "--casemapping must be one of: " + ", ".join(sorted(CASEMAPPINGS))
            )
        self["password"] = readPassword(self["password-file"], os.environ)
        self["motd"] = readMotd(self["motd-file"])
        self["operators"] = readOpers(self["opers"])


#: Characters a name in every reply's prefix (or in ISUPPORT) may not hold:
#: a leading colon would make it the trailing parameter, and C{!}/C{@}
#: would make the server's prefix read as a user's.
_NAME_FORBIDDEN = (":", "!", "@", ",")
#: The longest server or network name, in UTF-8 bytes (a host name's
#: longest label, RFC 2812's servername): with it, every line of the
#: welcome fits 512 bytes whatever the nick; a name of hundreds of bytes
#: made lines no cut of their text could fit (005 with NETWORK=).
NAME_LENGTH = 63


def isServerName(value: str) -> bool:
    """
    Whether C{value} fits as the server name or the network name: these go
    into every reply, and one that cannot be formatted made every client's
    first line fail with an internal error, instead of the relay refusing
    to start.
    """
    return (
        0 < len(value.encode("utf-8")) <= NAME_LENGTH
        and value.isprintable()
        and not any(c.isspace() for c in value)
        and not any(c in value for c in _NAME_FORBIDDEN)
    )


def readPassword(path: Optional[str], environ: Mapping[str, str]) -> Optional[bytes]:
    """The server password from a file (first line) or the environment."""
    if path is not None:
        try:
            with open(path, "rb") as f:
                secret = f.readline().rstrip(b"\r\n")
        except OSError as e:
            raise usage.UsageError("cannot read --password-file: %s" % (e.strerror,)) from e
        if not secret:
            raise usage.UsageError("--password-file is empty")
        return secret
    value = environ.get(PASSWORD_ENV)
    return value.encode("utf-8") if value else None


def readMotd(path: Optional[str]) -> Tuple[str, ...]:
    if path is None:
        return ()
    try:
        with open(path, encoding="utf-8") as f:
            lines = tuple(line.rstrip("\r\n") for line in f)
    except (OSError, UnicodeDecodeError) as e:
        raise usage.UsageError("cannot read --motd-file: %s" % (e,)) from e
    if any("\x00" in line for line in lines):
        # Sent to every client on registration: a NUL would fail each one.
        raise usage.UsageError("--motd-file holds a NUL character")
    return lines


def readOpers(path: Optional[str]) -> Tuple[OperEntry, ...]:
    """The operators file's entries (none without C{--opers}); a bad file stops the start."""
    if path is None:
        return ()
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise usage.UsageError("cannot read --opers: %s" % (e,)) from e
    try:
        return parseOpers(text)
    except OperFileError as e:
        raise usage.UsageError("--opers %s: %s" % (path, e)) from None


def makeFactory(options: RelayOptions, clock: Optional[IReactorTime] = None) -> RelayFactory:
    """Turn parsed options into a factory (used by the plugin and by tests)."""
    config = RelayConfig(
        serverName=options["server-name"],
        networkName=options["network"],
        maxLine=options["max-line"],
        maxChannels=options["max-channels"],
        casemapping=options["casemapping"],
        password=options["password"],
        motd=options["motd"],
        logPayloads=bool(options["log-payloads"]),
        opers=options["operators"],
    )
    settings = ConnectionSettings(
        floodBurst=options["flood-burst"],
        floodRate=options["flood-rate"],
        sendq=options["sendq"],
        maxClients=options["max-clients"],
        maxPerIP=options["max-per-ip"],
        registrationTimeout=options["registration-timeout"],
        pingInterval=options["ping-interval"],
        pingTimeout=options["ping-timeout"],
        flushInterval=options["flush-interval"] / 1000.0,
    )
    return RelayFactory(config, settings, clock)


def makeService(options: RelayOptions) -> service.IService:
    """
    The listening service C{twistd securechat} runs, logging through
    L{TurnTextLogObserver} where twistd would have used its text observer.
    """
    listening = strports.service(options["port"], makeFactory(options))
    twistdOptions = getattr(options, "parent", None)
    if twistdOptions is None:
        return listening
    outFile, rotating = twistdLogFile(twistdOptions)
    if outFile is None:
        return listening
    reactor = defaultReactor(None)
    if rotating is not None:
        rotateOnSignal(rotating, reactor)
    return LoggingService(listening, TurnTextLogObserver(outFile, reactor))


#: The names twistd's ServiceMaker looks up in this module.
Options = RelayOptions
