"""
Codec benchmark: messages/s through each layer against raw Fernet, same run.

Each subject encodes a 200-byte body with one Conversation and decodes the
lines with another (the whole path: envelope, sealing, chunk lines, header
parsing, reassembly, MAC, envelope checks, freshness, replay cache,
sequence numbers).  The anchor is ``cryptography``'s own Fernet encrypting
and decrypting the same body; the C{signed} layer is measured against its own
anchor, raw Fernet plus an Ed25519 sign and verify of the same body (what
any signed-and-encrypted message costs at least).  Subjects are interleaved over several rounds
so a slow moment of the machine hits all of them; the best round counts.
Every decoded message is checked to be accepted with the right body.

    python3 bench/codec.py            # about 30 s
    python3 bench/codec.py --quick    # about 10 s
    python3 bench/codec.py --steps    # also each step of fernet-ttl and of forward (about 15 s more)
    tox -e pypy3 --notest             # once: a PyPy 3.9 env with cryptography 43
    PYTHONPATH=. .tox/pypy3/bin/python bench/codec.py   # PyPy (random keys, no tracemalloc)

The sessions core (securechat.codec.sessions, issue 22) is measured on the
same body: "chain" seals on a room sender chain, base64-encodes the sealed bytes once, decodes and opens them on the
receiver's chain (goal: >= 1.0x raw Fernet); "chain+sig" adds the optional
per-message Ed25519 signature (against Fernet+Ed25519); "ratchet" is the
pairwise double ratchet one way, "ratchet turns" alternates the sender so
every message is a DH step (the worst case of a two-person chat).

Also reported: the replay cache's memory per entry (tracemalloc), and the
envelope's struct encoding against a JSON one (size and pack+unpack speed).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import platform
import re
import struct
import sys
import time
from typing import Callable, Dict, List, Tuple

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

try:
    import securechat  # noqa: F401 (is the package importable as is?)
except ImportError:  # run as a script from anywhere: python3 bench/codec.py
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from securechat.codec import (
    TEST_KDF,
    Accepted,
    Conversation,
    Identity,
    KdfUnavailable,
    ReplayCache,
    RoomKeys,
    derive_room_keys,
)
from securechat.codec.envelope import Envelope, pack, unpack
from securechat.codec.forward import ForwardRoom
from securechat.codec.keys import keys_from_master
from securechat.codec.sessions import (
    ChainStart,
    InboundChain,
    Initiator,
    OutboundChain,
    Ratchet,
    Responder,
    RoomChains,
    admit_proof,
)
from securechat.codec.sessions.primitives import b64decode, b64encode

BODY_BYTES = 200
ROOM = "#bench"
SENDER = "alice"
#: 512 minus CRLF and a relay prefix like ":alice!alice@192.0.2.10 PRIVMSG #bench :".
MAX_PAYLOAD = 512 - 2 - len(":alice!alice@192.0.2.10 PRIVMSG #bench :")
LAYERS = ("plain", "aes-ctr", "fernet", "fernet-ttl", "signed")
ANCHOR = "raw Fernet"
SIGNED_ANCHOR = "Fernet+Ed25519"
SIGNED_TARGET_RATIO = 0.7
FLOOR = "bare fernet"
TARGET_RATIO = 0.8
CHAIN = "chain"
SIGNED_CHAIN = "chain+sig"
RATCHET = "ratchet"
RATCHET_TURNS = "ratchet turns"
SESSION_SUBJECTS = (CHAIN, SIGNED_CHAIN, RATCHET, RATCHET_TURNS)
#: The forward layer's whole line path: a busy sender (batches of 128 signed
#: once) against raw Fernet, and a paced one (every message its own batch,
#: one signature each) against Fernet+Ed25519.
FORWARD_BUSY = "forward"
FORWARD_PACED = "forward paced"
FORWARD_TARGET_RATIO = 1.0
CHAIN_TARGET_RATIO = 1.0
CACHE_ENTRIES = 50_000
CACHE_WINDOW_S = 35

Step = Callable[[], object]


def _body() -> str:
    """A 200-byte printable body (what a chat line looks like, not random bytes)."""
    return base64.b64encode(os.urandom(BODY_BYTES))[:BODY_BYTES].decode("ascii")


def _keys() -> RoomKeys:
    try:
        return derive_room_keys(b"bench passphrase", ROOM, TEST_KDF)
    except KdfUnavailable:  # cryptography < 44 (PyPy 3.9): random keys measure the same path
        return keys_from_master(os.urandom(32), ROOM, TEST_KDF)


def _codec_step(layer: str, body: str, max_payload: int) -> Tuple[Step, int]:
    keys = None if layer == "plain" else _keys()
    # A real clock: the replay cache then ages entries out as it would in use.
    sender = Conversation(ROOM, layer, keys, identity=Identity.generate())
    receiver = Conversation(ROOM, layer, keys, replay=ReplayCache(time.time, max_entries=10_000_000))
    # The stream's first message (on signed, it always carries the public
    # key) is not what a conversation sends most: count the second.
    for line in sender.encode(SENDER, body, max_payload):
        receiver.receive(SENDER, line)
    lines_per_message = len(sender.encode(SENDER, body, max_payload))

    def step() -> None:
        results: List[object] = []
        for line in sender.encode(SENDER, body, max_payload):
            results.extend(receiver.receive(SENDER, line))
        if len(results) != 1 or not isinstance(results[0], Accepted) or results[0].body != body:
            raise AssertionError(f"{layer}: the benchmark message was not accepted: {results!r}")

    return step, lines_per_message


def _chain_step(body: str, sign_messages: bool) -> Step:
    """Seal on a sender chain, one base64 text, open on the receiver's chain."""
    identity = Identity.generate()
    outbound = OutboundChain.new(ROOM, identity, SENDER, sign_messages)
    inbound = InboundChain(ChainStart.verify(outbound.start_record(), ROOM, SENDER, identity.public_key))
    data = body.encode("utf-8")

    def step() -> None:
        text = b64encode(outbound.seal(data))
        if inbound.open(b64decode(text)) != data:
            raise AssertionError("the sender chain round trip failed")

    return step


