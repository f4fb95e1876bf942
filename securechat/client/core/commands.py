"""
The one command layer every face speaks: what the user asked for, as typed
values, and the one place that carries them out on the session.

Each face reads its own syntax (the console's C{/layer! fernet #lab}, a
JSON object, a message to C{*securechat}) into one of these values and
hands it to L{execute}; none of them calls the session's commands itself,
so a rule about a command (an action is one line; a layer is one the codec
knows; lowering needs C{force}) is written once.  A refusal is an exception
that carries data (L{securechat.client.core.rules.NeedsForce}), and each
face spells the advice in its own syntax.

A key (L{Key}) is a command like the others, but not carried out here:
its passphrase is asked (never part of the command, so never in its
repr) and derived off the reactor by the adapters, which then call the
session (L{securechat.client.adapters.headless.HeadlessClient.key}, the
proxy's C{*securechat}).
"""

from __future__ import annotations

from typing import Optional, Union

import attr

from . import ctcp
from . import events as ev
from .rules import CommandError, NeedsForce
from .session import ClientSession
from .wording import Spell, keyLostNote, keyNotEnteredNote, loweringNote


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Join:
    room: str


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Part:
    room: str
    reason: str = ""


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Say:
    """A message; C{force} sends it in clear to a keyed peer whose key no longer applies."""

    target: str
    text: str
    force: bool = False


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Me:
    """An action (C{/me}): the CTCP framing is the body, sealed like any message."""

    target: str
    text: str
    force: bool = False


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Layer:
    """Switch C{target} to C{layer}; a lower one than it has needs C{force}."""

    target: str
    layer: str
    force: bool = False


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Remove:
    """C{/remove nick} in a room on the forward layer: new chains for those who stay."""

    room: str
    nick: str


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Fingerprint:
    target: str


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Trust:
    nick: str


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Verify:
    nick: str
    fingerprint: str


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Nick:
    nick: str


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Names:
    room: str


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Who:
    mask: str


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Topic:
    """Ask C{room}'s topic, or set it to C{text} (plain: the relay reads it)."""

    room: str
    text: Optional[str] = None


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Whois:
    nick: str


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Away:
    """Be marked away with C{text}, or back with none."""

    text: str = ""


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Key:
    """
    Key C{target} (on C{layer}, or the one chosen, else fernet-ttl): with a
    passphrase the face asks for, or (C{new}) a generated room secret.  A
    lower layer than the target has needs C{force}.
    """

    target: str
    layer: Optional[str] = None
    force: bool = False
    new: bool = False


Command = Union[Join, Part, Say, Me, Layer, Remove, Fingerprint, Trust, Verify, Nick, Names, Who, Topic, Whois, Away]
#: What carrying out a command may answer at once (the face shows it, or
#: returns it to its caller): a message sent or queued, a layer set, a
#: fingerprint or a trust change; most answers come later, as events.
Answer = Optional[ev.Event]


def execute(session: ClientSession, command: Command) -> Answer:
    """
    Carry out C{command} on C{session}: the one place the faces' commands
    reach it.  L{CommandError} (or L{securechat.client.core.rules.NotConnected})
    with a sentence and its data when it cannot be; what it answers at once,
    if anything.
    """
    if isinstance(command, Say):
        return session.sendMessage(command.target, command.text, command.force)
    if isinstance(command, Me):
        if not command.text.strip():
            raise CommandError("nothing to send")
        if "\n" in command.text:
            raise CommandError("an action is one line")
        return session.sendMessage(command.target, ctcp.action(command.text), command.force)
    if isinstance(command, Layer):
        return session.setLayer(command.target, command.layer, command.force)
    if isinstance(command, Remove):
        session.removeMember(command.room, command.nick)
        return None
    if isinstance(command, Fingerprint):
        return session.fingerprintEvent(command.target)
    if isinstance(command, Trust):
        return session.trustNick(command.nick)
    if isinstance(command, Verify):
        return session.verifyNick(command.nick, command.fingerprint)
    if isinstance(command, Join):
        session.join(command.room)
    elif isinstance(command, Part):
        session.part(command.room, command.reason)
    elif isinstance(command, Nick):
        session.changeNick(command.nick)
    elif isinstance(command, Names):
        session.names(command.room)
    elif isinstance(command, Who):
        session.who(command.mask)
    elif isinstance(command, Topic):
        session.topic(command.room, command.text)
    elif isinstance(command, Whois):
        session.whois(command.nick)
    elif isinstance(command, Away):
        session.setAway(command.text)
    else:
        raise TypeError("not a command: %r" % (command,))
    return None


def advice(error: NeedsForce, spell: Spell, insistOnce: bool = True) -> str:
    """
    What lowering protection would lose and how to insist, spelt by
    C{spell} (each face's own syntax, so the advice works when typed), from
    the data C{error} carries; C{insistOnce}: the face can send one line in
    clear anyway.
    """
    if error.lowering is not None:
        return loweringNote(*error.lowering, spell=spell)
    if error.keyLost is not None and error.keyRestored:
        return "not sent: " + keyNotEnteredNote(error.keyLost[0], error.keyLost[1], spell)
    if error.keyLost is not None:
        return keyLostNote(*error.keyLost, spell=spell, insistOnce=insistOnce)
    return str(error)


__all__ = [
    "Answer", "Away", "Command", "Fingerprint", "Join", "Key", "Layer", "Me", "Names", "Nick", "Part",
    "Remove", "Say", "Topic", "Trust", "Verify", "Who", "Whois", "advice", "execute",
]
