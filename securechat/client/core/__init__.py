"""
The client's sans-IO core: the session and the parts it is built from
(registration, keyring, rooms, conversations), the one command layer every
face speaks (L{commands}), the events it emits, what the server sent read
and judged once (L{serverlines}), and the words every face uses
(L{wording}).  No Twisted, no I/O: the adapters feed it lines and give it
a way to send.
"""
