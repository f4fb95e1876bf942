"""
Tests for L{securechat.mitm.lesson}: the guided walk's order, its steps,
and that every step fits the width it is given.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from securechat.codec import LAYERS
from securechat.mitm import lesson, matrix
from securechat.mitm.lesson import AFTER, BEFORE, SENT, Run, WireLine
from securechat.mitm.matrix import ACCEPTED, Cell, Observation, Received, judge, rejected

BODY = "run 6: meet at the north door at 10:00"
FLIPPED = "run 6: meet at the north door at 10:01"
TOKEN = b"PRIVMSG #lab :+sc2 fernet Zq1 1/1 gAAAA" + b"x" * 300
PREFIX = b":alice06!~securechat@127.0.0.1 "


def bitFlipRuns():
    """The bit-flip step as the demo records it: accepted on plain and aes-ctr, refused after."""
    runs = {}
    for layer in LAYERS:
        tampered = layer in matrix.AUTHENTICATED
        obs = Observation(
            "alice06", "#lab", (BODY,), () if tampered else (Received("alice06", "#lab", FLIPPED),),
            ("tampered",) if tampered else (), layer == "plain",
        )
        wire = (
            WireLine(SENT, "alice06", TOKEN),
            WireLine(BEFORE, "bob06", PREFIX + TOKEN, "attack bit-flip"),
            WireLine(AFTER, "bob06", PREFIX + TOKEN[:-1] + b"y", "bit flipped"),
        )
        runs[layer] = Run(judge(matrix.BY_NAME["bit-flip"], layer, obs), obs, wire)
    return runs


class OrderTests(SynchronousTestCase):
    def test_theLabsOrderFirst(self) -> None:
        order = lesson.lessonOrder(matrix.SCENARIO_NAMES)
        self.assertEqual(order[:9], [
            "read", "bit-flip", "truncate", "forge", "replay", "duplicate", "replay-late", "delay", "clock-shift",
        ])
        self.assertEqual(sorted(order), sorted(matrix.SCENARIO_NAMES))

    def test_newRowsFollow(self) -> None:
        order = lesson.lessonOrder(("split-view", "replay", "read", "withhold-from-one"))
        self.assertEqual(order, ["read", "replay", "split-view", "withhold-from-one"])

    def test_everyLabQuestionPointsAtARow(self) -> None:
        self.assertEqual([q.chapter for q in lesson.LAB_QUESTIONS], [1, 2, 3, 4, 5])
        for q in lesson.LAB_QUESTIONS:
            self.assertIn(q.attack, matrix.BY_NAME)

    def test_everyRowHasAShortLabelAndAWhy(self) -> None:
        for scenario in matrix.SCENARIOS:
            self.assertTrue(scenario.why, scenario.name)
            self.assertTrue(0 < len(scenario.short) <= len(scenario.label), scenario.name)


class StepTests(SynchronousTestCase):
    def test_aStepShowsWhatWasWrittenDoneShownAndWhy(self) -> None:
        lines = lesson.renderStep("bit-flip", bitFlipRuns(), 2, 17, 80)
        text = "\n".join(lines)
        self.assertEqual(lines[0], "Step 2 of 17: bit flip in the body (bit-flip)")
        self.assertIn("Lab question 2 (Encryption (AES-CTR))", text)
        self.assertIn("    " + BODY, lines)
        # The bytes before and after, shortened: their ends survive, the note too.
        self.assertIn("The line on the wire, fernet (bytes shortened):", lines)
        [given] = [line for line in lines if "attack gave bob06" in line]
        self.assertTrue(given.endswith("xxy  [bit flipped]"), given)
        [had] = [line for line in lines if "relay had for bob06" in line]
        self.assertTrue(had.endswith("xxx"), had)
        # bob's screen, one layer a line, with the mark.
        self.assertIn("    plain       WORKED  <alice06> " + FLIPPED, lines)
        self.assertIn("    fernet      ok      ! refused a line: tampered", lines)
        self.assertIn("Why: " + matrix.BY_NAME["bit-flip"].why, " ".join(text.split()))

    def test_stepsFitAnyWidth(self) -> None:
        for width in (40, 60, 80, 120, 160):
            lines = lesson.renderStep("bit-flip", bitFlipRuns(), 2, 17, width)
            self.assertEqual([line for line in lines if len(line) > width], [], width)

    def test_theReadStepShowsPlainBesideFernet(self) -> None:
        runs = {}
        for layer in LAYERS:
            obs = Observation("alice01", "#lab", (BODY,), (Received("alice01", "#lab", BODY),), (), layer == "plain")
            raw = b"PRIVMSG #lab :" + (BODY.encode() if layer == "plain" else b"+sc2 %s tok" % layer.encode())
            runs[layer] = Run(judge(matrix.BY_NAME["read"], layer, obs), obs, (WireLine(SENT, "alice01", raw),))
        self.assertEqual(lesson.wireLayers("read", runs), ["plain", "fernet"])
        self.assertEqual(lesson.wireLayers("replay", runs), ["fernet"])
        text = "\n".join(lesson.renderStep("read", runs, 1, 1, 80))
        self.assertIn("alice01 sent  PRIVMSG #lab :" + BODY, text)
        self.assertIn("    plain       READ    <alice01> " + BODY, text)

    def test_aFailedRunAndAStoppedSender(self) -> None:
        failed = Run(Cell("drop", "fernet", matrix.ERROR, False, False, False, detail="timed out"), None)
        stopped = Observation("alice", "#lab", (BODY,), (), (), False, stopped=True)
        renamed = Run(judge(matrix.BY_NAME["rename-nick"], "signed", stopped), stopped)
        text = "\n".join(lesson.renderStep("drop", {"fernet": failed, "signed": renamed}, 1, 1, 80))
        self.assertIn("error!  (the run failed: timed out)", text)
        self.assertIn("(nothing: alice would not seal under an imposed nick)", text)

    def test_anUnknownRowStillRenders(self) -> None:
        # (split-view, the row this test used, is a known row now: issue 23.)
        cell = Cell("future-row", "signed", ACCEPTED, False, True, False)
        obs = Observation("alice", "#lab", (BODY,), (Received("alice", "#lab", BODY),), (), False)
        lines = lesson.renderStep("future-row", {"signed": Run(cell, obs)}, 18, 22, 80)
        self.assertEqual(lines[0], "Step 18 of 22: future-row (future-row)")
        self.assertFalse([line for line in lines if line.startswith("Why:")])

    def test_introPointsEachQuestionAtItsStep(self) -> None:
        order = lesson.lessonOrder(matrix.SCENARIO_NAMES)
        text = "\n".join(lesson.renderIntro(order, 80, False))
        self.assertIn("  1. Getting started: step 1, relay reads the body", text)
        self.assertIn("  4. TTL: step 9, sender clock -45s", text)
        self.assertNotIn("Enter", text)
        self.assertIn("Enter: next step", "\n".join(lesson.renderIntro(order, 80, True)))
        self.assertEqual(rejected("tampered"), bitFlipRuns()["fernet"].cell.verdict)


class DocsTests(SynchronousTestCase):
    def test_securityPagePointsEachQuestionAtTheRightStep(self) -> None:
        """docs/security.md's table of the lab's questions names the steps the walk numbers."""
        import os
        import re

        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        with open(os.path.join(root, "docs", "security.md"), encoding="utf-8") as f:
            page = f.read()
        section = page[page.index("## The guided walk") :]
        found = {int(chapter): (int(step), attack) for chapter, step, attack in re.findall(
            r"^\| (\d)\. [^|]*\|[^|]*\| (\d+), `([a-z-]+)`", section, re.MULTILINE
        )}
        order = lesson.lessonOrder(matrix.SCENARIO_NAMES)
        self.assertEqual(
            found, {q.chapter: (order.index(q.attack) + 1, q.attack) for q in lesson.LAB_QUESTIONS}
        )
