"""
Tests for L{securechat.mitm.roster}: membership as the relay in the middle sees it.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from securechat.mitm.roster import Roster
from securechat.wire import parseLine


def fed(*lines: bytes) -> Roster:
    roster = Roster()
    for line in lines:
        roster.feed(parseLine(line))
    return roster


class RosterTests(SynchronousTestCase):
    def test_joinAndNames(self) -> None:
        roster = fed(
            b":alice!a@h JOIN #Lab",
            b":srv 353 bob = #lab :@alice +bob carol",
            b":dave!d@h JOIN #lab,#ops",
        )
        self.assertEqual(roster.members("#LAB"), ["alice", "bob", "carol", "dave"])
        self.assertEqual(roster.rooms("DAVE"), ["#lab", "#ops"])  # as last seen

    def test_partKickQuit(self) -> None:
        roster = fed(
            b":alice!a@h JOIN #lab",
            b":bob!b@h JOIN #lab",
            b":carol!c@h JOIN #lab",
            b":alice!a@h PART #lab :bye",
            b":bob!b@h KICK #lab carol :out",
        )
        self.assertEqual(roster.members("#lab"), ["bob"])
        roster.feed(parseLine(b":bob!b@h QUIT :gone"))
        self.assertEqual(roster.members("#lab"), [])
        self.assertEqual(roster.rooms("bob"), [])

    def test_nickChange(self) -> None:
        roster = fed(b":alice!a@h JOIN #lab", b":alice!a@h NICK :Alice2")
        self.assertEqual(roster.members("#lab"), ["Alice2"])

    def test_otherMember(self) -> None:
        roster = fed(b":alice!a@h JOIN #lab", b":bob!b@h JOIN #lab", b":carol!c@h JOIN #lab")
        self.assertEqual(roster.otherMember("#lab", {"ALICE", "bob"}), "carol")
        self.assertIsNone(roster.otherMember("#lab", {"alice", "bob", "carol"}))
        self.assertIsNone(roster.otherMember("#nowhere", set()))

    def test_sharedRoom(self) -> None:
        roster = fed(
            b":alice!a@h JOIN #lab,#ops,#solo",
            b":bob!b@h JOIN #lab,#ops",
        )
        self.assertEqual(roster.sharedRoom({"alice", "bob"}, exclude="#LAB"), "#ops")
        self.assertIsNone(roster.sharedRoom({"alice", "bob", "carol"}, exclude="#lab"))

    def test_otherLinesIgnored(self) -> None:
        roster = fed(b":alice!a@h PRIVMSG #lab :JOIN #x", b"PING :x", b":srv 353 bob = #lab")
        self.assertEqual(roster.rooms("alice"), [])
        self.assertEqual(roster.members("#lab"), [])
