"""
securechat: an IRC-speaking chat relay that is treated as an adversary, and a
client whose layered codec lets the receiver notice what the relay did.

The arrows point one way: L{securechat.wire} and L{securechat.codec} import
nothing of ours and nothing of Twisted; the relay and the client are thin
Twisted adapters on top of them.
"""

__version__ = "0.1.0"
