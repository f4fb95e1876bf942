"""
The client's faces: what a person (the console), a program (JSON lines)
or an IRC client (the proxy, L{securechat.proxy}) sees.  Each turns its
input into the session's commands and renders the session's events in
the words of L{securechat.client.core.wording}.
"""
