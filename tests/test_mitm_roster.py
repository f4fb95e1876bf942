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

    def test_namesListingReplacesMembership(self) -> None:
        """
        A complete NAMES listing (353...366) is the room's membership: a
        member who left unseen (alone behind the proxy) is gone; a 366
        with no 353 empties the room.
        """
        roster = fed(
            b":aaron!a@h JOIN #lab",
            b":srv 353 alice = #lab :@alice bob",
            b":srv 366 alice #lab :End of /NAMES list.",
        )
        self.assertEqual(roster.members("#lab"), ["alice", "bob"])
        roster.feed(parseLine(b":srv 366 alice #lab :End of /NAMES list."))
        self.assertEqual(roster.members("#lab"), [])
        self.assertEqual(roster.rooms("alice"), [])

    def test_forget(self) -> None:
        roster = fed(b":aaron!a@h JOIN #lab,#ops", b":bob!b@h JOIN #ops")
        roster.forget("AARON")
        self.assertEqual((roster.rooms("aaron"), roster.members("#ops")), ([], ["bob"]))
        self.assertIsNone(roster.sharedRoom({"bob"}, exclude="#ops"))

    def test_onlyNamesALineCanCarry(self) -> None:
        """
        Names the attacks could not write back into a line (a room with a
        space or a comma, a nick starting with a colon) are not kept, so
        no attack built on the roster can fail to format its line.
        """
        roster = fed(
            b":alice!a@h JOIN :#a b",
            b":srv 353 alice = #lab ::colon alice",
            b":srv 366 alice #lab :End of /NAMES list.",
            b":bob!b@h JOIN #lab",
            b":bob!b@h NICK :b c",
        )
        self.assertEqual(roster.rooms("alice"), ["#lab"])
        self.assertEqual(roster.members("#lab"), ["alice"])
