"""
Re-attribution that survives the envelope check, on aes-ctr only.

The envelope seals the sender's nick, so rewriting the IRC prefix alone is
caught on every keyed layer.  But aes-ctr is a stream cipher without a
MAC, and the envelope layout is public (Kerckhoffs): the sealed nick sits
at a known offset and the relay knows its value (it is the prefix nick).
(casefolded, as the wire seals it).  XORing the ciphertext there with
C{old XOR new} makes the receiver decrypt the new nick: no key needed.  This is the lab's "a malicious server can
still alter ciphertext", done on the one field that matters most.

Fernet's MAC turns the same edit into "tampered", so on the fernet layers
the relay only rewrites the prefix and lets the receiver say
"re-attributed".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..codec.envelope import MAX_SENDER_BYTES, SENDER_OFFSET
from ..codec.layers import AES_CTR
from ..codec.names import rfc1459_casefold
from . import tokens

if TYPE_CHECKING:  # pragma: no cover
    from .attacks import Intercepted

#: Where the sealed sender nick starts in an aes-ctr token's bytes (the
#: nonce is the line's msgid, so the token is the ciphertext alone).
SEALED_SENDER_OFFSET = SENDER_OFFSET


def resealSender(line: Intercepted, nick: str) -> str:
    """
    The text of C{line} with its sealed sender changed to C{nick} when the
    line is the first chunk of an aes-ctr token and the two nicks have the
    same length in UTF-8 (a CTR edit keeps the length); else the text as is.
    """
    protected = tokens.parseProtected(line.text)
    old, new = rfc1459_casefold(line.sender).encode("utf-8"), rfc1459_casefold(nick).encode("utf-8")
    if (
        protected is None
        or protected.layer != AES_CTR
        or not protected.isFirst
        or len(old) != len(new)
        or len(new) > MAX_SENDER_BYTES
    ):
        return line.text

    def patch(data: bytes) -> bytes:
        if len(data) < SEALED_SENDER_OFFSET + len(old):
            return data
        return tokens.xorAt(data, SEALED_SENDER_OFFSET, old, new)

    return protected.withPiece(tokens.editHead(protected.piece, patch)).format()
