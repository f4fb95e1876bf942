"""
The attack library: what a malicious relay does to the lines it forwards.

Each attack is a small sans-IO object.  The proxy hands it every
server-to-client line its L{Selector} matches, as an L{Intercepted}; the
attack answers with zero or more L{Emission}s, each a line to deliver to
that client, now (C{delay == 0}, in order) or after C{delay} seconds on
the proxy's clock.  No attack touches a socket or a clock itself, so each
is unit-tested by feeding it lines.

One instance serves one downstream connection (a room message reaches each
member through their own connection, so "bob's copy" can be attacked and
"carol's" left alone).  C{times} bounds how many lines an attack changes;
after that it forwards everything untouched.

None of these attacks needs a key.  What the receiver can tell about each
is the whole point of the demo (L{securechat.demo}).
"""

from __future__ import annotations

from typing import Callable, ClassVar, Dict, List, Optional, Sequence, Tuple, Type

import attr
from attr import evolve as replace

from ..numerics import RPL_NAMREPLY, RPL_WELCOME
from ..wire import Message, formatMessage, isMiddleParam, rfc1459Casefold
from . import malleate, tokens
from .roster import Roster, isRoomName

#: What a selector attacks unless told otherwise: messages (NOTICEs are opt-in).
DEFAULT_COMMANDS = ("PRIVMSG",)
#: Seconds: past the default fernet-ttl window (30 s TTL + 5 s allowed skew).
PAST_TTL_DELAY = 40.0
#: The lab's sender clock shift.
LAB_CLOCK_SHIFT = -45.0


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Intercepted:
    """One line the relay sent towards a client, caught on its way."""

    raw: bytes  # as received, without CRLF
    message: Message
    receiver: str  # nick of the client it is going to ("*" before registration)
    roster: Roster = attr.ib(factory=Roster, eq=False, repr=False)
    #: What attacks remember across connections (one per proxy): an attack
    #: instance serves one connection, and a client that reconnects gets a
    #: new one.
    ledger: Dict[str, object] = attr.ib(factory=dict, eq=False, repr=False)

    @property
    def sender(self) -> str:
        return self.message.sourceNick or ""

    @property
    def target(self) -> str:
        return self.message.params[0] if self.message.params else ""

    @property
    def text(self) -> str:
        return self.message.params[-1] if len(self.message.params) >= 2 else ""

    def rewritten(
        self,
        sender: Optional[str] = None,
        target: Optional[str] = None,
        text: Optional[str] = None,
    ) -> bytes:
        """The line with some of sender nick, target and text replaced."""
        message = self.message
        source = message.source
        if sender is not None:
            _, bang, rest = (source or "").partition("!")
            source = sender + bang + rest
        params = list(message.params)
        if target is not None:
            params[0] = target
        if text is not None:
            params[-1] = text
        return _format(message, params, source)


def _format(message: Message, params: Sequence[str], source: Optional[str]) -> bytes:
    """Format without the CRLF: the proxy adds it on delivery."""
    return formatMessage(message.command, params, source)[:-2]


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Emission:
    """
    A line to deliver to the client, C{delay} seconds from now.  An empty
    C{raw} delivers nothing: it records that a line was dropped.
    """

    raw: bytes
    delay: float = 0.0
    note: str = ""  # what the attack did to it; empty when forwarded as is
    #: Cut the client's connection after this (nothing more is delivered on
    #: it): a relay forcing a reconnect.
    close: bool = False


DROPPED = b""


def forward(line: Intercepted) -> Emission:
    return Emission(line.raw)


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Selector:
    """Which traffic to attack; a field left L{None} matches anything."""

    sender: Optional[str] = None
    target: Optional[str] = None
    receiver: Optional[str] = None
    commands: Tuple[str, ...] = DEFAULT_COMMANDS

    def matches(self, line: Intercepted, casefold: Callable[[str], str] = rfc1459Casefold) -> bool:
        message = line.message
        if message.command not in self.commands or len(message.params) < 2:
            return False
        for wanted, actual in (
            (self.sender, line.sender),
            (self.target, line.target),
            (self.receiver, line.receiver),
        ):
            if wanted is not None and casefold(wanted) != casefold(actual):
                return False
        return True


