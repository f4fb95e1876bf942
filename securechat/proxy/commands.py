"""
The C{*securechat} pseudo-user: the commands the IRC client's user types
to the proxy (C{/msg *securechat key #lab}...), the passphrase question
and its confirmation, and the advice that works when typed as shown.

It holds the session's key requests for the question it opened: from the
C{key} command on, the target is keyed (what is typed there waits for the
key), and a question left unanswered refuses what waited.
"""

from __future__ import annotations

import hmac
from typing import Callable, Dict, List, Optional, Protocol, Sequence

import attr

from ..client.core import events as ev
from ..client.core.commands import Fingerprint, Key, Layer, Remove, Trust, Verify, execute
from ..client.core.commands import advice as commandAdvice
from ..client.core.forwardroute import CHOOSABLE_LAYERS
from ..client.core.identities import identityLines
from ..client.core.serverlines import RESERVED as PSEUDO
from ..client.core.serverlines import isReserved
from ..client.core.session import PLAIN, ClientSession, CommandError, NeedsForce, checkTarget
from ..client.core.wording import fingerprintNote, weakPassphraseWarning
from ..codec import RoomKeys
from ..codec.roomsecret import CODE_RE, new_room_secret

#: Derive keys for a codec target from a passphrase; calls C{done(keys,
#: None)} or C{done(None, why)} later (off the reactor, one at a time).
Derive = Callable[[str, bytes, Callable[[Optional[RoomKeys], Optional[str]], None]], None]

HELP = (
    "securechat proxy commands (/msg *securechat <command>):",
    "  key <#room|nick> [layer]   key a room or peer: your next message here is the passphrase, then again",
    "  key --new <#room|nick> [layer]   generate a room secret (shown once: pass it on out of band)",
    "  key! ...                   the same, lowering the layer the target had",
    "  layer [<#room|nick> [layer]]   show or set the layer (" + ", ".join(CHOOSABLE_LAYERS) + ")",
    "  layer! <#room|nick> <layer>   lower the layer anyway (says what is lost)",
    "  fingerprint [<#room|nick>]   the key's fingerprint, your identity's, a nick's pinned key",
    "  verify <nick> <fingerprint>   mark nick's key verified after comparing it out of band",
    "  trust <nick>               accept the key refused for nick (identity changed)",
    "  remove <#room> <nick>      a room on the forward layer: new chains for every member but nick",
    "  status                     nick, connection, keyed rooms and peers",
    "  cancel                     forget a passphrase question",
    "  help                       this list",
)


class Voice(Protocol):
    """How the pseudo-user speaks to the IRC client."""

    def reply(self, text: str) -> None:
        """A message from *securechat (its query window)."""

    def tell(self, text: str) -> None:
        """A NOTICE from *securechat."""

    def tellIn(self, window: str, text: str) -> None:
        """A NOTICE from *securechat in a room's window."""


def spellProxy(command: str, args: Sequence[str]) -> str:
    """A command as the proxy takes it: a message to C{*securechat}, target first."""
    return " ".join(["/msg", PSEUDO, command, *args])


@attr.s(frozen=True, slots=True, auto_attribs=True)
class _Asking:
    """
    The passphrase question for C{target}, open: the key request it will
    answer (the target is keyed from the question on), and the first
    typing of a new passphrase while its confirmation is awaited.
    """

    target: str
    layer: Optional[str]
    request: int
    first: Optional[bytes] = None


def commandsHere(text: str) -> str:
    """The session's advice names console commands; here they are messages to *securechat."""
    for console, here in (
        ("/layer! ", "/msg %s layer! " % (PSEUDO,)),
        ("/key ", "/msg %s key " % (PSEUDO,)),
        ("/key)", "/msg %s key)" % (PSEUDO,)),
        ("/trust ", "/msg %s trust " % (PSEUDO,)),
        ("/verify ", "/msg %s verify " % (PSEUDO,)),
    ):
        text = text.replace(console, here)
    return text


def advice(exc: Exception) -> str:
    """An error's text, its advice spelt as commands to C{*securechat}."""
    if isinstance(exc, NeedsForce) and (exc.lowering is not None or exc.keyLost is not None):
        # No /msg! here: one line in clear is not a thing the proxy offers.
        return commandAdvice(exc, spellProxy, insistOnce=False)
    return commandsHere(str(exc))



