"""
What the client keeps in its state directory, and when it writes it.

 - C{identity.json}: our Ed25519 identity key (made on first use);
 - C{trust.json}: the pins of the trust store: a user's decision (C{/trust},
   C{/verify}) is written at once, first uses with the next scheduled
   save (every L{FLUSH_INTERVAL} seconds) and on exit, so a member
   inventing nicks costs one write per interval, not one rewrite of the
   whole store per nick;
 - C{sessions-<network>.json}: the pairwise sessions' ratchets, written
   synchronously as they move (L{securechat.client.adapters.sessionstate});
 - C{held-<network>.json}: which peers have messages held for a session,
   never their text, so a restart says they were never sent
   (L{securechat.client.adapters.heldstate});
 - C{forward-<network>.json}: the sender chains of rooms on the forward
   layer, written synchronously as they move (L{securechat.client.adapters.forwardstate});
 - C{conversations-<network>.json}: per conversation, the replay floor and
   recent message ids and the sequence numbers seen (receiving), and our
   stream and sequence number (sending); and which rooms and peers were
   keyed, on what layer (never the key): after a restart they count as
   keyed until the key is entered again, so nothing goes there in clear; and
   the peers the user chose plain for (C{plain}: their nicks only), so that
   a peer without securechat, or a service, is not held for a session again.  Written every L{FLUSH_INTERVAL}
   seconds when it changed, and on exit, marked C{clean} then.

A restart after a clean exit reopens no replay or reorder window.  After a
crash, what happened since the last flush is lost: the replay floor is
then never lowered below the start-up one (now minus the allowed skew), and
our sending stream starts afresh (see L{Conversation.restore_state}).

Any file missing, unreadable or corrupt: a clear L{ev.Error} to the user
and the safe default, never a traceback.  Corrupt conversation state means
"floor = now": nothing stamped before the start is believed fresh.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any, Callable, Dict, List, Optional, Tuple

from twisted.application.service import Service
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from ...codec import LAYERS, Conversation, Identity, TrustStore
from ..core import events as ev
from .forwardstate import ForwardStore
from .heldstate import HeldStore
from .sessionstate import SessionStore
from .statedir import StateCorrupt, StateDir, StateError

IDENTITY_FILE = "identity.json"
TRUST_FILE = "trust.json"
STATE_FORMAT = 1
#: Seconds between two saves of the conversations' state: what a crash
#: can lose at most.
FLUSH_INTERVAL = 5.0
#: Conversations kept in the file that this run has not touched (yet).
MAX_SAVED_CONVERSATIONS = 256


def conversationsFile(network: str) -> str:
    """One file per server (the endpoint string), so two servers' rooms never mix."""
    return "conversations-%s.json" % (hashlib.sha256(network.encode("utf-8")).hexdigest()[:16],)


def loadIdentity(state: StateDir, warnings: List[str]) -> Identity:
    """Our identity: read, or made and saved on first use (or if the file is corrupt)."""
    try:
        opened = state.makePrivate(IDENTITY_FILE)
    except StateError as exc:
        warnings.append("%s; anyone who can read it can sign as you" % (exc,))
    else:
        if opened is not None:
            warnings.append(
                "%s was readable by others (mode %o): now 0600. Anyone who read it can sign as you: "
                "if that may have happened, move it aside to make a new identity key "
                "(the others will see 'identity changed' for you)" % (state.file(IDENTITY_FILE), opened)
            )
    try:
        data = state.readJson(IDENTITY_FILE)
    except StateCorrupt as exc:
        warnings.append("%s; a new identity key was made: the others will see 'identity changed' for you" % (exc,))
        data = None
    except StateError as exc:
        # Unreadable (permissions): do not overwrite a key we may get back.
        warnings.append("%s; this run uses a temporary identity key" % (exc,))
        return Identity.generate()
    if data is not None:
        try:
            if not isinstance(data, dict) or data.get("format") != STATE_FORMAT:
                raise ValueError
            return Identity.from_private_bytes(base64.b64decode(str(data.get("ed25519")), validate=True))
        except (ValueError, binascii.Error):
            aside = state.setAside(IDENTITY_FILE)
            warnings.append(
                "%s is not an identity key (kept as %s); a new identity key was made: "
                "the others will see 'identity changed' for you" % (state.file(IDENTITY_FILE), aside)
            )
    identity = Identity.generate()
    state.writeJson(
        IDENTITY_FILE,
        {"format": STATE_FORMAT, "ed25519": base64.b64encode(identity.private_bytes()).decode("ascii")},
    )
    return identity


