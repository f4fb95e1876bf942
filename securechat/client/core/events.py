"""
What the client tells its user interface: one attrs value per event.

The console renders them, the JSON-lines mode serialises them
(L{asDict}), the demo and the tests match on their types.  They carry no
key material and no passphrase, so any of them may be logged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Dict, Optional, Tuple, cast

import attr

from ...netsplit import netsplitServers

if TYPE_CHECKING:  # pragma: no cover
    from attr import AttrsInstance


class Event:
    """Base of every client event; C{kind} is the JSON C{"type"}."""

    kind: ClassVar[str] = "event"

    def asDict(self) -> Dict[str, Any]:
        """A JSON-ready dict: C{{"type": kind, field: value, ...}}."""
        out: Dict[str, Any] = {"type": self.kind}
        for name, value in attr.asdict(cast("AttrsInstance", self), recurse=False).items():
            out[name] = list(value) if isinstance(value, tuple) else value
        return out


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Connected(Event):
    """Registered with the server (after C{001}), possibly under another nick."""

    kind: ClassVar[str] = "connected"
    nick: str
    server: str
    requested: str
    reconnect: bool = False


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Disconnected(Event):
    """The connection is gone; C{reconnecting} says whether we try again."""

    kind: ClassVar[str] = "disconnected"
    reason: str
    reconnecting: bool


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Retrying(Event):
    """
    Not connected: the next attempt is in C{delay} seconds, at C{at}
    (seconds since the epoch); C{attempt} counts the failures in a row.
    """

    kind: ClassVar[str] = "retry"
    delay: float
    at: float
    attempt: int


@attr.s(frozen=True, slots=True, auto_attribs=True)
class NickChanged(Event):
    """A nick changed: ours (C{me}) or a peer's; C{reason} when we did not ask for it."""

    kind: ClassVar[str] = "nick"
    old: str
    new: str
    me: bool
    reason: str = ""


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Joined(Event):
    """Someone (or we, C{me}) joined C{room}; C{layer} is our layer there."""

    kind: ClassVar[str] = "joined"
    room: str
    nick: str
    me: bool
    layer: str = "plain"


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Parted(Event):
    """Someone (or we) left C{room}."""

    kind: ClassVar[str] = "parted"
    room: str
    nick: str
    me: bool
    reason: str = ""


@attr.s(frozen=True, slots=True, auto_attribs=True)
class UserQuit(Event):
    """
    A peer left the network; C{rooms} are the rooms we shared with it.
    C{netsplit} holds the two servers when the reason says their link
    broke (L{netsplitServers}): the server's hint, not a proof.
    """

    kind: ClassVar[str] = "quit"
    nick: str
    reason: str
    rooms: Tuple[str, ...] = ()
    netsplit: Tuple[str, ...] = attr.ib(
        default=attr.Factory(lambda self: netsplitServers(self.reason) or (), takes_self=True)
    )


@attr.s(frozen=True, slots=True, auto_attribs=True)
class IncomingMessage(Event):
    """
    A message the codec accepted.  C{target} is the room, or for a direct
    message the peer's nick (what one would answer to); C{protection} is
    what the layer lets us claim ("none", "confidential", "authenticated",
    "authenticated+fresh").  C{missing}/C{reordered} come from the sealed
    sequence number: what the relay dropped or held back.  On C{signed},
    C{signer} is the signing key's fingerprint and C{trust} how far it is
    trusted for C{sender}: C{first-use} (pinned when first seen, or
    accepted with /trust) or C{verified} (fingerprint compared).
    """

    kind: ClassVar[str] = "message"
    target: str
    sender: str
    body: str
    layer: str
    protection: str
    direct: bool = False
    missing: int = 0
    reordered: bool = False
    sent_at: Optional[int] = None
    msgid: Optional[str] = None
    signer: Optional[str] = None
    trust: Optional[str] = None


@attr.s(frozen=True, slots=True, auto_attribs=True)
class RejectedMessage(Event):
    """
    A line (or chunked message) the codec refused: never shown as genuine.
    C{sender} is the nick the relay I{claims} sent it; C{reason} is the
    codec's slug (tampered, expired, replayed, from-future, re-attributed,
    wrong-room, malformed, other-version, incomplete, unprotected, no-key;
    on signed: bad-signature, unknown-signer, identity-changed,
    signed-by-other, trust-full).
    """

    kind: ClassVar[str] = "rejected"
    target: str
    sender: str
    layer: Optional[str]
    reason: str
    description: str
    direct: bool = False
    #: The core's decision (L{securechat.client.core.refusals}): counted in
    #: a L{RefusalsGrouped} said later, not to be shown on its own.
    grouped: bool = False


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Sent(Event):
    """
    We sent C{body} to C{target} as C{lines} PRIVMSG lines on C{layer};
    C{msgid} is the sealed message's id (its header's), which a refusal
    hint (L{RefusalHint}) names.
    """

    kind: ClassVar[str] = "sent"
    target: str
    body: str
    layer: str
    lines: int
    msgid: Optional[str] = None


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Queued(Event):
    """
    C{body} for C{target} waits for the key being derived for it: it is
    sealed and sent (a L{Sent} follows) once the key is set, or refused
    (L{Unsent}); never sent on a lower layer meanwhile.
    """

    kind: ClassVar[str] = "queued"
    target: str
    body: str
    reason: str
    #: It waits for a pairwise session with C{target} (issue 22), not a key.
    session: bool = False


