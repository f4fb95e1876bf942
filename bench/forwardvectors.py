"""
Test vectors of the forward layer (docs/wire.md, "The forward layer"), from fixed inputs.

A sender's identity, chain id and chain key come from fixed labels and the
clock is fixed, so the output is the same on every run:
``docs/vectors/forward-v1.json``.  ``tests/test_codec_forward_vectors.py``
checks both ways: this module, run again, reproduces the file byte for byte,
and an opener written from docs/wire.md alone (``cryptography`` and the
standard library, none of our code) opens every line, checks every batch
signature, and finds the lines a forger or a relay made refused.

    python3 bench/forwardvectors.py            # rewrite docs/vectors/forward-v1.json
    python3 bench/forwardvectors.py --check    # exit 1 if the file is stale
"""

from __future__ import annotations

import hashlib
import os
import sys
from typing import Any, Dict, List, Optional

try:
    import securechat  # noqa: F401 (is the package importable as is?)
except ImportError:  # run as a script from anywhere: python3 bench/forwardvectors.py
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench import vectorfile
from securechat.client.core.forwardviews import carryView
from securechat.codec import Identity
from securechat.codec.chunks import decode_msgid, parse_line
from securechat.codec.forward import ForwardRoom
from securechat.codec.sessions import RoomChains
from securechat.codec.sessions.senderchain import OutboundChain
from securechat.codec.views import ViewBook

PATH = os.path.join(vectorfile.VECTORS, "forward-v1.json")
ROOM = "#Vectors"
NICK = "Carol"
#: Sealing time of every message (seconds since the epoch).
NOW = 1_800_000_000
#: A small line budget, so that one message is cut into several lines.
SHORT_PAYLOAD = 120
PAYLOAD = 400


def _fixed(label: str, size: int = 32) -> bytes:
    """A fixed 'random' value: SHA-256 of a label (inputs of the vectors only)."""
    return hashlib.sha256(b"securechat forward vectors " + label.encode("ascii")).digest()[:size]


def build() -> Dict[str, Any]:
    """The vectors document."""
    identity = Identity.from_private_bytes(_fixed("sender identity"))
    chains = RoomChains(ROOM, NICK, identity)
    chains.outbound = OutboundChain(
        chains.room, identity, chains.nick, _fixed("chain id", 16), _fixed("chain key"), 0, 0
    )
    start = chains.outbound.start_record()
    room = ForwardRoom(chains, identity, lambda: float(NOW))
    sends: List[Dict[str, Any]] = []
    for text, last, payload in (
        ("one, more queued behind it", False, PAYLOAD),
        ("two, the queue drained: the batch 0..1 is signed here", True, PAYLOAD),
        ("three, alone: its own batch", True, PAYLOAD),
        ("four, " + "long " * 30 + "and cut into lines", True, SHORT_PAYLOAD),
        ("five, more queued behind it", False, PAYLOAD),
    ):
        sends.append({"plaintext": text, "last": last, "max_payload": payload,
                      "lines": room.encode(text, payload, last)})  # fmt: skip
    sends.append({"flush": True, "max_payload": PAYLOAD, "lines": room.flush(PAYLOAD)})
    # Views (docs/wire.md, "Views on the forward layer"): carol's sixth message
    # carries her own chain's head after #5 and alice's stream at #4.
    book = ViewBook()
    own_msgids = [decode_msgid(parse_line(send["lines"][-1], 9).msgid) for send in sends if "plaintext" in send]
    for seq, msgid in enumerate(own_msgids, 1):
        book.sent(chains.nick, chains.outbound.chain_id, seq, NOW, msgid)
    alice_stream = _fixed("alice chain id", 16)
    alice_msgids = [_fixed("alice message %d" % (number,), 16) for number in range(1, 5)]
    for seq, msgid in enumerate(alice_msgids, 1):
        book.received("alice", alice_stream, seq, NOW, msgid, b"")
    text = "six, with carol's view of the room"
    view = book.digest(chains.nick, chains.outbound.chain_id, len(own_msgids) + 1, lambda length: True)
    body = carryView(view, text)
    sends.append({"plaintext": body, "text": text, "view": view.hex(), "last": True, "max_payload": PAYLOAD,
                  "lines": room.encode(body, PAYLOAD, True)})  # fmt: skip
    return {
        "version": 1,
        "about": "docs/wire.md, The forward layer; bytes in hex",
        "room": ROOM,
        "nick": NICK,
        "time": NOW,
        "identity_private": identity.private_bytes().hex(),
        "chain_id": _fixed("chain id", 16).hex(),
        "chain_key": _fixed("chain key").hex(),
        "start": start.hex(),
        "sends": sends,
        "alice_stream": alice_stream.hex(),
        "alice_msgids": [msgid.hex() for msgid in alice_msgids],
    }


def main(argv: Optional[List[str]] = None) -> int:
    return vectorfile.main(build, PATH, __doc__.split("\n\n")[0], argv)


if __name__ == "__main__":
    sys.exit(main())
