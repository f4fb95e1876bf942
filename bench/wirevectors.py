"""
Test vectors of the wire format (docs/wire.md), from fixed inputs.

Every random draw a seal makes (the stream id, each message id) and every
key comes from the inputs below, so the output is the same on every run:
``docs/vectors/wire-v2.json``.  ``tests/test_codec_vectors.py`` checks both
ways: this module, run again, reproduces the file byte for byte (our code
makes every output), and the codec opens every line of it (and refuses every
refusal with its reason); it also runs the reference opener of docs/wire.md
against the file.

    python3 bench/wirevectors.py            # rewrite docs/vectors/wire-v2.json
    python3 bench/wirevectors.py --check    # exit 1 if the file is stale

Argon2id runs with the cheapest parameters it allows (they are in the file):
vectors test the construction, not the cost.
"""

from __future__ import annotations

import hashlib
import os
import sys
from typing import Any, Callable, Dict, List, Optional, Tuple

try:
    import securechat  # noqa: F401 (is the package importable as is?)
except ImportError:  # run as a script from anywhere: python3 bench/wirevectors.py
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench import vectorfile
from securechat.codec import TEST_KDF, Conversation, Identity, direct_target, rfc1459_casefold
from securechat.codec.chunks import MARKER, WIRE_VERSION
from securechat.codec.identity import IDENTITY_FINGERPRINT_CONTEXT
from securechat.codec.keys import (
    KEYED_LAYERS,
    LAYER_INFO_PREFIX,
    ROOM_FINGERPRINT_CONTEXT,
    SALT_CONTEXT,
    RoomKeys,
    derive_room_keys,
    room_salt,
    secret_master,
)
from securechat.codec.layers import b64decode, make_sealer
from securechat.codec.roomsecret import SECRET_CHECK_CONTEXT, SECRET_KEY_INFO, format_room_secret
from securechat.codec.signing import SIGN_CONTEXT, SIGN_VIEW_CONTEXT
from securechat.codec.views import CHAIN_CONTEXT, MEMBER_TAG_CONTEXT, decode_view

PATH = os.path.join(vectorfile.VECTORS, "wire-v2.json")
#: 2026-01-01T00:00:00Z: the time every message is sealed at.
TIME = 1767225600
#: 512 minus CRLF and a relay prefix like ":alice!alice@192.0.2.10 PRIVMSG #lab :".
BUDGET = 469
BODY_200 = ("The relay sees this line go by and cannot read it, change it, move it or replay it. " * 3)[:200]

PASSPHRASE = "correct horse battery staple"
ROOM = "#Lab[1]"
SECRET = bytes(range(0xA0, 0xB0))
#: Ed25519 private keys of the two members (32 bytes each).
ALICE_KEY = hashlib.sha256(b"securechat test vector alice").digest()
BOB_KEY = hashlib.sha256(b"securechat test vector bob").digest()


def _fixed_random(seed: str) -> Callable[[int], bytes]:
    """Deterministic "random" bytes: SHA-256 of the seed and a counter, as long as asked."""
    counter = [0]

    def draw(size: int) -> bytes:
        counter[0] += 1
        out = b""
        block = 0
        while len(out) < size:
            out += hashlib.sha256(f"{seed}/{counter[0]}/{block}".encode()).digest()
            block += 1
        return out[:size]

    return draw


def _keys_entry(name: str, keys: RoomKeys, target: str, master: bytes, **inputs: str) -> Dict[str, Any]:
    return {
        "name": name,
        **inputs,
        "target": target,
        "casefolded_target": rfc1459_casefold(target),
        "salt": room_salt(target).hex(),
        "master_key": master.hex(),
        "layer_keys": {layer: keys.for_layer(layer).hex() for layer in KEYED_LAYERS},
        "fingerprint": keys.fingerprint(),
    }


def _argon2_master(passphrase: bytes, target: str) -> bytes:
    from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

    return Argon2id(
        salt=room_salt(target), length=32, iterations=TEST_KDF.iterations, lanes=TEST_KDF.lanes,
        memory_cost=TEST_KDF.memory_cost,
    ).derive(passphrase)


