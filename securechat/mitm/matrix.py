"""
The attack matrix: what the demo runs, how it judges a run, what we claim.

Sans-IO.  The demo (L{securechat.demo}) plays each L{Scenario} on each
layer through the malicious relay, and hands what it saw to L{judge} as an
L{Observation}: what the sender sent, what the receiver accepted and
refused, whether the relay read the body.  L{judge} turns that into a
L{Cell}; L{CLAIMS} says which cells a layer promises to stop, and is the
one table the docs' matrix and the demo's exit status both come from.
"""

from __future__ import annotations

import json
import re
import textwrap
from typing import Any, Callable, Dict, FrozenSet, List, Optional, Sequence, Tuple

import attr

from ..codec import LAYERS
from ..codec.layers import FORWARD
from .attacks import LAB_CLOCK_SHIFT, PAST_TTL_DELAY

PLAIN, AES_CTR, FERNET, FERNET_TTL, SIGNED = LAYERS
#: The demo's columns: the codec's layers and the room layer on sender chains.
MATRIX_LAYERS = LAYERS + (FORWARD,)
KEYED = (AES_CTR, FERNET, FERNET_TTL, SIGNED, FORWARD)
AUTHENTICATED = (FERNET, FERNET_TTL, SIGNED, FORWARD)
FRESH = (FERNET_TTL, SIGNED, FORWARD)
#: The rows about keys that outlive a conversation or a membership (issue 22):
#: judged like "read", on whether the attacker reads the bodies.
LEAK_ROWS = ("later-leak", "after-leave", "relay-member")

#: Cell verdicts.  A claim is a set of these per (scenario, layer).
READ = "READ"
HIDDEN = "hidden"
ACCEPTED = "ACCEPTED"
LOST = "lost, unnoticed"
LOST_FLAGGED_PREFIX = "lost, flagged: "
UNAFFECTED = "unaffected"
ERROR = "error"
FLAGGED_PREFIX = "flagged: "
REJECTED_PREFIX = "rejected: "
#: The sending client refused to send: nothing left it to be attacked.
STOPPED = "stopped by the sender"

#: Flags the receiver raises on a message it accepts (from the sealed sequence number).
FLAG_REORDERED = "reordered"
#: The same flag on a layer without a replay cache: a copy and a late
#: message look alike there (the receiver cannot tell which it is).
FLAG_REPLAY_OR_REORDER = "replay (or reorder)"
FLAG_GAP = "gap"
#: Another member's signed view of the room names a message the receiver
#: never got (issue 23: views that agree).
FLAG_WITHHELD = "withheld (another member's view)"

#: How much of an accepted body a cell's detail quotes.
DETAIL_BODY_CHARS = 60

#: Seconds after which an unfinished chunked message is reported (codec default + 1).
REASSEMBLY_WAIT = 61.0


def rejected(*reasons: str) -> str:
    return REJECTED_PREFIX + ", ".join(reasons)


def flagged(*flags: str) -> str:
    return FLAGGED_PREFIX + ", ".join(flags)


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Received:
    """A message the receiver accepted (the parts the judges look at)."""

    sender: str
    target: str
    body: str
    reordered: bool = False
    missing: int = 0


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Observation:
    """Everything one run of one scenario on one layer showed."""

    sender: str  # who sent the bodies
    room: str  # where they were sent
    sent: Tuple[str, ...]  # the bodies, in order
    accepted: Tuple[Received, ...]  # what the receiver accepted (sentinel excluded)
    reasons: Tuple[str, ...]  # why the receiver refused lines, in order
    relayRead: bool  # did a body appear in a line the relay saw
    stopped: bool = False  # the sender's client refused to send them
    #: What members' signed views told the receiver about the sender's
    #: messages being withheld from it (the sentences it showed).
    views: Tuple[str, ...] = ()


Judge = Callable[[Observation], List[Received]]


def _copies(obs: Observation) -> List[Received]:
    """Replays and duplicates: every copy after the first."""
    return [r for r in obs.accepted if r.body in obs.sent][len(obs.sent) :]


def _altered(obs: Observation) -> List[Received]:
    """Tampering and forgery: anything accepted that nobody sent."""
    return [r for r in obs.accepted if r.body not in obs.sent]


def _reattributed(obs: Observation) -> List[Received]:
    return [r for r in obs.accepted if r.sender != obs.sender]


def _moved(obs: Observation) -> List[Received]:
    return [r for r in obs.accepted if r.target != obs.room]


def _heldBack(obs: Observation) -> List[Received]:
    """Reorder: the first message, which the relay delivered second."""
    return [r for r in obs.accepted if r.body == obs.sent[0]]


def _partial(obs: Observation) -> List[Received]:
    """A dropped chunk: whatever was accepted of the message is a part of it."""
    return [r for r in obs.accepted if r.body not in obs.sent]


def _dropped(obs: Observation) -> List[Received]:
    """The second of three messages, dropped: accepted only if the drop failed."""
    return [r for r in obs.accepted if r.body == obs.sent[1]]


