"""
The programmatic client: what the JSON-lines mode, the twistd plugin, the
console, the demo and the tests drive.

    d = connect(reactor, "tcp:127.0.0.1:6667", "alice", kdfParams=TEST_KDF)
    client = yield d                      # registered (001 received)
    client.join("#lab")
    yield client.setKey("#lab", b"passphrase", "fernet-ttl")
    client.send("#lab", "hello")
    event = yield client.events.get()     # or client.listen(callback)

Key derivation (Argon2id, ~0.25 s with the default parameters) runs in a
worker thread of its own (L{KdfWorker}), one derivation at a time, so the
connection keeps being served meanwhile and quitting never waits for it.
"""

from __future__ import annotations

import time
from typing import Any, Callable, List, Optional, Type, Union

from twisted.application.service import Service
from twisted.internet.defer import Deferred, DeferredQueue, fail, succeed
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.internet.task import deferLater
from twisted.logger import Logger
from twisted.python.failure import Failure

from ...codec import (
    DEFAULT_KDF,
    DEFAULT_LIMITS,
    DEFAULT_MAX_SKEW,
    DEFAULT_TTL,
    Identity,
    KdfParams,
    ReassemblyLimits,
    RoomKeys,
    TrustStore,
)
from ...codec.roomsecret import new_room_secret
from ...endpointstrings import userServer
from ...tlsclient import TlsSettings, clientEndpoint
from ..core import commands as cmd
from ..core import events as ev
from ..core.pacing import Pace
from ..core.session import ClientSession, CommandError, NotConnected, checkTarget
from .persist import StateKeeper
from .protocol import IRCClientFactory
from .service import makeClientService
from .upkeep import SessionUpkeep

#: The namespace of the session's events: what it was when the session
#: logged them itself.
SESSION_LOG_NAMESPACE = "securechat.client.session.ClientSession"

#: How long connect() waits for registration before giving up.
REGISTRATION_TIMEOUT = 30.0

Matcher = Union[Type[ev.Event], Callable[[ev.Event], bool]]


class ClientTimeout(Exception):
    """An awaited event did not come in time."""


def _matcher(what: Matcher) -> Callable[[ev.Event], bool]:
    if isinstance(what, type):
        return lambda event: isinstance(event, what)
    return what


