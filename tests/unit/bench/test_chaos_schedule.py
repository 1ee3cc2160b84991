"""The chaos run's schedules: what each holds, when, and that a seed repeats it."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest

from bench.chaos.schedule import FAULT_WINDOW, SIMULATOR_MODES, FaultKind, PlannedFault, build
from kpr_gateway.cli.local_processes import SERVICES
from kpr_gateway.runtime.crash_points import KNOWN_POINTS


def _service(fault: PlannedFault) -> str | None:
    return fault.target if fault.kind in {FaultKind.KILL, FaultKind.CRASH_POINT} else None


def test_the_small_schedule_kills_each_service_once_and_has_one_of_every_other_kind() -> None:
    faults = build("small", load_seconds=60, seed=1)
    kinds = Counter(f.kind for f in faults)
    assert kinds == {
        FaultKind.KILL: len(SERVICES),
        FaultKind.CRASH_POINT: 1,
        FaultKind.BROKER_CONNECTIONS: 1,
        FaultKind.REDIS: 1,
        FaultKind.SIMULATOR: 1,
    }
    assert sorted(f.target for f in faults if f.kind is FaultKind.KILL) == sorted(SERVICES)
    [point] = [f for f in faults if f.kind is FaultKind.CRASH_POINT]
    assert point.point in KNOWN_POINTS
    assert point.point.startswith(f"{point.target}.")
    [phase] = [f for f in faults if f.kind is FaultKind.SIMULATOR]
    assert set(SIMULATOR_MODES[phase.target]) == {"reject_share", "duplicate_apprec_share"}


def test_the_full_schedule_reaches_every_crash_point_and_both_protocols() -> None:
    faults = build("full", load_seconds=300, seed=1)
    assert {f.point for f in faults if f.kind is FaultKind.CRASH_POINT} == set(KNOWN_POINTS)
    assert Counter(f.target for f in faults if f.kind is FaultKind.KILL) == dict.fromkeys(
        SERVICES, 1
    )
    kinds = {f.kind for f in faults}
    assert {FaultKind.BROKER_CONNECTIONS, FaultKind.NHN_LINK, FaultKind.REDIS} <= kinds
    assert {f.target for f in faults if f.kind is FaultKind.SIMULATOR} == {
        "reject",
        "silent",
        "transport_error",
        "duplicate",
    }


@pytest.mark.parametrize(("name", "seconds"), [("small", 60), ("full", 300), ("small", 20)])
def test_faults_come_in_order_inside_the_window_never_one_service_twice_in_a_row(
    name: str, seconds: float
) -> None:
    for seed in range(20):
        faults = build(name, load_seconds=seconds, seed=seed)
        moments = [f.at for f in faults]
        assert moments == sorted(moments)
        assert moments[0] > 0
        assert moments[-1] <= seconds * FAULT_WINDOW
        for one, other in itertools.pairwise(faults):
            assert _service(one) is None or _service(one) != _service(other)


def test_a_seed_repeats_the_schedule_and_another_changes_it() -> None:
    assert build("full", load_seconds=300, seed=3) == build("full", load_seconds=300, seed=3)
    assert build("full", load_seconds=300, seed=3) != build("full", load_seconds=300, seed=4)


def test_an_unknown_schedule_or_no_room_is_refused() -> None:
    with pytest.raises(ValueError, match="no schedule"):
        build("huge", load_seconds=60, seed=1)
    with pytest.raises(ValueError, match="no room"):
        build("small", load_seconds=0, seed=1)


def test_a_fault_describes_itself() -> None:
    fault = PlannedFault(3.0, FaultKind.CRASH_POINT, "dispatch", point="dispatch.after_send")
    assert fault.describe() == "crash point: dispatch at dispatch.after_send"
    assert PlannedFault(1.0, FaultKind.REDIS, "all services", 2.0).describe() == (
        "Redis paused, clients killed: all services for 2 s"
    )
    assert fault.to_json()["kind"] == "crash point"