def _withheld(obs: Observation) -> List[Received]:
    """The last message, withheld from the receiver: accepted only if the withholding failed."""
    return [r for r in obs.accepted if r.body == obs.sent[-1]]


def _impersonated(obs: Observation) -> List[Received]:
    """A member's message sealed as the sender: accepted as the sender's."""
    return [r for r in obs.accepted if r.body not in obs.sent and r.sender == obs.sender]


def _stale(obs: Observation) -> List[Received]:
    """Delay and clock shift: the genuine body, accepted although stale."""
    return [r for r in obs.accepted if r.body in obs.sent]


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Scenario:
    """One row of the matrix: an attack, its parameters, and how to play it."""

    name: str
    attack: str
    label: str
    judge: Optional[Judge]  # None: the "read" row, judged on relayRead
    parameters: Tuple[Tuple[str, object], ...] = ()
    messages: int = 1
    longBody: bool = False
    advance: float = 0.0  # virtual seconds to let pass after sending
    senderShift: float = 0.0  # the sender's codec clock offset
    #: The row's label where the full one does not fit (a narrow terminal).
    short: str = ""
    #: The lesson of the row in one sentence (C{securechat demo --lesson}).
    why: str = ""


SCENARIOS: Tuple[Scenario, ...] = (
    Scenario(
        "read", "read", "relay reads the body", None, short="relay reads",
        why="The relay routes every line, so it reads every body nobody encrypted before sending: only an "
        "end-to-end layer (aes-ctr and up) hides it.",
    ),
    Scenario(
        "bit-flip", "bit-flip", "bit flip in the body", _altered, short="bit flip",
        why="CTR is malleable: a flipped ciphertext bit flips the same plaintext bit, and only a MAC "
        "(fernet and up) notices the change.",
    ),
    Scenario(
        "truncate", "truncate", "truncate the body", _altered, short="truncate",
        why="Cutting a CTR ciphertext cuts the plaintext and still decrypts; a MAC covers the whole token.",
    ),
    Scenario(
        "forge", "forge", "forge a message (random token)", _altered, short="forge",
        why="Without the key a forged token is garbage: aes-ctr refuses it only because garbage is not a valid "
        "envelope, the MAC refuses it because it cannot verify.",
    ),
    Scenario(
        "reattribute", "reattribute", "re-attribute to another member", _reattributed, short="re-attribute",
        why="The sender's nick is sealed inside the token; a MAC stops the relay from rewriting it, and a prefix "
        "that disagrees with the sealed sender is refused.",
    ),
    # A member (who holds the room key) colludes with the relay: a message
    # sealed as alice, delivered under alice's nick.
    Scenario(
        "impersonate", "impersonate", "a member writes as another member", _impersonated, short="member as other",
        why="Every member holds the room key, so a member can seal a message as another; only a per-member "
        "signature (signed) tells them apart.",
    ),
    Scenario(
        "move-room", "move-room", "move to another room", _moved, short="move room",
        why="Keys are per room and the room is sealed, so a token moved to another room fails its MAC.",
    ),
    Scenario(
        "replay", "replay", "replay at once", _copies, short="replay now",
        why="A replayed token is genuine, so its MAC verifies; only remembering message ids (fernet-ttl's "
        "replay cache) refuses the copy.",
    ),
    Scenario(
        "duplicate", "duplicate", "duplicate", _copies, short="duplicate",
        why="A duplicate is a replay with no delay: the replay cache refuses it, a layer without one can only "
        "flag it as out of order.",
    ),
    Scenario(
        "replay-late",
        "replay",
        "replay %ds later" % (PAST_TTL_DELAY,),
        _copies,
        (("delay", PAST_TTL_DELAY),),
        advance=PAST_TTL_DELAY,
        short="replay %ds later" % (PAST_TTL_DELAY,),
        why="Past the TTL a copy is refused as expired, so the replay cache only needs to remember ids "
        "for the TTL window.",
    ),
    Scenario(
        "reorder", "reorder", "reorder two messages", _heldBack, messages=2, short="reorder",
        why="The relay chooses the order of delivery; the sealed sequence number lets the receiver flag "
        "a message that arrives after a later one.",
    ),
    Scenario(
        "drop-chunk", "drop-chunk", "drop one chunk", _partial, (("index", 2),), longBody=True,
        advance=REASSEMBLY_WAIT, short="drop a chunk",
        why="A long message travels in chunks and is opened only whole: a missing chunk makes it incomplete, "
        "never a shorter message.",
    ),
    Scenario(
        "drop", "drop", "drop a whole message", _dropped, (("after", 1),), messages=3, short="drop message",
        why="Nothing forces a relay to deliver: the loss shows only when the next message arrives with a gap "
        "in the sender's sequence.",
    ),
    Scenario(
        "delay", "delay", "delay %ds (past TTL)" % (PAST_TTL_DELAY,), _stale, (("delay", PAST_TTL_DELAY),),
        advance=PAST_TTL_DELAY, short="delay %ds" % (PAST_TTL_DELAY,),
        why="A MAC says who and what, not when: only the sealed time and a TTL refuse a message held back "
        "too long (and a refused message is a lost one).",
    ),
    Scenario(
        "clock-shift", "clock-shift", "sender clock %+ds" % (LAB_CLOCK_SHIFT,), _stale, senderShift=LAB_CLOCK_SHIFT,
        short="clock %+ds" % (LAB_CLOCK_SHIFT,),
        why="A sender whose clock is 45 s behind seals messages that are already older than TTL + skew "
        "when they leave: every one is refused as expired.",
    ),
    # The relay assigns nicks: it tells the sender it is another member,
    # and delivers its messages under that member's name.
    Scenario(
        "rename-nick", "rename", "relay renames the sender (forged NICK)", _reattributed, (("via", "nick"),),
        short="rename (NICK)",
        why="The relay assigns nicks: a client that sealed under whatever nick it is told would seal as "
        "someone else, so it seals only under the nick its user chose.",
    ),
    Scenario(
        "rename-welcome", "rename", "relay renames the sender (001 after a forced reconnect)", _reattributed,
        (("via", "welcome"),), short="rename (001)",
        why="The same rename through a forced reconnect and a forged welcome: the client still refuses to "
        "seal under a nick its user did not choose.",
    ),
    # Views that agree (issue 23): the relay shows members different
    # subsets; the last message is the one withheld, so no later one from
    # the sender can reveal a gap.
    Scenario(
        "withhold-from-one", "withhold-from-one", "withhold a message from one member only", _withheld,
        short="withhold one",
        why="The relay gives alice's message to carol and not to bob: no later message from alice shows bob a "
        "gap, and only carol's signed view of the room (what she received from whom) tells him.",
    ),
    Scenario(
        "split-view", "split-view", "split view: two subsets to two members", _withheld, messages=2,
        short="split view",
        why="bob gets alice's first message, carol her second: each sees a quiet room, no gap; carol's signed "
        "view names alice's #2, which bob never got.",
    ),
    # Keys that outlive the conversation or the membership (issue 22).
    Scenario(
        "later-leak", "read", "later: room secret and a member's state stolen", None, short="later leak",
        why="After the conversation, the room secret and bob's state directory are stolen: with one long-lived "
        "key the relay's recording opens; on sender chains the keys of what bob read are erased.",
    ),
    Scenario(
        "after-leave", "read", "a member who left reads what is said next", None, short="after leave",
        why="carol leaves with everything she held: with one room key she reads on; on sender chains every "
        "member who stays starts a new chain that she never gets.",
    ),
    Scenario(
        "relay-member", "read", "relay adds a member of its own and waits for keys", None, short="relay member",
        why="The relay lists a client of its own in the room: it never learns the room secret, so it cannot "
        "prove it, and sender chains go only to members who proved it.",
    ),
)
SCENARIO_NAMES = tuple(s.name for s in SCENARIOS)
BY_NAME: Dict[str, Scenario] = {s.name: s for s in SCENARIOS}


