"""Tests for securechat.codec.envelope and the sequence tracker it feeds."""

from __future__ import annotations

import os

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from securechat.codec import Malformed
from securechat.codec.envelope import HEADER_SIZE, MAX_SEQ, Envelope, pack, unpack
from securechat.codec.sequence import SequenceTracker

NAMES = st.text(max_size=30)


def _envelope(**changes: object) -> Envelope:
    fields = dict(sender="alice", target="#lab", msgid=b"m" * 16, stream=b"s" * 8, seq=1, body="hi")
    fields.update(changes)
    return Envelope(**fields)  # type: ignore[arg-type]


class EnvelopeTests(SynchronousTestCase):
    @given(
        sender=NAMES,
        target=NAMES,
        body=st.text(max_size=500),
        seq=st.integers(0, MAX_SEQ),
        msgid=st.binary(min_size=16, max_size=16),
        stream=st.binary(min_size=8, max_size=8),
    )
    def test_round_trip(self, sender: str, target: str, body: str, seq: int, msgid: bytes, stream: bytes) -> None:
        envelope = Envelope(sender, target, msgid, stream, seq, body)
        self.assertEqual(unpack(pack(envelope)), envelope)

    def test_compact(self) -> None:
        """36 bytes of header, then the names and body: no field names, no quoting."""
        self.assertEqual(HEADER_SIZE, 36)
        self.assertEqual(len(pack(_envelope())), 36 + len("alice#labhi"))

    def test_truncation_refused(self) -> None:
        data = pack(_envelope(body=""))
        for cut in range(len(data)):
            self.assertRaises(Malformed, unpack, data[:cut])

    def test_unknown_version(self) -> None:
        data = bytearray(pack(_envelope()))
        data[0] = 2
        self.assertRaises(Malformed, unpack, bytes(data))

    def test_invalid_utf8(self) -> None:
        self.assertRaises(Malformed, unpack, pack(_envelope(body="")) + b"\xff")

    def test_pack_refuses_what_does_not_fit(self) -> None:
        self.assertRaises(ValueError, pack, _envelope(sender="x" * 256))
        self.assertRaises(ValueError, pack, _envelope(seq=MAX_SEQ + 1))
        self.assertRaises(ValueError, pack, _envelope(msgid=b"short"))


class SequenceTrackerTests(SynchronousTestCase):
    def test_bounded(self) -> None:
        tracker = SequenceTracker(max_streams=3)
        for _ in range(10):
            tracker.observe("alice", os.urandom(8), 1)
        self.assertEqual(len(tracker), 3)

    def test_recently_used_stream_kept(self) -> None:
        tracker = SequenceTracker(max_streams=2)
        tracker.observe("alice", b"A" * 8, 1)
        tracker.observe("bob", b"B" * 8, 1)
        tracker.observe("alice", b"A" * 8, 2)
        tracker.observe("carol", b"C" * 8, 1)  # evicts bob's, the least recently used
        self.assertEqual(tracker.observe("alice", b"A" * 8, 4), (1, False))
        self.assertEqual(tracker.observe("bob", b"B" * 8, 5), (0, False))
