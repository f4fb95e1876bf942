"""
Views that agree (docs/wire.md "Views", docs/security.md): signed messages
carry their author's view of the room, and a relay that withholds
selectively, shows members different subsets, or a member who equivocates,
is caught by the receivers it wronged.  The "relay" here is a function
that decides which member gets which lines: it misbehaves on purpose.
"""

from __future__ import annotations

from typing import Dict, Iterable, List, Optional

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from securechat.codec import Conversation, Identity
from securechat.codec.chunks import encode_msgid, parse_line
from securechat.codec.envelope import pack_fields
from securechat.codec.errors import Malformed
from securechat.codec.layers import SIGNED, SignedSealer, b64decode
from securechat.codec.signing import KEY_CARRIED, VIEW_FOLLOWS, sign_envelope
from securechat.codec.views import (
    DIFFERS,
    NOT_REACHED,
    NOT_REACHED_GRACE,
    REWRITTEN,
    SEEN,
    WITHHELD,
    Entry,
    ViewFinding,
    decode_view,
    encode_view,
    member_tag,
)
from tests.codec_support import ROOM, feed, keys_for, make_clock, only_accepted, only_rejected

#: 512 minus CRLF and a prefix the relay adds: ":alice!alice@192.0.2.10 PRIVMSG #lab :".
BUDGET = 510 - len(":alice!alice@192.0.2.10 PRIVMSG #lab :")


class Room:
    """Members' signed conversations in one room, and a relay under the test's control."""

    def __init__(self, nicks: Iterable[str], clock: Optional[Clock] = None, layer: str = SIGNED) -> None:
        self.clock = clock or make_clock()
        self.members: Dict[str, Conversation] = {}
        for nick in nicks:
            conversation = Conversation(
                ROOM, layer, keys_for(), clock=self.clock.seconds, identity=Identity.generate()
            )
            self.members[nick] = conversation
        for nick, conversation in self.members.items():
            others = tuple(other for other in self.members if other != nick)
            conversation.members = lambda others=others: others  # type: ignore[misc]

    def say(
        self, sender: str, body: str, to: Optional[Iterable[str]] = None, budget: int = BUDGET
    ) -> Dict[str, List[ViewFinding]]:
        """C{sender} says C{body}; the relay delivers it to C{to} (default: everyone else)."""
        lines = self.members[sender].encode(sender, body, budget)
        return self.deliver(sender, lines, to)

    def deliver(
        self, sender: str, lines: List[str], to: Optional[Iterable[str]] = None
    ) -> Dict[str, List[ViewFinding]]:
        receivers = [nick for nick in self.members if nick != sender] if to is None else list(to)
        out: Dict[str, List[ViewFinding]] = {}
        for nick in receivers:
            accepted = only_accepted(feed(self.members[nick], sender, lines))
            out[nick] = list(accepted.views)
        return out


def kinds(findings: List[ViewFinding], kind: str) -> List[ViewFinding]:
    return [finding for finding in findings if finding.kind == kind]


class FormatTests(SynchronousTestCase):
    def test_entries_round_trip(self) -> None:
        entries = [
            Entry(member_tag("bob"), b"\x01\x02", 1, bytes(range(12))),
            Entry(member_tag("carol"), b"\xff\xfe", 2**40, None),
            Entry(member_tag("dave"), b"\x00\x00", 63, b"\xaa" * 12),
        ]
        data = encode_view(entries)
        self.assertEqual(decode_view(data), entries)
        # 2 + 2 + 1 + 12: a sequence below 64 takes one byte.
        self.assertEqual(len(entries[2].encode()), 17)
        self.assertEqual(decode_view(encode_view(entries)), entries)

    def test_malformed_views_refused(self) -> None:
        good = Entry(member_tag("bob"), b"\x01\x02", 5, b"\x07" * 12).encode()
        self.assertEqual(len(decode_view(good)), 1)
        for bad in (
            good[:4],  # no sequence number
            good[:-1],  # head cut short
            good[:4] + b"\x80",  # varint cut short
            good[:4] + b"\x8b\x00" + good[5:],  # not the shortest varint
            good[:4] + b"\xff" * 9 + b"\x01",  # longer than 9 bytes
        ):
            self.assertRaises(Malformed, decode_view, bad)

    def test_short_messages_carry_own_head_after_the_first(self) -> None:
        room = Room(["alice", "bob"])
        first = room.members["alice"].encode("alice", "hello", BUDGET)
        second = room.members["alice"].encode("alice", "again", BUDGET)
        self.assertEqual(opened_form(first), KEY_CARRIED)  # nothing to say yet
        self.assertEqual(opened_form(second), KEY_CARRIED | VIEW_FOLLOWS)


