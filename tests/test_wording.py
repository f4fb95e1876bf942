"""
Every refusal the codec can give is worded for people (the console and the
proxy show L{rejectedNote}), with advice that works where it is read.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from securechat.client.core import events as ev
from securechat.client.core.wording import REASONS, rejectedNote, spellConsole
from securechat.codec.errors import ALL_ERRORS
from securechat.proxy.commands import spellProxy


def rejected(reason: str, description: str) -> ev.RejectedMessage:
    return ev.RejectedMessage(
        target="#lab", sender="alice", layer="signed", reason=reason, description=description
    )


class ReasonWordingTests(SynchronousTestCase):
    def test_everyCodecReasonWorded(self) -> None:
        """A reason the codec adds (wire v2's other-version, unknown-signer) gets words, not its slug."""
        for error in ALL_ERRORS:
            self.assertIn(error.reason, REASONS, error.__name__)

    def test_otherVersionSaysWhichSide(self) -> None:
        """The codec's sentence, which names the side to upgrade, is kept."""
        description = "sealed in securechat wire version 1; this client reads version 2 (upgrade the sender)"
        note = rejectedNote(rejected("other-version", description), spellConsole)
        self.assertIn("another wire version", note)
        self.assertIn("(upgrade the sender)", note)

    def test_unknownSignerAdvice(self) -> None:
        """
        What to do: the key comes with the sender's next short message
        (tests.test_codec_signed.test_without_a_pin_the_signer_is_unknown
        shows that this advice works); no command to type, on any face.
        """
        for spell in (spellConsole, spellProxy):
            note = rejectedNote(rejected("unknown-signer", "signed, but its key was left out"), spell)
            self.assertTrue(note.startswith("REJECTED message claimed from alice: "), note)
            self.assertIn("ask alice for a short message (it carries the key)", note)
            self.assertNotIn("/", note)
