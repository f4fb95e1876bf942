"""
Views that agree, for people: what members' signed digests of a room
(L{securechat.codec.views}) told us, as events and their wording.

The codec compares each digest with our own view; here its findings
become events named with the nicks the user knows, and sentences that say
what happened and who did it.  Sans-IO, like the rest of the core.
"""

from __future__ import annotations

from typing import Callable, List, Optional

from ...codec import Accepted, Conversation
from ...codec import views as codecviews
from ...wire import Message
from . import events as ev


def afterJoin(
    message: Message,
    isMe: Callable[[Optional[str]], bool],
    stored: Callable[[str], Optional[Conversation]],
    codecFold: Callable[[str], str],
) -> None:
    """
    A JOIN to rooms we keep a conversation for: when it is ours, what was
    said there while we were out is no "withheld" (L{codecviews.ViewBook.rejoined});
    when it is a member's, what we said before it came is no "not reached"
    (L{codecviews.ViewBook.member_joined}).
    """
    if not message.params or not message.sourceNick:
        return
    ours = isMe(message.sourceNick)
    for room in message.params[0].split(","):
        conversation = stored(room)
        if conversation is None:
            continue
        if ours:
            conversation.views.rejoined()
        else:
            conversation.views.member_joined(codecFold(message.sourceNick))


def viewEvents(name: str, result: Accepted) -> List[ev.Event]:
    """The events of C{result}'s view findings, in the conversation C{name}."""
    events: List[ev.Event] = []
    for finding in result.views:
        if finding.kind == codecviews.SEEN:
            events.append(ev.SeenBy(name, result.sender, finding.first, finding.last, finding.seen_by))
        else:
            events.append(
                ev.ViewDiffers(name, result.sender, finding.member, finding.kind, finding.first, finding.last)
            )
    return events


def _numbers(first: int, last: int) -> str:
    return "#%d" % (first,) if first == last else "#%d-%d" % (first, last)


def _them(first: int, last: int) -> str:
    return "it" if first == last else "them"


def viewNote(event: ev.ViewDiffers) -> str:
    """One sentence: what differs between the reporter's view and ours, and who is to blame."""
    numbers, them = _numbers(event.first, event.last), _them(event.first, event.last)
    whose = "%s's" % (event.member,) if event.member else "a member's"
    if event.finding == codecviews.WITHHELD and event.first == 1:
        # A member we never heard: joining after they spoke looks the same.
        return "%s has seen %s %s, and you none of %s messages: the relay withheld them from you, " \
            "or they were said before you joined" % (
                event.reporter, whose, numbers, whose if event.member else "that member's")
    if event.finding == codecviews.WITHHELD:
        return "%s has seen %s %s, which never reached you: the relay withheld %s" % (
            event.reporter, whose, numbers, them)
    if event.finding == codecviews.NOT_REACHED:
        return "your %s never reached %s (not in what %s had received %ds after you sent %s): the relay withheld %s" % (
            numbers, event.reporter, event.reporter, codecviews.NOT_REACHED_GRACE, them, them)
    if event.finding == codecviews.DIFFERS:
        if event.member is None:
            return "%s's copy of %s is not the message you have" % (event.reporter, numbers)
        return (
            "%s's %s is not the same message for you and for %s: %s sent different messages to "
            "different members (compare with %s)" % (
                event.member, numbers, event.reporter, event.member, event.reporter)
        )
    if event.finding == codecviews.REWRITTEN:
        return (
            "%s's own history says %s was another message than the one you received: %s sends "
            "different messages to different members" % (event.reporter, numbers, event.reporter)
        )
    return "%s's view of the room differs from yours (%s %s)" % (event.reporter, event.finding, numbers)


def seenNote(event: ev.SeenBy) -> str:
    """Who has received our messages: C{your #3-5 seen by alice (#5: alice, carol)}."""
    text = "your %s seen by %s" % (_numbers(event.first, event.last), event.member)
    if len(event.seenBy) > 1:
        text += " (#%d: %s)" % (event.last, ", ".join(event.seenBy))
    return text
