"""
Every line from the server, read once and sorted once.

L{readServerLine} is total: whatever bytes arrive, it returns a
L{ServerLine} (commands upper-cased whatever their case, IRCv3 tags, any
prefix form, runs of spaces) or an L{Unparsable} (not UTF-8, NUL, no
command...), never an exception.  An unparsable line is never handed on:
a message in it could not be judged.

L{classify} then says what the line is, from what the session knows (the
server's name learned at registration, the rooms' prefixes, which
conversations are keyed).  A face never decides what is protected: it
renders the verdict.

  - L{ForConversation}: a message (C{PRIVMSG}/C{NOTICE} with text)
    addressed to a keyed conversation, in any case or STATUSMSG form
    (C{@#lab}, C{+#LAB}), or starting with the codec's marker: the
    codec judges it, and only what it accepts is shown as a message;
  - L{PlainMessage}: a message (or action) to a conversation without a
    key: shown, always marked plain;
  - L{Refused}: the reserved C{*securechat} name used by the relay (as a
    source, a new nick, a target), anything else addressed to a keyed
    conversation (C{TAGMSG}, a message without text), an unparsable line;
  - L{Passing}: the server's own lines, membership and metadata.
"""

from __future__ import annotations

from typing import Callable, Optional, Tuple, Union

import attr

from ...codec import MARKER
from ...codec.sessions.framing import is_session_line
from ...wire import Message, Tags, WireError, parseLine, rfc1459Casefold

#: The pseudo-user the IRC client talks to (the proxy's voice): reserved,
#: no line from the relay may use it.
RESERVED = "*securechat"
#: Commands that carry a message to a target.
MESSAGE_COMMANDS = ("PRIVMSG", "NOTICE", "TAGMSG")
#: Prefixes that address part of a room (STATUSMSG: its ops, its voiced...):
#: these always, and what the server's 005 adds.
STATUS_PREFIXES = "@+%&~!"
#: Tags only the proxy may put on a line (the protection it verified).
OWN_TAG_VENDOR = "securechat/"
CTCP = "\x01"


@attr.s(frozen=True, slots=True, auto_attribs=True)
class ServerLine:
    """One line as the server sent it (C{raw}, no CRLF) and parsed."""

    raw: bytes
    message: Message

    @property
    def command(self) -> str:
        return self.message.command

    @property
    def source(self) -> Optional[str]:
        return self.message.source

    @property
    def sourceNick(self) -> Optional[str]:
        return self.message.sourceNick


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Unparsable:
    """A line that is not IRC (not UTF-8, NUL, no command...): judged by nobody, shown to nobody."""

    raw: bytes
    reason: str


def readServerLine(raw: bytes) -> Union[ServerLine, Unparsable]:
    """C{raw} (one line without CRLF) parsed, or why it cannot be; never raises."""
    try:
        message = parseLine(raw)
    except WireError as exc:
        return Unparsable(raw, str(exc))
    except (ValueError, IndexError) as exc:  # a parser bug must not let a line through
        return Unparsable(raw, "cannot be read: %s" % (exc,))
    return ServerLine(raw, message)


def isReserved(name: Optional[str]) -> bool:
    """Whether C{name} (a nick, a target) is the proxy's own, in any case."""
    return name is not None and rfc1459Casefold(name) == RESERVED


def ownTag(key: str) -> bool:
    """Whether a tag key is one only the proxy sets (C{securechat/...}, client-only or not)."""
    return key.lstrip("+").startswith(OWN_TAG_VENDOR)


def withoutOwnTags(tags: Optional[Tags]) -> Tuple[Optional[Tags], int]:
    """C{tags} without the ones claiming to be ours, and how many were dropped."""
    if not tags:
        return tags, 0
    kept = tuple((key, value) for key, value in tags if not ownTag(key))
    return kept, len(tags) - len(kept)


def isCtcp(text: str) -> bool:
    return text.startswith(CTCP)


def isAction(text: str) -> bool:
    """A CTCP ACTION in any case (C{\\x01action ...} is an action to irssi too)."""
    return text[:7].upper() == CTCP + "ACTION" and (len(text) == 7 or text[7] in " " + CTCP)


