"""
The proxy's rules, line by line, without I/O.

An IRC client (irssi, weechat...) talks to L{ProxyCore} as if it were the
server; the core talks to the real server through a L{ClientSession} that
only I{follows} the registration the IRC client makes (it never registers
by itself), so the session's rules apply unchanged: a target being keyed
queues what is sent to it, lowering a layer needs force, nothing is sealed
under a nick the user did not choose, and the codec judges every line from
a keyed room or peer.

The proxy is a whitelist.  Every line from the server is read once by a
total parser and sorted once by the session
(L{securechat.client.core.serverlines}); the core renders the verdict:

  - server -> client: only what the codec verified reaches the IRC client
    as a message in a keyed conversation (the room in any case or
    STATUSMSG form, a keyed peer), with its protection shown (a
    C{[auth+fresh]} prefix, or a C{securechat/protection} tag); anything
    else addressed there becomes a NOTICE from C{*securechat} saying it
    was refused and why (a line in clear quoted, marked unprotected, never
    as said by its sender); a message anywhere else is marked C{[plain]};
    a line that is not IRC, or that uses C{*securechat}, is dropped and
    counted, and so are tags named C{securechat/...};
  - client -> server: C{PRIVMSG} (and any CTCP) to a keyed conversation is
    sealed by the session (chunked to the server's line length); a
    C{NOTICE}, a C{TAGMSG}, a STATUSMSG form or a list pairing it with a
    plain target is refused, never sent in clear; lines to C{*securechat}
    are commands (L{securechat.proxy.commands}) and never leave;
  - C{echo-message} is hidden from the client's capability list (an echo
    would be our own sealed line, judged again).

The server's own lines, membership and metadata pass as they came.
"""

from __future__ import annotations

import hmac
import time
from typing import Callable, Dict, List, Optional, Protocol, Tuple

from ..client.core import events as ev
from ..client.core.commands import Say, execute
from ..client.core.directsessions import unansweredNote
from ..client.core.identities import signedMark, trustLine
from ..client.core.serverlines import (
    ForConversation,
    PlainMessage,
    Refused,
    ServerLine,
    classify,
    isAction,
    isCtcp,
    isReserved,
    readServerLine,
    withoutOwnTags,
)
from ..client.core.session import PLAIN, ClientSession, CommandError, NotConnected
from ..client.core.views import viewNote
from ..client.core.wording import (
    MARKS,
    ctcpRequestNote,
    groupedNote,
    hintNote,
    keyNotEnteredNote,
    keySetNote,
    layerAnnouncedNote,
    layerSetNote,
    missingNote,
    nickUnconfirmedNote,
    pacedNote,
    paceProgressNote,
    placeOf,
    queuedNote,
    rejectedNote,
    reorderedNote,
    unsentNote,
)
from ..codec import PROTECTION
from ..logevents import DISCARD, EventLog
from ..numerics import ERR_PASSWDMISMATCH
from ..wire import Message, Tags, WireError, formatMessage, formatTags, parseLine
from .commands import Derive, PseudoUser, advice, commandsHere, spellProxy

#: The pseudo-user the IRC client talks to, and the source of what it says.
PSEUDO = "*securechat"
PSEUDO_SOURCE = "*securechat!securechat@securechat.invalid"
#: The proxy's own name for numerics it sends itself (464).
PROXY_NAME = "securechat.proxy"
#: How the protection of an opened message is shown: a prefix in the text,
#: a message tag (only to a client that negotiated message-tags; else the
#: prefix), or both.
MARK_MODES = ("prefix", "tag", "both")
TAG_PROTECTION = "securechat/protection"
TAG_LAYER = "securechat/layer"
#: Lines the client sends before the upstream connection is ready (its
#: registration, mostly): held, but only this many lines and bytes.
MAX_EARLY_LINES = 64
MAX_EARLY_BYTES = 16 * 1024
#: The most UTF-8 bytes of text per line handed to the IRC client: an opened
#: message can be longer than one line; each piece gets the mark again.
CLIENT_TEXT_BYTES = 400
#: A sealed time further than this from now is shown with the message.
OLD_AFTER = 60
CTCP = "\x01"
ACTION = "\x01ACTION "
#: Our keepalive's PONG is ours: not handed to the IRC client.
KEEPALIVE_TOKEN = "securechat-keepalive"



