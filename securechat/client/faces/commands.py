"""
The console's words, without a terminal: what each typed line does, and
how each event reads on screen.  L{securechat.client.faces.console} draws; this
module decides, so it can be tested line by line.
"""

from __future__ import annotations

import hmac
import time
from collections import OrderedDict
from typing import Callable, Dict, List, Optional, Protocol, Tuple

from twisted.logger import Logger
from twisted.python.failure import Failure

from ...codec import PROTECTION
from ...codec.roomsecret import CODE_RE
from ..adapters.headless import HeadlessClient
from ..adapters.passphrases import PassphraseError
from ..core import commands as cmd
from ..core import ctcp
from ..core import events as ev
from ..core.directsessions import unansweredNote
from ..core.forwardroute import CHOOSABLE_LAYERS
from ..core.identities import identityLines, signedMark, trustLine
from ..core.session import CommandError, NeedsForce, NotConnected
from ..core.views import seenNote, viewNote
from ..core.wording import (
    ctcpRequestNote,
    fingerprintNote,
    groupedNote,
    hintNote,
    keyNotEnteredNote,
    keySetNote,
    layerAnnouncedNote,
    layerSetNote,
    missingNote,
    nickUnconfirmedNote,
    notReadMark,
    pacedNote,
    paceProgressNote,
    pasteQuestion,
    placeOf,
    queuedNote,
    rejectedNote,
    reorderedNote,
    spellConsole,
    unsentNote,
    weakPassphraseWarning,
)
from .render import ALERT, HIGHLIGHT, INFO, MARKS, NORMAL, OWN, markStyle, nickStyle
from .routing import Router
from .statusbar import statusSegments
from .windows import HIGHLIGHTED, QUIET, ROOM, Line, Window, WindowList

TIME_FORMAT = "%H:%M:%S"
#: A message sealed more than this many seconds from now shows when it was sent.
STALE = 60
#: Our sealed messages whose echoes a refusal hint can still mark.
MAX_ECHOES = 256
HELP = (
    ("/join #room", "join a room (and make it the current one)"),
    ("/part [#room] [reason]", "leave a room (default: the current one)"),
    ("/msg nick text", "send a direct message"),
    ("/msg! nick text", "send it even in clear to a peer whose key no longer applies"),
    ("/key [#room|nick]", "set the passphrase (asked twice without echo; Enter alone uses --key-file/$SECURECHAT_KEY)"),
    ("/key --new [#room|nick]", "generate an unguessable room secret to pass on out of band"),
    ("/layer [plain|aes-ctr|fernet|fernet-ttl|signed]", "show or set the current room's layer"),
    ("/layer! layer [#room|nick]", "lower a keyed conversation's layer (you are told what is lost)"),
    ("/fingerprint [#room|nick]", "show the room key's and your identity's fingerprints (a nick's pinned key)"),
    ("/verify nick fingerprint", "mark nick's key verified once you compared it out of band"),
    ("/trust nick", "accept the new key of nick after 'identity changed' (check it first)"),
    ("/who [#room|nick]", "who is there"),
    ("/me action", "an action (sealed like any message in a keyed room)"),
    ("/query nick", "open a window for a direct conversation"),
    ("/topic [text]", "show or set the current room's topic (topics are plain text)"),
    ("/whois nick", "what the server says about nick"),
    ("/away [message]", "mark yourself away (no message: back)"),
    ("/window N, /close", "go to window N (also Alt-1..9, Ctrl-N/P); close this one"),
    ("/clear", "clear this window's scrollback"),
    ("/names [#room]", "the members of a room"),
    ("/nick newnick", "change nick"),
    ("/quit [reason]", "leave"),
    ("/help", "this list"),
)

Show = Callable[[str, str], None]


class View(Protocol):
    """What draws the windows (the terminal adapter)."""

    def lineAdded(self, window: Window, line: Line) -> None: ...

    def redraw(self) -> None: ...

Ask = Callable[[str, Callable[[Optional[bytes]], None]], None]


class Usage(ValueError):
    """A command typed wrongly; the message is the one-line explanation."""


def stamp(clock: Callable[[], float] = time.time) -> str:
    return time.strftime(TIME_FORMAT, time.localtime(clock()))


