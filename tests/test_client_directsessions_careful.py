"""
Direct messages over pairwise sessions, second pass: what a careful user
expects (issue 22/23): the parts get what they need at construction; a
peer chosen plain stays plain across a restart; refusal hints to a session
peer travel authenticated over the session; a message held for a session
is never lost silently by a restart.
"""

from __future__ import annotations

import inspect

from twisted.trial.unittest import SynchronousTestCase

from securechat.client.core.conversations import Conversations
from securechat.client.core.session import ClientSession


class ConstructionTests(SynchronousTestCase):
    def test_conversationsGetTheDirectPartAtConstruction(self):
        """The direct-sessions part is a constructor argument, with no default: nothing is set afterwards."""
        parameter = inspect.signature(Conversations).parameters["directSessions"]
        self.assertIs(parameter.default, inspect.Parameter.empty)
        session = ClientSession("alice", lambda event: None)
        self.assertIs(session.conversationsPart.directSessions, session.directSessions)
        self.assertFalse(hasattr(session.conversationsPart, "sessionJudge"))
