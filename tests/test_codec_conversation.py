"""
Tests for securechat.codec.conversation: round trips on every layer, and
everything a relay can do to a protected line ending in a typed verdict,
never in a wrong plaintext.
"""

from __future__ import annotations

import base64
from typing import List

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from securechat.codec import Accepted, Conversation, Identity, ReassemblyLimits, Rejected, RoomKeys, direct_target
from securechat.codec.chunks import MARKER
from securechat.codec.layers import b64decode, b64encode
from tests.codec_support import (
    AUTHENTICATED,
    KEYED,
    PAYLOADS,
    ROOM,
    bodies,
    conversation,
    feed,
    keys_for,
    make_clock,
    only_accepted,
    only_rejected,
)

LONG_BODY = "0123456789abcdef" * 640  # 10 KiB: several chunks on any line budget

URLSAFE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _reasons(results: List[object]) -> List[str]:
    return [r.reason if isinstance(r, Rejected) else "accepted" for r in results]  # type: ignore[union-attr]


def _pieces(lines: List[str]) -> List[str]:
    return [line.rsplit(" ", 1)[1] for line in lines]


def _replace_piece(line: str, piece: str) -> str:
    return f"{line.rsplit(' ', 1)[0]} {piece}"


class RoundTripTests(SynchronousTestCase):
    @given(body=bodies, layer=st.sampled_from(KEYED), max_payload=st.sampled_from(PAYLOADS))
    def test_protected_round_trip(self, body: str, layer: str, max_payload: int) -> None:
        """Any Unicode body (empty, emoji, 10 KiB) survives every keyed layer and line budget."""
        clock = make_clock()
        alice, bob = conversation(layer, clock), conversation(layer, clock)
        lines = alice.encode("alice", body, max_payload)
        for line in lines:
            self.assertLessEqual(len(line.encode("utf-8")), max_payload)
            self.assertTrue(line.startswith(MARKER + " " + layer + " "))
        accepted = only_accepted(feed(bob, "Alice", lines))
        self.assertEqual(accepted.body, body)
        self.assertEqual((accepted.layer, accepted.sender, accepted.target), (layer, "Alice", ROOM))
        self.assertEqual(accepted.seq, 1)
        self.assertRegex(accepted.msgid or "", r"\A[A-Za-z0-9_-]{22}\Z")

    @given(
        body=st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\0"), max_size=400).filter(
            lambda text: not text.startswith(MARKER)
        ),
        max_payload=st.sampled_from(PAYLOADS + (4, 5)),
    )
    def test_plain_round_trip(self, body: str, max_payload: int) -> None:
        """Plain sends the body as is, cut on character boundaries to fit the line."""
        clock = make_clock()
        alice, bob = conversation("plain", clock), conversation("plain", clock)
        lines = alice.encode("alice", body, max_payload)
        for line in lines:
            self.assertLessEqual(len(line.encode("utf-8")), max_payload)
        results = feed(bob, "alice", lines)
        self.assertTrue(all(isinstance(r, Accepted) and r.protection == "none" for r in results))
        self.assertEqual("".join(r.body for r in results), body)  # type: ignore[union-attr]

    def test_plain_splits_lines(self) -> None:
        """IRC text cannot hold a line break: plain sends one message per line."""
        clock = make_clock()
        alice = conversation("plain", clock)
        self.assertEqual(alice.encode("alice", "one\r\ntwo\nthree", 400), ["one", "two", "three"])
        self.assertEqual(alice.encode("alice", "", 400), [])
        # Only CR and LF end an IRC line: U+2028 and friends stay in the message.
        self.assertEqual(alice.encode("alice", "one\u2028two\x85three", 400), ["one\u2028two\x85three"])
        # A NUL cannot travel on an IRC line: refused, never dropped in silence.
        self.assertRaises(ValueError, alice.encode, "alice", "one\0", 400)

    def test_protected_carries_line_breaks(self) -> None:
        clock = make_clock()
        alice, bob = conversation("fernet", clock), conversation("fernet", clock)
        body = "one\r\ntwo\0"
        self.assertEqual(only_accepted(feed(bob, "alice", alice.encode("alice", body, 400))).body, body)

    def test_ten_kib_on_a_real_line_budget(self) -> None:
        """512 bytes minus a long prefix: a 10 KiB body needs many lines and arrives whole."""
        clock = make_clock()
        for layer in KEYED:
            alice, bob = conversation(layer, clock), conversation(layer, clock)
            lines = alice.encode("alice", LONG_BODY, 512 - 2 - len(":alice!~alice@host.example PRIVMSG #lab :"))
            self.assertGreater(len(lines), 20)
            self.assertEqual(only_accepted(feed(bob, "alice", lines)).body, LONG_BODY)

    def test_too_small_or_too_long(self) -> None:
        clock = make_clock()
        alice = conversation("fernet", clock)
        self.assertRaises(ValueError, alice.encode, "alice", "hi", 40)
        self.assertRaises(ValueError, alice.encode, "alice", "x" * 100_000, 400)

    def test_never_longer_than_receivers_reassemble(self) -> None:
        """A sender refuses a message its receivers' reassembly bounds would drop."""
        clock = make_clock()
        small = ReassemblyLimits(max_pending_chars=1000)
        alice = conversation("fernet", clock, limits=small)
        self.assertRaises(ValueError, alice.encode, "alice", "x" * 1000, 400)
        bob = conversation("fernet", clock, limits=small)
        lines = alice.encode("alice", "x" * 600, 400)
        self.assertGreater(len(lines), 1)
        self.assertEqual(only_accepted(feed(bob, "alice", lines)).body, "x" * 600)

    def test_token_of_exactly_the_reassembly_budget(self) -> None:
        """At the bound itself sender and receiver agree: sent and received; one character less, refused."""
        clock = make_clock()
        body = "x" * 600
        size = sum(len(line.split(" ", 4)[4]) for line in conversation("fernet", clock).encode("alice", body, 200))
        exact = ReassemblyLimits(max_pending_chars=size)
        lines = conversation("fernet", clock, limits=exact).encode("alice", body, 200)
        self.assertGreater(len(lines), 1)
        bob = conversation("fernet", clock, limits=exact)
        self.assertEqual(only_accepted(feed(bob, "alice", lines)).body, body)
        tighter = ReassemblyLimits(max_pending_chars=size - 1)
        self.assertRaises(ValueError, conversation("fernet", clock, limits=tighter).encode, "alice", body, 200)

    def test_protection_levels(self) -> None:
        clock = make_clock()
        expected = {"aes-ctr": "confidential", "fernet": "authenticated", "fernet-ttl": "authenticated+fresh"}
        for layer, protection in expected.items():
            alice, bob = conversation(layer, clock), conversation(layer, clock)
            accepted = only_accepted(feed(bob, "alice", alice.encode("alice", "x", 400)))
            self.assertEqual(accepted.protection, protection)
            self.assertEqual(accepted.sent_at is not None, layer != "aes-ctr")

    def test_direct_messages(self) -> None:
        """A direct pair has its own target and keys; both peers agree on them."""
        clock = make_clock()
        pair = direct_target("Alice", "bob")
        alice = conversation("fernet-ttl", clock, target=direct_target("Alice", "bob"))
        bob = conversation("fernet-ttl", clock, target=direct_target("BOB", "alice"))
        self.assertEqual(pair, "alice bob")
        accepted = only_accepted(feed(bob, "alice", alice.encode("Alice", "psst", 400)))
        self.assertEqual(accepted.body, "psst")


