"""
Key derivation never hangs the client (issue 11, point 3).

With cryptography 50.x, two Argon2id derivations at once in two threads
never return, and later ones fail with "Not enough memory".  The worker
runs them one at a time; quitting never waits for it.  The tests with the
real parameters and the quitting tests run in a child process with a time
limit: a regression must fail a test, not hang the test run.
"""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import threading
import time
from typing import List

from twisted.internet import reactor
from twisted.internet.defer import gatherResults, inlineCallbacks
from twisted.trial.unittest import SynchronousTestCase, TestCase

import securechat
from securechat.client.adapters import kdfworker
from securechat.client.adapters.headless import HeadlessClient
from securechat.client.adapters.kdfworker import KdfWorker, TooManyDerivations
from securechat.client.core.session import CommandError
from securechat.codec import DEFAULT_KDF, TEST_KDF, derive_room_keys, rfc1459_casefold

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(securechat.__file__)))
#: A child that has not finished by then is hung (it needs ~1 s; generous for a loaded CI).
CHILD_LIMIT = 30.0


def childEnvironment() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([ROOT] + [p for p in sys.path if p])
    return env




class WorkerTests(TestCase):
    """The queue itself, with fake derivations."""

    @inlineCallbacks
    def test_oneAtATimeInOrder(self):
        """Jobs asked for together run one after the other, in order, never two at once."""
        running: List[int] = []
        most = [0]
        order: List[int] = []
        lock = threading.Lock()

        def derive(n):
            with lock:
                running.append(n)
                most[0] = max(most[0], len(running))
            time.sleep(0.02)
            with lock:
                running.remove(n)
                order.append(n)
            return n * 10

        worker = KdfWorker(reactor, derive)
        results = yield gatherResults([worker.submit(n) for n in range(5)])
        self.assertEqual(results, [0, 10, 20, 30, 40])
        self.assertEqual(order, [0, 1, 2, 3, 4])
        self.assertEqual(most[0], 1)
        self.assertEqual(worker.pending, 0)

    @inlineCallbacks
    def test_resultsArriveInTheReactorThread(self):
        worker = KdfWorker(reactor, lambda: threading.current_thread().name)
        seen = []
        d = worker.submit()
        d.addCallback(lambda name: seen.append((name, threading.current_thread().name)))
        yield d
        [(worker_thread, delivered_in)] = seen
        self.assertEqual(worker_thread, "securechat-kdf")
        self.assertEqual(delivered_in, threading.main_thread().name)

    def test_workerIsADaemonStartedOnFirstUse(self):
        """No thread for a client that never keys; the one it starts never holds up exit."""
        release = threading.Event()
        worker = KdfWorker(reactor, release.wait)
        self.assertIsNone(worker._thread)
        d = worker.submit()
        self.assertTrue(worker._thread.daemon)
        release.set()
        return d

    @inlineCallbacks
    def test_errorArrivesAndTheNextJobStillRuns(self):
        def derive(n):
            if n == 0:
                raise MemoryError("Not enough memory to derive key")
            return n

        worker = KdfWorker(reactor, derive)
        first, second = worker.submit(0), worker.submit(1)
        yield self.assertFailure(first, MemoryError)
        self.assertEqual((yield second), 1)

    @inlineCallbacks
    def test_tooManyPendingAreRefused(self):
        """A script that keys in a loop gets a refusal, not an ever longer queue."""
        release = threading.Event()
        worker = KdfWorker(reactor, release.wait, maxPending=2)
        waiting = [worker.submit(), worker.submit()]
        refused = worker.submit()
        error = yield self.assertFailure(refused, TooManyDerivations)
        self.assertIsInstance(error, CommandError)
        self.assertIn("2 key derivations are already waiting", str(error))
        release.set()
        yield gatherResults(waiting)
        self.assertEqual(worker.pending, 0)
        self.assertTrue((yield worker.submit()))

    def test_everyDerivationTakesTheProcessLock(self):
        """Startup keys and the demo derive outside the worker: they queue on the same lock."""
        self.assertTrue(kdfworker._ARGON2.acquire(timeout=5))
        done = threading.Event()

        def derive():
            kdfworker.derive_one_at_a_time(b"pw", "#a", TEST_KDF, rfc1459_casefold)
            done.set()

        thread = threading.Thread(target=derive, daemon=True)
        thread.start()
        try:
            self.assertFalse(done.wait(0.2))
        finally:
            kdfworker._ARGON2.release()
        self.assertTrue(done.wait(10))

    @inlineCallbacks
    def test_clientKeysComeFromTheWorker(self):
        """deriveKeys still fires with RoomKeys, the ones derive_room_keys gives."""
        client = HeadlessClient(reactor, "tcp:127.0.0.1:1", "bot", kdfParams=TEST_KDF)
        keys = yield client.deriveKeys("#Lab", b"pw")
        expected = derive_room_keys(b"pw", "#lab", TEST_KDF)
        self.assertEqual(keys.fingerprint("fernet"), expected.fingerprint("fernet"))
        self.assertEqual(client.kdf_worker.pending, 0)