def opened_form(lines: List[str]) -> int:
    chunk = parse_line(lines[0], 256)
    plaintext, _ = SignedSealer(keys_for().for_layer(SIGNED)).open(chunk.piece, b64decode(chunk.msgid))
    return plaintext[0]


class WithheldTests(SynchronousTestCase):
    """The relay drops a member's messages for one receiver only."""

    def test_withheld_from_one_is_named_by_whoever_got_them(self) -> None:
        room = Room(["alice", "bob", "carol"])
        room.say("bob", "one")
        room.say("bob", "two", to=["alice"])  # carol's copy is dropped
        room.say("bob", "three", to=["alice"])
        findings = room.say("alice", "hi")["carol"]
        self.assertEqual(kinds(findings, WITHHELD), [ViewFinding(WITHHELD, "bob", 2, 3)])
        # Said once: alice's next digest names the same messages, nothing new.
        self.assertEqual(kinds(room.say("alice", "again")["carol"], WITHHELD), [])
        # bob learns from carol that his #2-3 never reached her (once the grace passed).
        room.clock.advance(NOT_REACHED_GRACE)
        at_bob = room.say("carol", "here")["bob"]
        self.assertEqual(kinds(at_bob, NOT_REACHED), [ViewFinding(NOT_REACHED, "carol", 2, 3)])

    def test_not_reported_within_the_grace(self) -> None:
        """A message still on its way is not called withheld from its sender's side."""
        room = Room(["alice", "bob", "carol"])
        room.say("bob", "one", to=["alice"])
        room.clock.advance(NOT_REACHED_GRACE - 1)
        self.assertEqual(kinds(room.say("carol", "here")["bob"], NOT_REACHED), [])

    def test_member_never_heard_is_named_from_the_room(self) -> None:
        """Everything bob said withheld from carol: carol never heard him, the digest still names him."""
        room = Room(["alice", "bob", "carol"])
        room.say("bob", "one", to=["alice"])
        room.say("bob", "two", to=["alice"])
        findings = room.say("alice", "hi")["carol"]
        self.assertEqual(kinds(findings, WITHHELD), [ViewFinding(WITHHELD, "bob", 1, 2)])

    def test_withheld_everything_from_everyone_is_silence(self) -> None:
        """The documented limit: what nobody received, nobody's digest names."""
        room = Room(["alice", "bob", "carol"])
        room.members["bob"].encode("bob", "lost", BUDGET)  # the relay drops every copy
        for findings in room.say("alice", "hi").values():
            self.assertEqual(kinds(findings, WITHHELD), [])

    def test_no_views_below_signed(self) -> None:
        """fernet-ttl carries no view: a withheld message shows only as a gap, if a later one arrives."""
        room = Room(["alice", "bob", "carol"], layer="fernet-ttl")
        room.say("bob", "one")
        lines = room.members["bob"].encode("bob", "two", BUDGET)
        room.deliver("bob", lines, to=["alice"])
        hi = room.members["alice"].encode("alice", "hi", BUDGET)
        accepted = only_accepted(feed(room.members["carol"], "alice", hi))
        self.assertEqual(accepted.views, ())