class _Builder:
    """Seals messages with fixed randomness and records every intermediate value."""

    def __init__(self) -> None:
        self.keys: Dict[str, RoomKeys] = {}
        self.entries: List[Dict[str, Any]] = []
        self.identities = {"alice": Identity.from_private_bytes(ALICE_KEY), "bob": Identity.from_private_bytes(BOB_KEY)}
        self._conversations: Dict[Tuple[str, str, str], Conversation] = {}

    def key(self, name: str, keys: RoomKeys, entry: Dict[str, Any]) -> None:
        self.keys[name] = keys
        self.entries.append(entry)

    def _sender(self, keys: str, layer: str, sender: str, target: str) -> Conversation:
        """One sending conversation per (keys, layer, sender): its stream and sequence carry on."""
        slot = (keys, layer, sender)
        if slot not in self._conversations:
            self._conversations[slot] = Conversation(
                target, layer, None if layer == "plain" else self.keys[keys], clock=lambda: float(TIME),
                identity=self.identities.get(rfc1459_casefold(sender)),
                random=_fixed_random(f"{keys}/{layer}/{sender}"),
            )
        return self._conversations[slot]

    def message(
        self, name: str, keys: str, layer: str, sender: str, target: str, body: str, max_payload: int = BUDGET,
        note: str = "",
    ) -> Dict[str, Any]:
        conversation = self._sender(keys, layer, sender, target)
        random = conversation._random
        draws: List[bytes] = []

        def recording(size: int) -> bytes:
            value = random(size)
            draws.append(value)
            return value

        conversation._random = recording
        lines = conversation.encode(sender, body, max_payload)
        conversation._random = random
        entry: Dict[str, Any] = {
            "name": name,
            "note": note,
            "keys": None if layer == "plain" else keys,
            "layer": layer,
            "sender": sender,
            "target": target,
            "time": TIME,
            "body": body,
            "max_payload": max_payload,
        }
        if layer != "plain":
            msgid = draws[0]
            token = "".join(line.split(" ", 4)[4] for line in lines)
            sealer = make_sealer(layer, self.keys[keys].for_layer(layer))
            plaintext, _ = sealer.open(token, msgid)
            stream, seq = conversation._stream, conversation._next_seq[rfc1459_casefold(sender)]
            envelope = plaintext
            extra: Dict[str, Any] = {}
            if layer == "signed":
                identity = self.identities[rfc1459_casefold(sender)]
                carried = bool(plaintext[0] & 1)
                envelope = plaintext[1 + (32 if carried else 0) + 64 :]
                view_fields: Dict[str, Any] = {}
                if plaintext[0] & 2:
                    view = envelope[1 : 1 + envelope[0]]
                    envelope = envelope[1 + len(view) :]
                    signed = (SIGN_VIEW_CONTEXT + msgid + TIME.to_bytes(8, "big") + identity.public_key
                              + bytes((len(view),)) + view + envelope)
                    view_fields = {
                        "view": view.hex(),
                        "view_entries": [
                            {"member_tag": e.member.hex(), "stream_tag": e.stream.hex(), "seq": e.seq,
                             "head": None if e.head is None else e.head.hex()}
                            for e in decode_view(view)
                        ],
                    }
                else:
                    signed = SIGN_CONTEXT + msgid + TIME.to_bytes(8, "big") + identity.public_key + envelope
                own = conversation.views.export_own()
                extra = {
                    "identity": rfc1459_casefold(sender),
                    "key_carried": carried,
                    **view_fields,
                    "chain_head_after": None if own is None else own[2],
                    "signed_data": signed.hex(),
                    "signature": identity.sign(signed).hex(),
                    "signed_plaintext": plaintext.hex(),
                }
            entry.update(
                {
                    "stream": stream.hex(),
                    "seq": seq,
                    "msgid": msgid.hex(),
                    "envelope": envelope.hex(),
                    **extra,
                    "token_bytes": b64decode(token).hex(),
                    "token": token,
                }
            )
        entry["lines"] = lines
        self.entries.append(entry)
        return entry


    def received(self, keys: str, layer: str, receiver: str, target: str, sender: str,
                 messages: List[Dict[str, Any]]) -> None:
        """C{receiver}'s conversation accepts C{messages} (so that its next message's view names them)."""
        conversation = self._sender(keys, layer, receiver, target)
        for message in messages:
            for line in message["lines"]:
                for result in conversation.receive(sender, line):
                    assert getattr(result, "body", None) == message["body"], result


