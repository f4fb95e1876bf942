"""
The securechat client: a sans-IO session (L{session}), a thin Twisted IRC
adapter (L{protocol}), reconnection (L{service}), and the faces built on
them: the programmatic L{headless} client, JSON lines, and the console.
"""

from __future__ import annotations