class SplitViewTests(SynchronousTestCase):
    """The relay delivers two different subsets of bob's messages to alice and carol."""

    def test_each_learns_what_the_other_saw(self) -> None:
        room = Room(["alice", "bob", "carol", "dave"])
        room.say("bob", "one", to=["alice", "carol", "dave"])
        room.say("bob", "two", to=["alice", "dave"])  # alice's subset: #1, #2
        room.say("bob", "three", to=["carol", "dave"])  # carol's subset: #1, #3
        at_alice = room.say("carol", "from carol")["alice"]
        self.assertEqual(kinds(at_alice, WITHHELD), [ViewFinding(WITHHELD, "bob", 3, 3)])
        # carol's own gap (#2) was shown by the sequence number; dave, who
        # got everything, finds nothing wrong in either digest.
        at_dave = room.say("alice", "from alice")["dave"]
        at_dave += room.say("carol", "carol again")["dave"]
        self.assertEqual([f for f in at_dave if f.kind != SEEN], [])


class EquivocationTests(SynchronousTestCase):
    """bob's client sends different messages under one sequence number to alice and carol."""

    def test_different_messages_under_one_number(self) -> None:
        room = Room(["alice", "bob", "carol"])
        bob = room.members["bob"]
        # A twin of bob's conversation: same identity, same stream, same numbers.
        twin = Conversation(ROOM, SIGNED, keys_for(), clock=room.clock.seconds, identity=bob.identity)
        twin.restore_state(bob.export_state(), clean=True)
        room.deliver("bob", bob.encode("bob", "meet at noon", BUDGET), to=["alice"])
        room.deliver("bob", twin.encode("bob", "meet at six", BUDGET), to=["carol"])
        findings = room.say("alice", "ok")["carol"]
        self.assertEqual(kinds(findings, DIFFERS), [ViewFinding(DIFFERS, "bob", 1, 1)])

    def test_caught_after_a_room_is_raised_to_signed(self) -> None:
        """bob's stream began on fernet-ttl: his chain restarts at his first signed message."""
        room = Room(["alice", "bob", "carol"], layer="fernet-ttl")
        room.say("bob", "on fernet-ttl")
        for conversation in room.members.values():
            conversation.set_layer(SIGNED, keys_for())
        bob = room.members["bob"]
        twin = Conversation(ROOM, SIGNED, keys_for(), clock=room.clock.seconds, identity=bob.identity)
        twin.restore_state(bob.export_state(), clean=True)
        room.deliver("bob", bob.encode("bob", "meet at noon", BUDGET), to=["alice"])
        room.deliver("bob", twin.encode("bob", "meet at six", BUDGET), to=["carol"])
        findings = room.say("alice", "ok")["carol"]
        self.assertEqual(kinds(findings, DIFFERS), [ViewFinding(DIFFERS, "bob", 2, 2)])

    def test_rewritten_history_caught_by_its_receiver(self) -> None:
        """bob's #2 tells alice a chain head for #1 that is not the #1 she received."""
        room = Room(["alice", "bob"])
        bob = room.members["bob"]
        twin = Conversation(ROOM, SIGNED, keys_for(), clock=room.clock.seconds, identity=bob.identity)
        twin.restore_state(bob.export_state(), clean=True)
        room.deliver("bob", bob.encode("bob", "version a", BUDGET), to=["alice"])
        twin.encode("bob", "version b", BUDGET)  # sent to nobody here: its chain is what bob goes on with
        findings = room.deliver("bob", twin.encode("bob", "next", BUDGET), to=["alice"])["alice"]
        self.assertEqual(kinds(findings, REWRITTEN), [ViewFinding(REWRITTEN, "bob", 1, 1)])


