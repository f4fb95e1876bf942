"""
The relay's optional compiled build (mypyc) and what makes it possible:
the command groups of L{RelayState} are mypyc traits, which pure Python runs
as plain mixins whether or not C{mypy_extensions} is installed.
"""

from __future__ import annotations

import importlib
import sys
from unittest import mock

from twisted.trial.unittest import SynchronousTestCase

from securechat.relay import traits
from securechat.relay.channels import ChannelCommands
from securechat.relay.operators import OperatorCommands
from securechat.relay.queries import QueryCommands
from securechat.relay.registration import RegistrationCommands
from securechat.relay.state import RelayState


class TraitMarkerTests(SynchronousTestCase):
    """L{traits.trait} without mypyc: the class itself, untouched."""

    def test_withoutMypyExtensions(self) -> None:
        """
        Where C{mypy_extensions} is not installed (a plain C{pip install .}
        on PyPy, say), the marker is the identity and the module imports.
        """
        with mock.patch.dict(sys.modules, {"mypy_extensions": None}):
            fallback = importlib.reload(traits)
            try:

                class Marked:
                    pass

                self.assertIs(fallback.trait(Marked), Marked)
                self.assertNotIn("mypy_extensions", getattr(fallback.trait, "__module__", ""))
            finally:
                # The module as the rest of the suite imported it.
                importlib.reload(traits)

    def test_groupsStayMixins(self) -> None:
        """
        Every command group is a base of L{RelayState}, and no stub a group
        declares for mypy shadows a real method: each method of the state
        resolves to the class that defines it for real.
        """
        for group in (RegistrationCommands, QueryCommands, ChannelCommands, OperatorCommands):
            self.assertTrue(issubclass(RelayState, group))
        self.assertIs(RelayState.reply, RelayState.__dict__["reply"])
        self.assertIs(RelayState.error, RelayState.__dict__["error"])
        self.assertIs(RelayState._peersOf, RelayState.__dict__["_peersOf"])
        self.assertIs(RelayState._userModes, OperatorCommands.__dict__["_userModes"])
        self.assertIs(RelayState._leave, RelayState.__dict__["_leave"])
