"""
Command line options that never take a secret: C{--key}, C{--passphrase}
and C{--password} are defined only to be refused, for the client and the
proxy alike (argv is visible to every user of the machine, through ps).
"""

from __future__ import annotations

from typing import Optional

from twisted.python import usage

from .statedir import StateDir, StateError, defaultStateDir


class SecretFreeOptions(usage.Options):
    """
    C{usage.Options} that refuse a secret on the command line, saying
    C{secretRefusal} (where the secret goes instead).

    Three methods, not synonyms: usage.Options' synonym table broke its
    usage text (KeyError), so every usage error became a traceback under
    twistd; and without them getopt took C{--key} for an abbreviation of
    C{--key-file}, read a file named after the secret and printed the
    secret in its error.
    """

    secretRefusal = "a secret on the command line is visible to every user (ps)"

    def opt_key(self, value: str) -> None:
        """Refused: a secret on the command line is visible to every user (ps)."""
        raise usage.UsageError(self.secretRefusal)

    def opt_passphrase(self, value: str) -> None:
        """Refused: a secret on the command line is visible to every user (ps)."""
        raise usage.UsageError(self.secretRefusal)

    def opt_password(self, value: str) -> None:
        """Refused: a secret on the command line is visible to every user (ps)."""
        raise usage.UsageError(self.secretRefusal)


def checkedStateDir(path: Optional[str]) -> str:
    """C{--state-dir}'s value, the default when not given; refused as a usage error if unusable."""
    if path is None:
        path = defaultStateDir()
    try:
        StateDir.check(path)
    except StateError as exc:
        raise usage.UsageError("--state-dir: %s" % (exc,)) from None
    return path