def sentAt(sent: Optional[int], now: Optional[float]) -> str:
    """
    C{"(sent 11:58:02, 3 min ago) "} when the sealed time C{sent} is more
    than L{STALE} seconds from C{now} (either way), else C{""}: a replay to
    a restarted receiver or a delayed message must not read as fresh.
    """
    if sent is None or now is None or abs(now - sent) <= STALE:
        return ""
    delta = now - sent
    same_day = time.localtime(sent)[:3] == time.localtime(now)[:3]
    at = time.strftime(TIME_FORMAT if same_day else "%Y-%m-%d " + TIME_FORMAT, time.localtime(sent))
    seconds = abs(delta)
    if seconds < 3600:
        span = "%d min" % (seconds // 60,)
    elif seconds < 2 * 86400:
        span = "%d h" % (seconds // 3600,)
    else:
        span = "%d days" % (seconds // 86400,)
    return "(sent %s, %s %s) " % (at, span, "ago" if delta > 0 else "in the future")


def messageLine(
    when: str, where: str, protection: str, sender: str, rest: str,
    style: str = NORMAL, action: bool = False, fold: Callable[[str], str] = str.lower,
    mark: Optional[str] = None,
) -> Line:
    """
    C{time where [mark] <sender> rest}, the mark in its level's colour, the
    nick in its own (C{* sender rest} for an action).  C{mark} overrides the
    level's mark text (a signed message names its signer's trust).
    """
    mark = mark or MARKS.get(protection, protection)
    who = ("* %s" if action else "<%s>") % (sender,)
    return Line((
        ("%s %s" % (when, where), style),
        ("[%s]" % (mark,), markStyle(protection)),
        (" ", style),
        (who, OWN if style == OWN else nickStyle(fold(sender))),
        (" " + rest, style),
    ), style)


def formatEvent(event: ev.Event, when: str, now: Optional[float] = None) -> List[Tuple[str, str]]:
    """
    The screen lines (text, style) for C{event}; empty for events not shown.
    C{now} (seconds) lets a message sealed long ago or ahead say when it was sent.
    Each is a L{Line}: it also carries its coloured segments.
    """
    if isinstance(event, ev.IncomingMessage):
        where = ("(direct) " if event.direct else event.target + " ")
        sent = sentAt(event.sent_at, now)
        lines: List[Tuple[str, str]] = [
            messageLine(when, where, event.protection, event.sender, sent + body,
                        action=isinstance(event, ev.Action), mark=signedMark(event))
            for body in event.body.split("\n")
        ]
        for note in (missingNote(event), reorderedNote(event)):
            if note is not None:
                lines.append(("%s %s%s" % (when, where, note), ALERT))
        return lines
    if isinstance(event, ev.RejectedMessage):
        where = ("(direct) " if event.direct else event.target + " ")
        return [("%s %s%s" % (when, where, rejectedNote(event, spellConsole)), ALERT)]
    if isinstance(event, (ev.Sent, ev.Retrying)):
        return []
    if isinstance(event, ev.ViewDiffers):
        return [("%s %s %s" % (when, event.target, viewNote(event)), ALERT)]
    if isinstance(event, ev.SeenBy):
        return [("%s %s %s" % (when, event.target, seenNote(event)), INFO)]
    if isinstance(event, ev.CtcpRequest):
        where = ("(direct) " if event.direct else event.target + " ")
        return [Line.plain("%s %s%s" % (when, where, ctcpRequestNote(event)), INFO)]
    if isinstance(event, ev.Topic):
        plain = " [plain, set through the relay]"
        if event.change:
            text = "%s -- %s changed the topic of %s%s: %s" % (
                when, event.by or "someone", event.room, plain, event.topic)
        elif event.topic:
            text = "%s -- topic of %s%s: %s" % (when, event.room, plain, event.topic)
        else:
            text = "%s -- %s has no topic" % (when, event.room)
        return [Line.plain(text, INFO)]
    if isinstance(event, ev.Whois):
        return [Line.plain("%s -- %s %s" % (when, event.nick, event.info), INFO)]
    if isinstance(event, ev.Connected):
        text = "connected to %s as %s" % (event.server, event.nick)
        if event.reconnect:
            text = "reconnected to %s as %s; rejoining rooms" % (event.server, event.nick)
        if event.nick != event.requested:
            # Not "was in use": the server names us, for whatever reason.
            text += ", not %s (the nick you chose)" % (event.requested,)
            return [("%s -- %s" % (when, text), ALERT)]
        return [("%s -- %s" % (when, text), INFO)]
    if isinstance(event, ev.NickUnconfirmed):
        return [("%s !! %s" % (when, nickUnconfirmedNote(event)), ALERT)]
    if isinstance(event, ev.Queued):
        return [("%s %s%s" % (when, placeOf(event.target), queuedNote(event)), INFO)]
    if isinstance(event, ev.Unsent):
        return [("%s !! %s%s" % (when, placeOf(event.target), unsentNote(event)), ALERT)]
    if isinstance(event, ev.SessionUnanswered):
        return [("%s !! %s%s" % (when, placeOf(event.target), unansweredNote(event, spellConsole)), ALERT)]
    if isinstance(event, ev.Paced):
        # Only the first of a run: a paste's progress is said by PaceProgress.
        if event.ahead:
            return []
        return [("%s %s%s" % (when, placeOf(event.target), pacedNote(event)), INFO)]
    if isinstance(event, ev.LayerAnnounced):
        style = INFO if event.followed or event.layer == event.previous else ALERT
        return [("%s -- %s" % (when, layerAnnouncedNote(event, spellConsole)), style)]
    if isinstance(event, ev.KeyNotEntered):
        return [("%s !! %s" % (when, keyNotEnteredNote(event.target, event.layer, spellConsole)), ALERT)]
    if isinstance(event, ev.PaceProgress):
        return [("%s -- %s" % (when, paceProgressNote(event)), ALERT if event.unsent else INFO)]
    if isinstance(event, ev.Disconnected):
        tail = "; reconnecting..." if event.reconnecting else ""
        return [("%s -- connection lost: %s%s" % (when, event.reason, tail), ALERT)]
    if isinstance(event, ev.NickChanged):
        if event.me and event.reason:
            return [("%s -- you are now known as %s: %s" % (when, event.new, event.reason), ALERT)]
        who = "you are" if event.me else "%s is" % (event.old,)
        return [("%s -- %s now known as %s" % (when, who, event.new), INFO)]
    if isinstance(event, ev.Joined):
        if event.me:
            keyed = (
                "layer %s" % (event.layer,) if event.layer != "plain"
                else "no key: messages are plain text (/key to set one)"
            )
            return [("%s -- you joined %s (%s)" % (when, event.room, keyed), INFO)]
        return [("%s -- %s joined %s" % (when, event.nick, event.room), INFO)]
    if isinstance(event, ev.Parted):
        who = "you" if event.me else event.nick
        reason = " (%s)" % (event.reason,) if event.reason else ""
        return [("%s -- %s left %s%s" % (when, who, event.room, reason), INFO)]
    if isinstance(event, ev.UserQuit):
        if event.netsplit:
            return [("%s -- %s left in a netsplit (%s)" % (when, event.nick, " ".join(event.netsplit)), INFO)]
        reason = " (%s)" % (event.reason,) if event.reason else ""
        return [("%s -- %s quit%s" % (when, event.nick, reason), INFO)]
    if isinstance(event, ev.KeySet):
        return [("%s -- %s" % (when, keySetNote(event)), INFO)]
    if isinstance(event, ev.LayerSet):
        return [("%s -- %s" % (when, layerSetNote(event)), INFO)]
    if isinstance(event, ev.Fingerprint):
        return [("%s -- %s" % (when, text), INFO) for text in [fingerprintNote(event), *identityLines(event)]]
    if isinstance(event, ev.TrustChanged):
        return [("%s -- %s" % (when, trustLine(event)), INFO)]
    if isinstance(event, ev.RoomSecret):
        return [(
            "%s -- new room secret for %s: %s  (pass it on out of band, to the members only; "
            "they type it at /key %s)" % (when, event.target, event.code, event.target), ALERT,
        )]
    if isinstance(event, ev.Names):
        return [("%s -- in %s: %s" % (when, event.room, " ".join(event.nicks) or "nobody"), INFO)]
    if isinstance(event, ev.Who):
        if not event.entries:
            return [("%s -- nobody matches %s" % (when, event.mask), INFO)]
        return [
            ("%s -- %s: %s (%s@%s) %s" % (when, event.mask, e.nick, e.user, e.host, e.realname), INFO)
            for e in event.entries
        ]
    if isinstance(event, ev.Notice):
        source = "%s: " % (event.source,) if event.source else ""
        return [("%s -- %s%s" % (when, source, event.text), INFO)]
    if isinstance(event, ev.Error):
        return [("%s !! %s" % (when, event.message), ALERT)]
    return []


class Console:
    """
    Interprets typed lines for one L{HeadlessClient} and turns its events
    into screen lines.  C{ask} prompts without echo; C{startupPassphrase}
    re-reads C{--key-file} / C{$SECURECHAT_KEY} (L{None} when neither is set).
    """

    log = Logger()

    def __init__(
        self,
        client: HeadlessClient,
        show: Show,
        ask: Ask,
        quit: Callable[[str], None],
        startupPassphrase: Callable[[], Optional[bytes]] = lambda: None,
        current: Optional[str] = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.show = show
        self.ask = ask
        self.quit = quit
        self.startupPassphrase = startupPassphrase
        self.clock = clock
        #: The windows (status, rooms, direct conversations) and their lines.
        self.windows = WindowList(lambda name: self.client.session.fold(name))
        self.router = Router(self.windows, client.session)
        #: The echoes of our sealed messages by msgid (the latest L{MAX_ECHOES}):
        #: a refusal hint naming one marks them.
        self._echoes: OrderedDict[str, List[Tuple[Window, Line]]] = OrderedDict()
        #: The terminal, once attached (L{attach}): told of every line added.
        self.view: Optional[View] = None
        self.current = current
        #: The room of the user's last /join, until the server confirms it:
        #: only that join (or one when there is no current room) moves the
        #: current room, not the rejoins after a reconnect.
        self._joining: Optional[str] = None
        #: When the next connection attempt comes (a L{ev.Retrying}), while disconnected.
        self.retryAt: Optional[float] = None
        self.lastFailure = ""
        #: Commands that take a C{!} (C{/layer!}): they lower protection.
        self._forced: Dict[str, Callable[[List[str], str, bool], None]] = {
            "layer": self.cmd_layer,
            "msg": self.cmd_msg,
        }
        self._commands: Dict[str, Callable[[List[str], str], None]] = {
            "join": self.cmd_join,
            "part": self.cmd_part,
            "msg": self.cmd_msg,
            "key": self.cmd_key,
            "layer": self.cmd_layer,
            "fingerprint": self.cmd_fingerprint,
            "who": self.cmd_who,
            "names": self.cmd_names,
            "nick": self.cmd_nick,
            "trust": self.cmd_trust,
            "verify": self.cmd_verify,
            "remove": self.cmd_remove,
            "quit": self.cmd_quit,
            "help": self.cmd_help,
        }
        self._commands.update(self._everydayCommands())

    # Windows.

    @property
    def current(self) -> Optional[str]:
        """The room or peer of the window shown; L{None} in the status window."""
        return self.windows.current.name

    @current.setter
    def current(self, name: Optional[str]) -> None:
        window = self._window(name, open=True) if name is not None else self.windows.status
        self.windows.select(window or self.windows.status)
        self._changed()

    def attach(self, view: View) -> None:
        """The terminal draws from now on: it is told of each line added to a window."""
        self.view = view

    def _changed(self) -> None:
        """The window shown, or what the status bar says, changed."""
        if self.view is not None:
            self.view.redraw()

    def _window(self, name: Optional[str], open: bool = False) -> Optional[Window]:
        return self.router.window(name, open)

    def _put(self, window: Optional[Window], line: Tuple[str, str], level: int = QUIET) -> None:
        if not isinstance(line, Line):
            line = Line.plain(line[0], line[1])
        target = window or self.windows.current
        self.windows.add(target, line, level)
        if self.view is None:
            self.show(line.text, line.style)
        else:
            self.view.lineAdded(target, line)

    # Events.

    def event(self, event: ev.Event) -> None:
        if isinstance(event, ev.Joined) and event.me:
            if self.windows.current is self.windows.status or self._same(event.room, self._joining):
                window = self._window(event.room, open=True)
                if window is not None:
                    self.windows.select(window)
                self._joining = None
                self._changed()
        if isinstance(event, ev.Retrying):
            self.retryAt = event.at
            self._changed()  # the status bar says when
            return
        elif isinstance(event, ev.Connected):
            self.retryAt, self.lastFailure = None, ""
        elif isinstance(event, ev.Error) and event.code == "connect":
            self.lastFailure = event.message.split(" -- ")[0].split(": ", 1)[-1]
            if " -- " not in event.message:
                self._changed()  # the status bar says it; no line per attempt
                return
        when = stamp(self.clock)
        windows = self.router.route(event)
        level = self.router.level(event)
        if isinstance(event, ev.RejectedMessage) and event.grouped:
            return  # counted: the session says its group (ev.RefusalsGrouped)
        if isinstance(event, ev.RefusalsGrouped):
            self._putGroup(windows, when, event)
            return
        if isinstance(event, ev.RefusalHint):
            self._markEchoes(event)
            for window in windows:
                self._put(window, ("%s !! %s" % (when, hintNote(event, spellConsole)), ALERT), HIGHLIGHTED)
            return
        if isinstance(event, ev.Sent):
            conversation = event.target
            protection = PROTECTION.get(event.layer, event.layer)  # "session": its own protection
            where = conversation + " " if conversation.startswith("#") else "(to %s) " % (conversation,)
            action, _request = ctcp.split(event.body)
            echoes: List[Tuple[Window, Line]] = []
            for body in (event.body if action is None else action).split("\n"):
                line = messageLine(when, where, protection, self.client.nick, body, OWN, action is not None)
                for window in windows:
                    self._put(window, line, level)
                    echoes.append((window, line))
            if event.msgid is not None:
                self._echoes[event.msgid] = echoes
                while len(self._echoes) > MAX_ECHOES:
                    self._echoes.popitem(last=False)
            return
        for shown in formatEvent(event, when, self.clock()):
            if isinstance(shown, Line) and level == HIGHLIGHTED and not getattr(event, "direct", True):
                # Your nick mentioned: the body stands out (the header keeps its colours).
                shown = Line(shown.segments[:-1] + ((shown.segments[-1][0], HIGHLIGHT),), shown.style)
            for window in windows:
                self._put(window, shown, level)

    def _markEchoes(self, event: ev.RefusalHint) -> None:
        """The echoes of our messages a refusal hint names get its mark (in the scrollback)."""
        mark = " [%s]" % (notReadMark(event),)
        for msgid in event.msgids:
            marked = []
            for window, line in self._echoes.get(msgid, []):
                new = Line(line.segments + ((mark, ALERT),), line.style)
                if window.replace(line, new):
                    marked.append((window, new))
            if msgid in self._echoes:
                self._echoes[msgid] = marked
        self._changed()

    def _putGroup(self, windows: List[Window], when: str, group: ev.RefusalsGrouped) -> None:
        text = groupedNote(group.target, group.sender, group.reason, group.count, spellConsole)
        for window in windows:
            self._put(window, ("%s !! %s" % (when, text), ALERT), HIGHLIGHTED)

    def _same(self, a: Optional[str], b: Optional[str]) -> bool:
        if a is None or b is None:
            return False
        return self.client.session.fold(a) == self.client.session.fold(b)

    def info(self, text: str) -> None:
        self._put(None, ("%s -- %s" % (stamp(self.clock), text), INFO))

    def alert(self, text: str) -> None:
        self._put(None, ("%s !! %s" % (stamp(self.clock), text), ALERT))

    # Lines.

    def prompt(self) -> str:
        return "[%s] " % (self.current or "no room",)

    def line(self, text: str) -> None:
        """One line the user typed."""
        if not text.strip():
            return
        try:
            if text.startswith("/") and not text.startswith("//"):
                self._command(text[1:])
            else:
                self._say(text[1:] if text.startswith("//") else text)
        except Usage as exc:
            self.alert(str(exc))
        except NeedsForce as exc:
            self.alert(cmd.advice(exc, spellConsole))
        except (CommandError, NotConnected, PassphraseError) as exc:
            self.alert(str(exc))
        except Exception:
            # The keyboard boundary: an exception here would cut the
            # terminal's input and leave the console running but deaf.
            self.log.failure("command failed")
            self.alert("internal error (a bug): the command was not carried out")

    def paste(self, lines: List[str]) -> None:
        """
        Several lines pasted at once (the terminal's bracketed paste): each
        is text for the current room, never a command, and more than one
        is asked about first, as weechat does: how many lines, and how
        long they take at the server's pace.
        """
        lines = [text for text in lines if text.strip()]
        if len(lines) <= 1:
            for text in lines:
                self.line(text)
            return
        target = self.current
        if target is None:
            self.alert("paste of %d lines not sent: no current room (/join #room first)" % (len(lines),))
            return
        session = self.client.session
        seconds = session.pacer.eta(self.clock(), session.waiting + len(lines))

        def answered(answer: Optional[bytes]) -> None:
            if answer is None or answer.strip().lower() not in (b"y", b"yes"):
                self.info("paste of %d lines to %s not sent" % (len(lines), target))
                return
            for done, text in enumerate(lines):
                try:
                    self.client.run(cmd.Say(target, text))
                except (CommandError, NotConnected) as exc:
                    self.alert(
                        "paste to %s stopped: %d of %d lines NOT SENT: %s"
                        % (target, len(lines) - done, len(lines), exc)
                    )
                    return

        self.ask(pasteQuestion(len(lines), seconds, target), answered)

    def _say(self, text: str) -> None:
        if self.current is None:
            raise Usage("no current room: /join #room first, or /msg nick text (this is the status window)")
        self.client.run(cmd.Say(self.current, text))

    def _command(self, text: str) -> None:
        name, _, rest = text.partition(" ")
        if name.endswith("!"):
            forced = self._forced.get(name[:-1].lower())
            if forced is None:
                raise Usage("only /layer! and /msg! take a '!' (it confirms lowering protection)")
            forced(rest.split(), rest.strip(), True)
            return
        handler = self._commands.get(name.lower())
        if handler is None:
            raise Usage("unknown command /%s; /help lists the commands" % (name,))
        handler(rest.split(), rest.strip())

    def _target(self, args: List[str], what: str) -> str:
        if args:
            return args[0]
        if self.current is None:
            raise Usage("%s: no current room; name one" % (what,))
        return self.current

    # Commands.

    def cmd_join(self, args: List[str], rest: str) -> None:
        if len(args) != 1:
            raise Usage("usage: /join #room")
        room = args[0]
        if room and room[0] not in self.client.session.chanTypes and room[0] not in "#&+!":
            room = "#" + room  # /join lab means #lab, as in every IRC client
        for joined in self.client.rooms():
            if self._same(room, joined):
                self.current = joined
                self.info("current room is now %s" % (joined,))
                return
        self.client.run(cmd.Join(room))
        self._joining = room

    def cmd_part(self, args: List[str], rest: str) -> None:
        if args and args[0].startswith("#"):
            room, reason = args[0], rest[len(args[0]):].strip()
        else:
            room, reason = self._target([], "/part"), rest
        self.client.run(cmd.Part(room, reason))

    def cmd_msg(self, args: List[str], rest: str, force: bool = False) -> None:
        if len(args) < 2:
            raise Usage("usage: /msg%s nick text" % ("!" if force else "",))
        self.client.run(cmd.Say(args[0], rest[len(args[0]):].strip(), force))

    def cmd_key(self, args: List[str], rest: str) -> None:
        if args and args[0] == "--new":
            if len(args) > 2:
                raise Usage("usage: /key --new [#room|nick]")
            target = self._target(args[1:], "/key --new")
            derived = self.client.key(cmd.Key(target, new=True))
            derived.addErrback(self._failed)
            return
        if len(args) > 1:
            raise Usage("usage: /key [#room|nick] (the passphrase is asked, never typed on the command line)")
        target = self._target(args, "/key")
        # Nothing may fail between here and the prompt: a failure would
        # leave the next line, the passphrase, to be sent as chat.
        try:
            available = bool(self.startupPassphrase())
        except PassphraseError:
            available = False  # the key file is gone; Enter alone will say so
        hint = " (Enter alone: use --key-file/$SECURECHAT_KEY)" if available else ""
        self.ask("passphrase for %s%s: " % (target, hint), lambda secret: self._keyEntered(target, secret))

    def _keyEntered(self, target: str, secret: Optional[bytes]) -> None:
        if secret is None:
            self.info("/key cancelled")
            return
        if secret and not CODE_RE.match(secret.decode("utf-8", "replace").strip().lower()):
            # A new passphrase is asked twice: a typo would key the room
            # with a key nobody else has (a room secret has check digits).
            self.ask("again, to confirm: ", lambda again: self._keyConfirmed(target, secret, again))
            return
        self._keyChosen(target, secret)

    def _keyConfirmed(self, target: str, secret: bytes, again: Optional[bytes]) -> None:
        if again is None:
            self.info("/key cancelled")
            return
        if not hmac.compare_digest(secret, again):
            self.alert("the two passphrases differ: key not changed")
            return
        warning = weakPassphraseWarning(secret)
        if warning is not None:
            self.alert(warning)
        self._keyChosen(target, secret)

    def _keyChosen(self, target: str, secret: bytes) -> None:
        if not secret:
            try:
                secret = self.startupPassphrase() or b""
            except PassphraseError as exc:
                self.alert(str(exc))
                return
            if not secret:
                self.alert("empty passphrase: key not changed")
                return
        self.info("deriving the key for %s (Argon2id)..." % (target,))
        derived = self.client.key(cmd.Key(target), secret)
        del secret
        derived.addErrback(self._failed)

    def _failed(self, reason: Failure) -> None:
        self.alert(reason.getErrorMessage())

    def cmd_layer(self, args: List[str], rest: str, force: bool = False) -> None:
        if not args and not force:
            target = self._target([], "/layer")
            self.info("%s uses layer %s (choose from %s)" % (target, self.client.layer(target),
                                                            ", ".join(CHOOSABLE_LAYERS)))  # fmt: skip
            return
        if not args or len(args) > 2 or args[0] not in CHOOSABLE_LAYERS:
            raise Usage("usage: /layer%s %s [#room|nick]" % ("!" if force else "", "|".join(CHOOSABLE_LAYERS)))
        self.client.run(cmd.Layer(self._target(args[1:], "/layer"), args[0], force))

    def cmd_fingerprint(self, args: List[str], rest: str) -> None:
        if len(args) > 1:
            raise Usage("usage: /fingerprint [#room|nick]")
        shown = self.client.run(cmd.Fingerprint(self._target(args, "/fingerprint")))
        if shown is not None:
            self.event(shown)

    def cmd_who(self, args: List[str], rest: str) -> None:
        if len(args) > 1:
            raise Usage("usage: /who [#room|nick]")
        self.client.run(cmd.Who(self._target(args, "/who")))

    def cmd_names(self, args: List[str], rest: str) -> None:
        if len(args) > 1:
            raise Usage("usage: /names [#room]")
        self.client.run(cmd.Names(self._target(args, "/names")))

    def cmd_nick(self, args: List[str], rest: str) -> None:
        if len(args) != 1:
            raise Usage("usage: /nick newnick")
        self.client.run(cmd.Nick(args[0]))

    def cmd_trust(self, args: List[str], rest: str) -> None:
        if len(args) != 1:
            raise Usage("usage: /trust nick (accepts the key refused for nick; /verify is better)")
        self.client.run(cmd.Trust(args[0]))

    def cmd_verify(self, args: List[str], rest: str) -> None:
        if len(args) < 2:
            raise Usage("usage: /verify nick fingerprint (the 8 groups of 5 digits they read you)")
        self.client.run(cmd.Verify(args[0], rest[len(args[0]):].strip()))

    def cmd_remove(self, args: List[str], rest: str) -> None:
        if len(args) not in (1, 2):
            raise Usage("usage: /remove nick [#room] (a room on the forward layer: new chains for those who stay)")
        self.client.run(cmd.Remove(self._target(args[1:], "/remove"), args[0]))

    def cmd_quit(self, args: List[str], rest: str) -> None:
        self.quit(rest)

    def cmd_help(self, args: List[str], rest: str) -> None:
        for usage, meaning in HELP:
            self._put(None, ("  %-42s %s" % (usage, meaning), INFO))
        self._put(None, ("  %-42s %s" % ("text", "say it in the current room (//text sends /text)"), INFO))

    # Everyday IRC commands (issue 14): kept apart so that other command
    # sets can be added the same way.

    def _everydayCommands(self) -> Dict[str, Callable[[List[str], str], None]]:
        return {
            "j": self.cmd_join,
            "me": self.cmd_me,
            "query": self.cmd_query,
            "q": self.cmd_query,
            "close": self.cmd_close,
            "wc": self.cmd_close,
            "window": self.cmd_window,
            "win": self.cmd_window,
            "w": self.cmd_window,
            "clear": self.cmd_clear,
            "topic": self.cmd_topic,
            "whois": self.cmd_whois,
            "wi": self.cmd_whois,
            "away": self.cmd_away,
            "notice": self.cmd_notice,
        }

    def commandNames(self) -> List[str]:
        """Every command word (for Tab completion)."""
        return sorted(self._commands)

    def cmd_me(self, args: List[str], rest: str) -> None:
        if not rest:
            raise Usage("usage: /me action")
        if self.current is None:
            raise Usage("/me: this is the status window; go to a room or a conversation")
        self.client.run(cmd.Me(self.current, rest))

    def cmd_query(self, args: List[str], rest: str) -> None:
        if len(args) < 1 or self.client.session.isRoom(args[0]):
            raise Usage("usage: /query nick [text]")
        window = self._window(args[0], open=True)
        if window is None:
            raise Usage("too many windows: /close some first")
        self.windows.select(window)
        self._changed()
        text = rest[len(args[0]):].strip()
        if text:
            self.client.run(cmd.Say(args[0], text))

    def cmd_close(self, args: List[str], rest: str) -> None:
        window = self.windows.current
        if window is self.windows.status:
            raise Usage("the status window stays open")
        if window.kind == ROOM and any(self._same(window.name, room) for room in self.client.rooms()):
            raise Usage("you are in %s: /part it first" % (window.name,))
        self.windows.close(window)
        self._changed()

    def cmd_window(self, args: List[str], rest: str) -> None:
        if len(args) == 1 and args[0].isdigit():
            if not self.windows.selectNumber(int(args[0])):
                raise Usage("no window %s: there are %d" % (args[0], len(self.windows.windows)))
        elif len(args) == 1 and args[0] in ("next", "prev"):
            self.windows.step(1 if args[0] == "next" else -1)
        elif len(args) == 1 and args[0] == "close":
            self.cmd_close([], "")
            return
        else:
            raise Usage("usage: /window N (or next, prev, close)")
        self._changed()

    def cmd_clear(self, args: List[str], rest: str) -> None:
        self.windows.current.clear()
        self._changed()

    def cmd_topic(self, args: List[str], rest: str) -> None:
        if args and self.client.session.isRoom(args[0]):
            room, text = args[0], rest[len(args[0]):].strip()
        else:
            room, text = self._target([], "/topic"), rest
            if not self.client.session.isRoom(room):
                raise Usage("/topic: %s is not a room" % (room,))
        if not text:
            self.client.run(cmd.Topic(room))
            return
        if self.client.layer(room) != "plain":
            self.info("a topic is plain text: the relay reads it and can change it")
        self.client.run(cmd.Topic(room, text))

    def cmd_whois(self, args: List[str], rest: str) -> None:
        if len(args) != 1:
            raise Usage("usage: /whois nick")
        self.client.run(cmd.Whois(args[0]))

    def cmd_away(self, args: List[str], rest: str) -> None:
        self.client.run(cmd.Away(rest))

    def cmd_notice(self, args: List[str], rest: str) -> None:
        raise Usage("/notice is not supported here: use /msg (sealed where the conversation is keyed)")

    # The status bar.

    def statusSegments(self) -> List[Tuple[str, str]]:
        """The status bar (L{statusbar}), for the terminal to draw."""
        return statusSegments(self.client, self.windows, self.retryAt, self.lastFailure)
