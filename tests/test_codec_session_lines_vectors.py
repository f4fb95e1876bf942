"""
The session-lines vectors (docs/vectors/session-lines-v1.json), both ways:
our framing, run again from the fixed inputs, makes the file byte for byte;
and a reader written here from docs/wire.md ("Session lines") alone puts
the lines back together, checks every rule of their shape, and opens every
ratchet message to its record with keys derived as in "Sessions".
"""

from __future__ import annotations

import base64
import json
import re
import struct
from typing import Any, Dict, List

from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from twisted.trial.unittest import SynchronousTestCase

from bench import sessionlinevectors, vectorfile
from securechat.codec.errors import Malformed
from securechat.codec.sessions.framing import frame, parse_session_line, unframe, unpack_record

from . import test_codec_sessions_vectors as sessions
from .test_codec_sessions_vectors import _dh, _kdf_ck, _kdf_rk, _vectors, _x_public

LINE = re.compile(r"\A\+scs1 (init|reply|finish|msg) ([A-Za-z0-9_-]{21}[AQgw]) ([1-9][0-9]?)/([1-9][0-9]?) (\S+)\Z")
FIRST_BYTE = {"init": 1, "reply": 2, "finish": 3, "msg": 1}


def _lines() -> Dict[str, Any]:
    with open(sessionlinevectors.PATH, encoding="utf-8") as handle:
        return json.load(handle)  # type: ignore[no-any-return]


def _read(lines: List[str], max_payload: int) -> tuple:
    """(kind, msgid bytes, codec bytes) of one framed message, every rule of docs/wire.md checked."""
    fields = [LINE.match(line) for line in lines]
    assert all(fields), lines
    kinds = {match.group(1) for match in fields}
    msgids = {match.group(2) for match in fields}
    totals = {int(match.group(4)) for match in fields}
    assert len(kinds) == len(msgids) == len(totals) == 1
    total = totals.pop()
    assert [int(match.group(3)) for match in fields] == list(range(1, total + 1))
    pieces = [match.group(5) for match in fields]
    assert all(len(piece) % 4 == 0 for piece in pieces[:-1])
    assert all(len(line.encode("ascii")) <= max_payload for line in lines)
    token = "".join(pieces)
    data = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    msgid = base64.urlsafe_b64decode(msgids.pop() + "==")
    kind = kinds.pop()
    assert data[0] == FIRST_BYTE[kind]
    return kind, msgid, data


class SessionLineVectorTests(SynchronousTestCase):
    def test_file_is_current(self) -> None:
        with open(sessionlinevectors.PATH, encoding="utf-8") as handle:
            self.assertEqual(handle.read(), vectorfile.dumps(sessionlinevectors.build()))

    def test_handshake_lines(self) -> None:
        """The three handshake messages of sessions-v1.json, framed: read back byte for byte."""
        vectors = _lines()
        handshake = _vectors()["handshake"]
        for entry in vectors["handshake"]:
            kind, msgid, data = _read(entry["lines"], vectors["max_payload"])
            self.assertEqual((kind, msgid.hex(), data.hex()), (entry["kind"], entry["msgid"], entry["bytes"]))
            self.assertEqual(data.hex(), handshake[kind])
        self.assertEqual([len(entry["lines"]) for entry in vectors["handshake"]], [1, 2, 1])

    def test_record_lines(self) -> None:
        """The initiator's first chain (R1, R3): each message opened to its record, kind byte then body."""
        vectors = _lines()
        hs, session_id, root = sessions.SessionVectorTests._handshake(self)  # type: ignore[arg-type]
        ratchet_i = bytes.fromhex(hs["initiator_ratchet_private"])
        _, chain = _kdf_rk(root, _dh(ratchet_i, _x_public(bytes.fromhex(hs["responder_ephemeral_private"]))))
        for number, entry in enumerate(vectors["messages"]):
            kind, _, message = _read(entry["lines"], vectors["max_payload"])
            self.assertEqual((kind, message.hex()), ("msg", entry["message"]))
            header = struct.pack(">B32sII", 1, _x_public(ratchet_i), 0, number)
            self.assertEqual(message[:41], header)
            message_key, chain = _kdf_ck(chain)
            record = ChaCha20Poly1305(message_key).decrypt(bytes(12), message[41:], session_id + header)
            self.assertEqual((record[0], record[1:].hex()), (entry["record_kind"], entry["body"]))
        self.assertEqual([record[0] for record in [bytes.fromhex(m["record"]) for m in vectors["messages"]]],
                         [0x01, 0x01, 0x10, 0x02])
        # The REFUSAL-HINT record's body is a refusal hint's line, as docs/wire.md specifies it.
        from securechat.client.core.hints import parseHint

        hint = parseHint(bytes.fromhex(vectors["messages"][3]["body"]).decode("utf-8"))
        self.assertEqual((hint.conversation, hint.reason, hint.count), ("#lab", "tampered", 1))
        self.assertGreater(len(vectors["messages"][1]["lines"]), 1)

    def test_our_reader_agrees(self) -> None:
        """The codec's own reader takes every vector line, and frames them again identically."""
        vectors = _lines()
        for entry in vectors["handshake"] + vectors["messages"]:
            chunks = [parse_session_line(line) for line in entry["lines"]]
            data = unframe(chunks[0].layer, "".join(chunk.piece for chunk in chunks))
            self.assertEqual(frame(chunks[0].layer, data, vectors["max_payload"], bytes.fromhex(entry["msgid"])),
                             entry["lines"])
        for entry in vectors["messages"]:
            self.assertEqual(unpack_record(bytes.fromhex(entry["record"]))[0], entry["record_kind"])


class FramingRefusalTests(SynchronousTestCase):
    """Lines that are not exactly the shape are refused, never guessed."""

    def test_bad_lines(self) -> None:
        good = _lines()["handshake"][0]["lines"][0]
        for bad in (
            good.replace("init", "INIT"),
            good.replace(" 1/1 ", " 0/1 "),
            good.replace(" 1/1 ", " 2/1 "),
            good.replace(" 1/1 ", " 1/65 "),
            good.replace(" 1/1 ", " 01/1 "),
            good.replace("+scs1", "+scs2"),
            good.split(" 1/1 ")[0] + " 1/1 ",
            "+scs1 msg short 1/1 AAAA",
        ):
            self.assertRaises(Malformed, parse_session_line, bad)

    def test_bad_tokens(self) -> None:
        self.assertRaises(Malformed, unframe, "msg", "AgE")  # a reply's first byte, framed as msg
        self.assertRaises(Malformed, unframe, "init", "AQE=")  # padding is not base64 here
        self.assertRaises(Malformed, unframe, "init", "AQF")  # unused bits set
        self.assertRaises(Malformed, unframe, "init", "")

    def test_unknown_record_kinds(self) -> None:
        for kind in (0x00, 0x03, 0x0F, 0x20, 0xFF):  # 0x02: a refusal hint since issue 22's second pass
            self.assertRaises(Malformed, unpack_record, bytes((kind,)) + b"x")
        self.assertRaises(Malformed, unpack_record, b"")

    def test_budget(self) -> None:
        data = b"\x01" * 3000
        lines = frame("msg", data, 120)
        self.assertTrue(all(len(line) <= 120 for line in lines))
        self.assertRaises(ValueError, frame, "msg", data, 40)
        self.assertRaises(ValueError, frame, "msg", b"\x01" * 40000, 120)
        self.assertRaises(ValueError, frame, "reply", data, 120)
