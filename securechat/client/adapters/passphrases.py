"""
Where passphrases may come from: a file, an environment variable, a prompt
without echo (the console), or a JSON command on stdin.  Never argv: every
user of the machine can read a process's arguments.
"""

from __future__ import annotations

import os
from typing import Mapping, Optional

#: The environment variable read when no key file is given.
ENV_VAR = "SECURECHAT_KEY"
#: Refuse key files larger than this: a passphrase, not a document.
MAX_KEY_FILE = 4096
#: Options people might try; the CLI refuses them with a reason.
ARGV_PASSPHRASE_OPTIONS = ("--key", "--passphrase", "--password")


class PassphraseError(ValueError):
    """A passphrase source that cannot be used; the message says why."""


def readKeyFile(path: str) -> bytes:
    """The passphrase in C{path}: its bytes without one trailing newline."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_KEY_FILE + 1)
    except OSError as exc:
        raise PassphraseError("cannot read key file %s: %s" % (path, exc.strerror)) from None
    except ValueError:  # open() refuses a path holding a NUL
        raise PassphraseError("cannot read key file %r: a path cannot hold a NUL character" % (path,)) from None
    if len(data) > MAX_KEY_FILE:
        raise PassphraseError("key file %s is larger than %d bytes" % (path, MAX_KEY_FILE))
    if data.endswith(b"\r\n"):
        data = data[:-2]
    elif data.endswith(b"\n"):
        data = data[:-1]
    if not data:
        raise PassphraseError("key file %s is empty" % (path,))
    return data


def startupPassphrase(
    keyFile: Optional[str], environ: Optional[Mapping[str, str]] = None
) -> Optional[bytes]:
    """The passphrase given at startup: C{--key-file}, else C{$SECURECHAT_KEY}, else none."""
    if keyFile:
        return readKeyFile(keyFile)
    env = os.environ if environ is None else environ
    value = env.get(ENV_VAR)
    if value:
        return value.encode("utf-8")
    return None
