"""Two sans-IO client sessions and a relay between them that can misbehave (pairwise session tests)."""

from __future__ import annotations

from typing import Callable, Dict, List, Optional, Tuple

from securechat.client.core.session import ClientSession
from securechat.wire import Message, parseLine

SERVER = "irc.test"


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


#: (sender nick, target nick, text) -> what the relay delivers instead: a
#: list of (claimed sender, text) (empty: dropped).
Tamper = Callable[[str, str, str], List[Tuple[str, str]]]


class Pair:
    """Clients by nick on one fake network; L{pump} routes PRIVMSGs between them."""

    def __init__(self, *nicks: str, clock: Optional[FakeClock] = None, **options) -> None:
        self.clock = clock or FakeClock()
        self.clients: Dict[str, ClientSession] = {}
        self.events: Dict[str, list] = {}
        self.outbox: Dict[str, List[bytes]] = {}
        #: Every PRIVMSG line that crossed the relay: (sender, target, text).
        self.recorded: List[Tuple[str, str, str]] = []
        self.tamper: Optional[Tamper] = None
        for nick in nicks:
            self.add(nick, **options)

    def add(self, nick: str, session: Optional[ClientSession] = None, **options) -> ClientSession:
        events: list = []
        if session is None:
            session = ClientSession(nick, events.append, clock=self.clock, **options)
        else:
            session.emit = events.append
        self.events[nick] = events
        self.clients[nick] = session
        out: List[bytes] = []
        self.outbox[nick] = out
        session.connectionMade(out.append)
        for line in (
            ":%s 001 %s :Welcome %s!~%s@127.0.0.1" % (SERVER, nick, nick, nick),
            ":%s 005 %s CASEMAPPING=rfc1459 LINELEN=512 NICKLEN=30 :are supported" % (SERVER, nick),
        ):
            session.lineReceived(line.encode("utf-8"))
        del out[:]
        return session

    def deliver(self, sender: str, target: str, text: str) -> None:
        """The relay hands C{text} to C{target} as if C{sender} sent it."""
        self.clients[target].lineReceived(
            (":%s!~%s@127.0.0.1 PRIVMSG %s :%s" % (sender, sender, target, text)).encode("utf-8")
        )

    def take(self, nick: str) -> List[Message]:
        """What C{nick} sent since the last call."""
        out = self.outbox[nick]
        lines = [parseLine(line.rstrip(b"\r\n")) for line in out]
        del out[:]
        return lines

    def pump(self, rounds: int = 20) -> None:
        for _ in range(rounds):
            moved = False
            for nick in list(self.clients):
                for message in self.take(nick):
                    if message.command != "PRIVMSG" or message.params[0] not in self.clients:
                        continue
                    target, text = message.params[0], message.params[1]
                    self.recorded.append((nick, target, text))
                    moved = True
                    if self.tamper is None:
                        self.deliver(nick, target, text)
                    else:
                        for claimed, changed in self.tamper(nick, target, text):
                            self.deliver(claimed, target, changed)
            if not moved:
                return

    def of(self, nick: str, kind: type) -> list:
        return [event for event in self.events[nick] if isinstance(event, kind)]
