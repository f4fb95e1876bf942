"""
Staying connected: a L{ClientService} (backoff between attempts) around the
session's factory, and an endpoint wrapper that tells the user about each
failed attempt instead of retrying in silence.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from twisted.application.internet import ClientService, backoffPolicy
from twisted.internet import error
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IProtocolFactory, IReactorTime, IStreamClientEndpoint
from twisted.python.failure import Failure
from zope.interface import implementer

from ..core import events as ev
from .protocol import IRCClientFactory

#: Backoff between reconnection attempts: 1 s, then x1.5 up to a minute.
INITIAL_DELAY = 1.0
MAX_DELAY = 60.0
BACKOFF_FACTOR = 1.5


def defaultRetryPolicy() -> Callable[[int], float]:
    """Exponential backoff with jitter, so clients of a restarted relay do not stampede."""
    return backoffPolicy(INITIAL_DELAY, MAX_DELAY, BACKOFF_FACTOR)


def whatToCheck(reason: Failure, description: str) -> str:
    """
    What a person should check after a failed connection attempt: said
    with the first failure in a row, so "Connection refused" is not all
    they learn.
    """
    where = "--server %s" % (description,)
    if reason.check(error.ConnectionRefusedError):
        return (
            "nothing listens there: check that the relay is running and that %s names its "
            "host and port (HOST:PORT; a bare HOST means port 6667)" % (where,)
        )
    if reason.check(error.DNSLookupError):
        return "the host name does not resolve: check its spelling in %s" % (where,)
    if reason.check(error.TimeoutError, error.TCPTimedOutError):
        return "no answer: check the host and port in %s, and any firewall on the way" % (where,)
    if reason.check(error.NoRouteError):
        return "no route to the host: check the network and the address in %s" % (where,)
    return "check %s and the network" % (where,)


@implementer(IStreamClientEndpoint)
class ReportingEndpoint:
    """
    Wraps an endpoint; each failed connection attempt becomes an
    L{ev.Error}, the first of a row with what to check.
    """

    def __init__(
        self, wrapped: IStreamClientEndpoint, description: str, emit: Callable[[ev.Event], None]
    ) -> None:
        self.wrapped = wrapped
        self.description = description
        self.emit = emit
        #: Failed attempts since the last connection (or the start).
        self.failures = 0

    def connect(self, protocolFactory: IProtocolFactory) -> Deferred:
        attempt = self.wrapped.connect(protocolFactory)

        def connected(protocol: Any) -> Any:
            self.failures = 0
            return protocol

        def failed(reason: Failure) -> Failure:
            self.failures += 1
            message = "cannot connect to %s: %s" % (self.description, reason.getErrorMessage())
            if self.failures == 1:
                message += " -- %s" % (whatToCheck(reason, self.description),)
            self.emit(ev.Error(message, "connect"))
            return reason

        attempt.addCallbacks(connected, failed)
        return attempt


def announcingPolicy(
    policy: Callable[[int], float], clock: IReactorTime, emit: Callable[[ev.Event], None]
) -> Callable[[int], float]:
    """
    C{policy}, telling each delay it chooses as an L{ev.Retrying}: the
    console shows when the next attempt comes.
    """

    def delay(attempt: int) -> float:
        seconds = policy(attempt)
        emit(ev.Retrying(seconds, clock.seconds() + seconds, attempt))
        return seconds

    return delay


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
        retryPolicy=announcingPolicy(retryPolicy or defaultRetryPolicy(), reactor, emit),
        clock=reactor,
    )
