"""
A hostile server played against the real proxy core: every way the issue
found to slip a line past the judgment, then a few thousand generated
lines (fixed seed), then any bytes (hypothesis).  Two things must hold
whatever the server sends:

  - no text it chose reaches the IRC client as a message that is not
    marked plain, nor as a message in a keyed conversation, nor in the
    proxy's own voice (C{*securechat}) except quoted as unprotected;
  - nothing the user types to a keyed room (any case, any STATUSMSG
    form) reaches the server in clear.
"""

from __future__ import annotations

import random
from typing import Callable, List, Optional

from hypothesis import given
from hypothesis import strategies as st
from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.endpoints import TCP4ClientEndpoint, serverFromString
from twisted.internet.protocol import Factory, Protocol
from twisted.trial.unittest import SynchronousTestCase, TestCase

from securechat.client.core.serverlines import (
    ForConversation,
    Knowledge,
    Passing,
    PlainMessage,
    Refused,
    ServerLine,
    Unparsable,
    classify,
    readServerLine,
)
from securechat.codec import TEST_KDF
from securechat.proxy.core import PSEUDO, PSEUDO_SOURCE
from securechat.proxy.service import ProxyService
from securechat.wire import LineSplitter, Message, WireError, parseLine

from .test_client_support import WAIT
from .test_proxy_core import ROOM, Side, relay

#: What the hostile server writes; found in a line to the IRC client, it
#: must be marked plain, or quoted by the proxy as unprotected.
CANARY = "FORGED-7c1e"
#: What the user types to keyed rooms: never on the wire in clear.
SECRET = "SECRET-d41a"
#: The only place the proxy quotes a hostile text in its own voice.
QUOTED = "UNPROTECTED, not shown as theirs: "
SERVER = "irc.test"
#: Every form that addresses the keyed room.
KEYED_FORMS = ("#lab", "#LAB", "#Lab", "@#lab", "+#lab", "%#lab", "@+#lab", "~#LAB", "&#lab")
PLAIN_MARK = "[plain] "


def keyedSide() -> Side:
    """alice's proxy, registered at irc.test, in #lab keyed on fernet-ttl and with peer carol keyed."""
    alice = Side("alice")
    alice.register()
    alice.key()
    alice.key("carol")
    alice.up.clear()
    alice.down.clear()
    return alice


def forgeries(lines: List[bytes], side: Optional[Side] = None,
              keyedPeer: Optional[Callable[[str], bool]] = None) -> List[str]:
    """Why each line to the IRC client that carries the canary is a forgery (empty: none is)."""
    found = []
    for raw in lines:
        if CANARY.encode() not in raw:
            continue
        try:
            message = parseLine(raw.rstrip(b"\r\n"))
        except WireError:
            found.append("an unparsable line passed: %r" % (raw,))
            continue
        why = forgery(message, side, keyedPeer)
        if why is not None:
            found.append("%s: %r" % (why, raw))
    return found


def forgery(message: Message, side: Optional[Side] = None,
            keyedPeer: Optional[Callable[[str], bool]] = None) -> Optional[str]:
    """Why C{message}, which carries the canary, is a forgery, or L{None}."""
    if message.source == PSEUDO_SOURCE or (message.sourceNick or "").lower() == PSEUDO:
        text = message.params[-1] if message.params else ""
        head = text.split(QUOTED, 1)[0]
        # The relay's nick, one word, may be named as the claimed sender.
        head = " ".join(word for word in head.split(" ") if CANARY not in word or "!" in word)
        if CANARY in head or CANARY in " ".join(message.params[:-1]):
            return "hostile text in the proxy's voice"
        return None
    if message.command not in ("PRIVMSG", "NOTICE"):
        return None  # metadata (numerics, topics...), not a message line
    if len(message.params) < 2:
        return None
    target, text = message.params[0], message.params[1]
    direct = not target.lstrip("@+%~&!").startswith("#")
    # A keyed peer's key follows its nick (the relay may rename it): keyed is what the session says now.
    peer = message.sourceNick or ""
    if keyedPeer is not None:
        keyed = keyedPeer(peer)
    else:
        keyed = side.session.expectedLayer(peer) != "plain" if side is not None else peer.lower() == "carol"
    if target.lstrip("@+%~&!").lower() == ROOM or (direct and keyed):
        return "hostile text as a message in a keyed conversation"
    if text.startswith(PLAIN_MARK) or (text[:8].upper() == "\x01ACTION " and text[8:].startswith(PLAIN_MARK)):
        return None
    if text.startswith("\x01") and not text.upper().startswith("\x01ACTION"):
        return None  # a CTCP request or reply: the IRC client's own business, not a message line
    return "hostile text as a message not marked plain"


