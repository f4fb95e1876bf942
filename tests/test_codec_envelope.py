"""Tests for securechat.codec.envelope and the sequence tracker it feeds."""

from __future__ import annotations

import os

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from securechat.codec import Malformed
from securechat.codec.envelope import HEADER_SIZE, MAX_SEQ, Envelope, decode_body, pack, read_fields, unpack
from securechat.codec.errors import UnsupportedVersion
from securechat.codec.sequence import SequenceTracker

NAMES = st.text(max_size=30)


def _envelope(**changes: object) -> Envelope:
    fields = dict(sender="alice", target="#lab", stream=b"s" * 8, seq=1, body="hi")
    fields.update(changes)
    return Envelope(**fields)  # type: ignore[arg-type]


class EnvelopeTests(SynchronousTestCase):
    @given(
        sender=NAMES,
        target=NAMES,
        body=st.text(max_size=500),
        seq=st.integers(1, MAX_SEQ),
        stream=st.binary(min_size=8, max_size=8),
    )
    def test_round_trip(self, sender: str, target: str, body: str, seq: int, stream: bytes) -> None:
        envelope = Envelope(sender, target, stream, seq, body)
        self.assertEqual(unpack(pack(envelope)), envelope)

    def test_compact(self) -> None:
        """19 bytes of header, then the names and body: no field names, no quoting, no msgid (the nonce is)."""
        self.assertEqual(HEADER_SIZE, 19)
        self.assertEqual(len(pack(_envelope())), 19 + len("alice#labhi"))

    def test_layout(self) -> None:
        """Byte for byte as docs/wire.md draws it: version, stream, seq, the two lengths, the strings."""
        data = pack(_envelope(seq=258))
        self.assertEqual(
            data, b"\x02" + b"s" * 8 + b"\x00" * 6 + b"\x01\x02" + b"\x05\x04" + b"alice#labhi"
        )

    def test_body_read_last(self) -> None:
        """read_fields stops before the body, so a receiver judges the rest before decoding it."""
        data = pack(_envelope(body="")) + b"\xff"
        fields = read_fields(data)
        self.assertEqual((fields.sender, fields.target, fields.seq), ("alice", "#lab", 1))
        self.assertRaises(Malformed, decode_body, data, fields)

    def test_sequence_starts_at_one(self) -> None:
        self.assertRaises(ValueError, pack, _envelope(seq=0))
        data = bytearray(pack(_envelope()))
        data[9:17] = bytes(8)
        self.assertRaises(Malformed, unpack, bytes(data))

    def test_truncation_refused(self) -> None:
        data = pack(_envelope(body=""))
        for cut in range(len(data)):
            self.assertRaises(Malformed, unpack, data[:cut])

    def test_unknown_version(self) -> None:
        for version in (1, 3):
            data = bytearray(pack(_envelope()))
            data[0] = version
            error = self.assertRaises(UnsupportedVersion, unpack, bytes(data))
            self.assertIn(f"version {version}", str(error))

    def test_invalid_utf8(self) -> None:
        self.assertRaises(Malformed, unpack, pack(_envelope(body="")) + b"\xff")

    def test_pack_refuses_what_does_not_fit(self) -> None:
        self.assertRaises(ValueError, pack, _envelope(sender="x" * 256))
        self.assertRaises(ValueError, pack, _envelope(seq=MAX_SEQ + 1))
        self.assertRaises(ValueError, pack, _envelope(target="#" * 256))
        self.assertRaises(ValueError, pack, _envelope(stream=b"short"))


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
