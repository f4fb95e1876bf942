"""
Tests for L{securechat.endpointstrings}: endpoint descriptions checked
before anything listens or connects.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from securechat.endpointstrings import checkClientEndpoint, checkServerEndpoint


class EndpointStringTests(SynchronousTestCase):
    def test_usableDescriptionsPass(self) -> None:
        for description in ("tcp:6667", "tcp:6667:interface=127.0.0.1", "tcp6:6667:interface=\\:\\:1", "unix:/tmp/s"):
            checkServerEndpoint(description)
        for description in ("tcp:127.0.0.1:6667", "tcp:host=h:port=1", "unix:/tmp/s", "tls:example.org:6697"):
            checkClientEndpoint(description)

    def test_eachParseErrorBecomesValueError(self) -> None:
        """
        Twisted's parsers raise ValueError, TypeError or OSError depending on
        the mistake; callers get one ValueError naming the description.
        """
        missing = self.mktemp()
        for check, description in (
            (checkServerEndpoint, "garbage"),  # ValueError: unknown type
            (checkServerEndpoint, "tcp:notaport"),  # ValueError: not a number
            (checkServerEndpoint, "ssl:6697:privateKey=" + missing),  # OSError
            (checkClientEndpoint, "tcp:host"),  # TypeError: no port
            (checkClientEndpoint, "tcp6:h:1"),  # no such client type
        ):
            with self.assertRaises(ValueError) as raised:
                check(description)
            self.assertIn(repr(description), str(raised.exception))
