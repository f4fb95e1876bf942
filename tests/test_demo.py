"""
Tests for L{securechat.demo}: the whole matrix, end to end, cell by cell.

Each layer's column is played for real: our relay, the malicious relay in
front of it and three headless clients on loopback, with the cheap test
KDF and the demo's virtual clock (nothing sleeps).  The expected matrix is
written out here on its own, so a change in any layer's behaviour shows
up as a named cell, not as "the demo failed".
"""

from __future__ import annotations

import io
import json
import os
import re
import sys
from contextlib import redirect_stderr

from twisted.internet import defer, reactor, threads
from twisted.internet.utils import getProcessOutputAndValue
from twisted.trial.unittest import SynchronousTestCase, TestCase

from securechat import demo
from securechat.codec import TEST_KDF
from securechat.codec.replay import ReplayCache
from securechat.mitm import lesson, matrix
from securechat.mitm.matrix import (
    ACCEPTED,
    HIDDEN,
    LOST,
    LOST_FLAGGED_PREFIX,
    READ,
    STOPPED,
    Cell,
    flagged,
    rejected,
)

#: Generous: a column takes about a second.
COLUMN_TIMEOUT = 60

#: A whole message dropped: nothing forces delivery, the next one shows the hole.
LOST_GAP = LOST_FLAGGED_PREFIX + "gap"

ALL_ACCEPTED = {name: ACCEPTED for name in demo.SCENARIO_NAMES}
#: A relay renaming the sender: on every keyed layer its client will not
#: seal under a nick its user did not choose (on plain nothing is sealed).
RENAMES_STOPPED = {"rename-nick": STOPPED, "rename-welcome": STOPPED}

EXPECTED = {
    # The relay reads and changes everything; nobody notices anything.
    "plain": dict(ALL_ACCEPTED, read=READ, drop=LOST),
    # Hidden, but malleable: altered, truncated and re-attributed messages
    # are accepted as genuine.  Garbage (a forgery, a token opened with the
    # wrong room's key) fails the envelope's shape; sequence numbers flag
    # copies as out of order; stale messages pass.
    "aes-ctr": dict(
        ALL_ACCEPTED,
        read=HIDDEN,
        forge=rejected("tampered"),
        **{"move-room": rejected("tampered")},
        replay=flagged("replay (or reorder)"),
        duplicate=flagged("replay (or reorder)"),
        **{"replay-late": flagged("replay (or reorder)")},
        reorder=flagged("replay (or reorder)"),
        **{"drop-chunk": rejected("incomplete")},
        drop=LOST_GAP,
        **RENAMES_STOPPED,
    ),
    # The MAC stops alteration and forgery; replays and delays get through.
    "fernet": {
        "read": HIDDEN,
        "bit-flip": rejected("tampered"),
        "truncate": rejected("tampered"),
        "forge": rejected("tampered"),
        "reattribute": rejected("re-attributed"),
        "move-room": rejected("tampered"),
        "replay": flagged("replay (or reorder)"),
        "duplicate": flagged("replay (or reorder)"),
        "replay-late": flagged("replay (or reorder)"),
        "reorder": flagged("replay (or reorder)"),
        # Any member holds the room key: only signatures stop this.
        "impersonate": ACCEPTED,
        "drop-chunk": rejected("incomplete"),
        "drop": LOST_GAP,
        "delay": ACCEPTED,
        "clock-shift": ACCEPTED,
        **RENAMES_STOPPED,
    },
    # Freshness and the replay cache stop the rest.
    "fernet-ttl": {
        "read": HIDDEN,
        "bit-flip": rejected("tampered"),
        "truncate": rejected("tampered"),
        "forge": rejected("tampered"),
        "reattribute": rejected("re-attributed"),
        "impersonate": ACCEPTED,
        "move-room": rejected("tampered"),
        "replay": rejected("replayed"),
        "duplicate": rejected("replayed"),
        "replay-late": rejected("expired"),
        "reorder": flagged("reordered"),
        "drop-chunk": rejected("incomplete"),
        "drop": LOST_GAP,
        "delay": rejected("expired"),
        "clock-shift": rejected("expired"),
        **RENAMES_STOPPED,
    },
}
# Issue 22's rows: one long-lived room key opens the recording for whoever
# steals it later or held it before leaving; a client the relay adds never
# learns the secret (on plain there is nothing to learn).
LEAKS_READ = {"later-leak": READ, "after-leave": READ, "relay-member": HIDDEN}
EXPECTED["plain"].update({"later-leak": READ, "after-leave": READ, "relay-member": READ})
for _layer in ("aes-ctr", "fernet", "fernet-ttl"):
    EXPECTED[_layer].update(LEAKS_READ)
