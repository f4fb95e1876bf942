"""
Tests for L{securechat.mitm.matrix}: judging a run, the claims, rendering.
"""

from __future__ import annotations

import json

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from securechat.codec import LAYERS
from securechat.mitm import attacks, matrix
from securechat.mitm.matrix import (
    ACCEPTED,
    BY_NAME,
    CLAIMS,
    HIDDEN,
    LOST,
    READ,
    UNAFFECTED,
    Cell,
    Observation,
    Received,
    flagged,
    judge,
    rejected,
)
from tests.test_demo import EXPECTED

ALICE, CAROL, ROOM = "alice", "carol", "#lab"
BODY = "meet at 10:00"


def observe(accepted=(), reasons=(), sent=(BODY,), relayRead=False) -> Observation:
    return Observation(ALICE, ROOM, tuple(sent), tuple(accepted), tuple(reasons), relayRead)


def genuine(body: str = BODY, **kw) -> Received:
    return Received(ALICE, ROOM, body, **kw)


def verdict(name: str, obs: Observation, layer: str = "fernet") -> str:
    return judge(BY_NAME[name], layer, obs).verdict


class JudgeTests(SynchronousTestCase):
    def test_read(self) -> None:
        self.assertEqual(verdict("read", observe(relayRead=True)), READ)
        self.assertEqual(verdict("read", observe([genuine()])), HIDDEN)

    def test_altered(self) -> None:
        cell = judge(BY_NAME["bit-flip"], "aes-ctr", observe([genuine("meet at 10:01")]))
        self.assertEqual((cell.verdict, cell.accepted, cell.detected), (ACCEPTED, True, False))
        self.assertIn("10:01", cell.detail)
        self.assertEqual(verdict("bit-flip", observe(reasons=["tampered"])), rejected("tampered"))
        self.assertEqual(verdict("bit-flip", observe([genuine()])), UNAFFECTED)

    def test_forgeryBesidesTheGenuineMessage(self) -> None:
        self.assertEqual(verdict("forge", observe([genuine(), genuine("forged 00")])), ACCEPTED)
        self.assertEqual(verdict("forge", observe([genuine()], ["tampered"])), rejected("tampered"))

    def test_copies(self) -> None:
        self.assertEqual(verdict("replay", observe([genuine(), genuine()])), ACCEPTED)
        # Without a replay cache a copy and a late message look alike.
        self.assertEqual(
            verdict("replay", observe([genuine(), genuine(reordered=True)])), flagged("replay (or reorder)")
        )
        self.assertEqual(
            verdict("replay", observe([genuine(), genuine(reordered=True)]), "fernet-ttl"), flagged("reordered")
        )
        self.assertEqual(verdict("duplicate", observe([genuine()], ["replayed"])), rejected("replayed"))

    def test_reattributed(self) -> None:
        carol = Received(CAROL, ROOM, BODY)
        self.assertEqual(verdict("reattribute", observe([carol])), ACCEPTED)
        self.assertEqual(verdict("reattribute", observe([], ["re-attributed"])), rejected("re-attributed"))

    def test_moved(self) -> None:
        moved = Received(ALICE, "#ops", BODY)
        self.assertEqual(verdict("move-room", observe([moved])), ACCEPTED)

    def test_reorder(self) -> None:
        sent = ("first", "second")
        self.assertEqual(
            verdict("reorder", observe([genuine("second"), genuine("first")], sent=sent)), ACCEPTED
        )
        self.assertEqual(
            verdict("reorder", observe([genuine("second"), genuine("first", reordered=True)], sent=sent), "signed"),
            flagged("reordered"),
        )

    def test_impersonatedShowsWhatTheSenderWrote(self) -> None:
        forged = Received(ALICE, ROOM, "carol writes this as alice")
        cell = judge(BY_NAME["impersonate"], "fernet-ttl", observe([genuine(), forged]))
        self.assertEqual(cell.verdict, ACCEPTED)
        self.assertIn("alice wrote %r" % (BODY,), cell.detail)
        self.assertEqual(verdict("impersonate", observe([genuine()], ["identity-changed"]), "signed"),
                         rejected("identity-changed"))

    def test_partial(self) -> None:
        self.assertEqual(verdict("drop-chunk", observe([genuine("meet at")])), ACCEPTED)
        self.assertEqual(verdict("drop-chunk", observe([], ["incomplete"])), rejected("incomplete"))
        self.assertEqual(verdict("drop-chunk", observe([])), LOST)

    def test_stale(self) -> None:
        self.assertEqual(verdict("delay", observe([genuine()])), ACCEPTED)
        self.assertEqual(verdict("clock-shift", observe([], ["expired"])), rejected("expired"))
        self.assertEqual(verdict("delay", observe([])), LOST)

    def test_dropShownByTheNextMessage(self) -> None:
        sent = ("one", "two", "three")
        self.assertEqual(
            verdict("drop", observe([genuine("one"), genuine("three", missing=1)], sent=sent)),
            matrix.LOST_FLAGGED_PREFIX + "gap",
        )
        self.assertEqual(verdict("drop", observe([genuine("one"), genuine("three")], sent=sent)), LOST)
        self.assertEqual(verdict("drop", observe([genuine(b) for b in sent], sent=sent)), ACCEPTED)

    def test_gapFlag(self) -> None:
        self.assertEqual(verdict("delay", observe([genuine(missing=2)])), flagged("gap"))

    def test_reasonsListedOnceInOrder(self) -> None:
        cell = judge(BY_NAME["forge"], "fernet", observe([], ["tampered", "malformed", "tampered"]))
        self.assertEqual(cell.reasons, ("tampered", "malformed"))
        self.assertEqual(cell.verdict, rejected("tampered", "malformed"))


