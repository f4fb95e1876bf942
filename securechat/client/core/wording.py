"""
How the client words what happened, once, for every face.  The console,
JSON lines and the proxy put these sentences in their own frame (a time
and a window, a notice from C{*securechat}); what a sentence advises to
type is spelt by the face (L{Spell}), so advice works where it is read.
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

from ...codec.roomsecret import CODE_RE
from . import ctcp
from . import events as ev

#: Spells a command for the face that shows it: C{spell("layer!", ["#lab",
#: "fernet"])} is C{/layer! fernet #lab} on the console, C{/msg *securechat
#: layer! #lab fernet} in the proxy.
Spell = Callable[[str, Sequence[str]], str]

#: The mark each protection level gets, on every face.
MARKS = {
    "none": "plain",
    "confidential": "enc",
    "authenticated": "auth",
    "authenticated+fresh": "auth+fresh",
    "signed+fresh": "signed",
    "session": "session",
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
    "other-version": "another wire version",
    "incomplete": "incomplete (chunks dropped)",
    "unprotected": "unprotected, not from a keyed member",
    "no-key": "protected, but no key here",
    "bad-signature": "bad signature",
    "unknown-signer": "signed by a key not known here yet",
    "identity-changed": "IDENTITY CHANGED",
    "signed-by-other": "signed by another member's key",
    "trust-full": "unknown key, trust store full",
    "lower-layer": "sealed on a lower layer",
    "no-session": "no session with the sender",
    "not-answered": "not answered",
    "too-far-ahead": "too far ahead",
}
#: Layers whose receivers keep no replay cache (sequence numbers only).
NO_REPLAY_CACHE = ("plain", "aes-ctr", "fernet")


def spellConsole(command: str, args: Sequence[str]) -> str:
    """A command as the console takes it (C{/layer!} takes the layer first)."""
    if command in ("layer", "layer!") and len(args) == 2:
        args = [args[1], args[0]]
    return " ".join(["/" + command, *args])


def rejectionText(reason: str, description: str) -> str:
    """
    The reason in words, then the codec's sentence unless it already
    starts with those words (it often does: "unprotected: ...").
    """
    words = REASONS.get(reason, reason)
    if description.lower().startswith(words.split(" ")[0].rstrip(",")):
        return description
    return "%s (%s)" % (words, description)


def missingNote(event: ev.IncomingMessage) -> Optional[str]:
    """What an accepted message says of the ones before it that never came."""
    if not event.missing:
        return None
    return "%d earlier message(s) from %s never arrived (dropped?)" % (event.missing, event.sender)


def reorderedNote(event: ev.IncomingMessage) -> Optional[str]:
    """What an accepted message out of sequence means on its layer."""
    if not event.reordered:
        return None
    if event.layer in NO_REPLAY_CACHE:
        # A copy and a late message look alike without a replay cache.
        return "the message above from %s is a replay (or reorder): %s cannot tell" % (
            event.sender, event.layer)
    return "the message above from %s arrived out of order" % (event.sender,)


def rejectedNote(event: ev.RejectedMessage, spell: Spell) -> str:
    """A refused message, in words, with what to type when it is ours to mend."""
    if event.reason == "no-key":
        return "%s sent a protected (%s) message; %s has no key: %s" % (
            event.sender, event.layer, event.target, spell("key", [event.target]))
    if event.reason == "unknown-signer":
        # Nothing to type: the key comes with the sender's next short
        # message (wire.md, "When the key is carried"), then it is pinned.
        return (
            "REJECTED message claimed from %s: signed, but its key was left out to save a line "
            "and none is pinned here for %s yet; ask %s for a short message (it carries the key), "
            "then to send this one again" % (event.sender, event.sender, event.sender)
        )
    return "REJECTED message claimed from %s: %s" % (
        event.sender, rejectionText(event.reason, event.description))


#: Passphrases shorter than this get a warning (not a refusal: the lab uses short ones).
MIN_PASSPHRASE_CHARS = 12


def weakPassphraseWarning(passphrase: bytes, spell: Spell = spellConsole) -> Optional[str]:
    """A warning for a short passphrase, L{None} for a long one or a room secret code."""
    try:
        text = passphrase.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if CODE_RE.match(text.strip().lower()) or len(text) >= MIN_PASSPHRASE_CHARS:
        return None
    return (
        "short passphrase (%d characters): whoever logs the room can guess it offline, and one "
        "precomputed dictionary serves every room of that name; %s makes a room secret "
        "nobody can guess" % (len(text), spell("key", ["--new"]))
    )


def typed(body: str) -> str:
    """A body of ours as the user typed it: an action (its CTCP framing) as C{/me text}."""
    action, _request = ctcp.split(body)
    return body if action is None else "/me " + action


def placeOf(target: str) -> str:
    """Where one's own line to C{target} was going, before a sentence about it."""
    return target + " " if target[:1] in "#&+!" else "(to %s) " % (target,)