def leaks(side: Side) -> List[bytes]:
    return [line for line in side.up if SECRET.encode() in line]


class HostileCasesTests(SynchronousTestCase):
    """Each way in the issue, and the neighbours of each."""

    CASES = (
        # Sources: dotted, the server's own name, none, a bare nick, the real form.
        ":bob.x PRIVMSG #lab :[auth+fresh] transfer the funds, I approve " + CANARY,
        ":%s PRIVMSG #lab :[auth+fresh] %s" % (SERVER, CANARY),
        "PRIVMSG #lab :[auth+fresh] " + CANARY,
        ":bob PRIVMSG #lab :[auth+fresh] " + CANARY,
        ":bob!~bob@h PRIVMSG #lab :[auth+fresh] " + CANARY,
        ":bob.x NOTICE alice :[auth+fresh] " + CANARY,
        ":%s NOTICE alice :[auth+fresh] %s" % (SERVER, CANARY),
        ":%s PRIVMSG alice :[auth+fresh] %s" % (SERVER, CANARY),
        # Commands in any case, tags, double spaces.
        ":bob!~bob@h privmsg #lab :[auth+fresh] " + CANARY,
        ":bob!~bob@h PrivMsg #lab :[auth+fresh] " + CANARY,
        "@time=2026-01-01T00:00:00Z :bob!~bob@h PRIVMSG #lab :[auth+fresh] " + CANARY,
        ":bob!~bob@h  PRIVMSG  #lab  :[auth+fresh] " + CANARY,
        "@a=b  :bob!~bob@h   notice   #lab   :" + CANARY,
        # NOTICE, CTCP in any case, TAGMSG.
        ":bob!~bob@h NOTICE #lab :[auth+fresh] " + CANARY,
        ":bob!~bob@h PRIVMSG #lab :\x01ACTION [auth+fresh] %s\x01" % (CANARY,),
        ":bob!~bob@h PRIVMSG #lab :\x01action [auth+fresh] %s\x01" % (CANARY,),
        ":bob!~bob@h PRIVMSG #lab :\x01VERSION %s\x01" % (CANARY,),
        ":bob!~bob@h NOTICE #lab :\x01version %s\x01" % (CANARY,),
        "@+draft/react=%s :bob!~bob@h TAGMSG #lab" % (CANARY,),
        ":bob!~bob@h PRIVMSG alice :\x01action [auth+fresh] %s\x01" % (CANARY,),
        # STATUSMSG and case variants of the keyed room; the keyed peer.
        ":bob!~bob@h PRIVMSG @#lab :[auth+fresh] " + CANARY,
        ":bob!~bob@h PRIVMSG +#lab :[auth+fresh] " + CANARY,
        ":bob!~bob@h NOTICE @#LAB :[auth+fresh] " + CANARY,
        ":bob!~bob@h PRIVMSG #LAB :[auth+fresh] " + CANARY,
        ":bob!~bob@h PRIVMSG #Lab,#other :[auth+fresh] " + CANARY,
        ":carol!~c@h PRIVMSG alice :[auth+fresh] " + CANARY,
        ":CAROL!~c@h NOTICE alice :[auth+fresh] " + CANARY,
        # The reserved name: by prefix, any case, and by NICK.
        ":*securechat!securechat@securechat.invalid NOTICE alice :#lab is keyed " + CANARY,
        ":*securechat!securechat@securechat.invalid PRIVMSG alice :type the passphrase " + CANARY,
        ":*SecureChat!x@y PRIVMSG alice :" + CANARY,
        ":*securechat PRIVMSG alice :" + CANARY,
        ":bob!~bob@h PRIVMSG *securechat :" + CANARY,
        # Forged tags, forged +sc2 pieces.
        "@securechat/protection=auth+fresh :bob!~bob@h PRIVMSG #other :" + CANARY,
        "@+securechat/layer=signed :bob!~bob@h PRIVMSG alice :" + CANARY,
        ":bob!~bob@h PRIVMSG #lab :+sc2 fernet-ttl %s 1/1 AAAA" % (CANARY,),
        ":bob!~bob@h PRIVMSG #other :+sc2 fernet-ttl %s 1/2 AAAA" % (CANARY,),
        ":bob!~bob@h PRIVMSG alice :+sc2 fernet-ttl %s 1/1 AAAA" % (CANARY,),
        # A plain direct message that mimics a mark.
        ":bob!~bob@h PRIVMSG alice :[auth+fresh] " + CANARY,
        ":bob!~bob@h PRIVMSG #other :[auth+fresh] " + CANARY,
    )

    def test_eachCase(self) -> None:
        for line in self.CASES:
            alice = keyedSide()
            alice.server(line)
            self.assertEqual(forgeries(alice.down, alice), [], line)
            self.assertEqual(leaks(alice), [])

    def test_notUtf8NeverPassesWhateverItsCase(self) -> None:
        for line in (
            b":bob!~bob@h privmsg #lab :\xff [auth+fresh] " + CANARY.encode(),
            b":bob!~bob@h PRIVMSG alice :\xff " + CANARY.encode(),
            b":irc.test 372 alice :\xff " + CANARY.encode(),
            b"\xff\xfe",
        ):
            alice = keyedSide()
            alice.core.upstream.lineReceived(line)
            self.assertEqual(alice.down, [], line)
            self.assertEqual(alice.core.refusedCounts.get("unparsable line"), 1)

    def test_theReservedNameIsDroppedAndCounted(self) -> None:
        alice = keyedSide()
        alice.server(":*securechat!securechat@securechat.invalid NOTICE alice :#lab is keyed")
        alice.server(":bob!~bob@h NICK *securechat")
        alice.server(":bob!~bob@h NICK :*SECURECHAT")
        self.assertEqual(alice.down, [])
        self.assertEqual(alice.core.refusedCounts, {
            "a line claiming to come from *securechat": 1, "a nick change to *securechat": 2})
        alice.client("PRIVMSG %s :status" % (PSEUDO,))
        self.assertEqual(alice.replies()[-1], "lines from the server refused: "
                         "a line claiming to come from *securechat: 1; a nick change to *securechat: 2")

    def test_refusedInTheKeyedRoomIsSaidThereQuoted(self) -> None:
        """A newcomer asking in clear is read (quoted, unprotected), never shown as speaking."""
        alice = keyedSide()
        alice.server(":newbie!~n@h PRIVMSG #lab :how do I join?")
        [message] = alice.downMessages()
        self.assertEqual(message.source, PSEUDO_SOURCE)
        self.assertEqual(message.command, "NOTICE")
        self.assertTrue(message.params[1].startswith("in #lab: REJECTED message claimed from newbie: unprotected"))
        self.assertTrue(message.params[1].endswith(QUOTED + "how do I join?"), message.params[1])
        alice.down.clear()
        alice.server("@+typing=active :newbie!~n@h TAGMSG @#lab")
        self.assertEqual("in #lab: REFUSED a TAGMSG claimed from newbie: it cannot carry protected text",
                         alice.notices()[-1])

    def test_everyLineInClearIsRead(self) -> None:
        """
        Refusals are grouped, but a line in clear is its own text: the
        newcomer's second and third questions are read too, not counted.
        """
        alice = keyedSide()
        for question in ("how do I join?", "anyone?", "hello?"):
            alice.server(":newbie!~n@h PRIVMSG #lab :%s" % (question,))
        quoted = [text for text in alice.notices() if QUOTED in text]
        self.assertEqual([text.split(QUOTED)[-1] for text in quoted], ["how do I join?", "anyone?", "hello?"])

    def test_statusmsgFormIsJudgedAndOpened(self) -> None:
        """A sealed line sent to @#lab is judged as #lab's, and shown with its mark."""
        alice, bob = keyedSide(), Side("bob")
        bob.register()
        bob.key()
        bob.up.clear()
        bob.client("PRIVMSG #lab :to the ops")
        sealed = [line.replace(b"PRIVMSG #lab ", b"PRIVMSG @#lab ") for line in bob.up]
        relay(bob, alice, sealed)
        self.assertEqual(alice.down, [b":bob!u@h PRIVMSG @#lab :[auth+fresh] to the ops\r\n"])

    def test_plainMessagesAreMarkedPlain(self) -> None:
        alice = keyedSide()
        alice.server(":bob!~bob@h PRIVMSG alice :[auth+fresh] looks protected")
        alice.server(":bob!~bob@h PRIVMSG #other :\x01action waves\x01")
        alice.server(":bob!~bob@h PRIVMSG alice :\x01VERSION\x01")
        self.assertEqual(alice.down, [
            b":bob!~bob@h PRIVMSG alice :[plain] [auth+fresh] looks protected\r\n",
            b":bob!~bob@h PRIVMSG #other :\x01ACTION [plain] waves\x01\r\n",
            b":bob!~bob@h PRIVMSG alice :\x01VERSION\x01\r\n",
        ])

    def test_serverNameIsOnlyTheOneLearnedAtRegistration(self) -> None:
        """A notice from the server passes as its own; a dotted look-alike is a member's message."""
        alice = keyedSide()
        alice.server(":irc.test NOTICE alice :*** maintenance at noon")
        alice.server(":irc.other NOTICE alice :*** maintenance at noon")
        self.assertEqual(alice.down, [
            b":irc.test NOTICE alice :[plain] *** maintenance at noon\r\n",
            b":irc.other NOTICE alice :[plain] *** maintenance at noon\r\n",
        ])
        alice.down.clear()
        alice.server(":irc.test NOTICE #lab :*** in the room")
        self.assertIn("in #lab: REJECTED message claimed from irc.test: unprotected", alice.notices()[-1])


