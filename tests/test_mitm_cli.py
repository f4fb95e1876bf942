"""
Tests for L{securechat.mitm.cli}: the C{securechat-mitm} command line.
"""

from __future__ import annotations

import io

from twisted.trial.unittest import SynchronousTestCase

from securechat.mitm import attacks, cli


class CliTests(SynchronousTestCase):
    def plan(self, *argv: str):
        return cli.planFromArgs(cli.parser().parse_args(list(argv)))

    def test_defaultsReadEverything(self) -> None:
        args = cli.parser().parse_args([])
        self.assertEqual((args.listen, args.upstream), (cli.DEFAULT_LISTEN, cli.DEFAULT_UPSTREAM))
        plan = self.plan()
        self.assertIsInstance(plan.makeAttack(), attacks.Read)
        self.assertEqual(plan.selector, attacks.Selector())

    def test_attackParametersAndSelector(self) -> None:
        plan = self.plan(
            "--attack", "replay", "--delay", "12.5", "--times", "2",
            "--sender", "alice", "--target", "#lab", "--receiver", "bob",
        )
        attack = plan.makeAttack()
        self.assertIsInstance(attack, attacks.Replay)
        self.assertEqual((attack.delay, attack.remaining), (12.5, 2))
        self.assertEqual(plan.selector, attacks.Selector(sender="alice", target="#lab", receiver="bob"))

    def test_eachConnectionGetsAFreshAttack(self) -> None:
        plan = self.plan("--attack", "reorder")
        self.assertIsNot(plan.makeAttack(), plan.makeAttack())

    def test_namedParameters(self) -> None:
        self.assertEqual(self.plan("--attack", "reattribute", "--as", "carol").makeAttack().as_nick, "carol")
        self.assertEqual(self.plan("--attack", "move-room", "--to-room", "#ops").makeAttack().to_room, "#ops")
        self.assertEqual(self.plan("--attack", "drop-chunk", "--index", "2").makeAttack().index, 2)
        self.assertEqual(self.plan("--attack", "truncate", "--count", "9").makeAttack().count, 9)

    def test_unknownAttackIsAUsageError(self) -> None:
        stderr = io.StringIO()
        self.patch(cli.sys, "stderr", stderr)
        self.assertRaises(SystemExit, cli.parser().parse_args, ["--attack", "nonsense"])
        self.assertIn("invalid choice", stderr.getvalue())

    def test_listAttacks(self) -> None:
        out = io.StringIO()
        self.assertEqual(cli.main(["--list-attacks"], out=out), cli.EXIT_OK)
        listed = out.getvalue().splitlines()
        self.assertEqual([line.split()[0] for line in listed], sorted(attacks.ATTACKS))
