"""
What a session needs beside its connection, whichever face runs it (the
headless client under the console and JSON lines, and the proxy): the key
worker (Argon2id off the reactor, one derivation at a time) and the
periodic expiry of chunked messages that never completed.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import LoopingCall

from ...codec import KdfParams
from ..core.session import ClientSession
from .kdfworker import KdfWorker

#: How often unfinished chunked messages are checked for their timeout.
EXPIRE_INTERVAL = 5.0


class SessionUpkeep:
    """The key worker and the expiry loop of one session."""

    def __init__(self, reactor: Any, session: ClientSession) -> None:
        self.session = session
        #: Argon2id off the reactor, one at a time (cryptography 50 hangs on two).
        self.worker = KdfWorker(reactor)
        self._expiry = LoopingCall(session.expire)
        self._expiry.clock = reactor

    def derive(self, codecTarget: str, passphrase: bytes, params: KdfParams) -> Deferred:
        """The keys of C{codecTarget} for C{passphrase}, after the derivations asked for before."""
        return self.worker.submit(passphrase, codecTarget, params, self.session.codecFold)

    def start(self) -> None:
        self._expiry.start(EXPIRE_INTERVAL, now=False)

    def stop(self) -> None:
        if self._expiry.running:
            self._expiry.stop()