class Attack:
    """
    Base: forwards every line once C{times} lines were attacked.

    Subclasses implement L{apply}, returning L{None} when a line is not one
    they can attack (it is then forwarded and does not count).
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    #: Keyword arguments the constructor takes besides C{times} (for the CLI).
    parameters: ClassVar[Tuple[str, ...]] = ()
    #: True: the attack sees every line the relay sends its connection, not
    #: only the messages the selector matches (it tells a client who it is).
    wholeConnection: ClassVar[bool] = False

    def __init__(self, times: Optional[int] = None) -> None:
        self.remaining = times

    def process(self, line: Intercepted) -> List[Emission]:
        if self.remaining is not None and self.remaining <= 0:
            return [forward(line)]
        out = self.apply(line)
        if out is None:
            return [forward(line)]
        if self.remaining is not None:
            self.remaining -= 1
        return out

    def apply(self, line: Intercepted) -> Optional[List[Emission]]:
        raise NotImplementedError

    def flush(self) -> List[Emission]:
        """Lines the attack still holds (the connection is ending)."""
        return []


class Read(Attack):
    name = "read"
    summary = "forward untouched; the relay reads and logs what it can"

    def apply(self, line: Intercepted) -> Optional[List[Emission]]:
        return [forward(line)]


class Replay(Attack):
    name = "replay"
    summary = "record the message and deliver it again, at once or after --delay seconds"
    parameters = ("delay",)

    def __init__(self, delay: float = 0.0, times: Optional[int] = None) -> None:
        super().__init__(times)
        self.delay = delay

    def apply(self, line: Intercepted) -> Optional[List[Emission]]:
        return [forward(line), Emission(line.raw, self.delay, "replayed after %gs" % (self.delay,))]


class Duplicate(Attack):
    name = "duplicate"
    summary = "deliver every line twice, back to back"

    def apply(self, line: Intercepted) -> Optional[List[Emission]]:
        return [forward(line), Emission(line.raw, note="duplicated")]


class BitFlip(Attack):
    """
    Flip one bit near the end of the message: in the base64 token for a
    protected line (the last byte of an aes-ctr body; the HMAC of a Fernet
    token), in the last character for plain text.
    """

    name = "bit-flip"
    summary = "flip the lowest bit of the body's last byte (inside the +sc2 token, alphabet kept valid)"

    def apply(self, line: Intercepted) -> Optional[List[Emission]]:
        protected = tokens.parseProtected(line.text)
        if protected is None:
            edited = tokens.flipTextBit(line.text)
        elif protected.isLast:
            edited = protected.withPiece(tokens.flipLastBit(protected.piece)).format()
        else:
            return None
        if edited == line.text:
            return None
        return [Emission(line.rewritten(text=edited), note="bit flipped")]


class Truncate(Attack):
    name = "truncate"
    summary = "cut --count bytes off the end of the body (whole base64 quanta for tokens)"
    parameters = ("count",)

    def __init__(self, count: int = tokens.QUANTUM_BYTES, times: Optional[int] = None) -> None:
        super().__init__(times)
        self.count = count

    def apply(self, line: Intercepted) -> Optional[List[Emission]]:
        protected = tokens.parseProtected(line.text)
        if protected is None:
            edited = tokens.truncateText(line.text, self.count)
        elif protected.isLast:
            piece = tokens.editTail(protected.piece, lambda data: tokens.truncateBytes(data, self.count))
            edited = protected.withPiece(piece).format()
        else:
            return None
        if edited == line.text:
            return None
        return [Emission(line.rewritten(text=edited), note="truncated")]


class DropChunk(Attack):
    """
    Drop chunk C{index} of protected messages (the whole message when it
    has a single chunk); for plain text, which has no chunks, drop the
    C{index}-th line matched.
    """

    name = "drop-chunk"
    summary = "drop chunk --index of a message (plain text: the index-th line)"
    parameters = ("index",)

    def __init__(self, index: int = 1, times: Optional[int] = None) -> None:
        super().__init__(times)
        self.index = index
        self._plainSeen = 0

    def apply(self, line: Intercepted) -> Optional[List[Emission]]:
        protected = tokens.parseProtected(line.text)
        if protected is None:
            self._plainSeen += 1
            hit = self._plainSeen == self.index
        else:
            hit = protected.index == self.index
        if not hit:
            return None
        return [Emission(DROPPED, note="dropped")]


class Drop(Attack):
    """
    Drop whole messages (every chunk of a protected one), after letting
    C{after} messages through: a receiver who saw the earlier ones can
    notice the hole in the sender's sequence numbers at the next one.
    """

    name = "drop"
    summary = "drop whole messages, after letting --index messages through"
    parameters = ("after",)

    def __init__(self, after: int = 0, times: Optional[int] = None) -> None:
        super().__init__(times)
        self.after = after
        self._passed = 0
        self._dropping: set = set()

    def process(self, line: Intercepted) -> List[Emission]:
        protected = tokens.parseProtected(line.text)
        if protected is not None and protected.msgid in self._dropping:
            if protected.isLast:
                self._dropping.discard(protected.msgid)  # the whole message is gone
            return [Emission(DROPPED, note="dropped (rest of a dropped message)")]
        return super().process(line)

    def apply(self, line: Intercepted) -> Optional[List[Emission]]:
        protected = tokens.parseProtected(line.text)
        if protected is not None and not protected.isFirst:
            return None
        if self._passed < self.after:
            self._passed += 1
            return None
        if protected is not None and not protected.isLast:
            self._dropping.add(protected.msgid)
        return [Emission(DROPPED, note="dropped")]


class Reorder(Attack):
    """Hold a line until the next one matched, then deliver the two swapped."""

    name = "reorder"
    summary = "swap a message with the next one"

    def __init__(self, times: Optional[int] = None) -> None:
        super().__init__(times)
        self._held: Optional[Intercepted] = None

    def process(self, line: Intercepted) -> List[Emission]:
        held = self._held
        if held is not None:
            self._held = None
            return [forward(line), Emission(held.raw, note="delivered after the next message")]
        return super().process(line)

    def apply(self, line: Intercepted) -> Optional[List[Emission]]:
        self._held = line
        return []

    def flush(self) -> List[Emission]:
        held, self._held = self._held, None
        return [] if held is None else [forward(held)]


class Delay(Attack):
    name = "delay"
    summary = "hold the message --delay seconds (default: past the TTL window)"
    parameters = ("delay",)

    def __init__(self, delay: float = PAST_TTL_DELAY, times: Optional[int] = None) -> None:
        super().__init__(times)
        self.delay = delay

    def apply(self, line: Intercepted) -> Optional[List[Emission]]:
        return [Emission(line.raw, self.delay, "delayed %gs" % (self.delay,))]


class Forge(Attack):
    """
    Inject, after the genuine line, a line of the same shape in the same
    sender's name: random bytes as a token (the relay has no key), or
    any text at all on a plain line.
    """

    name = "forge"
    summary = "inject a forged message (a random token of plausible shape) in the sender's name"

    def apply(self, line: Intercepted) -> Optional[List[Emission]]:
        protected = tokens.parseProtected(line.text)
        if protected is None:
            forged = tokens.forgePlain()
        else:
            # One line the size of the one seen: it fits wherever that one did.
            forged = tokens.forgeProtected(protected.layer, tokens.tokenLength(protected.piece))
        return [forward(line), Emission(line.rewritten(text=forged), note="forged")]


def isBlamable(nick: str) -> bool:
    """Whether C{nick} can be written as a line's sender (C{nick!user@host})."""
    return isMiddleParam(nick) and "!" not in nick and "@" not in nick


