"""
What the demo's rows need of the forward layer (issue 22), sans-IO: a
member who forges on another's sender chain, and the attacker who, after
the fact, holds stolen keys and the relay's recording (later leak, after
leave, a member of the relay's own).
"""

from __future__ import annotations

import hashlib
import struct
from typing import Any, Callable, Dict, List, Optional, Sequence

from ..codec import Accepted, RoomKeys, rfc1459_casefold
from ..codec.chunks import decode_msgid, encode_msgid, parse_line, split_token
from ..codec.errors import CodecError
from ..codec.forward import ForwardRoom, batch_signed_bytes
from ..codec.identity import Identity
from ..codec.layers import FORWARD, PLAIN, b64decode, b64encode, make_sealer
from ..codec.sessions import RoomChains
from ..codec.sessions.primitives import b64decode as stateBytes
from ..codec.sessions.primitives import seal, sender_chain_step
from ..wire import WireError, parseLine


def forgeOnChain(
    clients: Sequence[Any], room: str, run: int, payload: int, clock: Callable[[], float], line: Any
) -> List[str]:
    """
    carol (the third client) seals a message on the sender's chain, whose
    keys she was handed as a member, right after the intercepted one, and
    signs the batch with the only key she has: her own.
    """
    carol = clients[2]
    sender = rfc1459_casefold(line.sender)
    text = line.message.params[1] if len(line.message.params) > 1 else ""
    fields = text.split(" ", 4)
    if len(fields) != 5 or fields[1] != FORWARD:
        return []
    token = b64decode(fields[4])
    (index,) = struct.unpack_from(">I", token, 1 + 1 + 16)
    state = carol.session.forwardRoute.part.toDict()["rooms"].get(rfc1459_casefold(room))
    chains = None if state is None else state["chains"]["inbound"].get(sender)
    if not chains:
        return []
    chain = chains[-1]
    key, chainId, next_ = stateBytes(chain["chain_key"], 32), stateBytes(chain["chain_id"], 16), int(chain["next"])
    target = index + 1
    for _ in range(max(0, target - next_)):
        _, key = sender_chain_step(key)
    messageKey, _ = sender_chain_step(key)
    body = "run %d: %s writes this as %s: meet at the south door" % (run, carol.nick, line.sender)
    header = struct.pack(">B16sI", 1, chainId, target)
    message = header + seal(messageKey, struct.pack(">Q", int(clock())) + body.encode("utf-8"), header)
    digest = hashlib.sha256(message).digest()
    identity: Identity = carol.session.identity
    signature = identity.sign(batch_signed_bytes(chainId, target, target, [digest]))
    forged = b"\x01" + message + struct.pack(">I", target) + signature
    return split_token(FORWARD, encode_msgid(digest[:16]), b64encode(forged), payload, 256)


def _roomLines(seen: Sequence[Any], sender: str, room: str) -> List[str]:
    """The texts C{sender} said in C{room}, as the relay recorded them (once each)."""
    texts: List[str] = []
    for item in seen:
        try:
            message = parseLine(item.raw)
        except WireError:
            continue
        if (
            message.command == "PRIVMSG"
            and len(message.params) > 1
            and rfc1459_casefold(message.params[0]) == rfc1459_casefold(room)
            and rfc1459_casefold(message.sourceNick or "") == rfc1459_casefold(sender)
            and message.params[1] not in texts
        ):
            texts.append(message.params[1])
    return texts


def _opensWithKeys(keys: Optional[RoomKeys], layer: str, sender: str, room: str, texts: List[str]) -> List[str]:
    """
    What a thief holding the room's keys reads of C{texts}: each token opened
    with its layer's key, whatever its age or signer (freshness and trust are
    a receiver's policy, not a lock on the bytes).
    """
    if keys is None or layer in (PLAIN, FORWARD):
        return []
    pieces: Dict[str, List[str]] = {}
    opened: List[str] = []
    for text in texts:
        try:
            chunk = parse_line(text, 256)
        except CodecError:
            continue
        if chunk.layer in (PLAIN, FORWARD):
            continue
        pieces.setdefault(chunk.msgid, []).append(chunk.piece)
        if len(pieces[chunk.msgid]) < chunk.total:
            continue
        try:
            sealer = make_sealer(chunk.layer, keys.for_layer(chunk.layer))
            plaintext, _ = sealer.open("".join(pieces.pop(chunk.msgid)), decode_msgid(chunk.msgid))
        except (CodecError, ValueError):
            continue
        opened.append(plaintext.decode("utf-8", "replace"))
    return opened


def _opensWithState(state: Optional[Dict[str, Any]], identity: Identity, sender: str, room: str,
                    texts: List[str]) -> List[str]:  # fmt: skip
    """What a thief holding this forward-rooms state opens of C{texts} (its chains, a fresh copy)."""
    if not state:
        return []
    saved = state.get("rooms", {}).get(rfc1459_casefold(room))
    if saved is None:
        return []
    chains = RoomChains.from_dict(saved["chains"], identity)
    opened: List[str] = []
    thief = ForwardRoom(chains, identity, lambda: 0.0, hold_seconds=1e12, ttl=2**62, max_skew=2**62)
    for text in texts:
        for result in thief.receive(sender, text):
            if isinstance(result, Accepted):
                opened.append(result.body)
    # The thief also has the plaintext of what it holds unsigned: count it as read.
    for held in thief._held.values():
        opened.extend(item.body for item in held.values())
    return opened


def leakReads(
    row: str,
    alice: Any,
    bob: Any,
    strangers: Sequence[Any],
    departed: Optional[Dict[str, Any]],
    keys: Optional[RoomKeys],
    seen: Sequence[Any],
    bodies: Sequence[str],
    room: str,
) -> bool:
    """Whether the attacker of C{row} reads any of alice's C{bodies} from the relay's recording."""
    texts = _roomLines(seen, alice.nick, room)
    layer = alice.session.layerFor(room)
    forward = alice.session.forwardRoute.isForward(room)
    opened: List[str] = []
    if row == "later-leak":
        # The room secret and bob's whole state directory, after the conversation.
        if forward:
            opened = _opensWithState(bob.session.forwardRoute.part.toDict(), bob.session.identity, alice.nick, room,
                                     texts)  # fmt: skip
        else:
            opened = _opensWithKeys(keys, layer, alice.nick, room, texts)
    elif row == "after-leave" and departed is not None:
        # carol's keys as she left: the room key, her chains.
        if forward:
            opened = _opensWithState(departed.get("forward"), Identity.generate(), alice.nick, room, texts)
        else:
            opened = _opensWithKeys(departed.get("keys"), layer, alice.nick, room, texts)
    elif row == "relay-member":
        # The client the relay added: what it was shown, or opens with what it holds.
        for stranger in strangers:
            opened += _opensWithKeys(stranger.session.keysFor(room), layer, alice.nick, room, texts)
            opened += _opensWithState(stranger.session.forwardRoute.part.toDict(), stranger.session.identity,
                                      alice.nick, room, texts)  # fmt: skip
    return any(body in text for body in bodies for text in opened)
