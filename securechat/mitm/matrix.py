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
from typing import Callable, Dict, FrozenSet, List, Optional, Sequence, Tuple

import attr

from ..codec import LAYERS
from .attacks import LAB_CLOCK_SHIFT, PAST_TTL_DELAY

PLAIN, AES_CTR, FERNET, FERNET_TTL, SIGNED = LAYERS
KEYED = (AES_CTR, FERNET, FERNET_TTL, SIGNED)
AUTHENTICATED = (FERNET, FERNET_TTL, SIGNED)
FRESH = (FERNET_TTL, SIGNED)

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


SCENARIOS: Tuple[Scenario, ...] = (
    Scenario("read", "read", "relay reads the body", None),
    Scenario("bit-flip", "bit-flip", "bit flip in the body", _altered),
    Scenario("truncate", "truncate", "truncate the body", _altered),
    Scenario("forge", "forge", "forge a message (random token)", _altered),
    Scenario("reattribute", "reattribute", "re-attribute to another member", _reattributed),
    # A member (who holds the room key) colludes with the relay: a message
    # sealed as alice, delivered under alice's nick.
    Scenario("impersonate", "impersonate", "a member writes as another member", _impersonated),
    Scenario("move-room", "move-room", "move to another room", _moved),
    Scenario("replay", "replay", "replay at once", _copies),
    Scenario("duplicate", "duplicate", "duplicate", _copies),
    Scenario(
        "replay-late",
        "replay",
        "replay %ds later" % (PAST_TTL_DELAY,),
        _copies,
        (("delay", PAST_TTL_DELAY),),
        advance=PAST_TTL_DELAY,
    ),
    Scenario("reorder", "reorder", "reorder two messages", _heldBack, messages=2),
    Scenario(
        "drop-chunk", "drop-chunk", "drop one chunk", _partial, (("index", 2),), longBody=True,
        advance=REASSEMBLY_WAIT,
    ),
    Scenario("drop", "drop", "drop a whole message", _dropped, (("after", 1),), messages=3),
    Scenario(
        "delay", "delay", "delay %ds (past TTL)" % (PAST_TTL_DELAY,), _stale, (("delay", PAST_TTL_DELAY),),
        advance=PAST_TTL_DELAY,
    ),
    Scenario(
        "clock-shift", "clock-shift", "sender clock %+ds" % (LAB_CLOCK_SHIFT,), _stale, senderShift=LAB_CLOCK_SHIFT,
    ),
    # The relay assigns nicks: it tells the sender it is another member,
    # and delivers its messages under that member's name.
    Scenario("rename-nick", "rename", "relay renames the sender (forged NICK)", _reattributed, (("via", "nick"),)),
    Scenario(
        "rename-welcome", "rename", "relay renames the sender (001 after a forced reconnect)", _reattributed,
        (("via", "welcome"),),
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
}

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
    flags = _unique([late for r in witnesses if r.reordered] + [FLAG_GAP for r in witnesses if r.missing])
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


def _grid(cells: Sequence[Cell]) -> Tuple[List[str], List[str], Dict[Tuple[str, str], Cell]]:
    layers = [layer for layer in LAYERS if any(c.layer == layer for c in cells)]
    rows = [s.name for s in SCENARIOS if any(c.scenario == s.name for c in cells)]
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


def renderText(cells: Sequence[Cell]) -> str:
    layers, rows, grid = _grid(cells)
    header = ["attack"] + layers
    body = [
        [BY_NAME[row].label] + [_mark(grid[row, layer]) if (row, layer) in grid else "-" for layer in layers]
        for row in rows
    ]
    widths = [max(len(line[i]) for line in [header] + body) for i in range(len(header))]

    def fmt(line: List[str]) -> str:
        return "  ".join(text.ljust(width) for text, width in zip(line, widths)).rstrip()

    out = [fmt(header), fmt(["-" * w for w in widths])] + [fmt(line) for line in body]
    out += ["", LEGEND, ""]
    out.extend("%s: %s" % (layer, LESSONS[layer]) for layer in layers)
    return "\n".join(out) + "\n"


def renderMarkdown(cells: Sequence[Cell]) -> str:
    layers, rows, grid = _grid(cells)
    out = ["| attack | " + " | ".join(layers) + " |", "|---" * (len(layers) + 1) + "|"]
    for row in rows:
        texts = [_mark(grid[row, layer]) if (row, layer) in grid else "-" for layer in layers]
        out.append("| %s | %s |" % (BY_NAME[row].label, " | ".join(texts)))
    out += ["", LEGEND, ""]
    out.extend("- **%s**: %s" % (layer, LESSONS[layer]) for layer in layers)
    return "\n".join(out) + "\n"


def renderJson(cells: Sequence[Cell], extra: Optional[Dict[str, object]] = None) -> str:
    layers, rows, _ = _grid(cells)
    document: Dict[str, object] = {
        "layers": layers,
        "attacks": rows,
        "cells": [cell.asDict() for cell in cells],
        "failures": [[c.scenario, c.layer] for c in failures(cells)],
        "lessons": {layer: LESSONS[layer] for layer in layers},
    }
    document.update(extra or {})
    return json.dumps(document, indent=2, sort_keys=True) + "\n"
