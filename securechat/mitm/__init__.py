"""
A malicious relay: a proxy in front of a real relay that reads, logs and
attacks what it forwards (replay, tamper, reorder, forge...).

L{attacks} is the sans-IO attack library, L{proxy} the Twisted adapter,
L{cli} the C{securechat-mitm} command.  The demo (L{securechat.demo}) and
the tests use it as a library.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .attacks import ATTACKS, Attack, Emission, Intercepted, Selector, makeAttack
from .roster import Roster

if TYPE_CHECKING:  # pragma: no cover
    from .proxy import MitmFactory, Plan, Seen

#: The adapter's names, imported when first asked for: importing the sans-IO
#: attack library (C{securechat.mitm.attacks}, C{.tokens}) loads no Twisted.
_FROM_PROXY = frozenset({"MitmFactory", "Plan", "Seen"})


def __getattr__(name: str) -> Any:
    if name in _FROM_PROXY:
        from . import proxy

        return getattr(proxy, name)
    raise AttributeError("module %r has no attribute %r" % (__name__, name))

__all__ = [
    "ATTACKS",
    "Attack",
    "Emission",
    "Intercepted",
    "MitmFactory",
    "Plan",
    "Roster",
    "Seen",
    "Selector",
    "makeAttack",
]
