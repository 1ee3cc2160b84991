"""Annual submissions in the ledger on the real Redis: the one atomic step, the resend rules,
the derived status, and the messages that a crash left unpublished."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis

from kpr_gateway.ledger import (
    AnnualConflictError,
    AnnualMessage,
    AnnualStatus,
    Discipline,
    KeySpace,
    Ledger,
    MessageState,
    NewAnnualSubmission,
    ReceiptOutcome,
)

REPORT = {"sendable": True, "persons": 40, "findings": []}


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = Redis(host="127.0.0.1", port=6379)
    yield client
    await client.aclose()


@pytest.fixture
async def ledger(redis: Redis) -> AsyncIterator[Ledger]:
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    yield Ledger(redis, keys=KeySpace(prefix))
    keys = [key async for key in redis.scan_iter(match=f"{prefix}:*")]
    if keys:
        await redis.delete(*keys)


def submission(
    *, sent: bool = True, replace: str | None = None, environment: str = "validation"
) -> NewAnnualSubmission:
    messages = (
        (
            AnnualMessage(str(uuid.uuid4()), "KPR_IPL", b"<MsgHead>ipl</MsgHead>"),
            AnnualMessage(str(uuid.uuid4()), "KPR_IDE", b"<MsgHead>ide</MsgHead>"),
        )
        if sent
        else None
    )
    return NewAnnualSubmission(
        submission_id=str(uuid.uuid4()),
        year=2025,
        environment=environment,
        report=REPORT if sent else {**REPORT, "sendable": False},
        persons=40,
        trace_id="0" * 32,
        traceparent=None,
        messages=messages,
        replace=replace is not None,
        replace_reason=replace,
    )


async def answer(ledger: Ledger, new: NewAnnualSubmission, status_code: int) -> None:
    assert new.messages is not None
    outcome = ReceiptOutcome(kind="apprec", received_at=datetime.now(UTC), status_code=status_code)
    await ledger.record_receipt("bergen", new.messages[0].msg_id, outcome, trace_id=None)


async def test_a_sent_submission_is_recorded_with_both_messages_built(ledger: Ledger) -> None:
    new = submission()
    answer_ = await ledger.annual.record("bergen", new)
    assert answer_.rule is Discipline.ALLOWED
    record = await ledger.annual.get("bergen", new.submission_id)
    assert record is not None
    assert record.status is AnnualStatus.SENDING
    assert record.report == REPORT
    assert record.ipl is not None
    assert record.ide is not None
    assert (record.ipl.msg_type, record.ide.msg_type) == ("KPR_IPL", "KPR_IDE")
    assert record.ipl.event_ids == []
    assert record.ipl.submission_id == new.submission_id
    assert record.ipl.state is MessageState.BUILT
    assert await ledger.tenant_of_message(record.ipl.msg_id) == "bergen"
    # the submission's keys expire with the retention
    keys = ledger.keys
    assert await ledger.redis.ttl(keys.annual_submission("bergen", new.submission_id)) > 0
    assert await ledger.redis.ttl(keys.message("bergen", record.ipl.msg_id)) > 0


async def test_the_status_follows_kpr_ipl_to_its_apprec(ledger: Ledger) -> None:
    new = submission()
    await ledger.annual.record("bergen", new)
    assert new.messages is not None
    ipl = new.messages[0].msg_id
    await ledger.advance_message("bergen", ipl, MessageState.DISPATCHED, trace_id=None)
    record = await ledger.annual.get("bergen", new.submission_id)
    assert record is not None
    assert record.status is AnnualStatus.SENT
    await answer(ledger, new, 3)
    record = await ledger.annual.get("bergen", new.submission_id)
    assert record is not None
    assert record.status is AnnualStatus.ACKNOWLEDGED_WITH_ERRORS
    assert await ledger.annual.accepted_persons("bergen", 2025, environment="validation") == 40
    assert await ledger.annual.accepted_persons("bergen", 2025, environment="production") is None


async def test_pending_then_accepted_then_replaced(ledger: Ledger) -> None:
    first = submission()
    await ledger.annual.record("bergen", first)
    second = submission()
    pending = await ledger.annual.record("bergen", second)
    assert pending.rule is Discipline.PENDING
    assert pending.current_id == first.submission_id
    assert await ledger.annual.get("bergen", second.submission_id) is None  # nothing changed

    await answer(ledger, first, 1)
    assert (await ledger.annual.record("bergen", submission())).rule is Discipline.REPLACE_REQUIRED
    dry = await ledger.annual.discipline("bergen", 2025, replace=True, environment="validation")
    assert dry.rule is Discipline.ALLOWED
    assert dry.replaces == first.submission_id
    replacing = submission(replace="agreed with FHI")
    done = await ledger.annual.record("bergen", replacing)
    assert done.replaces == first.submission_id
    record = await ledger.annual.get("bergen", replacing.submission_id)
    assert record is not None
    assert record.replaces == first.submission_id
    assert record.replace_reason == "agreed with FHI"
    listed = [r.submission_id for r in await ledger.annual.list_year("bergen", 2025)]
    assert listed == [first.submission_id, replacing.submission_id]
    assert await ledger.annual.years("bergen") == [2025]


async def test_an_overdue_one_can_be_replaced_but_not_simply_followed(ledger: Ledger) -> None:
    """No AppRec past the deadline: the year is not blocked for the whole retention, but a
    new submission needs replace and its reason (the municipality talks to FHI first)."""
    first = submission()
    await ledger.annual.record("bergen", first)
    assert first.messages is not None
    await ledger.advance_message(
        "bergen", first.messages[0].msg_id, MessageState.OVERDUE, trace_id=None
    )
    assert (await ledger.annual.record("bergen", submission())).rule is Discipline.PENDING
    replacing = submission(replace="no AppRec after a week; agreed with FHI")
    done = await ledger.annual.record("bergen", replacing)
    assert done.replaces == first.submission_id


async def test_after_a_rejected_one_a_new_one_is_allowed(ledger: Ledger) -> None:
    first = submission()
    await ledger.annual.record("bergen", first)
    await answer(ledger, first, 2)
    assert (await ledger.annual.record("bergen", submission())).rule is Discipline.ALLOWED


async def test_a_refused_submission_is_kept_but_never_becomes_current(ledger: Ledger) -> None:
    accepted = submission()
    await ledger.annual.record("bergen", accepted)
    await answer(ledger, accepted, 1)
    refused = submission(sent=False)
    assert (await ledger.annual.record("bergen", refused)).rule is Discipline.ALLOWED
    record = await ledger.annual.get("bergen", refused.submission_id)
    assert record is not None
    assert record.status is AnnualStatus.REFUSED
    assert record.ipl is None
    # the accepted one still stands: a new one still needs replace
    assert (await ledger.annual.record("bergen", submission())).rule is Discipline.REPLACE_REQUIRED


async def test_concurrent_submissions_for_a_year_record_one(ledger: Ledger) -> None:
    answers = await asyncio.gather(
        *(ledger.annual.record("bergen", submission()) for _ in range(8))
    )
    assert sorted(a.rule.value for a in answers).count("allowed") == 1


async def test_a_taken_submission_id_is_refused(ledger: Ledger) -> None:
    new = submission(sent=False)
    await ledger.annual.record("bergen", new)
    with pytest.raises(AnnualConflictError, match="taken"):
        await ledger.annual.record("bergen", new)


async def test_unpublished_messages_are_found_until_they_move_on(ledger: Ledger) -> None:
    new = submission()
    await ledger.annual.record("bergen", new)
    assert new.messages is not None
    ipl, ide = (m.msg_id for m in new.messages)
    assert await ledger.annual.unpublished("bergen", older_than=timedelta(hours=1)) == []
    found = await ledger.annual.unpublished("bergen", older_than=timedelta(0))
    assert sorted(m.msg_id for m in found) == sorted([ipl, ide])
    assert {m.document for m in found} == {b"<MsgHead>ipl</MsgHead>", b"<MsgHead>ide</MsgHead>"}
    await ledger.advance_message("bergen", ipl, MessageState.ENVELOPED, trace_id=None)
    found = await ledger.annual.unpublished("bergen", older_than=timedelta(0))
    assert [m.msg_id for m in found] == [ide]
    await ledger.annual.mark_published("bergen", [ide])
    assert await ledger.annual.unpublished("bergen", older_than=timedelta(0)) == []


async def test_each_environment_has_its_own_current_submission(ledger: Ledger) -> None:
    """A test submission to KPR Validering neither blocks the year's submission to KPR nor
    counts as it (and the other way round); within each the rules hold as before."""
    test = submission(environment="validation")
    assert (await ledger.annual.record("bergen", test)).rule is Discipline.ALLOWED
    real = submission(environment="production")
    assert (await ledger.annual.record("bergen", real)).rule is Discipline.ALLOWED
    # each one pending blocks only its own environment
    again = await ledger.annual.record("bergen", submission(environment="validation"))
    assert (again.rule, again.current_id) == (Discipline.PENDING, test.submission_id)
    again = await ledger.annual.record("bergen", submission(environment="production"))
    assert (again.rule, again.current_id) == (Discipline.PENDING, real.submission_id)

    await answer(ledger, test, 1)  # KPR Validering acknowledged the test
    production = await ledger.annual.discipline(
        "bergen", 2025, replace=False, environment="production"
    )
    assert (production.rule, production.current_id) == (Discipline.PENDING, real.submission_id)
    assert await ledger.annual.accepted_persons("bergen", 2025, environment="production") is None
    assert await ledger.annual.accepted_persons("bergen", 2025, environment="validation") == 40
    validation = await ledger.annual.discipline(
        "bergen", 2025, replace=False, environment="validation"
    )
    assert validation.rule is Discipline.REPLACE_REQUIRED
    # production keeps the key it had before submissions named their environment
    keys = ledger.keys
    assert await ledger.redis.get(keys.annual_current("bergen", 2025, "production")) == (
        real.submission_id.encode()
    )
    assert keys.annual_current("bergen", 2025, "production").endswith(":annual-current:2025")
    listed = {r.submission_id: r.environment for r in await ledger.annual.list_year("bergen", 2025)}
    assert listed == {test.submission_id: "validation", real.submission_id: "production"}


async def test_each_message_records_its_environment(ledger: Ledger) -> None:
    new = submission(environment="validation")
    await ledger.annual.record("bergen", new)
    assert new.messages is not None
    for message in new.messages:
        record = await ledger.get_message("bergen", message.msg_id)
        assert record is not None
        assert record.environment == "validation"
    found = await ledger.annual.unpublished("bergen", older_than=timedelta(0))
    assert {m.environment for m in found} == {"validation"}
