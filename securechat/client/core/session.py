"""
The client's state, without I/O: registration, rooms, and one codec
L{Conversation} per room or direct peer the user set a key or layer for
(others are judged by a throwaway one, so the relay cannot grow them).

The adapter (L{securechat.client.adapters.protocol}) feeds received lines in
(L{ClientSession.lineReceived}) and gives the session a C{send} callable
while a connection is up; the user interface calls the command methods
(L{join}, L{sendMessage}, L{setKeys}...).  Everything the user should know
comes out through C{emit} as L{securechat.client.core.events} values.

The session outlives connections: rooms to rejoin, keys, layers, replay
caches and sequence numbers are kept across reconnects, so a relay cannot
replay old traffic just by dropping our connection.
"""

from __future__ import annotations

from typing import Callable

from ...wire import LINE_BREAKERS, Message
from . import events as ev
from .conversations import Conversations
from .registration import Registration
from .rooms import Rooms
from .serverlines import Unparsable, readServerLine
from .sessionbase import (
    ALT_SUFFIX,
    DEFAULT_KEYED_LAYER,
    DEFAULT_NICKLEN,
    DEFAULT_REALNAME,
    DEFAULT_USERNAME,
    DISCONNECTED,
    INFO_NUMERICS,
    LAYER_GAINS,
    LAYER_RANK,
    MAX_ISUPPORT_TOKEN_LENGTH,
    MAX_ISUPPORT_TOKENS,
    MAX_LINE_LENGTH,
    MAX_NICK_ATTEMPTS,
    MAX_NICK_REQUESTS,
    MAX_QUEUED_CHARS,
    MAX_QUEUED_MESSAGES,
    MAX_UNSOLICITED_ROOMS,
    PLAIN,
    RECEIVE_MAX_LINE,
    REGISTERED,
    REGISTERING,
    ROOM_PREFIXES,
    WORST_HOST,
    WORST_USER,
    CommandError,
    NeedsForce,
    NotConnected,
    Result,
    checkTarget,
    checkText,
    checkWord,
)

# Private, but imported from here by tests that build a room by hand.
from .sessionbase import _Room as _Room

#: What other modules import from here (the session's limits and errors live
#: in L{securechat.client.core.sessionbase}).
__all__ = [
    "ClientSession",
    "ALT_SUFFIX",
    "CommandError",
    "DEFAULT_KEYED_LAYER",
    "DEFAULT_NICKLEN",
    "DEFAULT_REALNAME",
    "DEFAULT_USERNAME",
    "DISCONNECTED",
    "INFO_NUMERICS",
    "LAYER_GAINS",
    "LAYER_RANK",
    "MAX_ISUPPORT_TOKENS",
    "MAX_ISUPPORT_TOKEN_LENGTH",
    "MAX_LINE_LENGTH",
    "MAX_NICK_ATTEMPTS",
    "MAX_NICK_REQUESTS",
    "MAX_QUEUED_CHARS",
    "MAX_QUEUED_MESSAGES",
    "MAX_UNSOLICITED_ROOMS",
    "NeedsForce",
    "NotConnected",
    "PLAIN",
    "RECEIVE_MAX_LINE",
    "REGISTERED",
    "REGISTERING",
    "ROOM_PREFIXES",
    "Result",
    "WORST_HOST",
    "WORST_USER",
    "checkTarget",
    "checkText",
    "checkWord",
]


class ClientSession(Registration, Rooms, Conversations):
    """
    One user's view of one IRC network: the session's parts put together,
    and its life across connections (called by the adapter).
    """

    def connectionMade(self, send: Callable[[bytes], None], register: bool = True) -> None:
        """
        A new connection: register (again) with the nick the user asked for.
        Without C{register}, someone else registers on it (the proxy's IRC
        client): the session only follows.
        """
        self._send = send
        self.phase = REGISTERING
        self.rooms = {}
        self._unsolicited = {}
        self._names.reset()
        self._who.reset()
        self._nickAttempts = 0
        self._nickRequests = []
        self.away = False
        # The user's choice, never the nick a relay imposed last time.
        self.nick = self.requestedNick
        self._connections += 1
        if not register:
            return
        if self._password is not None:
            self._write("PASS", self._password.decode("utf-8"))
        self._write("NICK", self.nick)
        self._write("USER", self.username, "0", "*", self.realname)

    def connectionLost(self, reason: str, reconnecting: bool) -> None:
        """The connection is gone; rooms stay wanted for the next one."""
        self._send = None
        self.phase = DISCONNECTED
        self.rooms = {}
        self._unsolicited = {}
        self._names.reset()
        self._who.reset()
        self.emit(ev.Disconnected(reason, reconnecting))

    def lineReceived(self, line: bytes) -> None:
        """One line from the server, without its CRLF."""
        read = readServerLine(line)
        if isinstance(read, Unparsable):
            self.log.warn("unparsable line from the server: {error}", error=read.reason)
            return
        self.messageReceived(read.message)

    def messageReceived(self, message: Message) -> None:
        handler = getattr(self, "irc_" + message.command, None)
        if handler is not None:
            handler(message)
        elif message.command.isdigit():
            self._numeric(message)

    def quit(self, reason: str = "") -> None:
        """Say goodbye: always possible, so line breaks in C{reason} become spaces."""
        for breaker in LINE_BREAKERS:
            reason = reason.replace(breaker, " ")
        if self.allows("quit"):
            self._write("QUIT", reason or "Leaving")
