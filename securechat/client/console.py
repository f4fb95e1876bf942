"""
The interactive console: scrollback above, a status line, and the input
line at the bottom, which incoming messages never garble.

Drawn with C{twisted.conch.insults} on the ordinary reactor: no new
dependency, the same reactor as every other part of securechat (the
headless client, the demo), and it runs on PyPy.  The terminal's scroll
region holds the scrollback, so printing a message scrolls only that
region and the line being typed stays where it is.  The line editor works
on text, not bytes, so accented input works.
"""

from __future__ import annotations

import codecs
import collections
import sys
import unicodedata
from typing import Any, Callable, Deque, List, Optional, Tuple, cast

from twisted.conch.insults.insults import TerminalProtocol
from twisted.internet.interfaces import IReactorThreads
from twisted.logger import ILogObserver, LogLevel
from twisted.logger import formatEvent as formatLogEvent

from .commands import ALERT, INFO, OWN, Console

#: Lines kept for redrawing after a resize.
SCROLLBACK = 2000
#: Rows below the scrollback: the status line and the input line.
FOOTER_ROWS = 2
#: Smallest terminal we draw in.
MIN_WIDTH, MIN_HEIGHT = 20, 5
HISTORY = 500

CSI = b"\x1b["
RESET = CSI + b"0m"
STYLES = {OWN: CSI + b"1m", INFO: CSI + b"2m", ALERT: CSI + b"1;31m"}
STATUS_STYLE = CSI + b"7m"

CTRL_A, CTRL_C, CTRL_D, CTRL_E, CTRL_L, CTRL_U, CTRL_W = (
    b"\x01", b"\x03", b"\x04", b"\x05", b"\x0c", b"\x15", b"\x17",
)
ENTER = (b"\r", b"\n")
BACKSPACES = (b"\x7f", b"\x08")


#: What starts every row after the first of a long line: no message header
#: starts with it (they start with the time), so text padded to the width
#: cannot make its second row read like a message of someone else.  U+21AA
#: is one column wide everywhere (East Asian width "N", not ambiguous).
CONTINUATION = "  \u21aa "


def neutralise(text: str) -> str:
    """
    C{text} with every character that is not printable shown as C{<U+XXXX>}:
    C0/C1 controls (escape sequences, carriage returns), bidirectional
    overrides and isolates (U+202A-202E, U+2066-2069), marks (U+200E/F,
    U+061C) and other format characters that reorder or hide text, line
    and paragraph separators.  What is left cannot move the cursor or
    reorder what the screen shows.
    """
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else "<U+%04X>" % (ord(c),) for c in text)


def _columns(char: str) -> int:
    """Terminal columns C{char} takes: 0 for a combining mark, 2 for wide (CJK, emoji), else 1."""
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in "WF" else 1


def wrap(text: str, width: int) -> List[str]:
    """
    Cut C{text} (neutralised) into rows of at most C{width} terminal columns,
    every row after the first starting with L{CONTINUATION}: the terminal
    never wraps a row itself, and no text can start a row of its own.
    """
    text = neutralise(text)
    if not text:
        return [""]
    if text.isascii():
        if len(text) <= width:
            return [text]
        room = width - len(CONTINUATION)
        return [text[:width]] + [CONTINUATION + text[i : i + room] for i in range(width, len(text), room)]
    rows: List[str] = []
    row: List[str] = []
    used = 0
    for char in text:
        columns = _columns(char)
        if used + columns > width and len(row) > (1 if rows else 0):
            rows.append("".join(row))
            row, used = [CONTINUATION], len(CONTINUATION)
        row.append(char)
        used += columns
    rows.append("".join(row))
    return rows


