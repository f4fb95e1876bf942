"""
The guided walk (C{securechat demo --lesson}, C{--explain ATTACK}): one
attack at a time, in the lab's order.

Sans-IO.  The demo hands over what each run recorded (a L{Run}: the cell,
what the sender wrote, what the receiver accepted and refused, and the
message lines the malicious relay handled); this module turns one attack's
runs into a step a student reads: what alice wrote, what the relay did to
the line (before and after, shortened to the width), what bob's screen
showed on each layer, and one sentence of why.  Where a step answers one
of the lab's chapter questions, it says which.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import attr

from .matrix import (
    BY_NAME,
    FLAG_GAP,
    FLAG_REORDERED,
    Cell,
    Observation,
    _labels,
    _paint,
    shorten,
    shortMark,
    wrap,
)

#: What a recorded line was, for the walk.
SENT = "sent"  # the sender's client gave it to the relay
BEFORE = "before"  # the relay had it for the receiver, and the attack took it
AFTER = "after"  # what the attack delivered instead (or besides)
DROPPED = "dropped"  # what the attack kept from the receiver

#: How each role reads in a step (%s: the client's nick).
ROLE_LABELS: Dict[str, str] = {
    SENT: "%s sent",
    BEFORE: "relay had for %s",
    AFTER: "attack gave %s",
    DROPPED: "attack kept from %s",
}
#: The row whose lesson is the bytes themselves: its step shows these layers' wire.
READ_WIRE_LAYERS = ("plain", "fernet")
#: A step shows at most this many lines of the wire; the rest are counted.
MAX_WIRE_LINES = 6
#: A step shows at most this many of bob's screen lines per layer.
MAX_SCREEN_LINES = 3
#: Room for a layer's mark in a step (C{WORKED!}).
MARK_COLUMN = 7


@attr.s(frozen=True, slots=True, auto_attribs=True)
class WireLine:
    """One message line the malicious relay handled in a run."""

    role: str
    client: str
    raw: bytes
    note: str = ""


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Run:
    """What one (attack, layer) run recorded, for the walk."""

    cell: Cell
    observation: Optional[Observation]  # None: the run failed before the exchange
    wire: Tuple[WireLine, ...] = ()


#: The lab's order: what it asks first (read, tamper, replay, delay, clock),
#: then what it did not ask.  Rows not named here follow, in the matrix's order.
LESSON_ORDER: Tuple[str, ...] = (
    "read",
    "bit-flip",
    "truncate",
    "forge",
    "replay",
    "duplicate",
    "replay-late",
    "delay",
    "clock-shift",
    "reattribute",
    "move-room",
    "impersonate",
    "rename-nick",
    "rename-welcome",
    "reorder",
    "drop",
    "drop-chunk",
    "later-leak",
    "after-leave",
    "relay-member",
)


@attr.s(frozen=True, slots=True, auto_attribs=True)
class LabQuestion:
    """One of the lab's five chapter questions, and the step that answers it."""

    chapter: int
    title: str
    question: str
    attack: str


LAB_QUESTIONS: Tuple[LabQuestion, ...] = (
    LabQuestion(
        1, "Getting started", "What do the server's logs show, and which principle does that violate?", "read"
    ),
    LabQuestion(
        2,
        "Encryption (AES-CTR)",
        "Why can a malicious server still hurt us, and which property is missing?",
        "bit-flip",
    ),
    LabQuestion(
        3,
        "Authenticated encryption (Fernet)",
        "A malicious server re-sends old genuine messages: what is this attack, and a simple counter-measure?",
        "replay",
    ),
    LabQuestion(
        4,
        "TTL",
        "Subtract 45 s from the sender's time: what happens, and why? Does the TTL stop the replay?",
        "clock-shift",
    ),
    LabQuestion(
        5,
        "Critical review",
        "Which shortcuts did the lab take? (One static key shared by everyone: any member can write as another.)",
        "impersonate",
    ),
)


def lessonOrder(attacks: Sequence[str]) -> List[str]:
    """C{attacks} in the lab's order; any the order does not name follow, as given."""
    known = [name for name in LESSON_ORDER if name in attacks]
    return known + [name for name in attacks if name not in LESSON_ORDER]


def questionsFor(attack: str) -> List[LabQuestion]:
    return [q for q in LAB_QUESTIONS if q.attack == attack]


def _label(attack: str) -> str:
    return _labels(attack)[0]


def _screen(run: Run) -> List[str]:
    """What bob's screen showed for the attacked exchange (the end-of-run messages left out)."""
    obs = run.observation
    if obs is None:
        return ["(the run failed: %s)" % (run.cell.detail or run.cell.verdict,)]
    lines = []
    for message in obs.accepted:
        flags = [FLAG_REORDERED] if message.reordered else []
        flags += [FLAG_GAP] if message.missing else []
        where = "" if message.target == obs.room else " (in %s)" % (message.target,)
        note = " [%s]" % (", ".join(flags),) if flags else ""
        lines.append("<%s>%s %s%s" % (message.sender, where, message.body, note))
    lines.extend("! refused a line: %s" % (reason,) for reason in obs.reasons)
    lines.extend("! %s" % (note,) for note in obs.views)
    if obs.stopped and not obs.accepted:
        lines.append("(nothing: %s would not seal under an imposed nick)" % (obs.sender,))
    return lines or ["(nothing)"]


