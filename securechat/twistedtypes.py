"""
What the Twisted adapters use of a connection's transport and of the
reactor, as types.

Twisted types C{Protocol.transport} as C{Optional[ITransport]} (it is
L{None} until C{makeConnection}), and the methods a connected TCP or TLS
transport also has (C{pauseProducing}, C{registerProducer},
C{abortConnection}...) live on other interfaces.  L{ConnectedTransport} names
the set the adapters rely on, and L{TransportUser.tcp} is the transport as
one, for a protocol that is connected.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional, cast

if TYPE_CHECKING:  # pragma: no cover
    from typing import Protocol as _Protocol

    from twisted.internet.interfaces import IAddress, IReactorTime, ITransport

    class ConnectedTransport(_Protocol):
        """A TCP transport, or a TLS one over it: what the adapters call."""

        def write(self, data: bytes) -> None: ...

        def loseConnection(self) -> None: ...

        def abortConnection(self) -> None: ...

        def getPeer(self) -> IAddress: ...

        def pauseProducing(self) -> None: ...

        def resumeProducing(self) -> None: ...

        def registerProducer(self, producer: object, streaming: bool) -> None: ...

        def unregisterProducer(self) -> None: ...


class TransportUser:
    """A mixin for a Twisted protocol: its transport, typed as connected."""

    transport: Optional[ITransport]

    @property
    def tcp(self) -> ConnectedTransport:
        """The transport, from C{connectionMade} on."""
        return cast("ConnectedTransport", self.transport)


def defaultReactor(clock: Optional[IReactorTime] = None) -> IReactorTime:
    """C{clock}, or the global reactor when it is L{None}."""
    if clock is not None:
        return clock
    from twisted.internet import reactor

    return cast("IReactorTime", reactor)
