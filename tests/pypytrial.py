"""
Run trial for tox's pypy3 environment, surviving one thing that is not ours:
PyPy's JIT refused executable memory by the machine.

Once, on a CI machine, PyPy's JIT backend could not map the next block of
machine code (an RPython traceback through C{rpython_jit_backend}, then
C{MemoryError}) two seconds into the run, and the whole run stopped before a
test of ours had failed or passed.  These tests check our relay and wire code
on PyPy, which PyPy's interpreter checks with the JIT on or off; so when, and
only when, a failed run's output carries the JIT backend's own traceback ending
in C{MemoryError}, the same tests run again with C{--jit off}, and the run says
so.  Any other failure (the backend's too) is the run's verdict, unchanged.

    python tests/pypytrial.py tests.test_wire tests.test_relay_state ...
"""

from __future__ import annotations

import platform
import re
import subprocess
import sys
from typing import Callable, List, Sequence, TextIO, Tuple

#: What PyPy prints when its JIT backend itself fails (never our code's frames).
JIT_BACKEND_MARKS = ("RPython traceback", "rpython_jit_backend")
#: The error that says the JIT was refused memory: what PyPy stops with (after
#: "Fatal RPython error: "), or what it raised into the Python code running
#: then, which ends that code's traceback (C{builtins.MemoryError} in trial's).
_MEMORY_REFUSED = re.compile(r"(builtins\.)?MemoryError\b")
_FATAL = "Fatal RPython error: "

Runner = Callable[[List[str]], Tuple[int, str]]


def jitBackendFailed(output: str) -> bool:
    """
    Whether C{output} shows PyPy's JIT backend refused memory: an RPython
    traceback through the JIT backend, then C{MemoryError}, either as PyPy's
    fatal error right after it or raised into the Python code running then
    (whose traceback may chain other exceptions first, as CI's did: hypothesis
    was handling a missing cache file).  Any other fatal error of the backend
    (an assertion: a PyPy bug our code sets off) is a failure of the relay on
    PyPy as it runs, never retried.
    """
    lines = output.splitlines()
    for at, line in enumerate(lines):
        if not line.startswith(JIT_BACKEND_MARKS[0]):
            continue
        end = at + 1
        while end < len(lines) and lines[end].startswith((" ", "\t")):
            end += 1
        if not any(JIT_BACKEND_MARKS[1] in frame for frame in lines[at + 1 : end]):
            continue
        if end < len(lines) and lines[end].startswith(_FATAL):
            if _MEMORY_REFUSED.match(lines[end][len(_FATAL) :]):
                return True
            continue  # the backend failed otherwise, and PyPy stopped: the run's verdict
        if any(_MEMORY_REFUSED.match(later) for later in lines[end:]):
            return True
    return False


def runEchoing(command: List[str], out: TextIO = sys.stdout) -> Tuple[int, str]:
    """Run C{command}, passing its output through as it comes, and keep it."""
    kept: List[str] = []
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            out.write(line)
            out.flush()
            kept.append(line)
        code = process.wait()
    return code, "".join(kept)


def main(
    modules: Sequence[str],
    run: Runner = runEchoing,
    onPyPy: bool = platform.python_implementation() == "PyPy",
    out: TextIO = sys.stdout,
) -> int:
    """Trial over C{modules}; once more with the JIT off if PyPy's JIT failed."""
    code, output = run([sys.executable, "-m", "twisted.trial", *modules])
    if code == 0 or not onPyPy or not jitBackendFailed(output):
        return code
    out.write(
        "\npypytrial: PyPy's JIT backend failed on this machine (its RPython traceback is above),"
        " not a test; running the same tests again with --jit off.\n"
    )
    out.flush()
    code, _ = run([sys.executable, "--jit", "off", "-m", "twisted.trial", *modules])
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
