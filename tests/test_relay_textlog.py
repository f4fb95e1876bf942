"""
The relay's text log observer writes what twistd's text observer writes,
byte for byte, once per reactor turn; twistd is handed it the documented
way, on the file it would have chosen.
"""

from __future__ import annotations

import io
import os
import signal
import threading
import time
from typing import Any, Dict, List, Optional

from twisted.application.service import Application, IServiceCollection, Service
from twisted.internet.task import Clock
from twisted.logger import ILogObserver, Logger, LogLevel, formatEventAsClassicLogText, formatTime
from twisted.python import logfile
from twisted.python.failure import Failure
from twisted.scripts._twistd_unix import UnixAppLogger
from twisted.trial.unittest import SynchronousTestCase

from securechat.relay import textlog
from securechat.relay.options import RelayOptions, makeService
from securechat.relay.textlog import (
    LoggingService,
    QuickLogger,
    SecondStamps,
    TurnTextLogObserver,
    plainFields,
    twistdLogFile,
)
from twisted import logger as twistedLogger

#: A moment with a fraction, and one a hair before the next second.
WHEN = 1_765_000_000.25
EDGE = 1_765_000_000.9999997


class RunningClock(Clock):
    """A Clock that says whether its reactor is running, as the real one does."""

    running = True


class BytesFile(io.BytesIO):
    """A binary file that counts its writes and flushes."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0
        self.flushes = 0

    def write(self, data: Any) -> int:
        self.writes += 1
        return super().write(data)

    def flush(self) -> None:
        self.flushes += 1


class Holder:
    def __init__(self) -> None:
        self.value = "held"

    def method(self) -> str:
        return "called"


def failure() -> Failure:
    try:
        raise ZeroDivisionError("a failure to log")
    except ZeroDivisionError:
        return Failure()
    raise AssertionError("unreachable")


def events() -> List[Dict[str, Any]]:
    """Events of every shape the relay and Twisted emit, and odd ones."""
    base: Dict[str, Any] = {
        "log_time": WHEN,
        "log_level": LogLevel.info,
        "log_namespace": "securechat.relay.protocol.RelayProtocol",
    }

    def event(**fields: Any) -> Dict[str, Any]:
        made = dict(base)
        made.update(fields)
        return made

    holder = Holder()
    return [
        event(log_format="connect from {host}", host="127.0.0.1"),
        event(log_format="register {nick}!{user}@{host}", nick="a", user="~a", host="::1"),
        event(log_format="throttling {host} for {delay:.3f}s", host="h", delay=0.12345),
        event(log_format="bad line from {host}: {error}", host="h", error="é \u2028 x"),
        event(log_format="disconnect {nick}@{host}: {reason}", nick="*", host="h", reason="two\nlines"),
        event(log_format="{a!r} {b:>{width}} {{literal}}", a="x", b="y", width=5),
        event(log_format="missing {nothere}"),
        event(log_format="positional {}", x=1),
        event(log_format="index {0}", x=1),
        event(log_format="call {h.method()}", h=holder),
        event(log_format="call {f()}", f=holder.method),
        event(log_format="attribute {h.value}", h=holder),
        event(log_format="item {d[k]}", d={"k": "v"}),
        event(log_format="bad spec {x:q}", x=1),
        event(log_format="unbalanced {x", x=1),
        event(log_format=""),
        event(log_format=None),
        event(log_format=b"bytes {x}", x=1),
        event(log_format=7),
        event(log_format="with a failure", log_failure=failure()),
        event(log_format="system {x}", x=1, log_system="-"),
        event(log_format="system {x}", x=1, log_system=42),
        event(log_format="no level", log_level=None),
        event(log_format="at {x}", x=1, log_time=None),
        event(log_format="at the edge", log_time=EDGE),
        event(log_format="at zero", log_time=0.0),
        {"log_format": "bare {x}", "x": 1},
        {"message": ("legacy",), "log_format": "{log_text}", "log_text": "legacy text", "log_system": "-"},
        event(log_format="flat {x}", x=1, log_flattened={"x!:": "flat"}),
    ]


def twisted(event: Dict[str, Any]) -> Optional[str]:
    """What twistd's text observer writes for C{event}."""
    return formatEventAsClassicLogText(event, formatTime=formatTime)


