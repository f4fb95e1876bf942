"""
Issue 14, the console as a person uses it, driven through its terminal
abstraction (keys in, screen out): windows, scrollback, keys that never
type, completion, IRC habits, colours, the connection in the status bar.
A tmux test reads a real screen for scrollback and window switching.
"""

from __future__ import annotations

import os
import shutil
import sys

from twisted.conch.insults.insults import ServerProtocol
from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import SkipTest, SynchronousTestCase

from securechat.client.core import events as ev
from securechat.client.core.session import _Room
from securechat.client.faces.commands import Console
from securechat.client.faces.completion import Completer
from securechat.client.faces.console import ConsoleTerminal
from securechat.client.faces.windows import MAX_WINDOWS, SCROLLBACK, SCROLLBACK_CHARS, Window
from securechat.codec import DEFAULT_KDF

from .test_client_console import FakeScreen, offlineClient
from .test_client_support import WAIT, LoopbackCase, Tmux, patchCommands

P = ServerProtocol


class RawScreen(FakeScreen):
    """A FakeScreen that also keeps every byte written (colours included)."""

    def __init__(self, width: int = 60, height: int = 10) -> None:
        FakeScreen.__init__(self, width, height)
        self.raw = b""

    def write(self, data: bytes) -> None:
        self.raw += data
        FakeScreen.write(self, data)


class ConsoleCase(SynchronousTestCase):
    def setUp(self):
        self.client = offlineClient()
        self.sent = []
        patchCommands(self, self.client, join=lambda room: self.sent.append(("join", room)))
        self.fake = RawScreen(100, 10)
        self.screen = ConsoleTerminal(
            lambda terminal: Console(self.client, terminal.show, terminal.ask, lambda r: None,
                                     current="#lab", clock=lambda: 0.0),
            lambda: self.screen.console.statusSegments(),
            (self.fake.width, self.fake.height),
        )
        self.screen.terminal = self.fake
        self.screen.connectionMade()
        self.console = self.screen.console
        self.client.listen(self.console.event)

    def key(self, keyID, modifier=None):
        self.screen.keystrokeReceived(keyID, modifier)

    def type(self, text: str) -> None:
        for byte in text.encode("utf-8"):
            self.key(bytes([byte]))

    def enter(self, text: str) -> None:
        self.type(text)
        self.key(b"\r")

    def body(self):
        return [row for row in self.fake.text()[:-2]]

    def status(self) -> str:
        return self.fake.text()[-2]

    def message(self, room, sender, body, protection="none", layer="plain", direct=False):
        self.console.event(ev.IncomingMessage(room, sender, body, layer, protection, direct))


class WindowTests(ConsoleCase):
    def test_eachRoomItsWindowAndTheStatusBarMarksActivity(self):
        self.console.event(ev.Joined("#other", "alice", True))
        self.message("#lab", "bob", "in lab")
        self.message("#other", "carol", "in other")
        self.assertIn("in lab", "\n".join(self.body()))
        self.assertNotIn("in other", "\n".join(self.body()))
        self.assertIn("2:#lab", self.status())
        self.assertIn("act: 3:#other", self.status())
        # A mention of our nick is a highlight; so is a direct message.
        self.message("#other", "carol", "alice: look")
        self.assertIn("3:#other!", self.status())
        self.message("dave", "dave", "psst", direct=True)
        self.assertIn("4:dave!", self.status())
        # Alt-3 shows #other; its marker goes.
        self.key(b"3", P.ALT)
        rows = "\n".join(self.body())
        self.assertIn("in other", rows)
        self.assertNotIn("in lab", rows)
        self.assertIn("3:#other", self.status())
        self.assertNotIn("3:#other!", self.status())
        self.assertEqual(self.fake.text()[-1], "[#other]")
        # Ctrl-N, Ctrl-P, /window N.
        self.key(b"\x0e")
        self.assertIn("psst", "\n".join(self.body()))
        self.key(b"\x10")
        self.assertIn("in other", "\n".join(self.body()))
        self.enter("/window 1")
        self.assertEqual(self.fake.text()[-1], "[no room]")
        self.assertIn("1:status", self.status())
        self.enter("/window 9")
        self.assertIn("no window 9", "\n".join(self.body()))

    def test_typedTextGoesToTheWindowShown(self):
        sent = []
        patchCommands(self, self.client, send=lambda target, text, force=False: sent.append((target, text)))
        self.console.event(ev.Joined("#other", "alice", True))
        self.key(b"3", P.ALT)
        self.enter("hello other")
        self.key(b"2", P.ALT)
        self.enter("hello lab")
        self.assertEqual(sent, [("#other", "hello other"), ("#lab", "hello lab")])

    def test_queryAndClose(self):
        sent = []
        patchCommands(self, self.client, send=lambda target, text, force=False: sent.append((target, text)))
        self.enter("/query bob hi bob")
        self.assertEqual(self.console.current, "bob")
        self.assertEqual(sent, [("bob", "hi bob")])
        self.enter("/close")
        self.assertEqual(self.console.current, "#lab")
        self.enter("/window 1")
        self.enter("/close")
        self.assertIn("status window stays open", "\n".join(self.body()))

    def test_windowsAreBounded(self):
        """A relay inventing nicks cannot open windows (or hold lines) without bound."""
        for n in range(MAX_WINDOWS + 10):
            self.message("n%d" % (n,), "n%d" % (n,), "hi", direct=True)
        self.assertEqual(len(self.console.windows.windows), MAX_WINDOWS)
        self.assertIn("n%d" % (MAX_WINDOWS + 9,), "\n".join(self.body()))  # shown where the user is
        window = Window("#x", "room")
        for _ in range(SCROLLBACK + 5):
            window.add(_line("x"))
        self.assertEqual(len(window.lines), SCROLLBACK)
        big = Window("#y", "room")
        for _ in range(100):
            big.add(_line("y" * 16000))  # the longest lines a relay can send
        self.assertLessEqual(big.chars, SCROLLBACK_CHARS)
        self.assertEqual(big.chars, sum(len(line.text) for line in big.lines))


