"""receipts on the real RabbitMQ (internal bus) and Redis (ledger); the NHN side in memory.

Queues get a unique prefix and Redis keys a unique KeySpace prefix per test; both are
deleted afterwards.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import aio_pika
import pytest
from aio_pika.abc import AbstractChannel
from redis.asyncio import Redis

from kpr_gateway.ledger import KeySpace, Ledger, MessageState
from kpr_gateway.nhn import InMemoryNhnBroker
from kpr_gateway.observability.metrics import ServiceMetrics
from kpr_gateway.pipeline import (
    ORIGINAL_QUEUE_HEADER,
    PARK_REASON_HEADER,
    RECEIPTS,
    RabbitBus,
)
from kpr_gateway.pipeline.contracts import ReceiptNotice
from kpr_gateway.receipts.app import Receipts, ReceiptsOptions, load_decryption_keys
from kpr_gateway.registry import ReceiverDirectory
from kpr_gateway.security.devpki import DevPki
from kpr_gateway.tenancy import Tenant
from tests.support.rabbit import get_one
from tests.unit.receipts.world import (
    PARTIES,
    RecordingTransport,
    on_async_queue,
    sealed_apprec,
    send_message,
    tenants_file,
)

RABBIT_URL = os.environ.get("KPRGW_RABBIT_URL", "amqp://guest:guest@127.0.0.1:5672/")
REDIS_URL = os.environ.get("KPRGW_REDIS_URL", "redis://127.0.0.1:6379/0")


@dataclass
class Running:
    tenant: Tenant
    pki: DevPki
    ledger: Ledger
    bus: RabbitBus
    nhn: InMemoryNhnBroker
    transport: RecordingTransport
    channel: AbstractChannel


@pytest.fixture(scope="module")
def pki() -> DevPki:
    return DevPki.create(PARTIES)


@pytest.fixture
async def running(tmp_path: Path, pki: DevPki) -> AsyncIterator[Running]:
    tenants = tenants_file(tmp_path, pki)
    prefix = f"kprgw-test-{uuid.uuid4().hex[:12]}"
    redis = Redis.from_url(REDIS_URL)
    ledger = Ledger(redis, keys=KeySpace(prefix))
    bus = RabbitBus(
        RABBIT_URL,
        service_name="receipts",
        prefix=prefix,
        queues=(RECEIPTS,),
        retry_delays=(0.2,),
        graceful_timeout=5.0,
    )
    nhn = InMemoryNhnBroker()
    transport = RecordingTransport(nhn)
    receipts = Receipts(
        tenants=tenants,
        decryption=load_decryption_keys(tenants),
        receivers=ReceiverDirectory(),
        ledger=ledger,
        bus=bus,
        nhn=transport,
        metrics=ServiceMetrics("receipts"),
        options=ReceiptsOptions(
            credit=4,
            apprec_deadline=timedelta(hours=24),
            overdue_sweep_seconds=3600.0,
            release_delay_seconds=0.05,
        ),
    )
    connection = await aio_pika.connect(RABBIT_URL)
    receipts.register()
    await bus.start()
    await transport.start()
    await receipts.start()
    try:
        yield Running(
            tenants.tenants[0], pki, ledger, bus, nhn, transport, await connection.channel()
        )
    finally:
        await transport.stop()
        await bus.stop()
        await receipts.close()
        channel = await connection.channel()
        for spec in bus.topology.specs():
            await channel.queue_delete(spec.name)
        await connection.close()
        keys = [key async for key in redis.scan_iter(match=f"{prefix}:*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()


async def test_apprec_closes_the_message_and_the_notice_is_on_rabbitmq(running: Running) -> None:
    sent = await send_message(running.ledger, running.tenant)
    message = on_async_queue(running.tenant, sealed_apprec(running.pki, sent.head, status=1))

    running.nhn.put(message)
    await running.transport.settled(message.message_id)

    record = await running.ledger.get_message(running.tenant.id, sent.msg_id)
    assert record is not None
    assert record.state is MessageState.ACKNOWLEDGED
    queue = running.bus.topology.physical(RECEIPTS)
    delivered = await get_one(running.channel, queue)
    notice = ReceiptNotice.from_body(delivered.body)
    assert (str(notice.msg_id), notice.outcome, notice.status_code) == (
        sent.msg_id,
        "acknowledged",
        1,
    )
    assert delivered.message_id == sent.msg_id
    assert running.transport.of(message.message_id) == ["accept"]


async def test_unmatched_apprec_is_parked_on_rabbitmq(running: Running) -> None:
    sent = await send_message(running.ledger, running.tenant)
    head = dataclasses.replace(sent.head, msg_id=str(uuid.uuid4()))
    message = on_async_queue(running.tenant, sealed_apprec(running.pki, head))

    running.nhn.put(message)
    await running.transport.settled(message.message_id)

    parked_queue = running.bus.topology.work_queue(RECEIPTS).parked.name
    parked = await get_one(running.channel, parked_queue)
    assert parked.body == message.body
    assert parked.message_id == message.message_id
    headers = {k: _text(v) for k, v in parked.headers.items()}
    assert headers[PARK_REASON_HEADER] == "AppRec for no known message"
    assert headers[ORIGINAL_QUEUE_HEADER] == RECEIPTS
    assert headers["kprgw-tenant"] == running.tenant.id
    assert headers["nhn-queue"] == running.tenant.async_queue
    assert headers["kprgw-msg-id"] == head.msg_id
    record = await running.ledger.get_message(running.tenant.id, sent.msg_id)
    assert record is not None
    assert record.state is MessageState.DISPATCHED
    assert running.transport.of(message.message_id) == ["accept"]
    assert running.nhn.dead_letters == []


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