def roomOf(target: str, isRoom: Callable[[str], bool], statusPrefixes: str = "") -> Optional[str]:
    """
    The room C{target} addresses, STATUSMSG prefixes (C{@#lab}) taken off,
    or L{None} when it is not a room.
    """
    prefixes = STATUS_PREFIXES + statusPrefixes
    name = target
    while name and not isRoom(name) and name[0] in prefixes:
        name = name[1:]
    if name and isRoom(name):
        # A room whose rest is a room too (+#lab) is that room's STATUSMSG form.
        while len(name) > 1 and name[0] in prefixes and isRoom(name[1:]):
            name = name[1:]
        return name
    return None


def conversationOf(
    target: str, sender: Optional[str], isRoom: Callable[[str], bool], statusPrefixes: str = ""
) -> Tuple[str, bool]:
    """C{(name, direct)}: the room a message addresses, else its sender's direct conversation."""
    room = roomOf(target, isRoom, statusPrefixes)
    if room is not None:
        return room, False
    return sender or "", True


@attr.s(frozen=True, slots=True, auto_attribs=True)
class ForConversation:
    """A message for the codec to judge: to keyed C{name}, or sealed (its marker) to any."""

    line: ServerLine
    name: str
    direct: bool
    keyed: bool


@attr.s(frozen=True, slots=True, auto_attribs=True)
class PlainMessage:
    """A message to C{name}, which has no key: shown marked plain."""

    line: ServerLine
    name: str
    direct: bool


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Refused:
    """
    Not handed on.  C{name} is the keyed conversation it was addressed to
    (told there, with C{text} quoted as unprotected), or L{None}: dropped
    and counted under C{why}.
    """

    raw: bytes
    why: str
    name: Optional[str] = None
    sender: Optional[str] = None
    text: Optional[str] = None


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Passing:
    """The server's own lines, membership, metadata: handed on, the session follows them."""

    line: ServerLine


Verdict = Union[ForConversation, PlainMessage, Refused, Passing]


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Knowledge:
    """What the session knows that sorting a line needs."""

    server: Optional[str]
    isRoom: Callable[[str], bool]
    isKeyed: Callable[[str], bool]
    statusPrefixes: str = ""


def isServersOwn(line: ServerLine, server: Optional[str]) -> bool:
    """The server's own line: no source, or exactly the name it gave at registration."""
    source = line.source
    return source is None or (bool(server) and source == server)


def classify(read: Union[ServerLine, Unparsable], knows: Knowledge) -> Verdict:
    """What C{read} is (see the module's docstring)."""
    if isinstance(read, Unparsable):
        return Refused(read.raw, "unparsable line: " + read.reason)
    message = read.message
    command, params = message.command, message.params
    if isReserved(message.sourceNick):
        return Refused(read.raw, "a line claiming to come from " + RESERVED)
    if command == "NICK" and params and isReserved(params[0]):
        return Refused(read.raw, "a nick change to " + RESERVED)
    if command not in MESSAGE_COMMANDS:
        return Passing(read)
    if not params:
        return Refused(read.raw, "a %s without a target" % (command,))
    targets = params[0].split(",")
    if any(isReserved(target) for target in targets):
        return Refused(read.raw, "a %s addressed to %s" % (command, RESERVED))
    if len(targets) != 1:
        # One line, one conversation: a list could pair a keyed room with another.
        return Refused(read.raw, "a %s to several targets at once" % (command,))
    sender = message.sourceNick
    name, direct = conversationOf(targets[0], sender, knows.isRoom, knows.statusPrefixes)
    text = params[1] if len(params) > 1 else None
    keyed = bool(name) and knows.isKeyed(name)
    if keyed:
        if command == "TAGMSG" or text is None or len(params) != 2:
            return Refused(read.raw, "a %s" % (command,), name, sender, text)
        return ForConversation(read, name, direct, True)
    if command == "TAGMSG":
        return Passing(read)
    if text is None or len(params) != 2:
        return Refused(read.raw, "a %s that is not a target and a text" % (command,))
    sealed = text.startswith(MARKER) or (direct and is_session_line(text))
    if sealed and sender is not None and not isServersOwn(read, knows.server):
        # Sealed for a conversation we have no key for (or a pairwise
        # session's line): the codec, or the pairwise part, says so.
        return ForConversation(read, name, direct, False)
    return PlainMessage(read, name, direct)


__all__ = [
    "RESERVED",
    "ForConversation",
    "Knowledge",
    "Passing",
    "PlainMessage",
    "Refused",
    "ServerLine",
    "Unparsable",
    "Verdict",
    "classify",
    "conversationOf",
    "isAction",
    "isReserved",
    "readServerLine",
    "roomOf",
    "withoutOwnTags",
]
