"""
The state directory: what must survive a restart, kept private and whole.

C{$XDG_STATE_HOME/securechat}, else C{~/.local/state/securechat}, or the
C{--state-dir} the user gives.  The directory is 0700 and every file 0600;
a file is written to a temporary file in the same directory, fsynced, then
renamed over the old one (and the directory fsynced), so a crash leaves
the old version or the new one, never half of one.

Reading never raises anything but L{StateError}, whose message names the
file and says what is wrong; the caller picks the safe default.  A corrupt
file is moved aside (C{NAME.corrupt}), never silently overwritten: it may
hold an identity key someone wants back.

One client process per directory at a time (an exclusive lock): two
processes writing the same replay state would each forget what the other
saw.  Within one process the lock is shared (counted): a process opening
its directory twice (a test, a program building two services) is one
writer's business, not a second user's.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import tempfile
from typing import Any, Dict, List, Mapping, Optional

from twisted.logger import Logger

try:
    import fcntl
except ImportError:  # not on POSIX: no lock, the rest works
    fcntl = None  # type: ignore[assignment]

APP_NAME = "securechat"
DIR_MODE = 0o700
FILE_MODE = 0o600
LOCK_NAME = "lock"
CORRUPT_SUFFIX = ".corrupt"
#: Refuse state files larger than this (a replay cache of 100 000 ids is ~3 MB).
MAX_STATE_FILE = 64 * 1024 * 1024


#: Directory -> [lock file descriptor, openers] for the locks this process holds.
_HELD: Dict[str, List[int]] = {}


#: The --state-dir option's help, the same for the client, the bot and the proxy.
STATE_DIR_HELP = (
    "directory of the identity key, pinned keys and replay state "
    "(default $XDG_STATE_HOME/securechat, else ~/.local/state/securechat)"
)


class StateError(Exception):
    """The state directory or one of its files cannot be used; the message says why."""


class StateCorrupt(StateError):
    """A state file exists but cannot be read as what we wrote."""


def defaultStateDir(environ: Optional[Mapping[str, str]] = None) -> str:
    """C{$XDG_STATE_HOME/securechat} (if absolute, per the XDG spec), else C{~/.local/state/securechat}."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_STATE_HOME", "")
    if not base or not os.path.isabs(base):
        home = env.get("HOME") or os.path.expanduser("~")
        base = os.path.join(home, ".local", "state")
    return os.path.join(base, APP_NAME)


