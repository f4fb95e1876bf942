"""
The forward-layer vectors (docs/vectors/forward-v1.json), both ways: our
code, run again from the fixed inputs, makes the file byte for byte; and an
opener written here from docs/wire.md ("The forward layer") alone, with
nothing but C{cryptography} and the standard library, reassembles every
line, opens every message on the chain and checks every batch signature,
and reads the view a message carries ("Views on the forward layer").
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import struct
from typing import Any, Dict, List, Tuple

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from twisted.trial.unittest import SynchronousTestCase

from bench import forwardvectors, vectorfile

LINE = re.compile(r"\+sc2 forward ([A-Za-z0-9_-]{21}[AQgw]) ([1-9][0-9]*)/([1-9][0-9]*) ([A-Za-z0-9_-]+)\Z")
FOLD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ[]\\~", "abcdefghijklmnopqrstuvwxyz{}|^")


def _vectors() -> Dict[str, Any]:
    with open(forwardvectors.PATH, encoding="utf-8") as handle:
        return json.load(handle)  # type: ignore[no-any-return]


def _unb64(text: str) -> bytes:
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    assert base64.urlsafe_b64encode(raw).rstrip(b"=").decode() == text, "not the one spelling"
    return raw


def _name(text: str) -> bytes:
    raw = text.translate(FOLD).encode("utf-8")
    return bytes((len(raw),)) + raw


def _tokens(lines: List[str], max_payload: int) -> List[Tuple[bytes, bytes]]:
    """(msgid, token) of each message the lines carry: pieces joined in order."""
    out: List[Tuple[bytes, bytes]] = []
    pieces: Dict[str, Dict[int, str]] = {}
    for line in lines:
        assert len(line.encode("ascii")) <= max_payload
        match = LINE.match(line)
        assert match is not None, line
        msgid, number, total, piece = match.group(1), int(match.group(2)), int(match.group(3)), match.group(4)
        pieces.setdefault(msgid, {})[number] = piece
        if len(pieces[msgid]) == total:
            got = pieces.pop(msgid)
            out.append((_unb64(msgid), _unb64("".join(got[i] for i in range(1, total + 1)))))
    assert not pieces
    return out


class ForwardVectorTests(SynchronousTestCase):
    def test_file_is_current(self) -> None:
        """Regenerated from its fixed inputs, the file comes out byte for byte the same."""
        with open(forwardvectors.PATH, encoding="utf-8") as handle:
            self.assertEqual(handle.read(), vectorfile.dumps(forwardvectors.build()))

    def test_open_every_line(self) -> None:
        """Every message opens on the chain and is shown only under a batch signature of the chain's owner."""
        vectors = _vectors()
        private = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(vectors["identity_private"]))
        public = private.public_key()
        identity = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
        chain_id, chain_key = bytes.fromhex(vectors["chain_id"]), bytes.fromhex(vectors["chain_key"])
        start = bytes.fromhex(vectors["start"])
        body = struct.pack(">BB16sI32s32s", 1, 0, chain_id, 0, chain_key, identity)
        body += _name(vectors["room"]) + _name(vectors["nick"])
        self.assertEqual(start[:-64], body)
        public.verify(start[-64:], b"securechat/s1 chain start\x00" + body)

        digests: Dict[int, bytes] = {}
        opened: Dict[int, str] = {}
        shown: List[str] = []
        key, expected_index = chain_key, 0

        def verify_batch(first: int, last: int, signature: bytes) -> None:
            signed = b"securechat/s1 forward batch\x00" + chain_id + struct.pack(">II", first, last)
            signed += hashlib.sha256(b"".join(digests[i] for i in range(first, last + 1))).digest()
            public.verify(signature, signed)
            shown.extend(opened.pop(i) for i in range(first, last + 1))

        for send in vectors["sends"]:
            for msgid, token in _tokens(send["lines"], send["max_payload"]):
                kind = token[0]
                if kind == 2:
                    self.assertEqual(len(token), 1 + 16 + 8 + 64)
                    self.assertEqual(msgid, hashlib.sha256(token).digest()[:16])
                    self.assertEqual(token[1:17], chain_id)
                    first, last = struct.unpack(">II", token[17:25])
                    verify_batch(first, last, token[25:])
                    continue
                message = token[1:-68] if kind == 1 else token[1:]
                self.assertIn(kind, (0, 1))
                self.assertEqual(msgid, hashlib.sha256(message).digest()[:16])
                version, cid, index = struct.unpack(">B16sI", message[:21])
                self.assertEqual((version, cid, index), (1, chain_id, expected_index))
                keys = hashlib.blake2b(b"", key=key, digest_size=64, person=b"securechat/s1 sc").digest()
                message_key, key = keys[:32], keys[32:]
                plaintext = ChaCha20Poly1305(message_key).decrypt(bytes(12), message[21:], message[:21])
                self.assertEqual(struct.unpack(">Q", plaintext[:8])[0], vectors["time"])
                opened[index] = plaintext[8:].decode("utf-8")
                digests[index] = hashlib.sha256(message).digest()
                expected_index += 1
                if kind == 1:
                    (first,) = struct.unpack(">I", token[-68:-64])
                    verify_batch(first, index, token[-64:])
        self.assertEqual(shown, [send["plaintext"] for send in vectors["sends"] if "plaintext" in send])
        self.assertEqual(opened, {})
        self.assertGreater(len(vectors["sends"][3]["lines"]), 1, "one message is cut into lines")
        self.checkView(vectors, digests)

    def checkView(self, vectors: Dict[str, Any], digests: Dict[int, bytes]) -> None:
        """
        The last message carries carol's view ("Views on the forward layer"):
        NUL, base64url digest, NUL, text; her own chain at #5 and alice's at
        #4, each head a chain over the stream's msgids.
        """
        [send] = [send for send in vectors["sends"] if "view" in send]
        body = send["plaintext"]
        self.assertEqual(body[0], "\x00")
        encoded, text = body[1:].split("\x00", 1)
        self.assertEqual((_unb64(encoded).hex(), text), (send["view"], send["text"]))

        def tag(nick: str) -> bytes:
            return hashlib.sha256(b"securechat/v2 view member\x00" + nick.translate(FOLD).encode()).digest()[:2]

        def head(msgids: List[bytes]) -> bytes:
            value = bytes(12)
            for msgid in msgids:
                value = hashlib.sha256(b"securechat/v2 view chain\x00" + value + msgid).digest()[:12]
            return value

        view, entries = _unb64(encoded), []
        while view:
            member, stream, number = view[:2], view[2:4], view[4]  # seq below 64: one LEB128 byte
            self.assertLess(number, 0x80)
            seq, has_head = divmod(number, 2)
            entries.append((member, stream, seq, view[5:17] if has_head else None))
            view = view[17 if has_head else 5 :]
        own = [digests[index][:16] for index in range(5)]  # msgids of carol's #1-5 (indices 0-4)
        alice = [bytes.fromhex(msgid) for msgid in vectors["alice_msgids"]]
        self.assertEqual(entries, [
            (tag(vectors["nick"]), bytes.fromhex(vectors["chain_id"])[:2], 5, head(own)),
            (tag("alice"), bytes.fromhex(vectors["alice_stream"])[:2], 4, head(alice)),
        ])  # fmt: skip