class SeenByTests(SynchronousTestCase):
    def test_sender_learns_who_received(self) -> None:
        room = Room(["alice", "bob", "carol"])
        room.say("bob", "one")
        room.say("bob", "two")
        at_bob = room.say("alice", "hi")["bob"]
        self.assertEqual(kinds(at_bob, SEEN), [ViewFinding(SEEN, "alice", 1, 2, ("alice",))])
        at_bob = room.say("carol", "hello")["bob"]
        self.assertEqual(kinds(at_bob, SEEN), [ViewFinding(SEEN, "carol", 1, 2, ("alice", "carol"))])
        self.assertEqual(room.members["bob"].views.seen_by(2), ("alice", "carol"))
        # Nothing new: no event.
        self.assertEqual(kinds(room.say("carol", "again")["bob"], SEEN), [])

    def test_a_member_cannot_claim_more_than_was_sent(self) -> None:
        """carol's client says it saw bob's #1-9; bob sent 2: seen by carol up to #2, no more."""
        room = Room(["bob", "carol"])
        bob, carol = room.members["bob"], room.members["carol"]
        room.say("bob", "one")
        room.say("bob", "two")
        stream = bob._stream[:2]
        claim = Entry(member_tag("bob"), stream, 9, None).encode()
        assert carol.identity is not None
        msgid, now = b"\x33" * 16, int(room.clock.seconds())
        envelope = pack_fields("carol", "#lab", b"\x44" * 8, 1, "I saw everything")
        plaintext = sign_envelope(carol.identity, msgid, now, envelope, True, claim)
        token = SignedSealer(keys_for().for_layer(SIGNED)).seal(plaintext, now, msgid)
        accepted = only_accepted(feed(bob, "carol", ["+sc2 signed %s 1/1 %s" % (encode_msgid(msgid), token)]))
        self.assertEqual(kinds(list(accepted.views), SEEN), [ViewFinding(SEEN, "carol", 1, 2, ("carol",))])


class TamperedViewTests(SynchronousTestCase):
    """The digest is inside the protection: a relay cannot touch it, a member cannot re-sign it."""

    def test_relay_changing_the_token_is_tampered(self) -> None:
        room = Room(["alice", "bob"])
        room.say("bob", "one")
        lines = room.members["bob"].encode("bob", "two", BUDGET)
        marker, layer, msgid, position, piece = lines[0].split(" ")
        # Flip a bit in the middle of the token (the view sits after the signature).
        middle = len(piece) // 2
        flipped = piece[:middle] + ("B" if piece[middle] != "B" else "C") + piece[middle + 1 :]
        altered = " ".join((marker, layer, msgid, position, flipped))
        rejected = only_rejected(feed(room.members["alice"], "bob", [altered]))
        self.assertEqual(rejected.reason, "tampered")

    def test_member_rewriting_a_view_breaks_the_signature(self) -> None:
        """carol holds the room key: she re-seals bob's message with another view; the signature says no."""
        room = Room(["alice", "bob", "carol"])
        room.say("bob", "one")
        lines = room.members["bob"].encode("bob", "two", BUDGET)
        chunk = parse_line(lines[0], 256)
        sealer = SignedSealer(keys_for().for_layer(SIGNED))
        msgid = b64decode(chunk.msgid)
        plaintext, sent_at = sealer.open(chunk.piece, msgid)
        assert sent_at is not None
        self.assertEqual(plaintext[0], KEY_CARRIED | VIEW_FOLLOWS)
        at = 1 + 32 + 64  # form, key, signature: the view's length byte
        view = bytearray(plaintext[at + 1 : at + 1 + plaintext[at]])
        view[-1] ^= 1  # the last byte of the chain head
        altered = plaintext[: at + 1] + bytes(view) + plaintext[at + 1 + len(view) :]
        token = sealer.seal(altered, sent_at, msgid)
        forged = "+sc2 signed %s 1/1 %s" % (chunk.msgid, token)
        rejected = only_rejected(feed(room.members["alice"], "bob", [forged]))
        self.assertEqual(rejected.reason, "bad-signature")

    def test_signed_malformed_view_is_refused_as_malformed(self) -> None:
        """A broken client's view (signed, so not the relay's) makes the message malformed."""
        room = Room(["alice", "bob"])
        bob = room.members["bob"]
        assert bob.identity is not None
        msgid = b"\x11" * 16
        now = int(room.clock.seconds())
        envelope = pack_fields("bob", "#lab", b"\x22" * 8, 1, "hi")
        plaintext = sign_envelope(bob.identity, msgid, now, envelope, True, b"\x01\x02\x03")
        token = SignedSealer(keys_for().for_layer(SIGNED)).seal(plaintext, now, msgid)
        line = "+sc2 signed %s 1/1 %s" % (encode_msgid(msgid), token)
        rejected = only_rejected(feed(room.members["alice"], "bob", [line]))
        self.assertEqual(rejected.reason, "malformed")
        self.assertIn("view entry", str(rejected.error))


