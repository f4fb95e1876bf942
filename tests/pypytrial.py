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
#: What ends such a traceback when the machine refused the JIT memory: PyPy
#: stops (fatal), or raises MemoryError in the Python code running then.
_MEMORY_REFUSED = re.compile(r"(Fatal RPython error: )?MemoryError\b")

Runner = Callable[[List[str]], Tuple[int, str]]


def jitBackendFailed(output: str) -> bool:
    """
    Whether C{output} shows PyPy's JIT backend refused memory: an RPython
    traceback through the JIT backend whose error is C{MemoryError}.  Any other
    failure of the backend (an assertion: a PyPy bug our code sets off) is a
    failure of the relay on PyPy as it runs, never retried.
    """
    lines = output.splitlines()
    for at, line in enumerate(lines):
        if not line.startswith(JIT_BACKEND_MARKS[0]):
            continue
        through = False
        for after in lines[at + 1 :]:
            if after.startswith((" ", "\t")) or after == "Traceback (most recent call last):":
                through = through or JIT_BACKEND_MARKS[1] in after  # a frame of its, or of the Python code after
                continue
            if through and _MEMORY_REFUSED.match(after):
                return True
            break  # the traceback's error, and it is not the JIT memory refused
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
