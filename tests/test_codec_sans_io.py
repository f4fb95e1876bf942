"""
The codec is sans-IO: it imports nothing of Twisted, nothing of the rest of
securechat, and no randomness other than the OS's.  Checked on the source,
so a stray import fails here rather than in a review.
"""

from __future__ import annotations

import ast
import os
from typing import Iterator, Tuple

from twisted.trial.unittest import SynchronousTestCase

import securechat.codec

CODEC_DIR = os.path.dirname(securechat.codec.__file__)
FORBIDDEN_ROOTS = ("twisted", "random", "socket", "asyncio", "threading")


def _imports() -> Iterator[Tuple[str, str]]:
    for name in sorted(os.listdir(CODEC_DIR)):
        if not name.endswith(".py"):
            continue
        with open(os.path.join(CODEC_DIR, name), encoding="utf-8") as source:
            tree = ast.parse(source.read(), name)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield name, alias.name
            elif isinstance(node, ast.ImportFrom) and node.module:
                yield name, node.module


class SansIoTests(SynchronousTestCase):
    def test_imports(self) -> None:
        seen = list(_imports())
        self.assertTrue(seen)
        for filename, module in seen:
            root = module.split(".")[0]
            self.assertNotIn(root, FORBIDDEN_ROOTS, f"{filename} imports {module}")
            if root == "securechat":
                self.assertTrue(
                    module.startswith("securechat.codec"), f"{filename} imports {module}: the arrows point one way"
                )

    def test_future_annotations_everywhere(self) -> None:
        """CPython 3.9 and PyPy 3.9 need it for the annotations we write."""
        for name in sorted(os.listdir(CODEC_DIR)):
            if name.endswith(".py"):
                with open(os.path.join(CODEC_DIR, name), encoding="utf-8") as source:
                    self.assertIn("from __future__ import annotations", source.read(), name)
