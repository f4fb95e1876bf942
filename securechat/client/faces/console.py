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
import sys
from collections.abc import Sequence
from typing import Any, Callable, Union, cast

from twisted.conch.insults.insults import TerminalProtocol
from twisted.internet.interfaces import IReactorThreads
from twisted.logger import ILogObserver, LogLevel
from twisted.logger import formatEvent as formatLogEvent

from . import keymap
from .commands import Console
from .completion import Completer
from .render import (
    CONTINUATION,
    STATUS,
    Segment,
    cut,
    encode,
    neutralise,
    wrap,
    wrapSegments,
)
from .windows import Line, Window, WindowList

__all__ = ["CONTINUATION", "ConsoleTerminal", "neutralise", "run", "wrap"]

#: Rows below the scrollback: the status line and the input line.
FOOTER_ROWS = 2
#: Smallest terminal we draw in.
MIN_WIDTH, MIN_HEIGHT = 20, 5
HISTORY = 500

CSI = b"\x1b["
RESET = CSI + b"0m"
#: What a terminal in bracketed-paste mode puts around pasted text.
PASTE_START = CSI + b"200~"
PASTE_END = CSI + b"201~"

Status = Callable[[], Union[str, Sequence[Segment]]]


class ConsoleTerminal(TerminalProtocol):
    """
    The insults adapter: keys in (meaning from L{keymap}), the current
    window (L{securechat.client.faces.windows}) and the footer out.  The line
    editor is here; what lines mean is L{Console}'s, and what goes in
    which window too.
    """

    def __init__(
        self,
        makeConsole: Callable[[ConsoleTerminal], Console],
        status: Status,
        size: tuple[int, int] = (80, 24),
    ) -> None:
        self.makeConsole = makeConsole
        self.status = status
        self.width, self.height = max(size[0], MIN_WIDTH), max(size[1], MIN_HEIGHT)
        self.buffer: list[str] = []
        self.cursor = 0
        self.history: list[str] = []
        self.historyIndex = 0
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self.secret: tuple[str, Callable[[bytes | None], None]] | None = None
        self.console: Console | None = None
        self.completer = Completer()
        #: The lines of a paste being received (between the terminal's
        #: bracketed-paste marks), or None.
        self.pasting: list[str] | None = None

    # Life.

    def connectionMade(self) -> None:
        self.console = self.makeConsole(self)
        self.console.attach(self)
        self.completer.fold = self.console.client.session.fold
        # Bracketed paste: the terminal marks what is pasted, so a long
        # paste is asked about (Console.paste) instead of sent line by line.
        self.terminal.write(CSI + b"?2004h")
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
        return CSI + b"?2004l" + RESET + CSI + b"r" + CSI + b"%d;1H" % (self.height,) + CSI + b"2K"

    # Output.

    @property
    def rows(self) -> int:
        return self.height - FOOTER_ROWS

    def show(self, text: str, style: str = "normal") -> None:
        """Add a line to the current window."""
        if self.console is not None:
            self.console._put(None, (text, style))

    def lineAdded(self, window: Window, line: Line) -> None:
        """
        A line for C{window}: drawn when it is the one shown and followed to
        the bottom (the scroll region scrolls, the input line stays intact);
        else only the status bar changes (activity, "more").
        """
        if self.console is None or window is not self.console.windows.current:
            self.drawFooter()
            return
        rows = wrapSegments(line.segments, self.width)
        if window.scroll:
            window.scroll += len(rows)  # the view stays where the user scrolled
            self.drawFooter()
            return
        terminal = self.terminal
        for row in rows:
            terminal.cursorPosition(0, self.rows - 1)
            terminal.write(b"\n")
            terminal.cursorPosition(0, self.rows - 1)
            terminal.write(encode(row))
        self.drawFooter()

    def _visible(self, window: Window) -> list[list[Segment]]:
        """The rows of C{window} on screen, its scroll clamped to what it holds."""
        need = window.scroll + self.rows
        rows: list[list[Segment]] = []
        for line in reversed(window.lines):
            rows[:0] = wrapSegments(line.segments, self.width)
            if len(rows) >= need:
                break
        if len(rows) < need:
            window.scroll = max(0, len(rows) - self.rows)
        end = len(rows) - window.scroll
        return rows[max(0, end - self.rows) : end]

    def redraw(self) -> None:
        terminal = self.terminal
        terminal.write(RESET)
        terminal.eraseDisplay()
        terminal.setScrollRegion(1, self.rows)
        if self.console is not None:
            lines = self._visible(self.console.windows.current)
            top = self.rows - len(lines)
            for row, segments in enumerate(lines):
                terminal.cursorPosition(0, top + row)
                terminal.write(encode(segments))
        self.drawFooter()

    def drawFooter(self) -> None:
        terminal = self.terminal
        terminal.cursorPosition(0, self.height - 2)
        status = self.status()
        segments: Sequence[Segment] = [(status, STATUS)] if isinstance(status, str) else status
        row = cut(segments, self.width)
        used = sum(len(text) for text, _ in row)
        if used < self.width:
            row.append((" " * (self.width - used), STATUS))
        terminal.write(encode(row))
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

    def ask(self, prompt: str, answer: Callable[[bytes | None], None]) -> None:
        """Read one line without echo (a passphrase); C{answer(None)} if cancelled."""
        self.secret = (prompt, answer)
        self._stash = (self.buffer, self.cursor)
        self.buffer, self.cursor = [], 0
        self.drawInput()

    def unhandledControlSequence(self, seq: bytes) -> None:
        if seq == PASTE_START:
            # Also while a question is asked: a paste never answers it (L{_pasted}).
            self.pasting = []
            return
        if seq == PASTE_END:
            self._pasted()
            return
        action = keymap.SEQUENCES.get(seq)
        if action is not None:
            self.keystrokeReceived(seq, None)

    def keystrokeReceived(self, keyID: Any, modifier: Any) -> None:
        if isinstance(keyID, bytes) and keyID in keymap.SEQUENCES:
            action, argument = keymap.SEQUENCES[keyID], None
        else:
            action, argument = keymap.classify(keyID, modifier)
        if action != keymap.COMPLETE:
            self.completer.reset()
        handler = getattr(self, "_key_" + action.replace("-", "_"), None)
        if handler is None:
            return
        if handler(argument) is not False:
            self.drawInput()

    # Keys: each returns False when it has drawn what it needed already.

    def _key_ignore(self, argument: Any) -> bool:
        return False

    def _key_enter(self, argument: Any) -> bool:
        self._enter()
        return False

    def _key_backspace(self, argument: Any) -> None:
        if self.cursor:
            del self.buffer[self.cursor - 1]
            self.cursor -= 1

    def _key_delete(self, argument: Any) -> None:
        if self.cursor < len(self.buffer):
            del self.buffer[self.cursor]

    def _key_left(self, argument: Any) -> None:
        self.cursor = max(0, self.cursor - 1)

    def _key_right(self, argument: Any) -> None:
        self.cursor = min(len(self.buffer), self.cursor + 1)

    def _key_home(self, argument: Any) -> None:
        self.cursor = 0

    def _key_end(self, argument: Any) -> None:
        self.cursor = len(self.buffer)

    def _key_clear(self, argument: Any) -> None:
        self.buffer, self.cursor = [], 0

    def _key_delete_word(self, argument: Any) -> None:
        self._deleteWord()

    def _key_redraw(self, argument: Any) -> bool:
        self.redraw()
        return False

    def _key_interrupt(self, argument: Any) -> bool:
        self._interrupt()
        return False

    def _key_eof(self, argument: Any) -> bool:
        if not self.buffer and self.secret is None and self.console is not None:
            self.console.line("/quit")
            return False
        return True

    def _key_history_up(self, argument: Any) -> None:
        self._history(-1)

    def _key_history_down(self, argument: Any) -> None:
        self._history(1)

    def _key_text(self, data: bytes) -> None:
        self._typed(data)

    def _scroll(self, rows: int) -> bool:
        if self.console is None:
            return False
        window = self.console.windows.current
        window.scroll = max(0, window.scroll + rows)
        self.redraw()
        return False

    def _key_page_up(self, argument: Any) -> bool:
        return self._scroll(max(self.rows - 1, 1))

    def _key_page_down(self, argument: Any) -> bool:
        return self._scroll(-max(self.rows - 1, 1))

    def _switch(self, change: Callable[[WindowList], Any]) -> bool:
        """Show another window (not while a passphrase is being typed)."""
        if self.console is None or self.secret is not None:
            return False
        change(self.console.windows)
        self.redraw()
        return False

    def _key_next_window(self, argument: Any) -> bool:
        return self._switch(lambda windows: windows.step(1))

    def _key_previous_window(self, argument: Any) -> bool:
        return self._switch(lambda windows: windows.step(-1))

    def _key_window(self, number: int) -> bool:
        return self._switch(lambda windows: windows.selectNumber(number))

    def _key_complete(self, argument: Any) -> None:
        console = self.console
        if console is None or self.secret is not None:
            return
        session = console.client.session
        room = console.current
        nicks: list[str] = []
        if room is not None:
            state = session.rooms.get(session.fold(room))
            nicks = list(state.members.values()) if state is not None else []
        nicks += [w.name for w in console.windows.windows if w.kind == "query" and w.name]
        rooms = console.client.rooms() + [
            w.name for w in console.windows.windows if w.kind == "room" and w.name
        ]
        line, cursor = self.completer.complete(
            "".join(self.buffer), self.cursor, console.commandNames(), rooms, nicks
        )
        self.buffer, self.cursor = list(line), cursor

    def _typed(self, data: bytes) -> None:
        text = self.decoder.decode(data)
        for char in text:
            if char.isprintable():
                self.buffer.insert(self.cursor, char)
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
        elif self.console is not None:
            self.console.line("/quit")

    def _finishSecret(self, value: bytes | None) -> None:
        assert self.secret is not None
        answer = self.secret[1]
        self.secret = None
        self.buffer, self.cursor = self._stash
        self._stash = ([], 0)
        self.drawInput()
        answer(value)

    def _pasted(self) -> None:
        """
        A paste ended: its whole lines go to the console together; a last
        line without its Enter stays in the input to be edited.
        """
        lines, self.pasting = self.pasting, None
        if not lines:
            return
        if self.secret is not None:
            # A question is asked (y/N, a passphrase): pasted text never
            # answers it, nor runs as lines after it.  One line is left in
            # the input for the user's own Enter; more are dropped, said.
            if len(lines) == 1 and not self.buffer:
                self.buffer, self.cursor = list(lines[0]), len(lines[0])
            else:
                if self.console is not None:
                    self.console.alert("paste of %d lines ignored: answer the question first" % (len(lines),))
            self.drawInput()
            return
        self.drawInput()
        if self.console is not None:
            self.console.paste(lines)

    def _enter(self) -> None:
        line = "".join(self.buffer)
        self.buffer, self.cursor = [], 0
        if self.pasting is not None:
            self.pasting.append(line)
            return
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
        if self.console is not None:
            self.console.line(line)


