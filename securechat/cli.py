"""
The C{securechat} command: the interactive console (default), the
headless JSON-lines mode (C{--json}), and C{securechat demo}.

Passphrases come from C{--key-file}, C{$SECURECHAT_KEY} or a prompt, never
from argv: any user on the machine can read a process's arguments.
"""

from __future__ import annotations

import argparse
import getpass
import re
import sys
from typing import List, Optional

from .cannotstart import EXIT_USAGE as CANNOT_START_USAGE
from .cannotstart import CannotStart
from .client.adapters.passphrases import ARGV_PASSPHRASE_OPTIONS, ENV_VAR, PassphraseError, startupPassphrase
from .client.adapters.startup import DEFAULT_SERVER
from .client.adapters.statedir import STATE_DIR_HELP, defaultStateDir
from .codec import LAYERS
from .endpointstrings import serverDescription
from .tlsclient import INSECURE_HELP, INSECURE_OPTION, TRUST_HELP, TRUST_OPTION, TlsSettings, checkTlsSettings

#: Exit statuses.
EXIT_OK = 0
EXIT_USAGE = CANNOT_START_USAGE
DEMO_COMMAND = "demo"
PROXY_COMMAND = "proxy"


def defaultNick() -> str:
    """The login name, reduced to what IRC accepts, or C{guest}."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = ""
    name = re.sub(r"[^A-Za-z0-9_\-\[\]\\^{}|`]", "", name)
    if not name or name[0].isdigit() or name[0] == "-":
        name = "guest"
    return name[:9]


def buildParser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="securechat",
        # No abbreviations: "--ke SECRET" was taken as --key-file.
        allow_abbrev=False,
        description="Chat over an IRC relay you do not trust: messages are protected end to end.",
        epilog="Passphrases: --key-file PATH, or the %s environment variable, or /key in the "
        "console. Never on the command line. `securechat demo` runs the attack demo; "
        "`securechat proxy` protects another IRC client's messages (securechat proxy --help)." % (ENV_VAR,),
    )
    parser.add_argument(
        "--server", default=DEFAULT_SERVER,
        help="the IRC server: HOST:PORT, HOST (port 6667), ircs://HOST[:PORT] for TLS (port 6697; "
        "the server's certificate and name are checked, as with ssl:HOST:PORT), or a client "
        "endpoint (default %(default)s)",
    )
    parser.add_argument(
        TRUST_OPTION, dest="tls_trust", default=None, metavar="FILE",
        help=TRUST_HELP,
    )
    parser.add_argument(
        INSECURE_OPTION, dest="insecure_skip_tls_verify", action="store_true",
        help=INSECURE_HELP,
    )
    parser.add_argument("--nick", default=None, help="nickname (default: your login name)")
    parser.add_argument(
        "--join", action="append", default=[], metavar="ROOM",
        help="room to join at start (repeatable; keyed with the startup passphrase if one is given)",
    )
    parser.add_argument(
        "--layer", choices=LAYERS, default=None,
        help="layer for the --join rooms when a passphrase is given (default fernet-ttl)",
    )
    parser.add_argument(
        "--key-file", default=None, metavar="PATH",
        help="file holding the passphrase for the --join rooms (else $%s)" % (ENV_VAR,),
    )
    parser.add_argument(
        "--server-password-file", default=None, metavar="PATH",
        help="file holding the IRC server password (PASS), if the server needs one",
    )
    parser.add_argument("--json", action="store_true", help="headless: JSON commands on stdin, events on stdout")
    # Issue 13: identity, trust store and replay state.
    parser.add_argument(
        "--state-dir", default=None, metavar="PATH",
        help=STATE_DIR_HELP,
    )
    return parser


def refuseArgvSecrets(argv: List[str]) -> Optional[str]:
    """A sentence if argv tries to carry a passphrase, else L{None}."""
    for arg in argv:
        name = arg.split("=", 1)[0]
        # The options themselves, and what looks like their abbreviations.
        if name in ARGV_PASSPHRASE_OPTIONS or (
            len(name) > 2 and any(option.startswith(name) for option in ARGV_PASSPHRASE_OPTIONS)
        ):
            return (
                "securechat: %s is refused: a passphrase on the command line is visible to every "
                "user (ps). Use --key-file PATH or the %s environment variable." % (name, ENV_VAR)
            )
    return None


def main(argv: Optional[List[str]] = None) -> int:
    """C{securechat [demo|proxy] ...}: the exit status; what cannot start is said on stderr."""
    try:
        return _main(argv)
    except CannotStart as error:
        print("securechat: %s" % (error,), file=sys.stderr)
        return error.status


def _main(argv: Optional[List[str]]) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if argv and argv[0] == DEMO_COMMAND:
        try:
            from . import demo
        except ImportError:
            print("securechat: the demo is not part of this installation", file=sys.stderr)
            return EXIT_USAGE
        return demo.main(argv[1:])
    if argv and argv[0] == PROXY_COMMAND:
        from .proxy.service import main as runProxy

        return runProxy(argv[1:])
    refusal = refuseArgvSecrets(argv)
    if refusal is not None:
        print(refusal, file=sys.stderr)
        return EXIT_USAGE
    parser = buildParser()
    options = parser.parse_args(argv)
    try:
        options.server = serverDescription(options.server)
    except ValueError as error:
        parser.error("--server: %s" % (error,))
    try:
        checkTlsSettings(options.server, TlsSettings(options.tls_trust, options.insecure_skip_tls_verify))
    except ValueError as error:
        parser.error(str(error))
    if options.nick is None:
        options.nick = defaultNick()
    if options.state_dir is None:
        options.state_dir = defaultStateDir()
    try:
        passphrase = startupPassphrase(options.key_file)
    except PassphraseError as exc:
        print("securechat: %s" % (exc,), file=sys.stderr)
        return EXIT_USAGE
    if options.json:
        from .client.faces.jsonlines import run

        return run(options, passphrase)
    from .client.faces.console import run as runConsole

    return runConsole(options, passphrase)
