"""What a receiver makes of a line: an accepted message or a typed refusal."""

from __future__ import annotations

from typing import Any, NamedTuple, Optional, Tuple

import attr

from securechat.codec.errors import CodecError


class Accepted(NamedTuple):
    """
    A message to show, with what the layer lets the receiver claim about it.

    C{sender} is the nick the relay reported; on protected layers it was
    checked against the sealed sender.  C{missing} and C{reordered} come from
    the sealed sequence number: what the relay dropped or held back.

    A NamedTuple rather than frozen attrs: one is made for every message
    received, and a tuple is cheaper to build.
    """

    layer: str
    sender: str
    target: str
    body: str
    protection: str
    msgid: Optional[str] = None
    seq: Optional[int] = None
    sent_at: Optional[int] = None
    missing: int = 0
    reordered: bool = False
    #: On C{signed}: the signing key's fingerprint and the trust store's
    #: status for it (C{first-use} or C{verified}).
    signer: Optional[str] = None
    trust: Optional[str] = None
    #: On C{signed}: what the author's view of the room told us
    #: (L{securechat.codec.views.ViewFinding}s).
    views: Tuple[Any, ...] = ()
    #: On C{forward}: the sender chain's id (the stream its views name).
    stream: Optional[bytes] = None


@attr.s(frozen=True, slots=True, auto_attribs=True, eq=False)
class Rejected:
    """A line (or a chunked message) refused, with the claimed sender and why."""

    layer: Optional[str]
    sender: str
    target: str
    error: CodecError

    @property
    def reason(self) -> str:
        """The error's slug, e.g. C{"replayed"}."""
        return self.error.reason

    @property
    def description(self) -> str:
        """The error's sentence for people."""
        return str(self.error)
