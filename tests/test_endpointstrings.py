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


class ServerStringTests(SynchronousTestCase):
    """Servers written as IRC users write them (issue 14)."""

    def test_userForms(self) -> None:
        from securechat.endpointstrings import serverDescription

        for text, description in (
            ("127.0.0.1:6667", "tcp:127.0.0.1:6667"),
            ("irc.example.org", "tcp:irc.example.org:6667"),
            ("localhost:7000", "tcp:localhost:7000"),
            ("ircs://irc.example.org", "tls:irc.example.org:6697"),
            ("ircs://irc.example.org:7000/", "tls:irc.example.org:7000"),
            ("irc://h", "tcp:h:6667"),
            ("[::1]:6667", "tcp:\\:\\:1:6667"),
            ("::1", "tcp:\\:\\:1:6667"),
            ("ircs://[::1]", "tls:\\:\\:1:6697"),
            # Endpoint descriptions pass unchanged.
            ("tcp:127.0.0.1:6667", "tcp:127.0.0.1:6667"),
            ("tls:example.org:6697", "tls:example.org:6697"),
        ):
            self.assertEqual(serverDescription(text), description, text)

    def test_refusedWithAReason(self) -> None:
        from securechat.endpointstrings import serverDescription

        for text, reason in (
            ("host:66670", "port 66670 is not in 1-65535"),
            ("host:0", "port 0 is not in 1-65535"),
            ("tcp:h:66670", "port 66670 is not in 1-65535"),
            ("tcp:127.0.0.1", "no port (tcp:HOST:PORT, or just HOST:PORT)"),
            ("host:http", "the port 'http' is not a number"),
            ("ircs://h/#lab", "use --join"),
            ("bad host", "is not a host name"),
            ("[::1", "needs its ']'"),
            ("ircs://h:99999", "port 99999"),
        ):
            with self.assertRaises(ValueError) as raised:
                serverDescription(text)
            self.assertIn(repr(text), str(raised.exception))
            self.assertIn(reason, str(raised.exception), text)
