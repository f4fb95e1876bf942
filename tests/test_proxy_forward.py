"""The proxy's *securechat speaks the forward layer: 'layer #room forward' and 'remove #room nick'."""

from __future__ import annotations

from twisted.trial.unittest import TestCase

from securechat.client.core.serverlines import RESERVED as PSEUDO

from .test_proxy_core import ROOM, Side


class ProxyForwardTests(TestCase):
    def test_layerForwardAndRemove(self) -> None:
        alice = Side("alice")
        alice.register()
        alice.client("PRIVMSG %s :remove %s bob" % (PSEUDO, ROOM))
        self.assertIn("not on the forward layer", alice.replies()[-1])
        alice.key(layer="signed")
        alice.client("PRIVMSG %s :layer %s forward" % (PSEUDO, ROOM))
        self.assertTrue(alice.session.forwardRoute.isForward(ROOM))
        # The console's order (layer first) is the same wish.
        alice.client("PRIVMSG %s :layer forward %s" % (PSEUDO, ROOM))
        self.assertTrue(alice.session.forwardRoute.isForward(ROOM))
        alice.down.clear()
        alice.client("PRIVMSG %s :remove %s bob" % (PSEUDO, ROOM))
        self.assertEqual(alice.session.forwardRoute.part.members(ROOM), [])
        sealed = [line for line in alice.up if b"+sc2 forward " in line]
        self.assertEqual(len(sealed), 1, alice.up)
        alice.client("PRIVMSG %s :help" % (PSEUDO,))
        self.assertTrue(any("remove <#room> <nick>" in reply for reply in alice.replies()))
