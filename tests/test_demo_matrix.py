"""
Tests for L{securechat.mitm.matrix}: judging a run, the claims, rendering.
"""

from __future__ import annotations

import json

from twisted.trial.unittest import SynchronousTestCase

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
                self.assertIn(layer, LAYERS)
        self.assertEqual(set(CLAIMS), set(BY_NAME))

    def test_plainClaimsNothingAndSignedClaimsEverything(self) -> None:
        self.assertFalse([name for name in CLAIMS if "plain" in CLAIMS[name]])
        self.assertEqual([name for name in CLAIMS if "signed" not in CLAIMS[name]], [])
        # A member writing as another is what only signatures stop.
        self.assertEqual([name for name in CLAIMS if "fernet-ttl" not in CLAIMS[name]], ["impersonate"])

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
        self.assertIn("fernet: " + matrix.LESSONS["fernet"], text)
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
