"""
The relay's fast paths give the bytes the full path gives.

L{RelayState.messageLine} routes C{PRIVMSG}/C{NOTICE} to one target on
bytes, and the welcome burst is formatted once and patched per nick
(L{RelayState._welcome}): each is checked against the path it shortcuts,
line for line and event for event.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple, Union

from hypothesis import example, given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from securechat.relay.limits import TokenBucket
from securechat.relay.state import Client, RelayConfig, RelayState
from securechat.wire import TooLong, WireError, parseLine

NICKS = ("alice", "bob", "carol", "dave")


class RecordingLog:
    """An L{EventLog} that keeps every event's format and fields."""

    def __init__(self) -> None:
        self.events: List[Tuple[str, Dict[str, object]]] = []

    def debug(self, format: str, **fields: object) -> None:
        self.events.append((format, fields))

    def info(self, format: str, **fields: object) -> None:
        self.events.append((format, fields))

    def warn(self, format: str, **fields: object) -> None:
        self.events.append((format, fields))


class World:
    """
    A relay state with four registered clients: three in C{#room}, one
    away, one taking tags and echoes, one taking client tags.  C{fast} feeds lines as the adapter does
    (the fast path first); otherwise every line is parsed and handled.
    """

    def __init__(self, fast: bool, config: RelayConfig = RelayConfig()) -> None:
        self.fast = fast
        self.log = RecordingLog()
        self.state = RelayState(config, now=lambda: 1_000_000.5, log=self.log)
        self.sent: Dict[str, List[bytes]] = {}
        self.clients: Dict[str, Client] = {}
        for index, nick in enumerate(NICKS):
            out: List[bytes] = []
            client = Client(out.append, lambda: None, "10.0.0.%d" % (index + 1,))
            self.sent[nick] = out
            self.clients[nick] = client
            self.feed(nick, b"NICK " + nick.encode())
            self.feed(nick, b"USER u 0 * :real")
        self.feed("carol", b"CAP REQ :server-time message-tags echo-message")
        self.feed("alice", b"CAP REQ :message-tags")
        self.feed("dave", b"AWAY :gone fishing")
        for nick in ("alice", "bob", "carol"):
            self.feed(nick, b"JOIN #room")
        self.feed("alice", b"JOIN #quiet")
        self.feed("alice", b"MODE #quiet +m")
        self.feed("bob", b"JOIN #quiet")
        self.state.deliverPending()

    def feed(self, nick: str, line: bytes) -> bool:
        """One line from C{nick}; whether the fast path took it."""
        state, client = self.state, self.clients[nick]
        if self.fast and state.messageLine(client, line):
            return True
        try:
            message = parseLine(line)
        except WireError as e:
            state.badLine(client, e.code, str(e))
        else:
            state.handle(client, message)
        return False

    def output(self) -> Dict[str, bytes]:
        return {nick: b"".join(sent) for nick, sent in self.sent.items()}


targets = st.sampled_from(
    ["bob", "BOB", "alice", "carol", "dave", "nobody", "#room", "#ROOM", "#quiet",
     "#nosuch", "bob,carol", "bob,BOB", "#room,bob", "", "b\u00e9b", "#r\u00f6om", ":bob", ":#room"]
)
texts = st.sampled_from(
    ["hello", "", "two words", " :colon inside", "caf\u00e9 \u2615", ":", "x" * 300]
)
commands = st.sampled_from(["PRIVMSG", "NOTICE", "privmsg", "TAGMSG"])


@st.composite
def lines(draw: st.DrawFn) -> bytes:
    """Message lines of every shape, most of them the fast path's."""
    command = draw(commands)
    target = draw(targets)
    text = draw(texts)
    shape = draw(st.sampled_from(["trailing", "trailing", "middle", "tags", "source", "spaces", "none"]))
    if shape == "middle":
        line = "%s %s %s" % (command, target, text)
    elif shape == "tags":
        line = "@+draft/react=1 %s %s :%s" % (command, target, text)
    elif shape == "source":
        line = ":whoever %s %s :%s" % (command, target, text)
    elif shape == "spaces":
        line = "%s  %s :%s" % (command, target, text)
    elif shape == "none":
        line = "%s %s" % (command, target)
    else:
        line = "%s %s :%s" % (command, target, text)
    data = line.encode("utf-8")
    damage = draw(st.sampled_from([None, None, None, b"\x00", b"\r", b"\xff"]))
    if damage is not None:
        data += damage
    return data