class ConsoleTerminal(TerminalProtocol):
    """Draws the screen and edits the input line; L{Console} decides what things mean."""

    def __init__(
        self,
        makeConsole: Callable[[ConsoleTerminal], Console],
        status: Callable[[], str],
        size: Tuple[int, int] = (80, 24),
    ) -> None:
        self.makeConsole = makeConsole
        self.status = status
        self.width, self.height = max(size[0], MIN_WIDTH), max(size[1], MIN_HEIGHT)
        self.scrollback: Deque[Tuple[str, str]] = collections.deque(maxlen=SCROLLBACK)
        self.buffer: List[str] = []
        self.cursor = 0
        self.history: List[str] = []
        self.historyIndex = 0
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self.secret: Optional[Tuple[str, Callable[[Optional[bytes]], None]]] = None
        self.console: Optional[Console] = None

    # Life.

    def connectionMade(self) -> None:
        self.console = self.makeConsole(self)
        self.redraw()

    def terminalSize(self, width: int, height: int) -> None:
        self.width, self.height = max(width, MIN_WIDTH), max(height, MIN_HEIGHT)
        self.redraw()

    def restoreSequence(self) -> bytes:
        """
        What gives the terminal back as we found it (whole-screen scrolling,
        cursor on the last row): written straight to the file descriptor at
        exit, when the reactor no longer flushes the transport.
        """
        return RESET + CSI + b"r" + CSI + b"%d;1H" % (self.height,) + CSI + b"2K"

    # Output.

    @property
    def rows(self) -> int:
        return self.height - FOOTER_ROWS

    def show(self, text: str, style: str = "normal") -> None:
        """Add a line to the scrollback and draw it, keeping the input line intact."""
        self.scrollback.append((text, style))
        terminal = self.terminal
        for piece in wrap(text, self.width):
            terminal.cursorPosition(0, self.rows - 1)
            terminal.write(b"\n")
            terminal.cursorPosition(0, self.rows - 1)
            self._writeStyled(piece, style)
        self.drawFooter()

    def _writeStyled(self, piece: str, style: str) -> None:
        code = STYLES.get(style)
        data = piece.encode("utf-8")
        self.terminal.write(code + data + RESET if code else data)

    def redraw(self) -> None:
        terminal = self.terminal
        terminal.write(RESET)
        terminal.eraseDisplay()
        terminal.setScrollRegion(1, self.rows)
        lines: List[Tuple[str, str]] = []
        for text, style in reversed(self.scrollback):
            for piece in reversed(wrap(text, self.width)):
                lines.append((piece, style))
            if len(lines) >= self.rows:
                break
        lines = list(reversed(lines))[-self.rows :]
        top = self.rows - len(lines)
        for row, (piece, style) in enumerate(lines):
            terminal.cursorPosition(0, top + row)
            self._writeStyled(piece, style)
        self.drawFooter()

    def drawFooter(self) -> None:
        terminal = self.terminal
        terminal.cursorPosition(0, self.height - 2)
        status = wrap(self.status(), self.width)[0].ljust(self.width)
        terminal.write(STATUS_STYLE + status.encode("utf-8") + RESET)
        self.drawInput()

    def drawInput(self) -> None:
        terminal = self.terminal
        if self.secret is not None:
            prompt, shown, cursor = self.secret[0], "", 0
        else:
            prompt = self.console.prompt() if self.console else ""
            shown, cursor = "".join(self.buffer), self.cursor
        prompt = neutralise(prompt)
        room = max(self.width - len(prompt) - 1, 1)
        start = max(0, cursor - room)
        visible = shown[start : start + room]
        terminal.cursorPosition(0, self.height - 1)
        terminal.eraseLine()
        terminal.write((prompt + visible)[: self.width].encode("utf-8"))
        terminal.cursorPosition(min(len(prompt) + cursor - start, self.width - 1), self.height - 1)

    # Input.

    def ask(self, prompt: str, answer: Callable[[Optional[bytes]], None]) -> None:
        """Read one line without echo (a passphrase); C{answer(None)} if cancelled."""
        self.secret = (prompt, answer)
        self._stash = (self.buffer, self.cursor)
        self.buffer, self.cursor = [], 0
        self.drawInput()

    def keystrokeReceived(self, keyID: Any, modifier: Any) -> None:
        terminal = self.terminal
        if keyID in ENTER:
            self._enter()
        elif keyID in BACKSPACES:
            if self.cursor:
                del self.buffer[self.cursor - 1]
                self.cursor -= 1
        elif keyID == terminal.DELETE:
            if self.cursor < len(self.buffer):
                del self.buffer[self.cursor]
        elif keyID == terminal.LEFT_ARROW:
            self.cursor = max(0, self.cursor - 1)
        elif keyID == terminal.RIGHT_ARROW:
            self.cursor = min(len(self.buffer), self.cursor + 1)
        elif keyID in (terminal.HOME, CTRL_A):
            self.cursor = 0
        elif keyID in (terminal.END, CTRL_E):
            self.cursor = len(self.buffer)
        elif keyID == CTRL_U:
            self.buffer, self.cursor = [], 0
        elif keyID == CTRL_W:
            self._deleteWord()
        elif keyID == CTRL_L:
            self.redraw()
            return
        elif keyID == CTRL_C:
            self._interrupt()
            return
        elif keyID == CTRL_D:
            if not self.buffer and self.secret is None:
                self._console().line("/quit")
                return
        elif keyID in (terminal.UP_ARROW, terminal.DOWN_ARROW):
            self._history(-1 if keyID == terminal.UP_ARROW else 1)
        elif isinstance(keyID, bytes) and modifier is None:
            self._typed(keyID)
        self.drawInput()

    def _typed(self, data: bytes) -> None:
        text = self.decoder.decode(data)
        for char in text:
            if char.isprintable() or char == "\t":
                self.buffer.insert(self.cursor, " " if char == "\t" else char)
                self.cursor += 1

    def _deleteWord(self) -> None:
        end = self.cursor
        start = end
        while start and self.buffer[start - 1] == " ":
            start -= 1
        while start and self.buffer[start - 1] != " ":
            start -= 1
        del self.buffer[start:end]
        self.cursor = start

    def _history(self, step: int) -> None:
        if self.secret is not None or not self.history:
            return
        self.historyIndex = min(max(self.historyIndex + step, 0), len(self.history))
        line = self.history[self.historyIndex] if self.historyIndex < len(self.history) else ""
        self.buffer, self.cursor = list(line), len(line)

    def _interrupt(self) -> None:
        if self.secret is not None:
            self._finishSecret(None)
        elif self.buffer:
            self.buffer, self.cursor = [], 0
            self.drawInput()
        else:
            self._console().line("/quit")

    def _console(self) -> Console:
        """The console, made at C{connectionMade}."""
        assert self.console is not None, "connectionMade made it"
        return self.console

    def _finishSecret(self, value: Optional[bytes]) -> None:
        assert self.secret is not None, "only while a secret is asked"
        answer = self.secret[1]
        self.secret = None
        self.buffer, self.cursor = self._stash
        self._stash = ([], 0)
        self.drawInput()
        answer(value)

    def _enter(self) -> None:
        line = "".join(self.buffer)
        self.buffer, self.cursor = [], 0
        if self.secret is not None:
            secret = line.encode("utf-8")
            del line
            self._finishSecret(secret)
            return
        if line.strip() and (not self.history or self.history[-1] != line):
            self.history.append(line)
            del self.history[:-HISTORY]
        self.historyIndex = len(self.history)
        self.drawInput()
        self._console().line(line)


