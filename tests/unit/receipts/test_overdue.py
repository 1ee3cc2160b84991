"""The overdue sweep: no answer within the deadline marks the message overdue, in the ledger and
in the gauge; a late AppRec still closes it."""

from __future__ import annotations

from datetime import timedelta

from kpr_gateway.ledger import MessageState
from tests.unit.receipts.conftest import Harness
from tests.unit.receipts.world import on_async_queue, sealed_apprec


async def test_unanswered_message_becomes_overdue_and_a_late_apprec_closes_it(
    harness: Harness,
) -> None:
    sent = await harness.sent()
    answered = await harness.sent()
    await harness.deliver(on_async_queue(harness.tenant, sealed_apprec(harness.pki, answered.head)))

    await harness.receipts.sweep.sweep()
    assert (await harness.message(sent.msg_id)).state is MessageState.DISPATCHED
    assert harness.metric("kprgw_receipts_overdue", tenant="bergen") == 0

    harness.clock.advance(timedelta(hours=24, seconds=1))
    await harness.receipts.sweep.sweep()

    assert (await harness.message(sent.msg_id)).state is MessageState.OVERDUE
    assert (await harness.message(answered.msg_id)).state is MessageState.ACKNOWLEDGED
    assert harness.metric("kprgw_receipts_overdue", tenant="bergen") == 1
    assert harness.metric("kprgw_receipts_marked_overdue_total", tenant="bergen") == 1

    await harness.deliver(on_async_queue(harness.tenant, sealed_apprec(harness.pki, sent.head)))
    await harness.receipts.sweep.sweep()

    assert (await harness.message(sent.msg_id)).state is MessageState.ACKNOWLEDGED
    assert harness.metric("kprgw_receipts_overdue", tenant="bergen") == 0
    assert harness.metric("kprgw_receipts_marked_overdue_total", tenant="bergen") == 1


async def test_sweep_survives_a_ledger_outage(harness: Harness) -> None:
    sent = await harness.sent()
    harness.clock.advance(timedelta(days=2))
    harness.redis_server.connected = False

    await harness.receipts.sweep.sweep()  # logged, tried again on the next pass

    harness.redis_server.connected = True
    await harness.receipts.sweep.sweep()
    assert (await harness.message(sent.msg_id)).state is MessageState.OVERDUE