def _clean(text: str) -> str:
    """Text for one line to the client: CR, LF and NUL would end it (or forge the next)."""
    return text.replace("\r", " ").replace("\n", " ").replace("\x00", " ")


def _pieces(text: str, budget: int) -> List[str]:
    """C{text} cut into pieces of at most C{budget} UTF-8 bytes, on character boundaries."""
    pieces: List[str] = []
    current: List[str] = []
    size = 0
    for char in text:
        width = len(char.encode("utf-8"))
        if current and size + width > budget:
            pieces.append("".join(current))
            current, size = [], 0
        current.append(char)
        size += width
    pieces.append("".join(current))
    return pieces


class Links(Protocol):
    """What the core asks of its adapter: the connections it cannot make itself."""

    def openUpstream(self) -> None:
        """Connect to the server (the IRC client may now register)."""

    def closeClient(self, reason: str) -> None:
        """Drop the IRC client's connection."""

    def closeUpstream(self) -> None:
        """Drop the server connection."""


class ProxyCore:
    """
    One user's proxy: one IRC client connection at a time, one upstream
    connection per client connection.  The session (keys, layers, replay
    caches, sequence numbers, pins) outlives both, so a client that
    reconnects finds its keys, and a relay gains no replay window.

    The adapter calls L{clientConnected}, L{clientLine}, L{clientLost}
    (downstream), and gives L{upstream} to its IRC client protocol
    (C{connectionMade(send)}, C{lineReceived(line)}, C{connectionLost}).
    The core is built with what it needs: C{makeSession(emit)} builds the
    session that tells it its events, and C{links} (L{Links}) connects to
    the server or drops either side when the core says so.
    """

    def __init__(
        self,
        makeSession: Callable[[Callable[[ev.Event], None]], ClientSession],
        derive: Derive,
        links: Links,
        *,
        password: Optional[bytes] = None,
        mark: str = "prefix",
        clock: Callable[[], float] = time.time,
        log: EventLog = DISCARD,
    ) -> None:
        if mark not in MARK_MODES:
            raise ValueError("mark must be one of %s" % (", ".join(MARK_MODES),))
        #: Where what the IRC client's user need not see is reported.
        self.log = log
        self.session = makeSession(self._event)
        self._derive = derive
        self._password = password
        self.mark = mark
        self.clock = clock
        self._links = links
        self.upstream = _Upstream(self)
        self._down: Optional[Callable[[bytes], None]] = None
        self._up: Optional[Callable[[bytes], None]] = None
        self._early: List[bytes] = []
        self._earlyBytes = 0
        self._authorized = False
        self._upstreamAsked = False
        self._chosenNick = False
        #: Whether the IRC client said QUIT (the server's ERROR then says it all).
        self._quitting = False
        #: Whether the server acknowledged message-tags for the IRC client.
        self.clientTags = False
        #: What the user says to *securechat.
        self.commands = PseudoUser(self.session, derive, self, self._statusLines)
        #: Lines (and forged tags) from the relay that were refused, by kind.
        self.refusedCounts: Dict[str, int] = {}

    # Downstream: the IRC client.

    def clientConnected(self, send: Callable[[bytes], None]) -> None:
        """An IRC client connected: it registers through us (after PASS, if we need one)."""
        self._down = send
        self._early, self._earlyBytes = [], 0
        self._authorized = self._password is None
        self._upstreamAsked = False
        self._chosenNick = False
        self._quitting = False
        self.clientTags = False
        self.commands.closeQuestion()
        # The IRC client owns membership: it joins what it wants again.
        self.session.wanted.clear()
        if self._authorized:
            self._askUpstream()

    def clientLost(self) -> None:
        """The IRC client left: forget its questions; the adapter closes the upstream side."""
        self._down = None
        self.commands.closeQuestion()
        self._early, self._earlyBytes = [], 0

    def clientLine(self, line: bytes) -> None:
        """One line from the IRC client, without its CRLF."""
        try:
            message = parseLine(line)
        except WireError as exc:
            # Never forwarded: it could be a message to a keyed room, in clear.
            self.tell("a line your IRC client sent was not sent: %s" % (exc,))
            return
        if not self._authorized:
            self._unauthorized(message, line)
            return
        if message.command == "PASS" and self._password is not None:
            return  # ours, not the server's
        if self._up is None:
            self._hold(line)
            return
        self._fromClient(message, line)

    def _unauthorized(self, message: Message, line: bytes) -> None:
        if message.command == "PASS":
            given = message.params[0].encode("utf-8") if message.params else b""
            assert self._password is not None
            if hmac.compare_digest(given, self._password):
                self._authorized = True
                self._askUpstream()
                return
            self._refuseClient("Password incorrect")
            return
        if message.command in ("NICK", "USER"):
            self._refuseClient("Password required: set your IRC client's server password to the proxy's")
            return
        self._hold(line)  # CAP LS comes before PASS

    def _refuseClient(self, why: str) -> None:
        self.log.warn("refused an IRC client: {why}", why=why)
        self._toClient(formatMessage(ERR_PASSWDMISMATCH, ("*", why), PROXY_NAME))
        self._toClient(formatMessage("ERROR", ("Closing link: " + why,)))
        self._links.closeClient(why)

    def _askUpstream(self) -> None:
        if not self._upstreamAsked:
            self._upstreamAsked = True
            self._links.openUpstream()

    def _hold(self, line: bytes) -> None:
        if len(self._early) >= MAX_EARLY_LINES or self._earlyBytes + len(line) > MAX_EARLY_BYTES:
            self._refuseClient("too much sent before the server connection was ready")
            return
        self._early.append(line)
        self._earlyBytes += len(line)

    def _fromClient(self, message: Message, line: bytes) -> None:
        command = message.command
        session = self.session
        if command in ("PRIVMSG", "NOTICE"):
            self._clientMessage(message, line)
            return
        if command == "NICK" and message.params:
            nick = message.params[0]
            if session.registered:
                try:
                    session.changeNick(nick)
                except (CommandError, NotConnected) as exc:
                    self.tell(str(exc))
                return
            if not self._chosenNick:
                # The nick the user chose; later ones before 001 are the
                # IRC client's own fallbacks (alice_), not a choice.
                self._chosenNick = True
                session.followNick(nick)
        elif command == "QUIT":
            self._quitting = True
        elif command == "TAGMSG" and message.params:
            keyed = [t for t in message.params[0].split(",") if self._keyedForm(t) is not None]
            if keyed:
                # Its tags (a reply, a reaction) would go in clear.
                self.tell("NOT SENT to %s: a TAGMSG cannot be protected" % (",".join(keyed),))
                return
        elif command == "JOIN" and message.params:
            for room in message.params[0].split(","):
                session.followJoin(room)
        self._toServer(line)

    def _clientMessage(self, message: Message, line: bytes) -> None:
        if len(message.params) < 2:
            if message.params and self._keyedForm(message.params[0]) is not None:
                self.tell("NOT SENT to %s: nothing to protect in that line" % (message.params[0],))
                return
            self._toServer(line)
            return
        text = message.params[1]
        targets = [target for target in message.params[0].split(",") if target]
        pseudo = [target for target in targets if isReserved(target)]
        if pseudo and len(targets) > 1:
            # What is said to *securechat may be a passphrase: never to anyone else too.
            self.tell("not sent: a message to %s goes to it alone" % (PSEUDO,))
            return
        keyed = {target: self._keyedFormOfLine(message.command, target, text)
                 for target in targets if not isReserved(target)}
        clear = [target for target, room in keyed.items() if room is None]
        protected = [target for target, room in keyed.items() if room is not None]
        if protected and clear:
            # The text was typed for a keyed conversation: in clear nowhere.
            self.tell(
                "NOT SENT to %s: the same text was for keyed %s; send it there separately"
                % (",".join(clear), ",".join(protected))
            )
            clear = []
        for target in targets:
            room = keyed.get(target)
            if isReserved(target):
                if message.command == "PRIVMSG":
                    self.commands.command(text)
            elif room is None:
                continue
            elif self.session.codecFold(room) != self.session.codecFold(target):
                self.tell(
                    "NOT SENT to %s: a message to part of %s cannot be protected (it would go in "
                    "clear); send it to %s" % (target, room, room)
                )
            else:
                self._seal(message.command, target, text)
        if not clear:
            return
        if len(clear) == len(targets):
            self._toServer(line)  # as it came, tags and all
        else:
            tags = formatTags(message.tags or ()).encode("utf-8")
            self._up_write(tags + formatMessage(message.command, (",".join(clear), text)))

    def _keyedFormOfLine(self, command: str, target: str, text: str) -> Optional[str]:
        """L{_keyedForm}, except that a CTCP reply to a session peer is the IRC client's: it passes."""
        if command == "NOTICE" and self.session.directSessions.ctcpReplyPasses(target, text):
            return None
        return self._keyedForm(target)

    def _keyedForm(self, target: str) -> Optional[str]:
        """The keyed conversation C{target} is a form of, as the session decides, or L{None}."""
        return self.session.keyedFormOf(target)

    def _seal(self, command: str, target: str, text: str) -> None:
        if command != "PRIVMSG":
            self.tell(
                "NOT SENT to %s: a %s cannot be protected (it would go in clear); "
                "say it as a message" % (target, command)
            )
            return
        try:
            execute(self.session, Say(target, text))
        except (CommandError, NotConnected) as exc:
            self.tell(advice(exc))

    def _statusLines(self) -> List[str]:
        """What the proxy adds to the status command: how marks are shown, what it refused."""
        shown = "a message tag" if self.clientTags and self.mark != "prefix" else "a prefix"
        lines = ["marks are shown as %s (--mark %s)" % (shown, self.mark)]
        if self.refusedCounts:
            lines.append("lines from the server refused: " + "; ".join(
                "%s: %d" % (kind, count) for kind, count in sorted(self.refusedCounts.items())))
        return lines

    # Upstream: the server.

    def _upstreamMade(self, send: Callable[[bytes], None]) -> None:
        talk = self.session.conversationsPart

        def counted(data: bytes) -> None:
            # The IRC client's own lines cost a token at the server too.
            send(data)
            talk.written(max(1, data.count(b"\n")))

        self._up = counted
        self.session.connectionMade(send, register=False)
        early, self._early, self._earlyBytes = self._early, [], 0
        for line in early:
            self.clientLine(line)

    def _upstreamLost(self, reason: str) -> None:
        self._up = None
        self.session.connectionLost(reason, False)
        if self._down is not None:
            if self._quitting:
                self._links.closeClient("quit")
                return
            self._toClient(formatMessage("ERROR", ("Closing link: the server connection ended: " + _clean(reason),)))
            self._links.closeClient("the server connection ended")

    def _serverLine(self, raw: bytes) -> None:
        """One line from the server: read and sorted once (L{classify}), then shown as sorted."""
        verdict = classify(readServerLine(raw), self.session.knowledge())
        if isinstance(verdict, Refused):
            self._refused(verdict)
            return
        line = verdict.line
        if self.session.hintReceived(line.message):
            return  # a refusal hint: the session says it (RefusalHint), never the IRC client's
        tags, forged = withoutOwnTags(line.message.tags)
        if forged:
            self._count("forged protection tag", forged)
        if isinstance(verdict, ForConversation):
            message = line.message
            events = self.session.judge(message, verdict.name, verdict.direct)
            for event in events:
                if isinstance(event, ev.IncomingMessage):
                    self._deliver(event, message.command, message.source, message.params[0], tags)
                elif isinstance(event, ev.RejectedMessage) and event.grouped:
                    pass  # counted: the session's RefusalsGrouped says it
                elif isinstance(event, ev.RejectedMessage) and event.reason == "unprotected":
                    # Read, so a newcomer asking how to join is heard; never as theirs.
                    self._rejected(event, message.params[1])
                else:
                    self._event(event)
            return
        if isinstance(verdict, PlainMessage):
            self._plain(verdict, tags)
            return
        self._passing(line, tags)

    def _passing(self, line: ServerLine, tags: Optional[Tags]) -> None:
        message = line.message
        command = message.command
        if command == "PING":
            self._toClientLine(line, tags)  # the IRC client answers
            return
        if command == "PONG" and message.params and message.params[-1] == KEEPALIVE_TOKEN:
            return
        if command == "CAP":
            self._serverCap(message, line.raw)
            return
        if command in ("433", "436") and not self.session.registered:
            self._toClientLine(line, tags)  # the IRC client picks its fallback
            return
        self._toClientLine(line, tags)
        if command != "TAGMSG":
            self.session.messageReceived(message)

    def _plain(self, verdict: PlainMessage, tags: Optional[Tags]) -> None:
        """A message in a conversation without a key: handed on, marked plain like any other."""
        message = verdict.line.message
        text = message.params[1]
        if isCtcp(text) and not isAction(text):
            # VERSION, PING... requests and replies: the IRC client's own, not a message line.
            self._toClientLine(verdict.line, tags)
            return
        useTags = self.clientTags and self.mark != "prefix"
        shown = list(tags or ()) + ([(TAG_PROTECTION, MARKS["none"])] if useTags else [])
        prefix = "" if useTags and self.mark == "tag" else "[%s] " % (MARKS["none"],)
        if isAction(text):
            body = text[len(ACTION):]
            text = ACTION + prefix + (body[:-1] if body.endswith(CTCP) else body) + CTCP
        else:
            text = prefix + text
        self._toClient(
            formatTags(shown).encode("utf-8")
            + formatMessage(message.command, (message.params[0], text), message.source)
        )

    def _refused(self, verdict: Refused) -> None:
        """Not handed on: said in the keyed conversation it was addressed to, else counted."""
        self._count(verdict.why)
        if verdict.name is None:
            self.log.warn("dropped a line from the server: {why}", why=verdict.why)
            return
        self.tell(
            "in %s: REFUSED %s claimed from %s: it cannot carry protected text%s" % (
                verdict.name, verdict.why, verdict.sender or "nobody", _quoted(verdict.text))
        )

    def _count(self, why: str, count: int = 1) -> None:
        """Lines (or tags) from the relay refused: counted for C{status}, bounded by their kinds."""
        key = why.split(":", 1)[0]
        self.refusedCounts[key] = self.refusedCounts.get(key, 0) + count

    def _serverCap(self, message: Message, line: bytes) -> None:
        params = list(message.params)
        if len(params) >= 3:
            sub = params[1].upper()
            caps = params[-1].split()
            if sub == "ACK":
                for cap in caps:
                    if cap.lstrip("-") == "message-tags":
                        self.clientTags = not cap.startswith("-")
            if sub in ("LS", "NEW", "ACK") and any(c.split("=")[0] == "echo-message" for c in caps):
                params[-1] = " ".join(c for c in caps if c.split("=")[0] != "echo-message")
                if not params[-1].strip():
                    params[-1] = ""
                self._toClient(formatMessage("CAP", params, message.source))
                return
        self._toClient(line + b"\r\n")

    # What the session tells.

    def _event(self, event: ev.Event) -> None:
        if isinstance(event, ev.IncomingMessage):
            self._deliver(event)
        elif isinstance(event, ev.RejectedMessage):
            if not event.grouped:  # else counted: its RefusalsGrouped says it
                self._rejected(event)
        elif isinstance(event, ev.RefusalHint):
            note = hintNote(event, spellProxy)
            if event.direct:
                self.tell(commandsHere(note))
            else:
                self.tellIn(event.target, commandsHere(note))
        elif isinstance(event, ev.RefusalsGrouped):
            self.tell(commandsHere(groupedNote(event.target, event.sender, event.reason, event.count, spellProxy)))
        elif isinstance(event, ev.CtcpRequest):
            self.tell(_where(event) + ctcpRequestNote(event))
        elif isinstance(event, ev.Sent):
            self._sent(event)
        elif isinstance(event, ev.Queued):
            self.tell(placeOf(event.target) + queuedNote(event, echo=False))
        elif isinstance(event, ev.Unsent):
            self.tell(commandsHere(placeOf(event.target) + unsentNote(event, limit=60)))
        elif isinstance(event, ev.SessionUnanswered):
            # No one line in clear here: the choice is plain for that peer.
            self.tell(placeOf(event.target) + unansweredNote(event, spellProxy, insistOnce=False))
        elif isinstance(event, ev.Paced):
            if not event.ahead:  # the first of a run; the rest is said by PaceProgress
                self.tell(placeOf(event.target) + pacedNote(event, echo=False))
        elif isinstance(event, ev.PaceProgress):
            self.tell(paceProgressNote(event))
        elif isinstance(event, ev.LayerAnnounced):
            self.tell(commandsHere(layerAnnouncedNote(event, spellProxy)))
        elif isinstance(event, ev.ViewDiffers):
            self.tell("in %s: %s" % (event.target, viewNote(event)))
        elif isinstance(event, ev.KeyNotEntered):
            self.tell(commandsHere(keyNotEnteredNote(event.target, event.layer, spellProxy)))
        elif isinstance(event, ev.KeySet):
            self.reply(keySetNote(event))
        elif isinstance(event, ev.LayerSet):
            self.reply(layerSetNote(event))
        elif isinstance(event, ev.TrustChanged):
            self.reply(trustLine(event).replace("/verify", "verify"))
        elif isinstance(event, ev.NickUnconfirmed):
            self.tell(nickUnconfirmedNote(event))
        elif isinstance(event, ev.NickChanged) and event.me and event.reason:
            self.tell(commandsHere(event.reason))
        elif isinstance(event, ev.Notice) and event.source is None:
            self.tell(commandsHere(event.text))

    def _deliver(
        self,
        event: ev.IncomingMessage,
        command: str = "PRIVMSG",
        source: Optional[str] = None,
        target: Optional[str] = None,
        tags: Optional[Tags] = None,
    ) -> None:
        """What the codec accepted, as a message from its sender with its mark."""
        session = self.session
        if source is None:
            source = event.sender
        if target is None:
            target = session.nick if event.direct else event.target
        mark = signedMark(event) or MARKS.get(event.protection, event.protection)
        if event.sent_at is not None and abs(self.clock() - event.sent_at) > OLD_AFTER:
            mark += ", sent " + time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(event.sent_at))
        useTags = self.clientTags and self.mark != "prefix"
        prefix = "" if useTags and self.mark == "tag" else "[%s] " % (mark,)
        shown: List[Tuple[str, str]] = []
        if useTags:
            shown = list(tags or ()) + [(TAG_PROTECTION, mark), (TAG_LAYER, event.layer)]
        body = event.body
        # The session gives an action (/me) as an Action event with its text.
        action = isinstance(event, ev.Action)
        for row in body.replace("\r\n", "\n").split("\n"):
            row = row.replace("\r", " ").replace("\x00", " ")
            for piece in _pieces(row, CLIENT_TEXT_BYTES):
                text = prefix + piece
                if action:
                    text = ACTION + text + CTCP
                self._toClient(
                    formatTags(shown).encode("utf-8") + formatMessage(command, (target, text), source)
                )
        for note in (missingNote(event), reorderedNote(event)):
            if note is not None:
                self.tell(_where(event) + note)

    def _rejected(self, event: ev.RejectedMessage, unprotected: Optional[str] = None) -> None:
        self.tell(commandsHere(_where(event) + rejectedNote(event, spellProxy)) + _quoted(unprotected))

    def _sent(self, event: ev.Sent) -> None:
        """One's own line in a keyed conversation: its mark, where one reads it."""
        if event.layer == PLAIN:
            return
        note = "[%s] your message to %s went out sealed (%s)" % (
            # A pairwise session's protection is its own name ("session").
            MARKS.get(PROTECTION.get(event.layer, event.layer), event.layer), event.target, event.layer)
        if self.session.isRoom(event.target):
            self.tellIn(event.target, note)
        else:
            self.tell(note)

    # Writing.

    def _toServer(self, line: bytes) -> None:
        self._up_write(line + b"\r\n")

    def _up_write(self, data: bytes) -> None:
        if self._up is not None:
            self._up(data)

    def _toClient(self, data: bytes) -> None:
        if self._down is not None:
            self._down(data)

    def _toClientLine(self, line: ServerLine, tags: Optional[Tags]) -> None:
        """A server line as it came, but without the tags that claimed to be ours."""
        message = line.message
        if tags != message.tags:
            self._toClient(
                formatTags(tags or ()).encode("utf-8")
                + formatMessage(message.command, message.params, message.source)
            )
            return
        self._toClient(line.raw + b"\r\n")

    def _clientNick(self) -> str:
        return self.session.nick if self.session.registered else "*"

    def tell(self, text: str) -> None:
        """A NOTICE from *securechat: warnings, refusals, rejections."""
        self._toClient(formatMessage("NOTICE", (self._clientNick(), _clean(text)), PSEUDO_SOURCE))

    def tellIn(self, window: str, text: str) -> None:
        """A NOTICE from *securechat in a room's own window."""
        self._toClient(formatMessage("NOTICE", (window, _clean(text)), PSEUDO_SOURCE))

    def reply(self, text: str) -> None:
        """A message from *securechat: answers to commands (a query window in most clients)."""
        self._toClient(formatMessage("PRIVMSG", (self._clientNick(), _clean(text)), PSEUDO_SOURCE))


