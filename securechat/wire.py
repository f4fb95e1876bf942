"""
The wire: a strict subset of IRC, parsed as bytes, without I/O.

Both the relay and the client speak through this module.  It owns three
things a Twisted C{LineReceiver} would otherwise decide for us:

  - splitting a byte stream into lines (L{LineSplitter}), so that an
    over-long line costs only itself and never the valid lines after it;
  - parsing one line (L{parseLine}) into a L{Message}, rejecting what is not
    UTF-8 or carries NUL/CR, with a typed L{WireError} instead of a crash;
  - formatting a message back to bytes (L{formatMessage}), refusing
    parameters that would let one message smuggle a second one.

It imports nothing from Twisted nor from the rest of securechat.
"""

from __future__ import annotations

import re
from typing import Callable, ClassVar, Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple, Union

import attr

from .relay.traits import mypyc_attr

#: RFC 1459 / 2812 line limit, including the trailing CRLF.
DEFAULT_MAX_LINE = 512
CRLF = b"\r\n"
LF = b"\n"
CR = b"\r"
NUL = b"\x00"
_CR_BYTE = CR[0]

#: At most this many parameters in one message (RFC 2812 section 2.3).
MAX_PARAMS = 15
#: IRCv3 message tags: a client's tag section (the C{@} and the space after
#: it included) may take this many bytes on top of the line limit...
MAX_CLIENT_TAGS = 4094
#: ...and a tag section from a server, its own tags added, this many.
MAX_TAGS = 8191


class WireError(ValueError):
    """
    A line that cannot be accepted.  C{code} names the kind of fault so an
    adapter can pick its reply without parsing the message text.
    """

    code: ClassVar[str] = "INVALID_LINE"


class InvalidUTF8(WireError):
    """The line is not valid UTF-8: we answer, we do not guess."""

    code: ClassVar[str] = "INVALID_UTF8"


class ForbiddenCharacter(WireError):
    """A NUL or a lone CR inside a line: forbidden by RFC 1459."""

    code: ClassVar[str] = "INVALID_CHARACTER"


class EmptyCommand(WireError):
    """A prefix (or tags) with no command after it."""

    code: ClassVar[str] = "NO_COMMAND"


class TooManyParams(WireError):
    """More parameters than an IRC message may carry."""

    code: ClassVar[str] = "TOO_MANY_PARAMS"


class InvalidTags(WireError):
    """A message tag section that breaks the IRCv3 grammar or its size limit."""

    code: ClassVar[str] = "INVALID_TAGS"


#: A tag's key: an optional C{+} (client-only), an optional vendor (a host
#: name and a slash), then letters, digits and hyphens.
_TAG_KEY = re.compile(r"\+?(?:[A-Za-z0-9.-]+/)?[A-Za-z0-9-]+\Z")
_TAG_UNESCAPES = {":": ";", "s": " ", "r": "\r", "n": "\n", "\\": "\\"}
_TAG_ESCAPES = (("\\", "\\\\"), (";", "\\:"), (" ", "\\s"), ("\r", "\\r"), ("\n", "\\n"))

#: Message tags as parsed: (key, value) pairs in order, a key at most once.
Tags = Tuple[Tuple[str, str], ...]


class Message(NamedTuple):
    """
    One IRC message.  C{command} is upper-cased (numerics stay digits);
    C{source} is the prefix without its colon, or L{None}.

    A named tuple rather than a frozen attrs class: one is built for every
    line the relay reads, and a tuple is cheaper to build.
    """

    command: str
    params: Tuple[str, ...] = ()
    source: Optional[str] = None
    #: IRCv3 message tags, or L{None} when the line had none.
    tags: Optional[Tags] = None

    @property
    def sourceNick(self) -> Optional[str]:
        """The nick part of a C{nick!user@host} source."""
        if self.source is None:
            return None
        return self.source.split("!", 1)[0]


# attrs' methods (eq, hash) need a Python class in the compiled build too.
@mypyc_attr(native_class=False)
@attr.s(frozen=True, slots=True, auto_attribs=True)
class TooLong:
    """
    Stands in the stream where a line over the limit was dropped.  C{size}
    is how many bytes were thrown away (at least the limit); C{tags} is
    true when its message tags alone were over their limit.
    """

    size: int
    tags: bool = False