def _claim(layers: Sequence[str], *verdicts: str) -> Dict[str, FrozenSet[str]]:
    return {layer: frozenset(verdicts) for layer in layers}


#: What docs/security.md says each layer stops: (scenario -> layer -> the
#: verdicts that count as stopping it).  Cells not listed make no claim
#: (plain claims nothing; aes-ctr claims only confidentiality).  The demo
#: exits non-zero when a claimed cell has another verdict.
CLAIMS: Dict[str, Dict[str, FrozenSet[str]]] = {
    "read": _claim(KEYED, HIDDEN),
    "bit-flip": _claim(AUTHENTICATED, rejected("tampered")),
    "truncate": _claim(AUTHENTICATED, rejected("tampered")),
    "forge": _claim(AUTHENTICATED, rejected("tampered")),
    "reattribute": _claim(AUTHENTICATED, rejected("re-attributed")),
    # Only signatures stop a key holder; alice's pinned key, or carol's
    # own, gives the impostor away.
    "impersonate": _claim((SIGNED,), rejected("identity-changed"), rejected("signed-by-other")),
    # Keys are per room, so a moved token fails the MAC before its sealed
    # target is read; "wrong-room" is what a shared key would give.
    "move-room": _claim(AUTHENTICATED, rejected("tampered"), rejected("wrong-room")),
    "replay": _claim(FRESH, rejected("replayed")),
    "duplicate": _claim(FRESH, rejected("replayed")),
    "replay-late": _claim(FRESH, rejected("expired")),
    "reorder": dict(_claim((FERNET,), flagged(FLAG_REPLAY_OR_REORDER)), **_claim(FRESH, flagged(FLAG_REORDERED))),
    "drop-chunk": _claim(AUTHENTICATED, rejected("incomplete")),
    # Nothing forces a relay to deliver; the next message's sequence number shows the gap.
    "drop": _claim(AUTHENTICATED, LOST_FLAGGED_PREFIX + FLAG_GAP),
    "delay": _claim(FRESH, rejected("expired")),
    "clock-shift": _claim(FRESH, rejected("expired")),
    # Re-attribution by renaming: the MAC cannot tell, since the sealed
    # sender is the nick the client was given; the sending client refuses
    # to seal under a nick its user did not choose.
    "rename-nick": _claim(AUTHENTICATED, STOPPED),
    "rename-welcome": _claim(AUTHENTICATED, STOPPED),
    # Views ride on signed and forward: there a member's digest names what
    # the relay withheld; on the other layers it is lost unnoticed (the lesson).
    "withhold-from-one": _claim((SIGNED, FORWARD), LOST_FLAGGED_PREFIX + FLAG_WITHHELD),
    "split-view": _claim((SIGNED, FORWARD), LOST_FLAGGED_PREFIX + FLAG_WITHHELD),
    # Issue 22: only sender chains erase what was read and renew keys on a departure.
    "later-leak": _claim((FORWARD,), HIDDEN),
    "after-leave": _claim((FORWARD,), HIDDEN),
    "relay-member": _claim(KEYED, HIDDEN),
}
# On forward, a line opens only on a chain of the prefix nick in this room,
# and a member's forgery is under no signature of the sender's.
CLAIMS["forge"][FORWARD] = frozenset({rejected("malformed"), rejected("tampered"), rejected("not-admitted")})
CLAIMS["reattribute"][FORWARD] = frozenset({rejected("not-admitted")})
CLAIMS["impersonate"][FORWARD] = frozenset({rejected("bad-signature"), rejected("unverified")})
CLAIMS["move-room"][FORWARD] = frozenset({rejected("not-admitted"), rejected("tampered")})
CLAIMS["truncate"][FORWARD] = frozenset({rejected("tampered"), rejected("malformed")})
# A flipped bit in a batch signature is a signature that does not verify.
CLAIMS["bit-flip"][FORWARD] = frozenset({rejected("tampered"), rejected("bad-signature")})
# A late copy's key is erased: refused as a replay before its age matters.
CLAIMS["replay-late"][FORWARD] = frozenset({rejected("replayed"), rejected("expired")})

