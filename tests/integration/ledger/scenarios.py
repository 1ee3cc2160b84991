"""Ledger scenarios, run against real Redis (integration) and fakeredis (unit, embedded mode)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kpr_gateway.ledger import (
    BatchCommit,
    BatchMessage,
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

    within_one_call = await ledger.register_events(
        TENANT,
        [NewEvent("d1", "h"), NewEvent("d1", "h"), NewEvent("d2", "h"), NewEvent("d2", "x")],
        trace_id=TRACE,
    )
    assert [r.outcome for r in within_one_call] == [
        RegistrationOutcome.NEW,
        RegistrationOutcome.REPEAT,
        RegistrationOutcome.NEW,
        RegistrationOutcome.CONFLICT,
    ]
    assert await ledger.register_events(TENANT, [], trace_id=None) == []
    await ledger.mark_accepted(TENANT, ["d1", "never-registered"])
    assert await ledger.get_event(TENANT, "never-registered") is None
    d1 = await ledger.get_event(TENANT, "d1")
    assert d1 is not None
    assert d1.accepted

    other_tenant = await ledger.register_events("trondheim", [NewEvent("e1", "x")], trace_id=None)
    assert other_tenant[0].outcome is RegistrationOutcome.NEW
    assert await ledger.get_event("trondheim", "e2") is None


async def an_event_whose_publish_was_never_confirmed_shows_not_accepted(ledger: Ledger) -> None:
    await ledger.register_events(TENANT, [NewEvent("e-503", "h1")], trace_id=TRACE)
    unconfirmed = await ledger.get_event(TENANT, "e-503")
    assert unconfirmed is not None
    assert (unconfirmed.state, unconfirmed.status) == (EventState.RECEIVED, "not_accepted")
    await ledger.mark_accepted(TENANT, ["e-503"])
    confirmed = await ledger.get_event(TENANT, "e-503")
    assert confirmed is not None
    assert confirmed.status == "received"


async def events_of_several_requests_keep_their_own_traces(ledger: Ledger) -> None:
    """intake registers the events of concurrent requests in one call, each with its trace."""
    first, second = "1" * 32, "2" * 32
    replies = await ledger.register_events(
        TENANT,
        [
            NewEvent("t1", "h1", first),
            NewEvent("t2", "h2", second),
            NewEvent("t1", "h1", second),  # the same event in the second request: a repeat
            NewEvent("t3", "h3"),  # no trace of its own: the call's
        ],
        trace_id=TRACE,
    )
    assert [r.outcome for r in replies] == [
        RegistrationOutcome.NEW,
        RegistrationOutcome.NEW,
        RegistrationOutcome.REPEAT,
        RegistrationOutcome.NEW,
    ]
    for event_id, trace_id in (("t1", first), ("t2", second), ("t3", TRACE)):
        record = await ledger.get_event(TENANT, event_id)
        assert record is not None
        assert record.trace_id == trace_id
        [received] = record.history
        assert (received.state, received.trace_id) == (EventState.RECEIVED.value, trace_id)


async def event_follows_its_messages_to_the_apprec(ledger: Ledger) -> None:
    await ledger.register_events(TENANT, [NewEvent("e1", "h1")], trace_id=TRACE)
    commit = await ledger.commit_batch(
        TENANT,
        batch_id="b1",
        event_ids=["e1"],
        messages=[
            BatchMessage("m-ipl", "KPR_IPL", b"<ipl/>"),
            BatchMessage("m-ide", "KPR_IDE", b"<ide/>"),
        ],
        trace_id=TRACE,
        traceparent=f"00-{TRACE}-b7ad6b7169203331-01",
    )
    assert commit == BatchCommit(committed=True, refused={})
    # a redelivered chunk cannot batch the event again, and nothing changes
    again = await ledger.commit_batch(
        TENANT,
        batch_id="b2",
        event_ids=["e1"],
        messages=[BatchMessage("m-2", "KPR_IPL", b"<x/>")],
        trace_id=TRACE,
        traceparent=None,
    )
    assert again == BatchCommit(committed=False, refused={"e1": "batched"})
    assert await ledger.get_message(TENANT, "m-2") is None
    assert await ledger.settle_events(TENANT, ["e1"], EventState.BATCHED, trace_id=TRACE) == [False]

    record = await ledger.get_event(TENANT, "e1")
    assert record is not None
    assert (record.state, record.status) == (EventState.BATCHED, "built")

    unsent = await ledger.unsent_messages(TENANT, ["e1"])
    assert [(m.msg_id, m.document, m.batch_id, m.event_ids) for m in unsent] == [
        ("m-ide", b"<ide/>", "b1", ["e1"]),
        ("m-ipl", b"<ipl/>", "b1", ["e1"]),
    ]
    for msg_id in ("m-ipl", "m-ide"):
        assert await ledger.advance_message(TENANT, msg_id, MessageState.ENVELOPED, trace_id=TRACE)
        assert await ledger.advance_message(TENANT, msg_id, MessageState.DISPATCHED, trace_id=TRACE)
    assert await ledger.unsent_messages(TENANT, ["e1"]) == []
    # a redelivered envelope step never moves a message back
    assert not await ledger.advance_message(TENANT, "m-ipl", MessageState.ENVELOPED, trace_id=TRACE)
    assert await ledger.awaiting_count(TENANT) == 2
    await ledger.note_send_attempt(TENANT, "m-ipl", transport_message_id="amqp-1", trace_id=None)
    assert await ledger.msg_id_for_transport_id(TENANT, "amqp-1") == "m-ipl"
    assert await ledger.msg_id_for_transport_id("trondheim", "amqp-1") is None

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
    ipl = next(m for m in final.messages if m.msg_id == "m-ipl")
    assert [t.state for t in ipl.history][-2:] == ["send_attempt", "acknowledged"]
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
    await ledger.register_events(TENANT, [NewEvent("e", "h")], trace_id=None)
    await ledger.commit_batch(
        TENANT,
        batch_id="b",
        event_ids=["e"],
        messages=[BatchMessage("late", "KPR_IPL", b"1"), BatchMessage("early", "KPR_IDE", b"2")],
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


async def commit_refuses_settled_and_unknown_events(ledger: Ledger) -> None:
    await ledger.register_events(TENANT, [NewEvent("ok", "h"), NewEvent("bad", "h")], trace_id=None)
    await ledger.settle_events(TENANT, ["bad"], EventState.REJECTED_INVALID, trace_id=None)
    commit = await ledger.commit_batch(
        TENANT,
        batch_id="b",
        event_ids=["ok", "bad", "ghost"],
        messages=[BatchMessage("m", "KPR_IPL", b"doc")],
        trace_id=None,
        traceparent=None,
    )
    assert commit == BatchCommit(
        committed=False, refused={"bad": "rejected_invalid", "ghost": "missing"}
    )
    untouched = await ledger.get_event(TENANT, "ok")
    assert untouched is not None
    assert untouched.state is EventState.RECEIVED
    assert await ledger.tenant_of_message("m") is None


async def unknown_message_transition_is_refused(ledger: Ledger) -> None:
    with pytest.raises(UnknownMessageError, match="no KPR message"):
        await ledger.advance_message(TENANT, "nope", MessageState.ENVELOPED, trace_id=None)


SCENARIOS = [
    registration_is_idempotent_and_detects_conflicts,
    an_event_whose_publish_was_never_confirmed_shows_not_accepted,
    events_of_several_requests_keep_their_own_traces,
    event_follows_its_messages_to_the_apprec,
    rejected_events_keep_their_reasons,
    commit_refuses_settled_and_unknown_events,
    unknown_message_transition_is_refused,
]
