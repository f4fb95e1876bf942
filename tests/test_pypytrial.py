"""
tests/pypytrial.py: tox's pypy3 run survives PyPy's JIT being refused
executable memory, and nothing else.
"""

from __future__ import annotations

import io
import sys
from typing import List, Tuple

from twisted.trial.unittest import SynchronousTestCase

from tests import pypytrial

#: What CI printed when PyPy's JIT could not get its next block (the RPython
#: frames shortened): PyPy raised MemoryError into hypothesis, which was
#: handling a missing cache file, and trial stopped on it.
JIT_FAILURE = """\
  File "rpython_jit_backend_x86_1.c", line 17710, in RegAlloc_get_gcmap
  File "rpython_jit_backend_llsupport_1.c", line 12221, in allocate_gcmap
  File "rpython_jit_backend_llsupport.c", line 8884, in MachineDataBlockWrapper__allocate_next_block
  File "rpython_jit_backend_llsupport.c", line 15445, in AsmMemoryManager__allocate_block
Traceback (most recent call last):
  File "/ci/.tox/pypy3/lib/pypy3.9/site-packages/hypothesis/internal/charmap.py", line 98, in charmap
    with gzip.GzipFile(f, "rb") as d:
  File "/usr/lib/pypy3.9/gzip.py", line 173, in __init__
    fileobj = self.myfileobj = builtins.open(filename, mode or 'rb')
FileNotFoundError: [Errno 2] No such file or directory: '/ci/.hypothesis/unicode_data/13.0.0/charmap.json.gz'

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/usr/lib/pypy3.9/runpy.py", line 200, in _run_module_as_main
    return _run_code(code, main_globals, None,
  File "/ci/.tox/pypy3/lib/pypy3.9/site-packages/twisted/trial/runner.py", line 961, in _runWithoutDecoration
    result = test.run(...)
MemoryError
"""
RPYTHON_HEAD = "RPython traceback:\n"
TEST_FAILURE = """\
[FAIL]
Traceback (most recent call last):
  File "tests/test_wire.py", line 12, in test_parse
MemoryError
FAILED (failures=1, successes=277)
"""


class FakeRuns:
    """Trial runs that answer from a script, and what they were asked to run."""

    def __init__(self, *answers: Tuple[int, str]) -> None:
        self.answers = list(answers)
        self.commands: List[List[str]] = []

    def __call__(self, command: List[str]) -> Tuple[int, str]:
        self.commands.append(command)
        return self.answers.pop(0)


class JitFallbackTests(SynchronousTestCase):
    """A failed run is retried with the JIT off only for the JIT backend's own failure."""

    modules = ["tests.test_wire", "tests.test_relay_state"]

    def test_recognisesTheJitBackendFailure(self) -> None:
        self.assertTrue(pypytrial.jitBackendFailed(RPYTHON_HEAD + JIT_FAILURE))
        self.assertFalse(pypytrial.jitBackendFailed(TEST_FAILURE))
        self.assertFalse(pypytrial.jitBackendFailed(JIT_FAILURE))  # no RPython traceback header

    def test_anotherJitBackendFailureIsNotRetried(self) -> None:
        """
        The JIT backend failing for another reason than memory (a PyPy bug our
        code sets off, an assertion in the backend) is a real failure of the
        relay on PyPy as it runs: the run's verdict, never hidden by a rerun
        with the JIT off.
        """
        frames = JIT_FAILURE.split("Traceback")[0]
        for end in ("Fatal RPython error: AssertionError\n", "Fatal RPython error: NotImplementedError\n"):
            self.assertFalse(pypytrial.jitBackendFailed(RPYTHON_HEAD + frames + end))
            runs = FakeRuns((1, RPYTHON_HEAD + frames + end), (0, "PASSED (successes=278)\n"))
            self.assertEqual(pypytrial.main(self.modules, run=runs, onPyPy=True, out=io.StringIO()), 1)
            self.assertEqual(len(runs.commands), 1)
        # Its memory refused, whether PyPy stops at once or raises MemoryError in our code: retried.
        self.assertTrue(pypytrial.jitBackendFailed(RPYTHON_HEAD + frames + "Fatal RPython error: MemoryError\n"))
        # A real test failure elsewhere in the output does not make a non-memory JIT failure one.
        mixed = TEST_FAILURE + RPYTHON_HEAD + frames + "Fatal RPython error: AssertionError\n"
        self.assertFalse(pypytrial.jitBackendFailed(mixed))

    def test_jitFailureRunsAgainWithTheJitOff(self) -> None:
        runs = FakeRuns((1, RPYTHON_HEAD + JIT_FAILURE), (0, "PASSED (successes=278)\n"))
        out = io.StringIO()
        self.assertEqual(pypytrial.main(self.modules, run=runs, onPyPy=True, out=out), 0)
        self.assertEqual(runs.commands, [
            [sys.executable, "-m", "twisted.trial", *self.modules],
            [sys.executable, "--jit", "off", "-m", "twisted.trial", *self.modules],
        ])
        self.assertIn("running the same tests again with --jit off", out.getvalue())

    def test_theSecondRunsVerdictStands(self) -> None:
        runs = FakeRuns((1, RPYTHON_HEAD + JIT_FAILURE), (1, TEST_FAILURE))
        self.assertEqual(pypytrial.main(self.modules, run=runs, onPyPy=True, out=io.StringIO()), 1)
        self.assertEqual(len(runs.commands), 2)

    def test_aTestFailureIsNotRetried(self) -> None:
        runs = FakeRuns((1, TEST_FAILURE))
        out = io.StringIO()
        self.assertEqual(pypytrial.main(self.modules, run=runs, onPyPy=True, out=out), 1)
        self.assertEqual(len(runs.commands), 1)
        self.assertEqual(out.getvalue(), "")

    def test_aPassIsNotRetried(self) -> None:
        runs = FakeRuns((0, "PASSED\n"))
        self.assertEqual(pypytrial.main(self.modules, run=runs, onPyPy=True, out=io.StringIO()), 0)
        self.assertEqual(len(runs.commands), 1)

    def test_onlyOnPyPy(self) -> None:
        runs = FakeRuns((1, RPYTHON_HEAD + JIT_FAILURE))
        self.assertEqual(pypytrial.main(self.modules, run=runs, onPyPy=False, out=io.StringIO()), 1)
        self.assertEqual(len(runs.commands), 1)


class RunEchoingTests(SynchronousTestCase):
    """The real runner passes a child's output through and keeps it."""

    def test_echoesAndKeeps(self) -> None:
        out = io.StringIO()
        code, output = pypytrial.runEchoing(
            [sys.executable, "-c", "import sys; print('one'); print('two', file=sys.stderr); sys.exit(3)"], out=out
        )
        self.assertEqual(code, 3)
        self.assertEqual(sorted(output.splitlines()), ["one", "two"])
        self.assertEqual(out.getvalue(), output)