#: What happened to the attack, after each verdict: a mark, not a grade.
BLOCKED = "blocked"
DETECTED = "detected"
WORKED = "WORKED"

LEGEND = (
    "What the receiver did: READ / hidden: could the relay read the body.  ACCEPTED: the attacked"
    " message was shown as genuine and nothing was reported.  flagged: accepted, but the receiver"
    " flagged it; \"replay (or reorder)\": a layer without a replay cache cannot tell a copy from a"
    " late message.  rejected: refused, with the reason the receiver gave.  stopped by the sender: the"
    " sending client refused to send (it would have sealed under a nick the relay imposed)."
    "  What happened to the attack: [blocked] it had no effect; [detected] it had an effect the"
    " receiver reported; [WORKED] it had its effect unnoticed.  Every cell docs/security.md makes a"
    " claim about (CLAIMS in securechat/mitm/matrix.py) is checked: one that does not hold is marked"
    " \u2717 CLAIM FAILED and the demo exits non-zero."
)

#: One line per column: the lesson the column teaches.
LESSONS: Dict[str, str] = {
    PLAIN: "the relay reads every body and can change, forge, replay or move any of them: nothing is noticed.",
    AES_CTR: (
        "bodies are hidden, but CTR is malleable: flipped bits, cut bodies and a rewritten sealed sender are "
        "accepted as genuine; only the envelope's shape and sequence numbers catch clumsier tricks."
    ),
    FERNET: (
        "the HMAC rejects every alteration, forgery and re-attribution (and the sending client will not seal "
        "under a nick the relay imposed); replays and delays are accepted: sequence numbers flag a copy as "
        "\"replay (or reorder)\", since fernet cannot tell a replay from a late message. Any member holds the "
        "room key, so a member can still write as another member."
    ),
    FERNET_TTL: (
        "adds freshness: stale messages (delayed, replayed late, or from a sender clock 45 s behind) expire, "
        "and the replay cache rejects replays inside the TTL window. A relay can still drop messages (only "
        "the next one's sequence gap shows it) and see who talks to whom, when, and how much; and any member "
        "can still write as another member."
    ),
    FORWARD: (
        "rooms on sender chains: each member seals with its own chain, whose keys are erased once used and "
        "renewed when anyone leaves; chains go only to members who proved the room secret over a pairwise "
        "session; batches of messages are signed. A later leak, a departed member and a member the relay adds "
        "read nothing; everything else is as on signed."
    ),
    SIGNED: (
        "adds who: each member signs with their own Ed25519 key inside the token, so a member holding the "
        "room key can no longer write as another member, and a key that changes for a nick is refused until "
        "the user accepts it. Everything else is as on fernet-ttl."
    ),
}


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Cell:
    """The verdict on one (scenario, layer) run."""

    scenario: str
    layer: str
    verdict: str
    relayRead: bool
    accepted: bool  # the attacked message was accepted as genuine
    detected: bool  # the receiver reported something (refusal or flag)
    reasons: Tuple[str, ...] = ()
    detail: str = ""  # what happened, for --verbose and errors

    @property
    def claimed(self) -> Optional[FrozenSet[str]]:
        return CLAIMS.get(self.scenario, {}).get(self.layer)

    @property
    def ok(self) -> bool:
        """True unless the layer claims to stop this and did not."""
        claimed = self.claimed
        return self.verdict != ERROR and (claimed is None or self.verdict in claimed)

    @classmethod
    def fromDict(cls, d: Dict[str, Any]) -> Cell:
        """The cell L{asDict} wrote (a stored run: docs/_generated/matrix.json)."""
        return cls(
            str(d["attack"]),
            str(d["layer"]),
            str(d["verdict"]),
            bool(d["relay_read"]),
            bool(d["accepted"]),
            bool(d["detected"]),
            tuple(str(r) for r in d.get("reasons", ())),
            str(d.get("detail", "")),
        )

    def asDict(self) -> Dict[str, object]:
        claimed = self.claimed
        return {
            "attack": self.scenario,
            "layer": self.layer,
            "verdict": self.verdict,
            "relay_read": self.relayRead,
            "accepted": self.accepted,
            "detected": self.detected,
            "reasons": list(self.reasons),
            "claimed": sorted(claimed) if claimed is not None else None,
            "ok": self.ok,
            "detail": self.detail,
        }


