"""
The relay's optional compiled build (mypyc) and what makes it possible:
the command groups of L{RelayState} are mypyc traits, which pure Python runs
as plain mixins whether or not C{mypy_extensions} is installed.
"""

from __future__ import annotations

import configparser
import importlib
import importlib.machinery
import io
import os
import platform
import shutil
import subprocess
import sys
import sysconfig
from typing import Optional
from unittest import mock

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from securechat.relay import build, traits
from securechat.relay.build import COMPILED
from securechat.relay.channels import ChannelCommands
from securechat.relay.operators import OperatorCommands
from securechat.relay.queries import QueryCommands
from securechat.relay.registration import RegistrationCommands
from securechat.relay.state import RelayState


class TraitMarkerTests(SynchronousTestCase):
    """L{traits.trait} without mypyc: the class itself, untouched."""

    def test_withoutMypyExtensions(self) -> None:
        """
        Where C{mypy_extensions} is not installed (a plain C{pip install .}
        on PyPy, say), the marker is the identity and the module imports.
        """
        with mock.patch.dict(sys.modules, {"mypy_extensions": None}):
            fallback = importlib.reload(traits)
            try:

                class Marked:
                    pass

                self.assertIs(fallback.trait(Marked), Marked)
                self.assertNotIn("mypy_extensions", getattr(fallback.trait, "__module__", ""))
            finally:
                # The module as the rest of the suite imported it.
                importlib.reload(traits)

    def test_groupsStayMixins(self) -> None:
        """
        Every command group is a base of L{RelayState}, and no stub a group
        declares for mypy shadows a real method: each method of the state
        resolves to the class that defines it for real.
        """
        for group in (RegistrationCommands, QueryCommands, ChannelCommands, OperatorCommands):
            self.assertTrue(issubclass(RelayState, group))
        self.assertIs(RelayState.reply, RelayState.__dict__["reply"])
        self.assertIs(RelayState.error, RelayState.__dict__["error"])
        self.assertIs(RelayState._peersOf, RelayState.__dict__["_peersOf"])
        self.assertIs(RelayState._userModes, OperatorCommands.__dict__["_userModes"])
        self.assertIs(RelayState._leave, RelayState.__dict__["_leave"])


#: The relay's test modules (tox's pypy3 list): run again on the compiled build.
RELAY_TESTS = (
    "tests.test_wire",
    "tests.test_relay_state",
    "tests.test_relay_protocol",
    "tests.test_relay_integration",
    "tests.test_relay_sendnow",
    "tests.test_relay_irc",
    "tests.test_relay_memory",
    "tests.test_relay_fastpath",
    "tests.test_relay_turns",
    "tests.test_relay_operators",
    "tests.test_relay_textlog",
    "tests.test_relay_flushinterval",
    "tests.test_relay_turnshare",
    "tests.test_relay_compiled",
)
#: Bounds on the build and the run (about 20 s and 10 s on a quiet core).
BUILD_TIMEOUT_S = 600
RUN_TIMEOUT_S = 600
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _whyNotBuildable() -> Optional[str]:
    """Why this machine cannot build the compiled relay, or None."""
    if platform.python_implementation() != "CPython":
        return "mypyc compiles for CPython only"
    try:
        import mypyc.build  # noqa: F401
        import setuptools  # noqa: F401
    except ImportError as e:
        return "mypyc (pip install mypy) or setuptools missing: %s" % (e,)
    if shutil.which(os.environ.get("CC", "cc")) is None and shutil.which("gcc") is None:
        return "no C compiler"
    if not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")):
        return "no Python.h for this interpreter (Debian: python3-dev)"
    if not os.path.isdir(os.path.join(ROOT, "securechat")):
        return "no source tree beside the tests"
    return None


class RelayTestListTests(SynchronousTestCase):
    def test_sameAsToxPypy3List(self) -> None:
        """The compiled run and tox's pypy3 env run the same relay modules: a new one is added to both."""
        path = os.path.join(ROOT, "tox.ini")
        if not os.path.exists(path):
            raise SkipTest("no tox.ini beside these tests (the compiled build's copy of the tree has none)")
        tox = configparser.ConfigParser(interpolation=None)
        tox.read(path)
        command = tox["testenv:pypy3"]["commands"]
        listed = command.split("{posargs:", 1)[1].split("}", 1)[0].split()
        self.assertEqual(listed, list(RELAY_TESTS))


