"""
The sans-IO core imports nothing from Twisted nor from the adapters, and
logs nothing itself: it emits events into the L{EventLog} it is given, and
the adapters give it their logger.
"""

from __future__ import annotations

import json
import os
import pkgutil
import re
import subprocess
import sys
from typing import Any, Dict, List, Tuple

from twisted.logger import Logger, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

import securechat
from securechat.client.adapters.headless import SESSION_LOG_NAMESPACE
from securechat.client.core.session import ClientSession
from securechat.logevents import DISCARD
from securechat.relay.factory import STATE_LOG_NAMESPACE, RelayFactory
from securechat.relay.state import Client, RelayState
from securechat.wire import parseLine

#: The adapters: what owns a transport, a reactor, a terminal or a process.
#: Everything else in the package is the sans-IO core, found by walking the
#: folders (L{coreModules}): a new module is checked unless it is named here
#: or stands in a folder of adapters (the client's adapters and faces).
ADAPTERS = (
    "securechat.__main__",
    "securechat.relay.protocol",
    "securechat.relay.factory",
    "securechat.relay.options",
    "securechat.relay.sendnow",
    "securechat.relay.textlog",
    "securechat.mitm.proxy",
    "securechat.mitm.cli",
    "securechat.tlsclient",
    "securechat.twistedtypes",
    "securechat.endpointstrings",
    "securechat.demo",
    "securechat.cli",
    "securechat.proxy.protocol",
    "securechat.proxy.service",
)
#: Folders whose every module is an adapter.
ADAPTER_FOLDERS = ("securechat.client.adapters", "securechat.client.faces")


def allModules() -> List[str]:
    """Every module of the package, found on disk."""
    found = []
    for info in pkgutil.walk_packages(securechat.__path__, "securechat."):
        found.append(info.name)
    return sorted(found)


def isAdapter(module: str) -> bool:
    return module in ADAPTERS or any(
        module == folder or module.startswith(folder + ".") for folder in ADAPTER_FOLDERS
    )


def coreModules() -> List[str]:
    """The sans-IO core: every module that is not an adapter."""
    return [module for module in allModules() if not isAdapter(module)]


#: Imports the core may not make.
FORBIDDEN = ("twisted", "zope") + ADAPTERS + ADAPTER_FOLDERS

PROBE = """
import importlib, json, sys
before = set(sys.modules)
importlib.import_module(sys.argv[1])
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def importedBy(module: str) -> List[str]:
    """Every module that importing C{module} loads, in a fresh interpreter."""
    top = os.path.dirname(os.path.dirname(os.path.abspath(securechat.__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([top] + sys.path))
    out = subprocess.run(
        [sys.executable, "-c", PROBE, module], env=env, stdout=subprocess.PIPE, check=True
    ).stdout
    loaded: List[str] = json.loads(out)
    return loaded


class ImportTests(SynchronousTestCase):
    def test_coreImportsNoTwistedNorAdapters(self) -> None:
        """No core module loads Twisted, zope or an adapter module."""
        offenders: Dict[str, List[str]] = {}
        for module in coreModules():
            loaded = importedBy(module)
            self.assertIn(module, loaded)
            bad = [m for m in loaded if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)]
            if bad:
                offenders[module] = bad
        self.assertEqual(offenders, {})

    def test_coreFoundByFolder(self) -> None:
        """The walk finds the core of every folder, the client's own included."""
        core = coreModules()
        for module in ("securechat.wire", "securechat.numerics", "securechat.codec.conversation",
                       "securechat.relay.state", "securechat.client.core.session", "securechat.proxy.core",
                       "securechat.client.core.rules", "securechat.client.core.keyed", "securechat.client.core.wording",
                       "securechat.client.core.serverlines"):
            self.assertIn(module, core)
        self.assertNotIn("securechat.relay.protocol", core)

    def test_adaptersExist(self) -> None:
        """Every adapter named is a module that exists: a stale name exempts nothing."""
        self.assertEqual([name for name in ADAPTERS if name not in allModules()], [])

    def test_coreNeverPrints(self) -> None:
        """No core module prints or uses the logging module: it emits into the log it is given."""
        top = os.path.dirname(os.path.dirname(os.path.abspath(securechat.__file__)))
        offenders = []
        for module in coreModules():
            path = os.path.join(top, *module.split("."))
            path = os.path.join(path, "__init__.py") if os.path.isdir(path) else path + ".py"
            with open(path, encoding="utf-8") as f:
                source = f.read()
            if re.search(r"(^|[^\w.])print\(|^\s*import logging|^\s*from logging", source, re.M):
                offenders.append(module)
        self.assertEqual(offenders, [])

    def test_probeSeesAdapters(self) -> None:
        """The probe does catch an adapter loading Twisted (it cannot pass by seeing nothing)."""
        self.assertIn("twisted.internet.protocol", importedBy("securechat.relay.factory"))