class MessageLineTests(SynchronousTestCase):
    """L{RelayState.messageLine} against parse and L{RelayState.handle}."""

    @given(st.lists(st.tuples(st.sampled_from(NICKS), lines()), min_size=1, max_size=12),
           st.booleans())
    # A tagged line's tags are not passed on with the next, untagged one.
    @example([("alice", b"@+draft/react=1 PRIVMSG #room :a"), ("alice", b"PRIVMSG #room :b")], False)
    @example([("alice", b"@+draft/react=1 PRIVMSG carol :a"), ("alice", b"PRIVMSG carol :b")], True)
    # No target, a trailing text at once: 412 either way, not 401 for ":bob".
    @example([("alice", b"PRIVMSG :bob :hi")], True)
    def test_sameBytesAndEvents(self, sent: List[Tuple[str, bytes]], perLine: bool) -> None:
        """
        Whatever the lines, the clients get the same bytes and the log the
        same events as when every line is parsed (turns of one line or of
        all of them).
        """
        fast, full = World(True), World(False)
        for world in (fast, full):
            for sender in world.sent.values():
                del sender[:]
            del world.log.events[:]
            for nick, line in sent:
                world.feed(nick, line)
                if perLine:
                    world.state.deliverPending()
            world.state.deliverPending()
        self.assertEqual(fast.output(), full.output())
        self.assertEqual(fast.log.events, full.log.events)
        self.assertEqual(
            {nick: c.active for nick, c in fast.clients.items()},
            {nick: c.active for nick, c in full.clients.items()},
        )

    def test_takesOneTargetWithText(self) -> None:
        """The common shapes are the fast path's, to a nick and to a room."""
        world = World(True)
        for line in (b"PRIVMSG bob :hi", b"NOTICE bob :hi", b"PRIVMSG #room :hi there",
                     b"PRIVMSG nobody :hi", "PRIVMSG b\u00f6b :\u2615".encode()):
            self.assertTrue(world.feed("alice", line), line)
        self.assertTrue(world.feed("bob", b"PRIVMSG #quiet :muted"))
        world.state.deliverPending()
        self.assertIn(b":alice!~u@10.0.0.1 PRIVMSG bob :hi\r\n", world.sent["bob"])
        self.assertIn(b":alice!~u@10.0.0.1 NOTICE bob :hi\r\n", world.sent["bob"])
        self.assertIn(b":alice!~u@10.0.0.1 PRIVMSG #room :hi there\r\n", world.sent["bob"])
        # Errors come from the same routing: 401, and 404 under +m.
        self.assertIn(b" 401 alice nobody :No such nick/channel\r\n", b"".join(world.sent["alice"]))
        self.assertIn(b" 401 alice b\xc3\xb6b :No such nick/channel\r\n", b"".join(world.sent["alice"]))
        self.assertIn(b" 404 bob #quiet :Cannot send to channel\r\n", b"".join(world.sent["bob"]))

    def test_leavesOtherShapes(self) -> None:
        """Anything else goes to the full path untouched."""
        world = World(True)
        for line in (b"PRIVMSG bob,carol :hi", b"PRIVMSG bob hi", b"PRIVMSG bob :",
                     b"@+a=1 PRIVMSG bob :hi", b":alice PRIVMSG bob :hi", b"privmsg bob :hi",
                     b"PRIVMSG  bob :hi", b"PRIVMSG bob :a\x00b", b"PRIVMSG bob :a\rb",
                     b"PRIVMSG bob :\xff", b"PRIVMSG :hi", b"TAGMSG bob :hi", b"PING :x",
                     # A trailing parameter right after the command: no target (412).
                     b"PRIVMSG :bob :hi", b"NOTICE :#room :hi"):
            before = {nick: list(out) for nick, out in world.sent.items()}
            self.assertFalse(world.state.messageLine(world.clients["alice"], line), line)
            self.assertEqual({nick: list(out) for nick, out in world.sent.items()}, before)

    def test_unregisteredAndPayloadLogs(self) -> None:
        """Before registration, and with payloads logged, every line is parsed."""
        state = RelayState(RelayConfig())
        client = Client(lambda data: None, lambda: None, "10.0.0.9")
        self.assertFalse(state.messageLine(client, b"PRIVMSG bob :hi"))
        world = World(True, RelayConfig(logPayloads=True))
        self.assertFalse(world.state.messageLine(world.clients["alice"], b"PRIVMSG bob :hi"))


