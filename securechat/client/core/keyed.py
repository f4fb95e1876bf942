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
key, or it is sealed.  Nothing here touches the network.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

from ...codec import Conversation

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


__all__ = ["KEYED", "SENDING", "WAITING_FOR_KEY", "CodecRecord", "KeyedName", "PendingKey"]
