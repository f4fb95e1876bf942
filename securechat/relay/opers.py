"""
IRC operators: the C{--opers} file and its password hashes.  No I/O
beyond what L{main} (C{python -m securechat.relay.opers}) does to make a
hash line.

The file holds one operator a line, C{name mask hash}: C{mask} is a glob
(C{*}, C{?}) matched against C{user@host} of the connection asking, and
C{hash} is a salted scrypt hash, so that the file (backups, a config
repository) never holds a password an attacker could replay::

    # name  mask             hash
    alice   *@127.0.0.1      $scrypt$ln=14,r=8,p=1$<salt>$<hash>

Salt and hash are unpadded standard base64.  Checking a password is
scrypt again and a constant-time comparison, both by C{cryptography}.
"""

from __future__ import annotations

import base64
import binascii
import getpass
import secrets
import sys
from typing import IO, Callable, List, Optional, Sequence, Tuple

import attr
from cryptography.exceptions import InvalidKey
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

#: The hash's scheme tag, and the cost the hashing command uses: 2**14
#: rounds of 8 blocks: 16 MiB and 39 ms a check on the project's test machine.
SCHEME = "scrypt"
DEFAULT_LOG_N = 14
DEFAULT_R = 8
DEFAULT_P = 1
SALT_BYTES = 16
HASH_BYTES = 32
#: What a hash line may ask for: a check runs on the relay's only thread,
#: so an operator's typo (ln=30) must not stall or exhaust it.
MAX_MEMORY = 64 * 1024 * 1024
MAX_P = 4


class OperFileError(ValueError):
    """A line of the operators file that cannot be used, with its number."""


@attr.s(frozen=True, slots=True, auto_attribs=True)
class PasswordHash:
    """A parsed C{$scrypt$ln=..,r=..,p=..$salt$hash}."""

    logN: int
    r: int
    p: int
    salt: bytes
    digest: bytes = attr.ib(repr=False)

    def verify(self, password: bytes) -> bool:
        """Whether C{password} hashes to this (compared in constant time)."""
        kdf = Scrypt(salt=self.salt, length=len(self.digest), n=2**self.logN, r=self.r, p=self.p)
        try:
            kdf.verify(password, self.digest)
        except InvalidKey:
            return False
        return True

    def format(self) -> str:
        return "$%s$ln=%d,r=%d,p=%d$%s$%s" % (
            SCHEME, self.logN, self.r, self.p, _b64(self.salt), _b64(self.digest)
        )


@attr.s(frozen=True, slots=True, auto_attribs=True)
class OperEntry:
    """One operator: a name, where it may come from, and its password's hash."""

    name: str
    mask: str
    password: PasswordHash = attr.ib(repr=False)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def hashPassword(
    password: bytes, logN: int = DEFAULT_LOG_N, r: int = DEFAULT_R, p: int = DEFAULT_P
) -> PasswordHash:
    """A new salted hash of C{password} (the salt from L{secrets})."""
    salt = secrets.token_bytes(SALT_BYTES)
    kdf = Scrypt(salt=salt, length=HASH_BYTES, n=2**logN, r=r, p=p)
    return PasswordHash(logN, r, p, salt, kdf.derive(password))


def parseHash(text: str) -> PasswordHash:
    """
    Read C{$scrypt$ln=14,r=8,p=1$salt$hash}.

    @raise ValueError: for anything else, or a cost over L{MAX_MEMORY}.
    """
    parts = text.split("$")
    if len(parts) != 5 or parts[0] or parts[1] != SCHEME:
        raise ValueError("not a $scrypt$ln=N,r=R,p=P$salt$hash password hash")
    try:
        fields = dict(item.split("=", 1) for item in parts[2].split(","))
        logN, r, p = int(fields["ln"]), int(fields["r"]), int(fields["p"])
        salt, digest = _unb64(parts[3]), _unb64(parts[4])
    except (KeyError, ValueError, binascii.Error):
        raise ValueError("unreadable scrypt parameters, salt or hash") from None
    if not (1 <= logN <= 24 and 1 <= r and 1 <= p <= MAX_P) or 128 * r * 2**logN > MAX_MEMORY:
        raise ValueError("scrypt cost out of bounds (at most %d MiB, p <= %d)" % (MAX_MEMORY >> 20, MAX_P))
    if len(salt) < 8 or len(digest) < 16:
        raise ValueError("salt or hash too short")
    return PasswordHash(logN, r, p, salt, digest)


def parseOpers(text: str) -> Tuple[OperEntry, ...]:
    """
    The entries of an operators file; blank lines and C{#} comments skipped.

    @raise OperFileError: naming the first bad line.
    """
    entries: List[OperEntry] = []
    for number, line in enumerate(text.splitlines(), 1):
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        if len(words) != 3:
            raise OperFileError("line %d: expected `name mask hash`" % (number,))
        name, mask, hashed = words
        if "@" not in mask:
            raise OperFileError("line %d: the mask must be user@host (e.g. *@127.0.0.1)" % (number,))
        try:
            password = parseHash(hashed)
        except ValueError as e:
            raise OperFileError("line %d: %s" % (number, e)) from None
        entries.append(OperEntry(name, mask, password))
    return tuple(entries)


def main(
    argv: Optional[Sequence[str]] = None,
    stdin: IO[str] = sys.stdin,
    stdout: IO[str] = sys.stdout,
    stderr: IO[str] = sys.stderr,
    prompt: Callable[[str], str] = getpass.getpass,
) -> int:
    """
    C{python -m securechat.relay.opers [name [mask]]}: ask for a password
    (twice, without echo; or read one line from a pipe) and write the line
    for the operators file.  The password never goes on argv.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    name = args[0] if args else "admin"
    mask = args[1] if len(args) > 1 else "*@127.0.0.1"
    if stdin.isatty():
        password = prompt("Operator password: ")
        if prompt("Again: ") != password:
            stderr.write("The two passwords differ; nothing written.\n")
            return 1
    else:
        password = stdin.readline().rstrip("\r\n")
    if not password:
        stderr.write("An empty password; nothing written.\n")
        return 1
    stdout.write("%s %s %s\n" % (name, mask, hashPassword(password.encode("utf-8")).format()))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
