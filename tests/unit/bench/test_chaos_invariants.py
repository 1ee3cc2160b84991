"""The chaos run's invariant checker on made-up ledgers: lost, final, duplicates explained or
not, and when a fault counts as recovered."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bench.chaos.inject import Injected
from bench.chaos.invariants import (
    EventView,
    LedgerView,
    MessageView,
    duplicates,
    event_outcome,
    judge,
    recovered_at,
)
from bench.chaos.schedule import FaultKind, PlannedFault

T0 = datetime(2026, 12, 8, 1, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def message(
    msg_id: str,
    state: str = "acknowledged",
    *,
    attempts: int = 1,
    resend_of: str | None = None,
    built: float = 0.0,
    acknowledged: float | None = 1.0,
) -> MessageView:
    return MessageView(
        tenant="bergen",
        msg_id=msg_id,
        state=state,
        send_attempts=attempts,
        resend_of=resend_of,
        built_at=at(built),
        acknowledged_at=at(acknowledged) if acknowledged is not None else None,
        error_codes=(),
        events=1,
    )


MESSAGES = {
    m.msg_id: m
    for m in (
        message("m1"),
        message("m2", "rejected", acknowledged=None),
        message("m3", "dispatched", acknowledged=None),
        message("m4", "overdue", acknowledged=None),
        message("m5", resend_of="m2", built=5, acknowledged=6),
    )
}


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (EventView(None), (False, "unknown to the ledger")),
        (EventView("received"), (False, "not final: received")),
        (EventView("suppressed_test_person"), (True, "suppressed_test_person")),
        (EventView("not_reportable"), (True, "not_reportable")),
        (EventView("batched", ("m1",)), (True, "acknowledged")),
        (EventView("batched", ("m2",)), (True, "rejected")),
        (EventView("batched", ("m4",)), (True, "overdue")),
        (EventView("batched", ("m3",)), (False, "not final: dispatched")),
        (EventView("batched", ("m1", "m3")), (False, "not final: dispatched")),
        (EventView("batched", ("m9",)), (False, "not final: a message of it is unknown")),
        (EventView("batched", ()), (False, "not final: batched without a message")),
        # rejected, then resent and acknowledged: the resend decides, as GET /v1/events says
        (EventView("batched", ("m2", "m5")), (True, "acknowledged")),
    ],
)
def test_an_event_is_final_only_as_the_ledger_reads_it(
    event: EventView, expected: tuple[bool, str]
) -> None:
    assert event_outcome(event, MESSAGES) == expected


def test_receptions_within_the_send_attempts_and_recorded_resends_are_explained() -> None:
    received: dict[str, Any] = {
        "messages": {"m1": 1, "m2": 2, "m5": 1},
        "repeated_notifications": {"g1": ["m2", "m5"]},
    }
    messages = {**MESSAGES, "m2": message("m2", "rejected", attempts=2, acknowledged=None)}
    found = duplicates(received, messages)
    assert found.unexplained == []
    assert (found.redeliveries_explained, found.resent_notifications) == (1, 1)


def test_receptions_beyond_the_ledger_are_unexplained() -> None:
    received: dict[str, Any] = {
        "messages": {"m1": 2, "zz": 1},
        "repeated_notifications": {"g1": ["m1", "m4"], "g2": ["m5", "m2"]},
    }
    found = duplicates(received, MESSAGES)
    assert found.unexplained == [
        "MsgId m1 received 2x, 1 send attempt(s)",
        "MsgId zz received 1x, unknown to the ledger",
        "notification g1 received in m1 and m4, no resend recorded",
        # the original after its resend is not explained by the resend
        "notification g2 received in m5 and m2, no resend recorded",
    ]


def injected(ready: float | None, problem: str | None = None) -> Injected:
    fault = PlannedFault(1.0, FaultKind.KILL, "transform")
    return Injected(
        fault,
        at(0),
        at(0),
        ["transform"],
        ready_at=None if ready is None else at(ready),
        problem=problem,
    )


def test_recovery_needs_a_message_built_after_ready_and_acknowledged() -> None:
    messages = [
        message("before", built=1, acknowledged=9),  # in flight across the fault
        message("after-rejected", "rejected", built=4, acknowledged=None),
        message("after", built=5, acknowledged=7),
        message("later", built=6, acknowledged=8),
    ]
    assert recovered_at(injected(3), messages) == at(7)
    assert recovered_at(injected(6.5), messages) is None
    assert recovered_at(injected(None), messages) is None
    assert recovered_at(injected(3, "the restarted transform did not reach it"), messages) is None


def view(events: dict[str, EventView], chain_ok: bool = True) -> LedgerView:
    chain = {"municipality": "4601", "length": 2, "ok": chain_ok, "problem": None}
    return LedgerView({"bergen": events}, dict(MESSAGES), {"bergen": [chain]})


def test_the_verdict_passes_only_without_loss_duplicates_broken_chains_or_unrecovered_faults() -> (
    None
):
    accepted = {"bergen": ["e1", "e2"]}
    events = {"e1": EventView("batched", ("m1",)), "e2": EventView("batched", ("m2", "m5"))}
    received: dict[str, Any] = {"messages": {"m1": 1}, "repeated_notifications": {}}
    good = judge(accepted, view(events), received, [injected(-1)])
    assert good.passed, good.failures()
    assert good.final_by_state == {"acknowledged": 2}
    assert good.recoveries[0]["recovery_seconds"] == 1.0

    lost = judge(accepted, view({**events, "e2": EventView(None)}), received, [])
    assert lost.failures() == ["1 accepted events lost"]
    assert lost.lost_examples == ["bergen/e2: unknown to the ledger"]

    twice = judge(accepted, view(events), {"messages": {"m1": 2}}, [])
    assert twice.failures() == ["1 unexplained duplicates"]

    broken = judge(accepted, view(events, chain_ok=False), received, [])
    assert broken.failures() == ["a chain has a gap or a fork"]

    stuck = judge(accepted, view(events), received, [injected(None)])
    assert stuck.failures() == ["not recovered: kill -9: transform"]
    assert stuck.to_json()["passed"] is False
