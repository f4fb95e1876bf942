"""
The relay's text log: the lines twistd's text observer writes, written for
less.

Under twistd a log event goes through C{twisted.logger}'s generic text
observer: the format string parsed by a pure-Python C{string.Formatter},
the timestamp built through C{datetime} and the time zone helper, one
C{write} and one C{flush} per event.  That was 40 % of the relay's busy time
while clients connect (three events a connection; docs/performance.md).

L{TurnTextLogObserver} writes the same text, byte for byte: a format whose
fields are plain names is filled by C{str.format_map} (C, and the same rules
for those fields), the timestamp is made once per second, and the lines of a
reactor turn are written together at its end.  Anything else (a traceback, a
call or attribute in the format, a format that does not fill) is handed to
Twisted's own formatter, so the text never differs.

L{LoggingService} hands the observer to twistd the documented way (an
C{ILogObserver} component of the application), on the file twistd would
have chosen; with C{--syslog} or C{--logger} twistd's choice stands.
"""

from __future__ import annotations

import sys
import threading
import time
from string import Formatter
from typing import IO, Any, Callable, Dict, List, Mapping, Optional, Tuple

from twisted.application.service import MultiService
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import ILogObserver, LogEvent, Logger, LogLevel, formatEventAsClassicLogText, formatTime
from twisted.python import logfile
from twisted.python.compat import ioType
from twisted.python.components import Componentized
from zope.interface import implementer

#: Buffered text past which the lines are written at once, without waiting
#: for the end of the turn: a turn that logs a lot does not hold it all.
MAX_BUFFERED = 64 * 1024

_FIELDS = Formatter()
_LEVELS = frozenset(LogLevel.iterconstants())


class QuickLogger(Logger):
    """
    A C{Logger} that emits the same events for less: Twisted's C{emit}
    checks the level against a freshly sorted list of every level (a third
    of an event's cost before any observer); here a known level is one set
    lookup, and anything else takes Twisted's own path (its error event).
    """

    def emit(self, level: LogLevel, format: Optional[str] = None, **kwargs: object) -> None:
        if level not in _LEVELS:
            super().emit(level, format, **kwargs)
            return
        kwargs.update(
            log_logger=self,
            log_level=level,
            log_namespace=self.namespace,
            log_source=self.source,
            log_format=format,
            log_time=time.time(),
        )
        trace = kwargs.get("log_trace")
        if trace is not None:
            trace.append((self, self.observer))  # type: ignore[attr-defined]
        self.observer(kwargs)


def plainFields(format: str) -> bool:
    """
    True when C{format.format_map(event)} fills C{format} as Twisted's
    formatter would: every field a plain name (no C{x()} call, no C{.attr},
    no C{[key]}, no positional C{{}}), nested specs included.
    """
    try:
        parsed = list(_FIELDS.parse(format))
    except ValueError:
        return False
    for _literal, field, spec, _conversion in parsed:
        if field is None:
            continue
        if not field.isidentifier():
            return False
        if spec and "{" in spec and not plainFields(spec):
            return False
    return True


class SecondStamps:
    """
    Twisted's RFC 3339 timestamp (to the second, local time), made once per
    second: every event of a second shares one string.
    """

    __slots__ = ("_second", "_text")

    def __init__(self) -> None:
        self._second = -1
        self._text = ""

    def __call__(self, when: Optional[float]) -> str:
        if when is None:
            return formatTime(None)
        second = int(when)
        # datetime rounds to the microsecond: within half of one of the
        # next second, it may already print that second.
        if second < 0 or when - second >= 0.9999995:
            return formatTime(when)
        if second != self._second:
            self._text = formatTime(float(second))
            self._second = second
        return self._text