# Signatures add who: a member's message sealed as alice is refused, her
# pinned key gives the impostor away; everything else as on fernet-ttl.
EXPECTED["signed"] = dict(EXPECTED["fernet-ttl"], impersonate=rejected("identity-changed"))
# Views that agree (issue 23): a message withheld from one member, or two
# members shown two subsets, is lost unnoticed below signed; on signed
# another member's view of the room names it.
VIEW_ROWS = ("withhold-from-one", "split-view")
for _layer in ("plain", "aes-ctr", "fernet", "fernet-ttl"):
    EXPECTED[_layer].update(dict.fromkeys(VIEW_ROWS, LOST))
EXPECTED["signed"].update(dict.fromkeys(VIEW_ROWS, LOST_FLAGGED_PREFIX + matrix.FLAG_WITHHELD))
# Sender chains: keys erased once used and renewed on every departure, chains
# only for members who proved the secret, batches signed by their sender;
# views ride inside what a batch signature covers, so the view rows are
# flagged as on signed (docs/security.md).
EXPECTED["forward"] = dict(
    EXPECTED["signed"],
    **{
        "bit-flip": rejected("bad-signature"),
        "forge": rejected("malformed"),
        "reattribute": rejected("not-admitted"),
        "impersonate": rejected("bad-signature"),
        "move-room": rejected("not-admitted"),
        "replay-late": rejected("replayed"),
        "later-leak": HIDDEN,
        "after-leave": HIDDEN,
        "relay-member": HIDDEN,
    },
)