class OutgoingTests(SynchronousTestCase):
    """Nothing typed to a keyed room goes out in clear, whatever form the IRC client uses."""

    def test_everyFormIsSealedOrRefused(self) -> None:
        for form in KEYED_FORMS:
            for line in (
                "PRIVMSG %s :%s" % (form, SECRET),
                "privmsg %s :%s" % (form, SECRET),
                "NOTICE %s :%s" % (form, SECRET),
                "PRIVMSG %s :\x01ACTION %s\x01" % (form, SECRET),
                "PRIVMSG %s :\x01VERSION %s\x01" % (form, SECRET),
                "@+draft/reply=%s TAGMSG %s" % (SECRET, form),
                "PRIVMSG %s,#other :%s" % (form, SECRET),
                "PRIVMSG carol :%s" % (SECRET,),
                "PRIVMSG CAROL :%s" % (SECRET,),
            ):
                alice = keyedSide()
                alice.client(line)
                self.assertEqual(leaks(alice), [], line)

    def test_caseVariantIsSealed(self) -> None:
        alice = keyedSide()
        alice.client("PRIVMSG #LAB :%s" % (SECRET,))
        self.assertTrue(alice.up)
        self.assertTrue(all(message.params[1].startswith("+sc2 fernet-ttl ") for message in alice.upMessages()))
        self.assertIn("[auth+fresh] your message to #LAB went out sealed (fernet-ttl)", alice.notices()[-1])

    def test_statusmsgFormIsRefused(self) -> None:
        alice = keyedSide()
        alice.client("PRIVMSG @#lab :%s" % (SECRET,))
        self.assertEqual(alice.up, [])
        self.assertIn("NOT SENT to @#lab: a message to part of #lab cannot be protected", alice.notices()[-1])


