"""Tests for securechat.codec.chunks: line fitting, header parsing, bounded reassembly."""

from __future__ import annotations

import base64
import os
from typing import List

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from securechat.codec import DEFAULT_LIMITS, Incomplete, Malformed, ReassemblyLimits
from securechat.codec.chunks import (
    MARKER,
    Chunk,
    Reassembler,
    count_lines,
    encode_msgid,
    parse_line,
    split_plain,
    split_token,
)
from tests.codec_support import EPOCH, conversation, feed, make_clock

TOKEN_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
#: A header msgid as the codec spells it: 22 characters of unpadded base64url.
MSGID = "0123456789abcdefABC-_w"
LIMITS = ReassemblyLimits(
    max_chunks=8, max_pending_per_sender=2, max_pending_total=3, timeout=10.0, max_pending_chars=1000
)
#: The longest line the client accepts from a relay (RECEIVE_MAX_LINE, securechat/client/core/sessionbase.py).
HOSTILE_LINE = 16 * 1024


def _buffered(reassembler: Reassembler) -> int:
    """Characters held in unfinished messages, counted from the inside."""
    return sum(len(piece) for pending in reassembler._pending.values() for piece in pending.pieces.values())


def _chunk(msgid: str, index: int, total: int, piece: str = "AAAA", layer: str = "fernet") -> Chunk:
    return Chunk(layer, msgid, index, total, piece)


class SplitTokenTests(SynchronousTestCase):
    @given(
        token=st.text(TOKEN_CHARS, min_size=1, max_size=3000),
        max_payload=st.integers(70, 600),
        layer=st.sampled_from(["aes-ctr", "fernet", "fernet-ttl"]),
    )
    def test_fits_and_parses_back(self, token: str, max_payload: int, layer: str) -> None:
        msgid = encode_msgid(os.urandom(16))
        try:
            lines = split_token(layer, msgid, token, max_payload, 256)
        except ValueError:
            return  # too small a budget for this header: refused, not mangled
        pieces = []
        for number, line in enumerate(lines, 1):
            self.assertLessEqual(len(line.encode("utf-8")), max_payload)
            chunk = parse_line(line, 256)
            self.assertEqual((chunk.layer, chunk.msgid, chunk.number, chunk.total), (layer, msgid, number, len(lines)))
            pieces.append(chunk.piece)
        self.assertEqual("".join(pieces), token)
        self.assertEqual(len(lines), count_lines(layer, len(token), max_payload))
        # Every piece but the last is whole base64 quanta (so each decodes on
        # its own); even pieces: they differ by at most one quantum, and the
        # last is at most one quantum longer than the shortest.
        self.assertTrue(all(len(piece) % 4 == 0 for piece in pieces[:-1]), [len(p) for p in pieces])
        if len(pieces) > 1:
            self.assertLessEqual(max(map(len, pieces[:-1])) - min(map(len, pieces[:-1])), 4)
            self.assertLessEqual(len(pieces[-1]), min(map(len, pieces[:-1])) + 4)

    @given(token=st.text(TOKEN_CHARS, min_size=1, max_size=3000), max_payload=st.integers(70, 600))
    def test_fewest_lines(self, token: str, max_payload: int) -> None:
        """No cut into fewer lines fits: one line fewer cannot hold the token in whole quanta."""
        try:
            lines = split_token("fernet-ttl", MSGID, token, max_payload, 256)
        except ValueError:
            return
        if len(lines) == 1:
            return
        total = len(lines) - 1
        header = len(f"{MARKER} fernet-ttl {MSGID} {total}/{total} ")
        room = max_payload - header
        self.assertGreater(len(token), total * (room - room % 4))

    def test_digit_growth(self) -> None:
        """Going from 9 to 10 chunks widens the header; lines must still fit."""
        msgid = MSGID
        for size in range(800, 1400, 7):
            for line in split_token("fernet-ttl", msgid, "A" * size, 130, 256):
                self.assertLessEqual(len(line), 130)

    def test_exactly_max_chunks(self) -> None:
        """
        Sender and receiver agree on the bound: a message of exactly
        max_chunks lines is cut and parsed; one line more is refused on both
        sides.
        """
        lines = split_token("fernet", MSGID, "A" * 2000, 120, 256)
        count = len(lines)
        self.assertEqual(split_token("fernet", MSGID, "A" * 2000, 120, count), lines)
        self.assertRaises(ValueError, split_token, "fernet", MSGID, "A" * 2000, 120, count - 1)
        self.assertEqual(parse_line(lines[-1], count).total, count)
        self.assertRaises(Malformed, parse_line, lines[-1], count - 1)

    def test_refusals(self) -> None:
        self.assertRaises(ValueError, split_token, "fernet", MSGID, "A" * 10, 40, 256)
        self.assertRaises(ValueError, split_token, "fernet", MSGID, "A" * 10_000, 100, 8)
        self.assertRaises(ValueError, split_plain, "x", 3)

    def test_plain_never_cuts_a_character(self) -> None:
        self.assertEqual(split_plain("ééé", 4), ["éé", "é"])
        self.assertEqual(split_plain("\U0001f389\U0001f389", 5), ["\U0001f389", "\U0001f389"])