class ClaimTests(SynchronousTestCase):
    def test_claimsNameKnownScenariosAndLayers(self) -> None:
        for name, layers in CLAIMS.items():
            self.assertIn(name, BY_NAME)
            for layer in layers:
                self.assertIn(layer, matrix.MATRIX_LAYERS)
        self.assertEqual(set(CLAIMS), set(BY_NAME))

    def test_plainClaimsNothingAndSignedClaimsEverything(self) -> None:
        self.assertFalse([name for name in CLAIMS if "plain" in CLAIMS[name]])
        # Keys that outlive a conversation or a membership: only sender chains stop those.
        self.assertEqual([name for name in CLAIMS if "signed" not in CLAIMS[name]], ["later-leak", "after-leave"])
        # Views (a member's digest of what it received) ride on signed and forward.
        self.assertEqual([name for name in CLAIMS if "forward" not in CLAIMS[name]], [])
        for name in ("withhold-from-one", "split-view"):
            self.assertEqual(set(CLAIMS[name]), {"signed", "forward"}, name)
        # A member writing as another is what only signatures stop.
        self.assertEqual(
            [name for name in CLAIMS if "fernet-ttl" not in CLAIMS[name]],
            ["impersonate", "withhold-from-one", "split-view", "later-leak", "after-leave"],
        )

    def test_everyScenarioUsesAKnownAttack(self) -> None:
        for scenario in matrix.SCENARIOS:
            if scenario.attack == attacks.Impersonate.name:
                continue  # needs a member's keys: the demo builds it (test_demo)
            # What the demo adds for each run: who to blame or rename, and who.
            attack = attacks.makeAttack(
                scenario.attack, 1, **dict(scenario.parameters, as_nick="carol", victim="alice")
            )
            for key, _value in scenario.parameters:
                self.assertIn(key, type(attack).parameters)

    def test_okFollowsTheClaims(self) -> None:
        self.assertTrue(Cell("bit-flip", "fernet", rejected("tampered"), False, False, True).ok)
        self.assertFalse(Cell("bit-flip", "fernet", ACCEPTED, False, True, False).ok)
        self.assertTrue(Cell("bit-flip", "aes-ctr", ACCEPTED, False, True, False).ok)
        self.assertFalse(Cell("bit-flip", "aes-ctr", matrix.ERROR, False, False, False).ok)
        self.assertEqual(
            matrix.failures([Cell("delay", "fernet-ttl", ACCEPTED, False, True, False)])[0].scenario, "delay"
        )