class QuestionTests(SynchronousTestCase):
    """A target is keyed from the key command on."""

    def test_linesTypedWhileTheQuestionIsOpenWait(self) -> None:
        alice = Side("alice")
        alice.register()
        alice.client("PRIVMSG %s :key #lab" % (PSEUDO,))
        # The question is said in the room's window too.
        inRoom = [m for m in alice.downMessages() if m.command == "NOTICE" and m.params[0] == ROOM]
        self.assertEqual(len(inRoom), 1)
        self.assertIn("type the passphrase for #lab as your next message to *securechat", inRoom[0].params[1])
        # The user answers in the room, as a newcomer would: held, never in clear.
        alice.client("PRIVMSG #lab :%s" % (SECRET,))
        self.assertEqual(alice.up, [])
        self.assertIn("#lab (waiting for the key): sent when it is ready", alice.notices()[-1])
        alice.client("PRIVMSG %s :a passphrase" % (PSEUDO,))
        alice.client("PRIVMSG %s :a passphrase" % (PSEUDO,))
        # Sent once keyed: sealed.
        self.assertTrue(alice.up)
        self.assertEqual(leaks(alice), [])
        self.assertTrue(all(m.params[1].startswith("+sc2 fernet-ttl ") for m in alice.upMessages()))

    def test_cancelRefusesWhatWaited(self) -> None:
        alice = Side("alice")
        alice.register()
        alice.client("PRIVMSG %s :key #lab" % (PSEUDO,))
        alice.client("PRIVMSG #lab :%s" % (SECRET,))
        alice.client("PRIVMSG %s :cancel" % (PSEUDO,))
        self.assertEqual(alice.up, [])
        self.assertIn("#lab NOT SENT: ", alice.notices()[-1])
        self.assertEqual(alice.session.expectedLayer(ROOM), "plain")

    def test_aNewPassphraseIsAskedTwice(self) -> None:
        alice = Side("alice")
        alice.register()
        alice.client("PRIVMSG %s :key #lab" % (PSEUDO,))
        alice.client("PRIVMSG %s :one passphrase" % (PSEUDO,))
        self.assertIn("again, to confirm", alice.replies()[-1])
        self.assertEqual(alice.session.layerFor(ROOM), "plain")
        alice.client("PRIVMSG %s :another passphrase" % (PSEUDO,))
        self.assertEqual(alice.replies()[-1], "the two passphrases differ: no key set for #lab")
        self.assertEqual(alice.session.expectedLayer(ROOM), "plain")

    def test_aRoomSecretIsAskedOnce(self) -> None:
        """A room secret has check digits: a typo is caught without asking twice."""
        from securechat.codec.roomsecret import new_room_secret

        alice = Side("alice")
        alice.register()
        alice.client("PRIVMSG %s :key #lab" % (PSEUDO,))
        alice.client("PRIVMSG %s :%s" % (PSEUDO, new_room_secret()))
        self.assertEqual(alice.session.layerFor(ROOM), "fernet-ttl")

    def test_aMistypedCommandNeverEchoesTheNextLine(self) -> None:
        alice = Side("alice")
        alice.register()
        alice.client("PRIVMSG %s :kye #lab" % (PSEUDO,))
        alice.client("PRIVMSG %s :%s" % (PSEUDO, SECRET))
        self.assertEqual([line for line in alice.down if SECRET.encode() in line], [])
        self.assertIn("unknown command", alice.replies()[-1])

    def test_leavingWithTheQuestionOpenRefusesWhatWaited(self) -> None:
        alice = Side("alice")
        alice.register()
        alice.client("PRIVMSG %s :key #lab" % (PSEUDO,))
        alice.client("PRIVMSG #lab :%s" % (SECRET,))
        alice.core.clientLost()
        self.assertEqual(alice.up, [])
        self.assertFalse(alice.session.keyPending(ROOM))