@implementer(ILogObserver)
class TurnTextLogObserver:
    """
    Writes events as twistd's text observer does, buffered for one reactor
    turn.

    Events emitted in the thread that built the observer while C{reactor}
    runs are kept and written at the end of the turn (a zero-delay call);
    from any other thread, or while the reactor is stopped (before it runs,
    after it stops: twistd's "Server Shut Down."), each is written at once.
    """

    def __init__(self, outFile: IO[Any], reactor: IReactorTime) -> None:
        self._outFile = outFile
        self._encoding: Optional[str] = None if ioType(outFile) is str else "utf-8"
        self._reactor = reactor
        self._thread = threading.get_ident()
        self._stamps = SecondStamps()
        self._formats: Dict[str, bool] = {}
        self._lines: List[str] = []
        self._size = 0
        self._flushCall: Optional[IDelayedCall] = None
        #: Lines whose write failed since the last write that succeeded, and why.
        self._lost = 0
        self._lostWhy = ""

    def formatEvent(self, event: LogEvent) -> Optional[str]:
        """The text twistd's observer writes for C{event}, or None for none."""
        format = event.get("log_format")
        if (
            type(format) is not str
            or "log_failure" in event
            or "log_flattened" in event
            or not self._plain(format)
        ):
            return self._twisted(event)
        try:
            text = format.format_map(event)
            if not text:
                return None
            system = event.get("log_system")
            if system is None:
                level = event.get("log_level")
                system = "%s#%s" % (event.get("log_namespace", "-"), "-" if level is None else level.name)
            elif type(system) is not str:
                return self._twisted(event)
            line = "%s [%s] %s" % (self._stamps(event.get("log_time")), system, text)
        except Exception:
            # Whatever a format or a value's __format__ raises (KeyError,
            # IndexError, ValueError, a stranger's own error): Twisted's
            # formatter says it in its words, as twistd's observer would.
            return self._twisted(event)
        if "\n" in line:
            line = line.replace("\n", "\n\t")
        return line + "\n"

    def _plain(self, format: str) -> bool:
        known = self._formats.get(format)
        if known is None:
            # The relay logs a few dozen formats; a stranger logging
            # many distinct ones is only ever asked once each.
            if len(self._formats) >= 4096:
                self._formats.clear()
            known = self._formats[format] = plainFields(format)
        return known

    def _twisted(self, event: LogEvent) -> Optional[str]:
        return formatEventAsClassicLogText(event, formatTime=self._stamps)

    def __call__(self, event: LogEvent) -> None:
        text = self.formatEvent(event)
        if not text:
            return
        if threading.get_ident() != self._thread:
            # Not the reactor's thread: neither the buffer nor callLater
            # may be touched from here.
            self._write(text)
            return
        if not getattr(self._reactor, "running", False):
            self.flush()
            self._write(text)
            return
        self._lines.append(text)
        self._size += len(text)
        if self._size >= MAX_BUFFERED:
            self.flush()
        elif self._flushCall is None:
            self._flushCall = self._reactor.callLater(0, self.flush)

    def flush(self) -> None:
        """Write out what this turn logged."""
        call, self._flushCall = self._flushCall, None
        if call is not None and call.active():
            call.cancel()
        if not self._lines:
            return
        lines, self._lines = self._lines, []
        self._size = 0
        self._write("".join(lines), len(lines))

    def _write(self, text: str, count: int = 1) -> None:
        """
        Write C{text} (C{count} lines).  A write that fails (a full disk, a
        closed stdout) raises nowhere: raised from the turn's flush, it
        would be logged, buffered and fail again every turn.  Its lines are
        counted instead, and the next write that succeeds says how many
        were lost and why.
        """
        if self._lost:
            text = "%s [%s#error] %d log lines could not be written: %s\n%s" % (
                self._stamps(time.time()),
                __name__,
                self._lost,
                self._lostWhy,
                text,
            )
        try:
            if self._encoding is None:
                self._outFile.write(text)
            else:
                self._outFile.write(text.encode(self._encoding))
            self._outFile.flush()
        except Exception as e:
            self._lost += count
            self._lostWhy = repr(e)
        else:
            self._lost = 0


def twistdLogFile(
    twistdOptions: Mapping[str, Any], stdout: Optional[IO[Any]] = None
) -> Tuple[Optional[IO[Any]], Optional[logfile.LogFile]]:
    """
    The file twistd's Unix logger would write to, as (file, rotating log
    file or None); (None, None) where twistd's own choice must stand
    (C{--syslog}, C{--logger}, a daemon told to log to stdout, not twistd's
    Unix options).
    """
    if "nodaemon" not in twistdOptions or twistdOptions.get("syslog") or twistdOptions.get("logger"):
        return None, None
    name = twistdOptions.get("logfile")
    nodaemon = bool(twistdOptions.get("nodaemon"))
    if name == "-" or (nodaemon and not name):
        if not nodaemon:
            return None, None
        return (sys.stdout if stdout is None else stdout), None
    rotating = logfile.LogFile.fromFullPath(name or "twistd.log")
    return rotating, rotating


def rotateOnSignal(rotating: logfile.LogFile, reactor: Any) -> None:
    """SIGUSR1 rotates the log, as twistd arranges for its own log file."""
    try:
        import signal
    except ImportError:  # pragma: no cover - every Unix has it
        return
    if not signal.getsignal(signal.SIGUSR1):

        def rotate(signum: int, frame: object) -> None:
            reactor.callFromThread(rotating.rotate)

        signal.signal(signal.SIGUSR1, rotate)


class LoggingService(MultiService):
    """
    The relay's service as twistd gets it: once given to the application, it
    makes the application log through C{observer} (twistd reads an
    C{ILogObserver} component of its application before it starts logging).
    """

    def __init__(self, child: Any, observer: Optional[Callable[[LogEvent], None]]) -> None:
        super().__init__()
        child.setServiceParent(self)
        self.observer = observer

    def setServiceParent(self, parent: Any) -> None:
        if self.observer is not None and isinstance(parent, Componentized):
            parent.setComponent(ILogObserver, self.observer)
        super().setServiceParent(parent)

    def stopService(self) -> Any:
        flush = getattr(self.observer, "flush", None)
        if flush is not None:
            flush()
        return super().stopService()