class StateDir:
    """An opened (created if needed, private, locked) state directory."""

    log = Logger()

    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(path)
        self._lock: Optional[int] = None

    @classmethod
    def open(cls, path: Optional[str] = None, lock: bool = True) -> StateDir:
        """Create or check C{path} (default L{defaultStateDir}); L{StateError} if unusable."""
        state = cls(path or defaultStateDir())
        state._prepare()
        if lock:
            state._acquire()
        return state

    @staticmethod
    def check(path: str) -> None:
        """L{StateError} if C{path} could not be opened as a state directory; creates nothing."""
        path = os.path.abspath(path)
        if os.path.exists(path):
            if not os.path.isdir(path):
                raise StateError("the state directory %s is not a directory" % (path,))
            if not os.access(path, os.W_OK | os.X_OK):
                raise StateError("the state directory %s is not writable" % (path,))
            return
        parent = os.path.dirname(path)
        while parent and not os.path.exists(parent):
            parent = os.path.dirname(parent)
        if not os.path.isdir(parent) or not os.access(parent, os.W_OK | os.X_OK):
            raise StateError("cannot create the state directory %s (%s is not a writable directory)" % (path, parent))

    def _prepare(self) -> None:
        if os.path.exists(self.path) and not os.path.isdir(self.path):
            raise StateError("the state directory %s is not a directory" % (self.path,))
        try:
            os.makedirs(self.path, mode=DIR_MODE, exist_ok=True)
            info = os.stat(self.path)
        except OSError as exc:
            raise StateError("cannot create the state directory %s: %s" % (self.path, exc.strerror)) from None
        if not stat.S_ISDIR(info.st_mode):
            raise StateError("the state directory %s is not a directory" % (self.path,))
        if hasattr(os, "getuid") and info.st_uid != os.getuid():
            raise StateError("the state directory %s belongs to another user" % (self.path,))
        if stat.S_IMODE(info.st_mode) & 0o077:
            # Ours, but open to others (made by hand, or a umask): close it.
            self.log.warn(
                "the state directory {path} was readable by others (mode {mode:o}): set to 0700",
                path=self.path, mode=stat.S_IMODE(info.st_mode),
            )
            try:
                os.chmod(self.path, DIR_MODE)
            except OSError as exc:
                raise StateError("cannot make %s private: %s" % (self.path, exc.strerror)) from None

    def _acquire(self) -> None:
        if fcntl is None:
            return
        held = _HELD.get(self.path)
        if held is not None:
            held[1] += 1
            self._lock = held[0]
            return
        descriptor = os.open(os.path.join(self.path, LOCK_NAME), os.O_RDWR | os.O_CREAT, FILE_MODE)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(descriptor)
            if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise StateError(
                    "the state directory %s is in use by another securechat client: "
                    "give each one its own --state-dir" % (self.path,)
                ) from None
            raise StateError("cannot lock the state directory %s: %s" % (self.path, exc.strerror)) from None
        self._lock = descriptor
        _HELD[self.path] = [descriptor, 1]

    def close(self) -> None:
        """Release the lock once every opener in this process closed (the process's exit does it too)."""
        if self._lock is None:
            return
        self._lock = None
        held = _HELD.get(self.path)
        if held is None:
            return
        held[1] -= 1
        if held[1] <= 0:
            del _HELD[self.path]
            os.close(held[0])

    def file(self, name: str) -> str:
        return os.path.join(self.path, name)

    def readJson(self, name: str) -> Optional[Any]:
        """
        The JSON in C{name}, or L{None} if there is no such file;
        L{StateCorrupt} (the file moved aside) if it is not valid JSON, and
        L{StateError} if it cannot be read.
        """
        path = self.file(name)
        try:
            with open(path, "rb") as handle:
                data = handle.read(MAX_STATE_FILE + 1)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StateError("cannot read %s: %s" % (path, exc.strerror)) from None
        if len(data) > MAX_STATE_FILE:
            self.setAside(name)
            raise StateCorrupt("%s is larger than %d bytes: moved aside" % (path, MAX_STATE_FILE))
        try:
            return json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            aside = self.setAside(name)
            raise StateCorrupt("%s is not valid JSON (kept as %s)" % (path, aside)) from None

    def makePrivate(self, name: str) -> Optional[int]:
        """
        Bring C{name} to 0600 if others could read or write it (made by
        hand, copied with another umask); its old mode when it was changed,
        L{None} when it was private already or does not exist, L{StateError}
        when it cannot be changed.
        """
        path = self.file(name)
        try:
            old = stat.S_IMODE(os.stat(path).st_mode)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StateError("cannot check %s: %s" % (path, exc.strerror)) from None
        if not old & 0o077:
            return None
        try:
            os.chmod(path, FILE_MODE)
        except OSError as exc:
            raise StateError("%s is readable by others (mode %o) and cannot be made private: %s"
                              % (path, old, exc.strerror)) from None
        return old

    def setAside(self, name: str) -> str:
        """Move a bad file out of the way (never deleted); returns its new path."""
        path = self.file(name)
        aside = path + CORRUPT_SUFFIX
        try:
            os.replace(path, aside)
        except OSError:
            return path
        return aside

    def writeJson(self, name: str, value: Any) -> None:
        """Write C{value} to C{name} atomically (temp, fsync, rename, fsync dir); L{StateError} on failure."""
        self.writeBytes(name, json.dumps(value, sort_keys=True, separators=(",", ":")).encode("utf-8"))

    def writeBytes(self, name: str, data: bytes) -> None:
        path = self.file(name)
        try:
            descriptor, temporary = tempfile.mkstemp(prefix="." + name + ".", suffix=".tmp", dir=self.path)
        except OSError as exc:
            raise StateError("cannot write %s: %s" % (path, exc.strerror)) from None
        try:
            try:
                os.fchmod(descriptor, FILE_MODE)
                with os.fdopen(descriptor, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(temporary, path)
            except BaseException:
                try:
                    os.unlink(temporary)
                except OSError:
                    pass
                raise
            self._syncDirectory()
        except OSError as exc:
            raise StateError("cannot write %s: %s" % (path, exc.strerror)) from None

    def _syncDirectory(self) -> None:
        """Make the rename itself durable (where directories can be opened)."""
        try:
            descriptor = os.open(self.path, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(descriptor)
        except OSError:
            pass
        finally:
            os.close(descriptor)
