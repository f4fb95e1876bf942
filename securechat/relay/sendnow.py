"""
Send to a TCP peer in the turn we flush it, when Twisted holds nothing for it.

C{FileDescriptor.write} only buffers: the bytes leave in a later
C{doWrite}, after an C{epoll} modify, a poll wake-up and a dispatch, and a
second modify once the buffer is empty.  The relay flushes each peer once
per reactor turn (see L{RelayProtocol.flush}), so when Twisted's buffer for
that peer is empty it may try the socket itself and give Twisted only what
the kernel would not take.  Order is kept: the socket is tried only while
Twisted holds nothing.  Measured with C{bench/relay.py} (docs/performance.md):
at a moderate chat rate this halves the relay's CPU and cuts its median
latency by more than half; at saturation fan-out per CPU-second rises ~1.7x.

This relies on attributes of C{twisted.internet.tcp.Connection} that are not
its public interface (C{socket}, C{dataBuffer}, C{_tempDataBuffer},
C{_writeDisconnected}).  So L{directSender} offers the shortcut only for a
plain TCP connection that has all of them, checked once per connection;
anything else (TLS, a test's C{StringTransport}, another reactor's
transport, a future Twisted that renames them) gets L{None} and the relay
uses C{transport.write} alone, which is always correct.
"""

from __future__ import annotations

from typing import Callable, Optional

from twisted.internet import tcp

#: The attributes of a TCP transport the shortcut reads.
_NEEDED = ("socket", "dataBuffer", "_tempDataBuffer", "connected", "disconnecting", "_writeDisconnected")

SendNow = Callable[[bytes], bytes]


def directSender(transport: object) -> Optional[SendNow]:
    """
    Return a function that sends what it can of some bytes at once and
    returns the rest (to be given to C{transport.write}), or L{None} when
    C{transport} is not a plain TCP connection this module understands.
    """
    if not isinstance(transport, tcp.Connection) or getattr(transport, "TLS", False):
        return None
    if not all(hasattr(transport, name) for name in _NEEDED):
        return None
    send = transport.socket.send

    def sendNow(data: bytes) -> bytes:
        if (
            transport.dataBuffer
            or transport._tempDataBuffer
            or not transport.connected
            or transport.disconnecting
            or transport._writeDisconnected
        ):
            return data  # Twisted holds bytes (or is closing): stay behind them
        try:
            sent = send(data)
        except OSError:
            # Would block, or the connection broke: the transport meets the
            # same condition on its own write and handles it its usual way.
            return data
        return data[sent:] if sent < len(data) else b""

    return sendNow


def releaseBuffers(transport: object) -> None:
    """
    Drop what a lost TCP transport still holds for its peer.

    C{abortConnection} discards the buffered bytes only in the sense that
    they are never sent: C{dataBuffer} and C{_tempDataBuffer} keep them
    (up to the SendQ plus the transport's 64 KiB for a reader cut for not
    reading) for as long as the transport object lives.  Once the
    connection is lost they can never be written, so let them go now
    rather than whenever the last reference to the transport does.  Only a
    plain TCP connection that is gone is touched; anything else is left as
    it is.
    """
    if not isinstance(transport, tcp.Connection) or getattr(transport, "TLS", False):
        return
    if not all(hasattr(transport, name) for name in ("dataBuffer", "_tempDataBuffer", "disconnected")):
        return
    if not transport.disconnected:
        return
    transport.dataBuffer = b""
    transport._tempDataBuffer = []
    transport._tempDataLen = 0
    transport.offset = 0