class RelayTamperingTests(SynchronousTestCase):
    """What a malicious relay does to fernet and fernet-ttl lines."""

    @given(layer=st.sampled_from(AUTHENTICATED), data=st.data())
    def test_any_bit_flip_is_tampered(self, layer: str, data: st.DataObject) -> None:
        clock = make_clock()
        alice, bob = conversation(layer, clock), conversation(layer, clock)
        line = alice.encode("alice", "transfer 100", 400)[0]
        token = bytearray(b64decode(line.rsplit(" ", 1)[1]))
        position = data.draw(st.integers(0, len(token) - 1), label="byte")
        token[position] ^= 1 << data.draw(st.integers(0, 7), label="bit")
        forged = _replace_piece(line, b64encode(bytes(token)))
        self.assertEqual(_reasons(feed(bob, "alice", [forged])), ["tampered"])

    @given(layer=st.sampled_from(AUTHENTICATED), data=st.data())
    def test_any_truncation_is_refused(self, layer: str, data: st.DataObject) -> None:
        clock = make_clock()
        alice, bob = conversation(layer, clock), conversation(layer, clock)
        line = alice.encode("alice", "transfer 100", 400)[0]
        piece = line.rsplit(" ", 1)[1]
        cut = data.draw(st.integers(1, len(piece) - 1), label="keep")
        reasons = _reasons(feed(bob, "alice", [_replace_piece(line, piece[:cut])]))
        self.assertEqual(len(reasons), 1)
        self.assertIn(reasons[0], ("tampered", "malformed"))

    def test_truncated_line_of_a_chunked_message(self) -> None:
        clock = make_clock()
        for layer in AUTHENTICATED:
            alice, bob = conversation(layer, clock), conversation(layer, clock)
            lines = alice.encode("alice", LONG_BODY, 200)
            lines[3] = lines[3][:-5]
            self.assertEqual(_reasons(feed(bob, "alice", lines)), ["tampered"])

    def test_dropped_chunk_is_incomplete(self) -> None:
        clock = make_clock()
        for layer in AUTHENTICATED:
            alice, bob = conversation(layer, clock), conversation(layer, clock)
            lines = alice.encode("alice", LONG_BODY, 400)
            del lines[1]
            self.assertEqual(feed(bob, "alice", lines), [])
            clock.advance(59)
            self.assertEqual(bob.expire(), [])
            clock.advance(1)
            rejected = bob.expire()
            self.assertEqual(_reasons(rejected), ["incomplete"])  # type: ignore[arg-type]
            self.assertEqual((rejected[0].sender, rejected[0].layer), ("alice", layer))
            self.assertEqual(bob.expire(), [])

    def test_duplicate_chunk_never_doubles_the_message(self) -> None:
        clock = make_clock()
        for layer in AUTHENTICATED:
            alice, bob = conversation(layer, clock), conversation(layer, clock)
            lines = alice.encode("alice", LONG_BODY, 400)
            results = feed(bob, "alice", lines[:2] + [lines[1]] + lines[2:])
            self.assertEqual(_reasons(results), ["malformed", "accepted"])
            self.assertEqual(results[1].body, LONG_BODY)  # type: ignore[attr-defined]

    def test_late_copy_of_a_delivered_chunk_is_quiet(self) -> None:
        """
        The last chunk of a delivered message, repeated by the relay, used to
        open a new message that ended 60 s later as a false "incomplete: only
        1 of 5 chunks arrived" from the sender.
        """
        clock = make_clock()
        for layer in KEYED:
            alice, bob = conversation(layer, clock), conversation(layer, clock)
            lines = alice.encode("alice", LONG_BODY, 400)
            self.assertGreater(len(lines), 4)
            self.assertEqual(only_accepted(feed(bob, "alice", lines)).body, LONG_BODY)
            clock.advance(30)
            self.assertEqual(feed(bob, "alice", [lines[-1], lines[0]]), [])
            clock.advance(61)
            self.assertEqual(bob.expire(), [], layer)

    def test_whole_copy_of_a_delivered_message_is_still_judged(self) -> None:
        """Quiet is only for copies that never complete: a whole replay gets its verdict."""
        clock = make_clock()
        alice, bob = conversation("fernet-ttl", clock), conversation("fernet-ttl", clock)
        lines = alice.encode("alice", LONG_BODY, 400)
        only_accepted(feed(bob, "alice", lines))
        self.assertEqual(_reasons(feed(bob, "alice", lines)), ["replayed"])

    def test_unopened_message_copies_still_reported_incomplete(self) -> None:
        """
        Only a message the codec opened (its sealed msgid matching the
        header) is remembered: chunks under a forged message's id, or a
        message refused before its envelope was read, stay reported.
        """
        clock = make_clock()
        alice, bob = conversation("fernet", clock), conversation("fernet", clock)
        lines = alice.encode("alice", LONG_BODY, 400)
        forged = [_replace_piece(line, "A" * len(piece)) for line, piece in zip(lines, _pieces(lines))]
        self.assertEqual(_reasons(feed(bob, "alice", forged)), ["tampered"])
        self.assertEqual(feed(bob, "alice", lines[-1:]), [])
        clock.advance(60)
        self.assertEqual(_reasons(bob.expire()), ["incomplete"])  # type: ignore[arg-type]

    def test_conflicting_chunk_drops_the_message(self) -> None:
        clock = make_clock()
        alice, bob = conversation("fernet", clock), conversation("fernet", clock)
        lines = alice.encode("alice", LONG_BODY, 400)
        forged = _replace_piece(lines[1], "A" * len(_pieces(lines)[1]))
        results = feed(bob, "alice", [lines[0], lines[1], forged] + lines[2:])
        self.assertNotIn("accepted", _reasons(results))
        self.assertIn("tampered", _reasons(results))

    def test_chunks_swapped_across_messages_are_tampered(self) -> None:
        """Piece 2 of one message under the header of another: both refused."""
        clock = make_clock()
        for layer in AUTHENTICATED:
            alice, bob = conversation(layer, clock), conversation(layer, clock)
            first = alice.encode("alice", LONG_BODY, 400)
            second = alice.encode("alice", LONG_BODY[::-1], 400)
            self.assertEqual(len(first), len(second))
            piece_1, piece_2 = _pieces(first)[1], _pieces(second)[1]
            first[1], second[1] = _replace_piece(first[1], piece_2), _replace_piece(second[1], piece_1)
            self.assertEqual(_reasons(feed(bob, "alice", first + second)), ["tampered", "tampered"])

    def test_interleaved_messages_reassemble(self) -> None:
        """Chunks of two messages interleaved and reversed (headers intact) still arrive whole."""
        clock = make_clock()
        alice, bob = conversation("fernet-ttl", clock), conversation("fernet-ttl", clock)
        first = alice.encode("alice", LONG_BODY, 400)
        second = alice.encode("alice", LONG_BODY[::-1], 400)
        self.assertEqual(len(first), len(second))
        mixed = [line for pair in zip(reversed(first), reversed(second)) for line in pair]
        results = feed(bob, "alice", mixed)
        self.assertEqual(_reasons(results), ["accepted", "accepted"])
        self.assertEqual({r.body for r in results}, {LONG_BODY, LONG_BODY[::-1]})  # type: ignore[attr-defined]

    def test_header_msgid_rewritten(self) -> None:
        """The chunk header is not trusted: the sealed msgid must match it."""
        clock = make_clock()
        alice, bob = conversation("fernet", clock), conversation("fernet", clock)
        marker, layer, msgid, position, piece = alice.encode("alice", "hi", 400)[0].split(" ")
        other = "A" * 22 if msgid != "A" * 22 else "Q" * 22
        line = " ".join((marker, layer, other, position, piece))
        rejected = only_rejected(feed(bob, "alice", [line]))
        self.assertEqual(rejected.reason, "tampered")
        self.assertIn("message id", rejected.description)

    def test_header_msgid_respelled(self) -> None:
        """The same 16 bytes spelled any other way (hex, padded, unused bits set) are malformed."""
        clock = make_clock()
        alice, bob = conversation("fernet", clock), conversation("fernet", clock)
        marker, layer, msgid, position, piece = alice.encode("alice", "hi", 400)[0].split(" ")
        raw = base64.urlsafe_b64decode(msgid + "==")
        # Setting one of the 4 unused low bits of the last character keeps the 16 bytes.
        unused_bit_set = msgid[:-1] + URLSAFE_ALPHABET[URLSAFE_ALPHABET.index(msgid[-1]) | 1]
        for spelling in (raw.hex(), msgid + "==", unused_bit_set, msgid[:-1], msgid + "A"):
            line = " ".join((marker, layer, spelling, position, piece))
            self.assertEqual(_reasons(feed(bob, "alice", [line])), ["malformed"], spelling)
        line = " ".join((marker, layer, msgid, position, piece))
        self.assertEqual(_reasons(feed(bob, "alice", [line])), ["accepted"])

    def test_header_layer_rewritten(self) -> None:
        """Relabelling fernet as fernet-ttl fails the MAC (one key per layer)."""
        clock = make_clock()
        alice, bob = conversation("fernet", clock), conversation("fernet", clock)
        line = alice.encode("alice", "hi", 400)[0].replace(" fernet ", " fernet-ttl ", 1)
        self.assertEqual(_reasons(feed(bob, "alice", [line])), ["tampered"])

    def test_token_from_another_key(self) -> None:
        clock = make_clock()
        for layer in AUTHENTICATED:
            alice = conversation(layer, clock, passphrase=b"other passphrase")
            bob = conversation(layer, clock)
            self.assertEqual(_reasons(feed(bob, "alice", alice.encode("alice", "hi", 400))), ["tampered"])

    def test_moved_from_another_room(self) -> None:
        """A line moved from #other to #lab: #other's key does not open in #lab."""
        clock = make_clock()
        for layer in AUTHENTICATED:
            elsewhere = conversation(layer, clock, target="#other")
            bob = conversation(layer, clock)
            self.assertEqual(_reasons(feed(bob, "alice", elsewhere.encode("alice", "hi", 400))), ["tampered"])

    def test_moved_between_rooms_sharing_a_key(self) -> None:
        """Even if two targets shared key material, the sealed target catches the move."""
        clock = make_clock()
        lab_keys = keys_for()
        shared = RoomKeys("#other", lab_keys.params, lab_keys._layer_keys, lab_keys.fingerprint())
        for layer in AUTHENTICATED:
            elsewhere = Conversation("#other", layer, shared, clock=clock.seconds, identity=Identity.generate())
            bob = conversation(layer, clock)
            rejected = only_rejected(feed(bob, "alice", elsewhere.encode("alice", "hi", 400)))
            self.assertEqual(rejected.reason, "wrong-room")
            self.assertIn("#other", rejected.description)

    def test_dm_moved_into_a_room(self) -> None:
        clock = make_clock()
        dm = conversation("fernet", clock, target=direct_target("alice", "bob"))
        room = conversation("fernet", clock)
        self.assertEqual(_reasons(feed(room, "alice", dm.encode("alice", "hi", 400))), ["tampered"])

    def test_dm_moved_to_another_pair(self) -> None:
        """
        alice -> bob delivered to carol as alice -> carol: carol's pair has its
        own salt, so the same passphrase gives another key; with shared key
        material the sealed pair still says where it was meant to go.
        """
        clock = make_clock()
        to_bob = conversation("fernet-ttl", clock, target=direct_target("alice", "bob"))
        lines = to_bob.encode("alice", "psst", 400)
        carol = conversation("fernet-ttl", clock, target=direct_target("carol", "alice"))
        self.assertEqual(_reasons(feed(carol, "alice", lines)), ["tampered"])
        pair_keys = keys_for(direct_target("alice", "bob"))
        shared = RoomKeys("alice carol", pair_keys.params, pair_keys._layer_keys, pair_keys.fingerprint())
        carol = Conversation("alice carol", "fernet-ttl", shared, clock=clock.seconds)
        self.assertEqual(_reasons(feed(carol, "alice", lines)), ["wrong-room"])

    def test_room_message_moved_into_a_dm(self) -> None:
        clock = make_clock()
        room = conversation("fernet", clock)
        dm = conversation("fernet", clock, target=direct_target("alice", "bob"))
        self.assertEqual(_reasons(feed(dm, "alice", room.encode("alice", "hi", 400))), ["tampered"])

    def test_reattributed_to_another_sender(self) -> None:
        clock = make_clock()
        for layer in KEYED:
            alice, bob = conversation(layer, clock), conversation(layer, clock)
            rejected = only_rejected(feed(bob, "mallory", alice.encode("Alice", "I resign", 400)))
            self.assertEqual(rejected.reason, "re-attributed")
            self.assertEqual(rejected.sender, "mallory")
            # The sealed sender is casefolded (docs/wire.md): its own spelling is not sealed.
            self.assertIn("'alice'", rejected.description)

    def test_sender_compared_casefolded(self) -> None:
        """The relay reports nicks in any case: Alice[ and alice{ are one rfc1459 nick."""
        clock = make_clock()
        alice, bob = conversation("fernet", clock), conversation("fernet", clock)
        self.assertEqual(only_accepted(feed(bob, "alice{", alice.encode("Alice[", "hi", 400))).sender, "alice{")


