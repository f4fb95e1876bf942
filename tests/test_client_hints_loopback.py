"""
Refusal hints end to end, over loopback sockets through our relay: a member
with a wrong passphrase, or a sender whose clock is off, and the sender
learns it, unauthenticated, naming the very message it sent.
"""

from __future__ import annotations

import time

from twisted.internet.defer import inlineCallbacks

from securechat.client.core import events as ev

from .test_client_support import WAIT, LoopbackCase

ROOM = "#lab"
PASSPHRASE = b"correct horse battery staple"


class HintLoopbackTests(LoopbackCase):
    @inlineCallbacks
    def pair(self):
        alice = yield self.client("alice")
        bob = yield self.client("bob")
        yield self.joined(ROOM, alice, bob)
        return alice, bob

    @inlineCallbacks
    def sendAndHear(self, alice, body):
        """alice sends C{body}: her L{ev.Sent}, then the hint that comes back about it."""
        sent = alice.waitFor(lambda e: isinstance(e, ev.Sent), WAIT)
        hinted = alice.waitFor(lambda e: isinstance(e, ev.RefusalHint), WAIT)
        alice.send(ROOM, body)
        sentEvent = yield sent
        hint = yield hinted
        return sentEvent, hint

    @inlineCallbacks
    def test_wrongPassphraseTheSenderLearns(self):
        alice, bob = yield self.pair()
        yield alice.setKey(ROOM, PASSPHRASE, "fernet-ttl")
        yield bob.setKey(ROOM, b"a wrong passphrase", "fernet-ttl")
        sent, hint = yield self.sendAndHear(alice, "can you read me?")
        self.assertEqual(
            (hint.target, hint.by, hint.reason, hint.count, hint.msgids, hint.bodies, hint.unknown),
            (ROOM, "bob", "tampered", 1, (sent.msgid,), ("can you read me?",), 0),
        )

    @inlineCallbacks
    def test_expiredTheSenderLearns(self):
        alice, bob = yield self.pair()
        for member in (alice, bob):
            yield member.setKey(ROOM, PASSPHRASE, "fernet-ttl")
        alice.setClock(lambda: time.time() - 45)
        sent, hint = yield self.sendAndHear(alice, "late")
        self.assertEqual((hint.by, hint.reason, hint.msgids), ("bob", "expired", (sent.msgid,)))
