"""The faults of a chaos run and when they happen, drawn from a seed.

Faults are placed in the first ``FAULT_WINDOW`` of the load, one per slot of equal length in a
shuffled order, each at a random moment of its slot, so that every fault has load before and
after it and the last one leaves time for the pipeline to show it recovered.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any, Final

from kpr_gateway.cli.local_processes import SERVICES
from kpr_gateway.runtime.crash_points import KNOWN_POINTS


class FaultKind(StrEnum):
    KILL = "kill -9"
    CRASH_POINT = "crash point"
    BROKER_CONNECTIONS = "broker connections closed"
    NHN_LINK = "NHN link dropped"
    REDIS = "Redis paused, clients killed"
    SIMULATOR = "simulator faults"


SIMULATOR_MODES: Final[dict[str, dict[str, float]]] = {
    # The shares PUT to the simulator's /faults for the phase (the rest answered normally).
    "reject": {"reject_share": 0.5},
    "silent": {"no_answer_share": 1.0},
    "transport_error": {"transport_error_share": 0.5},
    "duplicate": {"duplicate_apprec_share": 1.0},
    "reject_duplicate": {"reject_share": 0.5, "duplicate_apprec_share": 0.5},
}

FAULT_WINDOW: Final = 0.6
"""The share of the load's time in which faults start (the rest shows the recovery)."""
FIRST_FAULT_SECONDS: Final = 4.0
"""No fault before the pipeline carried its first messages."""


@dataclass(frozen=True)
class PlannedFault:
    at: float
    """Seconds after the load started."""
    kind: FaultKind
    target: str
    """The service (kill, crash point), the protocol's processes, or the simulator's mode."""
    seconds: float = 0.0
    """How long it lasts (a pause, a simulator phase); 0: at once."""
    point: str | None = None
    """The crash point armed for the restart (crash point)."""

    def describe(self) -> str:
        what = f"{self.kind.value}: {self.target}"
        if self.point:
            what += f" at {self.point}"
        if self.seconds:
            what += f" for {self.seconds:g} s"
        return what

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "kind": self.kind.value}


def _faults(name: str, rng: random.Random) -> list[tuple[FaultKind, str, float, str | None]]:
    """(kind, target, seconds, point) of every fault of the schedule, unordered."""
    kills = [(FaultKind.KILL, service, 0.0, None) for service in SERVICES]
    points = sorted(KNOWN_POINTS)
    if name == "small":
        point = rng.choice(points)
        return [
            *kills,
            (FaultKind.CRASH_POINT, point.partition(".")[0], 0.0, point),
            (FaultKind.BROKER_CONNECTIONS, "AMQP 0-9-1", 0.0, None),
            (FaultKind.REDIS, "all services", 2.0, None),
            (FaultKind.SIMULATOR, "reject_duplicate", 5.0, None),
        ]
    if name == "full":
        return [
            *kills,
            *((FaultKind.CRASH_POINT, p.partition(".")[0], 0.0, p) for p in points),
            (FaultKind.BROKER_CONNECTIONS, "AMQP 0-9-1", 0.0, None),
            (FaultKind.BROKER_CONNECTIONS, "AMQP 0-9-1", 0.0, None),
            (FaultKind.NHN_LINK, "AMQP 1.0", 0.0, None),
            (FaultKind.NHN_LINK, "AMQP 1.0", 0.0, None),
            (FaultKind.REDIS, "all services", 3.0, None),
            (FaultKind.REDIS, "all services", 5.0, None),
            (FaultKind.SIMULATOR, "reject", 6.0, None),
            (FaultKind.SIMULATOR, "silent", 6.0, None),
            (FaultKind.SIMULATOR, "transport_error", 6.0, None),
            (FaultKind.SIMULATOR, "duplicate", 6.0, None),
        ]
    raise ValueError(f"no schedule {name!r} (small, full)")


def _same_service(
    one: tuple[FaultKind, str, float, str | None], other: tuple[FaultKind, str, float, str | None]
) -> bool:
    per_service = {FaultKind.KILL, FaultKind.CRASH_POINT}
    return one[0] in per_service and other[0] in per_service and one[1] == other[1]


def build(name: str, *, load_seconds: float, seed: int) -> list[PlannedFault]:
    """The schedule ``name`` over a load of ``load_seconds``, in the order they happen."""
    rng = random.Random(seed)  # noqa: S311 - a repeatable test schedule, not a secret
    faults = _faults(name, rng)
    for _ in range(1000):
        rng.shuffle(faults)
        # Not one service twice in a row: a kill must not meet the restart that an armed
        # crash point (or the kill before it) is still waiting for.
        if not any(_same_service(a, b) for a, b in itertools.pairwise(faults)):
            break
    start = min(FIRST_FAULT_SECONDS, load_seconds * 0.1)
    slot = (load_seconds * FAULT_WINDOW - start) / len(faults)
    if slot <= 0:
        raise ValueError(f"{load_seconds:g} s of load leave no room for {len(faults)} faults")
    planned = []
    for index, (kind, target, seconds, point) in enumerate(faults):
        # Faults may overlap (a phase outlasting its slot): a recovery is measured per fault.
        at = start + slot * index + rng.uniform(0, slot / 2)
        planned.append(PlannedFault(round(at, 2), kind, target, seconds, point))
    return planned
