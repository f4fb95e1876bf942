"""
Channel modes as text: reading a C{MODE #room} change list into
L{ModeChange}s, and writing changes and a room's modes back.  No state and
no I/O: L{RelayState} decides who may change what and applies it.

The modes (docs/protocol.md): C{+o}/C{+v} (member status, ISUPPORT
C{PREFIX=(ov)@+}), C{+k key}, C{+l limit}, and the flags C{+i +m +n +s +t}
(C{CHANMODES=,k,l,imnst}).  C{+n} is always set: only members speak.
"""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import attr

from .traits import mypyc_attr

#: Flags without a parameter (CHANMODES type D).
FLAG_MODES = "imnst"
#: Modes that give a member a status, and the symbols NAMES and WHO show.
STATUS_MODES = "ov"
STATUS_SYMBOLS = {"o": "@", "v": "+"}
#: The ISUPPORT tokens that announce the above.
CHANMODES_TOKEN = "CHANMODES=,k,l," + FLAG_MODES
PREFIX_TOKEN = "PREFIX=(ov)@+"
#: Modes with a parameter one MODE command may change (ISUPPORT MODES).
MODES_PER_COMMAND = 4
#: Longest channel key; a key is one word without a comma.
KEY_LENGTH = 23
#: The largest +l a room may take (a limit is a count of members).
MAX_LIMIT = 1_000_000
#: Modes a new room starts with.
NEW_ROOM_MODES = "nt"
#: The modes C{MODE #room} may only ask about: the ban list, which is
#: always empty here (clients ask for it on join).
LIST_QUERIES = "b"


# attrs' methods (eq, hash) need a Python class in the compiled build too.
@mypyc_attr(native_class=False)
@attr.s(frozen=True, slots=True, auto_attribs=True)
class ModeChange:
    """One change: C{+o alice}, C{-k}, C{+l 10}, C{+m}..."""

    adding: bool
    mode: str
    arg: Optional[str] = None


# attrs' methods (eq, hash) need a Python class in the compiled build too.
@mypyc_attr(native_class=False)
@attr.s(slots=True, auto_attribs=True)
class ParsedModes:
    """What a change list asked for, and what in it could not be read."""

    changes: List[ModeChange] = attr.ib(factory=list)
    #: Mode characters we do not know (each answered once with 472).
    unknown: List[str] = attr.ib(factory=list)
    #: (mode, parameter, reason) for parameters that are not valid (696).
    invalid: List[Tuple[str, str, str]] = attr.ib(factory=list)
    #: Whether the ban list was asked for (answered with an empty one).
    banList: bool = False


def isValidKey(key: str) -> bool:
    """A key a client can send back in C{JOIN #room key}: one word, no comma."""
    return (
        0 < len(key) <= KEY_LENGTH
        and key[0] != ":"
        and not any(c in key for c in " ,\x00\r\n")
    )


def parseModeChanges(modes: str, args: Sequence[str]) -> ParsedModes:
    """
    Read C{+ov-k alice bob key} into changes, in order.  A status or key or
    limit mode without its parameter is left out (as ircds do); past
    L{MODES_PER_COMMAND} parameter modes, the rest are left out too.
    """
    out = ParsedModes()
    args = list(args)
    adding = True
    withParam = 0
    for char in modes:
        if char in "+-":
            adding = char == "+"
            continue
        if char in FLAG_MODES:
            out.changes.append(ModeChange(adding, char))
        elif char in LIST_QUERIES:
            if args:
                # Setting or lifting a ban: not offered (CHANMODES has no b).
                args.pop(0)
                if char not in out.unknown:
                    out.unknown.append(char)
            else:
                out.banList = True
        elif char in STATUS_MODES or char == "k" or (char == "l" and adding):
            if not args:
                if char == "k" and not adding:
                    out.changes.append(ModeChange(False, "k"))
                continue
            arg = args.pop(0)
            withParam += 1
            if withParam > MODES_PER_COMMAND:
                continue
            if char == "k" and adding and not isValidKey(arg):
                out.invalid.append((char, arg, "Invalid key"))
            elif char == "l" and not (arg.isdigit() and 0 < int(arg) <= MAX_LIMIT):
                out.invalid.append((char, arg, "Invalid limit"))
            else:
                out.changes.append(
                    ModeChange(adding, char, arg if adding or char != "k" else None)
                )
        elif char == "l":
            out.changes.append(ModeChange(False, "l"))
        elif char not in out.unknown:
            out.unknown.append(char)
    return out


def formatModeChanges(changes: Sequence[ModeChange]) -> List[str]:
    """The parameters of a C{MODE #room} line that announces C{changes}."""
    text: List[str] = []
    args: List[str] = []
    sign = ""
    for change in changes:
        wanted = "+" if change.adding else "-"
        if wanted != sign:
            text.append(wanted)
            sign = wanted
        text.append(change.mode)
        if change.mode == "k":
            args.append(change.arg if change.adding and change.arg is not None else "*")
        elif change.arg is not None:
            args.append(change.arg)
    return ["".join(text)] + args


def roomModes(flags: str, key: Optional[str], limit: int, showKey: bool) -> List[str]:
    """The parameters of 324: C{+klnt key 10} (the key as C{*} to non-members)."""
    text = "+" + "".join(sorted(flags))
    args = []
    if key is not None:
        text += "k"
        args.append(key if showKey else "*")
    if limit:
        text += "l"
        args.append(str(limit))
    return [text] + args
