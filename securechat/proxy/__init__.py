"""
C{securechat proxy}: a local IRC proxy that protects the traffic of any IRC
client (irssi, weechat, HexChat...), as FiSH's ZNC module did, with the
whole codec's checks.  L{core} holds the line rules (no I/O); L{protocol}
the Twisted adapters; L{service} the listening side and its options.
"""