def _line(text):
    from securechat.client.faces.windows import Line

    return Line.plain(text, "normal")


class ScrollbackTests(ConsoleCase):
    def test_pageUpAndDown(self):
        for n in range(30):
            self.message("#lab", "bob", "line %02d" % (n,))
        self.assertEqual(self.body()[-1][-7:], "line 29")
        self.key(P.PGUP)
        rows = self.body()
        self.assertEqual(rows[-1][-7:], "line 22")
        self.assertEqual(rows[0][-7:], "line 15")
        self.assertIn("-- more --", self.status())
        # New lines do not move the view while scrolled back.
        self.message("#lab", "bob", "line 30")
        self.assertEqual(self.body()[-1][-7:], "line 22")
        self.key(P.PGUP)
        self.key(P.PGUP)
        self.key(P.PGUP)
        self.key(P.PGUP)
        self.assertEqual(self.body()[0][-7:], "line 00")  # clamped at the top
        for _ in range(6):
            self.key(P.PGDN)
        self.assertEqual(self.body()[-1][-7:], "line 30")
        self.assertNotIn("-- more --", self.status())

    def test_eachWindowKeepsItsOwnScroll(self):
        for n in range(30):
            self.message("#lab", "bob", "lab %02d" % (n,))
        self.key(P.PGUP)
        self.key(b"1", P.ALT)
        self.key(b"2", P.ALT)
        self.assertEqual(self.body()[-1][-6:], "lab 22")

    def test_clear(self):
        self.message("#lab", "bob", "old news")
        self.enter("/clear")
        self.assertNotIn("old news", "\n".join(self.body()))


class KeyTests(ConsoleCase):
    def test_unknownKeysNeverInsertText(self):
        """PgUp, F1, F2, Insert typed '[PGUP]'... and Enter sent it to the room."""
        sent = []
        patchCommands(self, self.client, send=lambda target, text, force=False: sent.append(text))
        for keyID in (P.F1, P.F2, P.F5, P.F12, P.INSERT, P.NUMPAD_MIDDLE, P.PGUP, P.PGDN):
            self.key(keyID)
        self.key(b"x", P.ALT)
        self.key(b"\x02")  # Ctrl-B: a control character
        self.screen.unhandledControlSequence(b"\x1b[1;5C")
        self.assertEqual(self.screen.buffer, [])
        self.assertEqual(self.fake.text()[-1], "[#lab]")
        self.key(b"\r")
        self.assertEqual(sent, [])

    def test_altArrowsSwitchWindows(self):
        self.console.event(ev.Joined("#other", "alice", True))
        self.screen.unhandledControlSequence(b"\x1b[1;3C")
        self.assertEqual(self.console.current, "#other")
        self.screen.unhandledControlSequence(b"\x1b[1;3D")
        self.assertEqual(self.console.current, "#lab")