class LineSplitter:
    """
    Turn received bytes into lines, with a hard bound on what is buffered.

    Accepts CRLF and bare LF.  A line longer than C{maxLine} (counting its
    CRLF) is dropped and reported once as a L{TooLong}; the buffer never
    holds more than C{maxLine} bytes of an unfinished line, whatever the
    peer sends.  Lines are returned without their terminator.

    With C{maxTags}, a line that starts with IRCv3 message tags may carry
    that many bytes of tags (the C{@} and the space included) on top of
    C{maxLine} for the rest, as the message-tags specification says; the
    buffer bound grows by as much, for such a line only.

    One per connection (the relay's idle connections included): no C{__dict__}.
    """

    __slots__ = ("maxLine", "maxTags", "_buffer", "_discarding")

    def __init__(self, maxLine: int = DEFAULT_MAX_LINE, maxTags: int = 0) -> None:
        if maxLine < 3:
            raise ValueError("maxLine must leave room for a command and CRLF")
        self.maxLine = maxLine
        self.maxTags = maxTags
        self._buffer = b""
        # Bytes thrown away so far of an over-long line still being received.
        self._discarding = 0

    def feed(self, data: bytes) -> List[Union[bytes, TooLong]]:
        """
        Add C{data}; return every line now complete, in order, with a
        L{TooLong} where an over-long line was.
        """
        out: List[Union[bytes, TooLong]] = []
        buf = self._buffer + data if self._buffer else data
        maxLine = self.maxLine
        start = 0
        while True:
            end = buf.find(LF, start)
            if end < 0:
                break
            if self._discarding:
                out.append(TooLong(self._discarding + end - start + 1))
                self._discarding = 0
            else:
                stop = end - 1 if end > start and buf[end - 1] == _CR_BYTE else end
                # The limit counts a CRLF even when the peer sent a bare LF.
                if stop - start + len(CRLF) > maxLine:
                    out.append(self._tagged(buf, start, stop, end))
                else:
                    out.append(buf[start:stop])
            start = end + 1
        rest = len(buf) - start
        if self._discarding:
            self._discarding += rest
            self._buffer = b""
        elif rest >= maxLine and (
            rest >= maxLine + self.maxTags or buf[start:start + 1] != b"@"
        ):
            # Even if CRLF came next, this line would be over the limit.
            self._discarding = rest
            self._buffer = b""
        else:
            self._buffer = buf[start:]
        return out

    def _tagged(self, buf: bytes, start: int, stop: int, end: int) -> Union[bytes, TooLong]:
        """
        A line over C{maxLine}: kept if it is tags within C{maxTags} and a
        rest within C{maxLine}, else a L{TooLong} (saying whether the tags
        were what was too long).
        """
        if not self.maxTags or buf[start:start + 1] != b"@":
            return TooLong(end - start + 1)
        space = buf.find(b" ", start, stop)
        tagged = (space if space >= 0 else stop) - start + 1
        if tagged > self.maxTags:
            return TooLong(end - start + 1, tags=True)
        if stop - space - 1 + len(CRLF) > self.maxLine:
            return TooLong(end - start + 1)
        return buf[start:stop]

    @property
    def buffered(self) -> int:
        """How many bytes of an unfinished line are held."""
        return len(self._buffer)


def parseLine(line: bytes) -> Message:
    """
    Parse one line (without its CRLF) into a L{Message}.

    IRCv3 message tags are parsed into C{tags} (see L{parseTags}).

    @raise WireError: for anything that is not a well-formed message.
    """
    if NUL in line or CR in line:
        raise ForbiddenCharacter("NUL or CR inside a line is not allowed")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidUTF8("Line is not valid UTF-8") from None
    tags = None
    if text.startswith("@"):
        section, _, text = text.partition(" ")
        text = text.lstrip(" ")
        tags = parseTags(section)
    source = None
    if text.startswith(":"):
        prefix, _, text = text.partition(" ")
        source = prefix[1:] or None
        text = text.lstrip(" ")
    trailing = None
    head, sep, tail = text.partition(" :")
    if sep:
        trailing = tail
        text = head
    elif text.startswith(":"):
        raise EmptyCommand("Line has no command")
    words = text.split(" ")
    if "" in words:  # runs of spaces: rare, so filtered only when present
        words = [word for word in words if word]
    if not words:
        raise EmptyCommand("Line has no command")
    command = words[0].upper()
    params = words[1:]
    if trailing is not None:
        params.append(trailing)
    if len(params) > MAX_PARAMS:
        raise TooManyParams("More than %d parameters" % (MAX_PARAMS,))
    if tags is None:
        return Message(command, tuple(params), source)
    return Message(command, tuple(params), source, tags)


def _unescapeTag(value: str) -> str:
    """An IRCv3 tag value with its escapes (C{\\:} C{\\s} ...) undone."""
    out = []
    chars = iter(value)
    for c in chars:
        if c == "\\":
            nxt = next(chars, "")
            out.append(_TAG_UNESCAPES.get(nxt, nxt))
        else:
            out.append(c)
    return "".join(out)


def parseTags(section: str) -> Tags:
    """
    Parse a tag section (with its leading C{@}): C{key[=value]} items split
    by C{;}, values unescaped, a repeated key keeping its last value.

    @raise InvalidTags: over L{MAX_TAGS} bytes, or a key that breaks the
        grammar (a malformed tag is not guessed at).
    """
    if len(section.encode("utf-8")) + 1 > MAX_TAGS:
        raise InvalidTags("Message tags over %d bytes" % (MAX_TAGS,))
    tags: dict = {}
    for item in section[1:].split(";"):
        if not item:
            continue
        key, _, value = item.partition("=")
        if not _TAG_KEY.match(key):
            raise InvalidTags("Invalid message tag key")
        tags.pop(key, None)
        tags[key] = _unescapeTag(value) if "\\" in value else value
    return tuple(tags.items())


