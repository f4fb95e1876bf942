"""
The sender chains' KDF (docs/wire.md, "Sender chains", C3) pinned to bytes
computed without hashlib: a BLAKE2b written here from RFC 7693 and the
BLAKE2 parameter block (personalisation in words 6 and 7), checked first
against RFC 7693's own example.
"""

from __future__ import annotations

import os
import struct
from typing import List

import attr
from twisted.trial.unittest import SynchronousTestCase

from securechat.codec import Identity
from securechat.codec.sessions.primitives import (
    SENDER_CHAIN_PERSON,
    b64encode,
    chain_step,
    open_sealed,
    sender_chain_step,
)
from securechat.codec.sessions.senderchain import ChainStart, InboundChain, OutboundChain

MASK = (1 << 64) - 1
IV = (
    0x6A09E667F3BCC908, 0xBB67AE8584CAA73B, 0x3C6EF372FE94F82B, 0xA54FF53A5F1D36F1,
    0x510E527FADE682D1, 0x9B05688C2B3E6C1F, 0x1F83D9ABFB41BD6B, 0x5BE0CD19137E2179,
)  # fmt: skip
SIGMA = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
    (14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3),
    (11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4),
    (7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8),
    (9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13),
    (2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9),
    (12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11),
    (13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10),
    (6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5),
    (10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0),
)
#: The sender chain KDF's output for the key 00 01 .. 1f: message key, then next chain key.
PINNED_KEY = bytes(range(32))
PINNED_MESSAGE_KEY = "0ee851cdc0e17fd931d3332fa676f62c0f067dc89ab1cbd1c8ad48d86bea624c"
PINNED_NEXT_CHAIN_KEY = "8002d6211bcc743250e95a5b1f6d44b26ec12b951c98179bdf8bd9ec931d55bf"


def _rotr(value: int, bits: int) -> int:
    return ((value >> bits) | (value << (64 - bits))) & MASK


def _mix(v: List[int], a: int, b: int, c: int, d: int, x: int, y: int) -> None:
    v[a] = (v[a] + v[b] + x) & MASK
    v[d] = _rotr(v[d] ^ v[a], 32)
    v[c] = (v[c] + v[d]) & MASK
    v[b] = _rotr(v[b] ^ v[c], 24)
    v[a] = (v[a] + v[b] + y) & MASK
    v[d] = _rotr(v[d] ^ v[a], 16)
    v[c] = (v[c] + v[d]) & MASK
    v[b] = _rotr(v[b] ^ v[c], 63)


def _compress(h: List[int], block: bytes, counter: int, last: bool) -> List[int]:
    m = struct.unpack("<16Q", block)
    v = list(h) + list(IV)
    v[12] ^= counter & MASK
    v[13] ^= counter >> 64
    if last:
        v[14] ^= MASK
    for round_ in range(12):
        s = SIGMA[round_ % 10]
        _mix(v, 0, 4, 8, 12, m[s[0]], m[s[1]])
        _mix(v, 1, 5, 9, 13, m[s[2]], m[s[3]])
        _mix(v, 2, 6, 10, 14, m[s[4]], m[s[5]])
        _mix(v, 3, 7, 11, 15, m[s[6]], m[s[7]])
        _mix(v, 0, 5, 10, 15, m[s[8]], m[s[9]])
        _mix(v, 1, 6, 11, 12, m[s[10]], m[s[11]])
        _mix(v, 2, 7, 8, 13, m[s[12]], m[s[13]])
        _mix(v, 3, 4, 9, 14, m[s[14]], m[s[15]])
    return [h[i] ^ v[i] ^ v[i + 8] for i in range(8)]