def _unique(items: Sequence[str]) -> Tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def judge(scenario: Scenario, layer: str, obs: Observation) -> Cell:
    """The cell for one run: accepted? detected, and why?"""
    if scenario.judge is None:
        verdict = READ if obs.relayRead else HIDDEN
        return Cell(scenario.name, layer, verdict, obs.relayRead, obs.relayRead, False)
    attacked = scenario.judge(obs)
    accepted = bool(attacked)
    # What gave the attack away: the attacked message's own flags, or (when
    # it never arrived) a flag on what did arrive, such as a sequence gap.
    witnesses = attacked if accepted else obs.accepted
    late = FLAG_REORDERED if layer in FRESH else FLAG_REPLAY_OR_REORDER
    flags = _unique(
        [late for r in witnesses if r.reordered]
        + [FLAG_GAP for r in witnesses if r.missing]
        + [FLAG_WITHHELD for _note in obs.views]
    )
    reasons = _unique(list(obs.reasons) + list(flags))
    if obs.stopped and not accepted and not obs.accepted:
        return Cell(scenario.name, layer, STOPPED, obs.relayRead, False, True, ("stopped",))
    if accepted and flags:
        verdict = flagged(*flags)
    elif accepted:
        verdict = ACCEPTED
    elif obs.reasons:
        verdict = rejected(*_unique(obs.reasons))
    elif flags:
        verdict = LOST_FLAGGED_PREFIX + ", ".join(flags)
    elif len(obs.accepted) == len(obs.sent):
        verdict = UNAFFECTED
    else:
        verdict = LOST
    detail = "; ".join(
        "accepted %r from %s in %s%s"
        % (r.body[:DETAIL_BODY_CHARS], r.sender, r.target, " (%s)" % (late,) if r.reordered else "")
        for r in attacked
    )
    if any(r.body not in obs.sent for r in attacked):
        # Show what the attack changed: the text the sender really wrote.
        detail += "; %s wrote %s" % (obs.sender, ", ".join(repr(body[:DETAIL_BODY_CHARS]) for body in obs.sent))
    return Cell(scenario.name, layer, verdict, obs.relayRead, accepted, bool(reasons), reasons, detail)


def failures(cells: Sequence[Cell]) -> List[Cell]:
    """Cells where a layer did not stop what it claims to stop (or the run failed)."""
    return [cell for cell in cells if not cell.ok]


# Rendering.

#: The width of a table nobody measured (piped, no COLUMNS).
DEFAULT_WIDTH = 80
#: Spaces between two columns of the terminal table.
GAP = 2
#: A row label narrower than this is no longer a label: the table gives
#: way to one block per attack.
MIN_LABEL = 8
#: What a label cut to fit ends with.
CUT = "~"

#: The short marks of the terminal table: they read without colour.
MARK_OK = "ok"
MARK_FLAG = "flag"
MARK_WORKED = "WORKED"
MARK_READ = "READ"
MARK_ERROR = "error"
#: Appended to the mark of a cell whose claim failed.
MARK_FAILED = "!"

#: ANSI colours (SGR parameters) by mark, for terminals that have them.
COLOURS: Dict[str, str] = {
    MARK_OK: "32",
    MARK_FLAG: "33",
    MARK_WORKED: "1;31",
    MARK_READ: "1;31",
    MARK_ERROR: "1;35",
}
#: A failed claim: reverse video, whatever the mark.
FAILED_COLOUR = "1;7;31"

#: Flags, shortened for a narrow cell.
SHORT_FLAGS: Dict[str, str] = {
    FLAG_REPLAY_OR_REORDER: "replay?", FLAG_REORDERED: "reorder", FLAG_GAP: "gap", FLAG_WITHHELD: "withheld"
}