#: Pieces the generated lines are made of.
TAGS = ("", "@time=2026-01-01T00:00:00Z ", "@securechat/protection=auth+fresh ",
        "@+securechat/layer=signed;a=b ", "@+draft/reply=x ")
SOURCES = ("", ":%s " % SERVER, ":bob.x ", ":bob ", ":bob!~bob@h ", ":carol!c@h ", ":CAROL ",
           ":*securechat!securechat@securechat.invalid ", ":*SecureChat ", ":%s!x@y " % CANARY,
           ":alice!a@h ")
COMMANDS = ("PRIVMSG", "privmsg", "Privmsg", "NOTICE", "notice", "TAGMSG", "tagmsg", "NICK", "JOIN",
            "PART", "TOPIC", "372", "KICK")
TARGETS = KEYED_FORMS + ("alice", "ALICE", "#other", "*securechat", "#lab,#other", "carol", "bob")
TEXTS = (
    CANARY,
    "[auth+fresh] " + CANARY,
    "[plain] " + CANARY,
    "\x01ACTION %s\x01" % CANARY,
    "\x01action [auth] %s" % CANARY,
    "\x01VERSION %s\x01" % CANARY,
    "+sc2 fernet-ttl %s 1/1 AAAA" % CANARY,
    "+sc2 fernet-ttl alice 1/2 " + CANARY,
    "*securechat",
)