class RenderTests(SynchronousTestCase):
    cells = [
        Cell("read", "plain", READ, True, True, False),
        Cell("read", "fernet", HIDDEN, False, False, False),
        Cell("replay", "plain", ACCEPTED, True, True, False),
        Cell("replay", "fernet", ACCEPTED, False, True, False),
    ]

    def test_text(self) -> None:
        text = matrix.renderText(self.cells)
        lines = text.splitlines()
        self.assertEqual(lines[0].split(), ["attack", "plain", "fernet"])
        self.assertIn("relay reads the body", lines[2])
        self.assertIn("hidden [blocked]", lines[2])
        self.assertNotIn("\u2713", text)
        # Wrapped to the width: the same words, other line breaks.
        self.assertIn("fernet: " + matrix.LESSONS["fernet"], " ".join(text.split()))
        self.assertNotIn("aes-ctr", text)

    def test_markdownMarksFailedClaims(self) -> None:
        cells = self.cells + [Cell("delay", "fernet-ttl", ACCEPTED, False, True, False)]
        text = matrix.renderMarkdown(cells)
        self.assertTrue(text.startswith("| attack | plain | fernet | fernet-ttl |\n|---|---|---|---|\n"))
        self.assertIn("| delay 40s (past TTL) | - | - | ACCEPTED [WORKED] \u2717 CLAIM FAILED |", text)

    def test_json(self) -> None:
        document = json.loads(matrix.renderJson(self.cells, {"seconds": 1.5}))
        self.assertEqual(document["layers"], ["plain", "fernet"])
        self.assertEqual(document["attacks"], ["read", "replay"])
        self.assertEqual(document["failures"], [])
        self.assertEqual(document["seconds"], 1.5)
        fernetRead = [c for c in document["cells"] if c["layer"] == "fernet" and c["attack"] == "read"][0]
        self.assertEqual(fernetRead["claimed"], [HIDDEN])
        self.assertTrue(fernetRead["ok"])


#: Rows and a layer no issue has filed yet: the layout must take them with no code.
NEW_ROWS = ("future-row-one", "future-row-two")
NEW_LAYER = "ratchet"


def fullMatrix(rows=matrix.SCENARIO_NAMES, layers=LAYERS):
    """One cell per (row, layer): today's verdicts (the test of the demo's), ACCEPTED on what is new."""
    return [
        Cell(row, layer, EXPECTED.get(layer, {}).get(row, ACCEPTED), layer == "plain", True, False)
        for row in rows
        for layer in layers
    ]


