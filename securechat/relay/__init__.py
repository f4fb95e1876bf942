"""
The relay: a strict IRC subset over Twisted.  L{state} decides (no I/O),
L{protocol} and L{factory} adapt it to connections, L{options} reads the
command line of C{twistd securechat}.
"""
