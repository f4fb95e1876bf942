"""
The client soak of bench/clientsoak.py in its CI profile: the real client
(``python -m securechat --json``, two of them) behind the bench's hostile
server for a minute.  Every check is on what happened (each genuine message,
each PING, each kind of junk), never on how much fitted in the minute.  Its
verdicts are checked on made-up events too, so that a run that should fail
does.
"""

from __future__ import annotations

import io
import random

from twisted.trial.unittest import SynchronousTestCase

from bench import clientsoak


class CIProfileTests(SynchronousTestCase):
    def test_clientSurvivesTheHostileServer(self) -> None:
        out = io.StringIO()
        report = clientsoak.run(clientsoak.PROFILES["ci"], out=out)
        self.assertEqual(report["failures"], [], out.getvalue())
        self.assertIn("PASSED", out.getvalue())
        self.assertEqual([row["client"] for row in report["rows"]], list(clientsoak.PEERS))
        for row in report["rows"]:
            name = row["client"]
            self.assertEqual(row["exit_code"], 0, name)
            # Every genuine message arrived once, protected; the last ones were sent after the junk.
            self.assertGreater(row["genuine_sent_to_it"], 0, name)
            self.assertEqual(row["genuine_arrived"], row["genuine_sent_to_it"], name)
            self.assertEqual((row["genuine_missing"], row["genuine_not_sent"]), (0, 0), name)
            self.assertEqual(row["junk_accepted_as_protected"], 0, name)
            # Every kind of junk was sent, and what must be judged was judged.
            self.assertEqual(set(row["junk_by_kind"]), {kind for kind, _ in clientsoak.MIX}, name)
            self.assertGreaterEqual(row["rejected"].get("unprotected", 0), row["junk_by_kind"]["plain"], name)
            self.assertGreaterEqual(
                sum(row["rejected"].values()), row["junk_by_kind"]["plain"] + row["junk_whole_garbage"], name)
            self.assertEqual(row["pongs"], row["pings"], name)
            self.assertEqual((row["ctcp_replies"], row["unexpected_lines"], row["tracebacks"]), (0, {}, 0), name)
            for key in ("rss_baseline_mb", "rss_end_mb", "cpu_us_per_junk_line"):
                self.assertIsNotNone(row[key], (name, key))


class VerdictTests(SynchronousTestCase):
    """What the soak counts as junk accepted, on made-up events."""

    def setUp(self) -> None:
        self.soak = clientsoak.ClientSoak(clientsoak.PROFILES["ci"], 1, "python3", io.StringIO())
        self.addCleanup(self.soak.close)
        self.bob = self.soak.peers["bob"]

    def message(self, sender: str, body: str, protection: str = "authenticated+fresh") -> None:
        self.soak.onEvent(self.bob, {"type": "message", "target": clientsoak.ROOM, "sender": sender,
                                     "body": body, "protection": protection})

    def test_genuineOnceIsNotJunk(self) -> None:
        self.message("alice", "G alice 1")
        self.assertEqual((list(self.bob.seenBodies), self.bob.acceptedJunk), (["G alice 1"], []))

    def test_aSecondCopyIsJunk(self) -> None:
        self.message("alice", "G alice 1")
        self.message("alice", "G alice 1")
        self.assertEqual(len(self.bob.acceptedJunk), 1, "a replay shown twice")

    def test_anInventedSenderOrBodyIsJunk(self) -> None:
        self.message("n00001", "G alice 2")
        self.message("alice", "pay 100")
        self.message("alice", "G bob 3", protection="authenticated")
        self.assertEqual(len(self.bob.acceptedJunk), 3)

    def test_plainIsNotProtected(self) -> None:
        self.message("n00001", "plain text 1", protection="none")
        self.assertEqual(self.bob.acceptedJunk, [])

    def test_missingMessagesFail(self) -> None:
        self.soak.peers["alice"].asked = ["G alice 1", "G alice 2"]
        self.soak.peers["alice"].sentBodies = ["G alice 1", "G alice 2"]
        self.message("alice", "G alice 1")
        report = self.soak.judge([], {nick: None for nick in clientsoak.PEERS})
        self.assertIn("bob: 1 genuine messages never arrived", report["failures"])


class HintTests(SynchronousTestCase):
    """A refusal hint is neither a CTCP reply nor an unexpected line; too many fail the soak."""

    setUp = VerdictTests.setUp

    def test_hintCountedAsSuch(self) -> None:
        hint = b"NOTICE n00007 :\x01SC-REFUSED #soak tampered 1 " + b"A" * 22 + b"\x01"
        self.soak.onLine(self.bob, hint)
        self.assertEqual((self.bob.hints, self.bob.ctcpReplies, dict(self.bob.unexpected)), (1, 0, {}))
        self.soak.onLine(self.bob, b"NOTICE n00007 :\x01VERSION securechat\x01")
        self.assertEqual((self.bob.hints, self.bob.ctcpReplies), (1, 1))

    def test_tooManyHintsFail(self) -> None:
        self.bob.hints = 10_000
        report = self.soak.judge([], {nick: None for nick in clientsoak.PEERS})
        self.assertTrue(any("bob sent 10000 refusal hints" in f for f in report["failures"]), report["failures"])


class JunkTests(SynchronousTestCase):
    def test_linesAreOneLineEach(self) -> None:
        junk = clientsoak.Junk(random.Random(3), b"bob", b"alice", 50)
        junk.recordGenuine(b":alice!alice@127.0.0.1 PRIVMSG #soak :+sc1 fernet-ttl x 1/1 y\r\n")
        kinds = []
        for _ in range(3000):
            kind, line = junk.line()
            kinds.append(kind)
            self.assertTrue(line.endswith(b"\r\n"))
            self.assertNotIn(b"\n", line[:-2])
            self.assertNotIn(b"\r", line[:-2])
        self.assertEqual(set(kinds[:2 * len(clientsoak.MIX)]), {kind for kind, _ in clientsoak.MIX},
                         "the first lines go through every kind")
        self.assertEqual(sum(junk.counts.values()), 3000)

    def test_replayWaitsForAGenuineLine(self) -> None:
        junk = clientsoak.Junk(random.Random(3), b"bob", b"alice", 50)
        first = [junk.line()[0] for _ in range(2 * len(clientsoak.MIX))]
        self.assertNotIn("replay", first)
        self.assertEqual(junk.unsent, ["replay"], "every other kind was sent")
        junk.recordGenuine(b":alice!alice@127.0.0.1 PRIVMSG #soak :+sc1 fernet-ttl x 1/1 y\r\n")
        self.assertEqual(junk.line()[0], "replay")
        self.assertEqual(junk.unsent, [])