def queuedNote(event: ev.Queued, echo: bool = True) -> str:
    """
    A line of ours waits for its key.  C{echo} repeats it: a face that does
    not show one's typed lines itself (the console) does; the proxy does
    not (the IRC client shows them; a passphrase typed in the room by
    mistake is not said again where a client may log it).
    """
    if event.session:
        return "(%s) %s" % (event.reason, typed(event.body)) if echo else event.reason
    if echo:
        return "(waiting for the key) %s" % (typed(event.body),)
    return "(waiting for the key): sent when it is ready, never in clear"


def unsentNote(event: ev.Unsent, limit: Optional[int] = None) -> str:
    """A line of ours not sent, and why; C{limit} cuts the quote of it."""
    body = typed(event.body)
    if limit is not None and len(body) > limit:
        body = body[: limit - 1] + "\u2026"
    return "NOT SENT: %s -- %s" % (body, event.reason)


def ctcpRequestNote(event: ev.CtcpRequest) -> str:
    return "%s sent a CTCP %s request (not answered)" % (event.sender, event.command)


def keySetNote(event: ev.KeySet) -> str:
    return "key set for %s on layer %s, fingerprint %s (compare it with the others)" % (
        event.target, event.layer, event.fingerprint)


def fingerprintNote(event: ev.Fingerprint) -> str:
    """The answer to /fingerprint, the same on the console and the proxy."""
    if event.fingerprint is None:
        return "%s has no key (layer %s)" % (event.target, event.layer)
    return "%s on layer %s: %s" % (event.target, event.layer, event.fingerprint)


def layerSetNote(event: ev.LayerSet) -> str:
    return "%s now uses layer %s" % (event.target, event.layer)


def nickUnconfirmedNote(event: ev.NickUnconfirmed) -> str:
    return (
        "%s: protected messages are not sent until you choose: "
        "/nick %s to accept it, /nick %s to ask for yours back" % (event.cause, event.nick, event.chosen)
    )


def keyLostNote(target: str, layer: str, room: bool, spell: Spell, insistOnce: bool = True) -> str:
    """
    A keyed conversation whose key no longer applies: what to do rather
    than send in clear.  C{insistOnce}: the face has a way to send one line
    in clear anyway (the console's C{/msg!}).
    """
    why = "was set for other names" if room else "was set before a nick changed"
    once = ""
    if insistOnce and not room:
        once = ", %s to send this one in clear" % (spell("msg!", [target]),)
    return (
        "not sent: your %s key for %s %s; set it again (%s)%s, or choose plain (%s): "
        "in clear the relay reads and can alter it"
        % (layer, target, why, spell("key", [target]), once, spell("layer!", [target, "plain"]))
    )


def loweringNote(target: str, current: str, layer: str, lost: str, spell: Spell) -> str:
    """Lowering a layer needs the user to insist: what it gives up, and how to insist."""
    return "lowering %s from %s to %s gives up %s. To do it anyway: %s" % (
        target, current, layer, lost, spell("layer!", [target, layer]))


def keyNotEnteredNote(target: str, layer: str, spell: Spell) -> str:
    """
    A conversation keyed before a restart: its key is never saved, so it
    waits to be entered again; meanwhile nothing goes there in clear.
    """
    return (
        "%s was keyed on %s before the restart; its key is never saved: enter it again (%s). "
        "Nothing is sent there in clear meanwhile (to talk in clear anyway: %s)"
        % (target, layer, spell("key", [target]), spell("layer!", [target, "plain"]))
    )


def layerAnnouncedNote(event: ev.LayerAnnounced, spell: Spell) -> str:
    """A member's sealed word on the room's layer: followed (a raise), or only shown."""
    if event.followed:
        return "%s raised %s to %s (sealed, so not the relay's doing): following, %s here too" % (
            event.sender, event.target, event.layer, event.layer)
    if event.layer == event.previous:
        return "%s set %s to %s, as here" % (event.sender, event.target, event.layer)
    if event.layer in LAYER_ORDER and LAYER_ORDER.index(event.layer) < LAYER_ORDER.index(event.previous):
        return (
            "%s LOWERED %s to %s on their side: not followed (%s stays on %s; their messages will be "
            "refused as sealed on %s). To follow: %s"
            % (event.sender, event.target, event.layer, event.target, event.previous, event.layer,
               spell("layer!", [event.target, event.layer]))
        )
    return "%s announced %s on %s: not followed (not sealed on that layer, or no key here)" % (
        event.sender, event.target, event.layer)


#: The layers from weakest to strongest (as the codec ranks them).
LAYER_ORDER = ("plain", "aes-ctr", "fernet", "fernet-ttl", "signed")


def groupedNote(target: str, sender: str, reason: str, count: int, spell: Spell) -> str:
    """Refusals of one member for one reason, said as one line, with what to do about them."""
    where = "in %s " % (target,) if target[:1] in "#&+!" else ""
    advice = ""
    if reason == "tampered":
        advice = "; a wrong passphrase looks the same: compare %s with the others" % (spell("fingerprint", [target]),)
    elif reason == "identity-changed":
        advice = "; ask %s why, then %s" % (sender, spell("trust", [sender]))
    # "claimed": like each refusal, the group names the sender the relay gave
    # (nothing refused proves who sealed it; junk under bob's nick counts here too).
    return "%d more claimed from %s %srefused: %s%s" % (count, sender, where, REASONS.get(reason, reason), advice)


