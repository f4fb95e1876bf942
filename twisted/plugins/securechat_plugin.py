"""
twistd plugins: C{twistd -n securechat} runs the relay,
C{twistd -n securechat-client} the headless client,
C{twistd -n securechat-proxy} the proxy for other IRC clients.

Kept tiny: twistd imports every plugin module to list them, so the real
imports happen only when a service is made.
"""

from __future__ import annotations

from twisted.application.service import ServiceMaker

securechatRelay = ServiceMaker(
    "securechat relay",
    "securechat.relay.options",
    "A strict-IRC-subset chat relay that cannot read protected messages.",
    "securechat",
)

securechatClient = ServiceMaker(
    "securechat client",
    "securechat.client.faces.tap",
    "A headless securechat client (bot): joins rooms, decrypts, logs or writes JSON lines.",
    "securechat-client",
)

securechatProxy = ServiceMaker(
    "securechat proxy",
    "securechat.proxy.service",
    "A local IRC proxy protecting the messages of any IRC client (irssi, weechat...).",
    "securechat-proxy",
)
