"""
The headless JSON-lines face: commands as JSON objects on stdin, events as
JSON objects on stdout, one per line (schema in docs/client.md).

Whatever arrives on stdin, the answer is at worst an C{error} event: a
script's mistake must never take the client down.  Error events never
repeat the offending line, which could hold a passphrase.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Dict, Optional, Sequence

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.internet.protocol import Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from ...codec import KdfUnavailable
from ...twistedtypes import TransportUser
from ...wire import LineSplitter, TooLong
from ..adapters.drain import Drain
from ..adapters.headless import HeadlessClient
from ..adapters.passphrases import PassphraseError, readKeyFile
from ..core import commands as cmd
from ..core import events as ev
from ..core.session import CommandError, NeedsForce, NotConnected
from ..core.wording import weakPassphraseWarning

#: Longest command line accepted (a 10 KiB message plus JSON escaping fits).
MAX_COMMAND_LINE = 256 * 1024


def spellJson(command: str, args: Sequence[str]) -> str:
    """
    A command as this face takes it, for the advice in an error: the JSON
    object to send (C{layer!} is C{"force": true}; a key needs its passphrase).
    """
    name = command.rstrip("!")
    fields: Dict[str, Any] = {"cmd": "send" if name == "msg" else name}
    if name == "key" and args and args[0] == "--new":
        fields["new"] = True
        args = args[1:]
    if args:
        fields["target"] = args[0]
    if name == "layer" and len(args) > 1:
        fields["layer"] = args[1]
    if name == "key" and "new" not in fields:
        fields["passphrase"] = "..."
    if name == "msg":
        fields["text"] = "..."
    if command.endswith("!"):
        fields["force"] = True
    return json.dumps(fields)


class BadCommand(ValueError):
    """A JSON command with a missing or mistyped field."""


def _field(command: Dict[str, Any], name: str, default: Optional[str] = None) -> str:
    value = command.get(name, default)
    if value is None:
        raise BadCommand("missing field %r" % (name,))
    if not isinstance(value, str):
        raise BadCommand("field %r must be a string" % (name,))
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        # JSON allows "\ud800"; nothing can send it, and the error must
        # not quote the value (it may be a passphrase).
        raise BadCommand("field %r is not valid Unicode (a lone surrogate)" % (name,)) from None
    return value


def _flag(command: Dict[str, Any], name: str) -> bool:
    """An optional boolean field (C{"force": true}); anything but a boolean is refused."""
    value = command.get(name, False)
    if not isinstance(value, bool):
        raise BadCommand("field %r must be true or false" % (name,))
    return value


#: Characters json.dumps leaves raw that str.splitlines() (and some JSON-lines
#: readers) treat as line ends; a peer could put them in a message body.
_LINE_ENDS_KEPT_BY_JSON = {"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def encodeEvent(event: ev.Event, **extra: Any) -> bytes:
    """One event as one line of JSON (UTF-8, nothing any reader takes for a line end inside)."""
    text = json.dumps(dict(event.asDict(), **extra), ensure_ascii=False, sort_keys=True)
    # Outside strings json.dumps writes ASCII only, so these are inside strings.
    for char, escape in _LINE_ENDS_KEPT_BY_JSON.items():
        if char in text:
            text = text.replace(char, escape)
    return text.encode("utf-8") + b"\n"


class JsonLinesFrontend:
    """Turns command lines into calls on a L{HeadlessClient}, and events into lines."""

    log = Logger()

    def __init__(
        self,
        client: HeadlessClient,
        write: Callable[[bytes], None],
        onQuit: Callable[[], None] = lambda: None,
    ) -> None:
        self.client = client
        self.write = write
        self.onQuit = onQuit
        self.unsubscribe = client.listen(self.event)
        self._commands = {
            "join": self.cmd_join,
            "part": self.cmd_part,
            "send": self.cmd_send,
            "msg": self.cmd_send,
            "key": self.cmd_key,
            "layer": self.cmd_layer,
            "fingerprint": self.cmd_fingerprint,
            "names": self.cmd_names,
            "who": self.cmd_who,
            "nick": self.cmd_nick,
            "trust": self.cmd_trust,
            "remove": self.cmd_remove,
            "verify": self.cmd_verify,
            "quit": self.cmd_quit,
            "action": self.cmd_action,
            "topic": self.cmd_topic,
            "whois": self.cmd_whois,
            "away": self.cmd_away,
        }
        self.quitting: Optional[Deferred] = None

    def event(self, event: ev.Event) -> None:
        if isinstance(event, ev.SessionUnanswered):
            # The explicit choice, as the very command to send back.
            insist = {"cmd": "send", "target": event.target, "text": event.body, "force": True}
            self.write(encodeEvent(event, insist=insist))
            return
        self.write(encodeEvent(event))

    def error(self, message: str, code: str, command: Optional[str] = None) -> None:
        self.event(ev.Error(message, code, command))

    def lineReceived(self, line: bytes) -> None:
        if not line.strip():
            return
        try:
            command = json.loads(line.decode("utf-8"))
        except UnicodeDecodeError:
            self.error("command is not UTF-8", "bad-json")
            return
        except ValueError as exc:
            # JSONDecodeError's message names a position, never the content.
            self.error("malformed JSON: %s" % (exc.args[0] if exc.args else "invalid",), "bad-json")
            return
        except RecursionError:
            # A line of "[[[[..." deeper than the interpreter's stack: it
            # escaped the handlers above and ended the process.
            self.error("malformed JSON: nested too deeply", "bad-json")
            return
        if not isinstance(command, dict):
            self.error("a command must be a JSON object", "bad-command")
            return
        name = command.get("cmd")
        handler = self._commands.get(name) if isinstance(name, str) else None
        if handler is None:
            self.error(
                "unknown command %r; known: %s" % (name, ", ".join(sorted(self._commands))),
                "unknown-command",
                name if isinstance(name, str) else None,
            )
            return
        try:
            handler(command)
        except BadCommand as exc:
            self.error(str(exc), "bad-command", name)
        except NeedsForce as exc:
            # Lowering protection: carried out only when repeated with "force": true.
            self.error(cmd.advice(exc, spellJson), "needs-force", name)
        except (CommandError, PassphraseError) as exc:
            self.error(str(exc), "refused", name)
        except NotConnected as exc:
            self.error(str(exc), "not-connected", name)
        except Exception:
            # The stdin boundary: an exception here would close stdin and
            # end the process, so a bug costs one command, not the client.
            # Logged to stderr; the event names no field of the command.
            self.log.failure("command {name} failed", name=name)
            self.error("internal error in %s (a bug; details on stderr)" % (name,), "internal", name)

    # Commands.

    def cmd_join(self, command: Dict[str, Any]) -> None:
        self.client.run(cmd.Join(_field(command, "room")))

    def cmd_part(self, command: Dict[str, Any]) -> None:
        self.client.run(cmd.Part(_field(command, "room"), _field(command, "reason", "")))

    def cmd_send(self, command: Dict[str, Any]) -> None:
        self.client.run(cmd.Say(_field(command, "target"), _field(command, "text"), _flag(command, "force")))

    def cmd_key(self, command: Dict[str, Any]) -> None:
        target = _field(command, "target")
        force = _flag(command, "force")
        layer = command.get("layer")
        if layer is not None and not isinstance(layer, str):
            raise BadCommand("field 'layer' must be a string")
        key = cmd.Key(target, layer, force, _flag(command, "new"))
        if key.new:
            # A generated room secret: a room-secret event carries its code.
            if "passphrase" in command or "key_file" in command:
                raise BadCommand("'new' generates the secret: give no 'passphrase' or 'key_file'")
            self.client.key(key).addErrback(self._failed, "key")
            return
        if "passphrase" in command:
            passphrase = _field(command, "passphrase").encode("utf-8")
        elif "key_file" in command:
            passphrase = readKeyFile(_field(command, "key_file"))
        else:
            raise BadCommand("key needs 'passphrase' or 'key_file'")
        if not passphrase:
            raise BadCommand("the passphrase is empty")
        warning = weakPassphraseWarning(passphrase, spellJson)
        derived = self.client.key(key, passphrase)
        del passphrase
        if warning is not None:
            # Once the key is set: a refused command gets its error alone.
            derived.addCallback(lambda keySet: self.event(ev.Notice(warning)))
        derived.addErrback(self._failed, "key")

    def _failed(self, reason: Failure, name: str) -> None:
        if isinstance(reason.value, NeedsForce):
            self.error(cmd.advice(reason.value, spellJson), "needs-force", name)
        elif reason.check(CommandError, PassphraseError, ValueError, KdfUnavailable):
            self.error(str(reason.value), "refused", name)
        else:
            self.log.failure("command {name} failed", reason, name=name)
            self.error("internal error: %s" % (reason.getErrorMessage(),), "internal", name)

    def cmd_layer(self, command: Dict[str, Any]) -> None:
        self.client.run(
            cmd.Layer(_field(command, "target"), _field(command, "layer"), _flag(command, "force"))
        )

    def cmd_fingerprint(self, command: Dict[str, Any]) -> None:
        shown = self.client.run(cmd.Fingerprint(_field(command, "target")))
        if shown is not None:
            self.event(shown)

    def cmd_remove(self, command: Dict[str, Any]) -> None:
        self.client.run(cmd.Remove(_field(command, "room"), _field(command, "nick")))

    def cmd_trust(self, command: Dict[str, Any]) -> None:
        self.client.run(cmd.Trust(_field(command, "nick")))

    def cmd_verify(self, command: Dict[str, Any]) -> None:
        self.client.run(cmd.Verify(_field(command, "nick"), _field(command, "fingerprint")))

    def cmd_names(self, command: Dict[str, Any]) -> None:
        self.client.run(cmd.Names(_field(command, "room")))

    def cmd_who(self, command: Dict[str, Any]) -> None:
        self.client.run(cmd.Who(_field(command, "mask")))

    def cmd_nick(self, command: Dict[str, Any]) -> None:
        self.client.run(cmd.Nick(_field(command, "nick")))

    def cmd_action(self, command: Dict[str, Any]) -> None:
        self.client.run(cmd.Me(_field(command, "target"), _field(command, "text"), _flag(command, "force")))

    def cmd_topic(self, command: Dict[str, Any]) -> None:
        text = _field(command, "text") if "text" in command else None
        self.client.run(cmd.Topic(_field(command, "room"), text))

    def cmd_whois(self, command: Dict[str, Any]) -> None:
        self.client.run(cmd.Whois(_field(command, "nick")))

    def cmd_away(self, command: Dict[str, Any]) -> None:
        self.client.run(cmd.Away(_field(command, "text", "")))

    def cmd_quit(self, command: Dict[str, Any]) -> None:
        if self.quitting is None:
            self.quitting = self.client.quit(_field(command, "reason", ""))
            self.quitting.addBoth(lambda ignored: self.onQuit())


@implementer(IHalfCloseableProtocol)
class JsonLinesProtocol(TransportUser, Protocol):
    """
    stdin/stdout (L{twisted.internet.stdio.StandardIO}) for a
    L{JsonLinesFrontend}.  Half-closeable: at the end of stdin we still
    write the last events (our QUIT, the disconnection) before stopping.
    """

    def __init__(self, client: HeadlessClient, onEnd: Callable[[], None]) -> None:
        self.client = client
        self.onEnd = onEnd
        self.splitter = LineSplitter(MAX_COMMAND_LINE)
        self.frontend: Optional[JsonLinesFrontend] = None
        self._lost = False
        self._writeLost = False

    def connectionMade(self) -> None:
        self.frontend = JsonLinesFrontend(self.client, self.tcp.write, self._quitDone)
        # While the reader of our events does not keep up, the relay (and stdin)
        # is not read: what the relay sends waits in its socket, not in our memory.
        self.tcp.registerProducer(Drain(self._stdoutFull), True)

    def _stdoutFull(self, full: bool) -> None:
        """
        Flow control: what we hold for stdout is then bounded by one read
        from the relay (64 KiB, turned into events) and one from stdin.
        """
        factory = getattr(self.client, "factory", None)
        if full:
            if factory is not None:
                factory.pauseReading()
            if self._stdinOpen():
                self.tcp.pauseProducing()  # stdin: its commands make events too
        else:
            if factory is not None:
                factory.resumeReading()
            if self._stdinOpen():
                self.tcp.resumeProducing()

    def _stdinOpen(self) -> bool:
        return not (self._lost or getattr(self.transport, "disconnecting", False))

    def dataReceived(self, data: bytes) -> None:
        frontend = self.frontend
        assert frontend is not None, "connectionMade made it"
        for item in self.splitter.feed(data):
            if isinstance(item, TooLong):
                frontend.error(
                    "command line over %d bytes, ignored" % (MAX_COMMAND_LINE,), "too-long"
                )
            else:
                frontend.lineReceived(item)

    def readConnectionLost(self) -> None:
        """End of stdin: leave politely, then stop."""
        self._leave()

    def writeConnectionLost(self) -> None:
        """stdout closed: nobody reads our events any more; leave too."""
        self._writeLost = True
        self._leave()

    def _leave(self) -> None:
        frontend = self.frontend
        if frontend is not None and frontend.quitting is None:
            frontend.quitting = self.client.quit("end of input")
            frontend.quitting.addBoth(lambda ignored: self._quitDone())

    def _quitDone(self) -> None:
        """Our QUIT is done: close stdout after what we wrote (then connectionLost)."""
        if self._lost or self._writeLost:
            # With stdout gone, loseConnection would only stop reading
            # stdin, and connectionLost would never come: end here.
            self.onEnd()
        else:
            # A registered producer holds the close back for good if stdout
            # was backed up at this moment (Twisted then resumes the
            # producer instead of closing): unregister it first.
            self.tcp.unregisterProducer()
            self.tcp.loseConnection()

    def connectionLost(self, reason: object = None) -> None:
        self._lost = True
        frontend = self.frontend
        if frontend is None or (frontend.quitting is not None and frontend.quitting.called):
            self.onEnd()
        else:
            self._leave()


def run(options: Any, passphrase: Optional[bytes]) -> int:
    """C{securechat --json}: serve stdin/stdout until quit or end of input."""
    import sys

    from twisted.internet import reactor, stdio
    from twisted.logger import (
        FilteringLogObserver,
        LogLevel,
        LogLevelFilterPredicate,
        globalLogBeginner,
        textFileLogObserver,
    )

    from ..adapters.startup import clientFromOptions, keyRooms, startState

    # stdout is the event stream: Twisted's own warnings go to stderr.
    globalLogBeginner.beginLoggingTo(
        [
            FilteringLogObserver(
                textFileLogObserver(sys.stderr),
                [LogLevelFilterPredicate(defaultLogLevel=LogLevel.warn)],
            )
        ],
        redirectStandardIO=False,
    )
    client = clientFromOptions(reactor, options)

    def end() -> None:
        if reactor.running:
            reactor.stop()

    protocol = JsonLinesProtocol(client, end)
    stdio.StandardIO(protocol)
    try:
        keyRooms(client, options.join, passphrase, options.layer)
    except (ValueError, CommandError, KdfUnavailable) as exc:
        assert protocol.frontend is not None, "StandardIO connected it"
        protocol.frontend.error(str(exc), "refused", "startup")
    del passphrase
    startState(reactor, client)
    client.startService()
    reactor.run()
    return 0