class DowngradeAndKeyTests(SynchronousTestCase):
    def test_plain_line_in_keyed_room(self) -> None:
        """Dropping the marker does not make text look protected."""
        clock = make_clock()
        for layer in KEYED:
            rejected = only_rejected(feed(conversation(layer, clock), "mallory", ["trust me"]))
            self.assertEqual((rejected.reason, rejected.layer), ("unprotected", "plain"))

    def test_weaker_layer_refused(self) -> None:
        clock = make_clock()
        weak = conversation("aes-ctr", clock)
        for layer in AUTHENTICATED:
            results = feed(conversation(layer, clock), "alice", weak.encode("alice", "hi", 400))
            self.assertEqual(_reasons(results), ["unprotected"])
        fernet = conversation("fernet", clock)
        results = feed(conversation("fernet-ttl", clock), "alice", fernet.encode("alice", "hi", 400))
        self.assertEqual(_reasons(results), ["lower-layer"])

    def test_lower_authenticated_layer_named(self) -> None:
        """
        Issue 23: a keyed member's message on a lower layer that the room's
        key authenticates is refused as what it is, chunked or not, and its
        sequence number is seen: the next accepted one reports no gap.
        """
        clock = make_clock()
        alice_low = conversation("fernet-ttl", clock)
        bob = conversation("fernet-ttl", clock)
        bob.set_layer("signed", keys_for())
        for body in ("hi", LONG_BODY):
            [rejected] = feed(bob, "alice", alice_low.encode("alice", body, 400))
            assert isinstance(rejected, Rejected)
            self.assertEqual(rejected.reason, "lower-layer")
            self.assertEqual(str(rejected.error), "sealed on fernet-ttl, the room asks signed")
        self.assertEqual(len(bob._reassembler), 0)
        alice_low.set_layer("signed", keys_for())
        accepted = only_accepted(feed(bob, "alice", alice_low.encode("alice", "now signed", 400)))
        self.assertEqual((accepted.body, accepted.missing), ("now signed", 0))
        # A forged "fernet" line (no key behind it) is still tampered, never "lower-layer".
        forged = alice_low.encode("alice", "x", 400)[0].split(" ")
        forged[1] = "fernet"
        self.assertEqual(_reasons(feed(bob, "alice", [" ".join(forged)])), ["tampered"])

    def test_stronger_layer_accepted(self) -> None:
        """Peers can upgrade one after the other: a fernet room reads fernet-ttl."""
        clock = make_clock()
        strong = conversation("fernet-ttl", clock)
        accepted = only_accepted(feed(conversation("fernet", clock), "alice", strong.encode("alice", "hi", 400)))
        self.assertEqual(accepted.protection, "authenticated+fresh")

    def test_no_key(self) -> None:
        clock = make_clock()
        alice = conversation("fernet", clock)
        bob = conversation("plain", clock)
        self.assertEqual(_reasons(feed(bob, "alice", alice.encode("alice", "hi", 400))), ["no-key"])
        self.assertEqual(_reasons(feed(bob, "alice", ["hello"])), ["accepted"])

    def test_unopenable_chunks_are_not_buffered(self) -> None:
        """
        A conversation keeps no piece of a message it could never open (no
        key, or a weaker layer without a MAC): a relay cannot fill an
        unkeyed direct conversation's memory with first chunks.  One verdict
        per message.  (A weaker layer the room's key authenticates is opened
        before it is refused: test_lower_authenticated_layer_named.)
        """
        clock = make_clock()
        for receiver_layer, sender_layer, reason in (
            ("plain", "fernet", "no-key"),
            ("fernet-ttl", "aes-ctr", "unprotected"),
        ):
            alice, bob = conversation(sender_layer, clock), conversation(receiver_layer, clock)
            lines = alice.encode("alice", LONG_BODY, 400)
            self.assertGreater(len(lines), 2)
            results = feed(bob, "alice", lines[1:2])
            self.assertEqual((results, len(bob._reassembler)), ([], 0), receiver_layer)
            self.assertEqual(_reasons(feed(bob, "alice", lines[:1] + lines[2:])), [reason])
            self.assertEqual(len(bob._reassembler), 0)

    def test_set_layer_changes_what_is_accepted(self) -> None:
        clock = make_clock()
        bob = conversation("plain", clock)
        bob.set_layer("fernet", keys_for())
        self.assertEqual(_reasons(feed(bob, "alice", ["hello"])), ["unprotected"])
        bob.set_layer("plain", None)
        self.assertEqual(_reasons(feed(bob, "alice", ["hello"])), ["accepted"])


