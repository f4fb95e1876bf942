"""
Staying connected: a L{ClientService} (backoff between attempts) around the
session's factory, and an endpoint wrapper that tells the user about each
failed attempt instead of retrying in silence.
"""

from __future__ import annotations

from typing import Callable, Optional

from twisted.application.internet import ClientService, backoffPolicy
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IProtocolFactory, IReactorTime, IStreamClientEndpoint
from twisted.python.failure import Failure
from zope.interface import implementer

from . import events as ev
from .protocol import IRCClientFactory

#: Backoff between reconnection attempts: 1 s, then x1.5 up to a minute.
INITIAL_DELAY = 1.0
MAX_DELAY = 60.0
BACKOFF_FACTOR = 1.5


def defaultRetryPolicy() -> Callable[[int], float]:
    """Exponential backoff with jitter, so clients of a restarted relay do not stampede."""
    return backoffPolicy(INITIAL_DELAY, MAX_DELAY, BACKOFF_FACTOR)


@implementer(IStreamClientEndpoint)
class ReportingEndpoint:
    """Wraps an endpoint; each failed connection attempt becomes an L{ev.Error}."""

    def __init__(
        self, wrapped: IStreamClientEndpoint, description: str, emit: Callable[[ev.Event], None]
    ) -> None:
        self.wrapped = wrapped
        self.description = description
        self.emit = emit

    def connect(self, protocolFactory: IProtocolFactory) -> Deferred:
        attempt = self.wrapped.connect(protocolFactory)

        def failed(reason: Failure) -> Failure:
            self.emit(
                ev.Error(
                    "cannot connect to %s: %s" % (self.description, reason.getErrorMessage()),
                    "connect",
                )
            )
            return reason

        attempt.addErrback(failed)
        return attempt


def makeClientService(
    reactor: IReactorTime,
    endpoint: IStreamClientEndpoint,
    description: str,
    factory: IRCClientFactory,
    emit: Callable[[ev.Event], None],
    retryPolicy: Optional[Callable[[int], float]] = None,
) -> ClientService:
    """The service that keeps C{factory}'s session connected through C{endpoint}."""
    return ClientService(
        ReportingEndpoint(endpoint, description, emit),
        factory,
        retryPolicy=retryPolicy or defaultRetryPolicy(),
        clock=reactor,
    )
