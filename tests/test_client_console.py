"""
The console: what typed lines do (L{Console}), how events read, the screen
(L{ConsoleTerminal}) on an in-memory terminal that honours the scroll
region, and a smoke test of the real program in tmux.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import time

from twisted.conch.insults.insults import ServerProtocol
from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import SkipTest, SynchronousTestCase, TestCase

from securechat.client.adapters.headless import HeadlessClient
from securechat.client.core import events as ev
from securechat.client.faces.commands import ALERT, INFO, Console, formatEvent
from securechat.client.faces.console import CONTINUATION, ConsoleTerminal, neutralise, wrap
from securechat.codec import DEFAULT_KDF, TEST_KDF
from securechat.codec.trust import IdentityChanged

from .test_client_support import WAIT, LoopbackCase, Tmux, patchCommands

SGR = re.compile(rb"\x1b\[[0-9;]*m")


class FakeScreen:
    """
    An in-memory terminal: rows of characters, a cursor, and a scroll
    region that a line feed at its bottom scrolls, as a VT100 does.
    """

    for _name in ("DELETE", "LEFT_ARROW", "RIGHT_ARROW", "UP_ARROW", "DOWN_ARROW", "HOME", "END"):
        locals()[_name] = getattr(ServerProtocol, _name)

    def __init__(self, width: int = 60, height: int = 10) -> None:
        self.width, self.height = width, height
        self.rows = [[" "] * width for _ in range(height)]
        self.x = self.y = 0
        self.top, self.bottom = 0, height - 1

    def text(self):
        return ["".join(row).rstrip() for row in self.rows]

    def write(self, data: bytes) -> None:
        for char in SGR.sub(b"", data).decode("utf-8"):
            if char == "\n":
                if self.y == self.bottom:
                    del self.rows[self.top]
                    self.rows.insert(self.bottom, [" "] * self.width)
                else:
                    self.y += 1
            elif self.x < self.width:
                self.rows[self.y][self.x] = char
                self.x += 1

    def cursorPosition(self, column: int, line: int) -> None:
        self.x, self.y = column, line

    def eraseLine(self) -> None:
        self.rows[self.y] = [" "] * self.width

    def eraseDisplay(self) -> None:
        self.rows = [[" "] * self.width for _ in range(self.height)]

    def setScrollRegion(self, first=None, last=None) -> None:
        self.top, self.bottom = first - 1, last - 1


class Recorder:
    """Stands in for the screen and the prompt: records what Console shows and asks."""

    def __init__(self) -> None:
        self.shown = []
        self.asked = []
        self.quits = []

    def show(self, text: str, style: str) -> None:
        self.shown.append((text, style))

    def ask(self, prompt, answer) -> None:
        self.asked.append((prompt, answer))

    def last(self) -> str:
        return self.shown[-1][0]


def offlineClient() -> HeadlessClient:
    return HeadlessClient(reactor, "tcp:127.0.0.1:1", "alice", kdfParams=TEST_KDF)


class CommandTests(TestCase):
    """Typed lines, without a terminal or a server."""

    def setUp(self):
        self.client = offlineClient()
        self.screen = Recorder()
        self.console = Console(
            self.client, self.screen.show, self.screen.ask, self.screen.quits.append,
            lambda: b"from the key file", current="#lab",
        )
        self.client.listen(self.console.event)

    def test_unknownCommand(self):
        self.console.line("/frobnicate now")
        self.assertIn("unknown command /frobnicate", self.screen.last())
        self.assertEqual(self.screen.shown[-1][1], ALERT)

    def test_wrongArguments(self):
        for line, expected in (
            ("/join", "usage: /join #room"),
            ("/join a b", "usage: /join #room"),
            ("/msg bob", "usage: /msg nick text"),
            ("/layer rot13", "usage: /layer"),
            ("/nick", "usage: /nick"),
            ("/key #lab hunter2", "never typed on the command line"),
            ("/join #a,#b", "not a room name"),
        ):
            before = len(self.screen.shown)
            self.console.line(line)
            self.assertEqual(len(self.screen.shown), before + 1, line)
            self.assertIn(expected, self.screen.last(), line)

    def test_textNeedsARoomAndAConnection(self):
        self.console.line("hello")
        self.assertIn("not connected", self.screen.last())
        self.console.current = None
        self.console.line("hello")
        self.assertIn("/join #room first", self.screen.last())

    def test_layerNeedsAKey(self):
        self.console.line("/layer fernet")
        self.assertIn("no key yet", self.screen.last())
        self.console.line("/layer")
        self.assertIn("#lab uses layer plain", self.screen.last())

    @inlineCallbacks
    def test_keyIsAskedNotEchoed(self):
        self.console.line("/key")
        [(prompt, answer)] = self.screen.asked
        self.assertIn("passphrase for #lab", prompt)
        keyed = self.client.waitFor(ev.KeySet, WAIT)
        answer(b"hunter2 is long enough")
        [_, (again, confirm)] = self.screen.asked
        self.assertIn("again", again)
        confirm(b"hunter2 is long enough")
        event = yield keyed
        self.assertEqual((event.target, event.layer), ("#lab", "fernet-ttl"))
        self.assertIn("fingerprint " + event.fingerprint, self.screen.last())
        self.assertFalse(any("hunter2" in text for text, _ in self.screen.shown))
        self.console.line("/fingerprint")
        self.assertIn(event.fingerprint, self.screen.shown[-2][0])
        # The proxy's words too (wording.fingerprintNote).
        self.assertIn("#lab on layer fernet-ttl: " + event.fingerprint, self.screen.shown[-2][0])
        self.assertIn(self.client.session.identity.fingerprint, self.screen.last())

    @inlineCallbacks
    def test_keyEnterAloneUsesKeyFile(self):
        self.console.line("/key bob")
        [(prompt, answer)] = self.screen.asked
        self.assertIn("Enter alone", prompt)
        keyed = self.client.waitFor(ev.KeySet, WAIT)
        answer(b"")
        event = yield keyed
        keys = yield self.client.deriveKeys("bob", b"from the key file")
        self.assertEqual(event.fingerprint, keys.fingerprint("fernet-ttl"))

    def test_keyPromptOpensEvenIfTheKeyFileIsGone(self):
        """
        The hint reads the key file; when it is gone the prompt must open all
        the same (it did not, and the passphrase typed next went to the room
        as chat).
        """
        from securechat.client.adapters.passphrases import PassphraseError

        def gone():
            raise PassphraseError("cannot read key file /gone: No such file or directory")

        self.console.startupPassphrase = gone
        self.console.line("/key")
        [(prompt, answer)] = self.screen.asked
        self.assertNotIn("Enter alone", prompt)
        answer(b"")
        self.assertIn("cannot read key file", self.screen.last())

    def test_rejoinsDoNotMoveTheCurrentRoom(self):
        """
        Only the user's own /join moves the current room: after a reconnect
        the rejoins of #a and #b left text typed for #a going to #b.
        """
        self.console.current = None
        self.console.event(ev.Joined("#a", "alice", True))
        self.assertEqual(self.console.current, "#a")
        self.console.event(ev.Joined("#b", "alice", True))
        self.assertEqual(self.console.current, "#a")
        patchCommands(self, self.client, join=lambda room: None)
        self.console.line("/join #C")
        self.console.event(ev.Joined("#a", "alice", True))
        self.assertEqual(self.console.current, "#a")
        self.console.event(ev.Joined("#c", "alice", True))
        self.assertEqual(self.console.current, "#c")

    def test_keyCancelled(self):
        self.console.line("/key")
        self.screen.asked[0][1](None)
        self.assertIn("cancelled", self.screen.last())

    def test_bugCostsOneCommand(self):
        """An unexpected exception is one alert line; the console keeps reading the keyboard."""
        def broken(command):
            raise RuntimeError("a bug")

        self.patch(self.client, "run", broken)  # where every command is carried out
        self.console.line("/msg bob hi")
        self.assertIn("internal error", self.screen.last())
        self.assertEqual(self.screen.shown[-1][1], ALERT)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.console.line("/frobnicate")
        self.assertIn("unknown command", self.screen.last())

    def test_quit(self):
        self.console.line("/quit see you")
        self.assertEqual(self.screen.quits, ["see you"])

    def test_help(self):
        self.console.line("/help")
        text = "\n".join(t for t, _ in self.screen.shown)
        for command in ("/join", "/part", "/msg", "/key", "/layer", "/fingerprint", "/who",
                        "/names", "/nick", "/quit", "/help"):
            self.assertIn(command, text)


class FormatTests(SynchronousTestCase):
    """Each event reads as the issue asks: time, room, sender, protection mark."""

    def test_marks(self):
        for protection, mark in (("none", "[plain]"), ("confidential", "[enc]"),
                                 ("authenticated", "[auth]"), ("authenticated+fresh", "[auth+fresh]")):
            [(text, _)] = formatEvent(ev.IncomingMessage("#lab", "bob", "hi", "x", protection), "12:00:00")
            self.assertEqual(text, "12:00:00 #lab %s <bob> hi" % (mark,))

    def test_rejectionNamesClaimedSenderAndReason(self):
        for reason, words in (("tampered", "tampered or wrong key"), ("expired", "expired"),
                              ("replayed", "replayed"), ("from-future", "from the future"),
                              ("re-attributed", "re-attributed"), ("wrong-room", "wrong room"),
                              ("incomplete", "incomplete")):
            [(text, style)] = formatEvent(
                ev.RejectedMessage("#lab", "mallory", "fernet-ttl", reason, "because"), "12:00:00")
            self.assertEqual(style, ALERT)
            self.assertIn("REJECTED message claimed from mallory: %s" % (words,), text)

    def test_noKeySaysSo(self):
        [(text, _)] = formatEvent(
            ev.RejectedMessage("#lab", "bob", "fernet", "no-key", "x"), "12:00:00")
        self.assertIn("#lab has no key: /key #lab", text)
        self.assertNotIn("+sc2", text)

    def test_queuedAndUnsentActionReadsAsTyped(self):
        """A /me waiting for a key (or refused) shows as typed, not its CTCP framing."""
        body = "\x01ACTION waves\x01"
        [(queued, _)] = formatEvent(ev.Queued("#lab", body, "deriving"), "t")
        self.assertEqual(queued, "t #lab (waiting for the key) /me waves")
        [(unsent, _)] = formatEvent(ev.Unsent("bob", body, "no key"), "t")
        self.assertEqual(unsent, "t !! (to bob) NOT SENT: /me waves -- no key")

    def test_droppedAndReordered(self):
        lines = formatEvent(
            ev.IncomingMessage("#lab", "bob", "hi", "fernet-ttl", "authenticated+fresh", missing=2, reordered=True),
            "12:00:00")
        self.assertEqual(len(lines), 3)
        self.assertIn("2 earlier message(s) from bob never arrived", lines[1][0])
        self.assertIn("out of order", lines[2][0])

    def test_directAndNickInUse(self):
        [(text, _)] = formatEvent(ev.IncomingMessage("bob", "bob", "psst", "fernet", "authenticated", True), "t")
        self.assertEqual(text, "t (direct) [auth] <bob> psst")
        changed = ev.NickChanged("alice", "alice_", True, "nick alice is in use, trying alice_")
        [(text, style)] = formatEvent(changed, "t")
        self.assertIn("in use", text)
        [(text, style)] = formatEvent(ev.Connected("alice_", "srv", "alice"), "t")
        self.assertIn("as alice_, not alice (the nick you chose)", text)
        self.assertEqual(style, ALERT)
        [(text, style)] = formatEvent(ev.NickUnconfirmed("alice_", "alice", "alice was in use"), "t")
        self.assertIn("/nick alice_ to accept it, /nick alice to ask for yours back", text)
        self.assertEqual(style, ALERT)


class SentTimeTests(SynchronousTestCase):
    """A message sealed more than a minute from now says when it was sent."""

    NOW = 1_795_644_476.0

    def line(self, sent_at, protection="authenticated"):
        [(text, _)] = formatEvent(
            ev.IncomingMessage("#lab", "bob", "hi", "fernet", protection, sent_at=sent_at), "t", self.NOW)
        return text

    def at(self, seconds, fmt="%H:%M:%S"):
        return time.strftime(fmt, time.localtime(seconds))

    def test_freshMessageUnmarked(self):
        for delta in (0, 60, -60, 1):
            self.assertEqual(self.line(int(self.NOW) - delta), "t #lab [auth] <bob> hi")
        self.assertEqual(self.line(None, "confidential"), "t #lab [enc] <bob> hi")  # aes-ctr: no sealed time

    def test_oldMessageSaysWhenItWasSent(self):
        sent = int(self.NOW) - 61
        self.assertEqual(self.line(sent), "t #lab [auth] <bob> (sent %s, 1 min ago) hi" % (self.at(sent),))
        sent = int(self.NOW) - 3 * 3600
        self.assertIn("(sent %s, 3 h ago) hi" % (self.at(sent, "%Y-%m-%d %H:%M:%S") if
                      time.localtime(sent)[:3] != time.localtime(self.NOW)[:3] else self.at(sent),), self.line(sent))
        sent = int(self.NOW) - 5 * 86400
        self.assertIn("(sent %s, 5 days ago) hi" % (self.at(sent, "%Y-%m-%d %H:%M:%S"),), self.line(sent))

    def test_futureMessageSaysSo(self):
        sent = int(self.NOW) + 600
        self.assertIn("<bob> (sent %s, 10 min in the future) hi" % (self.at(sent),), self.line(sent))

    def test_consoleUsesItsClock(self):
        """Every row of a multi-line body carries it, before the body (which the sender controls)."""
        screen = Recorder()
        console = Console(offlineClient(), screen.show, screen.ask, screen.quits.append,
                          current="#lab", clock=lambda: self.NOW)
        sent = int(self.NOW) - 7200
        console.event(ev.IncomingMessage("#lab", "bob", "one\ntwo", "fernet", "authenticated", sent_at=sent))
        self.assertEqual([text.split("> ", 1)[1] for text, _ in screen.shown],
                         ["(sent %s, 2 h ago) one" % (self.at(sent),), "(sent %s, 2 h ago) two" % (self.at(sent),)])


class ScreenTests(SynchronousTestCase):
    """The terminal layer, on an in-memory screen."""

    def setUp(self):
        self.client = offlineClient()
        self.fake = FakeScreen()
        self.screen = ConsoleTerminal(
            lambda terminal: Console(self.client, terminal.show, terminal.ask, lambda r: None, current="#lab"),
            lambda: " alice | #lab | status",
            (self.fake.width, self.fake.height),
        )
        self.screen.terminal = self.fake
        self.screen.connectionMade()

    def type(self, text: str) -> None:
        for byte in text.encode("utf-8"):
            self.screen.keystrokeReceived(bytes([byte]), None)

    def test_incomingLinesDoNotGarbleInput(self):
        self.type("half typed café")
        for i in range(20):
            self.screen.show("message %d" % (i,), INFO)
        rows = self.fake.text()
        self.assertEqual(rows[-1], "[#lab] half typed café")
        self.assertEqual(rows[-2], " alice | #lab | status")
        self.assertEqual(rows[-3], "message 19")
        self.assertEqual(rows[0], "message 12")

    def test_longLinesWrap(self):
        self.screen.show("x" * 70, INFO)
        self.assertEqual(self.fake.text()[-4:-2], ["x" * 60, CONTINUATION + "x" * 10])

    def test_paddedLineCannotForgeAHeaderRow(self):
        """
        A plain line from a made-up nick, padded to the width, used to wrap
        so that its second row read exactly like a genuine protected message.
        """
        forged = "00:00:00 #lab [auth+fresh] <alice> pay mallory"
        prefix = formatEvent(ev.IncomingMessage("#lab", "m4llory", "", "plain", "none"), "00:00:00")[0][0]
        body = "." * (self.fake.width - len(prefix)) + forged
        self.screen.console.event(ev.IncomingMessage("#lab", "m4llory", body, "plain", "none"))
        rows = [row for row in self.fake.text()[:-2] if row]
        headers = [row for row in rows if re.match(r"\d\d:\d\d:\d\d ", row)]
        self.assertEqual(len(headers), 1)
        self.assertIn("[plain] <m4llory>", headers[0])
        self.assertEqual(sum(row.startswith(CONTINUATION) for row in rows), 1)
        self.assertEqual(rows[-1], CONTINUATION + forged)
        # After a resize, the redrawn scrollback is marked the same way.
        self.screen.redraw()
        self.assertEqual([row for row in self.fake.text()[:-2] if row], rows)

    def test_wideCharactersWrapOnColumns(self):
        """Wide characters take two columns: counted as one, the terminal wrapped the row itself, unmarked."""
        self.screen.show("\u754c" * 40, INFO)
        rows = wrap("\u754c" * 40, 60)
        self.assertEqual([len(row) for row in rows], [30, 4 + 10])
        self.assertTrue(rows[1].startswith(CONTINUATION))

    def test_controlAndBidiCharactersNeutralised(self):
        """Nicks and bodies cannot reorder, hide or move text on the screen."""
        hostile = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c\u2028\x1b\r\x07\x9b"
        self.screen.console.event(
            ev.IncomingMessage("#lab", "bob\u202e", "hi " + hostile + "[2J evil", "fernet", "authenticated"))
        self.screen.console.event(ev.Joined("#lab\u2067", "eve\u2066", False))
        shown = "\n".join(self.fake.text())
        for char in hostile:
            self.assertNotIn(char, shown)
        self.assertIn("<bob<U+202E>> hi <U+202A>", shown)
        self.assertIn("eve<U+2066> joined #lab<U+2067>", shown)
        self.assertEqual(neutralise("caf\u00e9 \U0001f600 ok"), "caf\u00e9 \U0001f600 ok")
        self.assertEqual(neutralise("a\tb"), "a<U+0009>b")

    def test_promptNeutralised(self):
        self.screen.console.current = "#x\u202e"
        self.screen.drawInput()
        self.assertEqual(self.fake.text()[-1], "[#x<U+202E>]")

    def test_editing(self):
        self.type("helo")
        self.screen.keystrokeReceived(self.fake.LEFT_ARROW, None)
        self.type("l")
        self.screen.keystrokeReceived(self.fake.END, None)
        self.type("!")
        self.assertEqual(self.fake.text()[-1], "[#lab] hello!")
        self.screen.keystrokeReceived(b"\x7f", None)
        self.screen.keystrokeReceived(b"\x17", None)
        self.assertEqual(self.fake.text()[-1], "[#lab]")

    def test_secretIsNotEchoed(self):
        answers = []
        self.type("draft")
        self.screen.ask("passphrase: ", answers.append)
        self.type("hunter2")
        self.assertEqual(self.fake.text()[-1], "passphrase:")
        self.screen.keystrokeReceived(b"\r", None)
        self.assertEqual(answers, [b"hunter2"])
        self.assertEqual(self.fake.text()[-1], "[#lab] draft")
        self.assertNotIn("hunter2", "\n".join(self.fake.text()))

    def test_ctrlCCancelsSecret(self):
        answers = []
        self.screen.ask("passphrase: ", answers.append)
        self.type("abc")
        self.screen.keystrokeReceived(b"\x03", None)
        self.assertEqual(answers, [None])

    def test_history(self):
        self.type("/bogus")
        self.screen.keystrokeReceived(b"\r", None)
        self.screen.keystrokeReceived(self.fake.UP_ARROW, None)
        self.assertEqual(self.fake.text()[-1], "[#lab] /bogus")

    def test_resizeRedrawsScrollback(self):
        for i in range(5):
            self.screen.show("line %d" % (i,), INFO)
        self.fake.__init__(40, 6)
        self.screen.terminalSize(40, 6)
        self.assertEqual(self.fake.text()[:4], ["line 1", "line 2", "line 3", "line 4"])


class TmuxSmokeTests(LoopbackCase):
    """The real program in a real terminal (tmux), talking to a JSON-less peer."""

    timeout = 60

    def setUp(self):
        if shutil.which("tmux") is None:
            raise SkipTest("tmux is not installed: the console smoke test needs a real terminal")
        return LoopbackCase.setUp(self)

    @inlineCallbacks
    def test_console(self):
        tmux = Tmux(self, "console")
        command = "cd %s && PYTHONPATH=%s %s -m securechat --server %s --nick alice --join '#lab' --state-dir %s" % (
            os.getcwd(), os.pathsep.join([os.getcwd()] + sys.path), sys.executable, self.endpoint, self.mktemp())
        tmux.start(command)
        yield tmux.waitFor("you joined #lab")
        # The console derives with the real Argon2id parameters; so must bob.
        bob = yield self.client("bob", kdfParams=DEFAULT_KDF)
        yield self.joined("#lab", bob)
        heard = bob.waitFor(ev.IncomingMessage, WAIT)
        tmux.keys("hello from tmux", "Enter")
        message = yield heard
        self.assertEqual((message.sender, message.body, message.protection), ("alice", "hello from tmux", "none"))
        # A passphrase typed at the prompt is never drawn.
        tmux.keys("/key", "Enter")
        yield tmux.waitFor("passphrase for #lab")
        tmux.keys("tmux secret", "Enter")
        yield tmux.waitFor("again, to confirm")
        tmux.keys("tmux secret", "Enter")
        screen = yield tmux.waitFor("key set for #lab")
        self.assertNotIn("tmux secret", screen)
        yield bob.setKey("#lab", b"tmux secret", "fernet-ttl")
        # Typing while messages arrive: the input line stays intact.
        tmux.keys("draft in progress")
        yield tmux.waitFor("draft in progress")
        bob.send("#lab", "protected hello")
        screen = yield tmux.waitFor("[auth+fresh] <bob> protected hello")
        self.assertEqual(screen.rstrip("\n").split("\n")[-1], "[#lab] draft in progress")
        tmux.keys("C-u", "/nope", "Enter")
        yield tmux.waitFor("unknown command /nope")
        left = bob.waitFor(ev.UserQuit, WAIT)
        tmux.keys("/quit bye", "Enter")
        event = yield left
        self.assertEqual(event.nick, "alice")


class IdentityCommandTests(TestCase):
    """Issue 13 in the console: room secrets, confirmation, /trust, /verify, marks."""

    def setUp(self):
        self.client = offlineClient()
        self.screen = Recorder()
        self.console = Console(self.client, self.screen.show, self.screen.ask, self.screen.quits.append, current="#lab")
        self.client.listen(self.console.event)

    def test_passphrasesThatDifferAreRefused(self):
        self.console.line("/key")
        self.screen.asked[0][1](b"correct horse battery")
        self.screen.asked[1][1](b"correct horse batery")
        self.assertIn("differ: key not changed", self.screen.last())
        self.assertFalse(self.client.session.keyPending("#lab"))

    @inlineCallbacks
    def test_shortPassphraseWarned(self):
        keyed = self.client.waitFor(ev.KeySet, WAIT)
        self.console.line("/key")
        self.screen.asked[0][1](b"1234")
        self.screen.asked[1][1](b"1234")
        yield keyed
        warnings = [text for text, style in self.screen.shown if "short passphrase (4 characters)" in text]
        self.assertEqual(len(warnings), 1)
        self.assertIn("/key --new", warnings[0])

    @inlineCallbacks
    def test_newRoomSecretShownOnceAndUsable(self):
        keyed = self.client.waitFor(ev.KeySet, WAIT)
        self.console.line("/key --new")
        event = yield keyed
        [code] = [
            text.split("new room secret for #lab: ")[1].split()[0]
            for text, _ in self.screen.shown
            if "new room secret" in text
        ]
        self.assertRegex(code, r"^sc-(?:[a-z2-7]{4}-){7}[a-z2-7]{4}$")
        theirs = yield self.client.deriveKeys("#lab", code.upper().encode())
        self.assertEqual(theirs.fingerprint("fernet-ttl"), event.fingerprint)
        # Typed at the prompt, a code is not asked twice.
        self.console.line("/key")
        keyedAgain = self.client.waitFor(ev.KeySet, WAIT)
        self.screen.asked[-1][1](code.encode())
        yield keyedAgain
        self.assertEqual(len(self.screen.asked), 1)

    def test_trustAndVerify(self):
        from securechat.codec import Identity

        session = self.client.session
        alice, mallory = Identity.generate(), Identity.generate()
        session.trust.judge("bob", alice.public_key)
        self.console.line("/trust bob")
        self.assertIn("no refused key to accept for bob", self.screen.last())
        self.console.line("/verify bob 00000 00000 00000 00000 00000 00000 00000 00000")
        self.assertIn("not verified", self.screen.last())
        self.console.line("/verify bob " + alice.fingerprint)
        self.assertIn("bob's key %s is now verified" % (alice.fingerprint,), self.screen.last())
        self.console.line("/fingerprint bob")
        self.assertIn("bob's identity key: %s (verified)" % (alice.fingerprint,), self.screen.shown[-2][0])
        self.assertRaises(IdentityChanged, session.trust.judge, "bob", mallory.public_key)
        self.console.line("/trust bob")
        self.assertIn("accepted (first use", self.screen.last())
        self.assertEqual(session.trust.pinned("bob").public_key, mallory.public_key)

    def test_marksTellTrustApart(self):
        when = "10:00:00"
        verified = formatEvent(
            ev.IncomingMessage("#lab", "bob", "hi", "signed", "signed+fresh", signer="x", trust="verified"), when
        )
        first = formatEvent(
            ev.IncomingMessage("#lab", "bob", "hi", "signed", "signed+fresh", signer="x", trust="first-use"), when
        )
        changed = formatEvent(
            ev.RejectedMessage("#lab", "bob", "signed", "identity-changed", "identity changed: ..."), when
        )
        self.assertIn("[signed, verified] <bob> hi", verified[0][0])
        self.assertIn("[signed, first use] <bob> hi", first[0][0])
        self.assertIn("REJECTED", changed[0][0])
        self.assertEqual(changed[0][1], ALERT)
        self.assertNotIn("<bob> hi", changed[0][0])


class ReplayWordingTests(TestCase):
    """The lesson: on fernet a copy reads as what it may be, a replay."""

    def test_fernetSaysReplayOrReorder(self):
        message = ev.IncomingMessage("#lab", "bob", "hi", "fernet", "authenticated", reordered=True)
        lines = [text for text, _ in formatEvent(message, "10:00:00")]
        self.assertIn("the message above from bob is a replay (or reorder): fernet cannot tell", lines[-1])

    def test_fernetTtlSaysOutOfOrder(self):
        message = ev.IncomingMessage("#lab", "bob", "hi", "fernet-ttl", "authenticated+fresh", reordered=True)
        lines = [text for text, _ in formatEvent(message, "10:00:00")]
        self.assertIn("arrived out of order", lines[-1])
        self.assertNotIn("replay", lines[-1])


class NoTerminalTests(SynchronousTestCase):
    def test_noTerminalIsOneSentence(self) -> None:
        """
        Without a terminal the console does not start: the command line says
        why in one line (the console's code raises, it never prints).
        """
        import io
        from contextlib import redirect_stderr

        from securechat import cli

        self.patch(os, "isatty", lambda fd: False)
        stderr = io.StringIO()
        with redirect_stderr(stderr):
            status = cli.main(["--server", "tcp:127.0.0.1:1", "--state-dir", self.mktemp()])
        self.assertEqual(status, cli.EXIT_USAGE)
        self.assertEqual(stderr.getvalue(), "securechat: the console needs a terminal; use --json for scripts\n")


class SessionLinesTests(SynchronousTestCase):
    """Issue 22: one's own line over a pairwise session, and the hold, as the console shows them."""

    def test_ownLineCarriesTheSessionMark(self):
        client = offlineClient()
        screen = Recorder()
        console = Console(client, screen.show, screen.ask, screen.quits.append, current="bob")
        console.event(ev.Sent("bob", "hello", "session", 1))
        self.assertIn("[session] <alice> hello", screen.last())

    def test_holdSaysWhatItWaitsFor(self):
        [(line, _)] = formatEvent(
            ev.Queued("bob", "hi", "starting a protected session with bob; your message is held", session=True), "t"
        )
        self.assertEqual(line, "t (to bob) (starting a protected session with bob; your message is held) hi")