SHORT_LEGEND = (
    "ok: the attack had no effect (refused, hidden, or never sent).  flag: it got through and the receiver"
    " said so.  WORKED: it got through unnoticed.  READ: the relay read the body.  %s: a claim of"
    " docs/security.md failed (the demo exits 1)." % (MARK_FAILED,)
)
#: Added to the legend when the cells carry the receiver's reason.
REASON_LEGEND = "  A word after the mark is the receiver's reason (replay?: a copy or a late message)."


def _grid(cells: Sequence[Cell]) -> Tuple[List[str], List[str], Dict[Tuple[str, str], Cell]]:
    """
    The layers and attacks present in C{cells}: the known ones in their
    usual order, any other in the order they first appear, so a new layer
    or row needs no change here.
    """
    layers = [layer for layer in MATRIX_LAYERS if any(c.layer == layer for c in cells)]
    rows = [s.name for s in SCENARIOS if any(c.scenario == s.name for c in cells)]
    for c in cells:
        if c.layer not in layers:
            layers.append(c.layer)
        if c.scenario not in rows:
            rows.append(c.scenario)
    return layers, rows, {(c.scenario, c.layer): c for c in cells}


def outcome(cell: Cell) -> str:
    """What happened to the attack in C{cell}: blocked, detected, or it worked."""
    verdict = cell.verdict
    if verdict in (HIDDEN, STOPPED, UNAFFECTED) or verdict.startswith(REJECTED_PREFIX):
        return BLOCKED
    if verdict.startswith(FLAGGED_PREFIX) or verdict.startswith(LOST_FLAGGED_PREFIX):
        return DETECTED
    if verdict == ERROR:
        return ERROR
    return WORKED


def _mark(cell: Cell) -> str:
    """The cell's text: the verdict, what happened to the attack, and a cross where a claim failed."""
    text = "%s [%s]" % (cell.verdict, outcome(cell))
    return text if cell.ok else text + " \u2717 CLAIM FAILED"


def shortMark(cell: Cell) -> str:
    """The narrowest text of a cell: one word that reads without colour (and C{!} if its claim failed)."""
    happened = outcome(cell)
    if happened == BLOCKED:
        text = MARK_OK
    elif happened == DETECTED:
        text = MARK_FLAG
    elif happened == ERROR:
        text = MARK_ERROR
    else:
        text = MARK_READ if cell.verdict == READ else MARK_WORKED
    return text if cell.ok else text + MARK_FAILED


def shortReason(cell: Cell) -> str:
    """The receiver's reason in a word or two, for the medium table ("" when there is none)."""
    verdict = cell.verdict
    for prefix in (REJECTED_PREFIX, FLAGGED_PREFIX, LOST_FLAGGED_PREFIX):
        if verdict.startswith(prefix):
            words = [SHORT_FLAGS.get(w, w) for w in verdict[len(prefix) :].split(", ")]
            return ",".join(words)
    return {HIDDEN: "hidden", STOPPED: "by sender", LOST: "lost"}.get(verdict, "")


def mediumMark(cell: Cell) -> str:
    """The short mark and the receiver's reason: C{ok tampered}, C{flag gap}, C{WORKED}."""
    return " ".join(part for part in (shortMark(cell), shortReason(cell)) if part)


#: The cell texts a table tries, richest first, until one fits the width.
CELL_STYLES: Tuple[Callable[[Cell], str], ...] = (_mark, mediumMark, shortMark)


def _labels(row: str) -> List[str]:
    """A row's labels, longest first; the attack key is the last resort (and a stable id)."""
    scenario = BY_NAME.get(row)
    found = [scenario.label, scenario.short] if scenario is not None else []
    return [label for label in found if label] + [row]


def _fitLabel(row: str, width: int) -> str:
    for label in _labels(row):
        if len(label) <= width:
            return label
    return row[: max(width - len(CUT), 0)] + CUT


def _paint(text: str, cell: Optional[Cell], colour: bool) -> str:
    """C{text} in the cell's colour (the padding stays outside the escape)."""
    if not colour or cell is None or not text.strip():
        return text
    code = FAILED_COLOUR if not cell.ok else COLOURS.get(shortMark(cell), "")
    if not code:
        return text
    stripped = text.rstrip(" ")
    return "\x1b[%sm%s\x1b[0m%s" % (code, stripped, text[len(stripped) :])


def _headers(layers: Sequence[str], split: bool) -> List[List[str]]:
    """Each layer's header, on one line or broken after its hyphens (C{fernet-} C{ttl})."""
    if not split:
        return [[layer] for layer in layers]
    return [[part + "-" for part in layer.split("-")[:-1]] + [layer.split("-")[-1]] for layer in layers]


@attr.s(frozen=True, slots=True, auto_attribs=True)
class TableLayout:
    """How a table fits a width: the cell style, the column widths, the label width."""

    style: Callable[[Cell], str]
    headers: Tuple[Tuple[str, ...], ...]
    columns: Tuple[int, ...]
    label: int


