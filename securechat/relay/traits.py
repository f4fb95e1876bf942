"""
The C{trait} marker of mypyc, without requiring mypyc.

L{RelayState <securechat.relay.state.RelayState>} is built from command
groups (registration, queries, channels, operators) that share its state.
mypyc compiles a class with several bases only when all but one are
I{traits}; marking the groups so lets the optional compiled build
(C{python -m securechat.relay.build}) compile the relay's state, while the
pure-Python relay, the default, runs them as the plain mixins they are:
without C{mypy_extensions} installed, C{trait} is the identity, and so
is C{mypyc_attr} (a compiled class's options, such as letting tests
subclass L{Client <securechat.relay.records.Client>}).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__all__ = ["trait", "mypyc_attr"]

if TYPE_CHECKING:
    from mypy_extensions import mypyc_attr, trait
else:
    try:
        from mypy_extensions import mypyc_attr, trait
    except ImportError:  # pragma: no cover - the pure-Python install

        def trait(cls):
            """What mypyc's marker does at run time in pure Python: nothing."""
            return cls

        def mypyc_attr(*attrs, **kwattrs):
            """mypyc's class options: nothing to do in pure Python."""
            return lambda cls: cls