class FormatTests(SynchronousTestCase):
    def test_sameTextAsTwisted(self) -> None:
        """
        Every event, fast-path shaped or not, becomes exactly Twisted's
        text (newlines tabbed, unformattable events described, tracebacks).
        """
        observer = TurnTextLogObserver(io.StringIO(), Clock())
        for event in events():
            self.assertEqual(observer.formatEvent(dict(event)), twisted(dict(event)), event.get("log_format"))

    def test_fastPathTaken(self) -> None:
        """
        The relay's plain formats do not go through Twisted's formatter (a
        test that fails if the fast path were never taken).
        """
        observer = TurnTextLogObserver(io.StringIO(), Clock())
        calls: List[object] = []
        self.patch(textlog, "formatEventAsClassicLogText", lambda *a, **k: calls.append(a) or "")
        text = observer.formatEvent(events()[0])
        self.assertEqual(calls, [])
        self.assertIn("connect from 127.0.0.1", text or "")
        observer.formatEvent(events()[9])  # a call in the format: Twisted's
        self.assertEqual(len(calls), 1)

    def test_plainFields(self) -> None:
        self.assertTrue(plainFields("a {x} {y!r:>{w}} {{z}}"))
        self.assertTrue(plainFields("no fields"))
        for format in ("{}", "{0}", "{x.y}", "{x[0]}", "{x()}", "{x:{y.z}}", "{x"):
            self.assertFalse(plainFields(format), format)

    def test_secondStamps(self) -> None:
        """One string per second, equal to Twisted's at every moment."""
        stamps = SecondStamps()
        for when in (WHEN, WHEN + 0.5, WHEN + 0.9, WHEN + 1, EDGE, EDGE + 0.0000002, 0.0, None, -1.5):
            self.assertEqual(stamps(when), formatTime(when), when)
        first = stamps(WHEN)
        self.assertIs(stamps(WHEN + 0.5), first)


class TurnTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = RunningClock()
        self.out = BytesFile()
        self.observer = TurnTextLogObserver(self.out, self.clock)
        self.log = Logger(namespace="securechat.relay.protocol.RelayProtocol", observer=self.observer)

    def test_oneWritePerTurn(self) -> None:
        """The events of a turn are written together when it ends, in order."""
        for n in range(5):
            self.log.info("connect from {host}", host="10.0.0.%d" % n)
        self.assertEqual((self.out.writes, self.out.getvalue()), (0, b""))
        self.clock.advance(0)
        lines = self.out.getvalue().decode("utf-8").splitlines()
        self.assertEqual([line.split("] ", 1)[1] for line in lines], ["connect from 10.0.0.%d" % n for n in range(5)])
        self.assertEqual((self.out.writes, self.out.flushes), (1, 1))
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_largeTurnWrittenEarly(self) -> None:
        """Past MAX_BUFFERED the buffer is written without waiting for the turn's end."""
        self.patch(textlog, "MAX_BUFFERED", 200)
        for n in range(10):
            self.log.info("connect from {host}", host="10.0.0.%d" % n)
        self.assertGreater(self.out.writes, 0)
        self.clock.advance(0)
        self.assertEqual(len(self.out.getvalue().splitlines()), 10)

    def test_reactorStopped(self) -> None:
        """
        While the reactor does not run (before it starts, after it stops:
        twistd's last line), each event is written at once, after what waited.
        """
        self.log.info("first")
        self.clock.running = False
        self.log.info("Server Shut Down.")
        lines = self.out.getvalue().decode("utf-8").splitlines()
        self.assertEqual([line.split("] ", 1)[1] for line in lines], ["first", "Server Shut Down."])

    def test_otherThread(self) -> None:
        """An event from another thread is written at once, leaving the turn's buffer alone."""
        self.log.info("in the turn")
        thread = threading.Thread(target=self.log.info, args=("from a thread",))
        thread.start()
        thread.join()
        self.assertIn(b"from a thread", self.out.getvalue())
        self.assertNotIn(b"in the turn", self.out.getvalue())
        self.clock.advance(0)
        self.assertIn(b"in the turn", self.out.getvalue())

    def test_textFile(self) -> None:
        """A text file (stdout) is given text, not bytes."""
        out = io.StringIO()
        observer = TurnTextLogObserver(out, self.clock)
        Logger(namespace="n", observer=observer).info("é {x}", x=1)
        self.clock.advance(0)
        self.assertTrue(out.getvalue().endswith(" [n#info] é 1\n"))

    def test_nothingForEmptyText(self) -> None:
        self.log.info("")
        self.clock.advance(0)
        self.assertEqual((self.out.writes, self.clock.getDelayedCalls()), (0, []))


class TwistdTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.directory = self.mktemp()
        os.makedirs(self.directory)
        self.stdout = io.StringIO()

    def choose(self, **options: Any) -> Any:
        full: Dict[str, Any] = {"nodaemon": False, "logfile": None, "syslog": False, "logger": None}
        full.update(options)
        return twistdLogFile(full, stdout=self.stdout)

    def test_stdout(self) -> None:
        """C{-n} without C{--logfile}, or C{--logfile=-}: stdout, as twistd does."""
        self.assertEqual(self.choose(nodaemon=True), (self.stdout, None))
        self.assertEqual(self.choose(nodaemon=True, logfile="-"), (self.stdout, None))

    def test_logFile(self) -> None:
        """C{--logfile=PATH}: a rotating log file there, as twistd opens it."""
        path = os.path.join(self.directory, "relay.log")
        outFile, rotating = self.choose(nodaemon=True, logfile=path)
        self.addCleanup(rotating.close)
        self.assertIs(outFile, rotating)
        self.assertIsInstance(rotating, logfile.LogFile)
        self.assertEqual(rotating.path, os.path.abspath(path))

    def test_daemonDefault(self) -> None:
        """A daemon without C{--logfile} logs to twistd.log."""
        cwd = os.getcwd()
        os.chdir(self.directory)
        self.addCleanup(os.chdir, cwd)
        outFile, rotating = self.choose()
        self.addCleanup(rotating.close)
        self.assertEqual(rotating.path, os.path.join(os.path.abspath("."), "twistd.log"))

    def test_twistdDecides(self) -> None:
        """Syslog, a custom --logger, a daemon on stdout, no twistd: twistd's choice stands."""
        self.assertEqual(self.choose(syslog=True), (None, None))
        self.assertEqual(self.choose(nodaemon=True, logger="x.y"), (None, None))
        self.assertEqual(self.choose(logfile="-"), (None, None))
        self.assertEqual(twistdLogFile({}), (None, None))

    def test_applicationComponent(self) -> None:
        """
        twistd reads an ILogObserver component of the application before it
        logs: the service puts the observer there and runs its child.
        """
        observer = TurnTextLogObserver(io.StringIO(), Clock())
        child = Service()
        application = Application("securechat")
        LoggingService(child, observer).setServiceParent(application)
        self.assertIs(application.getComponent(ILogObserver, None), observer)
        [wrapper] = list(IServiceCollection(application))
        self.assertEqual(list(wrapper), [child])

    def test_stopFlushes(self) -> None:
        clock = RunningClock()
        out = io.StringIO()
        observer = TurnTextLogObserver(out, clock)
        service = LoggingService(Service(), observer)
        service.startService()
        Logger(namespace="n", observer=observer).info("last words")
        service.stopService()
        self.assertIn("last words", out.getvalue())

    def test_makeService(self) -> None:
        """C{twistd -n --logfile=PATH securechat}: the application logs through the observer into PATH."""
        previous = signal.getsignal(signal.SIGUSR1)
        self.addCleanup(signal.signal, signal.SIGUSR1, previous)
        path = os.path.join(self.directory, "relay.log")
        options = RelayOptions()
        options.parseOptions(["--port", "tcp:0:interface=127.0.0.1"])
        options.parent = {"nodaemon": True, "logfile": path, "syslog": False, "logger": None}
        application = Application("securechat")
        makeService(options).setServiceParent(application)
        observer = application.getComponent(ILogObserver, None)
        self.assertIsInstance(observer, TurnTextLogObserver)
        observer({"log_format": "hello {x}", "x": 1, "log_time": time.time(), "log_namespace": "n"})
        observer.flush()
        observer._outFile.close()
        with open(path, encoding="utf-8") as f:
            self.assertTrue(f.read().endswith(" [n#-] hello 1\n"))

    def test_twistdLoggerTakesIt(self) -> None:
        """
        twistd's own Unix logger, started on the application makeService
        was given to, begins logging to the relay's observer, not to one
        of its own.
        """
        previous = signal.getsignal(signal.SIGUSR1)
        self.addCleanup(signal.signal, signal.SIGUSR1, previous)
        begun: List[Any] = []

        class Beginner:
            def beginLoggingTo(self, observers: Any) -> None:
                begun.append(observers)

        self.patch(twistedLogger, "globalLogBeginner", Beginner())
        self.patch(UnixAppLogger, "_initialLog", lambda self: None)
        twistdOptions = {"nodaemon": True, "logfile": os.path.join(self.directory, "relay.log"),
                         "syslog": False, "logger": None, "prefix": "twisted"}
        options = RelayOptions()
        options.parseOptions(["--port", "tcp:0:interface=127.0.0.1"])
        options.parent = twistdOptions
        application = Application("securechat")
        makeService(options).setServiceParent(application)
        observer = application.getComponent(ILogObserver, None)
        self.addCleanup(lambda: observer._outFile.close())
        UnixAppLogger(twistdOptions).start(application)
        self.assertEqual(begun, [[observer]])
        self.assertIsInstance(observer, TurnTextLogObserver)

    def test_makeServiceWithoutTwistd(self) -> None:
        """Options parsed outside twistd (tests, other runners): the plain listening service."""
        options = RelayOptions()
        options.parseOptions(["--port", "tcp:0:interface=127.0.0.1"])
        self.assertNotIsInstance(makeService(options), LoggingService)