def _first_body_filling(builder: _Builder, layer: str, budget: int) -> int:
    """The body length whose line is exactly C{budget} bytes on C{layer} (for the chunking vectors)."""
    probe = Conversation(ROOM, layer, builder.keys["room"], clock=lambda: float(TIME), random=_fixed_random("probe"))
    for size in range(1, budget):
        lines = probe.encode("alice", "x" * size, 10_000)
        if len(lines[0]) == budget:
            return size
    raise AssertionError(f"no body fills a {budget}-byte line on {layer}")


def build() -> Dict[str, Any]:
    """Every vector, as the JSON document docs/vectors/wire-v2.json holds."""
    builder = _Builder()
    room = derive_room_keys(PASSPHRASE.encode(), ROOM, TEST_KDF)
    builder.key("room", room, _keys_entry(
        "room", room, ROOM, _argon2_master(PASSPHRASE.encode(), ROOM), passphrase=PASSPHRASE, kdf="argon2id"))
    code = format_room_secret(SECRET)
    secret_keys = derive_room_keys(code.encode(), ROOM, TEST_KDF)
    builder.key("secret", secret_keys, _keys_entry(
        "secret", secret_keys, ROOM, secret_master(SECRET, ROOM), room_secret=code, secret=SECRET.hex(),
        check=hashlib.sha256(SECRET_CHECK_CONTEXT + SECRET).digest()[:4].hex(), kdf="hkdf"))
    pair = direct_target("Alice", "bob")
    direct = derive_room_keys(PASSPHRASE.encode(), pair, TEST_KDF)
    builder.key("direct", direct, _keys_entry(
        "direct", direct, pair, _argon2_master(PASSPHRASE.encode(), pair), passphrase=PASSPHRASE, kdf="argon2id"))
    builder.entries.extend(
        {
            "name": name,
            "private_key": identity.private_bytes().hex(),
            "public_key": identity.public_key.hex(),
            "fingerprint": identity.fingerprint,
        }
        for name, identity in builder.identities.items()
    )
    builder.message("plain", "room", "plain", "Alice", ROOM, "hello, in clear", note="plain: the body itself")
    for layer in KEYED_LAYERS:
        builder.message(layer, "room", layer, "Alice", ROOM, "hello, " + layer)
    builder.message("signed-200-key-left-out", "room", "signed", "Alice", ROOM, BODY_200,
                    note="second message of the stream: 200 bytes take one line without the key")
    builder.message("signed-short-key-carried", "room", "signed", "Alice", ROOM, "short",
                    note="the key rides along: it costs no line")
    builder.message("layer-announcement", "room", "signed", "Alice", ROOM, "\x01SC-LAYER signed\x01",
                    note="a raise to signed, sealed on signed (docs/wire.md, Layer announcements)")
    builder.received("room", "signed", "bob", ROOM, "Alice",
                     [m for m in builder.entries if m.get("identity") == "alice" and "lines" in m])
    builder.message("signed-view", "room", "signed", "bob", ROOM, "seen it",
                    note="bob's first message: his view names alice's stream at #4, with her chain head")
    builder.message("room-secret", "secret", "fernet-ttl", "Alice", ROOM, "keyed by a room secret")
    builder.message("direct", "direct", "fernet-ttl", "Alice", pair, "just between us",
                    note="a direct message: the target is the sorted pair of casefolded nicks")
    builder.message("multi-line", "room", "fernet-ttl", "Alice", ROOM, "long " * 120, note="600 bytes: three lines")
    fill = _first_body_filling(builder, "aes-ctr", 200)
    builder.message("fills-a-line", "room", "aes-ctr", "Alice", ROOM, "f" * fill, max_payload=200,
                    note="the line is exactly max_payload bytes")
    builder.message("one-byte-over", "room", "aes-ctr", "Alice", ROOM, "f" * (fill + 1), max_payload=200,
                    note="one byte more than fits: two lines of whole base64 quanta")
    smallest = len(MARKER) + len(" fernet-ttl ") + 22 + len(" 1/2 ") + 16
    builder.message("smallest-line", "room", "fernet-ttl", "Alice", ROOM, "tiny lines", max_payload=smallest,
                    note="the smallest max_payload: 16 characters of token per line")
    return _document(builder)


