"""envelope on the real RabbitMQ and Redis: a message over the NHN size limit is parked with
the reason and recorded refused in the ledger; one under it goes out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kpr_gateway.envelope.app import build
from kpr_gateway.envelope.settings import EnvelopeSettings
from kpr_gateway.ledger import MessageState
from kpr_gateway.pipeline import MESSAGES, OUTBOX, Delivery, RabbitBus
from kpr_gateway.pipeline.contracts import SealedMessage
from kpr_gateway.tenancy import TenantsFile
from tests.integration.envelope.infra import Infra, rabbit_and_redis, wait_for
from tests.support.outbound_world import service_context
from tests.unit.envelope.test_envelope_size_limit import put_message_of

LIMIT = 64 * 1024


@dataclass
class Running:
    infra: Infra
    tap: RabbitBus
    outbox: list[SealedMessage]


@pytest.fixture
async def running(tenants: TenantsFile, tmp_path: Path) -> AsyncIterator[Running]:
    async with rabbit_and_redis() as infra:
        bus = infra.bus("envelope", MESSAGES, OUTBOX)
        context = service_context("envelope", tenants=tenants, ledger=infra.ledger, bus=bus)
        settings = EnvelopeSettings(
            tenants_file=tmp_path / "tenants.yaml", max_nhn_message_bytes=LIMIT
        )
        envelope = build(context, settings)
        tap = infra.bus("dispatch", MESSAGES, OUTBOX)
        outbox: list[SealedMessage] = []

        async def collect(delivery: Delivery) -> None:
            outbox.append(SealedMessage.from_body(delivery.body))

        tap.subscribe(OUTBOX, collect)
        envelope.register()
        await bus.start()
        await tap.start()
        await envelope.start()
        yield Running(infra, tap, outbox)
        await bus.stop()
        await envelope.close()


async def test_over_the_limit_is_parked_and_recorded_under_it_is_sent(
    running: Running, tenants: TenantsFile
) -> None:
    ledger = running.infra.ledger
    bergen = tenants.by_id("bergen")
    too_large = await put_message_of(ledger, bergen, LIMIT - 500)  # over once sealed
    fits = await put_message_of(ledger, bergen, LIMIT - 8 * 1024)

    await running.tap.publish(MESSAGES, too_large.to_body(), message_id=str(too_large.msg_id))
    await running.tap.publish(MESSAGES, fits.to_body(), message_id=str(fits.msg_id))

    parked = await running.infra.take_parked(MESSAGES)
    assert parked.message_id == str(too_large.msg_id)
    reason = str(parked.headers["x-park-reason"])
    assert f"over the NHN message limit of {LIMIT} bytes" in reason
    assert str(parked.headers["x-park-service"]) == "envelope"
    await wait_for(lambda: len(running.outbox) == 1)
    assert [m.msg_id for m in running.outbox] == [fits.msg_id]

    refused = await ledger.get_message("bergen", str(too_large.msg_id))
    assert refused is not None
    assert refused.state is MessageState.REFUSED
    assert refused.receipt is None
    assert refused.history[-1].detail is not None
    assert refused.history[-1].detail["reason"] == reason
    assert refused.history[-1].detail["refused_by"] == "envelope"
