"""
The client's sans-IO core: the session and its parts (registration,
rooms, conversations), the events it emits, what the server sent read and
judged once (L{serverlines}), and the words every face uses
(L{wording}).  No Twisted, no I/O: the adapters feed it lines and give it
a way to send.
"""
