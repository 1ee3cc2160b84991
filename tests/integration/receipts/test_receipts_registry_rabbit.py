"""receipts on the real RabbitMQ and Redis, with the simulator's Address Registry served on
a local port: for a tenant without ``receiver_override`` AppRecs are verified with the
registry's signing certificate, and KPR's rotation of it is picked up from the registry
(past the fresh cache entry in Redis) before anything is parked. A signing certificate swapped
into the Redis cache is not believed: AppRecs signed with its key are parked."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import aio_pika
import pytest
import yaml
from cryptography.hazmat.primitives.serialization import Encoding
from redis.asyncio import Redis

from kpr_gateway.ledger import KeySpace, Ledger, MessageState
from kpr_gateway.messages.apprec import apprec_for, build_apprec
from kpr_gateway.nhn import InMemoryNhnBroker
from kpr_gateway.observability.metrics import ServiceMetrics
from kpr_gateway.pipeline import RECEIPTS, RabbitBus
from kpr_gateway.receipts.app import Receipts, ReceiptsOptions, load_decryption_keys
from kpr_gateway.registry import FHI_ORG_NUMBER
from kpr_gateway.runtime.receivers import ReceiverStartupError
from kpr_gateway.security import cms
from kpr_gateway.security.devpki import DevPki
from kpr_gateway.simulator.registry import Outage
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
SIGNING_ENTRY = "registry:cert:sig:171479"


@dataclass
class Running:
    pki: DevPki
    tenant: Tenant
    prefix: str
    redis: Redis
    ledger: Ledger
    transport: RecordingTransport
    endpoint: Endpoint

    async def answered(self, signer: str, forger: DevPki | None = None) -> MessageState:
        """The state of a sent message once FHI's AppRec, signed by ``signer`` (of the
        ``forger``'s PKI, else of the world's), is handled."""
        sent = await send_message(self.ledger, self.tenant)
        if forger is None:
            body = sealed_apprec(self.pki, sent.head, signer=signer)
        else:
            body = cms.seal(
                build_apprec(apprec_for(sent.head, status=1)),
                forger.party(signer).signing,
                self.pki.party("bergen").encryption.certificate,
            )
        message = on_async_queue(self.tenant, body)
        self.transport.broker.put(message)
        await self.transport.settled(message.message_id)
        record = await self.ledger.get_message(self.tenant.id, sent.msg_id)
        assert record is not None
        return record.state


BeforeStart = Callable[[Redis, str, Endpoint], Awaitable[None]]


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    async with receipts_running(tmp_path) as started:
        yield started


@asynccontextmanager
async def receipts_running(
    tmp_path: Path, before_start: BeforeStart | None = None
) -> AsyncIterator[Running]:
    """receipts for bergen without an override; ``before_start`` may change Redis (under the
    key prefix it is given) and the registry first."""
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
        directory_over_http(url, redis, tmp_path, trusted=[pki], key_prefix=prefix) as directory,
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
        try:
            if before_start is not None:
                await before_start(redis, prefix, endpoint)
            await bus.start()
            await transport.start()
            await receipts.start()
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


def attacker() -> DevPki:
    """Someone with write access to Redis and a CA of their own: FHI's name and number."""
    return DevPki.create([("fhi", FHI_ORG_NUMBER)])


def swapping_in(forger: DevPki, *, registry_down: bool = False) -> BeforeStart:
    """Put ``forger``'s signing certificate in the cache entry for KPR Validering's, fresh for
    an hour, before receipts resolves it."""

    async def swap(redis: Redis, prefix: str, endpoint: Endpoint) -> None:
        key = f"{prefix}:{SIGNING_ENTRY}"
        certificate = forger.party("fhi").signing.certificate
        await redis.hset(
            key,
            mapping={
                "value": certificate.public_bytes(Encoding.DER),
                "fresh_until": repr(time.time() + 3600),
            },
        )
        await redis.pexpire(key, 86_400_000)
        if registry_down:
            endpoint.registry.outage = Outage.UNAVAILABLE

    return swap


async def test_a_signing_certificate_swapped_in_redis_cannot_forge_apprecs(
    tmp_path: Path,
) -> None:
    forger = attacker()
    async with receipts_running(tmp_path, swapping_in(forger)) as running:
        forged = await running.answered(signer="fhi", forger=forger)
        genuine = await running.answered(signer="kpr")
        cached = await running.redis.hget(f"{running.prefix}:{SIGNING_ENTRY}", "value")

    assert forged is MessageState.DISPATCHED  # parked: not closed by the forger's AppRec
    assert genuine is MessageState.ACKNOWLEDGED
    assert cached == running.pki.party("kpr").signing.certificate.public_bytes(Encoding.DER)


async def test_a_swapped_signing_certificate_stops_the_start_while_the_registry_is_down(
    tmp_path: Path,
) -> None:
    with pytest.raises(ReceiverStartupError, match="is not trusted: it does not chain"):
        async with receipts_running(tmp_path, swapping_in(attacker(), registry_down=True)):
            pass
