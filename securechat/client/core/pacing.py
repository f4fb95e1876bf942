"""
The client's own copy of the server's flood bucket, without I/O.

IRC servers pace a client that sends fast (our relay: 8 lines a second
after a burst of 40; ngIRCd harder): the lines wait in the server's socket,
unread.  A sealed line carries the time it was sealed, and receivers refuse
it once older than the freshness window (C{expired}).  So a long paste sealed
when typed loses its tail.  The session keeps what the user typed in its
own queue instead, and seals each message only when the L{Pacer} says the
server will read it now: a line is never older on arrival than the time it
waited in a server's socket within the bucket's slack.

Every line the session writes (PONG, JOIN, the sealed chunks) costs a token
(L{Pacer.spent}), as at the server; a message leaves the queue when one
token is there (L{Pacer.ready}), and its chunks may take the bucket below
zero: the next one waits for them to be paid back.
"""

from __future__ import annotations

import attr


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Pace:
    """
    How fast a server reads us: C{burst} lines at once, then C{rate} lines a
    second.  Below the server's own figures, so that lines we write outside
    the queue (a PONG) and a message's extra chunks fit in the slack.
    """

    burst: int
    rate: float

    def __attrs_post_init__(self) -> None:
        if self.burst < 1 or self.rate <= 0:
            raise ValueError("a pace needs burst >= 1 and rate > 0")

    def seconds(self, lines: int) -> float:
        """How long C{lines} take from a full bucket at this pace."""
        return max(0.0, (lines - self.burst) / self.rate)


#: Our relay's documented defaults are 40 and 8/s (docs/operations.md,
#: --flood-burst and --flood-rate): keep a quarter of the burst and a tenth
#: of the rate in hand.
DEFAULT_PACE = Pace(burst=30, rate=7.2)
#: ngIRCd's default penalties, as measured here (ngIRCd 26): 60 PRIVMSGs
#: written at once were read 3 at once, then about 2.5 a second.
NGIRCD_PACE = Pace(burst=3, rate=2.0)
#: A server we do not know: RFC 1459's flood control (8.10: a client may
#: be 10 s ahead, each message costs 2 s), which ircd2 and its heirs keep.
UNKNOWN_PACE = Pace(burst=5, rate=0.5)
#: The server software (the version in 004, RPL_MYINFO) and its pace.
KNOWN_PACES = (
    ("securechat-", DEFAULT_PACE),
    ("ngircd-", NGIRCD_PACE),
)


def paceOf(version: str) -> Pace:
    """
    The pace of a server that says it runs C{version} (004).  A relay that
    lies gains nothing it does not have: it can hold our lines anyway.
    """
    lowered = version.lower()
    for prefix, pace in KNOWN_PACES:
        if lowered.startswith(prefix):
            return pace
    return UNKNOWN_PACE


class Pacer:
    """A token bucket kept on our side, fed the time by its caller (sans-IO)."""

    __slots__ = ("pace", "_tokens", "_stamp")

    def __init__(self, pace: Pace, now: float) -> None:
        self.pace = pace
        self._tokens = float(pace.burst)
        self._stamp = now

    def learn(self, pace: Pace) -> None:
        """The server's pace is known now (its 004): what is spent stays spent."""
        if pace != self.pace:
            self._tokens = min(self._tokens, float(pace.burst))
            self.pace = pace

    def refill(self, now: float) -> None:
        """A new connection: the server's bucket is full again, and so is ours."""
        self._tokens = float(self.pace.burst)
        self._stamp = now

    def _refill(self, now: float) -> None:
        elapsed = now - self._stamp
        if elapsed > 0:
            self._tokens = min(float(self.pace.burst), self._tokens + elapsed * self.pace.rate)
            self._stamp = now

    def spent(self, now: float, lines: int = 1) -> None:
        """C{lines} went to the server: the bucket may go below zero (owed)."""
        self._refill(now)
        self._tokens -= lines

    def ready(self, now: float) -> bool:
        """Whether the server would read one more line from us now."""
        self._refill(now)
        return self._tokens >= 1.0

    def waitTime(self, now: float) -> float:
        """Seconds until L{ready}."""
        self._refill(now)
        return max(0.0, (1.0 - self._tokens) / self.pace.rate)

    def eta(self, now: float, lines: int) -> float:
        """Seconds until C{lines} more (one each) will have left."""
        self._refill(now)
        return max(0.0, (lines - self._tokens) / self.pace.rate)

    @property
    def tokens(self) -> float:
        return self._tokens