def blake2b(data: bytes, key: bytes = b"", digest_size: int = 64, person: bytes = b"") -> bytes:
    """BLAKE2b (RFC 7693, section 3), with the parameter block's personalisation (16 bytes, zero-padded)."""
    h = list(IV)
    h[0] ^= 0x01010000 ^ (len(key) << 8) ^ digest_size
    words = struct.unpack("<2Q", person.ljust(16, b"\x00"))
    h[6] ^= words[0]
    h[7] ^= words[1]
    stream = (key.ljust(128, b"\x00") if key else b"") + data
    blocks = [stream[at : at + 128] for at in range(0, len(stream), 128)] or [b""]
    for number, block in enumerate(blocks):
        last = number == len(blocks) - 1
        counter = len(stream) if last else (number + 1) * 128
        h = _compress(h, block.ljust(128, b"\x00"), counter, last)
    return struct.pack("<8Q", *h)[:digest_size]


class ReferenceTests(SynchronousTestCase):
    def test_rfc7693_example(self) -> None:
        """The reference gives RFC 7693's Appendix A digest of "abc"."""
        self.assertEqual(
            blake2b(b"abc").hex(),
            "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1"
            "7d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923",
        )

    def test_keyed_and_personalised_as_hashlib(self) -> None:
        """Keys, messages over block edges, sizes and persons: the reference agrees with hashlib's BLAKE2b."""
        import hashlib

        for key, data, size, person in (
            (b"k" * 32, b"", 64, b"p"),
            (b"k" * 64, b"x" * 128, 32, b"sixteen bytes ok"),
            (b"", b"y" * 129, 48, b""),
            (b"k", b"z" * 300, 64, b"securechat/s1 sc"),
        ):
            expected = hashlib.blake2b(data, key=key, digest_size=size, person=person).digest()
            self.assertEqual(blake2b(data, key, size, person), expected)


class SenderChainKdfTests(SynchronousTestCase):
    def test_pinned(self) -> None:
        """The KDF of a fixed key gives the bytes the reference computes, and those pinned here."""
        message_key, next_key = sender_chain_step(PINNED_KEY)
        reference = blake2b(b"", PINNED_KEY, 64, b"securechat/s1 sc")
        self.assertEqual(SENDER_CHAIN_PERSON, b"securechat/s1 sc")
        self.assertEqual((message_key, next_key), (reference[:32], reference[32:]))
        self.assertEqual((message_key.hex(), next_key.hex()), (PINNED_MESSAGE_KEY, PINNED_NEXT_CHAIN_KEY))

    def test_random_keys(self) -> None:
        """For any 32-byte key: the reference's bytes, and neither half the ratchet's (another KDF)."""
        for _ in range(8):
            key = os.urandom(32)
            message_key, next_key = sender_chain_step(key)
            reference = blake2b(b"", key, 64, SENDER_CHAIN_PERSON)
            self.assertEqual(message_key + next_key, reference)
            self.assertNotIn(message_key, chain_step(key))

    def test_other_key_lengths_refused(self) -> None:
        """The KDF, and the chains that step it inline, take 32-byte keys only (BLAKE2b would take others)."""
        identity = Identity.generate()
        start = ChainStart("#room", "alice", identity.public_key, bytes(16), 0, PINNED_KEY, 0)
        InboundChain(start)
        for size in (0, 16, 31, 33, 64):
            self.assertRaises(ValueError, sender_chain_step, bytes(size))
            self.assertRaises(ValueError, OutboundChain, "#room", identity, "alice", bytes(16), bytes(size), 0, 0)
            self.assertRaises(ValueError, InboundChain, attr.evolve(start, chain_key=bytes(size)))

    def test_chains_step_with_it(self) -> None:
        """A chain's message i is sealed under the i-th message key of the KDF, computed by the reference."""
        identity = Identity.generate()
        chain = OutboundChain("#room", identity, "alice", bytes(16), PINNED_KEY, 0, 0)
        messages = [chain.seal(b"message %d" % number) for number in range(3)]
        key = PINNED_KEY
        for number, message in enumerate(messages):
            keys = blake2b(b"", key, 64, SENDER_CHAIN_PERSON)
            key = keys[32:]
            self.assertEqual(open_sealed(keys[:32], message[21:], message[:21]), b"message %d" % number)
        self.assertEqual(chain.to_dict()["chain_key"], b64encode(key))
