"""
The wire format's test vectors (docs/vectors/wire-v2.json), both ways: our
code makes every output in the file, and opens every line in it (refusing
each refusal with its reason); and the reference opener printed in
docs/wire.md, run as it stands, opens them with nothing but C{cryptography}.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any, Dict, List, Tuple

from cryptography.exceptions import InvalidSignature
from twisted.trial.unittest import SynchronousTestCase

from bench import vectorfile, wirevectors
from securechat.codec import (
    TEST_KDF,
    Accepted,
    Conversation,
    Identity,
    Rejected,
    TrustStore,
    derive_room_keys,
    direct_target,
    rfc1459_casefold,
)
from securechat.codec.keys import Argon2id

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WIRE_MD = os.path.join(ROOT, "docs", "wire.md")


def _vectors() -> Dict[str, Any]:
    with open(wirevectors.PATH, encoding="utf-8") as handle:
        return json.load(handle)  # type: ignore[no-any-return]


def _keys(vectors: Dict[str, Any], name: str) -> Dict[str, Any]:
    return next(entry for entry in vectors["keys"] if entry["name"] == name)


def _secret(entry: Dict[str, Any]) -> bytes:
    return (entry["passphrase"] if "passphrase" in entry else entry["room_secret"]).encode("utf-8")


class VectorFileTests(SynchronousTestCase):
    """Our code reproduces every output of the file."""

    if Argon2id is None:
        skip = "this cryptography has no Argon2id (before 44): the vectors need it"

    def test_file_is_current(self) -> None:
        """Regenerated from its fixed inputs, the file comes out byte for byte the same."""
        with open(wirevectors.PATH, encoding="utf-8") as handle:
            self.assertEqual(handle.read(), vectorfile.dumps(wirevectors.build()))

    def test_keys_and_names(self) -> None:
        vectors = _vectors()
        self.assertEqual(vectors["kdf"]["iterations"], TEST_KDF.iterations)
        for entry in vectors["keys"]:
            keys = derive_room_keys(_secret(entry), entry["target"], TEST_KDF)
            self.assertEqual({layer: keys.for_layer(layer).hex() for layer in entry["layer_keys"]}, entry["layer_keys"])
            self.assertEqual(keys.fingerprint(), entry["fingerprint"])
        for example in vectors["casefold"]:
            self.assertEqual(rfc1459_casefold(example["in"]), example["out"])
        for example in vectors["direct_targets"]:
            self.assertEqual(direct_target(*example["nicks"]), example["target"])
        for entry in vectors["identities"]:
            identity = Identity.from_private_bytes(bytes.fromhex(entry["private_key"]))
            self.assertEqual(identity.public_key.hex(), entry["public_key"])
            self.assertEqual(identity.fingerprint, entry["fingerprint"])


class OpenVectorTests(SynchronousTestCase):
    """Our code opens every line of the file, and refuses every refusal with its reason."""

    if Argon2id is None:
        skip = "this cryptography has no Argon2id (before 44): the vectors need it"

    def setUp(self) -> None:
        self.vectors = _vectors()
        self.keys = {entry["name"]: derive_room_keys(_secret(entry), entry["target"], TEST_KDF)
                     for entry in self.vectors["keys"]}

    def _receiver(self, entry: Dict[str, Any], now: List[float], trust: TrustStore) -> Conversation:
        keys = None if entry["keys"] is None else self.keys[entry["keys"]]
        return Conversation(entry["target"], entry["layer"], keys, clock=lambda: now[0], trust=trust)

    def test_every_message_opens(self) -> None:
        """One receiver per conversation, in file order (a key-less signed message needs the pin before it)."""
        receivers: Dict[Tuple[Any, str, str], Conversation] = {}
        trust = TrustStore()
        now = [float(self.vectors["messages"][0]["time"])]
        identities = {e["name"]: e for e in self.vectors["identities"]}
        for entry in self.vectors["messages"]:
            slot = (entry["keys"], entry["layer"], entry["target"])
            if slot not in receivers:
                receivers[slot] = self._receiver(entry, now, trust)
            results = [r for line in entry["lines"] for r in receivers[slot].receive(entry["sender"], line)]
            self.assertEqual(len(results), 1, (entry["name"], results))
            [result] = results
            assert isinstance(result, Accepted), (entry["name"], result)
            self.assertEqual((result.body, result.layer), (entry["body"], entry["layer"]), entry["name"])
            if entry["layer"] != "plain":
                self.assertEqual((result.seq, result.msgid), (entry["seq"], entry["lines"][0].split(" ")[2]))
                self.assertEqual(bytes.fromhex(entry["token_bytes"]).hex(), entry["token_bytes"])
            if entry["layer"] == "signed":
                self.assertEqual(result.signer, identities[entry["identity"]]["fingerprint"])
            for line in entry["lines"]:
                self.assertLessEqual(len(line.encode("utf-8")), entry["max_payload"], entry["name"])

    def test_chunking_edges(self) -> None:
        messages = {m["name"]: m for m in self.vectors["messages"]}
        self.assertEqual(len(messages["fills-a-line"]["lines"][0]), messages["fills-a-line"]["max_payload"])
        self.assertEqual(len(messages["one-byte-over"]["lines"]), 2)
        self.assertEqual(len(messages["signed-200-key-left-out"]["lines"]), 1)
        self.assertFalse(messages["signed-200-key-left-out"]["key_carried"])
        self.assertTrue(messages["signed-short-key-carried"]["key_carried"])
        for name in ("multi-line", "one-byte-over", "smallest-line"):
            for line in messages[name]["lines"][:-1]:
                self.assertEqual(len(line.split(" ")[4]) % 4, 0, name)

    def test_every_refusal_refused_with_its_reason(self) -> None:
        for entry in self.vectors["refusals"]:
            now = [float(entry["time"])]
            receiver = self._receiver(entry, now, TrustStore())
            results = [r for line in entry["lines"] for r in receiver.receive(entry["sender"], line)]
            self.assertEqual(len(results), 1, (entry["name"], results))
            assert isinstance(results[0], Rejected), (entry["name"], results)
            self.assertEqual(results[0].reason, entry["reason"], entry["name"])


def reference_opener() -> Tuple[str, str]:
    """The two Python blocks of docs/wire.md's "A reference opener": the opener and its example."""
    with open(WIRE_MD, encoding="utf-8") as handle:
        text = handle.read()
    section = text[text.index("## A reference opener") :]
    blocks = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    assert len(blocks) == 2, "docs/wire.md's reference opener section must hold the opener and its example"
    return blocks[0], blocks[1]