class HeadlessClient(Service):
    """
    A securechat client without a user interface, as a Twisted service:
    start it (or use L{connect}) and it stays connected, reconnecting with
    backoff, re-registering and rejoining its rooms.
    """

    log = Logger()

    def __init__(
        self,
        reactor: Any,
        endpoint: Union[str, IStreamClientEndpoint],
        nick: str,
        *,
        clock: Optional[Callable[[], float]] = None,
        kdfParams: Optional[KdfParams] = None,
        password: Optional[bytes] = None,
        username: str = "securechat",
        realname: str = "securechat client",
        ttl: int = DEFAULT_TTL,
        maxSkew: int = DEFAULT_MAX_SKEW,
        limits: ReassemblyLimits = DEFAULT_LIMITS,
        retryPolicy: Optional[Callable[[int], float]] = None,
        tls: Optional[TlsSettings] = None,
        identity: Optional[Identity] = None,
        trust: Optional[TrustStore] = None,
        stateKeeper: Optional[StateKeeper] = None,
        pace: Optional[Pace] = None,
    ) -> None:
        self.reactor = reactor
        self.kdfParams = kdfParams if kdfParams is not None else DEFAULT_KDF
        self._clock: Callable[[], float] = clock if clock is not None else time.time
        self._listeners: List[Callable[[ev.Event], None]] = []
        self._queue: Optional[DeferredQueue] = None
        self._quitReason = ""
        self.session = ClientSession(
            nick,
            self._emit,
            log=Logger(namespace=SESSION_LOG_NAMESPACE),
            clock=self._now,
            username=username,
            realname=realname,
            password=password,
            ttl=ttl,
            maxSkew=maxSkew,
            limits=limits,
            identity=identity if identity is not None or stateKeeper is None else stateKeeper.identity,
            trust=trust if trust is not None or stateKeeper is None else stateKeeper.trust,
            onConversation=None if stateKeeper is None else stateKeeper.restore,
            pace=pace,
        )
        #: The state directory's keeper (L{securechat.client.adapters.startup.buildClient}):
        #: it restores each conversation as the session makes it, and saves them.
        self.stateKeeper = stateKeeper
        if stateKeeper is not None:
            stateKeeper.attach(self.session)
        if isinstance(endpoint, str):
            # HOST:PORT, HOST, irc:// and ircs:// as IRC users write them.
            description = userServer(endpoint) or endpoint
            # ssl: and tls: check the server's certificate and name (see tlsclient).
            endpoint = clientEndpoint(
                reactor, description, tls or TlsSettings(), lambda message, code: self._emit(ev.Error(message, code))
            )
        elif tls is not None:
            raise TypeError("tls settings apply to endpoint descriptions (strings) only")
        else:
            description = repr(endpoint)
        self.endpoint_description = description
        #: Where the client connects (for ssl:/tls:, a certificate-checking endpoint).
        self.endpoint = endpoint
        self.factory = IRCClientFactory(self.session, reactor)
        self.service = makeClientService(
            reactor, endpoint, description, self.factory, self._emit, retryPolicy
        )
        #: The key worker and the expiry loop, as every face's session has them.
        self.upkeep = SessionUpkeep(reactor, self.session)
        #: Runs this client's Argon2id derivations, in order, one at a time.
        self.kdf_worker = self.upkeep.worker

    # Events.

    def _emit(self, event: ev.Event) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception as exc:  # a listener's bug must not break the connection
                self.log.failure("event listener failed on {event!r}", Failure(exc), event=event)

    def listen(self, callback: Callable[[ev.Event], None]) -> Callable[[], None]:
        """Call C{callback} with every event from now on; returns an unsubscribe function."""
        self._listeners.append(callback)

        def unsubscribe() -> None:
            if callback in self._listeners:
                self._listeners.remove(callback)

        return unsubscribe

    @property
    def events(self) -> DeferredQueue:
        """
        Every event from the first access on, in order (C{events.get()}).
        Created on first use, so a client nobody reads this way keeps none.
        """
        if self._queue is None:
            self._queue = DeferredQueue()
            self._listeners.append(self._queue.put)
        return self._queue

    def waitFor(self, what: Matcher, timeout: Optional[float] = 10.0) -> Deferred:
        """
        The next event (from now on) that is an instance of C{what}, or for
        which C{what(event)} is true; fails with L{ClientTimeout}.
        """
        match = _matcher(what)
        timers: List[Any] = []

        def finish() -> None:
            unsubscribe()
            for timer in timers:
                if timer.active():
                    timer.cancel()

        result: Deferred = Deferred(lambda d: finish())

        def check(event: ev.Event) -> None:
            if match(event) and not result.called:
                finish()
                result.callback(event)

        def expired() -> None:
            unsubscribe()
            if not result.called:
                result.errback(ClientTimeout("no matching event within %s s" % (timeout,)))

        unsubscribe = self.listen(check)
        if timeout is not None:
            timers.append(self.reactor.callLater(timeout, expired))
        return result

    # Clock.

    def _now(self) -> float:
        return self._clock()

    def setClock(self, clock: Callable[[], float]) -> None:
        """Use C{clock} as the codec's time from now on (the demo shifts a sender by -45 s)."""
        self._clock = clock

    # Service.

    def startService(self) -> None:
        Service.startService(self)
        self.factory.reconnecting = True
        self.service.startService()
        self.upkeep.start()

    def stopService(self) -> Deferred:
        """Send QUIT (with the reason given to L{quit}), stop reconnecting, close."""
        Service.stopService(self)
        self.factory.reconnecting = False
        current = self.factory.current
        if current is not None:
            current.reconnecting = False
        self.upkeep.stop()
        try:
            self.session.quit(self._quitReason)
        except NotConnected:
            pass
        return self.service.stopService()

    def quit(self, reason: str = "") -> Deferred:
        """Say goodbye and stay disconnected; fires when the connection is closed."""
        self._quitReason = reason
        return self.stopService() if self.running else succeed(None)

    # Commands.  Each raises CommandError or NotConnected (both with a
    # sentence for the user) when it cannot be carried out.

    @property
    def nick(self) -> str:
        return self.session.nick

    @property
    def connected(self) -> bool:
        return self.session.connected

    def rooms(self) -> List[str]:
        """The rooms we are in now."""
        return [room.name for room in self.session.rooms.values()]

    def run(self, command: cmd.Command) -> cmd.Answer:
        """Carry out a face's typed command (L{securechat.client.core.commands})."""
        return cmd.execute(self.session, command)

    def join(self, room: str) -> None:
        self.run(cmd.Join(room))

    def part(self, room: str, reason: str = "") -> None:
        self.run(cmd.Part(room, reason))

    def send(self, target: str, text: str, force: bool = False) -> Union[ev.Sent, ev.Queued, ev.Paced]:
        """
        Encode C{text} on C{target}'s layer (chunked to fit) and send it, or,
        while C{target}'s key is being derived, queue it for that key
        (L{ev.Queued}; L{ev.Sent} or L{ev.Unsent} follows).  C{force} sends
        in clear to a keyed peer whose key no longer applies.
        """
        sent = self.run(cmd.Say(target, text, force))
        assert isinstance(sent, (ev.Sent, ev.Queued, ev.Paced))
        return sent

    def action(self, target: str, text: str, force: bool = False) -> Union[ev.Sent, ev.Queued, ev.Paced]:
        """
        C{/me text} to C{target}: the CTCP ACTION framing is the body, so on a
        keyed layer it travels sealed, like any message.
        """
        sent = self.run(cmd.Me(target, text, force))
        assert isinstance(sent, (ev.Sent, ev.Queued, ev.Paced))
        return sent

    def topic(self, room: str, text: Optional[str] = None) -> None:
        """Ask C{room}'s topic (a L{ev.Topic} follows), or set it to C{text}."""
        self.run(cmd.Topic(room, text))

    def whois(self, nick: str) -> None:
        """Ask the server about C{nick}: L{ev.Whois} events follow."""
        self.run(cmd.Whois(nick))

    def away(self, text: str = "") -> None:
        """Be marked away with C{text}, or back with none."""
        self.run(cmd.Away(text))

    def setNick(self, nick: str) -> None:
        self.run(cmd.Nick(nick))

    def names(self, room: str) -> None:
        self.run(cmd.Names(room))

    def who(self, mask: str) -> None:
        self.run(cmd.Who(mask))

    def setLayer(self, target: str, layer: str, force: bool = False) -> ev.LayerSet:
        """
        Switch C{target} to C{layer} (a keyed layer needs a key set first; a
        lower layer than C{target} has needs C{force}).
        """
        done = self.run(cmd.Layer(target, layer, force))
        assert isinstance(done, ev.LayerSet)
        return done

    def layer(self, target: str) -> str:
        return self.session.layerFor(target)

    def fingerprint(self, target: str) -> Optional[str]:
        """The fingerprint of the key in use for C{target}, L{None} when plain."""
        return self.session.fingerprint(target)

    def deriveKeys(self, target: str, passphrase: bytes) -> Deferred:
        """
        Run Argon2id for (C{passphrase}, C{target}) off the reactor thread,
        after the derivations asked for before (see L{KdfWorker}).
        """
        if not isinstance(passphrase, bytes) or not passphrase:
            return fail(CommandError("the passphrase must be non-empty bytes"))
        try:
            checkTarget(target)  # before the costly derivation, not after it
        except CommandError as error:
            return fail(error)
        return self.upkeep.derive(self.session.codecTarget(target), passphrase, self.kdfParams)

    def setKeys(
        self, target: str, keys: RoomKeys, layer: Optional[str] = None, force: bool = False
    ) -> ev.KeySet:
        """Use already derived C{keys} for C{target} (see L{deriveKeys})."""
        return self.session.setKeys(target, keys, layer, force)

    def setKey(
        self, target: str, passphrase: bytes, layer: Optional[str] = None, force: bool = False
    ) -> Deferred:
        """
        Derive keys from C{passphrase} for C{target} and use them on C{layer}
        (default: the layer chosen with L{setLayer}, else fernet-ttl).
        Fires with the L{ev.KeySet} event (which carries the fingerprint).
        From the call on, C{target} counts as keyed: what is sent to it
        waits for the key (and is refused if the derivation fails), never
        goes out on a lower layer.  The passphrase is neither kept nor logged.
        """
        session = self.session
        try:
            request = session.keyRequested(target, layer, force)
        except CommandError as exc:
            return fail(exc)
        derived = self.deriveKeys(target, passphrase)

        def failed(reason: Failure) -> Failure:
            session.keyFailed(target, request, reason.getErrorMessage())
            return reason

        derived.addCallbacks(
            lambda keys: session.keyArrived(target, request, keys, layer), failed
        )
        return derived

    def key(self, command: cmd.Key, passphrase: Optional[bytes] = None) -> Deferred:
        """
        Carry out a face's L{cmd.Key}: with C{passphrase} (L{setKey}), or a
        generated room secret (L{newRoomSecret}).  Fires with the L{ev.KeySet}.
        """
        if command.new:
            return self.newRoomSecret(command.target, command.layer, command.force)
        if passphrase is None:
            return fail(CommandError("a key needs a passphrase"))
        return self.setKey(command.target, passphrase, command.layer, command.force)

    def newRoomSecret(
        self, target: str, layer: Optional[str] = None, force: bool = False
    ) -> Deferred:
        """
        Generate a room secret for C{target} (128 random bits, L{ev.RoomSecret}
        carries its code, to pass on out of band) and key C{target} with it
        (L{setKey}: HKDF, no Argon2id).  Fires with the L{ev.KeySet} event.
        """
        try:
            checkTarget(target)
        except CommandError as error:
            return fail(error)
        code = new_room_secret()
        self._emit(ev.RoomSecret(target, code))
        return self.setKey(target, code.encode("ascii"), layer, force)


