"""The overdue sweep: no answer within the deadline marks the message overdue, in the ledger and
in the gauge; a late AppRec still closes it."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import timedelta

from fakeredis import FakeAsyncRedis
from prometheus_client import Counter, Gauge

from kpr_gateway.ledger import Ledger, MessageState
from kpr_gateway.receipts.overdue import BacklogWatch, OverdueSweep
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


class SwallowingLedger(Ledger):
    """A ledger call that swallows the cancel landing in it (a client library can)."""

    entered = asyncio.Event()

    async def mark_overdue(self, tenant_id: str, *, older_than: timedelta) -> list[str]:
        self.entered.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(0.2)
        return []


async def test_stop_ends_the_sweep_even_if_a_ledger_call_swallows_the_cancel() -> None:
    ledger = SwallowingLedger(FakeAsyncRedis())
    sweep = OverdueSweep(
        ledger,
        ["bergen"],
        deadline=timedelta(hours=24),
        interval_seconds=3600,
        overdue=Gauge("t_overdue", "test", ("tenant",), registry=None),
        marked=Counter("t_marked", "test", ("tenant",), registry=None),
    )
    sweep.start()
    await asyncio.wait_for(ledger.entered.wait(), timeout=5)
    began = time.monotonic()
    await asyncio.wait_for(sweep.stop(), timeout=5)
    assert time.monotonic() - began < 2  # not the interval (an hour)


async def test_the_first_sweep_waits_until_the_backlog_is_read() -> None:
    """After an outage AppRecs wait on NHN's queues: nothing is marked overdue while they
    still arrive, only once the queues have been quiet for a while."""
    ledger = CountingLedger(FakeAsyncRedis())
    backlog = BacklogWatch(0.3)
    sweep = OverdueSweep(
        ledger,
        ["bergen"],
        deadline=timedelta(hours=24),
        interval_seconds=3600,
        overdue=Gauge("t_overdue_b", "test", ("tenant",), registry=None),
        marked=Counter("t_marked_b", "test", ("tenant",), registry=None),
        backlog=backlog,
    )
    sweep.start()
    try:
        for _ in range(8):  # the backlog: a message every 0.1 s
            await asyncio.sleep(0.1)
            backlog.arrived()
            assert ledger.sweeps == 0
        await asyncio.sleep(0.6)
        assert ledger.sweeps == 1
    finally:
        await sweep.stop()


class CountingLedger(Ledger):
    sweeps = 0

    async def mark_overdue(self, tenant_id: str, *, older_than: timedelta) -> list[str]:
        self.sweeps += 1
        return []