@attr.s(frozen=True, slots=True, auto_attribs=True)
class KeyNotEntered(Event):
    """
    C{target} was keyed on C{layer} before a restart (the state directory
    says so; the key itself is never saved): it counts as keyed, nothing is
    sent there in clear, until the user enters its key again.
    """

    kind: ClassVar[str] = "key-not-entered"
    target: str
    layer: str


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Paced(Event):
    """
    C{body} for C{target} waits in our send queue for the server's pace,
    unsealed: it is sealed when it leaves (a L{Sent} follows, or an
    L{Unsent}), so it is fresh on arrival.  C{ahead} messages wait before
    it; it should leave in about C{eta} seconds.
    """

    kind: ClassVar[str] = "paced"
    target: str
    body: str
    ahead: int
    eta: float


@attr.s(frozen=True, slots=True, auto_attribs=True)
class PaceProgress(Event):
    """
    How the send queue drains: C{sent} messages left since it started
    filling, C{waiting} still wait (about C{eta} seconds more), C{unsent}
    were refused on the way.  Said when it starts, now and then, and when
    it is empty (C{waiting} 0).
    """

    kind: ClassVar[str] = "pace-progress"
    sent: int
    waiting: int
    eta: float
    unsent: int


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Unsent(Event):
    """A message that was queued (L{Queued}) and will not be sent: C{reason} says why."""

    kind: ClassVar[str] = "unsent"
    target: str
    body: str
    reason: str


@attr.s(frozen=True, slots=True, auto_attribs=True)
class SessionUnanswered(Event):
    """
    A direct message held for a protected session that C{target} never
    answered (no securechat there?): not sent.  The face says how to send
    it in clear, explicitly (the console: C{/msg! target body}).
    """

    kind: ClassVar[str] = "session-unanswered"
    target: str
    body: str
    reason: str


@attr.s(frozen=True, slots=True, auto_attribs=True)
class NickUnconfirmed(Event):
    """
    The server calls us C{nick}, which the user did not choose (C{chosen}
    is theirs): a forged C{NICK}, a C{001} naming another nick, a C{433}
    fallback.  Nothing is sealed under C{nick} until the user confirms it
    (C{/nick nick}); C{cause} says what happened.
    """

    kind: ClassVar[str] = "nick-unconfirmed"
    nick: str
    chosen: str
    cause: str


@attr.s(frozen=True, slots=True, auto_attribs=True)
class KeySet(Event):
    """A passphrase was set for C{target}; compare C{fingerprint} out of band."""

    kind: ClassVar[str] = "key"
    target: str
    layer: str
    #: L{None} on the plain layer, which has no key.
    fingerprint: Optional[str]


@attr.s(frozen=True, slots=True, auto_attribs=True)
class LayerSet(Event):
    """The layer used for C{target} changed (both ends must agree)."""

    kind: ClassVar[str] = "layer"
    target: str
    layer: str


@attr.s(frozen=True, slots=True, auto_attribs=True)
class LayerAnnounced(Event):
    """
    C{sender} announced, sealed, that C{target} is on C{layer} now; ours was
    C{previous}.  C{followed}: we raised ours to it (a raise, sealed on that
    very layer).  A lowering is shown, never followed.
    """

    kind: ClassVar[str] = "layer-announced"
    target: str
    sender: str
    layer: str
    previous: str
    followed: bool


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Fingerprint(Event):
    """The answer to C{/fingerprint}: L{None} when C{target} is on plain (no key)."""

    kind: ClassVar[str] = "fingerprint"
    target: str
    layer: str
    fingerprint: Optional[str]
    #: Our own identity key's fingerprint (read it to the others).
    identity: Optional[str] = None
    #: For a nick: the key pinned for it and its status (L{TrustChanged}).
    pinned: Optional[str] = None
    trust: Optional[str] = None


@attr.s(frozen=True, slots=True, auto_attribs=True)
class TrustChanged(Event):
    """
    The user accepted (C{/trust}: status C{first-use}) or verified
    (C{/verify}: status C{verified}) the key C{fingerprint} for C{nick}.
    """

    kind: ClassVar[str] = "trust"
    nick: str
    fingerprint: str
    status: str


@attr.s(frozen=True, slots=True, auto_attribs=True)
class RoomSecret(Event):
    """
    A room secret was generated (C{/key --new}): C{code} is to be passed on
    out of band, to the room's members only.  Carries a secret: the
    console shows it once, the JSON mode writes it only to the user who
    asked; never logged.
    """

    kind: ClassVar[str] = "room-secret"
    target: str
    code: str


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Names(Event):
    """Who is in C{room} (C{353}...C{366})."""

    kind: ClassVar[str] = "names"
    room: str
    nicks: Tuple[str, ...]