#: Said when the conversations file cannot be read: the rooms and peers
#: that were keyed are not known, so nothing stops a line going in clear.
KEYED_LOST = "which rooms and peers were keyed is lost: /key them again before you talk there"


class StateKeeper(Service):
    """Loads the state at construction, saves it on a schedule and on stop."""

    log = Logger()

    def __init__(self, state: StateDir, network: str, reactor: Any, now: Callable[[], float]) -> None:
        self.state = state
        self.reactor = reactor
        self.now = now
        self.warnings: List[str] = []
        self.identity = loadIdentity(state, self.warnings)
        self.trust = TrustStore(on_change=self.trustChanged)
        #: First-use pins not written yet (the next flush writes them).
        self._trustDirty = False
        self._loadTrust()
        self._file = conversationsFile(network)
        self._saved: Dict[str, Any] = {}
        #: Keyed rooms and peers (codec-folded) and their layers, as saved.
        self._keyed: Dict[str, str] = {}
        #: Those brought back keyed (told to the user on start, L{_report}).
        self._restoredKeyed: List[Tuple[str, str]] = []
        #: Peers the user chose plain for (codec-folded), as saved.
        self._plain: List[str] = []
        self._clean = False
        self._floorNow = False
        self._loadConversations()
        #: The pairwise sessions (their own file, written as their ratchets move).
        self.sessions = SessionStore(state, network, self.warnings)
        #: Which peers have messages held for a session (never their text).
        self.held = HeldStore(state, network, self.warnings)
        #: Rooms on the forward layer (their own file, written as their chains move).
        self.forwardRooms = ForwardStore(state, network, self.warnings)
        self._session: Any = None
        self._written: Optional[bytes] = None
        #: (codec target, changes) of every conversation at the last save.
        self._versions: Optional[Dict[str, int]] = None
        self._failing = False
        self._loop = LoopingCall(self.flush)
        self._loop.clock = reactor

    # Loading.

    def _loadTrust(self) -> None:
        try:
            data = self.state.readJson(TRUST_FILE)
            if data is not None:
                self.trust.load(data)
        except (StateError, ValueError) as exc:
            if isinstance(exc, ValueError):
                aside = self.state.setAside(TRUST_FILE)
                exc = StateCorrupt("%s: %s (kept as %s)" % (self.state.file(TRUST_FILE), exc, aside))
            self.warnings.append(
                "%s; no pinned keys are known: every signing key is a first use again "
                "until you /verify them" % (exc,)
            )

    def _loadConversations(self) -> None:
        try:
            data = self.state.readJson(self._file)
        except StateError as exc:
            self._floorNow = True
            self.warnings.append(
                "%s; replay protection restarts from now: messages stamped before now are refused; %s"
                % (exc, KEYED_LOST)
            )
            return
        if data is None:
            return
        if (
            not isinstance(data, dict)
            or data.get("format") != STATE_FORMAT
            or not isinstance(data.get("conversations"), dict)
        ):
            self._floorNow = True
            aside = self.state.setAside(self._file)
            self.warnings.append(
                "%s is not securechat state (kept as %s); replay protection restarts from now; %s"
                % (self.state.file(self._file), aside, KEYED_LOST)
            )
            return
        self._saved = dict(data["conversations"])
        self._clean = data.get("clean") is True
        keyed = data.get("keyed", {})
        if not isinstance(keyed, dict):
            keyed = {}
            self.warnings.append(
                "%s: the list of keyed rooms and peers is malformed: /key them again before you talk there"
                % (self.state.file(self._file),)
            )
        plain = data.get("plain", [])
        if isinstance(plain, list):
            self._plain = [name for name in plain[:MAX_SAVED_CONVERSATIONS] if isinstance(name, str) and name]
        else:
            # Never a guess toward clear: each such peer is held for a session again until chosen plain.
            self.warnings.append(
                "%s: the list of peers you chose plain for is malformed: choose plain for them again"
                % (self.state.file(self._file),)
            )
        unknown = []
        for name, layer in list(keyed.items())[:MAX_SAVED_CONVERSATIONS]:
            if not isinstance(name, str) or layer == "plain":
                continue
            if not isinstance(layer, str) or layer not in LAYERS:
                # Keyed, on a layer we cannot read: never weaker than the
                # strongest, until the user enters the key (and a layer) again.
                unknown.append(name)
                layer = LAYERS[-1]
            self._keyed[name] = layer
        if unknown:
            self.warnings.append(
                "%s: the layer saved for %s is unknown: counted as keyed on %s until you /key it again"
                % (self.state.file(self._file), ", ".join(sorted(unknown)[:5]), LAYERS[-1])
            )

    def attach(self, session: Any) -> None:
        """
        Keep C{session}'s conversations: those it has are restored now, and
        each one it makes later by L{restore}, the session's C{onConversation}
        (given to it when it was built).
        """
        self._session = session
        self.sessions.attach(session.pairwise, session.emit)
        self.held.attach(session.directSessions, session.emit)
        self.forwardRooms.attach(session.forwardRoute.part, session.emit)
        for key, conversation in session.conversations().items():
            self.restore(key, conversation)
        self._restoredKeyed = [
            (name, layer) for name, layer in self._keyed.items() if session.keyring.restoreKeyed(name, layer)
        ]
        for name in self._plain:
            if session.keyring.keyedLayer(name) is None:  # keyed since (a later choice): keyed wins
                session.keyring.restorePlain(name)

    def _report(self) -> None:
        """Tell the user what could not be loaded (once the UI listens: on start)."""
        for warning in self.warnings:
            self.log.warn("state: {problem}", problem=warning)
            if self._session is not None:
                self._session.emit(ev.Error("state directory: " + warning, "state"))
        if self._session is not None:
            for name, layer in self._restoredKeyed:
                self._session.emit(ev.KeyNotEntered(name, layer))

    def restore(self, key: str, conversation: Conversation) -> None:
        saved = self._saved.pop(key, None)
        if saved is not None:
            try:
                conversation.restore_state(saved, self._clean)
            except ValueError as exc:
                warning = "the saved state of %s is malformed (%s): its replay protection restarts from now" % (
                    key,
                    exc,
                )
                self.log.warn("state: {problem}", problem=warning)
                if self._session is not None:
                    self._session.emit(ev.Error("state directory: " + warning, "state"))
                conversation.replay.raise_floor(self.now())
        if self._floorNow:
            conversation.replay.raise_floor(self.now())

    # Saving.

    def trustChanged(self, urgent: bool) -> None:
        """The user's word is written at once; a first use waits for the next flush."""
        if urgent:
            self.saveTrust()
        else:
            self._trustDirty = True

    def saveTrust(self) -> None:
        self._trustDirty = False
        try:
            self.state.writeJson(TRUST_FILE, self.trust.to_dict())
        except StateError as exc:
            self._trustDirty = True  # tried again at the next flush
            self._writeFailed(exc)

    def flush(self, clean: bool = False) -> None:
        """
        Save the pins if a first use changed them, and the conversations'
        state if it changed (always when C{clean}: the exit mark).
        """
        if self._trustDirty:
            self.saveTrust()
        current = self._session.conversations() if self._session is not None else {}
        versions: Dict[str, Any] = {key: conversation.changes for key, conversation in current.items()}
        keyed = self._session.keyring.keyedLayers() if self._session is not None else dict(self._keyed)
        versions[" keyed"] = sorted(keyed.items())  # no codec target starts with a space
        plain = self._session.keyring.plainPeers() if self._session is not None else list(self._plain)
        versions[" plain"] = plain
        if not clean and versions == self._versions:
            return  # nothing sent or accepted since the last save: no export, no write
        conversations: Dict[str, Any] = {}
        carried = list(self._saved.items())[-MAX_SAVED_CONVERSATIONS:]
        conversations.update(carried)
        for key, conversation in current.items():
            conversations[key] = conversation.export_state()
        body = json.dumps([conversations, keyed, plain], sort_keys=True, separators=(",", ":")).encode("utf-8")
        if not clean and body == self._written:
            self._versions = versions
            return
        document = {
            "format": STATE_FORMAT,
            "clean": clean,
            "saved_at": self.now(),
            "conversations": conversations,
            "keyed": keyed,
            "plain": plain,
        }
        try:
            self.state.writeJson(self._file, document)
        except StateError as exc:
            self._writeFailed(exc)
            return
        self._written = body
        self._versions = versions
        self._failing = False

    def _writeFailed(self, exc: StateError) -> None:
        self.log.warn("state: {error}", error=str(exc))
        if not self._failing and self._session is not None:
            self._failing = True
            self._session.emit(ev.Error("state directory: %s (a restart may reopen a replay window)" % (exc,), "state"))

    def startService(self) -> None:
        Service.startService(self)
        self._report()
        # Saved at once, not clean: should this run crash, the next one
        # must not take the last clean exit's state for the whole story.
        self.flush()
        self._loop.start(FLUSH_INTERVAL, now=False)

    def stopService(self) -> None:
        Service.stopService(self)
        if self._loop.running:
            self._loop.stop()
        self.flush(clean=True)
        self.state.close()
