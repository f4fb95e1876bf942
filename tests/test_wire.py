"""
Tests for L{securechat.wire}: splitting, parsing and formatting lines.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from securechat.wire import (
    MAX_CLIENT_TAGS,
    MAX_TAGS,
    EmptyCommand,
    ForbiddenCharacter,
    InvalidTags,
    InvalidUTF8,
    LineSplitter,
    Message,
    TooLong,
    TooManyParams,
    WireError,
    asciiCasefold,
    casefolder,
    formatMessage,
    formatTags,
    isValidChannel,
    isValidNick,
    parseISupport,
    parseLine,
    parseTags,
    rfc1459Casefold,
    splitTargets,
)


class LineSplitterTests(SynchronousTestCase):
    def test_crlfAndBareLF(self) -> None:
        """Both CRLF and a bare LF end a line; the terminator is removed."""
        splitter = LineSplitter()
        self.assertEqual(splitter.feed(b"A\r\nB\nC"), [b"A", b"B"])
        self.assertEqual(splitter.feed(b"\r\n"), [b"C"])

    def test_overLongLineCostsOnlyItself(self) -> None:
        """
        A line over the limit becomes one L{TooLong}; the valid lines around
        it, even in the same chunk, are kept.
        """
        splitter = LineSplitter(16)
        data = b"OK1\r\n" + b"x" * 40 + b"\r\nOK2\r\n"
        self.assertEqual(splitter.feed(data), [b"OK1", TooLong(42), b"OK2"])

    def test_limitCountsCRLF(self) -> None:
        """A line of exactly the limit with its CRLF passes; one byte more does not."""
        splitter = LineSplitter(10)
        self.assertEqual(splitter.feed(b"x" * 8 + b"\r\n"), [b"x" * 8])
        self.assertEqual(splitter.feed(b"x" * 9 + b"\r\n"), [TooLong(11)])
        # A bare LF is counted as if it were CRLF.
        self.assertEqual(splitter.feed(b"x" * 8 + b"\n"), [b"x" * 8])
        self.assertEqual(splitter.feed(b"x" * 9 + b"\n"), [TooLong(10)])

    def test_bufferBoundedWithoutNewline(self) -> None:
        """A peer that never sends a newline cannot grow the buffer past the limit."""
        splitter = LineSplitter(100)
        for _ in range(1000):
            self.assertEqual(splitter.feed(b"y" * 1000), [])
            self.assertLess(splitter.buffered, 100)
        self.assertEqual(splitter.feed(b"\r\nPING x\r\n"), [TooLong(1000 * 1000 + 2), b"PING x"])

    @given(
        st.lists(st.binary(max_size=30).map(lambda b: b.replace(b"\n", b"")), max_size=20),
        st.lists(st.integers(min_value=1, max_value=50), min_size=1, max_size=10),
    )
    def test_anySplitGivesTheSameLines(self, lines, cuts) -> None:
        """However the stream is cut into chunks, the same lines come out."""
        stream = b"".join(line + b"\n" for line in lines)
        splitter = LineSplitter(64)
        out = []
        position = 0
        index = 0
        while position < len(stream):
            size = cuts[index % len(cuts)]
            out.extend(splitter.feed(stream[position : position + size]))
            position += size
            index += 1
        expected = [
            line[:-1] if line.endswith(b"\r") else line for line in lines
        ]
        self.assertEqual(out, expected)


class TaggedLineSplitterTests(SynchronousTestCase):
    """IRCv3 message tags may take C{maxTags} bytes on top of the line limit."""

    def test_tagsOnTopOfTheLimit(self) -> None:
        """Tags within their limit and a rest within the line limit pass."""
        splitter = LineSplitter(20, 100)
        line = b"@" + b"a" * 90 + b" PRIVMSG #a :0123"
        self.assertEqual(splitter.feed(line + b"\r\n"), [line])
        # Without maxTags the same line is over the limit, as before.
        self.assertEqual(LineSplitter(20).feed(line + b"\r\n"), [TooLong(len(line) + 2)])

    def test_tooLongTagsRefusedAndSaidSo(self) -> None:
        """Tags over C{maxTags} give a L{TooLong} marked C{tags}; later lines survive."""
        splitter = LineSplitter(20, 100)
        line = b"@" + b"a" * 100 + b" PING x"
        self.assertEqual(
            splitter.feed(line + b"\r\nPING y\r\n"), [TooLong(len(line) + 2, tags=True), b"PING y"]
        )

    def test_restStillBoundByTheLineLimit(self) -> None:
        """Short tags do not lend their unused bytes to the rest of the line."""
        splitter = LineSplitter(20, 100)
        line = b"@a=b PRIVMSG #a :" + b"x" * 20
        self.assertEqual(splitter.feed(line + b"\r\n"), [TooLong(len(line) + 2)])

    def test_bufferBoundForTaggedLines(self) -> None:
        """An unfinished tagged line is held up to both limits, and no further."""
        splitter = LineSplitter(20, 100)
        self.assertEqual(splitter.feed(b"@" + b"a" * 110), [])
        self.assertEqual(splitter.buffered, 111)
        self.assertEqual(splitter.feed(b"a" * 100), [])
        self.assertEqual(splitter.buffered, 0)
        # An untagged line is held only up to the line limit.
        splitter = LineSplitter(20, 100)
        splitter.feed(b"x" * 30)
        self.assertEqual(splitter.buffered, 0)


class ParseLineTests(SynchronousTestCase):
    def test_simple(self) -> None:
        self.assertEqual(parseLine(b"nick alice"), Message("NICK", ("alice",)))

    def test_trailingAndSource(self) -> None:
        message = parseLine(b":bob!~b@h PRIVMSG #lab :hello  there :)")
        self.assertEqual(message.command, "PRIVMSG")
        self.assertEqual(message.params, ("#lab", "hello  there :)"))
        self.assertEqual(message.source, "bob!~b@h")
        self.assertEqual(message.sourceNick, "bob")

    def test_emptyTrailing(self) -> None:
        self.assertEqual(parseLine(b"TOPIC #a :").params, ("#a", ""))

    def test_tagsParsed(self) -> None:
        """Tags are read into C{tags}; the rest of the message is as without them."""
        self.assertEqual(
            parseLine(b"@time=x :s PING :t"), Message("PING", ("t",), "s", (("time", "x"),))
        )

    def test_tagEscapesAndRepeats(self) -> None:
        """Values are unescaped; a key given twice keeps its last value; empty values are empty."""
        message = parseLine(b"@+a=x\\sy\\:z\\\\;b;+a=2;c=\\q\\ PING t")
        self.assertEqual(message.tags, (("b", ""), ("+a", "2"), ("c", "q")))
        self.assertEqual(parseTags("@k=a\\sb\\:c\\\\d\\r\\n"), (("k", "a b;c\\d\r\n"),))

    def test_badTagsRefused(self) -> None:
        """A key outside the grammar, or a tag section over MAX_TAGS, is refused."""
        self.assertRaises(InvalidTags, parseLine, b"@a!b=c PING x")
        self.assertRaises(InvalidTags, parseLine, b"@=v PING x")
        self.assertRaises(InvalidTags, parseLine, b"@+/x=1 PING x")
        self.assertEqual(parseLine(b"@+example.com/x-y=1 PING x").tags, (("+example.com/x-y", "1"),))
        big = b"@a=" + b"x" * MAX_TAGS + b" PING x"
        self.assertRaises(InvalidTags, parseLine, big)
        self.assertEqual(InvalidTags.code, "INVALID_TAGS")
        self.assertLess(MAX_CLIENT_TAGS, MAX_TAGS)

    @given(
        st.lists(
            st.tuples(
                st.from_regex(r"\+?[a-z][a-z0-9-]{0,8}", fullmatch=True),
                st.text(max_size=20).filter(lambda t: "\x00" not in t),
            ),
            max_size=5,
            unique_by=lambda pair: pair[0],
        )
    )
    def test_tagsRoundTrip(self, tags) -> None:
        """What L{formatTags} writes, L{parseLine} reads back (empty values as keys alone)."""
        line = (formatTags(tags) + "PING x").encode("utf-8")
        parsed = parseLine(line)
        self.assertEqual(parsed.tags or (), tuple(tags))
        self.assertEqual(parsed.params, ("x",))

    def test_errors(self) -> None:
        """Each kind of bad line raises its own L{WireError}."""
        self.assertRaises(InvalidUTF8, parseLine, b"PRIVMSG #a :\xff")
        self.assertRaises(ForbiddenCharacter, parseLine, b"PRIVMSG #a :a\x00b")
        self.assertRaises(ForbiddenCharacter, parseLine, b"PRIVMSG #a :a\rb")
        self.assertRaises(EmptyCommand, parseLine, b":prefix")
        self.assertRaises(EmptyCommand, parseLine, b"   ")
        self.assertRaises(TooManyParams, parseLine, b"X" + b" a" * 16)

    @given(st.binary(max_size=600))
    def test_anyBytesParseOrRaiseWireError(self, data) -> None:
        """No input raises anything but a L{WireError}."""
        try:
            parseLine(data)
        except WireError:
            pass

    @given(
        st.from_regex(r"[A-Z]{1,10}", fullmatch=True),
        st.lists(st.from_regex(r"[^\s:\x00][^\s\x00]{0,10}", fullmatch=True), max_size=5),
        st.text(max_size=50).filter(lambda t: not any(c in t for c in "\r\n\x00")),
    )
    def test_formatParseRoundTrip(self, command, middles, trailing) -> None:
        """What L{formatMessage} writes, L{parseLine} reads back unchanged."""
        params = tuple(middles) + (trailing,)
        line = formatMessage(command, params, "src")
        self.assertTrue(line.endswith(b"\r\n"))
        self.assertEqual(parseLine(line[:-2]), Message(command, params, "src"))


class FormatMessageTests(SynchronousTestCase):
    def test_trailingOnlyWhenNeeded(self) -> None:
        self.assertEqual(formatMessage("JOIN", ("#a",), "n!u@h"), b":n!u@h JOIN #a\r\n")
        self.assertEqual(formatMessage("PRIVMSG", ("#a", "hi there")), b"PRIVMSG #a :hi there\r\n")
        self.assertEqual(formatMessage("TOPIC", ("#a", "")), b"TOPIC #a :\r\n")
        self.assertEqual(formatMessage("X", (":x",)), b"X ::x\r\n")

    def test_refusesSmuggling(self) -> None:
        """A parameter cannot end the line and start a second message."""
        self.assertRaises(ValueError, formatMessage, "PRIVMSG", ("#a", "hi\r\nQUIT"))
        self.assertRaises(ValueError, formatMessage, "PRIVMSG", ("#a b", "x"))
        self.assertRaises(ValueError, formatMessage, "PRIVMSG", ("", "x"))


class NamesTests(SynchronousTestCase):
    def test_casefold(self) -> None:
        self.assertEqual(rfc1459Casefold("Nick[A]\\~"), "nick{a}|^")
        self.assertEqual(asciiCasefold("Nick[A]"), "nick[a]")
        self.assertIs(casefolder("ASCII"), asciiCasefold)
        self.assertIs(casefolder("strict-rfc1459"), rfc1459Casefold)

    def test_nicks(self) -> None:
        self.assertTrue(isValidNick("alice", 30))
        self.assertTrue(isValidNick("[bot]-2", 30))
        for bad in ("", "1abc", "a b", "a,b", "x" * 31, "é", "a!b"):
            self.assertFalse(isValidNick(bad, 30), bad)

    def test_channels(self) -> None:
        self.assertTrue(isValidChannel("#lab", 50))
        for bad in ("#", "lab", "#a b", "#a,b", "#a\x07", "#" + "x" * 50, "#a:b"):
            self.assertFalse(isValidChannel(bad, 50), bad)

    def test_splitTargets(self) -> None:
        self.assertEqual(splitTargets("#a,,#b,"), ["#a", "#b"])

    def test_isupport(self) -> None:
        self.assertEqual(
            parseISupport(["LINELEN=512", "UTF8ONLY", "-FOO", "casemapping=ascii"]),
            {"LINELEN": "512", "UTF8ONLY": "", "FOO": None, "CASEMAPPING": "ascii"},
        )
