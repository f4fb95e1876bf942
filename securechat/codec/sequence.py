"""
Sequence numbers per sender stream: what the relay dropped or reordered.

Fernet cannot stop a relay from dropping or holding back a message, but the
sealed per-(sender, target) sequence number makes it visible: a gap means
messages are missing, a number at or below the highest seen means the
message arrived late (or, on the fernet layer, was replayed).  A sender's
fresh random stream id (a restarted client) starts a new count instead of
looking like a sender going backwards.
"""

from __future__ import annotations

import base64
import binascii
from collections import OrderedDict
from typing import Any, List, Tuple

DEFAULT_MAX_STREAMS = 1024

StreamKey = Tuple[str, bytes]


class SequenceTracker:
    """Highest sequence number per (sender, stream), LRU-bounded."""

    def __init__(self, max_streams: int = DEFAULT_MAX_STREAMS) -> None:
        self.max_streams = max_streams
        self._highest: OrderedDict[StreamKey, int] = OrderedDict()

    def __len__(self) -> int:
        return len(self._highest)

    def observe(self, sender_key: str, stream: bytes, seq: int) -> Tuple[int, bool]:
        """
        Record C{seq}; return (messages missing just before it, arrived late?).

        The first message seen of a stream reports no gap: a receiver that
        joins a room late cannot know what came before.
        """
        key = (sender_key, stream)
        highest = self._highest.get(key)
        if highest is None:
            self._highest[key] = seq
            if len(self._highest) > self.max_streams:
                self._highest.popitem(last=False)
            return 0, False
        self._highest.move_to_end(key)
        if seq <= highest:
            return 0, True
        self._highest[key] = seq
        return seq - highest - 1, False

    def streams(self) -> List[Tuple[str, bytes, int]]:
        """(sender, stream, highest) per stream, oldest first."""
        return [(sender, stream, seq) for (sender, stream), seq in self._highest.items()]

    def export(self) -> List[List[Any]]:
        """[sender, stream (base64), highest] per stream, oldest first."""
        return [
            [sender, base64.b64encode(stream).decode("ascii"), seq]
            for (sender, stream), seq in self._highest.items()
        ]

    def restore(self, data: Any) -> None:
        """Take back what L{export} saved; L{ValueError} (nothing changed) if it is not that."""
        if not isinstance(data, list):
            raise ValueError("the saved sequence numbers are not a list")
        restored: OrderedDict[StreamKey, int] = OrderedDict()
        for entry in data:
            if not (isinstance(entry, list) and len(entry) == 3 and isinstance(entry[0], str)
                    and isinstance(entry[2], int) and not isinstance(entry[2], bool)):
                raise ValueError("a saved sequence number is malformed")
            try:
                stream = base64.b64decode(str(entry[1]), validate=True)
            except (binascii.Error, ValueError):
                raise ValueError("a saved stream id is not base64") from None
            restored[(entry[0], stream)] = entry[2]
        for key, seq in restored.items():
            if seq > self._highest.get(key, -1):
                self._highest[key] = seq
            self._highest.move_to_end(key)
        while len(self._highest) > self.max_streams:
            self._highest.popitem(last=False)