def _refusals(builder: _Builder, messages: Dict[str, Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Lines a receiver must refuse, each with the reason it must give."""
    fernet = messages["fernet-ttl"]["lines"][0]
    marker, layer, msgid, position, token = fernet.split(" ")
    flipped = token[:-2] + ("B" if token[-2] != "B" else "C") + token[-1]
    old = "+sc1 fernet-ttl %s 1/1 %s=" % (msgid, token)

    def refusal(name: str, lines: List[str], reason: str, sender: str = "Alice", target: str = ROOM,
                layer: str = "fernet-ttl", keys: str = "room", now: int = TIME) -> Dict[str, Any]:
        return {"name": name, "keys": keys, "layer": layer, "sender": sender, "target": target,
                "time": now, "lines": lines, "reason": reason}

    return [
        refusal("old-version", [old], "other-version"),
        refusal("newer-version", ["+sc3 fernet-ttl %s 1/1 AAAA" % (msgid,)], "other-version"),
        refusal("unknown-layer", ["%s rot13 %s 1/1 AAAA" % (marker, msgid)], "malformed"),
        refusal("padded-token", [fernet + "=="], "malformed"),
        refusal("bit-flipped", [" ".join((marker, layer, msgid, position, flipped))], "tampered"),
        refusal("other-msgid", [" ".join((marker, layer, "A" * 22, position, token))], "tampered"),
        refusal("re-attributed", [fernet], "re-attributed", sender="mallory"),
        refusal("expired", [fernet], "expired", now=TIME + 36),
        refusal("from-future", [fernet], "from-future", now=TIME - 6),
        refusal("downgraded", messages["plain"]["lines"], "unprotected"),
        refusal("weaker-layer", messages["fernet"]["lines"], "lower-layer"),
        refusal("weaker-unauthenticated", messages["aes-ctr"]["lines"], "unprotected"),
        refusal("lower-than-signed", messages["fernet-ttl"]["lines"], "lower-layer", layer="signed"),
        refusal("signed-unknown-signer", messages["signed-200-key-left-out"]["lines"], "unknown-signer",
                layer="signed"),
    ]


def _document(builder: _Builder) -> Dict[str, Any]:
    keys = [e for e in builder.entries if "layer_keys" in e]
    identities = [e for e in builder.entries if "private_key" in e]
    messages = [e for e in builder.entries if "lines" in e]
    by_name = {m["name"]: m for m in messages}
    return {
        "description": "securechat wire format test vectors (docs/wire.md); regenerate: python3 bench/wirevectors.py",
        "wire_version": WIRE_VERSION,
        "constants": {
            "marker": MARKER,
            "salt_context": SALT_CONTEXT.hex(),
            "layer_key_info_prefix": LAYER_INFO_PREFIX.hex(),
            "room_fingerprint_context": ROOM_FINGERPRINT_CONTEXT.hex(),
            "identity_fingerprint_context": IDENTITY_FINGERPRINT_CONTEXT.hex(),
            "room_secret_check_context": SECRET_CHECK_CONTEXT.hex(),
            "room_secret_info": SECRET_KEY_INFO.hex(),
            "sign_context": SIGN_CONTEXT.hex(),
            "sign_view_context": SIGN_VIEW_CONTEXT.hex(),
            "view_chain_context": CHAIN_CONTEXT.hex(),
            "view_member_context": MEMBER_TAG_CONTEXT.hex(),
        },
        "kdf": {"iterations": TEST_KDF.iterations, "lanes": TEST_KDF.lanes, "memory_cost_kib": TEST_KDF.memory_cost,
                "note": "the cheapest Argon2id parameters: for vectors only; people get t=3, p=4, 64 MiB"},
        "ttl": 30,
        "max_skew": 5,
        "casefold": [{"in": name, "out": rfc1459_casefold(name)}
                     for name in ("Alice", "[Bob]", "Z\\~", "#Lab[1]", "ÉLODIE")],
        "direct_targets": [{"nicks": list(nicks), "target": direct_target(*nicks)}
                           for nicks in (("Alice", "bob"), ("bob", "ALICE"), ("[x]", "{X}"))],
        "keys": keys,
        "identities": identities,
        "messages": messages,
        "refusals": _refusals(builder, by_name),
    }


def main(argv: Optional[List[str]] = None) -> int:
    return vectorfile.main(build, PATH, __doc__.split("\n\n")[0], argv)


if __name__ == "__main__":
    sys.exit(main())