class SequenceTests(SynchronousTestCase):
    def test_gap_and_late_arrival_reported(self) -> None:
        clock = make_clock()
        alice, bob = conversation("fernet", clock), conversation("fernet", clock)
        sent = [alice.encode("alice", f"m{n}", 400) for n in range(1, 5)]
        first = only_accepted(feed(bob, "alice", sent[0]))
        fourth = only_accepted(feed(bob, "alice", sent[3]))
        second = only_accepted(feed(bob, "alice", sent[1]))
        self.assertEqual((first.seq, first.missing, first.reordered), (1, 0, False))
        self.assertEqual((fourth.seq, fourth.missing, fourth.reordered), (4, 2, False))
        self.assertEqual((second.seq, second.missing, second.reordered), (2, 0, True))

    def test_fernet_replay_is_flagged_not_refused(self) -> None:
        """fernet has no replay cache: a replay gets through, but shows as out of order."""
        clock = make_clock()
        alice, bob = conversation("fernet", clock), conversation("fernet", clock)
        lines = alice.encode("alice", "hi", 400)
        self.assertFalse(only_accepted(feed(bob, "alice", lines)).reordered)
        self.assertTrue(only_accepted(feed(bob, "alice", lines)).reordered)

    def test_own_message_reflected_is_flagged(self) -> None:
        """fernet has no cache: Alice's own message sent back to her shows as out of order."""
        clock = make_clock()
        for layer in ("aes-ctr", "fernet"):
            alice = conversation(layer, clock)
            lines = alice.encode("alice", "I agree", 400)
            self.assertTrue(only_accepted(feed(alice, "alice", lines)).reordered, layer)

    def test_fernet_replay_to_a_new_receiver_is_not_flagged(self) -> None:
        """
        The limit of sequence numbers, stated in docs/security.md: a receiver
        that never saw the stream (joined later, restarted) cannot flag a
        replay of it; only the sealed time (sent_at) shows its age.
        """
        clock = make_clock()
        alice = conversation("fernet", clock)
        lines = alice.encode("alice", "hi", 400)
        clock.advance(86400)
        late = only_accepted(feed(conversation("fernet", clock), "alice", lines))
        self.assertEqual((late.reordered, late.missing, late.sent_at), (False, 0, int(clock.seconds()) - 86400))

    def test_sender_restart_is_a_new_stream(self) -> None:
        """A restarted sender counts from 1 again without looking like a replay or a gap."""
        clock = make_clock()
        bob = conversation("fernet", clock)
        before = conversation("fernet", clock)
        for _ in range(3):
            feed(bob, "alice", before.encode("alice", "x", 400))
        after = only_accepted(feed(bob, "alice", conversation("fernet", clock).encode("alice", "y", 400)))
        self.assertEqual((after.seq, after.missing, after.reordered), (1, 0, False))

    def test_sequence_is_per_sender(self) -> None:
        clock = make_clock()
        sender, bob = conversation("fernet", clock), conversation("fernet", clock)
        feed(bob, "alice", sender.encode("alice", "x", 400))
        carol = only_accepted(feed(bob, "carol", sender.encode("carol", "x", 400)))
        self.assertEqual((carol.seq, carol.missing), (1, 0))
        alice = only_accepted(feed(bob, "alice", sender.encode("alice", "x", 400)))
        self.assertEqual((alice.seq, alice.missing), (2, 0))


