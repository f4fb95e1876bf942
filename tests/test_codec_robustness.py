"""
Nothing a relay sends may raise out of C{Conversation.receive}: random text,
random bytes decoded any way, headers with huge numbers, valid headers
around junk, and junk sealed under the right key by a misbehaving member.
"""

from __future__ import annotations

import base64
import os

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from securechat.codec import LAYERS, Accepted, CodecError, ReassemblyLimits, Rejected
from securechat.codec.chunks import MARKER, encode_msgid
from securechat.codec.layers import make_sealer
from tests.codec_support import conversation, feed, keys_for, make_clock, only_rejected

HEADER_WORDS = st.sampled_from(
    [MARKER, "aes-ctr", "fernet", "fernet-ttl", "plain", "A" * 22, "-" * 21 + "w", "0" * 32, "1/1", "1/2", "2/2", "0/1"]
)
#: A well-formed header msgid (22 characters of unpadded base64url).
MSGID = "a" * 21 + "g"
PIECE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_="
NUMBERS = st.integers(-(10**30), 10**30).map(str)
JUNK_WORDS = st.text(max_size=40) | NUMBERS | HEADER_WORDS | st.binary(max_size=60).map(
    lambda data: base64.urlsafe_b64encode(data).decode("ascii")
)


def _lines() -> st.SearchStrategy[str]:
    """Random text, random bytes as latin-1, and marker lines of plausible words."""
    words = st.lists(JUNK_WORDS, max_size=6).map(lambda items: " ".join([MARKER] + items))
    positions = st.tuples(NUMBERS, NUMBERS).map(lambda pair: f"{MARKER} fernet {MSGID} {pair[0]}/{pair[1]} AAAA")
    well_formed = st.builds(
        "{} {} {} {}/{} {}".format,
        st.just(MARKER),
        st.sampled_from(["aes-ctr", "fernet", "fernet-ttl"]),
        st.sampled_from(["A" * 22, "-" * 21 + "w"]),
        st.integers(1, 3),
        st.integers(1, 3),
        st.text(PIECE_ALPHABET, min_size=1, max_size=200),
    )
    return (
        st.text(max_size=200)
        | st.binary(max_size=200).map(lambda data: data.decode("latin-1"))
        | words
        | positions
        | well_formed
    )