def tableRows(text: str, count: int):
    """The lines of the table's body: after the dashes, one per attack."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("---")) + 1
    return lines[start : start + count]


class WidthTests(SynchronousTestCase):
    """The terminal table fits the width it is given, whatever the matrix's size."""

    def assertFits(self, text: str, width: int) -> None:
        long = [line for line in text.splitlines() if len(line) > width]
        self.assertEqual(long, [], "lines longer than %d" % (width,))

    def assertOneLinePerRow(self, cells, width: int) -> str:
        """Each row's line holds every one of its cells, in the layers' order; returns the text."""
        text = matrix.renderText(cells, width)
        layout = matrix.layoutTable(cells, width)
        layers, rows, grid = matrix._grid(cells)
        body = tableRows(text, len(rows))
        self.assertEqual(len(body), len(rows))
        for row, line in zip(rows, body):
            at = 0
            for layer in layers:
                found = line.find("  " + layout.style(grid[row, layer]), at)
                self.assertNotEqual(found, -1, "%s on %s not in %r" % (row, layer, line))
                at = found + 2
        return text

    def test_todaysMatrixFitsEveryTerminal(self) -> None:
        cells = fullMatrix()
        for width in (80, 100, 120, 160, 200, 250):
            self.assertFits(self.assertOneLinePerRow(cells, width), width)

    def test_tomorrowsMatrixFits80Columns(self) -> None:
        """24 rows by 6 layers, none of them hard-coded: the layout comes from the data."""
        rows = matrix.SCENARIO_NAMES + NEW_ROWS
        layers = LAYERS + (NEW_LAYER,)
        self.assertEqual((len(rows), len(layers)), (24, 6))
        text = self.assertOneLinePerRow(fullMatrix(rows, layers), 80)
        self.assertFits(text, 80)
        header = text.splitlines()[0].split()
        self.assertEqual(header, ["attack"] + list(layers))
        body = tableRows(text, len(rows))
        self.assertTrue(body[-1].startswith(rows[-1] + " "))

    def test_widerTerminalsSayMore(self) -> None:
        cells = fullMatrix()
        narrow = matrix.renderText(cells, 80)
        medium = matrix.renderText(cells, 120)
        wide = matrix.renderText(cells, 250)
        # 80: one word per cell; 120: the reason beside it; 250: the whole verdict.
        self.assertNotIn("ok tampered", narrow)
        self.assertIn("ok identity-changed", medium)
        self.assertIn("flag replay?", medium)
        self.assertIn("rejected: identity-changed [blocked]", wide)
        # Full labels when they fit, short ones when they do not.
        self.assertIn("relay renames the sender (001 after a forced reconnect)", matrix.renderText(cells, 160))
        self.assertNotIn("relay renames the sender (001 after", narrow)
        self.assertIn("rename (001)", narrow)

    def test_headersBreakAtHyphensBeforeLabelsAreCut(self) -> None:
        cells = fullMatrix()
        text = self.assertOneLinePerRow(cells, 56)
        self.assertFits(text, 56)
        lines = text.splitlines()
        self.assertIn("fernet-", lines[0])
        self.assertEqual(lines[1].split()[0], "attack")
        self.assertIn("ttl", lines[1].split())

    def test_tooNarrowForATableListsBlocks(self) -> None:
        cells = fullMatrix()
        text = matrix.renderText(cells, 30)
        self.assertFits(text, 30)
        self.assertFalse(any(line.startswith("---") for line in text.splitlines()))
        self.assertIn("  plain READ", text)
        tomorrow = fullMatrix(matrix.SCENARIO_NAMES + NEW_ROWS, LAYERS + (NEW_LAYER,))
        for width in range(10, 80, 7):
            self.assertFits(matrix.renderText(tomorrow, width), width)

    def test_aFailedClaimIsMarkedWithoutColour(self) -> None:
        cells = [Cell("delay", layer, ACCEPTED, False, True, False) for layer in ("fernet", "fernet-ttl")]
        text = matrix.renderText(cells, 40)
        [row] = tableRows(text, 1)
        self.assertEqual(row.split()[-2:], ["WORKED", "WORKED!"])
        self.assertIn("!: a claim of docs/security.md failed", " ".join(text.split()))

    def test_colourOnlyWhenAsked(self) -> None:
        cells = fullMatrix()
        plain = matrix.renderText(cells, 80)
        self.assertNotIn("\x1b", plain)
        coloured = matrix.renderText(cells, 80, colour=True)
        self.assertIn("\x1b[1;31mWORKED\x1b[0m", coloured)
        self.assertIn("\x1b[32mok\x1b[0m", coloured)
        # The escapes take no columns: without them, the same text.
        self.assertEqual(matrix._plain(coloured), plain)
        failed = matrix.renderText([Cell("delay", "fernet-ttl", ACCEPTED, False, True, False)], 40, colour=True)
        self.assertIn("\x1b[%smWORKED!\x1b[0m" % (matrix.FAILED_COLOUR,), failed)

    def test_verboseListsEveryFullVerdict(self) -> None:
        cells = fullMatrix()
        text = matrix.renderText(cells, 80, verbose=True)
        self.assertFits(text, 80)
        flat = " ".join(text.split())
        self.assertIn("a member writes as another member (impersonate): plain: ACCEPTED [WORKED];", flat)
        self.assertIn("signed: rejected: identity-changed [blocked]", flat)
        self.assertNotIn("identity-changed", matrix.renderText(cells, 80))

    def test_shorten(self) -> None:
        self.assertEqual(matrix.shorten("abcdefghij", 10), "abcdefghij")
        self.assertEqual(matrix.shorten("abcdefghijk", 10), "abcd...ijk")
        self.assertEqual(len(matrix.shorten("x" * 600, 77)), 77)
        self.assertEqual(matrix.shorten("abcdef", 2), "ab")


