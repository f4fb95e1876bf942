"""
The vector scripts' shared command line: it writes a file that reads back
byte for byte, and C{--check} tells a stale file from a current one.
"""

from __future__ import annotations

import io
import os
from contextlib import redirect_stdout

from twisted.trial.unittest import SynchronousTestCase

from bench import vectorfile


def build() -> dict:
    return {"version": 1, "name": "é"}


class VectorFileTests(SynchronousTestCase):
    def run_main(self, *argv: str) -> int:
        with redirect_stdout(io.StringIO()):
            return vectorfile.main(build, self.path, "test vectors", list(argv))

    def setUp(self) -> None:
        self.path = os.path.join(self.mktemp(), "v.json")

    def test_writesThenCheckSaysUpToDate(self) -> None:
        self.assertEqual(self.run_main(), 0)
        with open(self.path, encoding="utf-8") as handle:
            self.assertEqual(handle.read(), vectorfile.dumps(build()))
        self.assertEqual(self.run_main("--check"), 0)

    def test_checkRefusesAStaleFileAndLeavesIt(self) -> None:
        os.makedirs(os.path.dirname(self.path))
        with open(self.path, "w", encoding="utf-8") as handle:
            handle.write("{}\n")
        self.assertEqual(self.run_main("--check"), 1)
        with open(self.path, encoding="utf-8") as handle:
            self.assertEqual(handle.read(), "{}\n")
