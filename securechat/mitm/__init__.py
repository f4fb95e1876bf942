"""
A malicious relay: a proxy in front of a real relay that reads, logs and
attacks what it forwards (replay, tamper, reorder, forge...).

L{attacks} is the sans-IO attack library, L{proxy} the Twisted adapter,
L{cli} the C{securechat-mitm} command.  The demo (L{securechat.demo}) and
the tests use it as a library.
"""

from __future__ import annotations

from .attacks import ATTACKS, Attack, Emission, Intercepted, Selector, makeAttack
from .proxy import MitmFactory, Plan, Seen
from .roster import Roster

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