class Reattribute(Attack):
    """
    Deliver the message as if another member had sent it.  On aes-ctr the
    relay also rewrites the sealed sender (CTR is malleable and the
    envelope layout is public), so the receiver's check passes.
    """

    name = "reattribute"
    summary = "rewrite the sender prefix to another member (--as; default: one from the roster)"
    parameters = ("as_nick",)

    def __init__(self, as_nick: Optional[str] = None, times: Optional[int] = None) -> None:
        super().__init__(times)
        if as_nick is not None and not isBlamable(as_nick):
            raise ValueError("cannot blame %r: a nick is one word, without '!' or '@'" % (as_nick,))
        self.as_nick = as_nick

    def apply(self, line: Intercepted) -> Optional[List[Emission]]:
        nick = self.as_nick or line.roster.otherMember(line.target, {line.sender, line.receiver})
        if not nick or not line.sender:
            return None
        raw = line.rewritten(sender=nick, text=malleate.resealSender(line, nick))
        return [Emission(raw, note="re-attributed to %s" % (nick,))]


class Impersonate(Attack):
    """
    A member colludes with the relay: after the victim's message, the relay
    delivers one the member sealed I{as the victim} (with the room key every
    member holds), under the victim's nick.  Needs the member's help, so it
    is not in L{ATTACKS}: the demo builds it with C{forge}, which returns
    the texts the member sealed for a line.
    """

    name = "impersonate"
    summary = "a member's message sealed as the sender, delivered under the sender's nick"

    def __init__(self, forge: Callable[[Intercepted], List[str]], times: Optional[int] = None) -> None:
        super().__init__(times)
        self.forge = forge

    def apply(self, line: Intercepted) -> Optional[List[Emission]]:
        texts = self.forge(line)
        if not texts:
            return None
        note = "sealed by a member as %s" % (line.sender,)
        return [forward(line)] + [Emission(line.rewritten(text=text), note=note) for text in texts]


