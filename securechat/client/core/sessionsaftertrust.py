"""
A pairwise session refused for its key is asked again once the user
accepts that key (C{/trust nick}, C{/verify nick fp}), without I/O.

The handshake of a session is signed by the peer's identity key, which the
trust store judges for the peer's nick (L{securechat.client.core.pairwise}):
after a rename the key is pinned to the old nick ("signed by bob's key"),
after a reinstall it is a new key ("identity changed"), and the session is
refused.  The user is told to C{/trust} (or C{/verify}); once they do:

  - Our opening was refused (its answer), and what the user wrote still
    waits for it: a new opening goes at once, and what waited is sealed
    by it when it is ready (never sent in clear).  The user is told
    (L{ASKING_AGAIN}).  If what waited was already said "not sent" (the
    handshake's timeout), nothing is opened and nothing is sent: the next
    message starts a session, judged by the key accepted now.
  - The peer's opening was refused (its finish): nothing of ours waits,
    but the peer believes it holds a session with us, and what it seals
    there cannot be read here.  A new opening goes too, which replaces
    the peer's session: what it writes next can be read.  Such a refusal
    is remembered L{REMEMBERED} seconds (the time to compare a
    fingerprint out of band).
  - The key accepted is not the one the session was refused for (another
    line offered another key since): nothing is opened (it would be
    refused again), and the user is told (L{NOT_ASKED}).
  - Nothing refused for the nick (the key was refused in a room, say):
    nothing is opened; the next message starts a session.
  - Each refusal is asked again once: a second C{/trust} has no key to
    accept, a C{/verify} after it finds no refusal left.

A new opening is one more line we write unasked: it keeps to the budgets
of openings (L{securechat.client.core.sessionanswers}: per nick, in all,
and the server's pace), and waits for them (L{expire}, the session's
upkeep) while what it would carry still waits.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Callable

import attr

from . import events as ev
from .pairwise import Pairwise
from .rules import CommandError, Server

#: What the user is told when a session is asked again.
ASKING_AGAIN = "session with %s: asking again after /trust"
#: What the user is told when the key accepted is not the one a session was refused for.
NOT_ASKED = "session with %s: not asked again: the key you accepted is not the one its session was refused for"
#: Seconds a refusal of the peer's opening is remembered.
REMEMBERED = 600.0
#: Refusals remembered at once (the oldest forgotten first): a relay can invent nicks.
MAX_REFUSALS = 32


@attr.s(frozen=True, slots=True, auto_attribs=True)
class RefusedSession:
    """
    A handshake with C{nick} refused for C{key}: C{ours} (the answer to our
    opening) or the peer's; C{accepted}: asked again when the budget allows.
    """

    nick: str
    key: bytes
    ours: bool
    refused: float
    accepted: bool = False


class SessionsAfterTrust:
    """Sessions refused for their key, asked again after /trust (see the module's docstring)."""

    def __init__(
        self,
        server: Server,
        pairwise: Pairwise,
        emit: Callable[[ev.Event], None],
        clock: Callable[[], float],
    ) -> None:
        self._server = server
        self._pairwise = pairwise
        self.emit = emit
        self._clock = clock
        self._refusals: OrderedDict[str, RefusedSession] = OrderedDict()
        pairwise.onRefused(self.refused)

    def __len__(self) -> int:
        return len(self._refusals)

    def refused(self, nick: str, key: bytes, ours: bool) -> None:
        """A handshake with C{nick} was refused for C{key} (the latest refusal per nick counts)."""
        folded = self._server.codecFold(nick)
        self._refusals.pop(folded, None)
        self._refusals[folded] = RefusedSession(nick, key, ours, self._clock())
        while len(self._refusals) > MAX_REFUSALS:
            self._refusals.popitem(last=False)

    def trusted(self, nick: str) -> None:
        """The user accepted a key for C{nick} (/trust, /verify): ask again if a session was refused for it."""
        folded = self._server.codecFold(nick)
        refusal = self._refusals.get(folded)
        if refusal is None or refusal.accepted:
            return
        pin = self._server.trust.pinned(folded)
        if pin is None or pin.public_key != refusal.key:
            self.emit(ev.Notice(NOT_ASKED % (nick,)))
            return
        self._refusals[folded] = attr.evolve(refusal, nick=nick, accepted=True)
        self._askAccepted()

    def expire(self) -> None:
        """Forget refusals nothing waits for any more; ask the accepted ones the budget now allows."""
        now = self._clock()
        for folded, refusal in list(self._refusals.items()):
            if not self._stillWaits(refusal, now):
                del self._refusals[folded]
        self._askAccepted()

    def _stillWaits(self, refusal: RefusedSession, now: float) -> bool:
        """Whether asking again would still carry something: ours held, or the peer's session."""
        if self._pairwise.hasSession(refusal.nick):
            return False  # a session came since (the peer's opening, judged by the key accepted)
        if refusal.ours:
            return self._pairwise.refusedOpening(refusal.nick)
        if now - refusal.refused >= REMEMBERED:
            return False
        # An opening of ours under way, not refused, is judged by the key accepted: nothing to add.
        return self._pairwise.refusedOpening(refusal.nick) or not self._pairwise.starting(refusal.nick)

    def _askAccepted(self) -> None:
        now = self._clock()
        for folded, refusal in list(self._refusals.items()):
            if not refusal.accepted:
                continue
            if not self._stillWaits(refusal, now):
                del self._refusals[folded]
                continue
            if not self._pairwise.answers.allows(folded):
                continue  # over a budget of openings: asked at a later upkeep, while it still waits
            del self._refusals[folded]
            self._pairwise.answers.spent(folded)
            try:
                self._pairwise.askAgain(refusal.nick)
            except CommandError as error:
                self.emit(ev.Error("pairwise session with %s: %s" % (refusal.nick, error), "session"))
                continue
            self.emit(ev.Notice(ASKING_AGAIN % (refusal.nick,)))


__all__ = ["ASKING_AGAIN", "MAX_REFUSALS", "NOT_ASKED", "REMEMBERED", "RefusedSession", "SessionsAfterTrust"]