def connect(
    reactor: Any,
    endpoint: Union[str, IStreamClientEndpoint],
    nick: str,
    *,
    clock: Optional[Callable[[], float]] = None,
    kdfParams: Optional[KdfParams] = None,
    timeout: float = REGISTRATION_TIMEOUT,
    **options: Any,
) -> Deferred:
    """
    Start a L{HeadlessClient} and fire with it once registered.  Fails (and
    stops the client) if the first connection attempt fails or registration
    takes longer than C{timeout}; after that, it reconnects on its own.
    """
    client = HeadlessClient(reactor, endpoint, nick, clock=clock, kdfParams=kdfParams, **options)
    registered = client.waitFor(ev.Connected, timeout)
    client.startService()
    first = client.service.whenConnected(failAfterFailures=1)
    result: Deferred = Deferred()
    failing: List[Failure] = []

    def failed(reason: Failure) -> None:
        if result.called or failing:
            return
        failing.append(reason)
        registered.cancel()
        # Not from inside the ClientService's own callback (it is not
        # reentrant): stop on the next turn, then report.
        stopped = deferLater(reactor, 0, client.stopService)
        stopped.addBoth(lambda ignored: result.errback(reason))

    def done(event: ev.Connected) -> None:
        if not result.called:
            result.callback(client)

    first.addErrback(failed)
    registered.addCallbacks(done, failed)
    registered.addErrback(lambda reason: None)
    return result


__all__ = [
    "ClientTimeout",
    "CommandError",
    "HeadlessClient",
    "NotConnected",
    "connect",
]
