"""
Trust on first use: which identity key speaks for which nick.

As ssh and Signal do, the first key seen signing for a nick is pinned to
it.  Later, a message from that nick signed by another key is refused as
L{IdentityChanged} (never shown as theirs) until the user accepts the new
key (L{TrustStore.trust}); a pinned key signing as another nick is refused
as L{SignedByOther}, naming whose key it is.  L{TrustStore.verify} marks a
pin verified once the user compared fingerprints out of band.

Sans-IO: the client persists L{TrustStore.to_dict} in its state directory
(L{securechat.client.trust}); C{on_change} tells it when to write.

Nicks are given already casefolded (the codec's folding), so one person's
pin does not depend on how the relay spells their nick.
"""

from __future__ import annotations

import base64
import binascii
from collections import OrderedDict
from typing import Any, Callable, Dict, List, Optional

import attr

from securechat.codec.errors import IdentityChanged, SignedByOther, TrustStoreFull
from securechat.codec.identity import PUBLIC_KEY_BYTES, identity_fingerprint, normalize_fingerprint

FIRST_USE = "first-use"
VERIFIED = "verified"
STATUSES = (FIRST_USE, VERIFIED)
#: Pins kept at most: only members (holders of a room key) can create one,
#: but a member can invent nicks; past this, unknown keys are refused.
MAX_PINS = 4096
#: Refused keys remembered per nick for L{TrustStore.trust}, in all.
MAX_OFFERED = 64
TRUST_FORMAT = 1


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Pin:
    """A nick's pinned key and how far it is trusted."""

    public_key: bytes
    status: str = FIRST_USE

    @property
    def fingerprint(self) -> str:
        return identity_fingerprint(self.public_key)


