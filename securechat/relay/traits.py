"""
The C{trait} marker of mypyc, without requiring mypyc.

L{RelayState <securechat.relay.state.RelayState>} is built from command
groups (registration, queries, channels, operators) that share its state.
mypyc compiles a class with several bases only when all but one are
I{traits}; marking the groups so lets the optional compiled build
(C{python -m securechat.relay.build}) compile the relay's state, while the
pure-Python relay, the default, runs them as the plain mixins they are:
without C{mypy_extensions} installed, C{trait} is the identity.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__all__ = ["trait"]

if TYPE_CHECKING:
    from mypy_extensions import trait
else:
    try:
        from mypy_extensions import trait
    except ImportError:  # pragma: no cover - the pure-Python install

        def trait(cls):
            """What mypyc's marker does at run time in pure Python: nothing."""
            return cls