class NeverRaisesTests(SynchronousTestCase):
    @given(sender=st.text(max_size=20), lines=st.lists(_lines(), max_size=8))
    def test_receive_never_raises(self, sender: str, lines: list[str]) -> None:
        for layer in LAYERS:
            self._check_layer(layer, sender, lines)

    def _check_layer(self, layer: str, sender: str, lines: list[str]) -> None:
        clock = make_clock()
        bob = conversation(layer, clock)
        for line in lines:
            for result in bob.receive(sender, line):
                self.assertIsInstance(result, (Accepted, Rejected))
                if isinstance(result, Rejected):
                    self.assertIsInstance(result.error, CodecError)
                    self.assertTrue(result.description)
                elif layer != "plain":
                    self.fail(f"junk accepted on {layer}: {result!r}")
        clock.advance(3600)
        for result in bob.expire():
            self.assertEqual(result.reason, "incomplete")

    @given(
        lines=st.lists(
            st.tuples(
                st.sampled_from(["alice", "Alice", "mallory", "m1", "m2", "m3"]),
                st.sampled_from(["aes-ctr", "fernet", "fernet-ttl"]),
                st.sampled_from(["A" * 22, "-" * 21 + "w", "B" * 21 + "Q"]),
                st.integers(1, 4),
                st.integers(1, 4),
                st.text(PIECE_ALPHABET, min_size=1, max_size=60),
            ),
            max_size=40,
        ),
        pauses=st.lists(st.floats(0, 30), max_size=40),
    )
    def test_many_senders_against_tight_limits(
        self, lines: list[tuple[str, str, str, int, int, str]], pauses: list[float]
    ) -> None:
        """
        Interleaved chunks from several senders, against limits small enough
        that every eviction path (per sender, in total, by characters, by
        timeout) runs: typed verdicts only, and the bounds hold throughout.
        """
        limits = ReassemblyLimits(
            max_chunks=4, max_pending_per_sender=2, max_pending_total=3, timeout=20.0, max_pending_chars=100
        )
        for layer in LAYERS:
            clock = make_clock()
            bob = conversation(layer, clock, limits=limits)
            for number, (sender, header_layer, msgid, index, total, piece) in enumerate(lines):
                if number < len(pauses):
                    clock.advance(pauses[number])
                line = f"{MARKER} {header_layer} {msgid} {index}/{total} {piece}"
                for result in bob.receive(sender, line):
                    self.assertIsInstance(result, Rejected)
                    self.assertIsInstance(result.error, CodecError)
                reassembler = bob._reassembler
                self.assertLessEqual(len(reassembler), limits.max_pending_total)
                self.assertLessEqual(reassembler.buffered_chars, limits.max_pending_chars)
            for result in bob.expire():
                self.assertEqual(result.reason, "incomplete")

    @given(
        header_layer=st.sampled_from(["aes-ctr", "fernet", "fernet-ttl"]),
        pieces=st.lists(st.text(PIECE_ALPHABET, min_size=1, max_size=300), min_size=1, max_size=3),
    )
    def test_well_formed_headers_around_junk(self, header_layer: str, pieces: list[str]) -> None:
        """Headers that parse, pieces that are base64-ish junk: typed verdicts on every layer."""
        msgid = encode_msgid(os.urandom(16))
        lines = [f"{MARKER} {header_layer} {msgid} {i}/{len(pieces)} {p}" for i, p in enumerate(pieces, 1)]
        for layer in LAYERS:
            self._check_layer(layer, "mallory", lines)

    @given(plaintext=st.binary(max_size=120), layer=st.sampled_from(("fernet", "fernet-ttl", "signed")))
    def test_junk_sealed_with_the_right_key(self, plaintext: bytes, layer: str) -> None:
        """A member with the key who seals garbage gets a refusal (never tampered: it is genuine), never a crash."""
        clock = make_clock()
        bob = conversation(layer, clock)
        msgid = os.urandom(16)
        token = make_sealer(layer, keys_for().for_layer(layer)).seal(plaintext, int(clock.seconds()), msgid)
        line = f"{MARKER} {layer} {encode_msgid(msgid)} 1/1 {token}"
        for result in bob.receive("alice", line):
            self.assertIsInstance(result, Rejected)
            self.assertNotEqual(result.reason, "tampered")  # type: ignore[union-attr]

    def test_huge_position_numbers(self) -> None:
        clock = make_clock()
        bob = conversation("fernet", clock)
        for position in ("99999999999999999999/1", "1/99999999999999999999", "1/0", "2/1", "01/2", "1/257"):
            rejected = only_rejected(feed(bob, "alice", [f"{MARKER} fernet {MSGID} {position} AAAA"]))
            self.assertEqual(rejected.reason, "malformed")

    def test_marker_shapes(self) -> None:
        clock = make_clock()
        bob = conversation("fernet", clock)
        for line in (MARKER, MARKER + " ", f"{MARKER} fernet", f"{MARKER} fernet {'A' * 32} 1/1 AAAA",
                     f"{MARKER} plain {MSGID} 1/1 AAAA", f"{MARKER} fernet {MSGID} 1/1 AA AA",
                     f"{MARKER} fernet {MSGID} 1/1 AA+/", f"{MARKER} fernet {'a' * 32} 1/1 AAAA"):
            self.assertEqual(only_rejected(feed(bob, "alice", [line])).reason, "malformed", line)

    def test_unopenable_single_line_is_tampered(self) -> None:
        clock = make_clock()
        bob = conversation("fernet", clock)
        rejected = only_rejected(feed(bob, "alice", [f"{MARKER} fernet {MSGID} 1/1 {'A' * 120}"]))
        self.assertEqual(rejected.reason, "tampered")