class MoveRoom(Attack):
    """
    Deliver a room message into another room both ends are in.  Room keys
    are derived per room, so on keyed layers the token no longer opens
    there; the sealed target is the second line of defence (same key,
    other target).
    """

    name = "move-room"
    summary = "rewrite the target to another room sender and receiver share (--to-room)"
    parameters = ("to_room",)

    def __init__(self, to_room: Optional[str] = None, times: Optional[int] = None) -> None:
        super().__init__(times)
        if to_room is not None and not isRoomName(to_room):
            raise ValueError("cannot move to %r: a room is one word, without a comma" % (to_room,))
        self.to_room = to_room

    def apply(self, line: Intercepted) -> Optional[List[Emission]]:
        room = self.to_room or line.roster.sharedRoom({line.sender, line.receiver}, line.target)
        if not room or rfc1459Casefold(room) == rfc1459Casefold(line.target):
            return None
        return [Emission(line.rewritten(target=room), note="moved to %s" % (room,))]


class ClockShift(Attack):
    """
    The lab's "subtract 45 s from the sender's clock".  A relay cannot
    change anyone's clock: this attack forwards lines untouched, and the
    demo realises it on the I{sending} client's codec clock
    (L{senderClockOffset}).  It is listed so the matrix has its row.
    """

    name = "clock-shift"
    summary = "sender's clock shifted by --delay seconds (done at the sender; the relay only forwards)"
    parameters = ("delay",)

    def __init__(self, delay: float = LAB_CLOCK_SHIFT, times: Optional[int] = None) -> None:
        super().__init__(times)
        self.senderClockOffset = delay

    def apply(self, line: Intercepted) -> Optional[List[Emission]]:
        return None