def _column(grid: Dict[Tuple[str, str], Cell], rows: Sequence[str], layer: str) -> List[Cell]:
    return [grid[row, layer] for row in rows if (row, layer) in grid]


def layoutTable(cells: Sequence[Cell], width: int) -> Optional[TableLayout]:
    """
    The richest layout of C{cells} whose every line fits in C{width}
    columns, computed from the layers and attacks present: richer cells
    while every row keeps a readable label, then narrower cells and
    headers broken at hyphens, then labels cut down to L{MIN_LABEL}.
    L{None} when not even that fits (the caller lists one block per attack).
    """
    layers, rows, grid = _grid(cells)
    if not rows:
        return None
    longest = max(len(_labels(row)[0]) for row in rows)
    readable = max(min(len(label) for label in _labels(row)) for row in rows)
    for needed in (readable, MIN_LABEL):
        for split in (False, True):
            for style in CELL_STYLES:
                headers = _headers(layers, split)
                columns = [
                    max([len(part) for part in header] + [len(style(c)) for c in _column(grid, rows, layer)])
                    for layer, header in zip(layers, headers)
                ]
                room = width - sum(columns) - GAP * len(columns)
                if room >= max(needed, MIN_LABEL):
                    label = max(len(_fitLabel(row, min(room, longest))) for row in rows)
                    return TableLayout(
                        style, tuple(tuple(h) for h in headers), tuple(columns), min(room, max(label, len("attack")))
                    )
    return None


def tableLines(cells: Sequence[Cell], width: int = DEFAULT_WIDTH, colour: bool = False) -> List[str]:
    """
    The matrix as lines no longer than C{width} (colour escapes aside):
    one row per attack when it fits, else one block per attack.
    """
    layers, rows, grid = _grid(cells)
    layout = layoutTable(cells, width)
    if layout is None:
        return _blockLines(layers, rows, grid, width, colour)
    depth = max(len(h) for h in layout.headers)

    def fmt(label: str, texts: Sequence[str], owners: Sequence[Optional[Cell]]) -> str:
        parts = [label.ljust(layout.label)]
        parts += [_paint(t.ljust(w), owner, colour) for t, w, owner in zip(texts, layout.columns, owners)]
        return (" " * GAP).join(parts).rstrip()

    none: List[Optional[Cell]] = [None] * len(layers)
    out = []
    for line in range(depth):
        # Headers broken over lines sit on the last ones (bottom-aligned).
        texts = [h[line - depth + len(h)] if line - depth + len(h) >= 0 else "" for h in layout.headers]
        out.append(fmt("attack" if line == depth - 1 else "", texts, none))
    out.append(fmt("-" * layout.label, ["-" * w for w in layout.columns], none))
    for row in rows:
        owners = [grid.get((row, layer)) for layer in layers]
        texts = [layout.style(owner) if owner is not None else "-" for owner in owners]
        out.append(fmt(_fitLabel(row, layout.label), texts, owners))
    return out


def _blockLines(
    layers: Sequence[str], rows: Sequence[str], grid: Dict[Tuple[str, str], Cell], width: int, colour: bool
) -> List[str]:
    """Too narrow for a table: each attack's label, then its cells as C{layer mark} pairs, wrapped."""
    out = []
    for row in rows:
        out.append(_fitLabel(row, width))
        line = ""
        for layer in layers:
            cell = grid.get((row, layer))
            mark = shortMark(cell) if cell is not None else "-"
            item = "%s %s" % (layer, mark)
            if len(item) + 2 > width:
                item = item[: max(width - 2 - len(CUT), 0)] + CUT
            painted = "%s %s" % (layer, _paint(mark, cell, colour)) if item.endswith(mark) else item
            if line and len(_plain(line)) + 2 + len(item) > width:
                out.append(line)
                line = ""
            line = (line + "  " if line else "  ") + painted
        if line:
            out.append(line)
    return out


def _plain(text: str) -> str:
    """C{text} without its colour escapes (to measure it)."""
    return re.sub("\x1b\\[[0-9;]*m", "", text)


def wrap(text: str, width: int, indent: str = "") -> List[str]:
    """C{text} in lines of at most C{width} (a word longer than that is broken)."""
    return textwrap.wrap(
        text, max(width, len(indent) + 1), subsequent_indent=indent, break_on_hyphens=False
    ) or [""]


#: What stands for the middle of a line shortened to fit.
ELLIPSIS = "..."


def shorten(text: str, width: int) -> str:
    """C{text} in at most C{width} characters, its middle cut (a line's start and end say the most)."""
    if len(text) <= width:
        return text
    if width <= len(ELLIPSIS):
        return text[:width]
    head = (width - len(ELLIPSIS) + 1) // 2
    tail = width - len(ELLIPSIS) - head
    return text[:head] + ELLIPSIS + (text[-tail:] if tail else "")


