"""
Start ngIRCd (the Debian package, C) on a loopback port with a throw-away
configuration, as the anchor the relay benchmark compares us against.

Why a generated config: the packaged /etc/ngircd/ngircd.conf listens on every
interface, does DNS and IDENT lookups (each new connection would wait on them)
and keeps the default flood penalties and MaxConnectionsIP=5, all of which
would measure ngIRCd's policy rather than its routing.  What we relax, and how
far ngIRCd lets us (ngIRCd 26.1):

- ``MaxPenaltyTime = 0``: "0 to disable penalties altogether"; this removes the
  one-second read penalties of ``Throttle_Connection`` (more than 3 commands
  per loop, or more than 256 bytes/s).
- ``MaxConnections = 0`` and ``MaxConnectionsIP = 0``: unlimited.
- ``DNS = no``, ``Ident = no``, ``PAM = no``: no lookups on connect.
- ``MaxJoins = 0`` (no per-user channel limit), ``MaxNickLength = 30``,
  ``PingTimeout``/``PongTimeout`` long enough to never fire during a run.
- an ``[Operator]`` block (``bench``/``benchpw``): a client that sends
  ``OPER bench benchpw`` and ``MODE <nick> +F`` gets "relaxed flood
  protection", raising its commands-per-loop from 3 to 10 (``--oper`` in the
  load generator).

What cannot be relaxed (compile-time constants in conn.c/defines.h):
3 commands per main-loop pass per user connection (10 with +F), a 2048-byte
read buffer (a client more than 2 KiB ahead is disconnected with "Receive
buffer space exhausted", so senders must keep a bounded window in flight), a
32 KiB write buffer per client (a reader that falls further behind is
disconnected: ngIRCd's SendQ), and a listen backlog of 10.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any, List, Optional, TypeVar

NGIRCD_BINARY = "ngircd"
LOOPBACK = "127.0.0.1"
OPER_NAME = "bench"
OPER_PASSWORD = "benchpw"
#: ngIRCd registers a nick up to this long (the default, 9, is RFC 2812's).
NICK_LENGTH = 30
#: PING after this many idle seconds: longer than any benchmark phase.
PING_TIMEOUT_S = 600
PONG_TIMEOUT_S = 600
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0
POLL_INTERVAL_S = 0.02
INCLUDE_SUBDIR = "conf.d"

CONFIG_TEMPLATE = """\
[Global]
\tName = bench.ngircd.local
\tInfo = securechat benchmark anchor
\tListen = {host}
\tPorts = {port}
\tMotdPhrase = benchmark
\tPidFile = {pidfile}
\tAdminInfo1 = securechat bench
\tAdminInfo2 = loopback
\tAdminEMail = bench@localhost

[Limits]
\tMaxConnections = 0
\tMaxConnectionsIP = 0
\tMaxJoins = 0
\tMaxNickLength = {nicklen}
\tMaxPenaltyTime = 0
\tPingTimeout = {ping}
\tPongTimeout = {pong}
\tIdleTimeout = 0

[Options]
\tDNS = no
\tIncludeDir = {includedir}
\tIdent = no
\tPAM = no
\tMorePrivacy = no
\tNoticeBeforeRegistration = no
\tRequireAuthPing = no

[Operator]
\tName = {oper}
\tPassword = {operpw}
"""


def available() -> bool:
    """True when the ngircd binary is on PATH."""
    return shutil.which(NGIRCD_BINARY) is not None


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port that was free a moment ago (the usual small race is fine here)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def render_config(port: int, workdir: str, host: str = LOOPBACK) -> str:
    """The ngircd.conf text for a benchmark instance living in workdir.

    IncludeDir points at an empty folder of ours: the default one,
    /etc/ngircd/ngircd.conf.d, could carry the system's own settings.
    """
    return CONFIG_TEMPLATE.format(
        host=host,
        port=port,
        pidfile=os.path.join(workdir, "ngircd.pid"),
        includedir=os.path.join(workdir, INCLUDE_SUBDIR),
        nicklen=NICK_LENGTH,
        ping=PING_TIMEOUT_S,
        pong=PONG_TIMEOUT_S,
        oper=OPER_NAME,
        operpw=OPER_PASSWORD,
    )


def wait_for_port(host: str, port: int, timeout: float, proc: Optional[subprocess.Popen] = None) -> None:
    """Block until something accepts on host:port, or raise RuntimeError."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("server exited with status %s before listening" % proc.returncode)
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(POLL_INTERVAL_S)
    raise RuntimeError("nothing listening on %s:%d after %.1f s" % (host, port, timeout))


