"""
Test vectors of session lines (docs/wire.md, "Session lines"): the
handshake of ``docs/vectors/sessions-v1.json`` framed as IRC lines, and
ratchet messages on the initiator's first chain carrying records (a TEXT
record on one line, a long one cut into several, a room-layer record, a
refusal hint), from
fixed inputs and msgids: ``docs/vectors/session-lines-v1.json``.
``tests/test_codec_session_lines_vectors.py`` checks that it is current and
reads every line back with a reader written from docs/wire.md alone.

    python3 bench/sessionlinevectors.py            # rewrite the file
    python3 bench/sessionlinevectors.py --check    # exit 1 if the file is stale
"""

from __future__ import annotations

import os
import sys
from typing import Any, Dict, List, Optional

try:
    import securechat  # noqa: F401 (is the package importable as is?)
except ImportError:  # run as a script from anywhere
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench import sessionvectors, vectorfile
from securechat.codec import Identity
from securechat.codec.sessions import Initiator, Ratchet, Responder
from securechat.codec.sessions.framing import (
    KIND_FINISH,
    KIND_INIT,
    KIND_MESSAGE,
    KIND_REPLY,
    REFUSAL_HINT,
    ROOM_RECORDS,
    TEXT,
    frame,
    pack_record,
)

PATH = os.path.join(vectorfile.VECTORS, "session-lines-v1.json")
#: The budget of one line's text (the vectors' max_payload): small, so the long record takes several lines.
MAX_PAYLOAD = 200


def build() -> Dict[str, Any]:
    fixed = sessionvectors._fixed
    alice = Identity.from_private_bytes(fixed("initiator identity"))
    bob = Identity.from_private_bytes(fixed("responder identity"))
    nick_i, nick_r = sessionvectors.INITIATOR_NICK, sessionvectors.RESPONDER_NICK
    initiator = Initiator(alice, nick_i, nick_r, sessionvectors._x25519_keys("initiator"))
    responder = Responder(bob, nick_r, nick_i, sessionvectors._x25519_keys("responder"))
    init = initiator.init()
    reply = responder.reply(init, None)
    finish = initiator.finish(reply, None)
    keys_r = responder.finish(finish)
    assert initiator.keys is not None
    sending = Ratchet.from_session(initiator.keys, sessionvectors._x25519_keys("initiator ratchet"))
    receiving = Ratchet.from_session(keys_r, sessionvectors._x25519_keys("responder ratchet"))

    def msgid(label: str) -> bytes:
        return fixed("line msgid " + label, 16)

    handshake: List[Dict[str, Any]] = []
    for word, data in ((KIND_INIT, init), (KIND_REPLY, reply), (KIND_FINISH, finish)):
        handshake.append({
            "kind": word, "msgid": msgid(word).hex(), "bytes": data.hex(),
            "lines": frame(word, data, MAX_PAYLOAD, msgid(word)),
        })  # fmt: skip
    records: List[Dict[str, Any]] = []
    for label, kind, body in (
        ("text", TEXT, b"hello [Bob], no secret typed"),
        ("long text", TEXT, ("a longer direct message, cut into several lines; " * 6).encode("utf-8")),
        ("room record", ROOM_RECORDS[0], bytes(range(16))),
        ("refusal hint", REFUSAL_HINT, b"\x01SC-REFUSED #lab tampered 1 hgWJ2oE1c3VwsZ0d-9YIqQ\x01"),
    ):
        record = pack_record(kind, body)
        message = sending.encrypt(record)
        assert receiving.decrypt(message) == record
        records.append({
            "label": label, "record_kind": kind, "body": body.hex(), "record": record.hex(),
            "msgid": msgid(label).hex(), "message": message.hex(),
            "lines": frame(KIND_MESSAGE, message, MAX_PAYLOAD, msgid(label)),
        })  # fmt: skip
    return {
        "version": 1,
        "about": "docs/wire.md, Session lines; bytes in hex; the handshake and keys are those of sessions-v1.json",
        "marker": "+scs1",
        "max_payload": MAX_PAYLOAD,
        "initiator_nick": nick_i,
        "responder_nick": nick_r,
        "handshake": handshake,
        "messages": records,
    }


def main(argv: Optional[List[str]] = None) -> int:
    return vectorfile.main(build, PATH, __doc__.split("\n\n")[0], argv)


if __name__ == "__main__":
    sys.exit(main())