def verdictLines(cells: Sequence[Cell], width: int = DEFAULT_WIDTH) -> List[str]:
    """Every cell's full verdict, one paragraph per attack (what the narrow table abbreviates)."""
    layers, rows, grid = _grid(cells)
    out = []
    for row in rows:
        label = _labels(row)[0]
        parts = ["%s: %s" % (layer, _mark(grid[row, layer])) for layer in layers if (row, layer) in grid]
        heading = label if label == row else "%s (%s)" % (label, row)
        out.extend(wrap("%s: %s" % (heading, "; ".join(parts)), width, "    "))
    return out


def renderText(
    cells: Sequence[Cell], width: int = DEFAULT_WIDTH, colour: bool = False, verbose: bool = False
) -> str:
    """
    The matrix for a terminal or a pipe: a table that fits C{width}, the
    short legend, each column's lesson, and with C{verbose} every full
    verdict; no line longer than C{width}.
    """
    layers, _, _ = _grid(cells)
    layout = layoutTable(cells, width)
    out = tableLines(cells, width, colour)
    style = layout.style if layout is not None else shortMark
    legends: Dict[Callable[[Cell], str], str] = {_mark: LEGEND, mediumMark: SHORT_LEGEND + REASON_LEGEND}
    legend = legends.get(style, SHORT_LEGEND)
    out += [""] + wrap(legend, width)
    if verbose:
        out += ["", "Verdicts:"] + verdictLines(cells, width)
    out.append("")
    for layer in layers:
        if layer in LESSONS:
            out.extend(wrap("%s: %s" % (layer, LESSONS[layer]), width, "    "))
    return "\n".join(out) + "\n"


def renderMarkdown(cells: Sequence[Cell]) -> str:
    layers, rows, grid = _grid(cells)
    out = ["| attack | " + " | ".join(layers) + " |", "|---" * (len(layers) + 1) + "|"]
    for row in rows:
        texts = [_mark(grid[row, layer]) if (row, layer) in grid else "-" for layer in layers]
        out.append("| %s | %s |" % (_labels(row)[0], " | ".join(texts)))
    out += ["", LEGEND, ""]
    out.extend("- **%s**: %s" % (layer, LESSONS.get(layer, "")) for layer in layers)
    return "\n".join(out) + "\n"


# The picture in the docs (docs/_ext/attackmatrix.py renders a stored run).

#: The CSS class of a cell by what happened to the attack (docs/_static/matrix.css).
PICTURE_CLASSES: Dict[str, str] = {
    BLOCKED: "sc-blocked",
    DETECTED: "sc-detected",
    WORKED: "sc-worked",
    ERROR: "sc-error",
}
#: Added to a cell docs/security.md makes a claim about, and to one whose claim failed.
CLAIMED_CLASS = "sc-claimed"
FAILED_CLASS = "sc-failed"


@attr.s(frozen=True, slots=True, auto_attribs=True)
class PictureCell:
    """One cell of the docs' table: its mark, its verdict, and its CSS classes."""

    mark: str
    verdict: str
    classes: Tuple[str, ...]


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Picture:
    """A stored run laid out for the docs: rows (label, attack key, cells) under the layers."""

    layers: Tuple[str, ...]
    rows: Tuple[Tuple[str, str, Tuple[PictureCell, ...]], ...]
    lessons: Tuple[Tuple[str, str], ...]
    failures: int


def picture(document: Dict[str, Any]) -> Picture:
    """
    The table the docs show for a stored C{--json} run: what each cell
    says comes from the run (its verdict, and whether its claim held then),
    the order and labels from the data, as in the terminal.
    """
    stored = {(d["attack"], d["layer"]): d for d in document["cells"]}
    cells = [Cell.fromDict(d) for d in document["cells"]]
    layers, rows, grid = _grid(cells)
    out = []
    for row in rows:
        line = []
        for layer in layers:
            cell = grid.get((row, layer))
            if cell is None:
                line.append(PictureCell("-", "", ()))
                continue
            held = bool(stored[row, layer].get("ok", cell.ok))
            classes = [PICTURE_CLASSES.get(outcome(cell), "sc-error")]
            classes += [CLAIMED_CLASS] if stored[row, layer].get("claimed") is not None else []
            classes += [] if held else [FAILED_CLASS]
            mark = shortMark(cell).rstrip(MARK_FAILED) + ("" if held else MARK_FAILED)
            line.append(PictureCell(mark, cell.verdict, tuple(classes)))
        out.append((_labels(row)[0], row, tuple(line)))
    lessons = document.get("lessons", {})
    return Picture(
        tuple(layers),
        tuple(out),
        tuple((layer, str(lessons[layer])) for layer in layers if layer in lessons),
        len(document.get("failures", ())),
    )


def renderJson(cells: Sequence[Cell], extra: Optional[Dict[str, object]] = None) -> str:
    layers, rows, _ = _grid(cells)
    document: Dict[str, object] = {
        "layers": layers,
        "attacks": rows,
        "cells": [cell.asDict() for cell in cells],
        "failures": [[c.scenario, c.layer] for c in failures(cells)],
        "lessons": {layer: LESSONS[layer] for layer in layers if layer in LESSONS},
    }
    document.update(extra or {})
    return json.dumps(document, indent=2, sort_keys=True) + "\n"
