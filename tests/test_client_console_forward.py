"""The console speaks the forward layer: /layer forward and /remove, their usage and refusals."""

from __future__ import annotations

from twisted.trial.unittest import TestCase

from securechat.client.faces.commands import Console

from .test_client_console import Recorder, offlineClient


class ConsoleForwardTests(TestCase):
    def setUp(self) -> None:
        self.client = offlineClient()
        self.screen = Recorder()
        self.console = Console(
            self.client, self.screen.show, self.screen.ask, self.screen.quits.append,
            lambda: b"from the key file", current="#lab",
        )  # fmt: skip
        self.client.listen(self.console.event)

    def test_layerForwardIsALayerToChoose(self) -> None:
        """/layer forward reaches the session (which wants the room joined and keyed first)."""
        self.console.line("/layer forward")
        self.assertIn("/join it first", self.screen.last())
        self.console.line("/layer")
        self.assertIn("forward", self.screen.last())
        self.console.line("/layer sideways")
        self.assertIn("usage: /layer", self.screen.last())
        self.assertIn("forward", self.screen.last())

    def test_remove(self) -> None:
        """/remove nick [#room]: the room must be on the forward layer; the usage says what it does."""
        self.console.line("/remove bob")
        self.assertIn("not on the forward layer", self.screen.last())
        self.console.line("/remove")
        self.assertIn("usage: /remove nick [#room]", self.screen.last())
