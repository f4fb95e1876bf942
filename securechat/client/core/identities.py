"""
How identities read on screen: the marks of signed messages, the
fingerprint lines, the trust changes.  Words only; the console and any
later UI draw them.

Three states must never look alike: a key C{verified} out of band, a key
pinned at C{first use} (believed, not checked), and a key that
I{changed} (refused: it is never shown as a message, only as an alert).
"""

from __future__ import annotations

from typing import List, Optional

from ...codec.forward import PROTECTION as FORWARD_PROTECTION
from . import events as ev

#: The mark of a signed message per trust status.
#: The trust of a message refused as identity-changed, kept, and shown
#: once the user accepted the new key (/trust).
KEPT_MARK = "kept-until-trust"
#: The same, shown once the user verified the new key (/verify).
KEPT_VERIFIED_MARK = "kept-until-verify"
TRUST_MARKS = {
    "verified": "signed, verified",
    "first-use": "signed, first use",
    KEPT_MARK: "signed, NEW KEY: held until you /trust",
    KEPT_VERIFIED_MARK: "signed, NEW KEY: held until you /verify",
}


def signedMark(event: ev.IncomingMessage) -> Optional[str]:
    """The mark of a signed message, L{None} for other layers."""
    if event.signer is None:
        return None
    if event.protection == FORWARD_PROTECTION:
        # A room on sender chains: its batch signed by the sender's identity, as trusted.
        return "forward, " + TRUST_MARKS.get(event.trust or "", "signed, %s" % (event.trust,)).split(", ", 1)[-1]
    if event.protection == "session":
        # A pairwise session's message: its peer's identity, as trusted.
        return "session, " + TRUST_MARKS.get(event.trust or "", "signed, %s" % (event.trust,)).split(", ", 1)[-1]
    return TRUST_MARKS.get(event.trust or "", "signed, %s" % (event.trust,))


def identityLines(event: ev.Fingerprint) -> List[str]:
    """Our identity's fingerprint, and a nick's pinned key with its status."""
    lines = []
    if event.pinned is not None:
        status = (
            "verified" if event.trust == "verified" else "first use, not verified (/verify %s ...)" % (event.target,)
        )
        lines.append("%s's identity key: %s (%s)" % (event.target, event.pinned, status))
    if event.identity is not None:
        lines.append("your identity key: %s (read it to the others; they /verify it)" % (event.identity,))
    return lines


def trustLine(event: ev.TrustChanged) -> str:
    if event.status == "verified":
        return "%s's key %s is now verified" % (event.nick, event.fingerprint)
    return "%s's key %s is accepted (first use: compare it out of band, then /verify)" % (event.nick, event.fingerprint)
