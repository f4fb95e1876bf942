"""
The relay's optional compiled build: its hot modules compiled with mypyc,
in place, next to their sources.

    python -m securechat.relay.build            # build (needs mypy and a C compiler)
    python -m securechat.relay.build --status   # which modules run compiled
    python -m securechat.relay.build --clean    # back to pure Python

Pure Python stays the default and the fallback: nothing here runs at
install time, and a tree without the extension modules is the relay as
always.  An extension module is imported in place of the C{.py} beside it,
so a build is for a tree that no longer changes (a deployment): after an
edit, build again or clean (C{--status} names the modules whose source
changed since the build: L{staleModules}).
"""

from __future__ import annotations

import argparse
import glob
import importlib.machinery
import os
import sys
import tempfile
from typing import List, Optional, Sequence

#: The package's root (the directory holding C{securechat/}).
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

#: What is compiled, relative to L{ROOT}: the wire (line splitter, parser,
#: formatter) and the relay's state with what its hot path calls.  The
#: Twisted adapter (protocol, factory) stays Python: mypyc cannot compile a
#: subclass of Twisted's classes.
COMPILED = (
    "securechat/wire.py",
    "securechat/relay/limits.py",
    "securechat/relay/records.py",
    "securechat/relay/caps.py",
    "securechat/relay/fit.py",
    "securechat/relay/modes.py",
    "securechat/relay/state.py",
    "securechat/relay/registration.py",
    "securechat/relay/queries.py",
    "securechat/relay/channels.py",
    "securechat/relay/operators.py",
)


def _extensionsOf(source: str) -> List[str]:
    """The extension modules built from C{source}, as found beside it."""
    stem = source[: -len(".py")]
    return [
        path
        for suffix in importlib.machinery.EXTENSION_SUFFIXES
        for path in glob.glob(glob.escape(stem) + suffix)
    ]


def compiledModules(root: str = ROOT) -> List[str]:
    """The sources of L{COMPILED} that have an extension module beside them."""
    return [name for name in COMPILED if _extensionsOf(os.path.join(root, name))]


def staleModules(root: str = ROOT) -> List[str]:
    """
    The compiled modules whose source changed after the build: Python
    imports the extension module all the same, so the edit would not run.
    """
    stale = []
    for name in COMPILED:
        source = os.path.join(root, name)
        for extension in _extensionsOf(source):
            if os.path.getmtime(source) > os.path.getmtime(extension):
                stale.append(name)
                break
    return stale


def clean(root: str = ROOT) -> List[str]:
    """Remove the extension modules of a build (and mypyc's runtime library); return them."""
    removed = []
    for name in COMPILED:
        for extension in _extensionsOf(os.path.join(root, name)):
            os.remove(extension)
            removed.append(extension)
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        for runtime in glob.glob(os.path.join(glob.escape(root), "*__mypyc" + suffix)):
            os.remove(runtime)
            removed.append(runtime)
    return removed


def build(root: str = ROOT, verbose: bool = False) -> None:
    """
    Compile L{COMPILED} with mypyc into extension modules beside their
    sources under C{root}; the generated C and the objects go to a
    temporary directory.  Raises L{ImportError} without mypyc/setuptools,
    L{SystemExit} when the compiler or mypyc fails.
    """
    from mypyc.build import mypycify
    from setuptools import Distribution  # type: ignore[import-untyped]

    clean(root)
    here = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="securechat-mypyc-") as work:
        os.chdir(root)  # build_ext --inplace places modules relative to here
        try:
            extensions = mypycify(
                # No project config: the build checks what it compiles with
                # mypy's defaults, wherever the package is installed.
                ["--config-file=", *COMPILED],
                target_dir=os.path.join(work, "c"),
                opt_level="3",
            )
            distribution = Distribution({"name": "securechat-compiled", "ext_modules": extensions})
            distribution.script_args = [
                "build_ext", "--inplace",
                "--build-temp", os.path.join(work, "o"),
                "--build-lib", os.path.join(work, "lib"),
            ]
            if not verbose:
                distribution.script_args.insert(0, "--quiet")
            distribution.parse_command_line()
            distribution.run_commands()
        finally:
            os.chdir(here)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m securechat.relay.build",
        description="Compile the relay's hot modules with mypyc, in place (optional; pure Python is the default).",
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--status", action="store_true", help="list the modules that run compiled")
    group.add_argument("--clean", action="store_true", help="remove the compiled modules")
    parser.add_argument("--root", default=ROOT, help="the tree holding securechat/ (default: this one)")
    parser.add_argument("--verbose", action="store_true", help="show the compiler's output")
    options = parser.parse_args(argv)
    root = os.path.abspath(options.root)
    if options.clean:
        removed = clean(root)
        sys.stdout.write("removed %d compiled module(s)\n" % (len(removed),))
        return 0
    if not options.status:
        try:
            build(root, options.verbose)
        except ImportError as e:
            sys.stderr.write("cannot build: %s (pip install mypy setuptools; a C compiler)\n" % (e,))
            return 1
    compiled, stale = compiledModules(root), staleModules(root)
    sys.stdout.write("compiled (%d of %d): %s\n" % (len(compiled), len(COMPILED), " ".join(compiled) or "none"))
    if stale:
        sys.stdout.write("STALE, source newer than its build: %s\n" % (" ".join(stale),))
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