class WelcomeBurstTests(SynchronousTestCase):
    """The welcome formatted once and patched per nick."""

    def welcome(
        self, state: RelayState, nick: str, host: str, patched: Optional[bool] = True
    ) -> Tuple[bytes, bytes]:
        """The burst a client got and the one formatted line by line for it."""
        out: List[bytes] = []
        client = Client(out.append, lambda: None, host)
        state.handle(client, parseLine(b"NICK " + nick.encode()))
        state.handle(client, parseLine(b"USER someone 0 * :real"))
        self.assertTrue(client.registered)
        if patched is None:
            pass  # either way: only the bytes matter
        elif patched:
            self.assertEqual(len(out), 1, "one write for the whole burst")
        else:
            self.assertGreater(len(out), 1, "formatted line by line")
        lines: List[bytes] = []
        client.write = lines.append
        state._welcomeLines(client)
        return b"".join(out), b"".join(lines)

    def test_sameAsFormatted(self) -> None:
        """Each nick and host gets what formatting its lines gives."""
        state = RelayState(RelayConfig(motd=("hello % s", "nick {nick}")))
        for nick, host in (("a", "10.0.0.1"), ("Bob[away]", "::1"), ("x" * 30, "2001:db8::7")):
            burst, formatted = self.welcome(state, nick, host)
            self.assertEqual(burst, formatted)
            self.assertIn(b" 001 " + nick.encode() + b" :", burst)
            self.assertIn(b"\r\n:securechat.local 376 " + nick.encode() + b" :End of /MOTD", burst)

    def test_newConfigFormatsAnew(self) -> None:
        """A configuration put in place later is what the next burst says."""
        state = RelayState(RelayConfig())
        burst, _ = self.welcome(state, "a", "10.0.0.1")
        self.assertIn(b" 422 a ", burst)
        state.config = RelayConfig(motd=("hello",), networkName="othernet")
        burst, formatted = self.welcome(state, "b", "10.0.0.1")
        self.assertEqual(burst, formatted)
        self.assertIn(b"Welcome to the othernet network, b!~someone@10.0.0.1\r\n", burst)
        self.assertIn(b" NETWORK=othernet ", burst)
        self.assertNotIn(b"NETWORK=securechat", burst)
        self.assertIn(b" 372 b :- hello\r\n", burst)

    def test_longLinesFitForEveryNick(self) -> None:
        """
        A MOTD line or network name near the line limit is cut for each
        client's own nick and prefix: never past the limit for a long nick,
        never shorter than needed for a short one.
        """
        for config in (
            RelayConfig(motd=("m" * 480, "é" * 240, "short")),
            RelayConfig(networkName="n" * 380, motd=("hello",)),
            RelayConfig(motd=("m" * 400, "short")),
        ):
            state = RelayState(config)
            for nick, host in (("a", "10.0.0.1"), ("x" * 30, "2001:db8::7"), ("bob", "10.0.0.2")):
                burst, formatted = self.welcome(state, nick, host, patched=None)
                self.assertEqual(burst, formatted)
                for line in burst.split(b"\r\n")[:-1]:
                    self.assertLessEqual(len(line) + 2, config.maxLine, line[:60])
                # A short line is whole whatever the nick.
                last = b" 372 %s :- %s\r\n" % (nick.encode(), config.motd[-1].encode())
                self.assertIn(last, burst)

    def test_markerInConfigFormatsPerClient(self) -> None:
        """A MOTD holding the stand-ins' marker is not cut at it: the lines are formatted."""
        state = RelayState(RelayConfig(motd=("\x01nick\x01 and \x01prefix\x01",)))
        burst, formatted = self.welcome(state, "carol", "10.0.0.3", patched=False)
        self.assertEqual(burst, formatted)
        self.assertIn(b" 372 carol :- \x01nick\x01 and \x01prefix\x01\r\n", burst)