class SizeTests(SynchronousTestCase):
    """A 200-byte message keeps one line in a room of 20; the view takes only what is left."""

    def test_room_of_twenty(self) -> None:
        nicks = ["member%02d" % (n,) for n in range(20)]
        room = Room(nicks)
        for nick in nicks[1:]:
            room.say(nick, "hello from " + nick)
        me = room.members[nicks[0]]
        # The client's own budget for this prefix (as the core computes it: LINELEN
        # 512 minus CRLF and ":member00!member00@192.0.2.10 PRIVMSG #Lab :").
        budget = 510 - len(":%s!%s@192.0.2.10 PRIVMSG %s :" % (nicks[0], nicks[0], ROOM))
        me.encode(nicks[0], "first", budget)
        long_lines = me.encode(nicks[0], "x" * 200, budget)
        self.assertEqual(len(long_lines), 1)
        self.assertLessEqual(len(long_lines[0]), budget)
        # Short lines carry the members in turns: within three, every one of the 19.
        carried = set()
        counts = []
        for body in ("short one", "short two", "short three"):
            lines = me.encode(nicks[0], body, budget)
            self.assertEqual(len(lines), 1)
            entries = view_entries(lines)
            counts.append(len(entries))
            carried.update(entry.member for entry in entries)
        self.assertEqual(carried >= {member_tag(nick) for nick in nicks[1:]}, True)
        self.assertGreaterEqual(min(counts), 8)

    def test_worst_case_budget_two_lines(self) -> None:
        """With the worst prefix (414 bytes left), 200 bytes need two lines anyway: the view fills the second."""
        nicks = ["member%02d" % (n,) for n in range(20)]
        room = Room(nicks)
        for nick in nicks[1:]:
            room.say(nick, "hello from " + nick)
        me = room.members[nicks[0]]
        me.encode(nicks[0], "first", 414)
        lines = me.encode(nicks[0], "x" * 200, 414)
        self.assertEqual(len(lines), 2)
        # Its own head and 11 others fill the second line (12 x 17 bytes).
        self.assertEqual(len(view_entries(lines)), 12)
        self.assertLessEqual(max(len(line) for line in lines), 414)


def view_entries(lines: List[str]) -> List[Entry]:
    chunks = [parse_line(line, 256) for line in lines]
    token = "".join(chunk.piece for chunk in chunks)
    plaintext, _ = SignedSealer(keys_for().for_layer(SIGNED)).open(token, b64decode(chunks[0].msgid))
    if not plaintext[0] & VIEW_FOLLOWS:
        return []
    at = 1 + (32 if plaintext[0] & 1 else 0) + 64
    return decode_view(plaintext[at + 1 : at + 1 + plaintext[at]])


