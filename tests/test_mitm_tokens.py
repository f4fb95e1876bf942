"""
Tests for L{securechat.mitm.tokens}: editing protected lines without a key.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from securechat.codec import chunks
from securechat.codec.layers import b64decode, b64encode
from securechat.mitm import tokens

LAYER = "fernet"
MSGID = "ASNFZ4mrze8BI0VniavN7w"


def encode(data: bytes) -> str:
    return b64encode(data)


def split(token: str, quanta: int):
    """Pieces as the codec cuts them: every piece but the last is whole 4-character quanta."""
    size = quanta * tokens.QUANTUM_CHARS
    return [token[i : i + size] for i in range(0, len(token), size)]


class ProtectedLineTests(SynchronousTestCase):
    def test_roundTrip(self) -> None:
        text = "+sc2 aes-ctr %s 2/3 QUJD" % (MSGID,)
        line = tokens.parseProtected(text)
        self.assertEqual(line, tokens.ProtectedLine("aes-ctr", MSGID, 2, 3, "QUJD"))
        self.assertEqual(line.format(), text)
        self.assertFalse(line.isFirst)
        self.assertFalse(line.isLast)

    @given(
        st.sampled_from(chunks.CHUNKED_LAYERS),
        st.binary(min_size=16, max_size=16),
        st.text(alphabet=tokens.URLSAFE_ALPHABET, min_size=chunks.MIN_PIECE_CHARS, max_size=400),
        st.integers(min_value=80, max_value=200),
    )
    def test_readsWhatTheCodecWrites(self, layer: str, msgid: bytes, token: str, payload: int) -> None:
        """Every line the codec writes is read by the attacker as the codec reads it, and rewritten byte for byte."""
        for text in chunks.split_token(layer, chunks.encode_msgid(msgid), token, payload, 9999):
            ours = chunks.parse_line(text, 9999)
            theirs = tokens.parseProtected(text)
            assert theirs is not None
            self.assertEqual(
                (theirs.layer, theirs.msgid, theirs.index, theirs.total, theirs.piece),
                (ours.layer, ours.msgid, ours.number, ours.total, ours.piece),
            )
            self.assertEqual(theirs.format(), text)

    def test_plainTextIsNotProtected(self) -> None:
        for text in ("hello there", "+sc2", "+sc2 fernet x y z", "+sc1 fernet %s 1/1 QUJD" % (MSGID,)):
            self.assertIsNone(tokens.parseProtected(text), text)


class TokenEditTests(SynchronousTestCase):
    @given(st.binary(min_size=1, max_size=200), st.integers(min_value=1, max_value=16))
    def test_flipLastBitFlipsBitZeroOfTheLastByte(self, data: bytes, quanta: int) -> None:
        """
        Whatever the chunk size (even a last piece of two characters), the
        token's last byte has its low bit flipped, nothing else changes,
        and the result is canonical base64 (the codec's strict decoder reads it).
        """
        pieces = split(encode(data), quanta)
        pieces[-1] = tokens.flipLastBit(pieces[-1])
        token = "".join(pieces)
        edited = b64decode(token)
        self.assertEqual(edited, data[:-1] + bytes([data[-1] ^ 1]))
        self.assertEqual(encode(edited), token)

    @given(st.binary(min_size=1, max_size=200), st.integers(min_value=1, max_value=16))
    def test_editTailEditsTheTokensLastBytes(self, data: bytes, quanta: int) -> None:
        """Whatever the chunk size, editing the last piece's tail edits the end of the decoded token."""
        pieces = split(encode(data), quanta)
        pieces[-1] = tokens.editTail(pieces[-1], lambda tail: tokens.flipByte(tail, 1, 0x80))
        edited = b64decode("".join(pieces))
        self.assertEqual(edited, data[:-1] + bytes([data[-1] ^ 0x80]))

    @given(st.binary(min_size=4, max_size=200), st.integers(min_value=1, max_value=10))
    def test_truncateThroughTail(self, data: bytes, count: int) -> None:
        token = encode(data)
        edited = tokens.editTail(token, lambda tail: tokens.truncateBytes(tail, count))
        decoded = b64decode(edited)
        self.assertTrue(data.startswith(decoded))
        self.assertLess(len(decoded), len(data))

    @given(st.binary(min_size=60, max_size=200), st.integers(min_value=1, max_value=16))
    def test_editHeadXorsAtAnOffset(self, data: bytes, quanta: int) -> None:
        pieces = split(encode(data), quanta)
        pieces[0] = tokens.editHead(
            pieces[0], lambda head: tokens.xorAt(head, 1, head[1:2], b"Z") if len(head) > 1 else head
        )
        edited = b64decode("".join(pieces))
        # The first piece holds at least 4 characters (3 bytes): byte 1 is
        # edited, and every other byte is as it was.
        self.assertEqual(edited[1:2], b"Z")
        self.assertEqual(edited[:1] + edited[2:], data[:1] + data[2:])

    def test_editHeadRefusesLengthChanges(self) -> None:
        self.assertRaises(ValueError, tokens.editHead, encode(b"abcdef"), lambda head: head[1:])

    def test_xorAtTurnsKnownIntoWanted(self) -> None:
        self.assertEqual(tokens.xorAt(b"xxalicexx", 2, b"alice", b"carol"), b"xxcarolxx")
        self.assertRaises(ValueError, tokens.xorAt, b"abc", 0, b"ab", b"a")
        self.assertRaises(ValueError, tokens.xorAt, b"abc", 2, b"ab", b"cd")

    def test_editOfTooShortOrBrokenPieceKeepsIt(self) -> None:
        """A piece that is not base64 (one character is no byte; '*' is not in the alphabet) is left alone."""
        for piece in ("Q", "QUJDQ", "QU*"):
            self.assertEqual(tokens.editTail(piece, lambda tail: b"x"), piece)
        self.assertEqual(tokens.editHead("Q", lambda head: head), "Q")
        self.assertEqual(tokens.flipLastBit(""), "")
        self.assertEqual(tokens.flipLastBit("QUJDQ"), "QUJDQ")
        self.assertEqual(tokens.flipLastBit("QU*"), "QU*")


class PlainEditTests(SynchronousTestCase):
    @given(st.text(min_size=1, max_size=50))
    def test_flipTextBitStaysPrintableAndChangesOneCharacter(self, text: str) -> None:
        edited = tokens.flipTextBit(text)
        self.assertEqual(len(edited), len(text))
        changed = [i for i in range(len(text)) if text[i] != edited[i]]
        printable = [c for c in text if " " <= c <= "~" and " " <= chr(ord(c) ^ 1) <= "~"]
        self.assertEqual(len(changed), 1 if printable else 0)
        edited.encode("utf-8")

    def test_flipTextBitExample(self) -> None:
        self.assertEqual(tokens.flipTextBit("pay 100"), "pay 101")

    def test_truncateText(self) -> None:
        self.assertEqual(tokens.truncateText("pay 1000", 3), "pay 1")
        self.assertEqual(tokens.truncateText("ab", 5), "a")


class ForgeTests(SynchronousTestCase):
    def test_forgedProtectedLineHasThePlausibleShape(self) -> None:
        forged = tokens.parseProtected(tokens.forgeProtected(LAYER, 90))
        self.assertEqual((forged.layer, forged.index, forged.total), (LAYER, 1, 1))
        self.assertEqual(len(b64decode(forged.piece)), 90)
        self.assertRegex(forged.msgid, r"\A[A-Za-z0-9_-]{21}[AQgw]\Z")

    def test_forgeriesDiffer(self) -> None:
        self.assertNotEqual(tokens.forgeProtected(LAYER, 30), tokens.forgeProtected(LAYER, 30))
        self.assertNotEqual(tokens.forgePlain(), tokens.forgePlain())

    def test_tokenLength(self) -> None:
        self.assertEqual(tokens.tokenLength("A" * 40), 30)
        self.assertEqual(tokens.tokenLength(""), tokens.QUANTUM_BYTES)