class PseudoUser:
    """
    What C{/msg *securechat ...} does.  Built with the session, the key
    derivation, the voice it answers in, and C{status}: the lines the
    proxy adds to C{status} (how marks are shown, what it refused).
    """

    def __init__(
        self, session: ClientSession, derive: Derive, voice: Voice, status: Callable[[], List[str]]
    ) -> None:
        self.session = session
        self._derive = derive
        self.voice = voice
        self.status = status
        #: While the next line to *securechat is a passphrase (or its confirmation).
        self.asking: Optional[_Asking] = None
        #: Codec-folded name -> name, of the targets the user keyed or layered.
        self._named: Dict[str, str] = {}

    def closeQuestion(self) -> None:
        """A question nobody can answer now (the IRC client left): what waits for it is refused."""
        asking, self.asking = self.asking, None
        if asking is not None:
            self.session.keyFailed(asking.target, asking.request, "its passphrase question was left unanswered")

    def command(self, text: str) -> None:
        """One line the user said to *securechat: a command, or the answer to the open question."""
        asking = self.asking
        if asking is not None:
            self._answer(asking, text)
            return
        words = text.split()
        if not words:
            return
        name, args = words[0].lower(), words[1:]
        force = name.endswith("!")
        name = name.rstrip("!")
        handler = getattr(self, "_cmd_" + name, None)
        if handler is None:
            # Never quoted: a mistyped "key" makes the next line, a passphrase, land here.
            self.voice.reply("unknown command (not shown): /msg %s help" % (PSEUDO,))
            return
        try:
            handler(args, force)
        except CommandError as exc:
            self.voice.reply(advice(exc))

    def _answer(self, asking: _Asking, text: str) -> None:
        """The answer to the passphrase question: never echoed, logged or kept."""
        session = self.session
        target = asking.target
        if not text.strip() or text.strip().lower() == "cancel":
            self.asking = None
            session.keyFailed(target, asking.request, "you cancelled its passphrase")
            self.voice.reply("no key set for %s" % (target,))
            return
        passphrase = text.encode("utf-8")
        if asking.first is None and not CODE_RE.match(text.strip().lower()):
            # A new passphrase is asked twice: a typo would key the room
            # with a key nobody else has (a room secret has check digits).
            self.asking = attr.evolve(asking, first=passphrase)
            self.voice.reply("type it again, to confirm ('cancel' to stop)")
            return
        self.asking = None
        if asking.first is not None and not hmac.compare_digest(asking.first, passphrase):
            session.keyFailed(target, asking.request, "the two passphrases differ")
            self.voice.reply("the two passphrases differ: no key set for %s" % (target,))
            return
        warning = weakPassphraseWarning(passphrase, spellProxy)
        if warning is not None:
            self.voice.reply("warning: " + warning)
        self._derived(target, asking.request, passphrase, asking.layer)

    def _cmd_help(self, args: Sequence[str], force: bool) -> None:
        for line in HELP:
            self.voice.reply(line)

    def _cmd_cancel(self, args: Sequence[str], force: bool) -> None:
        self.voice.reply("nothing to cancel")

    def _cmd_key(self, args: Sequence[str], force: bool) -> None:
        rest = [arg for arg in args if arg != "--new"]
        if not rest or len(rest) > 2:
            raise CommandError("usage: key [--new] <#room|nick> [layer]")
        key = Key(rest[0], rest[1] if len(rest) > 1 else None, force, "--new" in args)
        self._key(key)

    def _key(self, key: Key) -> None:
        """Carry out C{key} here: the passphrase is the next message to *securechat (asked twice)."""
        target, layer, force = key.target, key.layer, key.force
        checkTarget(target)
        if isReserved(target) or self.asking is not None:
            raise CommandError("usage: key [--new] <#room|nick> [layer]")
        if layer is not None:
            self.session.checkLayer(layer)
            if layer == PLAIN:
                raise CommandError("plain needs no key: layer! %s plain" % (target,))
        # Keyed from now on: what is typed there waits for the key, never goes in clear.
        request = self.session.keyRequested(target, layer, force)
        self._name(target)
        if key.new:
            code = new_room_secret()
            self.voice.reply(
                "room secret for %s: %s  (it IS the key: give it to the members out of band; "
                "they use it as the passphrase)" % (target, code)
            )
            self._derived(target, request, code.encode("ascii"), layer)
            return
        self.asking = _Asking(target, layer, request)
        question = (
            "type the passphrase for %s as your next message to %s, not here ('cancel' to stop); "
            "what you type in %s meanwhile waits for the key" % (target, PSEUDO, target)
        )
        self.voice.reply(
            question + ". The proxy never shows or logs it; your IRC client may log what you type there."
        )
        if self.session.isRoom(target):
            self.voice.tellIn(target, question)

    def _derived(self, target: str, request: int, passphrase: bytes, layer: Optional[str]) -> None:
        """Derive the key asked by C{request}: what waits for it goes out sealed when it is set."""
        session = self.session
        self.voice.reply("deriving the key for %s (what you send there waits for it)" % (target,))

        def done(keys: Optional[RoomKeys], error: Optional[str]) -> None:
            if keys is None:
                session.keyFailed(target, request, error or "failed")
                self.voice.reply("no key for %s: %s" % (target, error))
                return
            try:
                session.keyArrived(target, request, keys, layer)
            except CommandError as exc:
                self.voice.reply(str(exc))

        self._derive(session.codecTarget(target), passphrase, done)

    def _cmd_layer(self, args: Sequence[str], force: bool) -> None:
        session = self.session
        if not args:
            keyed = self._keyedNames()
            if not keyed:
                self.voice.reply("no room or peer has a layer other than plain; layer <#room|nick> <layer>")
            for name in keyed:
                self.voice.reply("%s: %s" % (name, session.layerFor(name)))
            return
        if len(args) > 2:
            raise CommandError("usage: layer <#room|nick> [layer]")
        target, layer = args[0], (args[1] if len(args) > 1 else None)
        if layer is not None and target in CHOOSABLE_LAYERS and layer not in CHOOSABLE_LAYERS:
            target, layer = layer, target  # the console's order, layer first: the same wish
        checkTarget(target)
        if layer is None:
            # A nick with no key: its messages go over a pairwise session, not "plain".
            shown = session.directSessions.describe(target) or session.layerFor(target)
            self.voice.reply("%s: %s" % (target, shown))
            return
        self._name(target)
        execute(session, Layer(target, layer, force))

    def _cmd_fingerprint(self, args: Sequence[str], force: bool) -> None:
        session = self.session
        if not args:
            self.voice.reply("your identity key: %s" % (session.identity.fingerprint,))
            return
        checkTarget(args[0])
        event = execute(session, Fingerprint(args[0]))
        assert isinstance(event, ev.Fingerprint)
        self.voice.reply(fingerprintNote(event))
        for line in identityLines(event):
            self.voice.reply(line.replace("/verify", "verify"))

    def _cmd_verify(self, args: Sequence[str], force: bool) -> None:
        if len(args) < 2:
            raise CommandError("usage: verify <nick> <fingerprint: 8 groups of 5 digits>")
        execute(self.session, Verify(args[0], " ".join(args[1:])))

    def _cmd_remove(self, args: Sequence[str], force: bool) -> None:
        if len(args) != 2:
            raise CommandError("usage: remove <#room> <nick>")
        execute(self.session, Remove(args[0], args[1]))

    def _cmd_trust(self, args: Sequence[str], force: bool) -> None:
        if len(args) != 1:
            raise CommandError("usage: trust <nick>")
        execute(self.session, Trust(args[0]))

    def _cmd_status(self, args: Sequence[str], force: bool) -> None:
        session = self.session
        state = "connected to %s" % (session.server or "the server",) if session.connected else "not connected"
        self.voice.reply("%s; you are %s" % (state, session.nick))
        if not session.nickConfirmed:
            self.voice.reply(
                "protected messages are NOT sent: the server calls you %s, you chose %s "
                "(/nick %s accepts it)" % (session.nick, session.requestedNick, session.nick)
            )
        for name in self._keyedNames():
            fingerprint = session.fingerprint(name)
            pending = " (key being derived)" if session.keyPending(name) else ""
            self.voice.reply(
                "%s: %s, key %s%s" % (name, session.expectedLayer(name), fingerprint or "none", pending)
            )
        for line in self.status():
            self.voice.reply(line)

    def _keyedNames(self) -> List[str]:
        """Rooms and peers the user keyed or layered here that have protection now."""
        session = self.session
        return sorted(name for name in self._named.values() if session.expectedLayer(name) != PLAIN)

    def _name(self, target: str) -> None:
        """Remember C{target} for C{status} (bounded: at most one per key or layer the user set)."""
        self._named[self.session.codecFold(target)] = target