class PersistenceTests(SynchronousTestCase):
    def test_own_chain_survives_a_clean_restart(self) -> None:
        """A restarted sender that keeps its stream keeps its chain: no false alarm at receivers."""
        room = Room(["alice", "bob"])
        room.say("bob", "one")
        saved = room.members["bob"].export_state()
        identity = room.members["bob"].identity
        restarted = Conversation(ROOM, SIGNED, keys_for(), clock=room.clock.seconds, identity=identity)
        restarted.restore_state(saved, clean=True)
        room.members["bob"] = restarted
        findings = room.say("bob", "two")["alice"]
        self.assertEqual([f for f in findings if f.kind in (REWRITTEN, DIFFERS)], [])
        self.assertEqual(view_entries(restarted.encode("bob", "three", BUDGET))[0].seq, 2)

    def test_malformed_saved_chain_refused(self) -> None:
        room = Room(["bob"])
        saved = room.members["bob"].export_state()
        saved["view_chain"] = ["bob", 1, "zz"]
        fresh = Conversation(ROOM, SIGNED, keys_for(), clock=room.clock.seconds, identity=Identity.generate())
        self.assertRaises(ValueError, fresh.restore_state, saved, True)


class HonestRoomTests(SynchronousTestCase):
    """An honest relay and honest members: no view finding may cry wolf."""

    def test_a_message_refused_for_its_new_key_was_received(self) -> None:
        """
        carol refuses bob's message as identity-changed (she pinned another
        key; alice pins this one on first use): she received it, and holds
        it for /trust, so alice's view naming it is no "withheld".
        """
        room = Room(["alice", "bob", "carol"])
        room.members["carol"].trust.trust("bob", Identity.generate().public_key)
        lines = room.members["bob"].encode("bob", "one", BUDGET)
        only_accepted(feed(room.members["alice"], "bob", lines))
        self.assertEqual(only_rejected(feed(room.members["carol"], "bob", lines)).reason, "identity-changed")
        findings = room.say("alice", "hi")["carol"]
        self.assertEqual(kinds(findings, WITHHELD), [])
        # What the relay did withhold is still said: bob's #2, never delivered to carol.
        room.members["carol"].trust.trust("bob")
        room.say("bob", "two", to=["alice"])
        self.assertEqual(kinds(room.say("alice", "again")["carol"], WITHHELD), [ViewFinding(WITHHELD, "bob", 2, 2)])

    def test_a_restarted_receiver_remembers_what_it_received(self) -> None:
        """
        carol restarts (a clean exit, her sequence numbers saved): what she
        received before is no "withheld" when alice's view names it.
        """
        room = Room(["alice", "bob", "carol"])
        room.say("bob", "one")
        room.say("bob", "two")
        saved = room.members["carol"].export_state()
        restarted = Conversation(
            ROOM, SIGNED, keys_for(), clock=room.clock.seconds, identity=room.members["carol"].identity
        )
        restarted.restore_state(saved, clean=True)
        restarted.members = room.members["carol"].members
        room.members["carol"] = restarted
        self.assertEqual(kinds(room.say("alice", "hi")["carol"], WITHHELD), [])
        # And what was withheld after the restart is still caught.
        room.say("bob", "three", to=["alice"])
        self.assertEqual(kinds(room.say("alice", "again")["carol"], WITHHELD), [ViewFinding(WITHHELD, "bob", 3, 3)])

    def test_what_a_restarted_receiver_knows_only_by_number_is_not_carried(self) -> None:
        """
        bob's #2 came on fernet-ttl (refused as lower, numbered, never in a
        view): carol's restored numbers hold it, her views must not claim it,
        or alice, who has it too, is told it was withheld.
        """
        room = Room(["alice", "bob", "carol"])
        room.say("bob", "one")
        room.members["bob"].set_layer("fernet-ttl", keys_for())
        lower = room.members["bob"].encode("bob", "two", BUDGET)
        for nick in ("alice", "carol"):
            self.assertEqual(only_rejected(feed(room.members[nick], "bob", lower)).reason, "lower-layer")
        saved = room.members["carol"].export_state()
        restarted = Conversation(
            ROOM, SIGNED, keys_for(), clock=room.clock.seconds, identity=room.members["carol"].identity
        )
        restarted.restore_state(saved, clean=True)
        restarted.members = room.members["carol"].members
        room.members["carol"] = restarted
        self.assertEqual(kinds(room.say("carol", "hi")["alice"], WITHHELD), [])