def _forward_step(body: str, max_payload: int, paced: bool) -> Tuple[Step, int]:
    """
    The forward layer from body to lines and back: sender-chain sealing, the
    batch digest and signature, one base64, chunk lines, header parsing, the
    msgid check, opening, holding and the batch verification.  Busy: the
    send queue never drains, so the sender signs every 128th message (the
    bound); paced: every message ends its batch and is signed on its own.
    """
    clock = time.time
    alice, bob = Identity.generate(), Identity.generate()
    sender_chains, receiver_chains = RoomChains(ROOM, SENDER, alice), RoomChains(ROOM, "bob", bob)
    room_key, session_id = os.urandom(32), os.urandom(32)
    receiver_chains.members[SENDER] = alice.public_key
    receiver_chains.receive_start(SENDER, sender_chains.admit(
        "bob", bob.public_key, bob.public_key, room_key, session_id, admit_proof(room_key, ROOM, "bob", session_id)
    ))  # fmt: skip
    sender = ForwardRoom(sender_chains, alice, clock)
    receiver = ForwardRoom(receiver_chains, bob, clock)
    lines_per_message = len(sender.encode(body, max_payload, last=True))
    receiver.receive(SENDER, sender.encode(body, max_payload, last=True)[0])
    pending = [0]
    batch = sender.max_batch

    def step() -> None:
        results: List[object] = []
        for line in sender.encode(body, max_payload, last=paced):
            results.extend(receiver.receive(SENDER, line))
        pending[0] += 1
        if paced or pending[0] == batch:
            if len(results) != pending[0] or any(
                not isinstance(result, Accepted) or result.body != body for result in results
            ):
                raise AssertionError(f"forward: the benchmark batch was not accepted: {results!r}")
            pending[0] = 0
        elif results:
            raise AssertionError(f"forward: shown before its signature: {results!r}")

    step.sender, step.receiver = sender, receiver  # type: ignore[attr-defined]
    return step, lines_per_message