RENAME_VIAS = ("nick", "welcome")


class Rename(Attack):
    """
    The relay assigns nicks: it tells the victim's client (C{victim}) that
    it is now C{as_nick}, another member, and delivers the victim's
    messages to everyone else under that name.  A client that seals under
    whatever nick the relay gives it then seals as C{as_nick}, and its
    messages reach the others as genuinely C{as_nick}'s: no MAC can tell.

    C{via="nick"}: a forged C{:victim NICK as_nick} right after the victim
    joins a room.  C{via="welcome"}: the victim's connection is cut once
    it is in a room, and the C{001} of its next connection names it
    C{as_nick}.  From then on, lines to the victim are translated (its real
    nick, as the real relay knows it, becomes C{as_nick}), so its view stays
    consistent; the real relay is never told.
    """

    name = "rename"
    summary = (
        "tell --sender's client it is now --as (a forged NICK, or with --via welcome "
        "a 001 after a forced reconnect); deliver its messages to the others as --as's"
    )
    parameters = ("as_nick", "victim", "via")
    wholeConnection = True

    def __init__(
        self,
        as_nick: Optional[str] = None,
        victim: Optional[str] = None,
        via: str = "nick",
        times: Optional[int] = None,
    ) -> None:
        super().__init__(times)
        if not as_nick or not isBlamable(as_nick):
            raise ValueError("rename needs --as, the nick to give the victim (one word, no '!' or '@')")
        if not victim:
            raise ValueError("rename needs --sender, the client to rename")
        if via not in RENAME_VIAS:
            raise ValueError("rename --via must be one of %s" % (", ".join(RENAME_VIAS),))
        self.as_nick = as_nick
        self.victim = victim
        self.via = via
        #: This connection's victim, by the nick the real relay gives it, once renamed.
        self.real: Optional[str] = None

    def process(self, line: Intercepted) -> List[Emission]:
        fold = line.roster.casefold
        if self.real is not None:
            return [self._translated(line)]
        message = line.message
        if fold(line.receiver) != fold(self.victim):
            if (
                message.command in ("PRIVMSG", "NOTICE")
                and len(message.params) >= 2
                and fold(line.sender) == fold(self.victim)
            ):
                return [
                    Emission(
                        line.rewritten(sender=self.as_nick),
                        note="%s's message delivered as %s's" % (line.sender, self.as_nick),
                    )
                ]
            return [forward(line)]
        key = "rename:" + fold(self.victim)
        joined = message.command == "JOIN" and fold(line.sender) == fold(self.victim)
        if self.via == "nick":
            if not joined:
                return [forward(line)]
            self.real = line.sender
            forged = formatMessage("NICK", (self.as_nick,), message.source)[:-2]
            return [forward(line), Emission(forged, note="forged NICK: you are %s now" % (self.as_nick,))]
        state = line.ledger.get(key)
        if message.command == RPL_WELCOME and message.params and state is not None:
            line.ledger[key] = "renamed"
            self.real = message.params[0]
            return [self._translated(line, "001 names %s %s" % (self.real, self.as_nick))]
        if joined and state is None:
            line.ledger[key] = "cut"
            return [forward(line), Emission(DROPPED, note="connection cut: forcing a reconnect", close=True)]
        return [forward(line)]

    def _translated(self, line: Intercepted, note: str = "") -> Emission:
        """The line with the victim's real nick replaced by C{as_nick} wherever it names the victim."""
        fold = line.roster.casefold
        real = fold(self.real or "")
        message = line.message
        source = message.source
        changed = False
        if message.sourceNick is not None and fold(message.sourceNick) == real:
            source = self.as_nick + (source or "")[len(message.sourceNick):]
            changed = True
        params = list(message.params)
        if message.command.isdigit() and params and fold(params[0]) == real:
            params[0] = self.as_nick
            changed = True
        if message.command == RPL_NAMREPLY and len(params) >= 4:
            names = []
            for name in params[3].split():
                bare = name.lstrip("~&@%+")
                if fold(bare) == real:
                    name = name[: len(name) - len(bare)] + self.as_nick
                    changed = True
                names.append(name)
            params[3] = " ".join(names)
        if not changed:
            return Emission(line.raw, note=note)
        return Emission(_format(message, params, source), note=note or "renamed %s to %s" % (self.real, self.as_nick))