_Server = TypeVar("_Server", bound="ServerProcess")


class ServerProcess:
    """
    A server in its own process on a loopback port, with its own temporary
    directory: started, waited for until it listens, and stopped (terminate,
    then kill) with the directory removed.  ngIRCd and our relay both run so.
    """

    def __init__(self, prefix: str, port: Optional[int] = None, host: str = LOOPBACK) -> None:
        self.host = host
        self.port = port if port is not None else free_port(host)
        self.workdir = tempfile.mkdtemp(prefix=prefix)
        self.proc: Optional[subprocess.Popen] = None

    @property
    def pid(self) -> int:
        assert self.proc is not None, "not started"
        return self.proc.pid

    def command(self) -> List[str]:
        raise NotImplementedError

    def launch(self, startTimeout: float, env: Optional[dict] = None, output: Any = subprocess.DEVNULL) -> None:
        """Start L{command} in the work directory and wait until it listens."""
        self.proc = subprocess.Popen(self.command(), cwd=self.workdir, env=env,
                                     stdin=subprocess.DEVNULL, stdout=output, stderr=output)
        try:
            wait_for_port(self.host, self.port, startTimeout, self.proc)
        except RuntimeError:
            self.failedToStart()
            self.stop()
            raise

    def failedToStart(self) -> None:
        """Say what the server said, while its work directory still exists."""

    def stop(self, grace: float = STOP_TIMEOUT_S) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT_S)
        self.proc = None
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self: _Server) -> _Server:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> ServerProcess:
        raise NotImplementedError


class NgircdServer(ServerProcess):
    """One ngircd process in the foreground (-n), passive (-p), own temp dir."""

    def __init__(self, port: Optional[int] = None, host: str = LOOPBACK) -> None:
        super().__init__("bench-ngircd-", port, host)
        self.config_path = os.path.join(self.workdir, "ngircd.conf")

    def command(self) -> List[str]:
        return [NGIRCD_BINARY, "-n", "-p", "-f", self.config_path]

    def start(self) -> NgircdServer:
        os.makedirs(os.path.join(self.workdir, INCLUDE_SUBDIR), exist_ok=True)
        with open(self.config_path, "w", encoding="ascii") as handle:
            handle.write(render_config(self.port, self.workdir, self.host))
        self.launch(START_TIMEOUT_S)
        return self


def version() -> str:
    """ngircd's first --version line, e.g. 'ngIRCd 26.1-IDENT+...'."""
    out = subprocess.run([NGIRCD_BINARY, "--version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
    return out.stdout.decode("utf-8", "replace").splitlines()[0].strip()


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="Run ngIRCd on loopback with the benchmark config until Ctrl-C.")
    parser.add_argument("--port", type=int, default=None, help="TCP port (default: a free one)")
    parser.add_argument("--print-config", action="store_true", help="print the generated config and exit")
    args = parser.parse_args(argv)
    if args.print_config:
        sys.stdout.write(render_config(args.port or 6667, "/tmp/ngircd-bench"))
        return 0
    if not available():
        sys.stderr.write("ngircd is not installed (apt-get install -y ngircd)\n")
        return 1
    # SIGTERM unwinds like Ctrl-C, so the context manager stops ngircd too.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with NgircdServer(args.port) as server:
        sys.stdout.write("%s listening on %s:%d (pid %d, config %s)\n"
                         % (version(), server.host, server.port, server.pid, server.config_path))
        sys.stdout.flush()
        try:
            assert server.proc is not None
            server.proc.wait()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
