"""
The C{signed} layer's inner format: the envelope, signed by its sender.

What is sealed (inside the Fernet token, so the relay sees none of it)::

    public key 32 bytes | Ed25519 signature 64 bytes | envelope (envelope.py)

The signature covers a context string, the token's timestamp, the public
key and the whole packed envelope (version, msgid, stream, sequence number,
sender, target and body).  Every member holds the room key and could make a
valid Fernet token; only the sender holds the identity key.  So a member
cannot change any field, move a message to another room or conversation
(the target is signed), claim another sender (the sender is signed, and
bound to a key by the trust store), or re-stamp an old message with a new
time to get it past the replay cache (the time is signed).
"""

from __future__ import annotations

from typing import Tuple

from securechat.codec.errors import BadSignature, Malformed
from securechat.codec.identity import PUBLIC_KEY_BYTES, SIGNATURE_BYTES, Identity, Verifier

SIGN_CONTEXT = b"securechat/v1 signed envelope\x00"
SIGNED_HEADER_BYTES = PUBLIC_KEY_BYTES + SIGNATURE_BYTES
TIME_BYTES = 8


def _signed_data(sent_at: int, public_key: bytes, envelope: bytes) -> bytes:
    return b"".join((SIGN_CONTEXT, sent_at.to_bytes(TIME_BYTES, "big"), public_key, envelope))


def sign_envelope(identity: Identity, sent_at: int, envelope: bytes) -> bytes:
    """The plaintext to seal: our public key, our signature, C{envelope}."""
    signature = identity.sign(_signed_data(sent_at, identity.public_key, envelope))
    return b"".join((identity.public_key, signature, envelope))


def open_signed(verifier: Verifier, plaintext: bytes, sent_at: int) -> Tuple[bytes, bytes]:
    """
    (public key, envelope bytes) of a signed plaintext whose token was
    stamped C{sent_at}; L{BadSignature} unless the signature verifies, and
    nothing of the envelope is read before it does.
    """
    if len(plaintext) < SIGNED_HEADER_BYTES:
        raise Malformed("the signed envelope is too short")
    public_key = plaintext[:PUBLIC_KEY_BYTES]
    signature = plaintext[PUBLIC_KEY_BYTES:SIGNED_HEADER_BYTES]
    envelope = plaintext[SIGNED_HEADER_BYTES:]
    if not verifier.verify(public_key, signature, _signed_data(sent_at, public_key, envelope)):
        raise BadSignature()
    return public_key, envelope
