"""
The securechat client, in three folders by role: L{core} (the sans-IO
session that judges every line), L{adapters} (Twisted: the IRC protocol,
the service with its key worker, expiry and send queue, the state
directory) and L{faces} (the console and JSON lines; the proxy is
L{securechat.proxy}).
"""

from __future__ import annotations