@attr.s(frozen=True, slots=True, auto_attribs=True)
class WhoEntry:
    """One C{352} line."""

    nick: str
    user: str
    host: str
    realname: str


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Who(Event):
    """The answer to C{WHO mask} (C{352}...C{315})."""

    kind: ClassVar[str] = "who"
    mask: str
    entries: Tuple[WhoEntry, ...]

    def asDict(self) -> Dict[str, Any]:
        return {
            "type": self.kind,
            "mask": self.mask,
            "entries": [attr.asdict(entry) for entry in self.entries],
        }


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Notice(Event):
    """Information for the user: server notices, MOTD, our own status messages."""

    kind: ClassVar[str] = "notice"
    text: str
    source: Optional[str] = None


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Error(Event):
    """
    Something failed: a server error numeric (C{code}), a command we could
    not carry out, or a malformed JSON command (C{command} names it).
    """

    kind: ClassVar[str] = "error"
    message: str
    code: Optional[str] = None
    command: Optional[str] = None


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Action(IncomingMessage):
    """
    A CTCP ACTION (C{/me waves}): C{body} is the action's text.  It went
    through the codec like any message, so C{protection} says what it is
    worth; in a keyed room the framing travelled inside the envelope.
    """

    kind: ClassVar[str] = "action"


@attr.s(frozen=True, slots=True, auto_attribs=True)
class CtcpRequest(Event):
    """
    A CTCP other than ACTION (C{VERSION}, C{PING}, C{TIME}...): shown,
    never answered (an answer would tell the asker, perhaps the relay, who
    runs what, and whether we hold a key).
    """

    kind: ClassVar[str] = "ctcp"
    target: str
    sender: str
    command: str
    layer: str
    protection: str
    direct: bool = False


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Topic(Event):
    """
    C{room}'s topic: C{change} when C{by} just set it (C{TOPIC}), else the
    topic as it stands (on join, or asked).  Empty: no topic.  Topics are
    plain IRC text: the relay reads them and can change them.
    """

    kind: ClassVar[str] = "topic"
    room: str
    topic: str
    by: Optional[str] = None
    change: bool = False


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Whois(Event):
    """One line of a C{WHOIS} answer (or of C{301}, away) about C{nick}."""

    kind: ClassVar[str] = "whois"
    nick: str
    info: str


@attr.s(frozen=True, slots=True, auto_attribs=True)
class RefusalsGrouped(Event):
    """
    C{count} more messages claimed by C{sender} in C{target} were refused
    for C{reason} and not shown one by one (their L{RejectedMessage} events
    say C{grouped}): every face says this one line instead.
    """

    kind: ClassVar[str] = "refusals-grouped"
    target: str
    sender: str
    reason: str
    count: int
    direct: bool = False


@attr.s(frozen=True, slots=True, auto_attribs=True)
class RefusalHint(Event):
    """
    C{by}'s client says it could not open C{count} of our messages in
    C{target} for C{reason} (docs/wire.md, "Refusal hints").  UNAUTHENTICATED:
    the relay can forge, alter or withhold it; it changes nothing but what
    is shown.  C{msgids} are those of our messages it names that we sent
    there (C{bodies} their texts, same order); C{unknown} counts the ids it
    names that we never sent there (a forgery, or a message we forgot).
    C{authenticated}: it came sealed over our pairwise session with C{by}
    (from that identity, not the relay's forgery); still a claim of theirs.
    """

    kind: ClassVar[str] = "refusal-hint"
    target: str
    by: str
    reason: str
    count: int
    msgids: Tuple[str, ...] = ()
    bodies: Tuple[str, ...] = ()
    unknown: int = 0
    direct: bool = False
    authenticated: bool = False


# Views that agree (issue 23): what members' signed digests say they received.


@attr.s(frozen=True, slots=True, auto_attribs=True)
class ViewDiffers(Event):
    """
    A member's signed view of C{target} disagrees with ours.  C{reporter}
    wrote the digest; C{member}'s messages #C{first}-C{last} are concerned
    (C{member} None: one we cannot name).  C{finding}: C{withheld} (the
    reporter has them, they never reached us), C{not-reached} (ours, which
    had not reached the reporter when it wrote), C{differs} (the reporter's
    copy is another message than ours: C{member} sent different messages to
    different members), C{rewritten} (the reporter's own history differs
    from what it sent us).  Wording: L{securechat.client.core.views.viewNote}.
    """

    kind: ClassVar[str] = "view"
    target: str
    reporter: str
    member: Optional[str]
    finding: str
    first: int
    last: int


@attr.s(frozen=True, slots=True, auto_attribs=True)
class SeenBy(Event):
    """
    C{member}'s signed digest shows it received our messages #C{first}-C{last}
    in C{target}; C{seenBy}: every member known to have #C{last}.
    """

    kind: ClassVar[str] = "seen"
    target: str
    member: str
    first: int
    last: int
    seenBy: Tuple[str, ...] = ()
