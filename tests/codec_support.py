"""
Shared fixtures for the codec tests: cheap keys, a controlled clock, and a
pair of conversations (Alice sends, Bob receives) wired by hand.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

from hypothesis import strategies as st
from twisted.internet.task import Clock

from securechat.codec import (
    TEST_KDF,
    Accepted,
    Conversation,
    Identity,
    Rejected,
    ReplayCache,
    RoomKeys,
    derive_room_keys,
)

#: A plausible wall-clock time, so Fernet timestamps look real.
EPOCH = 1_700_000_000.0
ROOM = "#Lab"
PASSPHRASE = b"correct horse battery staple"
KEYED = ("aes-ctr", "fernet", "fernet-ttl", "signed")
AUTHENTICATED = ("fernet", "fernet-ttl", "signed")
#: Line budgets: 512 minus a long relay prefix, a middle one, and a tight one.
PAYLOADS = (400, 200, 120)

_KEY_CACHE: Dict[Tuple[bytes, str], RoomKeys] = {}


def keys_for(target: str = ROOM, passphrase: bytes = PASSPHRASE) -> RoomKeys:
    """Test-cost keys, derived once per (passphrase, target) for speed."""
    cache_key = (passphrase, target)
    if cache_key not in _KEY_CACHE:
        _KEY_CACHE[cache_key] = derive_room_keys(passphrase, target, TEST_KDF)
    return _KEY_CACHE[cache_key]


def make_clock(start: float = EPOCH) -> Clock:
    clock = Clock()
    clock.advance(start)
    return clock


def conversation(
    layer: str,
    clock: Clock,
    target: str = ROOM,
    passphrase: bytes = PASSPHRASE,
    replay: Optional[ReplayCache] = None,
    **kwargs: object,
) -> Conversation:
    keys = None if layer == "plain" else keys_for(target, passphrase)
    kwargs.setdefault("identity", Identity.generate())
    return Conversation(target, layer, keys, clock=clock.seconds, replay=replay, **kwargs)  # type: ignore[arg-type]


def feed(receiver: Conversation, sender: str, lines: List[str]) -> List[object]:
    """All verdicts from feeding C{lines} in order."""
    results: List[object] = []
    for line in lines:
        results.extend(receiver.receive(sender, line))
    return results


def only_accepted(results: List[object]) -> Accepted:
    assert len(results) == 1 and isinstance(results[0], Accepted), results
    return results[0]


def only_rejected(results: List[object]) -> Rejected:
    assert len(results) == 1 and isinstance(results[0], Rejected), results
    return results[0]


#: Arbitrary Unicode bodies (no lone surrogates: they cannot be UTF-8 encoded),
#: short ones and the occasional long one.
bodies = st.text(max_size=300) | st.sampled_from(["", "\U0001f389" * 50, "é" * 2000, "x" * 10240])