def terminalSize(fd: int) -> tuple[int, int]:
    import fcntl
    import struct
    import termios

    packed = fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\x00" * 8)
    rows, cols = struct.unpack("hhhh", packed)[:2]
    return (cols or 80, rows or 24)


def run(options: Any, passphrase: bytes | None) -> int:
    """C{securechat} in a terminal: until /quit."""
    import os
    import signal
    import termios
    import tty

    from twisted.conch.insults.insults import ServerProtocol
    from twisted.internet import reactor, stdio
    from twisted.logger import globalLogBeginner

    from ...cannotstart import CannotStart
    from ...codec import KdfUnavailable
    from ..adapters.passphrases import startupPassphrase
    from ..adapters.protocol import SlowConsumerGuard
    from ..adapters.startup import clientFromOptions, keyRooms, startState

    if not os.isatty(0) or not os.isatty(1):
        raise CannotStart("the console needs a terminal; use --json for scripts")
    client = clientFromOptions(reactor, options)
    try:
        keyRooms(client, options.join, passphrase, options.layer)
    except (ValueError, KdfUnavailable) as exc:
        raise CannotStart(str(exc)) from None
    del passphrase

    def status() -> Any:
        console = screen.console
        if console is None:
            return f" {client.nick} | {client.endpoint_description}"
        return console.statusSegments()

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
        # StandardIO connected the terminal, which made its console.
        assert screen.console is not None
        screen.console.info(
            "securechat: type /help for the commands; messages show [plain], [enc], [auth] or [auth+fresh]"
        )
        startState(reactor, client)
        client.startService()
        reactor.run()
    finally:
        os.write(1, screen.restoreSequence())
        termios.tcsetattr(fd, termios.TCSANOW, saved)
    return 0