class MessageLinesTests(SynchronousTestCase):
    """
    L{RelayState.messageLines}: the adapter's read loop over fast-path
    lines, each paid with a token, stopping where a line needs more.
    """

    def setUp(self) -> None:
        self.world = World(True)
        for out in self.world.sent.values():
            del out[:]
        self.alice = self.world.clients["alice"]

    def routeLines(self, lines: List[Union[bytes, TooLong]], tokens: float = 100.0,
            start: int = 0, stop: Optional[int] = None) -> Tuple[int, TokenBucket]:
        bucket = TokenBucket(tokens, 1.0, 50.0)
        done = self.world.state.messageLines(
            self.alice, lines, start, len(lines) if stop is None else stop, bucket, 50.0
        )
        return done, bucket

    def test_allFast(self) -> None:
        """Every line routed, one token each, in order."""
        done, bucket = self.routeLines([b"PRIVMSG bob :one", b"PRIVMSG bob :two", b"NOTICE dave :three"])
        self.assertEqual(done, 3)
        self.assertEqual(bucket.tokens, 97.0)
        self.assertEqual(
            self.world.sent["bob"],
            [b":alice!~u@10.0.0.1 PRIVMSG bob :one\r\n", b":alice!~u@10.0.0.1 PRIVMSG bob :two\r\n"],
        )
        self.assertEqual(self.world.sent["dave"], [b":alice!~u@10.0.0.1 NOTICE dave :three\r\n"])

    def test_stopsAtOtherShapes(self) -> None:
        """
        A line of another shape, an empty line or an over-long one is left
        to the caller, with its token: nothing of it or after it is done.
        """
        for other in (b"PING :x", b"", TooLong(600), b"PRIVMSG bob,carol :hi"):
            self.setUp()
            done, bucket = self.routeLines([b"PRIVMSG bob :one", other, b"PRIVMSG bob :two"])
            self.assertEqual(done, 1, other)
            self.assertEqual(bucket.tokens, 99.0)
            self.assertEqual(self.world.sent["bob"], [b":alice!~u@10.0.0.1 PRIVMSG bob :one\r\n"])
            self.assertEqual(self.world.sent["alice"], [], other)

    def test_stopsWhenTheBucketIsEmpty(self) -> None:
        """Two tokens pay for two lines; the third waits, unrouted."""
        done, bucket = self.routeLines([b"PRIVMSG bob :%d" % (i,) for i in range(3)], tokens=2)
        self.assertEqual(done, 2)
        self.assertFalse(bucket.has(50.0))
        self.assertEqual(len(self.world.sent["bob"]), 2)

    def test_withinItsBounds(self) -> None:
        """Only C{lines[start:stop]}."""
        done, _ = self.routeLines([b"PRIVMSG bob :%d" % (i,) for i in range(4)], start=1, stop=3)
        self.assertEqual(done, 3)
        self.assertEqual(
            self.world.sent["bob"],
            [b":alice!~u@10.0.0.1 PRIVMSG bob :1\r\n", b":alice!~u@10.0.0.1 PRIVMSG bob :2\r\n"],
        )

    def test_hasTakesNothing(self) -> None:
        """L{TokenBucket.has} answers as L{TokenBucket.take} would, taking nothing."""
        bucket = TokenBucket(1, 2.0, 10.0)
        self.assertTrue(bucket.has(10.0))
        self.assertTrue(bucket.take(10.0))
        self.assertFalse(bucket.has(10.0))
        self.assertEqual(bucket.tokens, 0.0)
        self.assertTrue(bucket.has(10.5))  # refilled at the rate
        self.assertEqual(bucket.tokens, 1.0)
