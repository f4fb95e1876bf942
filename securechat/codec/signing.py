"""
The C{signed} layer's inner format: the envelope, signed by its sender.

What is sealed (inside the layer's AEAD, after the time, so the relay sees
none of it)::

    form u8 | public key 32 bytes (form 1 only) | Ed25519 signature 64 bytes | envelope

The signature covers a context string, the msgid, the token's time, the
public key (always, whether or not it is carried) and the whole packed
envelope.  Every member holds the room key and could make a valid token;
only the sender holds the identity key.  So a member cannot change any
field, move a message to another room or conversation (the target is
signed), claim another sender (the sender is signed, and bound to a key by
the trust store), re-stamp an old message with a new time, or give it a new
msgid to get it past the replay cache (both are signed).

Forms 2 and 3 are forms 0 and 1 followed, after the signature, by the
author's view of the room (L{securechat.codec.views}): a length byte and
that many bytes, signed under their own context so that no form's signed
data can be read as another's::

    form u8 (2 | 3) | public key (form 3) | signature | view length u8 | view | envelope

The key is carried (form 1) only when that costs no extra line, or opens
the sender's stream; otherwise (form 0) the receiver verifies with the key
pinned for the sender's nick.  Safe: the signature covers the key either
way, so a message verifies only under the very key that signed it, and a
receiver that has no pin says so (L{UnknownSigner}) rather than guessing.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

from securechat.codec.errors import BadSignature, Malformed, UnknownSigner
from securechat.codec.identity import PUBLIC_KEY_BYTES, SIGNATURE_BYTES, Identity, Verifier

SIGN_CONTEXT = b"securechat/v2 signed message\x00"
SIGN_VIEW_CONTEXT = b"securechat/v2 signed message with view\x00"
TIME_BYTES = 8
#: The first byte of the signed plaintext: is the public key carried?
KEY_OMITTED = 0
KEY_CARRIED = 1
#: Form bit: a view of the room follows the signature (docs/wire.md, "Views").
VIEW_FOLLOWS = 2
FORM_BYTES = 1
VIEW_LENGTH_BYTES = 1
MAX_VIEW_BYTES = 255


def signed_data(
    msgid: bytes, sent_at: int, public_key: bytes, envelope: bytes, view: Optional[bytes] = None
) -> bytes:
    """What the Ed25519 signature covers (docs/wire.md, "The signed layer" and "Views")."""
    time = sent_at.to_bytes(TIME_BYTES, "big")
    if view is None:
        return b"".join((SIGN_CONTEXT, msgid, time, public_key, envelope))
    return b"".join((SIGN_VIEW_CONTEXT, msgid, time, public_key, bytes((len(view),)), view, envelope))


def signed_size(envelope_bytes: int, carry_key: bool, view_bytes: Optional[int] = None) -> int:
    """The length of the signed plaintext of an envelope of C{envelope_bytes} (and a view of C{view_bytes})."""
    view = 0 if view_bytes is None else VIEW_LENGTH_BYTES + view_bytes
    return FORM_BYTES + (PUBLIC_KEY_BYTES if carry_key else 0) + SIGNATURE_BYTES + view + envelope_bytes


def sign_envelope(
    identity: Identity,
    msgid: bytes,
    sent_at: int,
    envelope: bytes,
    carry_key: bool = True,
    view: Optional[bytes] = None,
) -> bytes:
    """
    The plaintext to seal: the form, our public key if C{carry_key}, our
    signature, the C{view} if one is given (not empty), C{envelope}.
    """
    if view is not None and not 0 < len(view) <= MAX_VIEW_BYTES:
        raise ValueError(f"a view is 1 to {MAX_VIEW_BYTES} bytes, not {len(view)}")
    signature = identity.sign(signed_data(msgid, sent_at, identity.public_key, envelope, view))
    form = (KEY_CARRIED if carry_key else KEY_OMITTED) | (0 if view is None else VIEW_FOLLOWS)
    parts = [bytes((form,))]
    if carry_key:
        parts.append(identity.public_key)
    parts.append(signature)
    if view is not None:
        parts += [bytes((len(view),)), view]
    parts.append(envelope)
    return b"".join(parts)


class Opened(NamedTuple):
    """A signed plaintext whose signature verified."""

    public_key: bytes
    envelope: bytes
    #: The author's view of the room (forms 2 and 3), else None.
    view: Optional[bytes]
    #: The data the signature covers, and the signature: what the view chains hash.
    signed: bytes
    signature: bytes


def open_signed(
    verifier: Verifier, plaintext: bytes, msgid: bytes, sent_at: int, pinned: Optional[bytes]
) -> Opened:
    """
    The public key, envelope, view and signed data of a signed plaintext whose token was
    stamped C{sent_at}; C{pinned} is the key pinned for the nick the relay
    names as sender (used when the key is not carried).  L{BadSignature}
    unless the signature verifies, L{UnknownSigner} when the key is neither
    carried nor pinned; nothing of the envelope is read before it verifies.
    """
    if not plaintext:
        raise Malformed("the signed envelope is empty")
    form = plaintext[0]
    with_view = form in (KEY_OMITTED | VIEW_FOLLOWS, KEY_CARRIED | VIEW_FOLLOWS)
    if with_view:
        form &= ~VIEW_FOLLOWS
    if form == KEY_CARRIED:
        start = FORM_BYTES + PUBLIC_KEY_BYTES
        public_key = plaintext[FORM_BYTES:start]
    elif form == KEY_OMITTED:
        if pinned is None:
            raise UnknownSigner()
        start = FORM_BYTES
        public_key = pinned
    else:
        raise Malformed(f"unknown signed form {form}")
    if len(plaintext) < start + SIGNATURE_BYTES:
        raise Malformed("the signed envelope is too short")
    signature = plaintext[start : start + SIGNATURE_BYTES]
    rest = start + SIGNATURE_BYTES
    view: Optional[bytes] = None
    if with_view:
        if len(plaintext) <= rest or len(plaintext) < rest + VIEW_LENGTH_BYTES + plaintext[rest]:
            raise Malformed("the signed view is cut short")
        if plaintext[rest] == 0:
            raise Malformed("the signed view is empty (an empty view is left out)")
        view = plaintext[rest + VIEW_LENGTH_BYTES : rest + VIEW_LENGTH_BYTES + plaintext[rest]]
        rest += VIEW_LENGTH_BYTES + len(view)
    envelope = plaintext[rest:]
    signed = signed_data(msgid, sent_at, public_key, envelope, view)
    if not verifier.verify(public_key, signature, signed):
        if form == KEY_OMITTED:
            raise BadSignature(
                "not signed by the key pinned for this nick (the message does not carry its key:"
                " forged, re-attributed, or the sender's identity changed)"
            )
        raise BadSignature()
    return Opened(public_key, envelope, view, signed, signature)