class WithholdFromOne(Attack):
    """
    Drop a member's messages for one receiver only (the selector's
    C{receiver}); every other member gets them.  A gap shows only if a later
    message reaches that receiver; on C{signed}, another member's view of
    the room names what it was not given (issue 23).
    """

    name = "withhold-from-one"
    summary = "drop a member's messages for one receiver only (select it with --receiver)"

    def __init__(self, times: Optional[int] = None) -> None:
        super().__init__(times)
        self._drop = Drop(0)

    def process(self, line: Intercepted) -> List[Emission]:
        protected = tokens.parseProtected(line.text)
        if protected is not None and not protected.isFirst:
            return self._drop.process(line)  # the rest of a message: as its first chunk went
        return super().process(line)

    def apply(self, line: Intercepted) -> Optional[List[Emission]]:
        return [replace(emission, note="withheld from %s only" % (line.receiver,))
                for emission in self._drop.process(line)]


class SplitView(Attack):
    """
    Two receivers, two subsets: the receiver C{first} gets the sender's
    odd-numbered messages (1st, 3rd...), every other receiver the
    even-numbered ones.  Without C{first}, the first connection to receive
    one of the sender's messages is that one (the proxy's ledger says which).
    """

    name = "split-view"
    summary = "deliver a member's odd messages to one receiver and the even ones to the others"
    parameters = ("first",)
    LEDGER_KEY: ClassVar[str] = "split-view first receiver"

    def __init__(self, first: Optional[str] = None, times: Optional[int] = None) -> None:
        super().__init__(times)
        self.first = first
        self._count = 0
        self._dropping: set = set()

    def process(self, line: Intercepted) -> List[Emission]:
        protected = tokens.parseProtected(line.text)
        if protected is not None and protected.msgid in self._dropping:
            if protected.isLast:
                self._dropping.discard(protected.msgid)
            return [Emission(DROPPED, note="dropped (rest of a withheld message)")]
        return super().process(line)

    def apply(self, line: Intercepted) -> Optional[List[Emission]]:
        protected = tokens.parseProtected(line.text)
        if protected is not None and not protected.isFirst:
            return None
        self._count += 1
        first = self.first
        if first is None:
            first = str(line.ledger.setdefault(self.LEDGER_KEY, line.receiver))
        odd = self._count % 2 == 1
        if odd == (rfc1459Casefold(line.receiver) == rfc1459Casefold(first)):
            return None  # this receiver's share: delivered
        if protected is not None and not protected.isLast:
            self._dropping.add(protected.msgid)
        return [Emission(DROPPED, note="withheld from %s (split view)" % (line.receiver,))]


ATTACKS: Dict[str, Type[Attack]] = {
    cls.name: cls
    for cls in (
        Read,
        Replay,
        Duplicate,
        BitFlip,
        Truncate,
        DropChunk,
        Drop,
        Reorder,
        Delay,
        Forge,
        Reattribute,
        MoveRoom,
        ClockShift,
        Rename,
        WithholdFromOne,
        SplitView,
    )
}


def makeAttack(name: str, times: Optional[int] = None, **parameters: object) -> Attack:
    """Build attack C{name}, ignoring parameters it does not take (L{KeyError} if unknown)."""
    cls = ATTACKS[name]
    known = {key: value for key, value in parameters.items() if key in cls.parameters and value is not None}
    return cls(times=times, **known)
