"""
The codec folds names with its own rfc1459 table (it imports nothing of
ours); the wire's must agree with it on every string, or a key set for
C{#Room} by one end would not be the key the other end derives for C{#room}.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from securechat.codec.names import rfc1459_casefold
from securechat.wire import casefolder, rfc1459Casefold


class CasefoldAgreementTests(SynchronousTestCase):
    def test_everyCodePointBelowLatinExtended(self) -> None:
        """Each of the first 0x800 code points folds alike (the tables' whole domain, and beyond)."""
        for point in range(0x800):
            char = chr(point)
            self.assertEqual(rfc1459Casefold(char), rfc1459_casefold(char), hex(point))

    @given(st.text())
    def test_anyString(self, name: str) -> None:
        """Any string folds alike."""
        self.assertEqual(rfc1459Casefold(name), rfc1459_casefold(name))

    def test_rfc1459IsWhatTheServerMapsTo(self) -> None:
        """CASEMAPPING=rfc1459 picks the same fold."""
        self.assertIs(casefolder("rfc1459"), rfc1459Casefold)
        self.assertEqual(rfc1459_casefold("Nick[]\\~"), "nick{}|^")
