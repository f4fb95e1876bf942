"""Two sans-IO client sessions and a relay between them that can misbehave (pairwise session tests)."""

from __future__ import annotations

from typing import Callable, Dict, List, Optional, Tuple

from twisted.internet.task import Clock

from securechat.client.adapters.persist import StateKeeper
from securechat.client.adapters.statedir import StateDir
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


#: The network alice's state files are kept for in L{AliceRuns}.
NETWORK = "tcp:irc.test:6667"


class AliceRuns:
    """
    Alice's client run after run on one state directory, beside bob's on a
    L{Pair} (a mixin for test cases): each L{alice} call is a fresh run.
    Her events go to C{self.sink}, the net's list for her once she is added;
    a test may swap the sink to watch the order of events.
    """

    def setUp(self) -> None:
        self.path = self.mktemp()  # type: ignore[attr-defined]
        self.net = Pair("bob")
        self.keepers: List[StateKeeper] = []
        self.sink: Callable[[object], None] = lambda event: None

    def tearDown(self) -> None:
        for keeper in self.keepers:
            if keeper.running:
                keeper.stopService()

    def alice(self) -> Tuple[StateKeeper, ClientSession]:
        """Alice with her state directory: a fresh run of her client each call."""
        keeper = StateKeeper(StateDir.open(self.path), NETWORK, Clock(), self.net.clock)
        self.keepers.append(keeper)
        session = ClientSession(
            "alice", lambda event: self.sink(event), clock=self.net.clock,
            identity=keeper.identity, trust=keeper.trust, onConversation=keeper.restore,
        )  # fmt: skip
        keeper.attach(session)
        self.sink = lambda event: None  # what attaching says is not this run's to check
        self.net.add("alice", session)
        self.sink = self.net.events["alice"].append
        keeper.startService()
        return keeper, session

    def crash(self, keeper: StateKeeper) -> None:
        """The run ends without a clean stop (only the lock is let go)."""
        keeper._loop.stop()
        keeper.state.close()
        self.keepers.remove(keeper)
