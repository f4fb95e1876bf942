"""
The client's sans-IO core: what the server sent, read and judged once,
whatever face (console, JSON lines, proxy) shows it.  No Twisted here.
"""