#: In a child: several keys with the real parameters, asked for together.
REAL_KEYS = """
import json, sys, time
from twisted.internet import reactor
from twisted.internet.defer import gatherResults
from securechat.client.adapters.headless import HeadlessClient
from securechat.codec import DEFAULT_KDF

client = HeadlessClient(reactor, "tcp:127.0.0.1:1", "bot", kdfParams=DEFAULT_KDF)
out = {}

def start():
    began = time.monotonic()
    together = [client.deriveKeys(room, b"correct horse") for room in ("#a", "#b", "#c")]

    def third(keys):
        out["together"] = [k.fingerprint("fernet-ttl") for k in keys]
        out["seconds"] = round(time.monotonic() - began, 2)
        return client.deriveKeys("#d", b"correct horse")

    def done(keys):
        out["after"] = keys.fingerprint("fernet-ttl")
        reactor.stop()

    def failed(reason):
        out["error"] = reason.getErrorMessage()
        reactor.stop()

    gatherResults(together).addCallback(third).addCallbacks(done, failed)

reactor.callWhenRunning(start)
reactor.run()
print(json.dumps(out))
"""


class RealParametersTests(SynchronousTestCase):
    def runChild(self, code: str) -> subprocess.CompletedProcess:
        """Run C{code} in a fresh interpreter; a child that overruns is killed and fails the test."""
        try:
            return subprocess.run(
                [sys.executable, "-c", code],
                env=childEnvironment(),
                capture_output=True,
                timeout=CHILD_LIMIT,
                cwd=ROOT,
            )
        except subprocess.TimeoutExpired as expired:
            self.fail("the child hung for %s s; stderr: %r" % (CHILD_LIMIT, expired.stderr))

    def test_severalKeysRequestedTogetherAllArrive(self):
        """
        Three keys at once with the real parameters (t=3, p=4, 64 MiB), then a
        fourth: all arrive, right (in about a second on a quiet machine; the
        verdict is that they arrive, within the child's bound).  Before the
        worker the first two never returned (cryptography 50) and the child
        hung.
        """
        self.assertEqual((DEFAULT_KDF.lanes, DEFAULT_KDF.memory_cost), (4, 64 * 1024))
        child = self.runChild(REAL_KEYS)
        self.assertEqual(child.returncode, 0, child.stderr)
        out = json.loads(child.stdout.decode().strip().splitlines()[-1])
        self.assertNotIn("error", out)
        expected = [
            derive_room_keys(b"correct horse", room, DEFAULT_KDF).fingerprint("fernet-ttl")
            for room in ("#a", "#d")
        ]
        self.assertEqual(out["together"][0], expected[0])
        self.assertEqual(len(set(out["together"])), 3)
        self.assertEqual(out["after"], expected[1])


#: In a child: `securechat --json` whose Argon2id blocks forever.
BLOCKED_CLIENT = """
import sys, threading
import securechat.codec.keys as keys

class BlockedArgon2id:
    def __init__(self, **parameters):
        pass

    def derive(self, passphrase):
        sys.stderr.write("DERIVING\\n")
        sys.stderr.flush()
        threading.Event().wait()

keys.Argon2id = BlockedArgon2id
from securechat.cli import main
sys.exit(main(sys.argv[1:] + ["--server", "tcp:127.0.0.1:1", "--nick", "bob"]))
"""


