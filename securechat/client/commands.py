"""
The console's words, without a terminal: what each typed line does, and
how each event reads on screen.  L{securechat.client.console} draws; this
module decides, so it can be tested line by line.
"""

from __future__ import annotations

import hmac
import time
from typing import Callable, Dict, List, Optional, Tuple

from twisted.logger import Logger
from twisted.python.failure import Failure

from ..codec import LAYERS, PROTECTION
from ..codec.roomsecret import CODE_RE
from . import events as ev
from .headless import HeadlessClient
from .identities import identityLines, signedMark, trustLine
from .passphrases import PassphraseError, weakPassphraseWarning
from .session import CommandError, NotConnected

#: Styles the UI knows how to draw.
NORMAL = "normal"
OWN = "own"
INFO = "info"
ALERT = "alert"

#: The mark each protection level gets on screen.
MARKS = {
    "none": "plain",
    "confidential": "enc",
    "authenticated": "auth",
    "authenticated+fresh": "auth+fresh",
    "signed+fresh": "signed",
}
#: Why a rejected message was refused, in words (the codec's sentence follows).
REASONS = {
    "tampered": "tampered or wrong key",
    "expired": "expired",
    "from-future": "from the future",
    "replayed": "replayed",
    "re-attributed": "re-attributed",
    "wrong-room": "wrong room",
    "malformed": "malformed",
    "incomplete": "incomplete (chunks dropped)",
    "unprotected": "unprotected, not from a keyed member",
    "no-key": "protected, but no key here",
    "bad-signature": "bad signature",
    "identity-changed": "IDENTITY CHANGED",
    "signed-by-other": "signed by another member's key",
    "trust-full": "unknown key, trust store full",
}
TIME_FORMAT = "%H:%M:%S"
#: A message sealed more than this many seconds from now shows when it was sent.
STALE = 60
#: Layers whose receivers keep no replay cache (sequence numbers only).
NO_REPLAY_CACHE = ("plain", "aes-ctr", "fernet")

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
    ("/names [#room]", "the members of a room"),
    ("/nick newnick", "change nick"),
    ("/quit [reason]", "leave"),
    ("/help", "this list"),
)

Show = Callable[[str, str], None]
Ask = Callable[[str, Callable[[Optional[bytes]], None]], None]


class Usage(ValueError):
    """A command typed wrongly; the message is the one-line explanation."""


def stamp(clock: Callable[[], float] = time.time) -> str:
    return time.strftime(TIME_FORMAT, time.localtime(clock()))


def rejectionText(reason: str, description: str) -> str:
    """
    The reason in words, then the codec's sentence unless it already
    starts with those words (it often does: "unprotected: ...").
    """
    words = REASONS.get(reason, reason)
    if description.lower().startswith(words.split(" ")[0].rstrip(",")):
        return description
    return "%s (%s)" % (words, description)


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


