"""Ledger scenarios, run against real Redis (integration) and fakeredis (unit, embedded mode)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kpr_gateway.ledger import (
    EventState,
    Ledger,
    MessageState,
    NewEvent,
    ReceiptError,
    ReceiptMatch,
    ReceiptOutcome,
    RegistrationOutcome,
    RejectionReason,
    UnknownMessageError,
)

TENANT = "bergen"
TRACE = "0af7651916cd43dd8448eb211c80319c"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


def apprec(status: int, *errors: ReceiptError) -> ReceiptOutcome:
    return ReceiptOutcome(
        kind="apprec",
        received_at=datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
        status_code=status,
        status_text={1: "OK", 2: "Avvist", 3: "OK, feil i delmelding"}[status],
        errors=list(errors),
        apprec_id="a-1",
    )


async def registration_is_idempotent_and_detects_conflicts(ledger: Ledger) -> None:
    first = await ledger.register_events(
        TENANT, [NewEvent("e1", "h1"), NewEvent("e2", "h2")], trace_id=TRACE
    )
    assert [r.outcome for r in first] == [RegistrationOutcome.NEW, RegistrationOutcome.NEW]

    await ledger.mark_accepted(TENANT, ["e1"])
    again = await ledger.register_events(
        TENANT, [NewEvent("e1", "h1"), NewEvent("e2", "other")], trace_id=TRACE
    )
    assert [r.outcome for r in again] == [RegistrationOutcome.REPEAT, RegistrationOutcome.CONFLICT]
    assert [r.accepted for r in again] == [True, False]

    other_tenant = await ledger.register_events("trondheim", [NewEvent("e1", "x")], trace_id=None)
    assert other_tenant[0].outcome is RegistrationOutcome.NEW
    assert await ledger.get_event("trondheim", "e2") is None


async def event_follows_its_messages_to_the_apprec(ledger: Ledger) -> None:
    await ledger.register_events(TENANT, [NewEvent("e1", "h1")], trace_id=TRACE)
    for msg_id, msg_type in (("m-ipl", "KPR_IPL"), ("m-ide", "KPR_IDE")):
        created = await ledger.record_message(
            TENANT,
            msg_id=msg_id,
            msg_type=msg_type,
            batch_id="b1",
            event_ids=["e1"],
            trace_id=TRACE,
            traceparent=f"00-{TRACE}-b7ad6b7169203331-01",
        )
        assert created
    assert not await ledger.record_message(
        TENANT,
        msg_id="m-ipl",
        msg_type="KPR_IPL",
        batch_id="b1",
        event_ids=["e1"],
        trace_id=TRACE,
        traceparent=None,
    )
    moved = await ledger.settle_events(
        TENANT,
        ["e1"],
        EventState.BATCHED,
        trace_id=TRACE,
        batch_id="b1",
        msg_ids=["m-ipl", "m-ide"],
    )
    assert moved == [True]
    assert await ledger.settle_events(TENANT, ["e1"], EventState.BATCHED, trace_id=TRACE) == [False]

    record = await ledger.get_event(TENANT, "e1")
    assert record is not None
    assert (record.state, record.status) == (EventState.BATCHED, "built")

    for msg_id in ("m-ipl", "m-ide"):
        assert await ledger.advance_message(TENANT, msg_id, MessageState.ENVELOPED, trace_id=TRACE)
        assert await ledger.advance_message(TENANT, msg_id, MessageState.DISPATCHED, trace_id=TRACE)
    # a redelivered envelope step never moves a message back
    assert not await ledger.advance_message(TENANT, "m-ipl", MessageState.ENVELOPED, trace_id=TRACE)
    assert await ledger.awaiting_count(TENANT) == 2

    assert await ledger.record_receipt(TENANT, "m-ipl", apprec(1), trace_id=None) is (
        ReceiptMatch.MATCHED
    )
    partial = await ledger.get_event(TENANT, "e1")
    assert partial is not None
    assert partial.status == "dispatched"

    error = ReceiptError(code="E10", system="2.16.578.1.12.4.1.1.8221", text="Ugyldig", ref="x")
    assert await ledger.record_receipt(TENANT, "m-ide", apprec(2, error), trace_id=None) is (
        ReceiptMatch.MATCHED
    )
    final = await ledger.get_event(TENANT, "e1")
    assert final is not None
    assert final.status == "rejected"
    ide = next(m for m in final.messages if m.msg_id == "m-ide")
    assert ide.receipt is not None
    assert ide.receipt.errors == [error]
    assert [t.state for t in ide.history] == ["built", "enveloped", "dispatched", "rejected"]
    assert ide.traceparent == f"00-{TRACE}-b7ad6b7169203331-01"
    assert await ledger.awaiting_count(TENANT) == 0

    # a replayed AppRec for a closed message changes nothing
    assert await ledger.record_receipt(TENANT, "m-ide", apprec(1), trace_id=None) is (
        ReceiptMatch.ALREADY_CLOSED
    )
    assert await ledger.record_receipt(TENANT, "unknown", apprec(1), trace_id=None) is (
        ReceiptMatch.UNKNOWN_MESSAGE
    )
    assert await ledger.tenant_of_message("m-ide") == TENANT


async def rejected_events_keep_their_reasons(ledger: Ledger) -> None:
    await ledger.register_events(
        TENANT, [NewEvent("bad", "h"), NewEvent("test", "h")], trace_id=None
    )
    reason = RejectionReason(
        rule="service-code-obsolete", field="service_code", reason="code 12 ..."
    )
    await ledger.settle_events(
        TENANT, ["bad"], EventState.REJECTED_INVALID, trace_id=TRACE, reasons={"bad": [reason]}
    )
    await ledger.settle_events(TENANT, ["test"], EventState.SUPPRESSED_TEST_PERSON, trace_id=TRACE)
    bad = await ledger.get_event(TENANT, "bad")
    assert bad is not None
    assert (bad.status, bad.reasons) == ("rejected_invalid", [reason])
    assert bad.history[-1].detail == {"reasons": [reason.model_dump()]}
    # a settled event is never batched afterwards
    assert await ledger.settle_events(TENANT, ["bad"], EventState.BATCHED, trace_id=None) == [False]
    test = await ledger.get_event(TENANT, "test")
    assert test is not None
    assert test.status == "suppressed_test_person"


async def overdue_messages_are_marked_and_can_still_close(ledger: Ledger, clock: Clock) -> None:
    for msg_id in ("late", "early"):
        await ledger.record_message(
            TENANT,
            msg_id=msg_id,
            msg_type="KPR_IPL",
            batch_id="b",
            event_ids=[],
            trace_id=None,
            traceparent=None,
        )
    await ledger.advance_message(TENANT, "late", MessageState.DISPATCHED, trace_id=None)
    clock.advance(timedelta(hours=2))
    await ledger.advance_message(TENANT, "early", MessageState.DISPATCHED, trace_id=None)

    assert await ledger.mark_overdue(TENANT, older_than=timedelta(hours=1)) == ["late"]
    assert await ledger.mark_overdue(TENANT, older_than=timedelta(hours=1)) == []
    assert (await ledger.overdue_count(TENANT), await ledger.awaiting_count(TENANT)) == (1, 1)

    assert await ledger.record_receipt(TENANT, "late", apprec(3), trace_id=None) is (
        ReceiptMatch.MATCHED
    )
    late = await ledger.get_message(TENANT, "late")
    assert late is not None
    assert late.state is MessageState.ACKNOWLEDGED_WITH_ERRORS
    assert await ledger.overdue_count(TENANT) == 0


async def unknown_message_transition_is_refused(ledger: Ledger) -> None:
    with pytest.raises(UnknownMessageError, match="no KPR message"):
        await ledger.advance_message(TENANT, "nope", MessageState.ENVELOPED, trace_id=None)


SCENARIOS = [
    registration_is_idempotent_and_detects_conflicts,
    event_follows_its_messages_to_the_apprec,
    rejected_events_keep_their_reasons,
    unknown_message_transition_is_refused,
]