class RecordingLog:
    """An L{EventLog} that keeps (level, format, fields)."""

    def __init__(self) -> None:
        self.events: List[Tuple[str, str, Dict[str, Any]]] = []

    def debug(self, format: str, **fields: object) -> None:
        self.events.append(("debug", format, fields))

    def info(self, format: str, **fields: object) -> None:
        self.events.append(("info", format, fields))

    def warn(self, format: str, **fields: object) -> None:
        self.events.append(("warn", format, fields))


class EventTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.logged: List[Dict[str, Any]] = []
        globalLogPublisher.addObserver(self.logged.append)
        self.addCleanup(globalLogPublisher.removeObserver, self.logged.append)

    def register(self, state: RelayState) -> Client:
        client = Client(lambda data: None, lambda: None, "10.0.0.1")
        state.handle(client, parseLine(b"NICK alice"))
        state.handle(client, parseLine(b"USER a 0 * :A"))
        state.handle(client, parseLine(b"JOIN #lab"))
        return client

    def test_relayStateEmits(self) -> None:
        """The relay's state reports to the log it is given, and to nothing else."""
        log = RecordingLog()
        self.register(RelayState(log=log))
        self.assertEqual(
            [(level, fields) for level, _, fields in log.events],
            [
                ("info", {"nick": "alice", "user": "~a", "host": "10.0.0.1"}),
                ("info", {"nick": "alice", "room": "#lab"}),
            ],
        )
        self.assertEqual(self.logged, [])

    def test_relayStateDefaultSilent(self) -> None:
        """Built without a log, the state emits into L{DISCARD}."""
        state = RelayState()
        self.assertIs(state.log, DISCARD)
        self.register(state)
        self.assertEqual(self.logged, [])

    def test_factoryLogs(self) -> None:
        """The relay's adapter logs the state's events under the state's old namespace."""
        factory = RelayFactory(clock=_Clock())
        self.assertIsInstance(factory.state.log, Logger)
        self.register(factory.state)
        namespaces = {e["log_namespace"] for e in self.logged}
        self.assertEqual(namespaces, {STATE_LOG_NAMESPACE})
        self.assertEqual(len(self.logged), 2)

    def test_sessionEmits(self) -> None:
        """The client's session reports a server's oddities to its log only."""
        log = RecordingLog()
        session = ClientSession("alice", lambda event: None, log=log)
        session.lineReceived(b":irc 353 alice = #nowhere :bob")
        session.lineReceived(b"\x00 not a line")
        self.assertTrue(log.events)
        self.assertEqual(self.logged, [])

    def test_headlessLogs(self) -> None:
        """The client's adapter gives its session a logger under the session's old namespace."""
        from twisted.internet.task import Clock

        from securechat.client.adapters.headless import HeadlessClient

        client = HeadlessClient(Clock(), "tcp:127.0.0.1:1", "alice")
        self.assertIsInstance(client.session.log, Logger)
        self.assertEqual(client.session.log.namespace, SESSION_LOG_NAMESPACE)


class _Clock:
    """Enough of a reactor for L{RelayFactory}."""

    def seconds(self) -> float:
        return 0.0

    def callLater(self, delay: float, f: Any, *args: Any, **kw: Any) -> Any:
        raise AssertionError("not expected")


class NumericsTests(SynchronousTestCase):
    def test_spelledOnce(self) -> None:
        """No module but L{securechat.numerics} names a numeric (C{RPL_X = "001"})."""

        pattern = re.compile(r'^\s*(RPL|ERR)_[A-Z]+\s*=\s*"\d{3}"', re.M)
        top = os.path.dirname(os.path.abspath(securechat.__file__))
        found = []
        for folder, _, files in os.walk(top):
            for name in files:
                path = os.path.join(folder, name)
                if name.endswith(".py") and not path.endswith(os.path.join("securechat", "numerics.py")):
                    with open(path, encoding="utf-8") as f:
                        if pattern.search(f.read()):
                            found.append(os.path.relpath(path, top))
        self.assertEqual(found, [])