def generatedLine(rng: random.Random) -> bytes:
    space = rng.choice((" ", "  "))
    parts = [rng.choice(TAGS), rng.choice(SOURCES), rng.choice(COMMANDS)]
    if rng.random() < 0.95:
        parts += [space, rng.choice(TARGETS)]
    if rng.random() < 0.9:
        parts += [space, ":", rng.choice(TEXTS)]
    line = "".join(parts).encode("utf-8")
    if rng.random() < 0.1:
        cut = rng.randrange(len(line) + 1)
        line = line[:cut] + rng.choice((b"\xff", b"\xc3", b"\x00", b"\r")) + line[cut:]
    return line


class GeneratedTests(SynchronousTestCase):
    def test_fewThousandGeneratedLines(self) -> None:
        """3,000 lines of the pieces above in any order (seed 20): nothing forged, nothing leaked."""
        rng = random.Random(20)
        alice = keyedSide()
        for count in range(3000):
            line = generatedLine(rng)
            before = len(alice.down)
            alice.core.upstream.lineReceived(line)
            self.assertEqual(forgeries(alice.down[before:], alice), [], line)
            if count % 100 == 0:
                form = rng.choice(KEYED_FORMS)
                alice.client("PRIVMSG %s :%s %d" % (form, SECRET, count))
        self.assertEqual(leaks(alice), [])
        # The run did exercise every verdict.
        self.assertGreater(sum(alice.core.refusedCounts.values()), 100)


#: Lines near IRC (the pieces above, tweaked) and any bytes at all.
nearIrc = st.builds(
    lambda tags, source, command, sep, target, text: (
        tags + source + command + sep + target + sep + ":" + text).encode("utf-8"),
    st.sampled_from(TAGS), st.sampled_from(SOURCES), st.sampled_from(COMMANDS),
    st.sampled_from((" ", "  ", "   ")), st.sampled_from(TARGETS),
    st.builds(lambda head, tail: head + CANARY + tail, st.text(max_size=20), st.sampled_from(("", "\x01"))),
)
anyBytes = st.builds(lambda head, tail: head + CANARY.encode() + tail, st.binary(max_size=60), st.binary(max_size=60))


class PropertyTests(SynchronousTestCase):
    @given(st.lists(st.one_of(nearIrc, anyBytes), min_size=1, max_size=8), st.sampled_from(KEYED_FORMS))
    def test_anyBytesNothingForgedNothingLeaked(self, lines: List[bytes], form: str) -> None:
        alice = keyedSide()
        for line in lines:
            if b"\n" in line:
                continue  # the splitter's job: one line at a time here
            before = len(alice.down)
            alice.core.upstream.lineReceived(line)
            self.assertEqual(forgeries(alice.down[before:], alice), [])
        alice.client("PRIVMSG %s :%s" % (form, SECRET))
        self.assertEqual(leaks(alice), [])

    @given(st.binary(max_size=200))
    def test_readingIsTotal(self, raw: bytes) -> None:
        """Any bytes are read, as a line or as unparsable, and sorted: never an exception."""
        read = readServerLine(raw)
        self.assertIsInstance(read, (ServerLine, Unparsable))
        knows = Knowledge(SERVER, lambda name: name[:1] == "#", lambda name: name.lower() == ROOM)
        verdict = classify(read, knows)
        self.assertIsInstance(verdict, (ForConversation, PlainMessage, Refused, Passing))
        if isinstance(read, Unparsable):
            self.assertIsInstance(verdict, Refused)


#: The last line the hostile server sends: everything before it was judged.
SENTINEL = ":%s NOTICE alice :end of the attack" % (SERVER,)


class HostileServer(Protocol):
    """
    An IRC server that registers alice, lets her join #lab, then sends what
    the test tells it; it keeps every line the proxy sends it.
    """

    def __init__(self) -> None:
        self.splitter = LineSplitter(16 * 1024)
        self.received: List[bytes] = []
        self.flushed: Deferred = Deferred()

    def dataReceived(self, data: bytes) -> None:
        for line in self.splitter.feed(data):
            if not isinstance(line, bytes) or not line:
                continue
            self.received.append(line)
            message = parseLine(line)
            if message.command == "USER":
                self.send(":%s 001 alice :Welcome alice!a@h" % (SERVER,))
            elif message.command == "JOIN":
                self.send(":alice!a@h JOIN #lab")
                self.send(":%s 366 alice #lab :End of NAMES list" % (SERVER,))
            elif message.command == "PING" and message.params[:1] == ("flush",) and not self.flushed.called:
                self.flushed.callback(None)

    def send(self, line: str) -> None:
        self.transport.write(line.encode("utf-8") + b"\r\n")


