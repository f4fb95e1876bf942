"""
Tests for securechat.  Hypothesis profiles: C{ci} (the default under tox) is
derandomized so a red CI run is reproducible; C{dev} explores more.
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    deadline=None,
    derandomize=True,
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow],
)
# Neither profile judges speed: no deadline, no "too slow" health check (a busy
# machine generates examples slowly, which says nothing about the code).
settings.register_profile("dev", deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# The client keeps its identity, pins and replay state in $XDG_STATE_HOME
# (issue 13): tests, and the clients they start as subprocesses, get a
# private one per test process, never the user's, never shared between
# the processes of `trial -j`.
import atexit  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402

_STATE_HOME = tempfile.mkdtemp(prefix="securechat-tests-state-")
os.environ["XDG_STATE_HOME"] = _STATE_HOME
atexit.register(shutil.rmtree, _STATE_HOME, True)