def formatTags(tags: Iterable[Tuple[str, str]]) -> str:
    """
    A tag section ready to put before a line: C{@k=v;k2 } (values escaped),
    or an empty string when there are no tags.
    """
    items = []
    for key, value in tags:
        if value:
            for raw, escaped in _TAG_ESCAPES:
                value = value.replace(raw, escaped)
            items.append(key + "=" + value)
        else:
            items.append(key)
    return "@" + ";".join(items) + " " if items else ""


#: What no parameter may hold: each would end the line early.
LINE_BREAKERS = ("\r", "\n", "\x00")


def isMiddleParam(value: str) -> bool:
    """
    Whether C{value} can be one middle parameter (a nick, a room, a mask):
    a CR, LF or NUL would inject a second command, and a space or a leading
    colon would shift the parameters after it.
    """
    return bool(value) and not value.startswith(":") and " " not in value and not any(
        c in value for c in LINE_BREAKERS
    )


def _checkParam(param: str, last: bool) -> None:
    """Refuse what would end the line early or change the message's shape."""
    if any(c in param for c in LINE_BREAKERS):
        raise ValueError("parameter contains CR, LF or NUL: %r" % (param,))
    if not last and not isMiddleParam(param):
        raise ValueError("middle parameter %r must be a single word" % (param,))


def formatMessage(
    command: str, params: Sequence[str] = (), source: Optional[str] = None
) -> bytes:
    """
    Format one message as UTF-8 bytes ending in CRLF.  The last parameter
    becomes a trailing one when it needs to (space, leading colon, empty).

    @raise ValueError: if a parameter would break the line or its shape.
    """
    parts = []
    if source is not None:
        _checkParam(source, last=False)
        parts.append(":" + source)
    _checkParam(command, last=False)
    parts.append(command)
    for index, param in enumerate(params):
        last = index == len(params) - 1
        _checkParam(param, last)
        if last and (not param or " " in param or param.startswith(":")):
            parts.append(":" + param)
        else:
            parts.append(param)
    return " ".join(parts).encode("utf-8") + CRLF


# Case mapping.  One mapping, used everywhere a name is compared.

_RFC1459_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ[]\\~"
_RFC1459_LOWER = "abcdefghijklmnopqrstuvwxyz{}|^"
_ASCII_UPPER = _RFC1459_UPPER[:26]
_ASCII_LOWER = _RFC1459_LOWER[:26]
_RFC1459_TABLE = str.maketrans(_RFC1459_UPPER, _RFC1459_LOWER)
_ASCII_TABLE = str.maketrans(_ASCII_UPPER, _ASCII_LOWER)


def rfc1459Casefold(name: str) -> str:
    """Fold C{name} under CASEMAPPING=rfc1459 (C{[]\\~} are upper case of C{{}|^})."""
    return name.translate(_RFC1459_TABLE)


def asciiCasefold(name: str) -> str:
    """Fold C{name} under CASEMAPPING=ascii."""
    return name.translate(_ASCII_TABLE)


CASEMAPPINGS = {"rfc1459": rfc1459Casefold, "ascii": asciiCasefold}


def casefolder(mapping: str) -> Callable[[str], str]:
    """
    The fold function for an ISUPPORT CASEMAPPING value; unknown values fall
    back to rfc1459, the RFC default, which folds a superset of ascii.
    """
    return CASEMAPPINGS.get(mapping.lower(), rfc1459Casefold)


# Names.

_NICK_SPECIAL = set("[]\\`_^{|}")
_NICK_FIRST = set(_ASCII_UPPER + _ASCII_LOWER) | _NICK_SPECIAL
_NICK_REST = _NICK_FIRST | set("0123456789-")
_CHANNEL_FORBIDDEN = set(" ,\x07\x00\r\n:")


def isValidNick(nick: str, maxLength: int) -> bool:
    """RFC 2812 nickname syntax, within C{maxLength} characters."""
    return (
        0 < len(nick) <= maxLength
        and nick[0] in _NICK_FIRST
        and all(c in _NICK_REST for c in nick[1:])
    )


def isValidChannel(name: str, maxLength: int, chanTypes: str = "#") -> bool:
    """A channel name: a CHANTYPES prefix, then no space, comma, BEL or colon."""
    return (
        1 < len(name) <= maxLength
        and name[0] in chanTypes
        and not any(c in _CHANNEL_FORBIDDEN for c in name)
    )


def splitTargets(value: str) -> List[str]:
    """Split a comma list (C{JOIN #a,#b}), dropping empty items."""
    items = value.split(",")
    if "" in items:
        items = [item for item in items if item]
    return items


def parseISupport(params: Iterable[str]) -> Dict[str, Optional[str]]:
    """
    Read the tokens of one 005 reply (without the leading nick and the
    trailing text) into a dict: C{KEY=value} -> value, C{KEY} -> "",
    C{-KEY} -> L{None}.
    """
    tokens: Dict[str, Optional[str]] = {}
    for token in params:
        if token.startswith("-"):
            tokens[token[1:].upper()] = None
        else:
            key, _, value = token.partition("=")
            tokens[key.upper()] = value
    return tokens
