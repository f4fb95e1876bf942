"""
Tab completion on the input line, without a terminal: the word before the
cursor is completed from commands (a first word starting with C{/}), room
names (a word starting with C{#}) or the nicks of the current room; each
further Tab cycles to the next candidate.  A nick completed at the start of
the line gets C{": "}, as in irssi.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Callable

NICK_SUFFIX = ": "


def _unique(names: Iterable[str], fold: Callable[[str], str]) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    for name in names:
        if fold(name) not in seen:
            seen.add(fold(name))
            out.append(name)
    return out


class Completer:
    """
    Completes one word; remembers the candidates between Tabs so that the
    next Tab cycles.  Any other key must call L{reset}.
    """

    def __init__(self, fold: Callable[[str], str] = str.lower) -> None:
        self.fold = fold
        self._cycle: tuple[str, int, list[str], int] | None = None

    def reset(self) -> None:
        self._cycle = None

    def complete(
        self,
        line: str,
        cursor: int,
        commands: Iterable[str],
        rooms: Iterable[str],
        nicks: Iterable[str],
    ) -> tuple[str, int]:
        """The line and cursor after one Tab (unchanged when nothing matches)."""
        if self._cycle is not None:
            before, start, candidates, index = self._cycle
            index = (index + 1) % len(candidates)
            self._cycle = (before, start, candidates, index)
            return self._put(line, cursor, start, candidates[index])
        start = cursor
        while start and line[start - 1] != " ":
            start -= 1
        word = line[start:cursor]
        if not word:
            return line, cursor
        if start == 0 and word.startswith("/"):
            pool = ["/" + name for name in commands]
        elif word[0] in "#&":
            pool = list(rooms)
        else:
            pool = list(nicks)
        prefix = self.fold(word)
        fold = self.fold
        matching = [n for n in _unique(pool, fold) if fold(n).startswith(prefix)]
        candidates = sorted(matching, key=fold)
        if not candidates:
            return line, cursor
        if start == 0 and not word.startswith(("/", "#", "&")):
            candidates = [name + NICK_SUFFIX for name in candidates]
        elif len(candidates) == 1:
            candidates = [candidates[0] + " "]
        self._cycle = (word, start, candidates, 0)
        return self._put(line, cursor, start, candidates[0])

    def _put(self, line: str, cursor: int, start: int, text: str) -> tuple[str, int]:
        # Replace from the word's start up to the cursor (what the last Tab put there).
        new = line[:start] + text + line[cursor:]
        return new, start + len(text)
