"""
A member joins a forward room of 20 through our relay over loopback
sockets: within a bound, it holds a session and a chain with every member,
and a message from anyone reaches everyone (the answer budget in force, in
real time: openings over it wait, retries make up for the rest).
"""

from __future__ import annotations

from typing import List

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.task import deferLater

from securechat.client.core import events as ev
from securechat.codec import TEST_KDF, derive_room_keys

from .test_client_support import LoopbackCase

ROOM = "#lab"
#: Real seconds the room may take to settle, each time (waited for, polled, never assumed).
BOUND = 150.0


def incomplete(clients: dict, who: List[str]) -> List[str]:
    missing = []
    for nick in who:
        session = clients[nick].session
        others = set(who) - {nick}
        if (
            not session.forwardRoute.isForward(ROOM)
            or set(session.forwardRoute.part.senders(ROOM)) != others
            or set(session.forwardRoute.part.members(ROOM)) != others
        ):
            missing.append(nick)
    return missing


class JoinThroughRelayTests(LoopbackCase):
    timeout = 2 * BOUND + 60

    @inlineCallbacks
    def settled(self, clients: dict, who: List[str]):
        waited = 0.0
        while incomplete(clients, who) and waited < BOUND:
            yield deferLater(reactor, 0.5, lambda: None)
            waited += 0.5
        self.assertEqual(incomplete(clients, who), [])

    @inlineCallbacks
    def test_joinRoomOf20(self):
        keys = derive_room_keys(b"room secret", ROOM, TEST_KDF)
        clients = {}
        nicks = ["m%02d" % index for index in range(20)]
        for nick in nicks + ["zed"]:
            clients[nick] = yield self.client(nick)
        for nick in nicks:
            yield self.joined(ROOM, clients[nick])
            clients[nick].setKeys(ROOM, keys, "signed")
        clients["m00"].setLayer(ROOM, "forward")
        yield self.settled(clients, nicks)
        yield self.joined(ROOM, clients["zed"])
        clients["zed"].setKeys(ROOM, keys, "signed")
        yield self.settled(clients, nicks + ["zed"])
        heard = {nick: [] for nick in clients}
        for nick, client in clients.items():
            client.listen(
                lambda event, nick=nick: (
                    heard[nick].append(event.body)
                    if isinstance(event, ev.IncomingMessage) and event.target == ROOM
                    else None
                )
            )
        for nick in ("zed", "m00", "m19"):
            clients[nick].send(ROOM, "from %s" % (nick,))
        waited = 0.0
        while (
            any(len(heard[nick]) < (3 if nick not in ("zed", "m00", "m19") else 2) for nick in clients) and waited < 30
        ):
            yield deferLater(reactor, 0.2, lambda: None)
            waited += 0.2
        for nick in clients:
            self.assertEqual(
                sorted(heard[nick]), sorted("from %s" % (other,) for other in ("zed", "m00", "m19") if other != nick)
            )
