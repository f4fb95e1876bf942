"""
Argon2id off the reactor, one derivation at a time.

With C{cryptography} 50.x, two Argon2id derivations (lanes=4, 64 MiB) that
run at the same time in two threads never return: both threads block, use
no CPU, and every later derivation in the process fails at once with
C{MemoryError: Not enough memory to derive key} (reproduced without
securechat; see docs/security.md).  One at a time they take ~0.25 s each.
So every derivation in the process goes through one lock, and the client's
go through one worker thread fed by a queue.

The worker is a daemon thread of its own, not the reactor's thread pool:
the pool is joined when the reactor stops, so a derivation that never
returns made SIGTERM and C{/quit} hang the client for good.  A daemon
thread is simply abandoned at exit, whatever it is doing.
"""

from __future__ import annotations

import collections
import threading
from typing import Any, Callable, Deque, Optional, Tuple

from twisted.internet.defer import Deferred, fail
from twisted.python.failure import Failure

from ...codec import KdfParams, RoomKeys, derive_room_keys
from ...codec.names import Casefold
from ..core.session import CommandError

#: Derivations waiting or running in one worker before more are refused:
#: each costs ~0.25 s, so this many is already a long wait.
MAX_PENDING = 16

#: Held by every Argon2id derivation of this process, in the worker or not
#: (startup keys, the demo): two at once never finish with cryptography 50.
_ARGON2 = threading.Lock()


class TooManyDerivations(CommandError):
    """More key derivations are queued than L{MAX_PENDING}: refused, like any bad command."""


def derive_one_at_a_time(
    passphrase: bytes, target: str, params: KdfParams, casefold: Casefold
) -> RoomKeys:
    """L{derive_room_keys}, waiting for any other derivation of this process to finish first."""
    with _ARGON2:
        return derive_room_keys(passphrase, target, params, casefold)


Job = Tuple[Deferred, Callable[..., Any], Tuple[Any, ...]]


class KdfWorker:
    """
    A queue of derivations and the one daemon thread that runs them, in
    order; each result is delivered in the reactor thread.  The thread is
    started with the first job, so a client that never keys a room has none.
    """

    def __init__(
        self,
        reactor: Any,
        derive: Callable[..., Any] = derive_one_at_a_time,
        maxPending: int = MAX_PENDING,
    ) -> None:
        self.reactor = reactor
        self.derive = derive
        self.maxPending = maxPending
        self._jobs: Deque[Job] = collections.deque()
        self._ready = threading.Condition(threading.Lock())
        self._thread: Optional[threading.Thread] = None
        #: Jobs queued or running (changed in the reactor thread only).
        self.pending = 0

    def submit(self, *args: Any) -> Deferred:
        """Fires (in the reactor thread) with C{derive(*args)}, after every earlier job."""
        if self.pending >= self.maxPending:
            return fail(
                TooManyDerivations(
                    "%d key derivations are already waiting; try again when they are done"
                    % (self.pending,)
                )
            )
        result: Deferred = Deferred()
        self.pending += 1
        with self._ready:
            self._jobs.append((result, self.derive, args))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="securechat-kdf", daemon=True
                )
                self._thread.start()
            self._ready.notify()
        return result

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._jobs:
                    self._ready.wait()
                result, derive, args = self._jobs.popleft()
            try:
                value: Any = derive(*args)
            except BaseException:
                value = Failure()
            del args  # the passphrase: not kept while waiting for the next job
            self.reactor.callFromThread(self._deliver, result, value)
            del result, value

    def _deliver(self, result: Deferred, value: Any) -> None:
        self.pending -= 1
        if isinstance(value, Failure):
            result.errback(value)
        else:
            result.callback(value)


__all__ = ["KdfWorker", "MAX_PENDING", "TooManyDerivations", "derive_one_at_a_time"]