def _where(event: ev.Event) -> str:
    """Where a message event happened, before its sentence: its room (a direct one names the sender)."""
    direct = getattr(event, "direct", True)
    return "" if direct else "in %s: " % (getattr(event, "target", ""),)


#: What comes before a text the proxy quotes that nobody protected.
QUOTED = "; its text, UNPROTECTED, not shown as theirs: "
#: The most characters of such a text quoted.
QUOTED_CHARS = 200


def _quoted(text: Optional[str]) -> str:
    """An unprotected text, quoted last in a notice and marked so; nothing when there is none."""
    return QUOTED + _short(text, QUOTED_CHARS) if text else ""


def _short(body: str, size: int = 60) -> str:
    body = _clean(body)
    return body if len(body) <= size else body[: size - 1] + "…"


class _Upstream:
    """What the IRC client protocol (L{securechat.client.adapters.protocol}) drives: the server side."""

    def __init__(self, core: ProxyCore) -> None:
        self.core = core

    def connectionMade(self, send: Callable[[bytes], None]) -> None:
        self.core._upstreamMade(send)

    def lineReceived(self, line: bytes) -> None:
        self.core._serverLine(line)

    def connectionLost(self, reason: str, reconnecting: bool) -> None:
        self.core._upstreamLost(reason)

    # The session's send queue: the IRC client's messages are paced and
    # sealed when they leave, as the other faces' are.

    def pacedBy(self, schedule: Optional[Callable[[float], None]]) -> None:
        self.core.session.pacedBy(schedule)

    def releasePaced(self) -> None:
        self.core.session.releasePaced()

    def setDrainBlocked(self, blocked: bool) -> None:
        self.core.session.setDrainBlocked(blocked)


__all__ = ["MARK_MODES", "PSEUDO", "Derive", "Links", "ProxyCore"]
