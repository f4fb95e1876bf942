"""
The one way a command's run function says it cannot start (or could not go
on): it raises L{CannotStart}, and the command line (L{securechat.cli.main})
alone writes the sentence to stderr and chooses the exit status.  Library
code never prints.
"""

from __future__ import annotations

#: The exit status of a command that could not start: bad usage or settings.
EXIT_USAGE = 2


class CannotStart(Exception):
    """C{str(error)} is the sentence for the user; C{status} the exit status."""

    def __init__(self, message: str, status: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.status = status
