"""
What the session keeps about the conversations the user chose: two
records, where six dictionaries keyed by the same targets were.

  - L{CodecRecord}, one per codec target (a folded room, or the sorted pair
    of nicks of a direct conversation): the stored codec conversation, the
    layer chosen for it, the number of the last key set, and the name it is
    shown under.  Keys belong to the target the codec seals, so a direct
    conversation's keys are the pair's, and lost when a nick changes.
  - L{KeyedName}, one per room or peer the user keyed (codec-folded): the
    keyed layer to never fall back from, and the key being derived with what
    waits for it.  It follows the peer's nick.

A keyed name is in one phase at a time (L{KeyedName.phase}), and
L{SENDING} says what a message typed to it does in each: it waits for the
key, or it is sealed.  L{Keyring} keeps both for one session.  Nothing here touches the network.
"""

from __future__ import annotations

from typing import Callable, Dict, Iterable, List, Optional, Set, Tuple

from ...codec import (
    Conversation,
    Identity,
    ReassemblyLimits,
    RoomKeys,
    TrustStore,
    direct_target,
)
from .rules import DEFAULT_KEYED_LAYER, LAYER_RANK, PLAIN, Server

#: A key is being derived: what is typed waits for it (never goes lower).
WAITING_FOR_KEY = "waiting-for-key"
#: Keyed: what is typed is sealed on its layer (or refused if its key no longer applies).
KEYED = "keyed"
#: What a message typed to a keyed name does, by its phase.
SENDING: Dict[str, str] = {WAITING_FOR_KEY: "queue", KEYED: "seal"}



class PendingKey:
    """A target whose key is being derived: the newest request, and what waits for it."""

    __slots__ = ("name", "layer", "latest", "queue", "chars")

    def __init__(self, name: str) -> None:
        self.name = name
        self.layer: Optional[str] = None
        self.latest = 0
        self.queue: List[str] = []
        self.chars = 0


class CodecRecord:
    """One codec target the user chose a key or a layer for."""

    __slots__ = ("conversation", "layer", "applied", "display")

    def __init__(self) -> None:
        #: The stored conversation, once a key or a layer was set.
        self.conversation: Optional[Conversation] = None
        #: The layer the user chose (used when its key comes).
        self.layer: Optional[str] = None
        #: The number of the last key request applied: an older one finishing late is refused.
        self.applied = 0
        #: (name shown to the user, direct conversation?), with the conversation.
        self.display: Tuple[str, bool] = ("", False)


class KeyedName:
    """One room or peer the user keyed, or whose key is being derived."""

    __slots__ = ("layer", "pending")

    def __init__(self) -> None:
        #: The keyed layer the conversation had: never fallen back from.
        self.layer: Optional[str] = None
        self.pending: Optional[PendingKey] = None

    @property
    def phase(self) -> str:
        return WAITING_FOR_KEY if self.pending is not None else KEYED

    @property
    def empty(self) -> bool:
        """Neither keyed nor waiting: the record is dropped."""
        return self.layer is None and self.pending is None