#: Characters str.splitlines() breaks on that an IRC line carries as text.
NOT_IRC_LINE_BREAKS = "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"


class SplitPlainTests(SynchronousTestCase):
    """Only CR and LF end an IRC line, so only they split a plain message."""

    def test_unicode_line_separators_stay_in_one_line(self) -> None:
        for char in NOT_IRC_LINE_BREAKS:
            body = f"one{char}two"
            self.assertEqual(split_plain(body, 400), [body], repr(char))

    def test_cr_and_lf_split(self) -> None:
        self.assertEqual(split_plain("a\r\nb\rc\nd", 400), ["a", "b", "c", "d"])
        self.assertEqual(split_plain("a\u2028b\r\n\r\nc\n", 400), ["a\u2028b", "c"])
        self.assertEqual(split_plain("", 400), [])
        self.assertEqual(split_plain("\r\n\n", 400), [])

    def test_nul_is_refused_not_dropped(self) -> None:
        error = self.assertRaises(ValueError, split_plain, "pay\0 100", 400)
        self.assertIn("NUL", str(error))

    @given(
        lines=st.lists(
            st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\0"), min_size=1),
            min_size=1,
            max_size=5,
        ),
        breaks=st.lists(st.sampled_from(["\r\n", "\r", "\n"]), min_size=4, max_size=4),
    )
    def test_one_message_per_cr_lf_line(self, lines: List[str], breaks: List[str]) -> None:
        """Joined with any CR/LF spelling, the lines come back one message each, intact."""
        body = lines[0] + "".join(brk + line for brk, line in zip(breaks, lines[1:]))
        self.assertEqual(split_plain(body, 1_000_000), lines)


class ParseLineTests(SynchronousTestCase):
    def test_well_formed(self) -> None:
        chunk = parse_line(f"{MARKER} fernet-ttl {MSGID} 3/12 AbC-_=", 256)
        self.assertEqual(chunk, Chunk("fernet-ttl", MSGID, 3, 12, "AbC-_="))

    def test_more_chunks_than_allowed(self) -> None:
        self.assertRaises(Malformed, parse_line, f"{MARKER} fernet {MSGID} 1/9 AAAA", 8)

    @given(msgid=st.binary(min_size=16, max_size=16))
    def test_msgid_spelling(self, msgid: bytes) -> None:
        """A msgid is 22 characters of unpadded base64url that decode back to its 16 bytes."""
        spelled = encode_msgid(msgid)
        self.assertRegex(spelled, r"\A[A-Za-z0-9_-]{22}\Z")
        self.assertEqual(base64.urlsafe_b64decode(spelled + "=="), msgid)
        self.assertEqual(parse_line(f"{MARKER} fernet {spelled} 1/1 AAAA", 256).msgid, spelled)

    def test_msgid_must_be_22_base64url_characters(self) -> None:
        """Any other spelling of the header's msgid is malformed: hex, one character short or long, padded..."""
        raw = bytes.fromhex("0123456789abcdef0123456789abcdef")
        for msgid in (
            raw.hex(),  # the old 32-hex-digit spelling
            "ASNFZ4mrze8BI0VniavN7",  # 21 characters
            "ASNFZ4mrze8BI0VniavN7wA",  # 23 characters
            "ASNFZ4mrze8BI0VniavN7w==",  # padded
            base64.b64encode(raw)[:22].decode().replace("N", "+"),  # the standard alphabet
            "ASNFZ4mrze8BI0VniavN7x",  # the same 16 bytes, nonzero unused low bits
            "ASNFZ4mrze8BI0VniavN\uff17w",  # a non-ASCII digit
            "",
        ):
            self.assertRaises(Malformed, parse_line, f"{MARKER} fernet {msgid} 1/1 AAAA", 256)
        self.assertEqual(parse_line(f"{MARKER} fernet ASNFZ4mrze8BI0VniavN7w 1/1 AAAA", 256).msgid, encode_msgid(raw))


class ReassemblerTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = make_clock(EPOCH)
        self.reassembler = Reassembler(self.clock.seconds, LIMITS)

    def test_single_chunk_is_not_buffered(self) -> None:
        self.assertEqual(self.reassembler.add("a", "A", _chunk("m" * 32, 1, 1, "XY")), ("XY", []))
        self.assertEqual(len(self.reassembler), 0)

    def test_pending_bounded_per_sender(self) -> None:
        """A third unfinished message from one sender evicts that sender's oldest."""
        for number in range(3):
            token, dropped = self.reassembler.add("a", "A", _chunk(f"{number:032x}", 1, 2))
            self.assertIsNone(token)
        self.assertEqual(len(dropped), 1)
        self.assertIsInstance(dropped[0].error, Incomplete)
        self.assertIn("this sender", str(dropped[0].error))
        self.assertEqual(len(self.reassembler), 2)
        # The evicted message cannot complete any more; the newer ones can.
        self.assertIsNone(self.reassembler.add("a", "A", _chunk(f"{0:032x}", 2, 2))[0])
        self.assertEqual(self.reassembler.add("a", "A", _chunk(f"{2:032x}", 2, 2))[0], "AAAAAAAA")

    def test_flooding_sender_evicts_only_its_own(self) -> None:
        """
        The per-sender bound evicts that sender's oldest message, never an
        honest sender's: a flooder cannot push others' messages out this way.
        """
        self.reassembler.add("alice", "Alice", _chunk("a" * 22, 1, 2))
        for number in range(5):
            token, dropped = self.reassembler.add("mallory", "Mallory", _chunk(f"{number:022x}", 1, 2))
        self.assertEqual({d.sender for d in dropped}, {"Mallory"})
        self.assertEqual(self.reassembler._per_sender, {"alice": 1, "mallory": LIMITS.max_pending_per_sender})
        self.assertEqual(self.reassembler.add("alice", "Alice", _chunk("a" * 22, 2, 2))[0], "AAAAAAAA")

    def test_character_budget_never_evicts_the_message_growing(self) -> None:
        """
        Making room for a chunk evicts other messages, oldest first, never
        the one the chunk belongs to (even when it is the oldest), and the
        count of held characters stays exact.
        """
        self.reassembler.add("a", "A", _chunk("o" * 22, 1, 3, "A" * 400))
        self.reassembler.add("b", "B", _chunk("n" * 22, 1, 3, "B" * 400))
        token, dropped = self.reassembler.add("a", "A", _chunk("o" * 22, 2, 3, "A" * 400))
        self.assertIsNone(token)
        self.assertEqual([d.sender for d in dropped], ["B"])
        self.assertEqual(self.reassembler.buffered_chars, _buffered(self.reassembler))
        self.assertEqual(self.reassembler.buffered_chars, 800)
        token, dropped = self.reassembler.add("a", "A", _chunk("o" * 22, 3, 3, "A" * 200))
        self.assertEqual((token, dropped), ("A" * 1000, []))
        self.assertEqual(self.reassembler.buffered_chars, 0)

    def test_pending_bounded_in_total(self) -> None:
        """Many forged senders cannot grow memory past max_pending_total."""
        for number in range(10):
            self.reassembler.add(f"s{number}", f"S{number}", _chunk("b" * 32, 1, 8))
            self.assertLessEqual(len(self.reassembler), LIMITS.max_pending_total)

    def test_pending_bounded_in_characters(self) -> None:
        """
        Counts alone do not bound memory: a relay's lines can be as long as the
        client accepts.  The characters held are bounded too, oldest evicted.
        """
        for number in range(3):
            token, dropped = self.reassembler.add(f"s{number}", "S", _chunk(f"{number:032x}", 1, 8, "A" * 400))
            self.assertLessEqual(_buffered(self.reassembler), LIMITS.max_pending_chars)
        self.assertEqual([type(d.error) for d in dropped], [Incomplete])
        self.assertIn("unfinished", str(dropped[0].error))
        self.assertEqual(len(self.reassembler), 2)

    def test_message_larger_than_the_budget_dropped(self) -> None:
        self.reassembler.add("a", "A", _chunk("g" * 32, 1, 3, "A" * 600))
        token, dropped = self.reassembler.add("a", "A", _chunk("g" * 32, 2, 3, "A" * 600))
        self.assertIsNone(token)
        self.assertEqual([type(d.error) for d in dropped], [Incomplete])
        self.assertIn("1000 characters", str(dropped[0].error))
        self.assertEqual((len(self.reassembler), _buffered(self.reassembler)), (0, 0))

    def test_hostile_relay_with_default_limits(self) -> None:
        """Endless long first chunks from many fake senders: bounded in number and in characters."""
        reassembler = Reassembler(self.clock.seconds)
        for number in range(300):
            msgid = encode_msgid(number.to_bytes(16, "big"))
            for index in range(1, 9):
                reassembler.add(f"fake{number}", "F", _chunk(msgid, index, 256, "A" * HOSTILE_LINE))
            self.assertLessEqual(len(reassembler), DEFAULT_LIMITS.max_pending_total)
            self.assertLessEqual(_buffered(reassembler), DEFAULT_LIMITS.max_pending_chars)
            self.assertEqual(reassembler.buffered_chars, _buffered(reassembler))

    def test_limits_validated(self) -> None:
        """Zero would make every new message evict from an empty buffer."""
        for field in ("max_chunks", "max_pending_per_sender", "max_pending_total", "max_pending_chars"):
            self.assertRaises(ValueError, ReassemblyLimits, **{field: 0})
        self.assertRaises(ValueError, ReassemblyLimits, timeout=0)
        self.assertRaises(ValueError, ReassemblyLimits, max_chunks=10_000)

    def test_timeout(self) -> None:
        self.reassembler.add("a", "A", _chunk("c" * 32, 1, 2))
        self.clock.advance(9.5)
        self.assertFalse(self.reassembler.due())
        self.assertEqual(self.reassembler.expire(), [])
        self.clock.advance(0.5)
        self.assertTrue(self.reassembler.due())
        [dropped] = self.reassembler.expire()
        self.assertEqual((dropped.sender, dropped.layer), ("A", "fernet"))
        self.assertIn("1 of 2", str(dropped.error))
        self.assertEqual(len(self.reassembler), 0)

    def test_headers_disagree(self) -> None:
        self.reassembler.add("a", "A", _chunk("d" * 32, 1, 3))
        token, dropped = self.reassembler.add("a", "A", _chunk("d" * 32, 2, 4))
        self.assertIsNone(token)
        self.assertEqual([type(d.error) for d in dropped], [Malformed])
        self.assertEqual(len(self.reassembler), 0)
        self.reassembler.add("a", "A", _chunk("d" * 32, 1, 3))
        _, dropped = self.reassembler.add("a", "A", _chunk("d" * 32, 2, 3, layer="fernet-ttl"))
        self.assertEqual([type(d.error) for d in dropped], [Malformed])

    def test_single_chunk_claim_for_a_pending_message(self) -> None:
        self.reassembler.add("a", "A", _chunk("e" * 32, 1, 2))
        token, dropped = self.reassembler.add("a", "A", _chunk("e" * 32, 1, 1))
        self.assertIsNone(token)
        self.assertEqual([type(d.error) for d in dropped], [Malformed])

    def test_delivered_ids_quiet_their_copies_within_the_window(self) -> None:
        self.reassembler.delivered("a", "g" * 22)
        self.reassembler.add("a", "A", _chunk("g" * 22, 2, 2))
        self.reassembler.add("b", "B", _chunk("g" * 22, 2, 2))  # another sender's: not delivered
        self.clock.advance(10)
        [dropped] = self.reassembler.expire()
        self.assertEqual(dropped.sender, "B")
        # Past the window the id is forgotten: a copy is reported again.
        self.reassembler.add("a", "A", _chunk("g" * 22, 2, 2))
        self.clock.advance(10)
        self.assertEqual([d.sender for d in self.reassembler.expire()], ["A"])

    def test_delivered_ids_bounded(self) -> None:
        reassembler = Reassembler(self.clock.seconds, ReassemblyLimits(max_delivered=3, timeout=10.0))
        for number in range(5):
            reassembler.delivered("a", "%022d" % (number,))
        self.assertEqual(list(reassembler._delivered), [("a", "%022d" % (n,)) for n in (2, 3, 4)])
        reassembler.add("a", "A", _chunk("%022d" % (0,), 2, 2))  # evicted: reported again
        reassembler.add("a", "A", _chunk("%022d" % (4,), 2, 2))  # remembered: quiet
        self.clock.advance(10)
        self.assertEqual([str(d.error) for d in reassembler.expire()],
                         ["only 1 of 2 chunks arrived: it did not complete in time"])
        self.assertEqual(len(reassembler._delivered), 0)
        self.assertRaises(ValueError, ReassemblyLimits, max_delivered=0)

    def test_same_msgid_from_two_senders_kept_apart(self) -> None:
        self.reassembler.add("a", "A", _chunk("f" * 32, 1, 2, "AA"))
        self.reassembler.add("b", "B", _chunk("f" * 32, 2, 2, "BB"))
        self.assertEqual(self.reassembler.add("a", "A", _chunk("f" * 32, 2, 2, "CC"))[0], "AACC")


class ReceiveExpiresLazilyTests(SynchronousTestCase):
    def test_receive_reports_due_timeouts(self) -> None:
        """Even if the caller never calls expire(), a later line brings the notice."""
        clock = make_clock()
        alice, bob = conversation("fernet", clock), conversation("fernet", clock)
        lines = alice.encode("alice", "x" * 2000, 200)
        feed(bob, "alice", lines[:1])
        clock.advance(61)
        results = feed(bob, "carol", ["hello"])
        self.assertEqual([r.reason for r in results], ["incomplete", "unprotected"])  # type: ignore[attr-defined]
