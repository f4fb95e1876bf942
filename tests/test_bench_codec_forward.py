"""
bench/codec.py's breakdown of the forward layer (--steps): it runs the
layer's real halves, every message checked shown, and names each step.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from bench import codec


class ForwardStepCostsTests(SynchronousTestCase):
    def test_everyStepTimed(self) -> None:
        """Each half and step has a positive cost; a loop that showed fewer messages than it sent would raise."""
        costs = dict(codec.forward_step_costs(messages=300, rounds=1))
        self.assertEqual(
            sorted(costs),
            sorted([
                "raw Fernet encrypt", "raw Fernet decrypt", "forward: send (seal, sign 1/128, line)",
                "forward: receive, open and hold", "forward: receive, batch end (verify, show)",
                "sender chain KDF (BLAKE2b)", "ratchet's chain_step (HMAC x2)", "ChaCha20-Poly1305 seal",
                "ChaCha20-Poly1305 open",
                "SHA-256 of the message", "strict base64 of the token", "the one-piece line's regex",
            ]),
        )  # fmt: skip
        for name, cost in costs.items():
            self.assertGreater(cost, 0.0, name)
