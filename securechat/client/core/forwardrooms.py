"""
Rooms on the C{forward} layer: who gets our sender chain, whose chains we
take, and a new chain whenever someone leaves (docs/security.md, "The
forward layer"; docs/wire.md, "Room records").  Sans-IO: records go out and
come in through the pairwise sessions (L{securechat.client.core.pairwise}),
room lines through C{sendLines}; time from the clock.

Admission, per room and member, never from NAMES alone:

  1. Either side sends C{REQUEST} (the room's name) over the pairwise
     session: when a member joins, when we switch a room to C{forward}.
  2. Once the session is ready, each side sends C{PROOF}: the room's name
     and an admit proof of the room secret bound to that session's id.
  3. A proof that verifies, from a nick the server lists in the room, whose
     identity the pairwise session checked against the trust store (pinned
     or verified), admits it: we hand it our chain's start (C{START}).
  4. A chain start is taken only from a member we admitted; one that comes
     first waits (the latest per member) for its proof.

When a member leaves (PART, QUIT, KICK, or C{/remove nick} by anyone), the
open batch of our chain is signed, a new chain starts, and its start goes
to the members that stay; the leaver's chains are forgotten.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterable, List, Optional, Protocol, Set, Tuple

from cryptography.hazmat.primitives.constant_time import bytes_eq

from ...codec import Identity
from ...codec.errors import CodecError, Downgraded, Replayed, Tampered, UnsupportedVersion
from ...codec.forward import ForwardRoom
from ...codec.names import rfc1459_casefold
from ...codec.results import Rejected
from ...codec.sessions import NotAdmitted, RoomChains, admit_proof
from ...codec.sessions.primitives import SkippedTooFar
from ...codec.sessions.senderchain import PROOF_BYTES
from .forwardretries import OpeningRetries

#: Record kinds in the room layer's range of the pairwise sessions (0x10-0x1f),
#: from its top (the pairwise part's own tests use the range's first kind).
REQUEST = 0x1D
PROOF = 0x1E
START = 0x1F
RECORD_KINDS = (REQUEST, PROOF, START)
#: 2: sender-chain keys of the BLAKE2b chain KDF.  Format 1 held keys of an
#: HMAC-SHA256 one (never released): refused by name, its file set aside.
STATE_FORMAT = 2
OLD_FORMATS = {1: "its chains step by the sender-chain KDF of before (HMAC-SHA256), not today's (BLAKE2b)"}
#: Rooms on the forward layer at once, and members admitted per room.
MAX_ROOMS = 64
MAX_MEMBERS = 512


class PairwiseSessions(Protocol):
    """What the room layer needs of the pairwise part (its contract)."""

    def sendRecord(self, nick: str, kind: int, body: bytes) -> int: ...

    def onRecord(self, kind: int, callback: Callable[[str, bytes, bytes], None]) -> None: ...

    def onSessionReady(self, callback: Callable[[str, bytes, bytes], None]) -> None: ...

    def sessionId(self, nick: str) -> Optional[bytes]: ...

    def starting(self, nick: str) -> bool: ...


def roomName(room: str) -> bytes:
    """C{u8 length || UTF-8 of the casefolded room}: how a record names its room."""
    raw = rfc1459_casefold(room).encode("utf-8")
    if not raw or len(raw) > 255:
        raise ValueError("a room name is 1-255 bytes")
    return bytes((len(raw),)) + raw


def _readName(body: bytes) -> Tuple[str, bytes]:
    if not body or len(body) < 1 + body[0]:
        raise ValueError("a room record without its room's name")
    # Casefolded here: a peer that names the room otherwise still means it (and never our table's miss).
    return rfc1459_casefold(body[1 : 1 + body[0]].decode("utf-8")), body[1 + body[0] :]


class _ForwardState:
    """One room on the forward layer: its chains, the members the server lists, what waits."""

    __slots__ = ("chains", "forward", "present", "proofsSent", "waitingStarts", "waitingProofs", "full", "rejoined")

    def __init__(self, chains: RoomChains, forward: ForwardRoom, present: Set[str]) -> None:
        self.chains = chains
        self.forward = forward
        self.present = present
        #: Members we sent our proof to over their current session (by session id).
        self.proofsSent: Dict[str, bytes] = {}
        #: A chain start from a member not (yet) admitted: the latest each.
        self.waitingStarts: Dict[str, bytes] = {}
        #: A proof from a nick the server does not list (yet): its JOIN may
        #: still be on its way.  The latest each, judged when it joins.
        self.waitingProofs: Dict[str, Tuple[bytes, bytes]] = {}
        #: Whether the user was told that candidates beyond MAX_MEMBERS are not asked.
        self.full = False
        #: We joined (again) and the server's NAMES for the room has not ended
        #: yet: who it no longer lists left while we were away (L{ForwardRooms.listed}).
        self.rejoined = False


class ForwardRooms:
    """The session's part for rooms on the forward layer (see the module's docstring)."""

    def __init__(
        self,
        pairwise: PairwiseSessions,
        identity: Callable[[], Identity],
        nick: Callable[[], str],
        roomKey: Callable[[str], Optional[bytes]],
        clock: Callable[[], float],
        sendLines: Callable[[str, List[str]], None],
        maxPayload: Callable[[str], int],
        notice: Callable[[str, str], None],
    ) -> None:
        self._pairwise = pairwise
        self._identity = identity
        self._nick = nick
        self._roomKey = roomKey
        self._clock = clock
        self._sendLines = sendLines
        self._maxPayload = maxPayload
        self._notice = notice
        self._rooms: Dict[str, _ForwardState] = {}
        #: Members whose session did not start (their answer budget was spent): asked again later.
        self.retries = OpeningRetries(clock, lambda: rfc1459_casefold(self._nick()))
        #: Set by the adapter: writes L{toDict} NOW (before a message opened
        #: with a chain is shown, before a sealed line leaves); whether it was.
        self.saveNow: Optional[Callable[[], bool]] = None
        #: Keys erased as the state loaded: the file still holds them until the next save.
        self._erasedOnLoad = False
        #: Set by the session: a member proved the secret of C{room}, which is
        #: not on this layer here; whether the room is on it now (we follow).
        self.onProofForRoom: Optional[Callable[[str], bool]] = None
        #: Set by the forward route: C{(room, nick)} a member's chain start was taken (views learn where it starts).
        self.onChainTaken: Optional[Callable[[str, str], None]] = None
        pairwise.onRecord(REQUEST, self._requestReceived)
        pairwise.onRecord(PROOF, self._proofReceived)
        pairwise.onRecord(START, self._startReceived)
        pairwise.onSessionReady(self._sessionReady)

    # The room's life.

    def isForward(self, room: str) -> bool:
        return rfc1459_casefold(room) in self._rooms

    def rooms(self) -> List[str]:
        return sorted(self._rooms)

    def enable(self, room: str, members: Iterable[str]) -> None:
        """
        C{room} is on the forward layer now, with the C{members} the server
        lists (candidates, nothing more): a new chain of ours, and a request
        to each member to prove itself (starting pairwise sessions).
        """
        folded = rfc1459_casefold(room)
        if folded in self._rooms:
            return
        if len(self._rooms) >= MAX_ROOMS:
            raise ValueError(f"at most {MAX_ROOMS} rooms on the forward layer")
        identity = self._identity()
        chains = RoomChains(folded, self._nick(), identity)
        me = rfc1459_casefold(self._nick())
        listed = sorted({rfc1459_casefold(nick) for nick in members} - {me})
        present = set(listed[:MAX_MEMBERS])
        self._rooms[folded] = _ForwardState(chains, ForwardRoom(chains, identity, self._clock), present)
        self._save()
        for nick in sorted(present):
            self._ask(folded, nick)
        if len(listed) > MAX_MEMBERS:
            self._rooms[folded].full = True
            self._notice(folded, f"{folded} lists more than {MAX_MEMBERS} candidates: "
                         f"{listed[MAX_MEMBERS]} and those after are not asked to prove themselves")  # fmt: skip

    def disable(self, room: str) -> None:
        """We left C{room}, or it left the forward layer: its chains are forgotten (keys erased)."""
        if self._rooms.pop(rfc1459_casefold(room), None) is not None:
            self._save()

    def joined(self, room: str, nick: str) -> None:
        """C{nick} joined C{room}: a candidate, asked to prove itself; it reads from now on, if admitted."""
        state = self._rooms.get(rfc1459_casefold(room))
        folded = rfc1459_casefold(nick)
        if state is None:
            return
        if folded == rfc1459_casefold(self._nick()):
            state.rejoined = True  # the next NAMES stands in for the leaves we did not see
            return
        if folded in state.present:
            return  # already a candidate (NAMES lists everyone again)
        if len(state.present) >= MAX_MEMBERS:
            # Each candidate is asked over a pairwise session (a handshake): a relay's made-up JOINs stop here.
            if len(state.present) == MAX_MEMBERS and not state.full:
                state.full = True
                self._notice(state.chains.room, f"{state.chains.room} lists more than {MAX_MEMBERS} candidates: "
                             f"{nick} and those after are not asked to prove themselves")  # fmt: skip
            return
        state.full = False
        state.present.add(folded)
        self._ask(state.chains.room, folded)
        waiting = state.waitingProofs.pop(folded, None)
        if waiting is not None:
            self._proofReceived(folded, *waiting)

    def left(self, room: str, nick: str) -> None:
        """
        C{nick} left C{room} (PART, KICK, QUIT, /remove): our open batch is
        signed, a new chain starts, and goes to the members that stay.
        """
        state = self._rooms.get(rfc1459_casefold(room))
        folded = rfc1459_casefold(nick)
        if state is None or folded == rfc1459_casefold(self._nick()):
            return
        state.present.discard(folded)
        state.waitingProofs.pop(folded, None)
        state.proofsSent.pop(folded, None)
        state.waitingStarts.pop(folded, None)
        if folded not in state.chains.members and folded not in state.chains.inbound:
            return  # it never held our chain: nothing to renew (a QUIT of a stranger, a candidate that never proved)
        flush = state.forward.flush(self._maxPayload(state.chains.room))
        if flush:
            self._sendLines(state.chains.room, flush)
        records = state.chains.leave(folded)
        self._save()
        for member, record in sorted(records.items()):
            self._pairwise.sendRecord(member, START, record)

    def listed(self, room: str, nicks: Iterable[str]) -> None:
        """
        The server's NAMES for C{room} ended, listing C{nicks}.  The first
        after our own JOIN: members it no longer lists left while we were
        away (a netsplit, our reconnect, a restart) and we never saw them
        go, so they are treated as gone (new chains for those who stay).  A
        relay that hides a member from NAMES only denies it our chain; a
        listing admits nobody (each listed nick is a candidate, asked to prove).
        """
        state = self._rooms.get(rfc1459_casefold(room))
        if state is None:
            return
        folded = {rfc1459_casefold(nick) for nick in nicks}
        if state.rejoined:
            state.rejoined = False
            known = state.present | set(state.chains.members) | set(state.chains.inbound)
            for nick in sorted(known - folded - {rfc1459_casefold(self._nick())}):
                if nick in state.chains.members or nick in state.chains.inbound:
                    self._notice(state.chains.room, f"{nick} is no longer in {state.chains.room} (left while we "
                                 "were away): new chains for those who stay")  # fmt: skip
                self.left(room, nick)
        for nick in sorted(folded):
            self.joined(room, nick)

    def renamed(self, old: str, new: str) -> None:
        """A member changed nick: its chains were bound to the old one, so it is a leave and a join."""
        for room, state in list(self._rooms.items()):
            if rfc1459_casefold(old) in state.present:
                self.left(room, old)
                self.joined(room, new)

    def trusted(self, nick: str) -> None:
        """
        The user accepted a key for C{nick} (/trust, /verify): its session
        was refused before (a member's rename: its key was pinned to its old
        nick), so each forward room that lists it and has not admitted it
        asks it again (a new session, judged by the trust store as it is now).
        """
        folded = rfc1459_casefold(nick)
        for room, state in sorted(self._rooms.items()):
            if folded in state.present and folded not in state.chains.members:
                self._ask(room, folded)

    def listsMember(self, nick: str) -> bool:
        """Whether the server lists C{nick} (codec-folded) in one of our forward rooms (its openings may wait)."""
        return any(nick in state.present for state in self._rooms.values())

    def renamedSelf(self) -> None:
        """
        Our nick changed: our chains and proofs named the old one (the
        members see a leave and a join, and ask the new nick to prove
        itself).  Our open batch is signed, a chain naming the new nick starts,
        and our proofs go again over the new nick's sessions.
        """
        nick = rfc1459_casefold(self._nick())
        for state in self._rooms.values():
            flush = state.forward.flush(self._maxPayload(state.chains.room))
            if flush:
                self._sendLines(state.chains.room, flush)
            state.chains.nick = nick
            state.chains.start_new_chain()  # handed over as each member admits the new nick
            state.proofsSent.clear()
            state.present.discard(nick)
        self._save()

    def members(self, room: str) -> List[str]:
        """The members admitted in C{room} (those our chain goes to)."""
        state = self._rooms.get(rfc1459_casefold(room))
        return [] if state is None else sorted(state.chains.members)

    def chains(self, room: str) -> Optional[RoomChains]:
        """C{room}'s chains (None: not on the forward layer here)."""
        state = self._rooms.get(rfc1459_casefold(room))
        return None if state is None else state.chains

    def senders(self, room: str) -> List[str]:
        """The members whose chains we hold in C{room} (whose messages we can read)."""
        state = self._rooms.get(rfc1459_casefold(room))
        return [] if state is None else sorted(nick for nick, chains in state.chains.inbound.items() if chains)

    # Messages.

    def encode(self, room: str, body: str, last: bool = True) -> List[str]:
        """
        The lines that carry C{body} in C{room}; saved before they are
        returned (a crash never seals twice under one key); L{ValueError}
        when the state cannot be saved or the body does not fit.
        """
        state = self._rooms[rfc1459_casefold(room)]
        lines = state.forward.encode(body, self._maxPayload(state.chains.room), last)
        if not self._save():
            # Not sent: its digest must not be signed into the batch the members hold.
            self._sendLines(state.chains.room, state.forward.withdraw(self._maxPayload(state.chains.room)))
            raise ValueError("not sent: the room's chain could not be saved to the state directory")
        return lines

    def receive(self, room: str, sender: str, text: str) -> List[Any]:
        """Verdicts on a line in C{room}; accepted ones only after the chains are saved."""
        state = self._rooms[rfc1459_casefold(room)]
        held = state.forward.held
        results = state.forward.receive(sender, text)
        # Written when a key may have been used (a message opened: held, shown,
        # or refused after opening); never for lines refused before any key.
        if state.forward.held != held or any(
            not (isinstance(result, Rejected) and isinstance(result.error, _KEYLESS)) for result in results
        ):
            self._save()
        return results

    def expire(self) -> List[Any]:
        """Held messages and reassemblies that timed out, in every room."""
        results: List[Any] = []
        erased = self._erasedOnLoad
        for state in self._rooms.values():
            results.extend(state.forward.expire())
            erased = bool(state.forward.forget_keys()) or erased
        if erased:
            self._erasedOnLoad = not self._save()  # old skipped keys and chains leave the file too
        self._retryOpenings()
        return results

    def _retryOpenings(self) -> None:
        """Ask again the present members we still have no session with (L{OpeningRetries})."""
        without: Set[str] = set()
        for state in self._rooms.values():
            without.update(nick for nick in state.present if self._pairwise.sessionId(nick) is None)
        for nick in self.retries.tracked():
            if nick not in without:
                self.retries.settled(nick)
        for nick in sorted(without):
            self.retries.waiting(nick)
        for nick in self.retries.due(self._pairwise.starting):
            for room, state in sorted(self._rooms.items()):
                if nick in state.present:
                    self._ask(room, nick)

    # Records.

    def _ask(self, room: str, nick: str) -> None:
        """Make sure C{nick} gets our proof for C{room}: now if the session is up, else on its start."""
        if self._pairwise.sessionId(nick) is not None:
            self._sendProof(room, nick)
        else:
            self._pairwise.sendRecord(nick, REQUEST, roomName(room))

    def _sendProof(self, room: str, nick: str) -> None:
        state = self._rooms.get(room)
        sessionId = self._pairwise.sessionId(nick)
        key = self._roomKey(room)
        if state is None or sessionId is None or key is None or state.proofsSent.get(nick) == sessionId:
            return
        proof = admit_proof(key, room, self._nick(), sessionId)
        state.proofsSent[nick] = sessionId
        self._pairwise.sendRecord(nick, PROOF, roomName(room) + proof)

    def _sessionReady(self, nick: str, identityKey: bytes, sessionId: bytes) -> None:
        folded = rfc1459_casefold(nick)
        for room, state in self._rooms.items():
            if folded in state.present:
                self._sendProof(room, folded)

    def _requestReceived(self, nick: str, identityKey: bytes, body: bytes) -> None:
        room = self._room(nick, body, "request")
        if room is None:
            return
        folded = rfc1459_casefold(nick)
        state = self._rooms[room[0]]
        if folded in state.chains.members:
            # A member we admitted asks again: it saw us leave (a reconnect, a
            # PART the relay made up) and dropped us; it needs our proof anew.
            state.proofsSent.pop(folded, None)
        self._sendProof(room[0], folded)

    def _proofReceived(self, nick: str, identityKey: bytes, body: bytes) -> None:
        try:
            room, proof = _readName(body)
        except (ValueError, UnicodeDecodeError):
            return
        if room not in self._rooms and not (
            self.onProofForRoom is not None and self._provesSecret(room, nick, proof) and self.onProofForRoom(room)
        ):
            return
        folded = rfc1459_casefold(nick)
        state = self._rooms[room]
        key = self._roomKey(room)
        sessionId = self._pairwise.sessionId(nick)
        if folded not in state.present:
            if len(state.waitingProofs) < MAX_MEMBERS:
                state.waitingProofs[folded] = (identityKey, body)  # until the server lists it
            self._notice(room, f"{nick} offered a proof for {room} but is not in it (yet): not admitted")
            return
        if key is None or sessionId is None or len(proof) != PROOF_BYTES:
            return
        if folded not in state.chains.members and len(state.chains.members) >= MAX_MEMBERS:
            self._notice(room, f"{nick} not admitted: {MAX_MEMBERS} members already hold our chain")
            return
        try:
            # The pairwise session checked identityKey against the trust store: it is the pinned one.
            record = state.chains.admit(folded, identityKey, identityKey, key, sessionId, proof)
        except NotAdmitted as error:
            self._notice(room, f"{nick} not admitted to {room}: {error}")
            return
        self._save()
        # Ours first, if they have not had it on this session: a chain start
        # that comes without a proof then means "I lost you" (see _startReceived).
        self._sendProof(room, folded)
        self._pairwise.sendRecord(folded, START, record)
        waiting = state.waitingStarts.pop(folded, None)
        if waiting is not None:
            self._takeStart(state, folded, waiting)

    def _provesSecret(self, room: str, nick: str, proof: bytes) -> bool:
        """Whether C{proof} is C{nick}'s proof of C{room}'s secret over its current session."""
        key, sessionId = self._roomKey(room), self._pairwise.sessionId(nick)
        if key is None or sessionId is None:
            return False
        return bytes_eq(proof, admit_proof(key, room, rfc1459_casefold(nick), sessionId))

    def _startReceived(self, nick: str, identityKey: bytes, body: bytes) -> None:
        found = self._room(nick, body[_START_NAMES:] if len(body) > _START_NAMES else b"", "chain start")
        if found is None:
            return
        state = self._rooms[found[0]]
        folded = rfc1459_casefold(nick)
        if folded not in state.chains.members:
            if folded in state.waitingStarts or len(state.waitingStarts) < MAX_MEMBERS:
                state.waitingStarts[folded] = body  # until its proof admits it (its JOIN may come later)
            if folded in state.present:
                # Its proof comes before its chain: a listed member handing a
                # chain without one holds us as admitted while we dropped it.
                self._pairwise.sendRecord(folded, REQUEST, roomName(state.chains.room))
            return
        self._takeStart(state, folded, body)

    def _takeStart(self, state: _ForwardState, nick: str, record: bytes) -> None:
        try:
            state.chains.receive_start(nick, record)
        except CodecError as error:
            self._notice(state.chains.room, f"{nick}'s chain refused: {error}")
            return
        self._save()
        if self.onChainTaken is not None:
            self.onChainTaken(state.chains.room, nick)

    def _room(self, nick: str, body: bytes, what: str) -> Optional[Tuple[str, bytes]]:
        try:
            room, rest = _readName(body)
        except (ValueError, UnicodeDecodeError):
            return None
        if room not in self._rooms:
            return None  # a room we are not in on this layer: nothing to say
        return room, rest

    # State.

    def _save(self) -> bool:
        return self.saveNow is None or self.saveNow()

    def toDict(self) -> Dict[str, Any]:
        """Every room's chains (key material: the state directory is 0700, files 0600)."""
        return {
            "format": STATE_FORMAT,
            "rooms": {
                room: {"chains": state.chains.to_dict(), "present": sorted(state.present)}
                for room, state in self._rooms.items()
            },
        }

    def load(self, data: Any) -> List[str]:
        """Take back L{toDict}'s rooms; the names of rooms that could not be read (set aside, never half-read)."""
        lost: List[str] = []
        old = data.get("format") if isinstance(data, dict) else None
        if type(old) is int and old in OLD_FORMATS:  # JSON gives any value: a list cannot be looked up
            raise ValueError("a forward-rooms state of format %d: %s" % (old, OLD_FORMATS[old]))
        if not isinstance(data, dict) or data.get("format") != STATE_FORMAT or not isinstance(data.get("rooms"), dict):
            raise ValueError("not a forward-rooms state")
        identity = self._identity()
        for room, value in data["rooms"].items():
            try:
                chains = RoomChains.from_dict(value["chains"], identity)
                present = {str(nick) for nick in value["present"]}
            except (KeyError, TypeError, ValueError):
                lost.append(str(room))
                continue
            forward = ForwardRoom(chains, identity, self._clock)
            self._erasedOnLoad = bool(forward.forget_keys()) or self._erasedOnLoad
            self._rooms[chains.room] = _ForwardState(chains, forward, present)
        return lost


#: Refusals raised before any message key is used (the chain is as it was): no state to write.
_KEYLESS = (Downgraded, NotAdmitted, Replayed, SkippedTooFar, Tampered, UnsupportedVersion)

#: A chain start's fixed head before its room name: version, flags, chain id, index, chain key, identity.
_START_NAMES = 1 + 1 + 16 + 4 + 32 + 32
