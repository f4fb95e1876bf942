"""
CTCP, the C{\\x01WORD text\\x01} framing IRC clients put inside a message
body: C{ACTION} is C{/me}; the others (C{VERSION}, C{PING}, C{TIME}...)
are requests that clients traditionally answer.

securechat answers none of them: an answer tells whoever asks (the relay
included, which may ask under any nick) which client runs, when, and
whether a protected request was read, that is whether we hold the key.
A request is shown as one line and that is all.  In a keyed room the
framing travels inside the sealed body, so an action is as protected as
any message, and the relay cannot turn a message into an action.
"""

from __future__ import annotations

import attr

from . import events as ev

DELIMITER = "\x01"
ACTION = "ACTION"
#: The longest CTCP command word we name on screen (the rest is cut).
MAX_COMMAND = 32


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Ctcp:
    """A CTCP body: its command word (upper case) and the text after it."""

    command: str
    text: str


def parse(body: str) -> Ctcp | None:
    """
    The CTCP in C{body}, or L{None} when it is ordinary text.  A body is
    CTCP when it starts with C{\\x01}; the closing C{\\x01} is optional, as
    clients send it both ways.
    """
    if not body.startswith(DELIMITER) or len(body) < 2:
        return None
    inner = body[1:]
    if inner.endswith(DELIMITER):
        inner = inner[:-1]
    command, _, text = inner.partition(" ")
    if not command or DELIMITER in command:
        return None
    return Ctcp(command.upper()[:MAX_COMMAND], text)


#: A room's layer, announced inside the protection (docs/wire.md, "Layer
#: announcements"): the relay cannot forge it, members follow a raise.
LAYER = "SC-LAYER"


def layerAnnouncement(layer: str) -> str:
    """The sealed body that tells the room its layer is now C{layer}."""
    return f"{DELIMITER}{LAYER} {layer}{DELIMITER}"


def action(text: str) -> str:
    """The body that carries C{/me text}."""
    return f"{DELIMITER}{ACTION} {text}{DELIMITER}"


def split(body: str) -> tuple[str | None, Ctcp | None]:
    """
    C{(action text, None)} for an action, C{(None, request)} for another
    CTCP, C{(None, None)} for ordinary text.
    """
    ctcp = parse(body)
    if ctcp is None:
        return None, None
    if ctcp.command == ACTION:
        return ctcp.text, None
    return None, ctcp


def incoming(message: ev.IncomingMessage) -> ev.Event:
    """
    What an accepted message is: an L{ev.Action}, an L{ev.CtcpRequest}
    (shown, never answered), or the message itself.
    """
    text, request = split(message.body)
    if text is not None:
        return ev.Action(*attr.astuple(attr.evolve(message, body=text), recurse=False))
    if request is not None:
        return ev.CtcpRequest(
            message.target,
            message.sender,
            request.command,
            message.layer,
            message.protection,
            message.direct,
        )
    return message
