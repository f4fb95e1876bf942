"""
The codec's typed verdicts on a received line.

Every way a line can fail is a L{CodecError} subclass with a short C{reason}
slug (for logs, tests and the demo's table) and a sentence a person
understands (C{str(error)}).  Before a MAC has verified, the receiver cannot
tell a forgery from a wrong key, so it only ever says L{Tampered} (or
L{Malformed} for lines that do not even have the right shape); the precise
reasons come after verification.
"""

from __future__ import annotations

from typing import ClassVar, Optional


class CodecError(Exception):
    """A received line was refused; C{reason} says why in one word."""

    reason: ClassVar[str] = "error"
    summary: ClassVar[str] = "the message was refused"

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail or self.summary)

    @property
    def sentence(self) -> str:
        """The human sentence (same as C{str(self)})."""
        return str(self)


class Tampered(CodecError):
    """Bad MAC or wrong key: the only thing a receiver knows before verification."""

    reason = "tampered"
    summary = "altered in transit, or sealed with another key (wrong passphrase or room)"


class Expired(CodecError):
    """A verified token older than TTL plus the allowed skew, or below the replay floor."""

    reason = "expired"
    summary = "genuine but too old: sent longer ago than the time-to-live allows"


class FromFuture(CodecError):
    """A verified token stamped further in the future than the allowed clock skew."""

    reason = "from-future"
    summary = "genuine but stamped in the future, beyond the allowed clock skew"


class Replayed(CodecError):
    """A verified token whose message id was already accepted."""

    reason = "replayed"
    summary = "genuine but already delivered once: a replay"


class Misattributed(CodecError):
    """The sealed sender differs from the nick the relay says sent the line."""

    reason = "re-attributed"
    summary = "genuine but re-attributed: it was sealed by someone else"


class WrongTarget(CodecError):
    """The sealed target differs from the room (or pair) where the line arrived."""

    reason = "wrong-room"
    summary = "genuine but moved: it was sealed for another room or conversation"


class Malformed(CodecError):
    """The line (or a verified envelope) does not have the codec's structure."""

    reason = "malformed"
    summary = "not a well-formed securechat line"


class UnsupportedVersion(CodecError):
    """
    A protected line (or a sealed envelope) of another wire version than
    this client reads: an older securechat's, or a newer one's.  Judged
    from the line's marker, before any key is used (docs/wire.md,
    "Versions and evolution").
    """

    reason = "other-version"
    summary = "sealed in another securechat wire version than this client reads (upgrade the older side)"


class UnknownSigner(CodecError):
    """
    A C{signed} message that left out its signer's public key (to fit a
    line) from a nick with no pinned key here: it cannot be verified yet.
    The sender's next short message carries the key.
    """

    reason = "unknown-signer"
    summary = "signed, but its key was left out to save a line and is not known here yet"


class Incomplete(CodecError):
    """A chunked message that never completed within the reassembly bounds."""

    reason = "incomplete"
    summary = "some chunks of the message never arrived"


class Downgraded(CodecError):
    """A plain or weaker-layer line in a conversation keyed for a stronger layer."""

    reason = "unprotected"
    summary = "unprotected: not from a keyed member (the room requires a stronger layer)"


class SealedLower(CodecError):
    """
    A keyed member's message, authenticated with the room's key, but sealed
    on a lower layer than the conversation requires: refused, and called
    what it is (not "unprotected": it is the member's, on the wrong layer).
    """

    reason = "lower-layer"
    summary = "sealed by a keyed member, but on a lower layer than the room asks"


class NoKey(CodecError):
    """A protected line in a conversation that has no key to open it."""

    reason = "no-key"
    summary = "protected, but this conversation has no key for it (set a passphrase)"


class BadSignature(CodecError):
    """
    The MAC verified but the Ed25519 signature does not: someone holding the
    room key (a member) altered or forged the message, or re-stamped it.
    """

    reason = "bad-signature"
    summary = "sealed with the room key but not validly signed: forged or altered by a key holder"


class IdentityChanged(CodecError):
    """A validly signed message from a nick pinned to another key (trust on first use)."""

    reason = "identity-changed"
    summary = "signed by a key that is not the one pinned for this nick (/trust NICK to accept it)"
    #: The message's body: genuine (the room's key and the new signature
    #: hold), refused only for its key, so the client may keep it until the
    #: user decides (L{None} when it was not decoded).
    held: Optional[str] = None
    #: The fingerprint of the key that signed the held message: it is shown
    #: after /trust only if that is the key the user accepted.
    held_signer: Optional[str] = None


class SignedByOther(CodecError):
    """A validly signed message whose key is pinned to another nick than the sender's."""

    reason = "signed-by-other"
    summary = "signed by another member's key than the sender's nick"


class TrustStoreFull(CodecError):
    """No room for one more pinned key: refused rather than shown unchecked."""

    reason = "trust-full"
    summary = "signed by an unknown key, and the trust store is full"


ALL_ERRORS = (
    Tampered,
    Expired,
    FromFuture,
    Replayed,
    Misattributed,
    WrongTarget,
    Malformed,
    UnsupportedVersion,
    Incomplete,
    Downgraded,
    NoKey,
    BadSignature,
    UnknownSigner,
    IdentityChanged,
    SignedByOther,
    TrustStoreFull,
)
