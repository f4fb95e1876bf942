"""
Test vectors of the sessions core (docs/wire.md, "Sessions"), from fixed inputs.

Every private key, chain id and chain key comes from the inputs below, so
the output is the same on every run: ``docs/vectors/sessions-v1.json``.
``tests/test_codec_sessions_vectors.py`` checks both ways: this module, run
again, reproduces the file byte for byte (our code makes every output), and
an opener written from docs/wire.md alone (HKDF, HMAC, X25519, Ed25519 and
ChaCha20-Poly1305 of ``cryptography``, the sender chains' keyed BLAKE2b of
``hashlib``, none of our code) opens every message and checks every
signature in it.

    python3 bench/sessionvectors.py            # rewrite docs/vectors/sessions-v1.json
    python3 bench/sessionvectors.py --check    # exit 1 if the file is stale
"""

from __future__ import annotations

import hashlib
import os
import sys
from typing import Any, Callable, Dict, Iterator, List, Optional

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

try:
    import securechat  # noqa: F401 (is the package importable as is?)
except ImportError:  # run as a script from anywhere: python3 bench/sessionvectors.py
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench import vectorfile
from securechat.codec import Identity
from securechat.codec.sessions import Initiator, OutboundChain, Ratchet, Responder, admit_proof
from securechat.codec.sessions.handshake import transcript

PATH = os.path.join(vectorfile.VECTORS, "sessions-v1.json")
INITIATOR_NICK = "Alice"
RESPONDER_NICK = "[Bob]"
ROOM = "#Vectors"


def _fixed(label: str, size: int = 32) -> bytes:
    """A fixed 'random' value: SHA-256 of a label (inputs of the vectors only)."""
    return hashlib.sha256(b"securechat sessions vectors " + label.encode("ascii")).digest()[:size]


def _x25519_keys(side: str) -> Callable[[], X25519PrivateKey]:
    """The side's X25519 private keys, in the order the code asks for them."""
    counter: Iterator[int] = iter(range(1000))

    def make() -> X25519PrivateKey:
        return X25519PrivateKey.from_private_bytes(_fixed(f"{side} x25519 {next(counter)}"))

    return make


def build() -> Dict[str, Any]:
    """The vectors document."""
    alice = Identity.from_private_bytes(_fixed("initiator identity"))
    bob = Identity.from_private_bytes(_fixed("responder identity"))
    initiator = Initiator(alice, INITIATOR_NICK, RESPONDER_NICK, _x25519_keys("initiator"))
    responder = Responder(bob, RESPONDER_NICK, INITIATOR_NICK, _x25519_keys("responder"))
    init = initiator.init()
    reply = responder.reply(init, alice.public_key)
    finish = initiator.finish(reply, bob.public_key)
    keys_r = responder.finish(finish)
    keys_i = initiator.keys
    assert keys_i is not None
    data = transcript(INITIATOR_NICK, RESPONDER_NICK, alice.public_key, init[34:66], bob.public_key, reply[34:66])
    sides = {
        "initiator": Ratchet.from_session(keys_i, _x25519_keys("initiator ratchet")),
        "responder": Ratchet.from_session(keys_r, _x25519_keys("responder ratchet")),
    }
    messages: List[Dict[str, str]] = []
    for sender, text in (
        ("initiator", "hello bob"),
        ("initiator", "second, same chain"),
        ("responder", "hi alice: my reply starts a DH step"),
        ("initiator", "and mine another"),
    ):
        message = sides[sender].encrypt(text.encode("utf-8"))
        receiver = "responder" if sender == "initiator" else "initiator"
        assert sides[receiver].decrypt(message) == text.encode("utf-8")
        messages.append({"from": sender, "plaintext": text, "message": message.hex()})

    chain_identity = Identity.from_private_bytes(_fixed("chain identity"))
    chain_messages: List[Dict[str, Any]] = []
    chain = OutboundChain(ROOM, chain_identity, "carol", _fixed("chain id", 16), _fixed("chain key"), 0, 0)
    start = chain.start_record()
    for text in ("first on the chain", "second", "third"):
        index = chain.index
        chain_messages.append({"index": index, "plaintext": text, "message": chain.seal(text.encode("utf-8")).hex()})
    signed = OutboundChain(ROOM, chain_identity, "carol", _fixed("signed chain id", 16), _fixed("signed key"), 7, 1)
    signed_start = signed.start_record()
    signed_message = signed.seal(b"signed, at index 7")
    room_key = _fixed("room key")
    return {
        "version": 1,
        "about": "docs/wire.md, Sessions (the codec-level messages; their lines: session-lines-v1.json); bytes in hex",
        "handshake": {
            "initiator_nick": INITIATOR_NICK,
            "responder_nick": RESPONDER_NICK,
            "initiator_identity_private": alice.private_bytes().hex(),
            "responder_identity_private": bob.private_bytes().hex(),
            "initiator_ephemeral_private": _fixed("initiator x25519 0").hex(),
            "responder_ephemeral_private": _fixed("responder x25519 0").hex(),
            "initiator_ratchet_private": _fixed("initiator x25519 1").hex(),
            "init": init.hex(),
            "reply": reply.hex(),
            "finish": finish.hex(),
            "transcript": data.hex(),
            "session_id": keys_i.session_id.hex(),
            "root_key": keys_i.root_key.hex(),
        },
        "ratchet": {
            "responder_ratchet_privates": [_fixed(f"responder ratchet x25519 {n}").hex() for n in range(2)],
            "initiator_ratchet_privates": [_fixed(f"initiator ratchet x25519 {n}").hex() for n in range(2)],
            "messages": messages,
        },
        "chain": {
            "room": ROOM,
            "nick": "carol",
            "identity_private": chain_identity.private_bytes().hex(),
            "chain_id": _fixed("chain id", 16).hex(),
            "chain_key": _fixed("chain key").hex(),
            "start": start.hex(),
            "messages": chain_messages,
        },
        "signed_chain": {
            "room": ROOM,
            "nick": "carol",
            "chain_key": _fixed("signed key").hex(),
            "start": signed_start.hex(),
            "message": {"index": 7, "plaintext": "signed, at index 7", "message": signed_message.hex()},
        },
        "admit": {
            "room": ROOM,
            "nick": RESPONDER_NICK,
            "room_key": room_key.hex(),
            "session_id": keys_i.session_id.hex(),
            "proof": admit_proof(room_key, ROOM, RESPONDER_NICK, keys_i.session_id).hex(),
        },
    }


def main(argv: Optional[List[str]] = None) -> int:
    return vectorfile.main(build, PATH, __doc__.split("\n\n")[0], argv)


if __name__ == "__main__":
    sys.exit(main())
