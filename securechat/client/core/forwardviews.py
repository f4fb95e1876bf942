"""
Views that agree, on the C{forward} layer: each message carries its
author's view of the room inside what its batch signature covers, compared
with the same logic as on C{signed} (L{securechat.codec.views}) and told
with the same events (L{securechat.client.core.views}).

Where the view sits (docs/wire.md, "Views on the forward layer"): in the
message's text, before it is sealed on the sender's chain, so the chain's
AEAD hides it from the relay and the batch signature makes it the author's:

    body = NUL || base64url(digest) || NUL || text     (a digest carried)
    body = text                                        (none carried)

A text never starts with NUL (an IRC line cannot carry one; a text that
does anyway goes with an empty digest), so the two are never confused and
messages of clients without views read as before.  Streams are the
members' sender chains: the stream id is the chain id, the sequence number
the chain index + 1, and each message steps the chain head with its msgid
(the first 16 bytes of the SHA-256 its batch signature covers).

Sans-IO: the forward route hands us what it seals and what it accepted.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Set, Tuple

from ...codec import Accepted, Rejected
from ...codec.chunks import count_lines, decode_msgid, parse_line
from ...codec.errors import Malformed
from ...codec.forward import TIME, U32
from ...codec.identity import SIGNATURE_BYTES
from ...codec.layers import FORWARD, b64decode, b64encode
from ...codec.names import rfc1459_casefold
from ...codec.sessions import RoomChains
from ...codec.sessions.primitives import TAG_BYTES
from ...codec.sessions.senderchain import HEADER
from ...codec.views import MAX_STREAMS, STREAM_TAG_BYTES, Fits, ViewBook, decode_view, member_tag

#: Opens and closes the digest at the start of a body.
VIEW_MARK = "\x00"
#: A message's token bytes besides its text: kind, chain header, time, AEAD
#: tag, and the batch trailer (first index and signature), which the last
#: message of a batch carries: counted always, so a view never adds a line.
TOKEN_OVERHEAD = 1 + HEADER.size + TIME.size + TAG_BYTES + U32.size + SIGNATURE_BYTES


def carryView(view: bytes, text: str) -> str:
    """The body that carries C{view} before C{text} (C{text} alone when there is no view to carry)."""
    if not view and not text.startswith(VIEW_MARK):
        return text
    return VIEW_MARK + b64encode(view) + VIEW_MARK + text


def splitView(body: str) -> Tuple[bytes, str]:
    """(digest bytes, text) of a body; L{Malformed} if it opens a digest that cannot be read."""
    if not body.startswith(VIEW_MARK):
        return b"", body
    end = body.find(VIEW_MARK, 1)
    if end < 0:
        raise Malformed("a view of the room that is not closed")
    if end == 1:
        return b"", body[2:]
    try:
        view = b64decode(body[1:end])
    except (Malformed, ValueError) as error:
        raise Malformed("a view of the room that is not base64: %s" % (error,)) from None
    decode_view(view)  # Malformed if it is not a digest
    return view, body[end + 1 :]


def viewFits(textBytes: int, maxPayload: int, perMessageSignature: bool) -> Fits:
    """C{fits(length)}: whether a digest of C{length} bytes leaves the message's number of lines as it is."""
    base = TOKEN_OVERHEAD + textBytes + (SIGNATURE_BYTES if perMessageSignature else 0)

    def chars(size: int) -> int:
        return (4 * size + 2) // 3

    try:
        lines = count_lines(FORWARD, chars(base), maxPayload)
    except ValueError:
        return lambda length: False  # the message does not fit at all: encoding says why

    def fits(length: int) -> bool:
        try:
            return count_lines(FORWARD, chars(base + 2 + chars(length)), maxPayload) <= lines
        except ValueError:
            return False

    return fits


class _RoomViews:
    """One forward room's view: the book, the chains it was made for, the chains it knows."""

    __slots__ = ("book", "chains", "known", "sentOn")

    def __init__(self, chains: RoomChains) -> None:
        self.book = ViewBook()
        self.chains = chains
        #: (nick, chain id) of every inbound chain the book was told about.
        self.known: Set[Tuple[str, bytes]] = set()
        #: The chain of ours the book holds our messages of (None: none since it was made).
        self.sentOn: Optional[bytes] = None