class CompletionTests(ConsoleCase):
    def setUp(self):
        ConsoleCase.setUp(self)
        room = _Room("#lab")
        for nick in ("alice", "bob", "Bobby", "carol"):
            room.members[nick.lower()] = nick
        self.client.session.rooms["#lab"] = room

    def test_nicksCommandsRooms(self):
        self.type("ca")
        self.key(b"\t")
        self.assertEqual("".join(self.screen.buffer), "carol: ")
        self.key(b"\x15")
        self.type("hi bo")
        self.key(b"\t")
        self.assertEqual("".join(self.screen.buffer), "hi bob")
        self.key(b"\t")
        self.assertEqual("".join(self.screen.buffer), "hi Bobby")
        self.key(b"\t")
        self.assertEqual("".join(self.screen.buffer), "hi bob")
        self.key(b"\x15")
        self.type("/top")
        self.key(b"\t")
        self.assertEqual("".join(self.screen.buffer), "/topic ")
        self.key(b"\x15")
        self.type("/part #l")
        self.key(b"\t")
        self.assertEqual("".join(self.screen.buffer), "/part #lab ")
        self.assertEqual(self.fake.text()[-1], "[#lab] /part #lab")

    def test_completerAlone(self):
        completer = Completer()
        self.assertEqual(completer.complete("zz", 2, [], [], ["bob"]), ("zz", 2))
        self.assertEqual(completer.complete("x b", 3, [], [], ["bob"]), ("x bob ", 6))


class HabitTests(ConsoleCase):
    def test_meShowsAsAnAction(self):
        actions = []
        patchCommands(self, self.client, action=lambda target, text, force=False: actions.append((target, text)))
        self.enter("/me waves")
        self.assertEqual(actions, [("#lab", "waves")])
        self.console.event(ev.Sent("#lab", "\x01ACTION waves\x01", "fernet-ttl", 1))
        self.console.event(ev.Action("#lab", "bob", "waves back", "fernet", "authenticated"))
        rows = "\n".join(self.body())
        self.assertIn("#lab [auth+fresh] * alice waves", rows)
        self.assertIn("#lab [auth] * bob waves back", rows)
        self.assertNotIn("ACTION", rows)

    def test_ctcpIsOneLine(self):
        self.console.event(ev.CtcpRequest("#lab", "mallory", "VERSION", "plain", "none"))
        self.assertIn("mallory sent a CTCP VERSION request (not answered)", self.body()[-1])

    def test_joinWithoutHashAndJ(self):
        self.enter("/join other")
        self.enter("/j #third")
        self.assertEqual(self.sent, [("join", "#other"), ("join", "#third")])

    def test_topicShownOnJoinAndChange(self):
        self.console.event(ev.Topic("#lab", "the plan"))
        self.assertIn("topic of #lab [plain, set through the relay]: the plan", self.body()[-1])
        self.console.event(ev.Topic("#lab", "new plan", "bob", True))
        self.assertIn("bob changed the topic of #lab", self.body()[-1])

    def test_commandsReachTheClient(self):
        calls = []
        patchCommands(self, self.client, topic=lambda room, text=None: calls.append(("topic", room, text)))
        patchCommands(self, self.client, whois=lambda nick: calls.append(("whois", nick)))
        patchCommands(self, self.client, away=lambda text="": calls.append(("away", text)))
        patchCommands(self, self.client, names=lambda room: calls.append(("names", room)))
        self.enter("/topic")
        self.enter("/topic a new plan")
        self.enter("/whois bob")
        self.enter("/away lunch")
        self.enter("/away")
        self.enter("/names")
        self.assertEqual(calls, [
            ("topic", "#lab", None), ("topic", "#lab", "a new plan"), ("whois", "bob"),
            ("away", "lunch"), ("away", ""), ("names", "#lab"),
        ])
        self.console.event(ev.Whois("bob", "is away: lunch"))
        self.assertIn("bob is away: lunch", self.body()[-1])


class LooksTests(ConsoleCase):
    def test_marksDifferInTextAndColour(self):
        self.fake.raw = b""
        self.message("#lab", "bob", "plain one")
        plain = self.fake.raw
        self.fake.raw = b""
        self.message("#lab", "bob", "sealed one", "authenticated+fresh", "fernet-ttl")
        fresh = self.fake.raw
        self.assertIn(b"\x1b[1;37;41m[plain]\x1b[0m", plain)
        self.assertIn(b"\x1b[1;32m[auth+fresh]\x1b[0m", fresh)
        # Network text cannot carry a colour: its escape is named, not drawn.
        self.fake.raw = b""
        self.message("#lab", "bob", "\x1b[1;32m[auth+fresh]")
        self.assertNotIn(b"\x1b[1;32m[auth+fresh]", self.fake.raw)

    def test_nickColoursStable(self):
        self.fake.raw = b""
        self.message("#lab", "bob", "one")
        first = self.fake.raw
        self.fake.raw = b""
        self.message("#lab", "BOB", "two")
        colour = first.split(b"<bob>")[0][-5:]
        self.assertTrue(colour.startswith(b"\x1b[") and colour.endswith(b"m"), colour)
        self.assertIn(colour + b"<BOB>", self.fake.raw)