def _ratchet_step(body: str, turns: bool) -> Step:
    """The pairwise ratchet one way, or (C{turns}) alternating so each message is a DH step."""
    alice, bob = Identity.generate(), Identity.generate()
    initiator, responder = Initiator(alice, SENDER, "bob"), Responder(bob, "bob", SENDER)
    keys_r = responder.finish(initiator.finish(responder.reply(initiator.init(), None), None))
    assert initiator.keys is not None
    sides = [Ratchet.from_session(initiator.keys), Ratchet.from_session(keys_r)]
    data = body.encode("utf-8")
    turn = [0]

    def step() -> None:
        sender = turn[0]
        if turns:
            turn[0] = 1 - sender
        text = b64encode(sides[sender].encrypt(data))
        if sides[1 - sender].decrypt(b64decode(text)) != data:
            raise AssertionError("the ratchet round trip failed")

    return step


def _fernet_step(body: str) -> Step:
    fernet = Fernet(Fernet.generate_key())
    data = body.encode("utf-8")

    def step() -> None:
        if fernet.decrypt(fernet.encrypt(data)) != data:
            raise AssertionError("raw Fernet round trip failed")

    return step


def _fernet_ed25519_step(body: str) -> Step:
    """Raw Fernet encrypt+decrypt plus an Ed25519 sign+verify of the same body."""
    fernet = Fernet(Fernet.generate_key())
    private = Ed25519PrivateKey.generate()
    public = private.public_key()
    data = body.encode("utf-8")

    def step() -> None:
        signature = private.sign(data)
        if fernet.decrypt(fernet.encrypt(data)) != data:
            raise AssertionError("raw Fernet round trip failed")
        public.verify(signature, data)

    return step


def _floor_step(body: str) -> Step:
    """
    The least any fernet codec must do per message, with none of ours:
    a random id, a struct envelope, Fernet, a header line, one regex, Fernet
    again, the timestamp and the envelope read back.  No checks, no result
    objects, no sequence numbers: the ceiling our code is measured against.
    """
    fernet = Fernet(Fernet.generate_key())
    header = struct.Struct(">B8sQBB")
    line_re = re.compile(r"\+sc2 fernet ([A-Za-z0-9_-]{21}[AQgw]) 1/1 ")
    stream = os.urandom(8)

    def step() -> None:
        msgid = os.urandom(16)
        sealed = b"".join(
            (header.pack(2, stream, 1, 5, 6), b"alice", b"#bench", body.encode("utf-8"))
        )
        token = fernet.encrypt_at_time(sealed, int(time.time())).decode("ascii")
        line = f"+sc2 fernet {base64.urlsafe_b64encode(msgid).rstrip(b'=').decode('ascii')} 1/1 {token}"
        piece = line[line_re.match(line).end():]  # type: ignore[union-attr]
        plaintext = fernet.decrypt(piece)
        int.from_bytes(base64.urlsafe_b64decode(piece[:12])[1:9], "big")
        fields = header.unpack_from(plaintext)
        if plaintext[header.size + fields[3] + fields[4]:].decode("utf-8") != body:
            raise AssertionError("floor pipeline round trip failed")

    return step


def _rate(step: Step, seconds: float) -> float:
    """
    Messages per CPU-second of C{step}, run in batches for about C{seconds}.

    CPU time of this process, not wall time: on a shared 2-core machine a
    neighbour's burst then costs us much less accuracy.
    """
    batch = 200
    done = 0
    start = time.process_time()
    deadline = start + seconds
    while True:
        for _ in range(batch):
            step()
        done += batch
        now = time.process_time()
        if now >= deadline:
            return done / (now - start)