class QuitWhileDerivingTests(SynchronousTestCase):
    """SIGTERM and quit end the client even while a derivation never returns."""

    def startDeriving(self) -> subprocess.Popen:
        env = childEnvironment()
        env.pop("SECURECHAT_KEY", None)
        child = subprocess.Popen(
            # Its own state directory: a client another test started may still be ending.
            [sys.executable, "-c", BLOCKED_CLIENT, "--json", "--state-dir", os.path.abspath(self.mktemp())],
            env=env,
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.addCleanup(self.reap, child)
        child.stdin.write(b'{"cmd": "key", "target": "#lab", "passphrase": "hunter2"}\n')
        child.stdin.flush()
        seen = b""
        deadline = time.monotonic() + CHILD_LIMIT
        while b"DERIVING" not in seen:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([child.stderr], [], [], max(left, 0))
            if not ready:
                self.fail("the derivation did not start; stderr: %r" % (seen,))
            chunk = os.read(child.stderr.fileno(), 4096)
            if not chunk:
                self.fail("the child ended early: %r" % (seen,))
            seen += chunk
        return child

    def reap(self, child: subprocess.Popen) -> None:
        if child.poll() is None:
            child.kill()
            child.wait(10)
        for stream in (child.stdin, child.stderr):
            if stream is not None:
                stream.close()

    def assertEnds(self, child: subprocess.Popen) -> int:
        try:
            return child.wait(CHILD_LIMIT / 2)
        except subprocess.TimeoutExpired:
            self.fail("the client did not end while its derivation was blocked")

    def test_sigtermEndsTheClient(self):
        """Before: the reactor joined its thread pool at shutdown and waited forever."""
        child = self.startDeriving()
        child.send_signal(signal.SIGTERM)
        self.assertEnds(child)

    def test_quitCommandEndsTheClient(self):
        """JSON quit (like the console's /quit: client.quit, then the reactor stops)."""
        child = self.startDeriving()
        child.stdin.write(b'{"cmd": "quit"}\n')
        child.stdin.flush()
        self.assertEqual(self.assertEnds(child), 0)

    def test_consoleQuitEndsTheClient(self):
        """The console in a terminal (a pty): /key, then /quit while Argon2id never returns."""
        master, slave = pty.openpty()
        env = childEnvironment()
        env.pop("SECURECHAT_KEY", None)
        env["TERM"] = "xterm"
        child = subprocess.Popen(
            [sys.executable, "-c", BLOCKED_CLIENT, "--state-dir", os.path.abspath(self.mktemp())],
            env=env,
            cwd=ROOT,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
        )
        os.close(slave)
        self.addCleanup(self.reap, child)
        self.addCleanup(os.close, master)
        screen = [b""]

        def readUntil(text: bytes) -> None:
            deadline = time.monotonic() + CHILD_LIMIT
            while text not in screen[0]:
                ready, _, _ = select.select([master], [], [], max(deadline - time.monotonic(), 0))
                if not ready:
                    self.fail("never saw %r on the screen: %r" % (text, screen[0][-500:]))
                try:
                    screen[0] += os.read(master, 65536)
                except OSError:  # the child is gone
                    self.fail("the console ended early: %r" % (screen[0][-500:],))

        readUntil(b"/help")
        os.write(master, b"/key #lab\r")
        readUntil(b"passphrase for #lab")
        os.write(master, b"hunter2\r")
        readUntil(b"again, to confirm")
        os.write(master, b"hunter2\r")
        readUntil(b"DERIVING")
        os.write(master, b"/quit\r")
        deadline = time.monotonic() + CHILD_LIMIT / 2
        while child.poll() is None and time.monotonic() < deadline:
            if select.select([master], [], [], 0.1)[0]:
                try:
                    screen[0] += os.read(master, 65536)
                except OSError:
                    pass
        self.assertEqual(self.assertEnds(child), 0)
        self.assertNotIn(b"hunter2", screen[0])