class PictureTests(SynchronousTestCase):
    """The docs' table of a stored run: marks, verdicts and CSS classes from the data."""

    def test_classesFollowTheOutcomeAndTheClaims(self) -> None:
        document = json.loads(matrix.renderJson(fullMatrix()))
        shown = matrix.picture(document)
        self.assertEqual(shown.layers, LAYERS)
        self.assertEqual([key for _, key, _ in shown.rows], list(matrix.SCENARIO_NAMES))
        cells = {(key, layer): cell for _, key, row in shown.rows for layer, cell in zip(shown.layers, row)}
        self.assertEqual(cells["bit-flip", "plain"], matrix.PictureCell("WORKED", ACCEPTED, ("sc-worked",)))
        self.assertEqual(
            cells["bit-flip", "fernet"],
            matrix.PictureCell("ok", rejected("tampered"), ("sc-blocked", matrix.CLAIMED_CLASS)),
        )
        self.assertEqual(cells["replay", "aes-ctr"].classes, ("sc-detected",))
        self.assertEqual(shown.rows[0][0], "relay reads the body")
        self.assertEqual(dict(shown.lessons)["signed"], matrix.LESSONS["signed"])
        self.assertEqual(shown.failures, 0)

    def test_aStoredFailureStaysVisible(self) -> None:
        document = json.loads(matrix.renderJson([Cell("delay", "fernet-ttl", ACCEPTED, False, True, False)]))
        [(_, _, [cell])] = matrix.picture(document).rows
        self.assertEqual(cell.mark, "WORKED!")
        self.assertIn(matrix.FAILED_CLASS, cell.classes)
        self.assertEqual(matrix.picture(document).failures, 1)

    def test_newLayersAndRowsNeedNoCode(self) -> None:
        rows = matrix.SCENARIO_NAMES + NEW_ROWS
        shown = matrix.picture(json.loads(matrix.renderJson(fullMatrix(rows, LAYERS + (NEW_LAYER,)))))
        self.assertEqual(shown.layers[-1], NEW_LAYER)
        self.assertEqual(shown.rows[-1][:2], (rows[-1], rows[-1]))
        self.assertNotIn(NEW_LAYER, dict(shown.lessons))

    def test_cellsRoundTrip(self) -> None:
        for cell in fullMatrix():
            self.assertEqual(Cell.fromDict(cell.asDict()), cell)


class DocsBuildTests(SynchronousTestCase):
    """The docs build draws a stored run as a table with classes (skipped where Sphinx is not installed)."""

    def test_theDirectiveDrawsTheTable(self) -> None:
        try:
            from sphinx.cmd.build import build_main
        except ImportError:
            raise SkipTest("Sphinx is not installed (pip install .[docs])") from None
        import os
        import shutil

        docs = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs")
        source = self.mktemp()
        os.makedirs(os.path.join(source, "_generated"))
        shutil.copytree(os.path.join(docs, "_static"), os.path.join(source, "_static"))
        # Today's matrix with one claim broken: fernet-ttl accepting a delayed message.
        cells = [
            Cell(c.scenario, c.layer, ACCEPTED, False, True, False) if (c.scenario, c.layer) == ("delay", "fernet-ttl")
            else c
            for c in fullMatrix()
        ]
        kdf = {"iterations": 3, "lanes": 4, "memory_cost": 65536}
        with open(os.path.join(source, "_generated", "run.json"), "w", encoding="utf-8") as f:
            f.write(matrix.renderJson(cells, {"kdf": kdf}))
        with open(os.path.join(source, "conf.py"), "w", encoding="utf-8") as f:
            f.write(
                "import sys\nsys.path[:0] = [%r]\nextensions = ['myst_parser', 'attackmatrix']\n"
                "exclude_patterns = ['_generated']\nhtml_static_path = ['_static']\n"
                % (os.path.join(docs, "_ext"),)
            )
        with open(os.path.join(source, "index.md"), "w", encoding="utf-8") as f:
            f.write("# Matrix\n\n```{attack-matrix} _generated/run.json\n```\n")
        out = self.mktemp()
        self.assertEqual(build_main(["-W", "-q", "-b", "html", source, out]), 0)
        with open(os.path.join(out, "index.html"), encoding="utf-8") as f:
            html = f.read()
        self.assertIn('<table class="sc-matrix', html)
        self.assertEqual(html.count('<td class="sc-label"'), len(matrix.SCENARIO_NAMES))
        self.assertIn('class="sc-worked sc-claimed sc-failed"', html)
        self.assertIn("<strong>WORKED!</strong>", html)
        self.assertIn("1 claims FAILED", html)
        self.assertIn("matrix.css", html)
        self.assertTrue(os.path.exists(os.path.join(out, "_static", "matrix.css")))
