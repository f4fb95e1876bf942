"""
The sessions vectors (docs/vectors/sessions-v1.json), both ways: our code,
run again from the fixed inputs, makes the file byte for byte; and an opener
written here from docs/wire.md ("Sessions") alone, with nothing but
C{cryptography} and the standard library, derives every key, checks every
signature and opens every message in it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import struct
from typing import Any, Dict, Tuple

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from twisted.trial.unittest import SynchronousTestCase

from bench import sessionvectors, vectorfile

FOLD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ[]\\~", "abcdefghijklmnopqrstuvwxyz{}|^")


def _vectors() -> Dict[str, Any]:
    with open(sessionvectors.PATH, encoding="utf-8") as handle:
        return json.load(handle)  # type: ignore[no-any-return]


def _hkdf(secret: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(secret)


def _x_public(private: bytes) -> bytes:
    return X25519PrivateKey.from_private_bytes(private).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def _dh(private: bytes, public: bytes) -> bytes:
    return X25519PrivateKey.from_private_bytes(private).exchange(X25519PublicKey.from_public_bytes(public))


def _kdf_rk(root: bytes, dh: bytes) -> Tuple[bytes, bytes]:
    out = _hkdf(dh, root, b"securechat/s1 ratchet", 64)
    return out[:32], out[32:]


def _kdf_ck(chain: bytes) -> Tuple[bytes, bytes]:
    return hmac.new(chain, b"\x01", hashlib.sha256).digest(), hmac.new(chain, b"\x02", hashlib.sha256).digest()


def _kdf_sc(chain: bytes) -> Tuple[bytes, bytes]:
    """The sender chains' KDF (C3): keyed BLAKE2b-512, empty message, person "securechat/s1 sc"."""
    out = hashlib.blake2b(b"", key=chain, digest_size=64, person=b"securechat/s1 sc").digest()
    return out[:32], out[32:]


def _name(text: str) -> bytes:
    raw = text.translate(FOLD).encode("utf-8")
    return bytes((len(raw),)) + raw


