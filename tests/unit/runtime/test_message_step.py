"""MessageStep: the ledger pre-check and forward move that envelope and dispatch share."""

from __future__ import annotations

import logging
import uuid

import pytest
from fakeredis import FakeAsyncRedis

from kpr_gateway.ledger import BatchMessage, Ledger, MessageState, NewEvent
from kpr_gateway.observability import ServiceMetrics
from kpr_gateway.pipeline import PermanentError, TransientError
from kpr_gateway.runtime import LedgerErrors, MessageStep

TENANT = "bergen"


class StepDownError(TransientError):
    pass


class StepUnknownError(PermanentError):
    pass


def step(ledger: Ledger, metrics: ServiceMetrics) -> MessageStep:
    return MessageStep(
        ledger,
        metrics,
        skip_from=MessageState.DISPATCHED,
        errors=LedgerErrors(down=StepDownError, unknown_message=StepUnknownError),
        log=logging.getLogger("tests.step"),
    )


async def built_message(ledger: Ledger) -> str:
    event_id, msg_id = str(uuid.uuid4()), str(uuid.uuid4())
    await ledger.register_events(TENANT, [NewEvent(event_id, "content-hash")], trace_id=None)
    await ledger.commit_batch(
        TENANT,
        batch_id=str(uuid.uuid4()),
        event_ids=[event_id],
        messages=[BatchMessage(msg_id, "KPR_IPL", b"<MsgHead/>")],
        trace_id=None,
        traceparent=None,
    )
    return msg_id


async def test_a_message_before_the_skip_state_is_not_skipped_until_it_gets_there() -> None:
    ledger, metrics = Ledger(FakeAsyncRedis()), ServiceMetrics("stage")
    stage = step(ledger, metrics)
    msg_id = await built_message(ledger)

    await stage.advance(TENANT, msg_id, MessageState.ENVELOPED)
    assert not await stage.should_skip(TENANT, msg_id)

    await stage.advance(
        TENANT, msg_id, MessageState.DISPATCHED, detail={"transport_message_id": "t-1"}
    )
    assert await stage.should_skip(TENANT, msg_id)
    record = await ledger.get_message(TENANT, msg_id)
    assert record is not None
    assert record.state is MessageState.DISPATCHED
    assert record.history[-1].detail == {"transport_message_id": "t-1"}
    skipped = metrics.registry.get_sample_value("kprgw_stage_skipped_total", {"tenant": TENANT})
    assert skipped == 1


async def test_a_message_the_ledger_never_recorded_is_the_services_permanent_error() -> None:
    stage = step(Ledger(FakeAsyncRedis()), ServiceMetrics("stage"))
    with pytest.raises(StepUnknownError, match="no KPR message m-1 in the ledger"):
        await stage.should_skip(TENANT, "m-1")
    with pytest.raises(StepUnknownError):
        await stage.advance(TENANT, "m-1", MessageState.ENVELOPED)


async def test_an_unreachable_ledger_is_the_services_transient_error() -> None:
    unreachable = Ledger(FakeAsyncRedis(connected=False))
    stage = step(unreachable, ServiceMetrics("stage"))
    with pytest.raises(StepDownError, match="ledger unreachable for message m-1"):
        await stage.should_skip(TENANT, "m-1")
    with pytest.raises(StepDownError):
        await stage.advance(TENANT, "m-1", MessageState.ENVELOPED)
    with pytest.raises(StepDownError), stage.reaching_ledger("m-1"):
        await unreachable.get_message(TENANT, "m-1")