class WireVersionTests(SynchronousTestCase):
    """Lines of another wire version are refused by their marker, once per message, before any key."""

    def test_version_1_message_refused_once(self) -> None:
        clock = make_clock()
        bob = conversation("fernet-ttl", clock)
        old = [f"+sc1 fernet-ttl {'A' * 32} {i}/3 gAAAAAB{'x' * 40}" for i in (1, 2, 3)]
        results = feed(bob, "alice", old)
        self.assertEqual(_reasons(results), ["other-version"])
        self.assertIn("version 1", results[0].description)  # type: ignore[union-attr]
        self.assertIn("upgrade the sender", results[0].description)  # type: ignore[union-attr]

    def test_newer_version_and_plain_conversations(self) -> None:
        """A plain conversation does not show a newer client's line as text either."""
        clock = make_clock()
        for layer in ("plain", "fernet"):
            rejected = only_rejected(feed(conversation(layer, clock), "alice", ["+sc3 signed x 1/1 AAAA"]))
            self.assertEqual(rejected.reason, "other-version")
            self.assertIn("upgrade this client", rejected.description)

    def test_words_starting_like_the_marker_are_plain(self) -> None:
        clock = make_clock()
        plain = conversation("plain", clock)
        for text in ("+scary movie", "+sc", "+sc2x", "+sc1a b"):
            accepted = only_accepted(feed(plain, "alice", [text]))
            self.assertEqual(accepted.body, text)

    def test_unknown_layer_named(self) -> None:
        clock = make_clock()
        rejected = only_rejected(feed(conversation("fernet", clock), "alice", [f"{MARKER} rot13 {'A' * 22} 1/1 QUJD"]))
        self.assertEqual(rejected.reason, "malformed")
        self.assertIn("unknown layer 'rot13'", rejected.description)