def formatEvent(event: ev.Event, when: str, now: Optional[float] = None) -> List[Tuple[str, str]]:
    """
    The screen lines (text, style) for C{event}; empty for events not shown.
    C{now} (seconds) lets a message sealed long ago or ahead say when it was sent.
    """
    if isinstance(event, ev.IncomingMessage):
        mark = signedMark(event) or MARKS.get(event.protection, event.protection)
        where = ("(direct) " if event.direct else event.target + " ")
        sent = sentAt(event.sent_at, now)
        lines = [
            ("%s %s[%s] <%s> %s%s" % (when, where, mark, event.sender, sent, body), NORMAL)
            for body in event.body.split("\n")
        ]
        if event.missing:
            lines.append(
                ("%s %s%d earlier message(s) from %s never arrived (dropped?)"
                 % (when, where, event.missing, event.sender), ALERT)
            )
        if event.reordered and event.layer in NO_REPLAY_CACHE:
            # A copy and a late message look alike without a replay cache.
            lines.append((
                "%s %sthe message above from %s is a replay (or reorder): %s cannot tell"
                % (when, where, event.sender, event.layer), ALERT,
            ))
        elif event.reordered:
            lines.append(
                ("%s %sthe message above from %s arrived out of order" % (when, where, event.sender), ALERT)
            )
        return lines
    if isinstance(event, ev.RejectedMessage):
        where = ("(direct) " if event.direct else event.target + " ")
        if event.reason == "no-key":
            return [(
                "%s %s%s sent a protected (%s) message; %s has no key: /key %s"
                % (when, where, event.sender, event.layer, event.target, event.target), ALERT,
            )]
        return [("%s %sREJECTED message claimed from %s: %s" % (
            when, where, event.sender, rejectionText(event.reason, event.description)), ALERT)]
    if isinstance(event, ev.Sent):
        return []
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
        return [(
            "%s !! %s: protected messages are not sent until you choose: "
            "/nick %s to accept it, /nick %s to ask for yours back"
            % (when, event.cause, event.nick, event.chosen), ALERT,
        )]
    if isinstance(event, ev.Queued):
        where = event.target + " " if event.target.startswith("#") else "(to %s) " % (event.target,)
        return [("%s %s(waiting for the key) %s" % (when, where, event.body), INFO)]
    if isinstance(event, ev.Unsent):
        where = event.target + " " if event.target.startswith("#") else "(to %s) " % (event.target,)
        return [("%s !! %sNOT SENT: %s -- %s" % (when, where, event.body, event.reason), ALERT)]
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
        reason = " (%s)" % (event.reason,) if event.reason else ""
        return [("%s -- %s quit%s" % (when, event.nick, reason), INFO)]
    if isinstance(event, ev.KeySet):
        return [(
            "%s -- key set for %s on layer %s, fingerprint %s (compare it with the others)"
            % (when, event.target, event.layer, event.fingerprint), INFO,
        )]
    if isinstance(event, ev.LayerSet):
        return [("%s -- %s now uses layer %s" % (when, event.target, event.layer), INFO)]
    if isinstance(event, ev.Fingerprint):
        if event.fingerprint is None:
            lines = [("%s -- %s has no key (plain)" % (when, event.target), INFO)]
        else:
            lines = [("%s -- %s %s fingerprint: %s" % (when, event.target, event.layer, event.fingerprint), INFO)]
        return lines + [("%s -- %s" % (when, text), INFO) for text in identityLines(event)]
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
        self.current = current
        #: The room of the user's last /join, until the server confirms it:
        #: only that join (or one when there is no current room) moves the
        #: current room, not the rejoins after a reconnect.
        self._joining: Optional[str] = None
        self.clock = clock
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
            "quit": self.cmd_quit,
            "help": self.cmd_help,
        }

    # Events.

    def event(self, event: ev.Event) -> None:
        if isinstance(event, ev.Joined) and event.me:
            if self.current is None or self._same(event.room, self._joining):
                self.current = event.room
                self._joining = None
        elif isinstance(event, ev.Parted) and event.me and self._same(event.room, self.current):
            rooms = self.client.rooms()
            self.current = rooms[0] if rooms else None
        when = stamp(self.clock)
        if isinstance(event, ev.Sent):
            conversation = event.target
            mark = MARKS.get(PROTECTION.get(event.layer, ""), event.layer)
            where = conversation + " " if conversation.startswith("#") else "(to %s) " % (conversation,)
            for body in event.body.split("\n"):
                self.show("%s %s[%s] <%s> %s" % (when, where, mark, self.client.nick, body), OWN)
            return
        for text, style in formatEvent(event, when, self.clock()):
            self.show(text, style)

    def _same(self, a: Optional[str], b: Optional[str]) -> bool:
        if a is None or b is None:
            return False
        return self.client.session.fold(a) == self.client.session.fold(b)

    def info(self, text: str) -> None:
        self.show("%s -- %s" % (stamp(self.clock), text), INFO)

    def alert(self, text: str) -> None:
        self.show("%s !! %s" % (stamp(self.clock), text), ALERT)

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
        except (CommandError, NotConnected, PassphraseError) as exc:
            self.alert(str(exc))
        except Exception:
            # The keyboard boundary: an exception here would cut the
            # terminal's input and leave the console running but deaf.
            self.log.failure("command failed")
            self.alert("internal error (a bug): the command was not carried out")

    def _say(self, text: str) -> None:
        if self.current is None:
            raise Usage("no current room: /join #room first, or /msg nick text")
        self.client.send(self.current, text)

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
        for room in self.client.rooms():
            if self._same(args[0], room):
                self.current = room
                self.info("current room is now %s" % (room,))
                return
        self.client.join(args[0])
        self._joining = args[0]

    def cmd_part(self, args: List[str], rest: str) -> None:
        if args and args[0].startswith("#"):
            room, reason = args[0], rest[len(args[0]):].strip()
        else:
            room, reason = self._target([], "/part"), rest
        self.client.part(room, reason)

    def cmd_msg(self, args: List[str], rest: str, force: bool = False) -> None:
        if len(args) < 2:
            raise Usage("usage: /msg%s nick text" % ("!" if force else "",))
        self.client.send(args[0], rest[len(args[0]):].strip(), force)

    def cmd_key(self, args: List[str], rest: str) -> None:
        if args and args[0] == "--new":
            if len(args) > 2:
                raise Usage("usage: /key --new [#room|nick]")
            target = self._target(args[1:], "/key --new")
            derived = self.client.newRoomSecret(target)
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
        derived = self.client.setKey(target, secret, None)
        del secret
        derived.addErrback(self._failed)

    def _failed(self, reason: Failure) -> None:
        self.alert(reason.getErrorMessage())

    def cmd_layer(self, args: List[str], rest: str, force: bool = False) -> None:
        if not args and not force:
            target = self._target([], "/layer")
            self.info("%s uses layer %s (choose from %s)" % (target, self.client.layer(target), ", ".join(LAYERS)))
            return
        if not args or len(args) > 2 or args[0] not in LAYERS:
            raise Usage("usage: /layer%s %s [#room|nick]" % ("!" if force else "", "|".join(LAYERS)))
        self.client.setLayer(self._target(args[1:], "/layer"), args[0], force)

    def cmd_fingerprint(self, args: List[str], rest: str) -> None:
        if len(args) > 1:
            raise Usage("usage: /fingerprint [#room|nick]")
        self.event(self.client.session.fingerprintEvent(self._target(args, "/fingerprint")))

    def cmd_who(self, args: List[str], rest: str) -> None:
        if len(args) > 1:
            raise Usage("usage: /who [#room|nick]")
        self.client.who(self._target(args, "/who"))

    def cmd_names(self, args: List[str], rest: str) -> None:
        if len(args) > 1:
            raise Usage("usage: /names [#room]")
        self.client.names(self._target(args, "/names"))

    def cmd_nick(self, args: List[str], rest: str) -> None:
        if len(args) != 1:
            raise Usage("usage: /nick newnick")
        self.client.setNick(args[0])

    def cmd_trust(self, args: List[str], rest: str) -> None:
        if len(args) != 1:
            raise Usage("usage: /trust nick (accepts the key refused for nick; /verify is better)")
        self.client.session.trustNick(args[0])

    def cmd_verify(self, args: List[str], rest: str) -> None:
        if len(args) < 2:
            raise Usage("usage: /verify nick fingerprint (the 8 groups of 5 digits they read you)")
        self.client.session.verifyNick(args[0], rest[len(args[0]):].strip())

    def cmd_quit(self, args: List[str], rest: str) -> None:
        self.quit(rest)

    def cmd_help(self, args: List[str], rest: str) -> None:
        for usage, meaning in HELP:
            self.show("  %-42s %s" % (usage, meaning), INFO)
        self.show("  %-42s %s" % ("text", "say it in the current room (//text sends /text)"), INFO)