class QuickLoggerTests(SynchronousTestCase):
    def test_sameEventsAsLogger(self) -> None:
        """The event a QuickLogger emits is the one Twisted's Logger would, field for field."""
        ours: List[Dict[str, Any]] = []
        theirs: List[Dict[str, Any]] = []
        source = Holder()
        for level in ("debug", "info", "warn", "error", "critical"):
            getattr(QuickLogger("n", source, ours.append), level)("{x} at " + level, x=1)
            getattr(Logger("n", source, theirs.append), level)("{x} at " + level, x=1)
        self.assertEqual(len(ours), 5)
        for mine, twisteds in zip(ours, theirs):
            self.assertIsInstance(mine.pop("log_logger"), QuickLogger)
            self.assertIsInstance(twisteds.pop("log_logger"), Logger)
            self.assertLess(abs(mine.pop("log_time") - twisteds.pop("log_time")), 5)
            self.assertEqual(mine, twisteds)

    def test_classAttribute(self) -> None:
        """As a class attribute it names its class and instance, as Logger does."""

        class Owner:
            log = QuickLogger()

        owner = Owner()
        events: List[Dict[str, Any]] = []
        log = owner.log
        self.assertIsInstance(log, QuickLogger)
        self.assertEqual(log.namespace, __name__ + ".Owner")
        self.assertIs(log.source, owner)
        QuickLogger(namespace="n", observer=events.append).info("hi")
        self.assertEqual(events[0]["log_namespace"], "n")

    def test_badLevel(self) -> None:
        """An unknown level goes Twisted's way: a critical event saying so."""
        events: List[Dict[str, Any]] = []
        QuickLogger("n", observer=events.append).emit("loud", "x")  # type: ignore[arg-type]
        [event] = events
        self.assertEqual(event["log_level"], LogLevel.critical)
        self.assertEqual(event["invalidLevel"], "loud")

    def test_trace(self) -> None:
        """A traced event records this logger and its observer, as Logger does."""
        events: List[Dict[str, Any]] = []
        log = QuickLogger("n", observer=events.append)
        trace: List[Any] = []
        log.info("traced", log_trace=trace)
        self.assertEqual(trace, [(log, events.append)])


class FailingFile(io.StringIO):
    """A text file whose writes fail while C{broken}."""

    broken = True

    def write(self, text: str) -> int:
        if self.broken:
            raise OSError(28, "No space left on device")
        return super().write(text)


class WriteFailureTests(SynchronousTestCase):
    def test_failedWriteCountedThenReported(self) -> None:
        """
        A write that fails raises nowhere (not into the reactor's turn,
        where its own error event would fail again every turn); the next
        write that succeeds says how many lines were lost and why, then
        writes its own.
        """
        clock = RunningClock()
        out = FailingFile()
        observer = TurnTextLogObserver(out, clock)
        log = Logger(namespace="n", observer=observer)
        log.info("one")
        log.info("two")
        clock.advance(0)
        self.assertEqual(clock.getDelayedCalls(), [])
        clock.running = False
        log.info("three")
        self.assertEqual(out.getvalue(), "")
        out.broken = False
        log.info("four")
        lines = out.getvalue().splitlines()
        self.assertEqual(len(lines), 2)
        self.assertIn("[securechat.relay.textlog#error] 3 log lines could not be written: ", lines[0])
        self.assertIn("No space left on device", lines[0])
        self.assertTrue(lines[1].endswith("] four"))
        log.info("five")
        self.assertTrue(out.getvalue().splitlines()[-1].endswith("] five"))
        self.assertEqual(len(out.getvalue().splitlines()), 3)