def terminalSize(fd: int) -> Tuple[int, int]:
    import fcntl
    import struct
    import termios

    packed = fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\x00" * 8)
    rows, cols = struct.unpack("hhhh", packed)[:2]
    return (cols or 80, rows or 24)


def run(options: Any, passphrase: Optional[bytes]) -> int:
    """C{securechat} in a terminal: until /quit."""
    import os
    import signal
    import termios
    import tty

    from twisted.conch.insults.insults import ServerProtocol
    from twisted.internet import reactor, stdio
    from twisted.logger import globalLogBeginner

    from ..codec import KdfUnavailable
    from .passphrases import startupPassphrase
    from .protocol import SlowConsumerGuard
    from .startup import buildClient, keyRooms, startState
    from .statedir import StateError

    if not os.isatty(0) or not os.isatty(1):
        print("securechat: the console needs a terminal; use --json for scripts", file=sys.stderr)
        return 2
    try:
        client = buildClient(
            reactor, options.server, options.nick, options.server_password_file,
            options.tls_trust, options.insecure_skip_tls_verify,
            stateDir=getattr(options, "state_dir", None),
        )
    except StateError as exc:
        print("securechat: %s" % (exc,), file=sys.stderr)
        return 2
    try:
        keyRooms(client, options.join, passphrase, options.layer)
    except (ValueError, KdfUnavailable) as exc:
        print("securechat: %s" % (exc,), file=sys.stderr)
        return 2
    del passphrase

    def status() -> str:
        console = screen.console
        target = console.current if console else None
        state = "connected" if client.connected else "not connected"
        if target is None:
            return " %s | %s | %s | /help" % (client.nick, client.endpoint_description, state)
        fingerprint = client.fingerprint(target)
        key = "key %s" % (fingerprint,) if fingerprint else "no key"
        return " %s | %s | layer %s | %s | %s | /help" % (
            client.nick, target, client.layer(target), key, state)

    def quit(reason: str) -> None:
        client.quit(reason).addBoth(lambda ignored: reactor.stop() if reactor.running else None)

    def makeConsole(terminal: ConsoleTerminal) -> Console:
        console = Console(
            client,
            terminal.show,
            terminal.ask,
            quit,
            lambda: startupPassphrase(options.key_file),
            current=options.join[0] if options.join else None,
        )
        client.listen(console.event)
        return console

    stdin = sys.__stdin__
    if stdin is None:
        raise SystemExit("securechat: the console needs a terminal on standard input")
    fd = stdin.fileno()
    screen = ConsoleTerminal(makeConsole, status, terminalSize(fd))

    def logToScreen(event: dict) -> None:
        if event.get("log_level", LogLevel.info) >= LogLevel.warn and screen.console is not None:
            screen.console.alert(formatLogEvent(event) or "warning")

    globalLogBeginner.beginLoggingTo([cast(ILogObserver, logToScreen)], redirectStandardIO=False)

    saved = termios.tcgetattr(fd)
    tty.setraw(fd)
    try:
        terminalIO = stdio.StandardIO(ServerProtocol(lambda: screen))
        # A terminal that does not keep up (a paused tty, a slow ssh link):
        # stop reading the relay meanwhile, as the JSON mode does for stdout.
        terminalIO.registerProducer(SlowConsumerGuard(client.factory), True)
        signal.signal(
            signal.SIGWINCH,
            lambda *a: cast(IReactorThreads, reactor).callFromThread(screen.terminalSize, *terminalSize(fd)),
        )
        screen._console().info(
            "securechat: type /help for the commands; messages show [plain], [enc], [auth] or [auth+fresh]"
        )
        startState(reactor, client)
        client.startService()
        reactor.run()
    finally:
        os.write(1, screen.restoreSequence())
        termios.tcsetattr(fd, termios.TCSANOW, saved)
    return 0