class Keyring:
    """
    The session's part that remembers the user's choices of protection:
    one L{CodecRecord} per keyed codec target and one L{KeyedName} per
    keyed room or peer, each made only for the user's own choices (a key,
    a layer), so a relay inventing names cannot grow them.  Lines from
    anyone else are judged by a throwaway conversation (L{judging}).
    """

    def __init__(
        self,
        server: Server,
        identity: Identity,
        trust: TrustStore,
        clock: Callable[[], float],
        ttl: int,
        maxSkew: int,
        limits: ReassemblyLimits,
        onConversation: Optional[Callable[[str, Conversation], None]] = None,
    ) -> None:
        self._server = server
        self._identity = identity
        self._trust = trust
        #: The codec's clock (seconds since the epoch); the demo shifts it.
        self.clock = clock
        self._ttl = ttl
        self._maxSkew = maxSkew
        self._limits = limits
        #: Called with (codec target, conversation) when one is created, so
        #: saved state (replay floor, sequence numbers) can be restored.
        self._onConversation = onConversation
        #: Codec target -> its record (conversation, chosen layer, last key
        #: applied, shown name).
        self._targets: Dict[str, CodecRecord] = {}
        #: Room or peer (codec-folded) -> its record: the keyed layer to
        #: never fall back from (a direct conversation's keys are for a pair
        #: of nicks, so after a nick change the pair has no key; this
        #: remembers not to fall back to plain text), and the key being
        #: derived (such a target is keyed already: its messages wait,
        #: never go in clear).
        self._keyedNames: Dict[str, KeyedName] = {}
        #: Key requests are numbered (a codec record keeps the last one
        #: applied), so an older derivation finishing late cannot replace a
        #: newer key.
        self._requests = 0
        #: Keyed names brought back from the state directory whose key was
        #: not entered again yet (the secret is never saved): keyed, so
        #: nothing goes there in clear, and the user is told how to re-enter it.
        self._restored: Set[str] = set()
        #: Peers (codec-folded) chosen plain before a restart, by nick alone
        #: (a codec record is for a pair of nicks, and ours may not be known
        #: yet: the proxy learns it from the IRC client); a record made for
        #: the peer later (a choice of this run) replaces it.
        self._plainPeers: Set[str] = set()
        #: The members of a room (by its codec target), codec-folded: a
        #: signed digest may name one we never heard from (views).
        self.members: Callable[[str], Iterable[str]] = lambda key: ()

    def nextRequest(self) -> int:
        """A new key request's number: higher than every earlier one."""
        self._requests += 1
        return self._requests

    def records(self) -> List[CodecRecord]:
        return list(self._targets.values())

    def hasDirectKeys(self) -> bool:
        """Whether a direct conversation has keys (they are for the pair of nicks as they were)."""
        return any(
            " " in target and record.conversation is not None and record.conversation.keys is not None
            for target, record in self._targets.items()
        )

    def peerRenamed(self, old: str, new: str) -> None:
        """
        A peer changed nick: a keyed one stays keyed under the new nick.
        Also while the peer's key is being derived: the console's window
        follows the peer to the new nick, and what is typed there must not
        go out in clear (what waits stays for the old).
        """
        oldKey, newKey = self._server.codecFold(old), self._server.codecFold(new)
        keyedOld = self._keyedNames.get(oldKey)
        if keyedOld is None:
            return
        layer = self.expectedLayer(old)
        keyedOld.layer = None
        if keyedOld.empty:
            del self._keyedNames[oldKey]
        self._keyedNames.setdefault(newKey, KeyedName()).layer = layer

    def codecTarget(self, name: str) -> str:
        """
        What the codec seals as the target of C{name}: the folded room, or
        the sorted pair of folded nicks for a direct conversation (both ends
        compute the same pair, so they derive the same keys).
        """
        if self._server.isRoom(name):
            return self._server.codecFold(name)
        return direct_target(self._server.nick, name, self._server.codecFold)

    def stored(self, name: str) -> Optional[Conversation]:
        """The stored conversation of C{name}'s codec target, if any."""
        record = self._targets.get(self.codecTarget(name))
        return record.conversation if record is not None else None

    def record(self, name: str) -> CodecRecord:
        """C{name}'s codec record, made for a choice of the user's (a key, a layer)."""
        self._plainPeers.discard(self._server.codecFold(name))  # this run's choice replaces a saved one
        key = self.codecTarget(name)
        record = self._targets.get(key)
        if record is None:
            record = self._targets[key] = CodecRecord()
        return record

    def chosenLayer(self, name: str) -> Optional[str]:
        record = self._targets.get(self.codecTarget(name))
        if record is None and not self._server.isRoom(name) and self._server.codecFold(name) in self._plainPeers:
            return PLAIN  # chosen before a restart (L{restorePlain})
        return record.layer if record is not None else None

    def keyedName(self, name: str) -> Optional[KeyedName]:
        return self._keyedNames.get(self._server.codecFold(name))

    def keyedLayer(self, name: str) -> Optional[str]:
        keyed = self.keyedName(name)
        return keyed.layer if keyed is not None else None

    def pendingKey(self, name: str) -> Optional[PendingKey]:
        keyed = self.keyedName(name)
        return keyed.pending if keyed is not None else None

    def awaitKey(self, name: str) -> PendingKey:
        """A key for C{name} is being derived: from now on it counts as keyed (what is typed waits)."""
        keyed = self._keyedNames.setdefault(self._server.codecFold(name), KeyedName())
        if keyed.pending is None:
            keyed.pending = PendingKey(name)
        return keyed.pending

    def forgetPending(self, name: str) -> Optional[PendingKey]:
        """Take away the key being derived for C{name}: it came, failed or was superseded."""
        folded = self._server.codecFold(name)
        keyed = self._keyedNames.get(folded)
        if keyed is None or keyed.pending is None:
            return None
        pending, keyed.pending = keyed.pending, None
        if keyed.empty:
            del self._keyedNames[folded]
        return pending

    def conversation(self, name: str) -> Conversation:
        """
        The stored conversation for C{name}, created if needed: only for the
        user's own choices (a key, a layer), so their number is the user's.
        """
        key = self.codecTarget(name)
        record = self.record(name)
        conversation = record.conversation
        if conversation is None:
            conversation = record.conversation = self._newConversation(key)
            record.display = (name, not self._server.isRoom(name))
            if self._onConversation is not None:
                self._onConversation(key, conversation)
        return conversation

    def conversations(self) -> Dict[str, Conversation]:
        """The stored conversations by codec target (for saving their state)."""
        return {
            key: record.conversation
            for key, record in self._targets.items()
            if record.conversation is not None
        }

    def judging(self, name: str) -> Conversation:
        """
        The stored conversation for C{name}, else a throwaway one that is
        never stored.  Without a stored one, C{name} is unkeyed plain, and an
        unkeyed plain conversation keeps nothing between lines (plain text is
        shown as plain; a protected line is refused as no-key from its
        header, before any piece is buffered; nothing reaches the replay
        cache or the sequence numbers; plain encoding has no state): the
        throwaway one gives the same verdicts and lines, and a relay that
        invents a nick or room per line costs no memory that lasts.
        """
        conversation = self.stored(name)
        return conversation if conversation is not None else self._newConversation(self.codecTarget(name))

    def _newConversation(self, key: str) -> Conversation:
        conversation = self._conversationFor(key)
        conversation.members = lambda: self.members(key)
        return conversation

    def _conversationFor(self, key: str) -> Conversation:
        return Conversation(
            key,
            PLAIN,
            None,
            clock=self._now,
            ttl=self._ttl,
            max_skew=self._maxSkew,
            limits=self._limits,
            casefold=self._server.codecFold,
            identity=self._identity,
            trust=self._trust,
        )

    def _now(self) -> float:
        # Looked up at each call, so a clock changed later (the demo's
        # shifted sender) applies to conversations that already exist.
        return self.clock()

    def layerFor(self, name: str) -> str:
        """The layer messages to and from C{name} use now."""
        conversation = self.stored(name)
        return conversation.layer if conversation is not None else PLAIN

    def keysFor(self, name: str) -> Optional[RoomKeys]:
        conversation = self.stored(name)
        return conversation.keys if conversation is not None else None

    def expectedLayer(self, name: str) -> str:
        """
        The protection C{name} has or is getting: its layer, a keyed layer it
        lost its key for (its L{KeyedName}), or the layer of the key being derived.
        """
        layers = [self.layerFor(name), self.keyedLayer(name) or PLAIN]
        pending = self.pendingKey(name)
        if pending is not None:
            layers.append(pending.layer or self.chosenLayer(name) or DEFAULT_KEYED_LAYER)
        return max(layers, key=LAYER_RANK.__getitem__)

    def keyedLayers(self) -> Dict[str, str]:
        """Every keyed room or peer (codec-folded) and its layer: what a restart must know, without the secret."""
        return {name: keyed.layer for name, keyed in self._keyedNames.items() if keyed.layer is not None}

    def restoreKeyed(self, name: str, layer: str) -> bool:
        """
        C{name} was keyed on C{layer} before a restart: keyed again, without
        a key until the user enters it.  Whether it was restored (a name the
        user keyed in this run already stays as it is).
        """
        folded = self._server.codecFold(name)
        if layer == PLAIN or layer not in LAYER_RANK or folded in self._keyedNames:
            return False
        self._keyedNames[folded] = KeyedName()
        self._keyedNames[folded].layer = layer
        self._restored.add(folded)
        return True

    def restored(self, name: str) -> bool:
        """Whether C{name} is keyed only from the state directory (its key not entered yet)."""
        return self._server.codecFold(name) in self._restored

    def rememberKeyed(self, name: str, layer: str) -> None:
        """A keyed conversation is remembered; choosing plain for it forgets it."""
        folded = self._server.codecFold(name)
        self._restored.discard(folded)
        if layer == PLAIN:
            keyed = self._keyedNames.get(folded)
            if keyed is not None:
                keyed.layer = None
                if keyed.empty:
                    del self._keyedNames[folded]
        else:
            self._keyedNames.setdefault(folded, KeyedName()).layer = layer

    def plainPeers(self) -> List[str]:
        """
        The peers (codec-folded) the user chose plain for: what a restart must
        know, so that a peer without securechat (a service such as NickServ)
        is not held again for a session it never answers.
        """
        return sorted(
            {
                self._server.codecFold(record.display[0])
                for record in self._targets.values()
                if record.layer == PLAIN and record.display[1] and record.display[0]
            }
            | self._plainPeers
        )

    def restorePlain(self, name: str) -> bool:
        """
        The user chose plain for the peer C{name} before a restart: plain
        again (the user's word, saved).  Whether it was restored (a choice
        made in this run stays as it is).
        """
        if self._server.isRoom(name) or self.chosenLayer(name) is not None:
            return False
        self._plainPeers.add(self._server.codecFold(name))
        return True

    def fingerprint(self, name: str) -> Optional[str]:
        """The fingerprint of the key in use for C{name}, or L{None} on plain."""
        conversation = self.stored(name)
        if conversation is None or conversation.keys is None or conversation.layer == PLAIN:
            return None
        return conversation.keys.fingerprint(conversation.layer)


__all__ = ["KEYED", "SENDING", "WAITING_FOR_KEY", "CodecRecord", "KeyedName", "Keyring", "PendingKey"]
