"""dispatch on the real RabbitMQ and Redis, with the simulator's Address Registry served on
a local port: a tenant without ``receiver_override`` sends to the queue the registry names,
and the registry's answers are cached in Redis under the service's key prefix."""

from __future__ import annotations

import os
from pathlib import Path

from redis.asyncio import Redis

from kpr_gateway.dispatch.app import build
from kpr_gateway.dispatch.settings import DispatchSettings
from kpr_gateway.ledger import MessageState
from kpr_gateway.nhn import InMemoryNhnBroker, InMemoryNhnTransport, NhnDelivery, NhnMessage
from kpr_gateway.pipeline import OUTBOX
from kpr_gateway.security.devpki import DevPki
from tests.integration.envelope.infra import rabbit_and_redis, wait_for, wait_until
from tests.support.outbound_world import (
    put_built_message,
    sealed_from,
    service_context,
    trondheim_entry,
    write_tenants,
)
from tests.unit.runtime.registries import (
    KPR_VALIDATION_QUEUE_IN_REGISTRY,
    PARTIES,
    Endpoint,
    directory_over_http,
    kpr_registry,
    served,
)

REDIS_URL = os.environ.get("KPRGW_REDIS_URL", "redis://127.0.0.1:6379/0")


async def test_a_tenant_without_override_is_sent_to_the_registrys_queue(tmp_path: Path) -> None:
    pki = DevPki.create(PARTIES)
    tenants = write_tenants(pki, tmp_path, [trondheim_entry(receiver=False)])
    trondheim = tenants.by_id("trondheim")
    nhn = InMemoryNhnBroker()
    gateway_side, fhi_side = InMemoryNhnTransport(nhn), InMemoryNhnTransport(nhn)
    received: list[NhnMessage] = []

    async def receive(delivery: NhnDelivery) -> None:
        received.append(delivery.message)
        await delivery.accept()

    fhi_side.subscribe(KPR_VALIDATION_QUEUE_IN_REGISTRY, receive)
    redis = Redis.from_url(REDIS_URL)
    async with (
        rabbit_and_redis() as infra,
        served(Endpoint(kpr_registry(pki))) as url,
        directory_over_http(url, redis, tmp_path, key_prefix=infra.prefix) as directory,
    ):
        bus = infra.bus("dispatch", OUTBOX)
        context = service_context(
            "dispatch",
            tenants=tenants,
            ledger=infra.ledger,
            bus=bus,
            nhn=gateway_side,
            receivers=directory,
        )
        dispatch = build(context, DispatchSettings(tenants_file=tmp_path / "tenants.yaml"))
        producer = infra.bus("envelope", OUTBOX)
        dispatch.register()
        for part in (bus, gateway_side, fhi_side, producer):
            await part.start()
        await dispatch.start()
        built = await put_built_message(infra.ledger, trondheim)
        sealed = sealed_from(built, pki).model_copy(
            update={"tenant_id": "trondheim", "from_her_id": "60002"}
        )
        try:
            await producer.publish(OUTBOX, sealed.to_body(), message_id=str(sealed.msg_id))
            await wait_for(lambda: len(received) == 1)

            async def dispatched() -> bool:
                record = await infra.ledger.get_message("trondheim", str(sealed.msg_id))
                return record is not None and record.state is MessageState.DISPATCHED

            await wait_until(dispatched)
            cached = await redis.hget(f"{infra.prefix}:registry:party:171479", "value")
        finally:
            await bus.stop()
            await gateway_side.stop()
            await fhi_side.stop()
            await dispatch.close()
            await redis.aclose()

    [message] = received
    assert (message.to, message.reply_to, message.body) == (
        KPR_VALIDATION_QUEUE_IN_REGISTRY,
        "60002_async",
        sealed.cms,
    )
    assert cached is not None
    assert KPR_VALIDATION_QUEUE_IN_REGISTRY.encode() in cached