def runInTerminal(argv, columns: int, stdin: bytes = b"", typed: bool = False):
    """
    Run C{python -m securechat.demo ARGV} with its stdout and stderr on a
    pseudo-terminal C{columns} wide; returns (everything it wrote, exit status).
    C{stdin} goes to a pipe, or with C{typed} is typed ahead on the terminal.
    """
    import fcntl
    import pty
    import struct
    import subprocess
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    root = os.path.dirname(os.path.dirname(os.path.abspath(demo.__file__)))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR")}
    env.update(TERM="xterm", PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    child = subprocess.Popen(
        [sys.executable, "-m", "securechat.demo"] + list(argv),
        stdin=slave if typed else subprocess.PIPE, stdout=slave, stderr=slave, cwd=root, env=env,
    )
    os.close(slave)
    if typed:
        os.write(master, stdin)
    else:
        child.stdin.write(stdin)
        child.stdin.close()
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed its end
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    return b"".join(chunks).decode("utf-8", "replace"), child.wait(COLUMN_TIMEOUT)


def childEnvironment():
    """The environment of a demo run as a child: this tree first on the path, no width or colour set."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "NO_COLOR")}
    env["PYTHONPATH"] = os.getcwd() + os.pathsep + os.environ.get("PYTHONPATH", "")
    return env


def fastOptions(**kw) -> demo.DemoOptions:
    return demo.DemoOptions(kdf=TEST_KDF, **kw)


#: The full matrix, played once and shared by the tests that read it (a
#: run is about five seconds; every test below only reads the report).
_fullReport = []


def fullReport() -> defer.Deferred:
    if _fullReport:
        return defer.succeed(_fullReport[0])
    return demo.runDemo(reactor, fastOptions()).addCallback(lambda report: _fullReport.append(report) or report)


class MatrixTests(TestCase):
    """One test per column: every attack against that layer."""

    timeout = COLUMN_TIMEOUT

    @defer.inlineCallbacks
    def checkColumn(self, layer: str):
        report = yield fullReport()
        cells = [cell for cell in report.cells if cell.layer == layer]
        got = {cell.scenario: cell.verdict for cell in cells}
        wrong = [
            "%s on %s: expected %r, got %r" % (name, layer, want, got.get(name))
            for name, want in EXPECTED[layer].items()
            if got.get(name) != want
        ]
        self.assertEqual(wrong, [])
        self.assertEqual(demo.failures(cells), [])
        # The relay reads on plain only; with stolen keys (issue 22's rows) it is the row's verdict.
        readable = {cell.relayRead for cell in cells if cell.scenario not in matrix.LEAK_ROWS}
        self.assertEqual(readable, {layer == "plain"})

    def test_plainFailsEverything(self):
        return self.checkColumn("plain")

    def test_aesCtrHidesButAcceptsTampering(self):
        return self.checkColumn("aes-ctr")

    def test_fernetRejectsTamperingButAcceptsReplays(self):
        return self.checkColumn("fernet")

    def test_fernetTtlRejectsEveryAttackItClaims(self):
        return self.checkColumn("fernet-ttl")

    def test_signedAlsoStopsMembersWritingAsOthers(self):
        return self.checkColumn("signed")

    def test_forwardAlsoStopsLeaksAndDepartedMembers(self):
        return self.checkColumn("forward")

    @defer.inlineCallbacks
    def test_docsMatrixIsTheDemosOutput(self):
        """docs/_generated/matrix.json is regenerated by `tox -e matrix`, never typed by hand."""
        report = yield fullReport()
        root = os.path.dirname(os.path.dirname(os.path.abspath(demo.__file__)))
        with open(os.path.join(root, demo.MATRIX_FILE), encoding="utf-8") as f:
            stored = json.load(f)
        fresh = json.loads(demo.render(report, demo.parser().parse_args(["--json"])))
        self.assertEqual(demo.comparable(stored), demo.comparable(fresh), "run `tox -e matrix` and commit the result")
        # What is left out of the comparison is only what varies.
        self.assertEqual(set(stored) - set(demo.comparable(stored)), set(demo.VOLATILE_KEYS))
        self.assertTrue(stored["ok"])

    @defer.inlineCallbacks
    def test_aRegressionFailsTheDemo(self):
        """Without the replay cache, fernet-ttl's claim fails and the demo says so."""
        self.patch(ReplayCache, "admit", lambda self, msgid, sent_at: None)
        report = yield demo.runDemo(reactor, fastOptions(layers=("fernet-ttl",), scenarios=("replay",)))
        self.assertEqual([c.verdict for c in report.cells], [flagged("reordered")])
        self.assertEqual(demo.exitStatus(report), demo.EXIT_FAILED)

    @defer.inlineCallbacks
    def test_verboseKeepsTheTranscript(self):
        report = yield demo.runDemo(
            reactor, fastOptions(layers=("aes-ctr",), scenarios=("bit-flip",), verbose=True)
        )
        [(attack, layer, lines)] = report.transcripts
        self.assertEqual((attack, layer), ("bit-flip", "aes-ctr"))
        self.assertTrue(any("[attack bit-flip]" in line for line in lines))
        self.assertTrue(any("[bit flipped]" in line for line in lines))
        text = demo.render(report, demo.parser().parse_args(["--verbose"]))
        self.assertIn("== bit-flip on aes-ctr: what the relay saw", text)
        self.assertIn("=> ACCEPTED: accepted 'run 1: meet at the north door at 10:01'", text)
        # What alice wrote, next to what bob was shown.
        self.assertIn("alice01 wrote 'run 1: meet at the north door at 10:00'", text)
        # Raw lines are shortened, details wrapped: nothing wider than the table.
        self.assertEqual([line for line in text.splitlines() if len(line) > demo.DEFAULT_WIDTH], [])

    @defer.inlineCallbacks
    def test_theTableFitsCommonTerminals(self):
        """At 80, 120 and 160 columns: no longer line, and each attack's cells on its row's one line."""
        report = yield fullReport()
        for width in (80, 120, 160):
            text = demo.render(report, demo.parser().parse_args(["--width", str(width)]))
            self.assertEqual([line for line in text.splitlines() if len(line) > width], [], width)
            assertRowsOnOneLine(self, text, report, width)

    @defer.inlineCallbacks
    def test_theLessonWaitsForEnterOnATerminal(self):
        """Two Enters show two steps; q stops the walk (the matrix still ends it)."""
        report = yield fullReport()
        args = demo.parser().parse_args(["--lesson"])
        out = io.StringIO()
        demo.walk(report, args, out, io.StringIO("\n\nq\n"), 80, False)
        text = out.getvalue()
        self.assertEqual(text.count("-- Enter: step "), 3)
        self.assertIn("Step 2 of 22: bit flip in the body (bit-flip)", text)
        self.assertNotIn("Step 3 of 22", text)
        self.assertIn("Every layer stopped every attack", text)

    @defer.inlineCallbacks
    def test_theLessonRunsOnAtEndOfInput(self):
        report = yield fullReport()
        out = io.StringIO()
        demo.walk(report, demo.parser().parse_args(["--lesson"]), out, io.StringIO("\n"), 80, False)
        text = out.getvalue()
        # One Enter, then end of input: no more prompts, every step.
        self.assertEqual(text.count("-- Enter: step "), 2)
        self.assertIn("Step 17 of 22: drop one chunk (drop-chunk)", text)


def assertRowsOnOneLine(case, text: str, report, width: int) -> None:
    """Every attack has one line that starts with one of its labels and holds all its marks."""
    lines = text.splitlines()
    for name in demo.SCENARIO_NAMES:
        scenario = matrix.BY_NAME[name]
        labels = (scenario.label, scenario.short, name)
        rows = [line for line in lines if any(line.startswith(label + "  ") for label in labels)]
        case.assertEqual(len(rows), 1, "%s at %d columns: %r" % (name, width, rows))
        marks = [matrix.shortMark(c) for c in report.cells if c.scenario == name]
        case.assertEqual(len(marks), len(demo.MATRIX_LAYERS))
        case.assertEqual(
            [word for word in rows[0].split() if word in ("ok", "flag", "WORKED", "READ", "error")], marks, rows[0]
        )


class OptionsAndReportTests(SynchronousTestCase):
    """How the command line selects attacks and layers, and how a report reads."""

    def test_selection(self) -> None:
        options = demo.optionsFromArgs(
            demo.parser().parse_args(["--attack", "replay", "--layer", "fernet", "--attack", "read", "--fast-kdf"])
        )
        self.assertEqual(options.layers, ("fernet",))
        self.assertEqual(options.scenarios, ("read", "replay"))
        self.assertEqual(options.kdf, TEST_KDF)
        self.assertEqual(demo.optionsFromArgs(demo.parser().parse_args([])).kdf, demo.DEFAULT_KDF)

    def test_textReport(self) -> None:
        report = demo.Report((Cell("read", "fernet", HIDDEN, False, False, False),), 1.25, TEST_KDF)
        # Wrapped to the width: the same words, other line breaks.
        text = " ".join(demo.render(report, demo.parser().parse_args([])).split())
        self.assertIn("cheap TEST parameters", text)
        self.assertIn("a relay cannot change a clock", text)
        self.assertIn("Every layer stopped every attack docs/security.md says it stops.", text)
        self.assertEqual(demo.exitStatus(report), demo.EXIT_OK)

    def test_failureReported(self) -> None:
        report = demo.Report((Cell("delay", "fernet-ttl", ACCEPTED, False, True, False),), 1.0, TEST_KDF)
        text = demo.render(report, demo.parser().parse_args([]))
        self.assertIn("FAILED: delay on fernet-ttl (ACCEPTED)", text)
        self.assertEqual(demo.exitStatus(report), demo.EXIT_FAILED)


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True

    def fileno(self) -> int:
        raise OSError("not a real terminal")


class TerminalTests(SynchronousTestCase):
    """How the demo learns the width, and when it paints."""

    def test_width(self) -> None:
        self.assertEqual(demo.terminalWidth(io.StringIO(), {}), demo.DEFAULT_WIDTH)
        self.assertEqual(demo.terminalWidth(io.StringIO(), {"COLUMNS": "132"}), 132)
        self.assertEqual(demo.terminalWidth(io.StringIO(), {"COLUMNS": "wide"}), demo.DEFAULT_WIDTH)
        self.assertEqual(demo.terminalWidth(FakeTerminal(), {}), demo.DEFAULT_WIDTH)
        self.assertEqual(demo.parser().parse_args(["--width", "100"]).width, 100)

    def test_widthMustBePositive(self) -> None:
        stderr = io.StringIO()
        with redirect_stderr(stderr), self.assertRaises(SystemExit):
            demo.parser().parse_args(["--width", "0"])
        self.assertIn("positive", stderr.getvalue())

    def test_aTerminalToAnswerOn(self) -> None:
        self.assertTrue(demo._isTerminal(FakeTerminal()))
        self.assertFalse(demo._isTerminal(None))  # no stdin at all (fd 0 closed)
        self.assertFalse(demo._isTerminal(io.StringIO()))
        closed = FakeTerminal()
        closed.close()
        self.assertFalse(demo._isTerminal(closed))

    def test_colour(self) -> None:
        self.assertTrue(demo.wantsColour(FakeTerminal(), {"TERM": "xterm"}))
        self.assertFalse(demo.wantsColour(FakeTerminal(), {"TERM": "xterm", "NO_COLOR": "1"}))
        self.assertFalse(demo.wantsColour(FakeTerminal(), {"TERM": "dumb"}))
        self.assertFalse(demo.wantsColour(io.StringIO(), {"TERM": "xterm"}))

    def test_progressOverwritesOnATerminalOnly(self) -> None:
        terminal = FakeTerminal()
        progress = demo.Progress(terminal, 20)
        progress("read       plain      READ and a lot more text")
        self.assertEqual(progress.done(7), 7)
        self.assertEqual(terminal.getvalue(), "\r\x1b[Kread    ...ore text\r\x1b[K")
        pipe = io.StringIO()
        demo.Progress(pipe, 20)("read plain READ")
        self.assertEqual(pipe.getvalue(), "read plain READ\n")


class UsageTests(SynchronousTestCase):
    """What the command line refuses before anything runs, and how output is written."""

    def test_lessonUsage(self) -> None:
        self.assertIn("--verbose", self.usageError(["--lesson", "--verbose"]))
        self.assertIn("not allowed with argument", self.usageError(["--lesson", "--json"]))
        self.assertIn("--explain", self.usageError(["--explain", "replay", "--attack", "read"]))
        self.assertIn("invalid choice", self.usageError(["--explain", "nothing"]))
        options = demo.optionsFromArgs(demo.parser().parse_args(["--explain", "delay"]))
        self.assertEqual(options.scenarios, ("delay",))

    def usageError(self, argv) -> str:
        stderr = io.StringIO()
        with redirect_stderr(stderr):
            with self.assertRaises(SystemExit) as exited:
                demo.main(argv, out=io.StringIO())
        self.assertEqual(exited.exception.code, demo.EXIT_CANNOT_RUN)
        return stderr.getvalue()

    def test_verboseOnlyWithTheTextTable(self) -> None:
        self.assertIn("--verbose", self.usageError(["--verbose", "--json"]))
        self.assertIn("--verbose", self.usageError(["--verbose", "--markdown"]))

    def test_unwritableOutputRefusedBeforeTheRun(self) -> None:
        directory = self.mktemp()
        os.makedirs(directory)
        self.assertIn("is a directory", self.usageError(["--output", directory]))
        self.assertIn("is a directory", self.usageError(["--output", directory + os.sep]))
        self.assertEqual(os.listdir(directory), [])

    def test_writeAtomicallyLeavesNoTemporaryFile(self) -> None:
        directory = self.mktemp()
        path = os.path.join(directory, "sub", "matrix.md")
        demo.writeAtomically(path, "table\n")
        with open(path, encoding="utf-8") as f:
            self.assertEqual(f.read(), "table\n")
        self.patch(demo.os, "replace", lambda source, target: exec("raise OSError(5, 'disk says no')"))
        self.assertRaises(OSError, demo.writeAtomically, path, "other\n")
        self.assertEqual(os.listdir(os.path.dirname(path)), ["matrix.md"])


class ProcessTests(TestCase):
    """The real entry point, in a child process: output and exit status."""

    timeout = COLUMN_TIMEOUT

    @defer.inlineCallbacks
    def test_noArgon2idIsCannotRunNotAFailedClaim(self):
        """
        Where cryptography has no Argon2id (PyPy 3.9), the keyed layers cannot
        run: one line and exit 2, not a traceback and the "claim failed" 1.
        """
        script = (
            "import sys; import securechat.codec.keys as keys; keys.Argon2id = None; "
            "from securechat import demo; sys.exit(demo.main(['--json', '--attack', 'truncate']))"
        )
        out, err, code = yield getProcessOutputAndValue(
            sys.executable,
            ["-c", script],
            env=dict(os.environ, PYTHONPATH=os.getcwd() + os.pathsep + os.environ.get("PYTHONPATH", "")),
            path=os.path.dirname(os.path.dirname(os.path.abspath(demo.__file__))),
        )
        self.assertEqual(code, demo.EXIT_CANNOT_RUN, err)
        self.assertIn(b"Argon2id needs cryptography >= 44", err)
        self.assertIn(b"--layer plain", err)
        self.assertNotIn(b"Traceback", err)

    @defer.inlineCallbacks
    def test_theDemoInA80ColumnTerminal(self):
        """
        The real command in a pseudo-terminal 80 columns wide (no $COLUMNS):
        it finds the width itself, paints, and no line (progress included)
        is wider than the terminal.
        """
        output, code = yield threads.deferToThread(runInTerminal, ["--fast-kdf"], 80)
        self.assertEqual(code, 0, output)
        self.assertIn("\x1b[", output)
        # What stays on the screen: escapes take no room, a carriage return starts over.
        text = re.sub("\x1b\\[[0-9;]*[A-Za-z]", "", output)
        screen = [part for line in text.split("\r\n") for part in line.split("\r")]
        self.assertEqual([line for line in screen if len(line) > 80], [])
        self.assertIn("Every layer stopped every attack docs/security.md says it stops.", screen)
        # The table: from its header to the first blank line, one line per attack.
        start = next(i for i, line in enumerate(screen) if line.startswith("attack "))
        table = screen[start : screen.index("", start)]
        self.assertEqual(len(table), 2 + len(demo.SCENARIO_NAMES), table)
        for name, line in zip(demo.SCENARIO_NAMES, table[2:]):
            scenario = matrix.BY_NAME[name]
            self.assertTrue(any(line.startswith(label + "  ") for label in (scenario.label, scenario.short)), line)
            marks = [word for word in line.split() if word in ("ok", "flag", "WORKED", "READ")]
            self.assertEqual(len(marks), len(demo.MATRIX_LAYERS), line)

    @defer.inlineCallbacks
    def test_theLessonWaitsInATerminal(self):
        """On a terminal the walk asks before the first step; q (typed ahead) stops it before any."""
        argv = ["--fast-kdf", "--lesson", "--attack", "read", "--attack", "replay", "--layer", "fernet"]
        output, code = yield threads.deferToThread(runInTerminal, argv, 80, b"q\n", True)
        self.assertEqual(code, 0, output)
        self.assertIn("-- Enter: step 1 of 2, read; q: stop --", output)
        self.assertNotIn("Step 1 of 2", output)
        self.assertIn("Every layer stopped every attack", output)

    @defer.inlineCallbacks
    def test_theLessonPiped(self):
        """
        --lesson with its output in a pipe runs straight through: every step
        in the lab's order, each chapter question pointed at its step, no
        prompt, nothing wider than 80 columns, and the matrix at the end.
        """
        out, err, code = yield getProcessOutputAndValue(
            sys.executable,
            ["-m", "securechat.demo", "--fast-kdf", "--lesson"],
            env=childEnvironment(),
            path=os.path.dirname(os.path.dirname(os.path.abspath(demo.__file__))),
        )
        self.assertEqual(code, 0, err)
        text = out.decode("utf-8")
        self.assertNotIn("Enter", text)
        self.assertNotIn("\x1b", text)
        self.assertEqual([line for line in text.splitlines() if len(line) > 80], [])
        steps = [line for line in text.splitlines() if line.startswith("Step ")]
        self.assertEqual(len(steps), len(demo.SCENARIO_NAMES))
        order = [line.rsplit("(", 1)[1].rstrip(")") for line in steps]
        self.assertEqual(order[:9], list(lesson.LESSON_ORDER[:9]))
        for question in lesson.LAB_QUESTIONS:
            self.assertIn(
                "  %d. %s: step %d," % (question.chapter, question.title, order.index(question.attack) + 1), text
            )
        self.assertIn("Step 9 of 22: sender clock -45s (clock-shift)\n", text)
        self.assertIn("    fernet-ttl  ok      ! refused a line: expired", text)
        self.assertIn("Every layer stopped every attack docs/security.md says it stops.", text)

    @defer.inlineCallbacks
    def test_explainOneAttack(self):
        out, err, code = yield getProcessOutputAndValue(
            sys.executable,
            ["-m", "securechat.demo", "--fast-kdf", "--explain", "bit-flip", "--layer", "aes-ctr", "--layer", "fernet"],
            env=childEnvironment(),
            path=os.path.dirname(os.path.dirname(os.path.abspath(demo.__file__))),
        )
        self.assertEqual(code, 0, err)
        text = out.decode("utf-8")
        self.assertIn("Step 1 of 1: bit flip in the body (bit-flip)", text)
        self.assertIn("attack gave bob", text)
        self.assertIn("[bit flipped]", text)
        self.assertIn("    aes-ctr  WORKED  <alice01> run 1: meet at the north door at 10:01", text)
        self.assertIn("    fernet   ok      ! refused a line: tampered", text)

    @defer.inlineCallbacks
    def test_jsonExitZero(self):
        out, err, code = yield getProcessOutputAndValue(
            sys.executable,
            ["-m", "securechat.demo", "--fast-kdf", "--json", "--layer", "fernet", "--attack", "truncate"],
            env=dict(os.environ, PYTHONPATH=os.getcwd() + os.pathsep + os.environ.get("PYTHONPATH", "")),
            path=os.path.dirname(os.path.dirname(os.path.abspath(demo.__file__))),
        )
        self.assertEqual(code, 0, err)
        document = json.loads(out)
        self.assertEqual([c["verdict"] for c in document["cells"]], [rejected("tampered")])
        self.assertTrue(document["ok"])
