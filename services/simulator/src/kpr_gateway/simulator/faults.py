"""Fault injection: what share of messages the simulator rejects, ignores or bounces.

One random draw per message from a known sender picks at most one fault, from
consecutive ranges of [0, 1): first ``no_answer_share``, then ``transport_error_share``,
then ``reject_share``, then ``duplicate_apprec_share``; the rest are answered normally. The
shares therefore add up to at most 1, and a share of 1 applies its fault to every message.
With a ``seed`` the sequence of faults is the same on every run (for the same order of
messages).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum

from kpr_gateway.simulator.conditions import INTERNAL_ERROR
from kpr_gateway.simulator.errors import SimulatorConfigError


class Fault(StrEnum):
    NONE = "none"
    NO_ANSWER = "no_answer"
    TRANSPORT_ERROR = "transport_error"
    REJECT = "reject"
    DUPLICATE_APPREC = "duplicate_apprec"


@dataclass(frozen=True)
class Faults:
    reject_share: float = 0.0
    """Answer status 2 (with a simulated X99 error) even when the message is valid."""
    transport_error_share: float = 0.0
    """Send a transport error to the sender's error queue instead of an AppRec."""
    no_answer_share: float = 0.0
    """Accept the message and never answer it."""
    duplicate_apprec_share: float = 0.0
    """Answer as usual, then send the same AppRec a second time (a redelivery on NHN)."""
    delay_seconds: float = 0.0
    """Wait this long before each answer (AppRec or transport error)."""
    seed: int | None = None
    transport_error_condition: str = INTERNAL_ERROR
    reject_senders: frozenset[str] = frozenset()
    """Sender HER-ids whose every message is answered with status 2: a rejection that tests
    can aim at one tenant, whatever order messages arrive in."""

    def __post_init__(self) -> None:
        shares = {
            "reject_share": self.reject_share,
            "transport_error_share": self.transport_error_share,
            "no_answer_share": self.no_answer_share,
            "duplicate_apprec_share": self.duplicate_apprec_share,
        }
        for name, share in shares.items():
            if not 0.0 <= share <= 1.0:
                raise SimulatorConfigError(f"{name} must lie between 0 and 1")
        if sum(shares.values()) > 1.0 + 1e-9:
            raise SimulatorConfigError("the fault shares together must not exceed 1")
        if self.delay_seconds < 0:
            raise SimulatorConfigError("delay_seconds must not be negative")
        if not self.transport_error_condition.strip():
            raise SimulatorConfigError("transport_error_condition must not be empty")


class FaultDice:
    """Draws the fault for each message; deterministic when the faults carry a seed."""

    def __init__(self, faults: Faults) -> None:
        self._faults = faults
        # Test infrastructure: reproducible pseudo-randomness is the point, not secrecy.
        self._random = random.Random(faults.seed)  # noqa: S311

    def roll(self, sender_her_id: str | None = None) -> Fault:
        draw = self._random.random()
        if sender_her_id is not None and sender_her_id in self._faults.reject_senders:
            return Fault.REJECT
        bound = 0.0
        for fault, share in (
            (Fault.NO_ANSWER, self._faults.no_answer_share),
            (Fault.TRANSPORT_ERROR, self._faults.transport_error_share),
            (Fault.REJECT, self._faults.reject_share),
            (Fault.DUPLICATE_APPREC, self._faults.duplicate_apprec_share),
        ):
            bound += share
            if draw < bound:
                return fault
        return Fault.NONE
