"""receipts on the real RabbitMQ and Redis, with the simulator's Address Registry served on
a local port: for a tenant without ``receiver_override`` AppRecs are verified with the
registry's signing certificate, and KPR's rotation of it is picked up from the registry
(past the fresh cache entry in Redis) before anything is parked."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import aio_pika
import pytest
import yaml
from cryptography.hazmat.primitives.serialization import Encoding
from redis.asyncio import Redis

from kpr_gateway.ledger import KeySpace, Ledger, MessageState
from kpr_gateway.nhn import InMemoryNhnBroker
from kpr_gateway.observability.metrics import ServiceMetrics
from kpr_gateway.pipeline import RECEIPTS, RabbitBus
from kpr_gateway.receipts.app import Receipts, ReceiptsOptions, load_decryption_keys
from kpr_gateway.security.devpki import DevPki
from kpr_gateway.tenancy import Tenant, load_tenants
from tests.unit.receipts.world import (
    RecordingTransport,
    on_async_queue,
    sealed_apprec,
    send_message,
    write_tenants,
)
from tests.unit.runtime.registries import (
    PARTIES,
    Endpoint,
    directory_over_http,
    kpr_registry,
    served,
)

RABBIT_URL = os.environ.get("KPRGW_RABBIT_URL", "amqp://guest:guest@127.0.0.1:5672/")
REDIS_URL = os.environ.get("KPRGW_REDIS_URL", "redis://127.0.0.1:6379/0")


@dataclass
class Running:
    pki: DevPki
    tenant: Tenant
    prefix: str
    redis: Redis
    ledger: Ledger
    transport: RecordingTransport
    endpoint: Endpoint

    async def answered(self, signer: str) -> MessageState:
        """The state of a sent message once FHI's AppRec, signed by ``signer``, is handled."""
        sent = await send_message(self.ledger, self.tenant)
        message = on_async_queue(self.tenant, sealed_apprec(self.pki, sent.head, signer=signer))
        self.transport.broker.put(message)
        await self.transport.settled(message.message_id)
        record = await self.ledger.get_message(self.tenant.id, sent.msg_id)
        assert record is not None
        return record.state


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    pki = DevPki.create(PARTIES)
    path = write_tenants(tmp_path, pki)
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    del document["tenants"][0]["receiver_override"]
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    tenants = load_tenants(path)
    prefix = f"kprgw-test-{uuid.uuid4().hex[:12]}"
    redis = Redis.from_url(REDIS_URL)
    ledger = Ledger(redis, keys=KeySpace(prefix))
    bus = RabbitBus(
        RABBIT_URL, service_name="receipts", prefix=prefix, queues=(RECEIPTS,), graceful_timeout=5
    )
    transport = RecordingTransport(InMemoryNhnBroker())
    endpoint = Endpoint(kpr_registry(pki, "kpr"))
    async with (
        served(endpoint) as url,
        directory_over_http(url, redis, tmp_path, key_prefix=prefix) as directory,
    ):
        receipts = Receipts(
            tenants=tenants,
            decryption=load_decryption_keys(tenants),
            receivers=directory,
            ledger=ledger,
            bus=bus,
            nhn=transport,
            metrics=ServiceMetrics("receipts"),
            options=ReceiptsOptions(credit=4, apprec_deadline=timedelta(hours=24)),
        )
        receipts.register()
        await bus.start()
        await transport.start()
        await receipts.start()
        try:
            yield Running(pki, tenants.tenants[0], prefix, redis, ledger, transport, endpoint)
        finally:
            await transport.stop()
            await bus.stop()
            await receipts.close()
            connection = await aio_pika.connect(RABBIT_URL)
            async with connection:
                channel = await connection.channel()
                for spec in bus.topology.specs():
                    await channel.queue_delete(spec.name)
            keys = [key async for key in redis.scan_iter(match=f"{prefix}:*")]
            if keys:
                await redis.delete(*keys)
            await redis.aclose()


async def test_apprecs_are_verified_with_the_registrys_current_signing_certificate(
    running: Running,
) -> None:
    assert await running.answered(signer="kpr") is MessageState.ACKNOWLEDGED

    running.endpoint.serve(kpr_registry(running.pki, "kpr-next"))  # KPR rotates
    assert await running.answered(signer="kpr-next") is MessageState.ACKNOWLEDGED

    assert running.endpoint.registry.requests.total() == 1  # one lookup after the rotation
    cached = await running.redis.hget(f"{running.prefix}:registry:cert:sig:171479", "value")
    assert cached == running.pki.party("kpr-next").signing.certificate.public_bytes(Encoding.DER)
