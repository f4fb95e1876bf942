"""
The client's Twisted adapters: what owns a transport, a reactor, stdin or
stdout, shared by the console, JSON lines and the proxy.
"""
