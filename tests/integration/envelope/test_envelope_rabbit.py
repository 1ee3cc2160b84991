"""envelope on the real RabbitMQ and Redis: built in, sealed out, ledger enveloped, parking."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kpr_gateway.envelope.app import build
from kpr_gateway.envelope.settings import EnvelopeSettings
from kpr_gateway.ledger import MessageState
from kpr_gateway.pipeline import MESSAGES, OUTBOX, Delivery, RabbitBus
from kpr_gateway.pipeline.contracts import SealedMessage
from kpr_gateway.security import cms
from kpr_gateway.security.devpki import DevPki
from kpr_gateway.tenancy import TenantsFile
from tests.integration.envelope.infra import Infra, rabbit_and_redis, wait_for, wait_until
from tests.support.outbound_world import (
    BERGEN_PARTY_HER_ID,
    KPR_VALIDATION_HER_ID,
    put_built_message,
    service_context,
)


@dataclass
class Running:
    infra: Infra
    tap: RabbitBus
    outbox: list[SealedMessage]
    traceparents: list[str]


@pytest.fixture
async def running(tenants: TenantsFile, tmp_path: Path) -> AsyncIterator[Running]:
    async with rabbit_and_redis() as infra:
        bus = infra.bus("envelope", MESSAGES, OUTBOX)
        context = service_context("envelope", tenants=tenants, ledger=infra.ledger, bus=bus)
        envelope = build(context, EnvelopeSettings(tenants_file=tmp_path / "tenants.yaml"))
        tap = infra.bus("dispatch", MESSAGES, OUTBOX)
        outbox: list[SealedMessage] = []
        traceparents: list[str] = []

        async def collect(delivery: Delivery) -> None:
            traceparents.append(delivery.headers["traceparent"])
            outbox.append(SealedMessage.from_body(delivery.body))

        tap.subscribe(OUTBOX, collect)
        envelope.register()
        await bus.start()
        await tap.start()
        await envelope.start()
        yield Running(infra, tap, outbox, traceparents)
        await bus.stop()
        await envelope.close()


async def test_built_message_comes_out_sealed_and_the_ledger_says_enveloped(
    running: Running, tenants: TenantsFile, dev_pki: DevPki
) -> None:
    ledger = running.infra.ledger
    built = await put_built_message(ledger, tenants.by_id("bergen"))

    await running.tap.publish(MESSAGES, built.to_body(), message_id=str(built.msg_id))
    await wait_for(lambda: len(running.outbox) == 1)

    [sealed] = running.outbox
    assert (sealed.msg_id, sealed.from_her_id, sealed.to_her_id) == (
        built.msg_id,
        BERGEN_PARTY_HER_ID,
        KPR_VALIDATION_HER_ID,
    )
    opened = cms.open_sealed(
        sealed.cms,
        [dev_pki.party("fhi").encryption],
        expected_signer=dev_pki.party("bergen").signing.certificate,
    )
    assert opened.content == built.document

    async def enveloped() -> bool:
        record = await ledger.get_message("bergen", str(built.msg_id))
        return record is not None and record.state is MessageState.ENVELOPED

    await wait_until(enveloped)  # the publish is confirmed before the ledger step
    record = await ledger.get_message("bergen", str(built.msg_id))
    assert record is not None
    # one trace: envelope's ledger step and its publish run in the consumer span
    [traceparent] = running.traceparents
    assert record.history[-1].trace_id == traceparent.split("-")[1]


async def test_a_dispatched_message_is_not_sealed_again(
    running: Running, tenants: TenantsFile
) -> None:
    built = await put_built_message(running.infra.ledger, tenants.by_id("bergen"))

    await running.tap.publish(MESSAGES, built.to_body(), message_id=str(built.msg_id))
    await wait_for(lambda: len(running.outbox) == 1)
    await running.infra.ledger.advance_message(
        "bergen", str(built.msg_id), MessageState.DISPATCHED, trace_id=None
    )
    await running.tap.publish(MESSAGES, built.to_body(), message_id=str(built.msg_id))
    stranger = built.model_copy(update={"msg_id": uuid.uuid4()})
    await running.tap.publish(MESSAGES, stranger.to_body(), message_id=str(stranger.msg_id))

    parked = await running.infra.take_parked(MESSAGES)  # handled after the redelivery
    assert parked.message_id == str(stranger.msg_id)
    assert f"no KPR message {stranger.msg_id} in the ledger" in str(parked.headers["x-park-reason"])
    assert len(running.outbox) == 1
