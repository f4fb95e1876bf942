"""
The real thing, with weechat: two weechat (Debian's weechat-curses, in
tmux), each through its own securechat proxy, over ngIRCd, typing
docs/proxy.md's recipe as written.  They key a room through the
*securechat buffer, see each other's text with its mark, a plain member
sees only C{+sc2} lines; and the leaks weechat users met stay closed: the
passphrase is in none of weechat's files (its logs flushed at once), and
the proxy password, kept with C{/secure}, is in no file in clear.  Skips,
saying why, when weechat, tmux or ngircd is missing.
"""

from __future__ import annotations

import os
import shutil
from typing import Dict, List, Optional

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import SkipTest, TestCase

from securechat.codec import TEST_KDF
from securechat.proxy.service import ProxyService

from . import test_client_ngircd as ngircd
from . import test_proxy_irssi as irssi
from .test_client_support import Tmux

ROOM = "#interop"
PASSPHRASE = "weechat through the proxy"
PROXY_PASSWORD = "proxy-password-5e2b"
WEECHAT_PASSPHRASE = "weechat secured data 71c0"


class Unanswered:
    """No question open: nothing typed yet."""

    first = None


def weechatProgram() -> Optional[str]:
    return shutil.which("weechat-curses") or shutil.which("weechat")


def filesUnder(home: str) -> Dict[str, bytes]:
    found = {}
    for folder, _, names in os.walk(home):
        for name in names:
            path = os.path.join(folder, name)
            with open(path, "rb") as handle:
                found[os.path.relpath(path, home)] = handle.read()
    return found


class WeechatProxyTests(TestCase):
    timeout = 120

    startServer = irssi.IrssiProxyTests.startServer
    waitListening = irssi.IrssiProxyTests.waitListening
    stopServer = irssi.IrssiProxyTests.stopServer
    endpoint = irssi.IrssiProxyTests.endpoint
    watcher = irssi.IrssiProxyTests.watcher
    until = irssi.IrssiProxyTests.until

    def setUp(self):
        if weechatProgram() is None:
            raise SkipTest("weechat is not installed (apt-get install weechat-curses): this test drives it in tmux")
        if shutil.which("tmux") is None:
            raise SkipTest("tmux is not installed: this test drives weechat in tmux")
        if ngircd.findNgircd() is None:
            raise SkipTest("ngircd not found (apt-get install ngircd): this test needs a real IRC server")
        return self.startServer()

    @inlineCallbacks
    def proxy(self, password: Optional[bytes] = None):
        service = ProxyService(
            reactor, "tcp:0:interface=127.0.0.1", self.endpoint, kdfParams=TEST_KDF, password=password
        )
        service.startService()
        self.addCleanup(service.stopService)
        port = yield service.listening
        return service, port.getHost().port

    def type(self, tmux: Tmux, *lines: str) -> None:
        for line in lines:
            tmux.keys("-l", line)
            tmux.keys("Enter")

    @inlineCallbacks
    def weechat(self, nick: str, port: int, home: str, password: bool):
        """weechat, set up as docs/proxy.md says, connected and in the room."""
        os.makedirs(home)
        tmux = Tmux(self, "weechat-" + nick)
        # The test's own settings: lines typed fast are not a paste to confirm,
        # the logs are written at once (so that they can be read now), the nick.
        settings = ";".join((
            "/set weechat.look.paste_max_lines -1",
            "/set logger.file.flush_delay 0",
            "/set irc.server_default.nicks " + nick,
        ))
        tmux.start("%s -a -d %s -r '%s'" % (weechatProgram(), home, settings), width=160, height=40)
        yield tmux.waitFor("irc.server_default.nicks", 30)
        # The recipe.
        self.type(tmux, "/server add sc 127.0.0.1/%d -notls" % (port,))
        if password:
            self.type(
                tmux,
                "/secure passphrase " + WEECHAT_PASSPHRASE,
                "/secure set scproxy " + PROXY_PASSWORD,
                '/set irc.server.sc.password "${sec.data.scproxy}"',
            )
        self.type(tmux, "/set logger.level.irc.sc.*securechat 0", "/connect sc")
        yield tmux.waitFor("Welcome to the Internet Relay Network", 30)
        self.type(tmux, "/join " + ROOM)
        yield tmux.waitFor("has joined " + ROOM, 30)
        return tmux

    @inlineCallbacks
    def key(self, tmux: Tmux, service: ProxyService):
        self.type(tmux, "/query -server sc *securechat", "key %s fernet-ttl" % (ROOM,))
        yield self.until(lambda: service.core.commands.asking is not None)
        self.type(tmux, PASSPHRASE)
        yield self.until(lambda: (service.core.commands.asking or Unanswered).first is not None)
        self.type(tmux, PASSPHRASE)
        yield self.until(lambda: service.session.layerFor(ROOM) == "fernet-ttl")
        self.type(tmux, "/buffer " + ROOM)

    @inlineCallbacks
    def test_twoWeechatThroughProxiesOverNgircd(self):
        watcher = yield self.watcher()
        aliceProxy, alicePort = yield self.proxy(PROXY_PASSWORD.encode())
        bobProxy, bobPort = yield self.proxy()
        aliceHome, bobHome = self.mktemp(), self.mktemp()
        alice = yield self.weechat("alice", alicePort, aliceHome, password=True)
        bob = yield self.weechat("bob", bobPort, bobHome, password=False)
        yield self.key(alice, aliceProxy)
        yield self.key(bob, bobProxy)

        self.type(alice, "hello from alice in weechat")
        screen = yield bob.waitFor("[auth+fresh] hello from alice in weechat", 20)
        line = [row for row in screen.splitlines() if "hello from alice in weechat" in row][0]
        self.assertIn("alice", line.split("[auth+fresh]")[0])
        self.type(bob, "and hello from bob")
        yield alice.waitFor("[auth+fresh] and hello from bob", 20)

        # The server's side: only +sc2 lines, never the words.
        seen: List = []
        for nick in ("alice", "bob"):
            message = yield watcher.waitFor(
                lambda m, nick=nick: m.command == "PRIVMSG" and m.sourceNick == nick and m.params[0] == ROOM
            )
            seen.append(message)
        for message in seen + [m for m in watcher.lines if m.command in ("PRIVMSG", "NOTICE")]:
            self.assertTrue(message.params[1].startswith("+sc2 fernet-ttl "), message)

        # What weechat wrote: the room's log holds the talk (so the logs were
        # read), no file holds the passphrase, none the proxy password in clear.
        for home in (aliceHome, bobHome):
            files = filesUnder(home)
            logs = {name: data for name, data in files.items() if name.endswith(".weechatlog")}
            self.assertTrue(any(b"hello from alice in weechat" in data for data in logs.values()), sorted(logs))
            self.assertTrue(any(b"irc.server.sc" in name.encode() for name in logs), sorted(logs))
            self.assertEqual([name for name, data in files.items() if PASSPHRASE.encode() in data], [])
            self.assertEqual([name for name, data in files.items() if PROXY_PASSWORD.encode() in data], [])
        for tmux in (alice, bob):
            tmux.keys("/quit", "Enter")