class ConnectionTests(ConsoleCase):
    def test_statusBarShowsTheRoomKeyWithItsLabel(self):
        """The codec's fingerprint says which kind it is; the bar shows it as is, once."""
        self.patch(self.client, "fingerprint", lambda name: "room key 53128 50098 28976 13305")
        text = "".join(segment for segment, _ in self.console.statusSegments())
        self.assertIn("| room key 53128 50098 28976 13305", text)
        self.assertNotIn("key room key", text)

    def test_statusBarOfARoomKeyedBeforeARestart(self):
        """Issue 23: keyed before a restart, its key not entered yet: the bar says so, never plain."""
        self.client.session.keyring.restoreKeyed("#lab", "signed")
        self.console.event(ev.Joined("#lab", "alice", True, self.client.session.expectedLayer("#lab")))
        text = "".join(segment for segment, _ in self.console.statusSegments())
        self.assertIn("[signed: /key]", text)
        self.assertNotIn("[plain]", text)

    def test_disconnectedStatusAndFirstFailure(self):
        self.assertIn("NOT CONNECTED", self.status())
        self.console.event(ev.Error(
            "cannot connect to tcp:h:1: Connection refused -- nothing listens there: check", "connect"))
        self.assertIn("nothing listens there", "\n".join(self.body()))
        self.console.event(ev.Retrying(1.5, 3600.0 * 5 + 61, 1))
        self.assertIn("retry at", self.status())
        before = list(self.console.windows.current.lines)
        self.console.event(ev.Error("cannot connect to tcp:h:1: Connection refused", "connect"))
        self.assertEqual(list(self.console.windows.current.lines), before)  # no line per attempt
        self.assertIn("NOT CONNECTED, retry at ", self.status())
        self.assertIn(" (Connection refused)", self.status())

    def test_connectionLostIsSaidWhereTheUserIs(self):
        self.console.event(ev.Disconnected("Connection lost", True))
        self.assertIn("connection lost: Connection lost; reconnecting", self.body()[-1])
        self.assertIn("connection lost", self.console.windows.status.lines[-1].text)


class TmuxWindowsTests(LoopbackCase):
    """The real program in tmux: scrollback and window switching on a real screen."""

    timeout = 60

    def setUp(self):
        if shutil.which("tmux") is None:
            raise SkipTest("tmux is not installed: this test reads a real terminal's screen")
        return LoopbackCase.setUp(self)

    @inlineCallbacks
    def test_scrollbackAndWindows(self):
        tmux = Tmux(self, "windows")
        command = ("cd %s && PYTHONPATH=%s %s -m securechat --server 127.0.0.1:%d --nick alice --join '#lab'"
                   " --state-dir %s") % (
            os.getcwd(), os.pathsep.join([os.getcwd()] + sys.path), sys.executable, self.portNumber,
            os.path.abspath(self.mktemp()))
        tmux.start(command, 80, 12)
        yield tmux.waitFor("you joined #lab")
        bob = yield self.client("bob", kdfParams=DEFAULT_KDF)
        yield self.joined("#lab", bob)
        tmux.keys("/join other", "Enter")
        yield tmux.waitFor("you joined #other")
        yield self.joined("#other", bob)
        for n in range(25):
            bob.send("#lab", "lab line %02d" % (n,))
        bob.send("#other", "other line")
        screen = yield tmux.waitFor("other line")
        self.assertIn("act: 2:#lab", screen)
        tmux.keys("M-2")
        screen = yield tmux.waitFor("lab line 24")
        self.assertNotIn("other line", screen)
        tmux.keys("PPage")
        screen = yield tmux.waitFor("-- more --")
        self.assertNotIn("lab line 24", screen)
        self.assertIn("lab line 15", screen)
        tmux.keys("NPage")
        yield tmux.waitFor("lab line 24")
        tmux.keys("F1", "IC", "C-n")
        screen = yield tmux.waitFor("other line")
        self.assertEqual(screen.rstrip("\n").split("\n")[-1], "[#other]")
        left = bob.waitFor(ev.UserQuit, WAIT)
        tmux.keys("/quit", "Enter")
        yield left


class SessionStatusTests(ConsoleCase):
    """Issue 22: a peer with no secret is a pairwise session's, never shown as plain."""

    def test_statusBarOfASessionPeer(self):
        from securechat.codec import Identity

        self.console.line("/query bob")
        text = "".join(segment for segment, _ in self.console.statusSegments())
        self.assertIn("[session: none yet]", text)
        self.assertNotIn("[plain]", text)
        bob = Identity.generate()
        self.client.session.trust.judge("bob", bob.public_key)
        text = "".join(segment for segment, _ in self.console.statusSegments())
        self.assertIn("| %s (first-use)" % (bob.fingerprint,), text)
        self.client.session.setLayer("bob", "plain")
        text = "".join(segment for segment, _ in self.console.statusSegments())
        self.assertIn("[plain]", text)