class TrustStore:
    """Nick (casefolded) -> L{Pin}, and the keys recently refused per nick."""

    def __init__(self, on_change: Optional[Callable[[], None]] = None, max_pins: int = MAX_PINS) -> None:
        self._pins: Dict[str, Pin] = {}
        #: Public key -> the nicks it is pinned to (usually one).
        self._owners: Dict[bytes, List[str]] = {}
        self._offered: OrderedDict[str, bytes] = OrderedDict()
        self._on_change = on_change
        self.max_pins = max_pins

    def __len__(self) -> int:
        return len(self._pins)

    def pinned(self, nick: str) -> Optional[Pin]:
        return self._pins.get(nick)

    def owners(self, public_key: bytes) -> List[str]:
        """The nicks C{public_key} is pinned to."""
        return list(self._owners.get(public_key, ()))

    def offered(self, nick: str) -> Optional[bytes]:
        """The key last refused for C{nick} (what L{trust} would accept), if any."""
        return self._offered.get(nick)

    def judge(self, nick: str, public_key: bytes) -> str:
        """
        The status of C{public_key} signing as C{nick} (L{FIRST_USE} when it
        is pinned now); L{IdentityChanged}, L{SignedByOther} or
        L{TrustStoreFull} when it must not be believed.
        """
        pin = self._pins.get(nick)
        if pin is not None and pin.public_key == public_key:
            return pin.status
        owners = [owner for owner in self._owners.get(public_key, ()) if owner != nick]
        if owners:
            self._offer(nick, public_key)
            raise SignedByOther(
                "signed by %s's key, sent as %s (/trust %s to accept that key for %s too)"
                % (owners[0], nick, nick, nick)
            )
        if pin is not None:
            self._offer(nick, public_key)
            raise IdentityChanged(
                "identity changed: %s's pinned key is %s, this message is signed by %s "
                "(/trust %s to accept the new key, after checking it with them)"
                % (nick, pin.fingerprint, identity_fingerprint(public_key), nick)
            )
        if len(self._pins) >= self.max_pins:
            raise TrustStoreFull()
        self._pin(nick, Pin(public_key, FIRST_USE))
        return FIRST_USE

    def trust(self, nick: str, public_key: Optional[bytes] = None) -> Pin:
        """
        Accept C{public_key} (default: the last one refused for C{nick})
        for C{nick}, as a first use; L{KeyError} when there is none.
        """
        if public_key is None:
            public_key = self._offered.get(nick)
            if public_key is None:
                raise KeyError(nick)
        self._offered.pop(nick, None)
        pin = Pin(public_key, FIRST_USE)
        self._pin(nick, pin)
        return pin

    def pin_own(self, nick: str, public_key: bytes) -> None:
        """
        Our own nick is ours: pinned to our key, verified, so a member's
        message sealed as us is refused rather than pinned on first use.
        """
        pin = Pin(public_key, VERIFIED)
        if self._pins.get(nick) != pin:
            self._pin(nick, pin)

    def verify(self, nick: str, fingerprint: str) -> Pin:
        """
        Mark C{nick}'s key verified if C{fingerprint} is its fingerprint, or
        that of the key last refused for it (which it then replaces).
        L{KeyError} when no key is known for C{nick}, L{ValueError} when the
        fingerprint is malformed or matches neither.
        """
        wanted = normalize_fingerprint(fingerprint)
        if wanted is None:
            raise ValueError("a fingerprint is 8 groups of 5 digits")
        candidates = [self._pins[nick].public_key] if nick in self._pins else []
        if nick in self._offered:
            candidates.append(self._offered[nick])
        if not candidates:
            raise KeyError(nick)
        for public_key in candidates:
            if identity_fingerprint(public_key) == wanted:
                if self._offered.get(nick) == public_key:
                    del self._offered[nick]
                pin = Pin(public_key, VERIFIED)
                self._pin(nick, pin)
                return pin
        raise ValueError("the fingerprint does not match %s's key" % (nick,))

    def forget(self, nick: str) -> None:
        """Remove C{nick}'s pin (its next key is a first use again)."""
        pin = self._pins.pop(nick, None)
        if pin is not None:
            self._disown(nick, pin.public_key)
            self._changed()

    def _pin(self, nick: str, pin: Pin) -> None:
        old = self._pins.get(nick)
        if old is not None:
            self._disown(nick, old.public_key)
        self._pins[nick] = pin
        self._owners.setdefault(pin.public_key, []).append(nick)
        self._changed()

    def _disown(self, nick: str, public_key: bytes) -> None:
        owners = self._owners.get(public_key, [])
        if nick in owners:
            owners.remove(nick)
        if not owners:
            self._owners.pop(public_key, None)

    def _offer(self, nick: str, public_key: bytes) -> None:
        self._offered[nick] = public_key
        self._offered.move_to_end(nick)
        if len(self._offered) > MAX_OFFERED:
            self._offered.popitem(last=False)

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change()

    # Persistence (the client writes these to its state directory).

    def to_dict(self) -> Dict[str, Any]:
        return {
            "format": TRUST_FORMAT,
            "pins": {
                nick: {"key": base64.b64encode(pin.public_key).decode("ascii"), "status": pin.status}
                for nick, pin in sorted(self._pins.items())
            },
        }

    def load(self, data: Any) -> None:
        """
        Replace the pins with those of C{data} (from L{to_dict}); L{ValueError}
        if any part of it is not what L{to_dict} writes (nothing is loaded then).
        """
        if not isinstance(data, dict) or data.get("format") != TRUST_FORMAT:
            raise ValueError("not a securechat trust store (format %d)" % (TRUST_FORMAT,))
        pins = data.get("pins")
        if not isinstance(pins, dict):
            raise ValueError("the trust store has no pins table")
        loaded: Dict[str, Pin] = {}
        for nick, entry in pins.items():
            if not isinstance(entry, dict) or entry.get("status") not in STATUSES:
                raise ValueError("the pin for %r is malformed" % (nick,))
            try:
                key = base64.b64decode(str(entry.get("key")), validate=True)
            except (binascii.Error, ValueError):
                key = b""
            if len(key) != PUBLIC_KEY_BYTES:
                raise ValueError("the pin for %r has no valid key" % (nick,))
            loaded[nick] = Pin(key, entry["status"])
        self._pins = {}
        self._owners = {}
        for nick, pin in loaded.items():
            self._pins[nick] = pin
            self._owners.setdefault(pin.public_key, []).append(nick)