class SessionVectorTests(SynchronousTestCase):
    def test_file_is_current(self) -> None:
        """Regenerated from its fixed inputs, the file comes out byte for byte the same."""
        with open(sessionvectors.PATH, encoding="utf-8") as handle:
            self.assertEqual(handle.read(), vectorfile.dumps(sessionvectors.build()))

    def _handshake(self) -> Tuple[Dict[str, Any], bytes, bytes]:
        """Steps H1-H6 of docs/wire.md: (vectors, session id, root key), every field checked."""
        hs = _vectors()["handshake"]
        init, reply, finish = (bytes.fromhex(hs[name]) for name in ("init", "reply", "finish"))
        id_i = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(hs["initiator_identity_private"])).public_key()
        id_r = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(hs["responder_identity_private"])).public_key()
        raw_i, raw_r = (key.public_bytes(Encoding.Raw, PublicFormat.Raw) for key in (id_i, id_r))
        eph_i = _x_public(bytes.fromhex(hs["initiator_ephemeral_private"]))
        eph_r = _x_public(bytes.fromhex(hs["responder_ephemeral_private"]))
        ratchet_i = _x_public(bytes.fromhex(hs["initiator_ratchet_private"]))
        self.assertEqual(init, b"\x01\x01" + raw_i + eph_i)
        self.assertEqual(reply[:66], b"\x02\x01" + raw_r + eph_r)
        self.assertEqual(finish[:34], b"\x03\x01" + ratchet_i)
        transcript = b"".join((
            b"securechat/s1 handshake\x00", _name(hs["initiator_nick"]), _name(hs["responder_nick"]),
            raw_i, eph_i, raw_r, eph_r,
        ))  # fmt: skip
        self.assertEqual(transcript.hex(), hs["transcript"])
        id_r.verify(reply[66:], b"securechat/s1 reply\x00" + transcript)
        id_i.verify(finish[34:], b"securechat/s1 finish\x00" + transcript + ratchet_i)
        session_id = hashlib.sha256(transcript).digest()
        self.assertEqual(session_id.hex(), hs["session_id"])
        shared = _dh(bytes.fromhex(hs["initiator_ephemeral_private"]), eph_r)
        self.assertEqual(shared, _dh(bytes.fromhex(hs["responder_ephemeral_private"]), eph_i))
        root = _hkdf(shared, session_id, b"securechat/s1 root", 32)
        self.assertEqual(root.hex(), hs["root_key"])
        return hs, session_id, root

    def test_handshake(self) -> None:
        self._handshake()

    def test_ratchet(self) -> None:
        """Steps R1-R5: the initiator's chain, the responder's step on FINISH, a step each way after."""
        hs, session_id, root = self._handshake()
        vectors = _vectors()["ratchet"]
        ratchet_i = bytes.fromhex(hs["initiator_ratchet_private"])
        eph_r = bytes.fromhex(hs["responder_ephemeral_private"])
        r_b0 = bytes.fromhex(vectors["responder_ratchet_privates"][0])
        r_a0 = bytes.fromhex(vectors["initiator_ratchet_privates"][0])
        rk1, chain_i = _kdf_rk(root, _dh(ratchet_i, _x_public(eph_r)))  # R1
        rk2, chain_r = _kdf_rk(rk1, _dh(r_b0, _x_public(ratchet_i)))  # R2 (the responder's first sending chain)
        rk3, chain_i2 = _kdf_rk(rk2, _dh(r_a0, _x_public(r_b0)))  # R4 (after the responder's message)
        expected = [
            (chain_i, _x_public(ratchet_i), 0, 0),
            (None, _x_public(ratchet_i), 0, 1),
            (chain_r, _x_public(r_b0), 0, 0),
            (chain_i2, _x_public(r_a0), 2, 0),
        ]
        chain = b""
        for entry, (start, dh, previous, number) in zip(vectors["messages"], expected):
            message = bytes.fromhex(entry["message"])
            header = struct.pack(">B32sII", 1, dh, previous, number)
            self.assertEqual(message[:41], header)
            chain = start if start is not None else chain
            message_key, chain = _kdf_ck(chain)
            plaintext = ChaCha20Poly1305(message_key).decrypt(bytes(12), message[41:], session_id + header)
            self.assertEqual(plaintext.decode("utf-8"), entry["plaintext"])
        self.assertEqual(len(vectors["messages"]), 4)

    def _check_start(self, record: bytes, room: str, nick: str) -> Tuple[int, bytes, bytes, int]:
        """Steps C1-C2: (flags, chain id, chain key, index) of a verified start record."""
        version, flags, chain_id, index, chain_key, identity = struct.unpack_from(">BB16sI32s32s", record)
        self.assertEqual(version, 1)
        body = record[:-64]
        self.assertEqual(body[struct.calcsize(">BB16sI32s32s") :], _name(room) + _name(nick))
        Ed25519PublicKey.from_public_bytes(identity).verify(record[-64:], b"securechat/s1 chain start\x00" + body)
        return flags, chain_id, chain_key, index

    def test_chain(self) -> None:
        """Steps C1-C4: the start record, then each message key down the chain."""
        vectors = _vectors()["chain"]
        flags, chain_id, chain_key, index = self._check_start(
            bytes.fromhex(vectors["start"]), vectors["room"], vectors["nick"]
        )
        self.assertEqual((flags, index), (0, 0))
        self.assertEqual((chain_key.hex(), chain_id.hex()), (vectors["chain_key"], vectors["chain_id"]))
        for entry in vectors["messages"]:
            message = bytes.fromhex(entry["message"])
            header = struct.pack(">B16sI", 1, chain_id, entry["index"])
            self.assertEqual(message[:21], header)
            message_key, chain_key = _kdf_sc(chain_key)
            plaintext = ChaCha20Poly1305(message_key).decrypt(bytes(12), message[21:], header)
            self.assertEqual(plaintext.decode("utf-8"), entry["plaintext"])

    def test_signed_chain(self) -> None:
        """A chain started with flag 0x01: each message ends in an Ed25519 signature of the sender."""
        vectors = _vectors()["signed_chain"]
        record = bytes.fromhex(vectors["start"])
        flags, chain_id, chain_key, index = self._check_start(record, vectors["room"], vectors["nick"])
        self.assertEqual((flags, index, chain_key.hex()), (1, 7, vectors["chain_key"]))
        message = bytes.fromhex(vectors["message"]["message"])
        body, signature = message[:-64], message[-64:]
        Ed25519PublicKey.from_public_bytes(record[54:86]).verify(signature, b"securechat/s1 chain message\x00" + body)
        header = struct.pack(">B16sI", 1, chain_id, 7)
        message_key, _ = _kdf_sc(chain_key)
        plaintext = ChaCha20Poly1305(message_key).decrypt(bytes(12), body[21:], header)
        self.assertEqual(plaintext.decode("utf-8"), vectors["message"]["plaintext"])

    def test_admit(self) -> None:
        """Step A1: the proof of the room secret over a session."""
        vectors = _vectors()["admit"]
        key = _hkdf(bytes.fromhex(vectors["room_key"]), b"", b"securechat/s1 admit\x00" + _name(vectors["room"]), 32)
        proof = hmac.new(
            key, b"securechat/s1 admit proof\x00" + _name(vectors["nick"]) + bytes.fromhex(vectors["session_id"]),
            hashlib.sha256,
        ).digest()  # fmt: skip
        self.assertEqual(proof.hex(), vectors["proof"])
