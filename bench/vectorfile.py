"""
What every test-vector script shares: one JSON spelling of a vector file
and one command line (write it, or C{--check} whether it is stale), so
the files under docs/vectors/ are all made, and checked, the same way.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Callable, Dict, List, Optional

#: Where the vector files live: docs/vectors/ of this checkout.
VECTORS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "vectors")


def dumps(document: Dict[str, Any]) -> str:
    """The one spelling of a vector file, so a regeneration is byte for byte."""
    return json.dumps(document, indent=1, ensure_ascii=False) + "\n"


def main(build: Callable[[], Dict[str, Any]], path: str, description: str, argv: Optional[List[str]] = None) -> int:
    """Write C{build()} to C{path}, or with C{--check} exit 1 if the file differs."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--check", action="store_true", help="do not write: exit 1 if the file differs")
    parser.add_argument("--output", default=path, help=f"where to write (default {path})")
    options = parser.parse_args(argv)
    text = dumps(build())
    if options.check:
        with open(options.output, encoding="utf-8") as existing:
            same = existing.read() == text
        sys.stdout.write(("up to date: " if same else "STALE: ") + options.output + "\n")
        return 0 if same else 1
    os.makedirs(os.path.dirname(options.output), exist_ok=True)
    with open(options.output, "w", encoding="utf-8") as out:
        out.write(text)
    sys.stdout.write(f"wrote {options.output}\n")
    return 0
