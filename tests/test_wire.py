"""
Tests for L{securechat.wire}: splitting, parsing and formatting lines.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from securechat.wire import (
    EmptyCommand,
    ForbiddenCharacter,
    InvalidUTF8,
    LineSplitter,
    Message,
    TooLong,
    TooManyParams,
    WireError,
    asciiCasefold,
    casefolder,
    formatMessage,
    isValidChannel,
    isValidNick,
    parseISupport,
    parseLine,
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

    def test_tagsSkipped(self) -> None:
        self.assertEqual(parseLine(b"@time=x :s PING :t"), Message("PING", ("t",), "s"))

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