def wireLayers(attack: str, runs: Dict[str, Run]) -> List[str]:
    """
    The layers whose bytes a step shows: plain beside fernet for the read
    row; else fernet (the lab's), else the first keyed layer, else plain.
    """
    recorded = [layer for layer, run in runs.items() if run.wire]
    scenario = BY_NAME.get(attack)
    if scenario is not None and scenario.judge is None:
        shown = [layer for layer in READ_WIRE_LAYERS if layer in recorded]
        if shown:
            return shown
    keyed = [layer for layer in recorded if layer != "plain"]
    if "fernet" in keyed:
        return ["fernet"]
    return keyed[:1] or recorded[:1]


def _wireLines(run: Run, width: int) -> List[str]:
    heads = [ROLE_LABELS.get(line.role, line.role + " %s") % (line.client,) for line in run.wire]
    headWidth = max((len(head) for head in heads), default=0)
    out = []
    for line, head in zip(run.wire[:MAX_WIRE_LINES], heads):
        note = "  [%s]" % (line.note,) if line.note and line.role != BEFORE else ""
        lead = "    %s  " % (head.ljust(headWidth),)
        if len(lead) > width // 2:
            lead = "    %s  " % (head,)
            out.append(shorten(lead.rstrip(), width))
            lead = "      "
        text = line.raw.decode("utf-8", "replace") + note
        out.append(lead + shorten(text, max(width - len(lead), 8)))
    if len(run.wire) > MAX_WIRE_LINES:
        out.append("    (%d more lines)" % (len(run.wire) - MAX_WIRE_LINES,))
    return out


def renderStep(
    attack: str, runs: Dict[str, Run], number: int, total: int, width: int, colour: bool = False
) -> List[str]:
    """
    One step of the walk: C{runs} are the attack's runs by layer, in the
    matrix's column order.  No line is longer than C{width}.
    """
    scenario = BY_NAME.get(attack)
    label = _label(attack)
    out = wrap("Step %d of %d: %s (%s)" % (number, total, label, attack), width)
    out.append("=" * min(width, len(out[0])))
    for q in questionsFor(attack):
        out.extend(wrap("Lab question %d (%s): %s" % (q.chapter, q.title, q.question), width, "    "))
    first = next((run.observation for run in runs.values() if run.observation is not None), None)
    if first is not None:
        out.extend(wrap("alice wrote (every layer is a run of its own, with its own number):", width))
        out.extend("    " + shorten(body, max(width - 4, 8)) for body in first.sent)
    for layer in wireLayers(attack, runs):
        out.append(shorten("The line on the wire, %s (bytes shortened):" % (layer,), width))
        out.extend(_wireLines(runs[layer], width))
    out.append("What bob's screen showed:")
    column = max(len(name) for name in runs) + 2
    for name, run in runs.items():
        mark = shortMark(run.cell)
        screen = _screen(run)
        shown = screen[:MAX_SCREEN_LINES] + (["(%d more)" % (len(screen) - MAX_SCREEN_LINES,)]
                                            if len(screen) > MAX_SCREEN_LINES else [])
        head = "    " + name.ljust(column)
        markText = _paint(mark.ljust(MARK_COLUMN), run.cell, colour) + " "
        indent = len(head) + MARK_COLUMN + 1
        if indent > width // 2:
            # Too narrow for a column of layers: the layer and mark on a line of their own.
            out.append("    " + name + " " + _paint(mark, run.cell, colour))
            head, markText, indent = "      ", "", 6
        for i, text in enumerate(shown):
            lead = head + markText if i == 0 else " " * indent
            out.append(lead + shorten(text, max(width - indent, 8)))
    why = scenario.why if scenario is not None and scenario.why else ""
    if why:
        out.extend(wrap("Why: " + why, width, "    "))
    return out


def renderIntro(order: Sequence[str], width: int, interactive: bool) -> List[str]:
    """What the walk is, and which step answers each of the lab's questions."""
    steps = len(order)
    text = (
        "The lesson: %d step%s, one attack at a time, in the lab's order. alice writes in #lab, the malicious "
        "relay attacks the copy it delivers to bob, carol is the other member. Each step shows what alice "
        "wrote, what the relay did to the line, what bob's screen showed on every layer, and why."
        % (steps, "" if steps == 1 else "s")
    )
    out = wrap(text, width)
    if interactive:
        out += wrap("Enter: next step.  q then Enter: stop.", width)
    questions = [q for q in LAB_QUESTIONS if q.attack in order]
    if questions:
        out.append("")
        out += wrap("The lab's questions, and the step that answers each:", width)
        for q in questions:
            step = "step %d, %s" % (order.index(q.attack) + 1, _label(q.attack))
            out += wrap("  %d. %s: %s" % (q.chapter, q.title, step), width, "     ")
    return out