class ForwardViews:
    """The forward rooms' views (see the module's docstring)."""

    def __init__(self, nick: Callable[[], str], chains: Callable[[str], Optional[RoomChains]],
                 clock: Callable[[], float]) -> None:  # fmt: skip
        self._nick = nick
        self._chains = chains
        self._clock = clock
        self._rooms: Dict[str, _RoomViews] = {}

    def _room(self, room: str) -> Optional[_RoomViews]:
        """The room's views, made anew when its chains are (the room left the layer, or we left it)."""
        folded = rfc1459_casefold(room)
        chains = self._chains(folded)
        if chains is None:
            self._rooms.pop(folded, None)
            return None
        views = self._rooms.get(folded)
        if views is None or views.chains is not chains:
            # Chains held already (restored after a restart); later ones come by L{chainTaken}.
            views = self._rooms[folded] = _RoomViews(chains)
            self._learnChains(views)
        return views

    def _learnChains(self, views: _RoomViews) -> None:
        """
        Every chain we hold is known to the book from its start: what was
        sealed on it before it reached us was said before we were given it,
        never withheld (a view naming it is no finding); what comes after is
        compared.
        """
        for nick, chains in views.chains.inbound.items():
            for chain in chains:
                key = (nick, chain.chain_id)
                if key not in views.known:
                    if len(views.known) >= 4 * MAX_STREAMS:
                        views.known.clear()
                    views.known.add(key)
                    views.book.observed(nick, chain.chain_id, chain.next_index)

    def chainTaken(self, room: str, nick: str) -> None:
        """A member's chain start was taken: the book learns where it starts."""
        views = self._rooms.get(rfc1459_casefold(room))
        if views is not None:
            self._learnChains(views)

    def memberJoined(self, room: str, nick: str) -> None:
        """C{nick} joined C{room}: what we said before never was for it (no "not reached")."""
        views = self._room(room)
        if views is not None:
            views.book.member_joined(rfc1459_casefold(nick))

    # Sending.

    def seal(self, room: str, text: str, maxPayload: int, encode: Callable[[str], List[str]]) -> List[str]:
        """The lines C{encode} makes of C{text} with our view carried before it (as much as adds no line)."""
        views = self._room(room)
        if views is None:
            return encode(text)
        outbound = views.chains.outbound
        me, stream, seq = rfc1459_casefold(self._nick()), outbound.chain_id, outbound.index + 1
        fits = viewFits(len(text.encode("utf-8")), maxPayload, views.chains.sign_messages)
        lines = encode(carryView(views.book.digest(me, stream, seq, fits), text))
        msgid = decode_msgid(parse_line(lines[-1], len(lines)).msgid)
        views.book.sent(me, stream, seq, int(self._clock()), msgid)
        views.sentOn = stream
        return lines

    # Receiving.

    def received(self, room: str, results: List[Any]) -> List[Any]:
        """C{results} with each accepted message's view taken out of its text and compared with ours."""
        views = self._room(room)
        out: List[Any] = []
        for result in results:
            if views is None or not isinstance(result, Accepted) or result.stream is None or result.seq is None:
                out.append(result)
                continue
            out.append(self._compare(views, result))
        return out

    def _compare(self, views: _RoomViews, result: Accepted) -> Any:
        assert result.stream is not None and result.seq is not None and result.msgid is not None
        sender, seq, msgid = rfc1459_casefold(result.sender), result.seq + 1, b64decode(result.msgid)
        try:
            view, text = splitView(result.body)
        except Malformed as error:
            # Signed by its sender: its client is broken.  The message reached
            # us, so no view calls it withheld; it is not shown half-read.
            views.book.observed(sender, result.stream, seq, msgid)
            return Rejected(FORWARD, result.sender, result.target, Malformed(
                "its view of the room cannot be read (%s): not shown" % (error,)))  # fmt: skip
        entries = decode_view(view) if view else []
        outbound = views.chains.outbound
        if views.sentOn != outbound.chain_id:
            # Our chain's messages are not in the book (none sent since it was
            # made, after a restart): a view naming them is not compared.
            ours = (member_tag(rfc1459_casefold(self._nick())), outbound.chain_id[:STREAM_TAG_BYTES])
            entries = [entry for entry in entries if (entry.member, entry.stream) != ours]
        chains = views.chains
        findings = views.book.received(
            sender, result.stream, seq, result.sent_at or 0, msgid, entries,
            lambda: set(chains.members) | set(chains.inbound),
        )  # fmt: skip
        return result._replace(body=text, views=tuple(findings))