def pacedNote(event: ev.Paced, echo: bool = True) -> str:
    """
    A line of ours waits its turn at the server's pace, unsealed: sealed
    when it leaves, so it is fresh when it arrives.
    """
    head = "(waiting its turn, about %d s: sealed when it leaves)" % (round(event.eta),)
    if event.ahead:
        head = "(waiting its turn behind %d, about %d s: sealed when it leaves)" % (
            event.ahead, round(event.eta))
    return "%s %s" % (head, typed(event.body)) if echo else head


def paceProgressNote(event: ev.PaceProgress) -> str:
    """How the send queue drains: what left, what waits, what was not sent."""
    refused = "; %d NOT SENT (said above)" % (event.unsent,) if event.unsent else ""
    if event.waiting:
        return "sending at the server's pace: %d sent, %d waiting, about %d s more%s" % (
            event.sent, event.waiting, round(event.eta), refused)
    return "send queue empty: %d sent at the server's pace%s" % (event.sent, refused)


def pasteQuestion(lines: int, seconds: float, target: str) -> str:
    """What the console asks before sending a paste of C{lines} lines (as weechat does)."""
    return "paste %d lines to %s? At the server's pace that takes about %d s. [y/N] " % (
        lines, target, round(seconds))


#: What every refusal hint says of itself (docs/security.md, "Refusal hints").
UNAUTHENTICATED_HINT = "UNAUTHENTICATED: the relay could forge or hide this"
#: The same, for a hint sealed over the pairwise session with its author.
AUTHENTICATED_HINT = "authenticated: it came over your protected session with %s"
#: What a sender can do about a refusal a hint names.
HINT_ADVICE = {
    "expired": "check your clock; or the relay held it back",
    "from-future": "check your clock; or the relay shifted it",
    "identity-changed": "their client pinned another key for you: read them your identity key (%(fingerprint)s)",
    "signed-by-other": "their client pinned another key for you: read them your identity key (%(fingerprint)s)",
    "lower-layer": "their side of %(where)s is on a higher layer",
    "unprotected": "their side of %(where)s is on a higher layer",
    "no-key": "they have no key for %(where)s: pass it on out of band",
    "tampered": "a wrong passphrase looks the same: compare %(fingerprint)s with them",
}


def _excerpt(body: str, size: int = 40) -> str:
    body = " / ".join(typed(body).splitlines())
    return "'%s'" % (body if len(body) <= size else body[: size - 1] + "…",)


def hintNote(event: ev.RefusalHint, spell: Spell) -> str:
    """
    A member's client says it could not open messages of ours: said as
    what it is, a claim nobody authenticated, with what we can do.
    """
    where = event.by if event.direct else event.target
    place = "to them" if event.direct else "in %s" % (event.target,)
    reason = REASONS.get(event.reason, event.reason)
    saidHow = AUTHENTICATED_HINT % (event.by,) if event.authenticated else UNAUTHENTICATED_HINT
    if not event.msgids:
        return (
            "%s's client says it could not open %d message(s) of yours %s (%s), naming none you sent there: "
            "ignored (%s)" % (event.by, event.count, place, reason, saidHow)
        )
    if event.count == 1:
        what = "your message %s %s" % (_excerpt(event.bodies[-1]), place)
    else:
        what = "%d of your messages %s, the last %s" % (event.count, place, _excerpt(event.bodies[-1]))
    advice = HINT_ADVICE.get(event.reason)
    said = "%s's client says it could not open %s: %s" % (event.by, what, reason)
    if advice is not None:
        fingerprint = spell("fingerprint", [where])
        said += "; " + advice % {"where": where, "fingerprint": fingerprint}
    return "%s -- %s" % (said, saidHow)


def notReadMark(event: ev.RefusalHint) -> str:
    """What the echo of one of our messages a hint names gets."""
    how = "over your session" if event.authenticated else "unauthenticated"
    return "not read by %s: %s (%s)" % (event.by, REASONS.get(event.reason, event.reason), how)


__all__ = [
    "AUTHENTICATED_HINT",
    "MARKS",
    "hintNote",
    "notReadMark",
    "UNAUTHENTICATED_HINT",
    "ctcpRequestNote",
    "keySetNote",
    "keyLostNote",
    "layerSetNote",
    "nickUnconfirmedNote",
    "placeOf",
    "queuedNote",
    "typed",
    "unsentNote",
    "NO_REPLAY_CACHE",
    "REASONS",
    "Spell",
    "loweringNote",
    "missingNote",
    "rejectedNote",
    "rejectionText",
    "spellConsole",
    "weakPassphraseWarning",
    "reorderedNote",
    "pacedNote",
    "paceProgressNote",
    "pasteQuestion",
    "keyNotEnteredNote",
    "layerAnnouncedNote",
    "groupedNote",
]
