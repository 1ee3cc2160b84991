"""dispatch on the real RabbitMQ and Redis: sealed in, sent to the in-memory Tjenestebuss
(received there by a stand-in for FHI), ledger dispatched; parking."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kpr_gateway.dispatch.app import build
from kpr_gateway.dispatch.settings import DispatchSettings
from kpr_gateway.ledger import MessageState
from kpr_gateway.nhn import (
    CMS_CONTENT_TYPE,
    InMemoryNhnBroker,
    InMemoryNhnTransport,
    NhnDelivery,
    NhnMessage,
)
from kpr_gateway.pipeline import OUTBOX, RabbitBus
from kpr_gateway.security import cms
from kpr_gateway.security.devpki import DevPki
from kpr_gateway.tenancy import TenantsFile
from tests.integration.envelope.infra import Infra, rabbit_and_redis, wait_for, wait_until
from tests.support.outbound_world import (
    BERGEN_ASYNC_QUEUE,
    BERGEN_PARTY_HER_ID,
    KPR_VALIDATION_HER_ID,
    KPR_VALIDATION_QUEUE,
    put_built_message,
    sealed_from,
    service_context,
)


@dataclass
class Running:
    infra: Infra
    producer: RabbitBus
    received: list[NhnMessage]


@pytest.fixture
async def running(tenants: TenantsFile, tmp_path: Path) -> AsyncIterator[Running]:
    nhn = InMemoryNhnBroker()
    gateway_side = InMemoryNhnTransport(nhn)
    fhi_side = InMemoryNhnTransport(nhn)
    received: list[NhnMessage] = []

    async def receive(delivery: NhnDelivery) -> None:
        received.append(delivery.message)
        await delivery.accept()

    fhi_side.subscribe(KPR_VALIDATION_QUEUE, receive)
    async with rabbit_and_redis() as infra:
        bus = infra.bus("dispatch", OUTBOX)
        context = service_context(
            "dispatch", tenants=tenants, ledger=infra.ledger, bus=bus, nhn=gateway_side
        )
        dispatch = build(context, DispatchSettings(tenants_file=tmp_path / "tenants.yaml"))
        producer = infra.bus("envelope", OUTBOX)
        dispatch.register()
        await bus.start()
        await gateway_side.start()
        await fhi_side.start()
        await producer.start()
        await dispatch.start()
        yield Running(infra, producer, received)
        await bus.stop()
        await gateway_side.stop()
        await fhi_side.stop()
        await dispatch.close()


async def test_sealed_message_reaches_the_receiver_and_the_ledger_says_dispatched(
    running: Running, tenants: TenantsFile, dev_pki: DevPki
) -> None:
    ledger = running.infra.ledger
    sealed = sealed_from(await put_built_message(ledger, tenants.by_id("bergen")), dev_pki)

    await running.producer.publish(OUTBOX, sealed.to_body(), message_id=str(sealed.msg_id))
    await wait_for(lambda: len(running.received) == 1)

    [message] = running.received
    assert (message.to, message.subject, message.reply_to) == (
        KPR_VALIDATION_QUEUE,
        "KPR_IPL",
        BERGEN_ASYNC_QUEUE,
    )
    assert (message.from_her_id, message.to_her_id) == (BERGEN_PARTY_HER_ID, KPR_VALIDATION_HER_ID)
    assert message.content_type == CMS_CONTENT_TYPE
    assert message.correlation_id == message.message_id
    opened = cms.open_sealed(
        message.body,
        [dev_pki.party("fhi").encryption],
        expected_signer=dev_pki.party("bergen").signing.certificate,
    )
    assert opened.content.startswith(b"<?xml")
    msg_id = str(sealed.msg_id)

    async def dispatched() -> bool:
        record = await ledger.get_message("bergen", msg_id)
        return record is not None and record.state is MessageState.DISPATCHED

    await wait_until(dispatched)  # the broker settles the send before the ledger step
    record = await ledger.get_message("bergen", msg_id)
    assert record is not None
    assert record.state is MessageState.DISPATCHED
    assert record.history[-1].detail == {"transport_message_id": message.message_id}
    assert await ledger.msg_id_for_transport_id("bergen", message.message_id) == msg_id


async def test_unknown_message_is_parked_on_rabbitmq_and_never_sent(
    running: Running, tenants: TenantsFile, dev_pki: DevPki
) -> None:
    sealed = sealed_from(
        await put_built_message(running.infra.ledger, tenants.by_id("bergen")), dev_pki
    )
    stranger = sealed.model_copy(update={"msg_id": uuid.uuid4()})

    await running.producer.publish(OUTBOX, stranger.to_body(), message_id=str(stranger.msg_id))

    parked = await running.infra.take_parked(OUTBOX)
    assert parked.message_id == str(stranger.msg_id)
    assert "no KPR message" in str(parked.headers["x-park-reason"])
    assert parked.headers["x-park-service"] == "dispatch"
    assert running.received == []
