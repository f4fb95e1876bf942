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

The key is carried (form 1) only when that costs no extra line, or opens
the sender's stream; otherwise (form 0) the receiver verifies with the key
pinned for the sender's nick.  Safe: the signature covers the key either
way, so a message verifies only under the very key that signed it, and a
receiver that has no pin says so (L{UnknownSigner}) rather than guessing.
"""

from __future__ import annotations

from typing import Optional, Tuple

from securechat.codec.errors import BadSignature, Malformed, UnknownSigner
from securechat.codec.identity import PUBLIC_KEY_BYTES, SIGNATURE_BYTES, Identity, Verifier

SIGN_CONTEXT = b"securechat/v2 signed message\x00"
TIME_BYTES = 8
#: The first byte of the signed plaintext: is the public key carried?
KEY_OMITTED = 0
KEY_CARRIED = 1
FORM_BYTES = 1


def signed_data(msgid: bytes, sent_at: int, public_key: bytes, envelope: bytes) -> bytes:
    """What the Ed25519 signature covers (docs/wire.md, "The signed layer")."""
    return b"".join((SIGN_CONTEXT, msgid, sent_at.to_bytes(TIME_BYTES, "big"), public_key, envelope))


def signed_size(envelope_bytes: int, carry_key: bool) -> int:
    """The length of the signed plaintext of an envelope of C{envelope_bytes}."""
    return FORM_BYTES + (PUBLIC_KEY_BYTES if carry_key else 0) + SIGNATURE_BYTES + envelope_bytes


def sign_envelope(identity: Identity, msgid: bytes, sent_at: int, envelope: bytes, carry_key: bool = True) -> bytes:
    """The plaintext to seal: the form, our public key if C{carry_key}, our signature, C{envelope}."""
    signature = identity.sign(signed_data(msgid, sent_at, identity.public_key, envelope))
    if carry_key:
        return b"".join((bytes((KEY_CARRIED,)), identity.public_key, signature, envelope))
    return b"".join((bytes((KEY_OMITTED,)), signature, envelope))


def open_signed(
    verifier: Verifier, plaintext: bytes, msgid: bytes, sent_at: int, pinned: Optional[bytes]
) -> Tuple[bytes, bytes]:
    """
    (public key, envelope bytes) of a signed plaintext whose token was
    stamped C{sent_at}; C{pinned} is the key pinned for the nick the relay
    names as sender (used when the key is not carried).  L{BadSignature}
    unless the signature verifies, L{UnknownSigner} when the key is neither
    carried nor pinned; nothing of the envelope is read before it verifies.
    """
    if not plaintext:
        raise Malformed("the signed envelope is empty")
    form = plaintext[0]
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
    envelope = plaintext[start + SIGNATURE_BYTES :]
    if not verifier.verify(public_key, signature, signed_data(msgid, sent_at, public_key, envelope)):
        if form == KEY_OMITTED:
            raise BadSignature(
                "not signed by the key pinned for this nick (the message does not carry its key:"
                " forged, re-attributed, or the sender's identity changed)"
            )
        raise BadSignature()
    return public_key, envelope