class CompiledBuildTests(SynchronousTestCase):
    """
    The compiled build behaves as the pure one: it is built from a copy of
    this tree in a temporary directory, and the relay's test modules run
    against it there.
    """

    def test_relayTestsPassCompiled(self) -> None:
        if os.environ.get("SECURECHAT_COMPILED_NESTED"):
            raise SkipTest("this run is the compiled build's own")
        why = _whyNotBuildable()
        if why is not None:
            raise SkipTest("compiled build not exercised: %s (tox -e compiled runs it)" % (why,))
        work = os.path.abspath(self.mktemp())
        os.makedirs(work)
        for name in ("securechat", "tests", "twisted"):
            shutil.copytree(
                os.path.join(ROOT, name),
                os.path.join(work, name),
                ignore=shutil.ignore_patterns("__pycache__", "*.so", "_trial_temp*", "dropin.cache"),
            )
        environment = dict(os.environ, PYTHONPATH=work)
        built = subprocess.run(
            [sys.executable, "-m", "securechat.relay.build", "--root", work],
            cwd=work, env=environment, capture_output=True, timeout=BUILD_TIMEOUT_S,
        )
        self.assertEqual(built.returncode, 0, built.stderr.decode("utf-8", "replace")[-4000:])
        self.assertIn(b"compiled (%d of %d)" % (len(COMPILED), len(COMPILED)), built.stdout)
        # The copy imports its extension modules, not this tree's sources.
        probe = subprocess.run(
            [sys.executable, "-c", "import securechat.relay.state as s; print(s.__file__)"],
            cwd=work, env=environment, capture_output=True, timeout=RUN_TIMEOUT_S,
        )
        self.assertTrue(probe.stdout.strip().startswith(os.path.abspath(work).encode()), probe.stdout)
        self.assertFalse(probe.stdout.strip().endswith(b".py"), probe.stdout)
        ran = subprocess.run(
            [sys.executable, "-m", "twisted.trial", "--temp-directory", os.path.join(work, "_trial_temp"),
             *RELAY_TESTS],
            cwd=work, env=dict(environment, SECURECHAT_COMPILED_NESTED="1"),
            capture_output=True, timeout=RUN_TIMEOUT_S,
        )
        output = ran.stdout.decode("utf-8", "replace")
        self.assertEqual(ran.returncode, 0, output[-6000:])
        self.assertIn("PASSED", output)


class BuildTreeTests(SynchronousTestCase):
    """What C{--status} and C{--clean} see in a tree: extension files beside sources."""

    def setUp(self) -> None:
        self.root = os.path.abspath(self.mktemp())
        for name in COMPILED:
            path = os.path.join(self.root, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as source:
                source.write("")
        self.suffix = importlib.machinery.EXTENSION_SUFFIXES[0]

    def extension(self, name: str) -> str:
        path = os.path.join(self.root, name[: -len(".py")] + self.suffix)
        with open(path, "wb") as built:
            built.write(b"")
        return path

    def test_pureTree(self) -> None:
        self.assertEqual(build.compiledModules(self.root), [])
        self.assertEqual(build.staleModules(self.root), [])
        with mock.patch("sys.stdout", io.StringIO()) as out:
            self.assertEqual(build.main(["--status", "--root", self.root]), 0)
        self.assertEqual(out.getvalue(), "compiled (0 of %d): none\n" % (len(COMPILED),))

    def test_compiledStaleAndClean(self) -> None:
        """A source edited after its build is stale; clean removes modules and runtime."""
        wire, state = self.extension("securechat/wire.py"), self.extension("securechat/relay/state.py")
        runtime = os.path.join(self.root, "0123abcd__mypyc" + self.suffix)
        with open(runtime, "wb") as library:
            library.write(b"")
        self.assertEqual(build.compiledModules(self.root), ["securechat/wire.py", "securechat/relay/state.py"])
        self.assertEqual(build.staleModules(self.root), [])
        source = os.path.join(self.root, "securechat/relay/state.py")
        later = os.path.getmtime(state) + 10
        os.utime(source, (later, later))
        self.assertEqual(build.staleModules(self.root), ["securechat/relay/state.py"])
        with mock.patch("sys.stdout", io.StringIO()) as out:
            self.assertEqual(build.main(["--status", "--root", self.root]), 1)
        self.assertIn("STALE, source newer than its build: securechat/relay/state.py", out.getvalue())
        self.assertEqual(sorted(build.clean(self.root)), sorted([wire, state, runtime]))
        self.assertEqual(build.compiledModules(self.root), [])
        self.assertFalse(os.path.exists(runtime))
        self.assertTrue(os.path.exists(source))