def measure_rates(seconds: float, rounds: int, max_payload: int) -> Tuple[Dict[str, float], Dict[str, int]]:
    body = _body()
    subjects: Dict[str, Step] = {
        ANCHOR: _fernet_step(body),
        FLOOR: _floor_step(body),
        SIGNED_ANCHOR: _fernet_ed25519_step(body),
    }
    lines: Dict[str, int] = {}
    for layer in LAYERS:
        subjects[layer], lines[layer] = _codec_step(layer, body, max_payload)
    subjects[CHAIN] = _chain_step(body, False)
    subjects[SIGNED_CHAIN] = _chain_step(body, True)
    subjects[RATCHET] = _ratchet_step(body, False)
    subjects[RATCHET_TURNS] = _ratchet_step(body, True)
    subjects[FORWARD_BUSY], lines[FORWARD_BUSY] = _forward_step(body, max_payload, paced=False)
    subjects[FORWARD_PACED], lines[FORWARD_PACED] = _forward_step(body, max_payload, paced=True)
    best = {name: 0.0 for name in subjects}
    for _ in range(rounds):
        for name, step in subjects.items():
            best[name] = max(best[name], _rate(step, seconds))
    return best, lines


def replay_cache_bytes_per_entry(entries: int = CACHE_ENTRIES) -> float:
    """Traced memory of a cache holding C{entries} ids over a 35 s window, per entry."""
    try:
        import tracemalloc
    except ImportError:  # PyPy has no tracemalloc
        return float("nan")
    start = time.time()
    clock = [start - CACHE_WINDOW_S]  # started a window ago: its floor lets the window in
    ids = [os.urandom(16) for _ in range(entries)]
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    cache = ReplayCache(lambda: clock[0], max_entries=entries)
    clock[0] = start
    for number, msgid in enumerate(ids):
        cache.admit(msgid, int(start) - (number * (CACHE_WINDOW_S - 1)) // entries)
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    if len(cache) != entries:
        raise AssertionError(f"cache holds {len(cache)}, expected {entries}")
    # The ids were allocated before tracing; in use each id is one more
    # 16-byte bytes object kept alive only by the cache: count it too.
    return (after - before) / entries + sys.getsizeof(ids[0])


def _json_pack(envelope: Envelope) -> bytes:
    return json.dumps(
        {
            "v": envelope.version,
            "sender": envelope.sender,
            "target": envelope.target,
            "stream": envelope.stream.hex(),
            "seq": envelope.seq,
            "body": envelope.body,
        },
        separators=(",", ":"),
    ).encode("utf-8")


def _json_unpack(data: bytes) -> Envelope:
    fields = json.loads(data)
    return Envelope(
        fields["sender"],
        fields["target"],
        bytes.fromhex(fields["stream"]),
        fields["seq"],
        fields["body"],
        fields["v"],
    )


def envelope_comparison(seconds: float) -> Dict[str, Tuple[int, float]]:
    envelope = Envelope(SENDER, ROOM, os.urandom(8), 12345, _body())
    result = {}
    for name, packer, unpacker in (("struct", pack, unpack), ("json", _json_pack, _json_unpack)):
        if unpacker(packer(envelope)) != envelope:
            raise AssertionError(f"{name} envelope does not round-trip")
        rate = _rate(lambda: unpacker(packer(envelope)), seconds)  # noqa: B023 (used at once)
        result[name] = (len(packer(envelope)) - len(envelope.body.encode("utf-8")), rate)
    return result


def step_costs(repeat: int = 5, number: int = 20_000) -> List[Tuple[str, float]]:
    """
    Microseconds per call of each step of the fernet-ttl path, timed alone
    (best of C{repeat} runs of C{number} calls), next to raw Fernet's two
    halves.  Timed alone, steps look cheaper than in the loop, where the
    interpreter runs cold after each call into OpenSSL.
    """
    import timeit

    from securechat.codec.chunks import Reassembler, decode_msgid, encode_msgid, parse_line, split_token
    from securechat.codec.envelope import decode_body, pack_fields, read_fields
    from securechat.codec.layers import FernetSealer
    from securechat.codec.replay import check_fresh
    from securechat.codec.sequence import SequenceTracker

    body = _body()
    keys = _keys()
    fernet = Fernet(Fernet.generate_key())
    data = body.encode("utf-8")
    sealer = FernetSealer(keys.for_layer("fernet-ttl"), "fernet-ttl")
    msgid, stream, now = os.urandom(16), os.urandom(8), int(time.time())
    envelope = pack_fields(SENDER, ROOM, stream, 1, body)
    token = sealer.seal(envelope, now, msgid)
    line = split_token("fernet-ttl", encode_msgid(msgid), token, MAX_PAYLOAD, 256)[0]
    chunk = parse_line(line, 256)
    fields = read_fields(envelope)
    reassembler = Reassembler(time.time)
    ids = iter([os.urandom(16) for _ in range(repeat * number)])
    cache = ReplayCache(time.time, max_entries=10_000_000)
    seqs = iter(range(1, repeat * number + 1))
    tracker = SequenceTracker()
    fernet_token = fernet.encrypt(data)
    steps: List[Tuple[str, Step]] = [
        ("raw Fernet encrypt", lambda: fernet.encrypt(data)),
        ("raw Fernet decrypt", lambda: fernet.decrypt(fernet_token)),
        ("msgid (os.urandom)", lambda: os.urandom(16)),
        ("envelope pack", lambda: pack_fields(SENDER, ROOM, stream, 1, body)),
        ("seal (Fernet, IV = msgid)", lambda: sealer.seal(envelope, now, msgid)),
        ("cut into lines", lambda: split_token("fernet-ttl", encode_msgid(msgid), token, MAX_PAYLOAD, 256)),
        ("parse the header", lambda: parse_line(line, 256)),
        ("reassembly (1/1)", lambda: reassembler.add(SENDER, SENDER, chunk)),
        ("msgid from header", lambda: decode_msgid(chunk.msgid)),
        ("open (HMAC, CBC)", lambda: sealer.open(token, msgid)),
        ("envelope fields", lambda: read_fields(envelope)),
        ("freshness", lambda: check_fresh(now, now + 1.0, 30, 5)),
        ("replay cache admit", lambda: cache.admit(next(ids), now)),
        ("sequence number", lambda: tracker.observe(SENDER, stream, next(seqs))),
        ("body decode", lambda: decode_body(envelope, fields)),
        ("result object", lambda: Accepted("fernet-ttl", SENDER, ROOM, body, "authenticated+fresh", chunk.msgid, 1)),
    ]
    return [(name, min(timeit.repeat(step, number=number, repeat=repeat)) / number * 1e6) for name, step in steps]


def forward_step_costs(messages: int = 5_000, rounds: int = 5) -> List[Tuple[str, float]]:
    """
    Microseconds per message of the C{forward} layer's halves in their loop
    (a busy sender: one batch signature per 128), next to raw Fernet's, and
    of the steps every message pays, timed alone (and the pairwise ratchet's
    HMAC chain KDF, which the sender chains' BLAKE2b replaced); best of
    C{rounds} of C{messages}, in CPU time.  The receiver's half is split into the lines
    that only open and hold a message and the batch's last line (which also
    verifies the signature and builds every result), per message.
    """
    import timeit

    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

    from securechat.codec.forward import _ONE_PIECE_RE
    from securechat.codec.layers import b64decode as strict_b64decode
    from securechat.codec.sessions.primitives import chain_step, sender_chain_step

    body = _body()
    data = body.encode("utf-8")
    fernet = Fernet(Fernet.generate_key())
    fernet_token = fernet.encrypt(data)
    clock = time.process_time
    best: Dict[str, float] = {}

    def keep(name: str, seconds: float) -> None:
        best[name] = min(best.get(name, seconds), seconds)

    for _ in range(rounds):
        start = clock()
        for _ in range(messages):
            fernet.encrypt(data)
        keep("raw Fernet encrypt", clock() - start)
        start = clock()
        for _ in range(messages):
            fernet.decrypt(fernet_token)
        keep("raw Fernet decrypt", clock() - start)
        step, _ = _forward_step(body, MAX_PAYLOAD, paced=False)  # a fresh pair: same setup as the rates
        sender, receiver = step.sender, step.receiver  # type: ignore[attr-defined]
        start = clock()
        lines = [sender.encode(body, MAX_PAYLOAD, last=False) for _ in range(messages)]
        keep("forward: send (seal, sign 1/128, line)", clock() - start)
        # The clock is read around the batch's last lines only (its cost
        # would swamp a line), the rest is the whole loop's time minus theirs.
        ended = 0.0
        shown = 0
        batch_end = sender.max_batch - 1
        start_all = clock()
        for number, message_lines in enumerate(lines):
            if number % sender.max_batch == batch_end:
                start = clock()
                for line in message_lines:
                    shown += len(receiver.receive(SENDER, line))
                ended += clock() - start
            else:
                for line in message_lines:
                    shown += len(receiver.receive(SENDER, line))
        total = clock() - start_all
        if shown != messages - messages % sender.max_batch:
            raise AssertionError(f"forward steps: {shown} of {messages} messages shown")
        keep("forward: receive, open and hold", total - ended)
        keep("forward: receive, batch end (verify, show)", ended)
    costs = [(name, seconds / messages * 1e6) for name, seconds in best.items()]

    key = os.urandom(32)
    header = os.urandom(21)
    sealed = ChaCha20Poly1305(key).encrypt(bytes(12), data, header)
    line = lines[0][0]
    token = line[_ONE_PIECE_RE.match(line).end() :]  # type: ignore[union-attr]
    steps: List[Tuple[str, Step]] = [
        ("sender chain KDF (BLAKE2b)", lambda: sender_chain_step(key)),
        ("ratchet's chain_step (HMAC x2)", lambda: chain_step(key)),
        ("ChaCha20-Poly1305 seal", lambda: ChaCha20Poly1305(key).encrypt(bytes(12), data, header)),
        ("ChaCha20-Poly1305 open", lambda: ChaCha20Poly1305(key).decrypt(bytes(12), sealed, header)),
        ("SHA-256 of the message", lambda: hashlib.sha256(header + sealed).digest()),
        ("strict base64 of the token", lambda: strict_b64decode(token)),
        ("the one-piece line's regex", lambda: _ONE_PIECE_RE.match(line)),
    ]
    number = 20_000
    costs += [(name, min(timeit.repeat(call, number=number, repeat=rounds)) / number * 1e6) for name, call in steps]
    return costs


def main(argv: List[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter measurements (about 10 s)")
    parser.add_argument(
        "--max-payload", type=int, default=MAX_PAYLOAD,
        help=f"line budget in bytes (default {MAX_PAYLOAD}: 512 minus CRLF and a relay prefix)",
    )
    parser.add_argument("--steps", action="store_true",
                        help="also time each step of the fernet-ttl path alone, and the forward layer's")  # fmt: skip
    options = parser.parse_args(argv)
    seconds, rounds = (0.5, 2) if options.quick else (1.0, 4)

    print(f"# securechat codec benchmark: {platform.python_implementation()} {platform.python_version()}, "
          f"{os.cpu_count()} CPUs, {BODY_BYTES} B bodies, max_payload {options.max_payload} B, "
          f"best of {rounds} x {seconds} s")
    rates, lines = measure_rates(seconds, rounds, options.max_payload)
    anchor = rates[ANCHOR]
    print(f"{'subject':<12} {'lines/msg':>9} {'msgs/s':>10} {'vs raw Fernet':>14}")
    print(f"{ANCHOR:<12} {'-':>9} {anchor:>10,.0f} {1.0:>13.2f}x")
    print(f"{FLOOR:<12} {1:>9} {rates[FLOOR]:>10,.0f} {rates[FLOOR] / anchor:>13.2f}x"
          "  (the least any fernet codec does)")
    for layer in LAYERS:
        print(f"{layer:<12} {lines[layer]:>9} {rates[layer]:>10,.0f} {rates[layer] / anchor:>13.2f}x")
    print(f"{SIGNED_ANCHOR:<12} {'-':>9} {rates[SIGNED_ANCHOR]:>10,.0f} {rates[SIGNED_ANCHOR] / anchor:>13.2f}x"
          "  (the signed layer's anchor)")
    ratio = rates["fernet-ttl"] / anchor
    verdict = "meets" if ratio >= TARGET_RATIO else "MISSES"
    print(f"fernet-ttl / raw Fernet = {ratio:.2f}x: {verdict} the {TARGET_RATIO}x goal")
    signed_ratio = rates["signed"] / rates[SIGNED_ANCHOR]
    verdict = "meets" if signed_ratio >= SIGNED_TARGET_RATIO else "MISSES"
    print(f"signed / (raw Fernet + Ed25519 sign+verify) = {signed_ratio:.2f}x: "
          f"{verdict} the {SIGNED_TARGET_RATIO}x goal")

    print("sessions core (issue 22), sealed bytes + one base64 (no line, no envelope):")
    for name, anchor_name in ((CHAIN, ANCHOR), (SIGNED_CHAIN, SIGNED_ANCHOR), (RATCHET, ANCHOR),
                              (RATCHET_TURNS, ANCHOR)):
        print(f"  {name:<14} {rates[name]:>10,.0f} msgs/s {rates[name] / rates[anchor_name]:>6.2f}x {anchor_name}")
    chain_ratio = rates[CHAIN] / anchor
    verdict = "meets" if chain_ratio >= CHAIN_TARGET_RATIO else "MISSES"
    print(f"chain / raw Fernet = {chain_ratio:.2f}x: {verdict} the {CHAIN_TARGET_RATIO}x goal")
    print("the forward layer, whole line path (lines, batch signatures, held until signed):")
    for name, anchor_name in ((FORWARD_BUSY, ANCHOR), (FORWARD_PACED, SIGNED_ANCHOR)):
        print(f"  {name:<14} {lines[name]:>2} line(s) {rates[name]:>10,.0f} msgs/s "
              f"{rates[name] / rates[anchor_name]:>6.2f}x {anchor_name}")
    forward_ratio = rates[FORWARD_BUSY] / anchor
    verdict = "meets" if forward_ratio >= FORWARD_TARGET_RATIO else "MISSES"
    print(f"forward (busy, one signature per 128) / raw Fernet = {forward_ratio:.2f}x: "
          f"{verdict} the {FORWARD_TARGET_RATIO}x goal")

    per_entry = replay_cache_bytes_per_entry()
    if per_entry == per_entry:  # not NaN: tracemalloc exists here
        print(f"replay cache: {per_entry:.0f} bytes per entry ({CACHE_ENTRIES:,} entries over {CACHE_WINDOW_S} s)")
    else:
        print("replay cache: not measured (no tracemalloc on this interpreter)")

    comparison = envelope_comparison(seconds)
    (struct_overhead, struct_rate), (json_overhead, json_rate) = comparison["struct"], comparison["json"]
    print(f"envelope struct: {struct_overhead} B + body, {struct_rate:,.0f} pack+unpack/s; "
          f"json: {json_overhead} B + body, {json_rate:,.0f}/s; struct is {struct_rate / json_rate:.1f}x faster")
    if options.steps:
        print("fernet-ttl path, each step timed alone (us per call; each message sends and receives once,")
        print("and the sender also records its own msgid and sequence number):")
        for name, cost in step_costs():
            print(f"  {name:<28} {cost:6.2f}")
        print("forward, a busy sender's halves in their loop (us per message, the batch end's share spread")
        print("over its 128 messages), then steps every message pays, timed alone (us per call):")
        for name, cost in forward_step_costs():
            print(f"  {name:<42} {cost:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