class ReferenceOpenerTests(SynchronousTestCase):
    """The opener printed in docs/wire.md opens every message of the vector file."""

    if Argon2id is None:
        skip = "this cryptography has no Argon2id (before 44): the opener needs it"

    def setUp(self) -> None:
        opener, self.example = reference_opener()
        imports = [line for line in opener.splitlines() if line.startswith(("import ", "from "))]
        imported = {line.split()[1].split(".")[0] for line in imports}
        self.assertEqual(imported, {"base64", "hashlib", "struct", "cryptography"})
        self.namespace: Dict[str, Any] = {}
        exec(compile(opener, WIRE_MD, "exec"), self.namespace)  # noqa: S102 (the doc's own code, on purpose)
        self.vectors = _vectors()

    def test_the_example_runs(self) -> None:
        exec(compile(self.example, WIRE_MD, "exec"), dict(self.namespace, vectors=self.vectors))  # noqa: S102

    def test_opens_every_message(self) -> None:
        ns, kdf = self.namespace, self.vectors["kdf"]
        masters = {}
        for entry in self.vectors["keys"]:
            if "passphrase" in entry:
                master = ns["passphrase_master"](entry["passphrase"].encode(), entry["target"], kdf["iterations"],
                                                 kdf["lanes"], kdf["memory_cost_kib"])
            else:
                master = ns["secret_master"](bytes.fromhex(entry["secret"]), entry["target"])
            self.assertEqual(master.hex(), entry["master_key"])
            self.assertEqual(ns["salt"](entry["target"]).hex(), entry["salt"])
            masters[entry["name"]] = master
        public = {e["name"]: bytes.fromhex(e["public_key"]) for e in self.vectors["identities"]}
        opened = 0
        for entry in self.vectors["messages"]:
            if entry["layer"] == "plain":
                continue
            layer, sender, target, seq, time, body, signer = ns["open_lines"](
                entry["lines"], masters[entry["keys"]], public.get(entry.get("identity", ""))
            )
            self.assertEqual(
                (layer, sender, target, seq, body),
                (entry["layer"], rfc1459_casefold(entry["sender"]), rfc1459_casefold(entry["target"]), entry["seq"],
                 entry["body"]),
            )
            if entry["layer"] != "aes-ctr":
                self.assertEqual(time, entry["time"])
            opened += 1
        self.assertEqual(opened, len([m for m in self.vectors["messages"] if m["layer"] != "plain"]))

    def test_refuses_a_flipped_bit(self) -> None:
        """The opener is no stub: an altered token raises."""
        entry = next(m for m in self.vectors["refusals"] if m["name"] == "bit-flipped")
        keys = _keys(self.vectors, "room")
        kdf = self.vectors["kdf"]
        master = self.namespace["passphrase_master"](keys["passphrase"].encode(), keys["target"], kdf["iterations"],
                                                     kdf["lanes"], kdf["memory_cost_kib"])
        self.assertRaises(InvalidSignature, self.namespace["open_lines"], entry["lines"], master)