class HostileMemberTests(SynchronousTestCase):
    """A keyed member who lies in its views costs the receiver little."""

    def test_the_roster_is_read_once_per_message(self) -> None:
        """
        Fifty-one entries naming streams nobody knows (the most 255 bytes
        hold) read the room's roster once, not once per entry (in a room
        of 10,000 that was 510,000 nicks folded per message); the same
        entries again read it not at all.
        """
        from securechat.codec.views import ViewBook

        asked: List[int] = []

        def members() -> List[str]:
            asked.append(1)
            return ["bob", "carol"]

        book = ViewBook()
        entries = [Entry(bytes((n, 0)), b"\x00\x01", 1, None) for n in range(51)]
        self.assertLessEqual(len(encode_view(entries)), 255)
        findings = book.received("mallory", b"\x09" * 8, 1, 0, b"signed", entries, members)
        self.assertEqual(len(asked), 1)
        self.assertEqual(len(kinds(findings, WITHHELD)), 51)
        book.received("mallory", b"\x09" * 8, 2, 0, b"signed", entries, members)
        self.assertEqual(len(asked), 1)

    def test_a_message_under_another_key_does_not_enter_the_chain(self) -> None:
        """
        mallory, a member, signs a message as bob with her own key, under
        bob's stream and next number, for carol only: carol refuses it as
        identity-changed and holds it.  It must not stand in carol's chain
        for bob's real #2, or alice's view makes carol accuse bob of
        sending different messages to different members.
        """
        room = Room(["alice", "bob", "carol"])
        room.say("bob", "one")
        forger = Conversation(ROOM, SIGNED, keys_for(), clock=room.clock.seconds, identity=Identity.generate())
        forger._stream = room.members["bob"]._stream
        forger._next_seq["bob"] = 1
        forged = forger.encode("bob", "not bob's", BUDGET)
        self.assertEqual(only_rejected(feed(room.members["carol"], "bob", forged)).reason, "identity-changed")
        room.say("bob", "two")
        findings = room.say("alice", "hi")["carol"]
        self.assertEqual([f for f in findings if f.kind in (DIFFERS, WITHHELD)], [])

    def test_a_lie_about_a_stream_does_not_blind_the_others_reports(self) -> None:
        """
        mallory's view claims bob's stream at #1,000,000: one false alarm,
        named as hers.  It must not silence what alice reports later: the
        relay then withholds bob's #2-3 from carol, and alice has them.
        """
        room = Room(["alice", "bob", "carol", "mallory"])
        room.say("bob", "one")
        tags = member_tag("bob") + room.members["bob"]._stream[:2]
        lie = [Entry(tags[:2], tags[2:], 1_000_000, None)]
        carol = room.members["carol"].views
        lied = carol.received("mallory", b"\x07" * 8, 1, int(room.clock.seconds()), b"signed", lie)
        self.assertEqual(kinds(lied, WITHHELD), [ViewFinding(WITHHELD, "bob", 2, 1_000_000)])
        room.say("bob", "two", to=["alice", "mallory"])
        room.say("bob", "three", to=["alice", "mallory"])
        findings = room.say("alice", "did you see?")["carol"]
        self.assertEqual(kinds(findings, WITHHELD), [ViewFinding(WITHHELD, "bob", 2, 3)])
        # Said once per reporter: alice's next view says nothing new.
        self.assertEqual(kinds(room.say("alice", "again")["carol"], WITHHELD), [])