class IrcClientLines(Protocol):
    """The IRC client's side: every line the proxy writes it, as bytes."""

    def __init__(self) -> None:
        self.splitter = LineSplitter(16 * 1024)
        self.lines: List[bytes] = []
        self.waiting: List[tuple] = []

    def dataReceived(self, data: bytes) -> None:
        for line in self.splitter.feed(data):
            if not isinstance(line, bytes) or not line:
                continue
            self.lines.append(line + b"\r\n")
            for waiter in list(self.waiting):
                if waiter[0] in line:
                    self.waiting.remove(waiter)
                    waiter[1].callback(line)

    def send(self, line: str) -> None:
        self.transport.write(line.encode("utf-8") + b"\r\n")

    def waitFor(self, text: bytes) -> Deferred:
        d: Deferred = Deferred()
        if any(text in line for line in self.lines):
            d.callback(None)
            return d
        self.waiting.append((text, d))
        d.addTimeout(WAIT, reactor)
        return d


class RealProxyTests(TestCase):
    """The real proxy (its service, its sockets) between an IRC client and a hostile server."""

    timeout = 60

    @inlineCallbacks
    def test_hostileServerAgainstTheRealProxy(self):
        servers: List[HostileServer] = []

        def buildServer() -> HostileServer:
            server = HostileServer()
            servers.append(server)
            return server

        factory = Factory.forProtocol(HostileServer)
        factory.buildProtocol = lambda addr: buildServer()
        port = yield serverFromString(reactor, "tcp:0:interface=127.0.0.1").listen(factory)
        self.addCleanup(port.stopListening)
        service = ProxyService(
            reactor, "tcp:0:interface=127.0.0.1", "tcp:127.0.0.1:%d" % (port.getHost().port,), kdfParams=TEST_KDF
        )
        service.startService()
        self.addCleanup(service.stopService)
        listening = yield service.listening
        client = yield TCP4ClientEndpoint(reactor, "127.0.0.1", listening.getHost().port).connect(
            Factory.forProtocol(IrcClientLines))
        self.addCleanup(client.transport.loseConnection)
        client.send("NICK alice")
        client.send("USER alice 0 * :alice")
        yield client.waitFor(b" 001 ")
        client.send("JOIN #lab")
        yield client.waitFor(b" 366 ")
        client.send("PRIVMSG %s :key #lab fernet-ttl" % (PSEUDO,))
        yield client.waitFor(b"type the passphrase")
        client.send("PRIVMSG %s :%s" % (PSEUDO, "hostile passphrase"))
        yield client.waitFor(b"again, to confirm")
        client.send("PRIVMSG %s :%s" % (PSEUDO, "hostile passphrase"))
        yield client.waitFor(b"key set for #lab")
        [server] = servers

        @inlineCallbacks
        def typedToTheKeyedRoom(flush: str):
            for form in KEYED_FORMS:
                client.send("PRIVMSG %s :%s" % (form, SECRET))
                client.send("NOTICE %s :%s" % (form, SECRET))
            client.send("PING " + flush)
            yield server.flushed
            server.flushed = Deferred()
            self.assertEqual([line for line in server.received if SECRET.encode() in line], [])

        yield typedToTheKeyedRoom("flush")
        self.assertTrue(any(line.startswith(b"PRIVMSG #lab :+sc2 fernet-ttl ") for line in server.received))

        start = len(client.lines)
        rng = random.Random(20)
        attack = [line.encode("utf-8") for line in HostileCasesTests.CASES]
        attack += [b":bob!~bob@h privmsg #lab :\xff [auth+fresh] " + CANARY.encode()]
        attack += [line for line in (generatedLine(rng) for _ in range(2000)) if b"\n" not in line]
        for line in attack:
            server.transport.write(line + b"\r\n")
        server.send(SENTINEL)
        yield client.waitFor(b"end of the attack")
        self.assertEqual(forgeries(client.lines[start:], keyedPeer=lambda nick: False), [])
        self.assertGreater(len(client.lines) - start, 500)  # much was handed on, judged

        # Whatever the attack did to the session (renames, parts), nothing typed there leaks.
        yield typedToTheKeyedRoom("flush")
