"""receipts and a message that went to another receiver than its tenant's own: an AppRec to a
test submission (KPR Validering) must be signed by KPR Validering, one to a daily message by
KPR; the other's signature, valid as it is, does not close the message."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from fakeredis import FakeAsyncRedis

from kpr_gateway.ledger import Ledger, MessageState
from kpr_gateway.messages.msghead import MsgHead, parse_msghead
from kpr_gateway.nhn import InMemoryNhnBroker
from kpr_gateway.observability.metrics import ServiceMetrics
from kpr_gateway.pipeline import RECEIPTS, MemoryBroker, MemoryBus, ParkedMessage
from kpr_gateway.pipeline.contracts import BuiltMessage
from kpr_gateway.receipts.app import Receipts, ReceiptsOptions, load_decryption_keys
from kpr_gateway.registry import Operation
from kpr_gateway.security.devpki import DevPki
from kpr_gateway.tenancy import Tenant, load_tenants
from tests.support.validation_receiver import put_annual_pair, registry_with_validation_apart
from tests.unit.receipts.world import (
    RecordingTransport,
    on_async_queue,
    sealed_apprec,
    send_message,
    write_tenants,
)
from tests.unit.runtime.registries import PARTIES, Endpoint, directory_over_asgi

SIGNING = Operation.GET_CERTIFICATE_DETAILS_FOR_VALIDATING_SIGNATURE
KPR, KPR_VALIDERING = "kpr", "kpr-next"
"""The parties whose signing certificates the registry serves for KPR and KPR Validering."""


@pytest.fixture(scope="module")
def pki() -> DevPki:
    return DevPki.create(PARTIES)


@dataclass
class Running:
    pki: DevPki
    tenant: Tenant
    ledger: Ledger
    bus: MemoryBus
    transport: RecordingTransport
    endpoint: Endpoint

    async def answer(self, head: MsgHead, signer: str) -> None:
        """The receiver's AppRec to the message, signed by ``signer``, settled by receipts."""
        message = on_async_queue(self.tenant, sealed_apprec(self.pki, head, signer=signer))
        self.transport.broker.put(message)
        await self.transport.settled(message.message_id)

    async def test_submission(self) -> tuple[BuiltMessage, BuiltMessage]:
        return await put_annual_pair(self.ledger, self.tenant, state=MessageState.DISPATCHED)

    async def state(self, msg_id: str) -> MessageState:
        record = await self.ledger.get_message(self.tenant.id, msg_id)
        assert record is not None
        return record.state

    def parked(self) -> list[ParkedMessage]:
        return self.bus.parked(RECEIPTS)


@pytest.fixture
async def running(tmp_path: Path, pki: DevPki) -> AsyncIterator[Running]:
    """receipts for bergen in production, its receivers from the registry."""
    path = write_tenants(tmp_path, pki)
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    del document["tenants"][0]["receiver_override"]
    document["tenants"][0]["environment"] = "production"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    tenants = load_tenants(path)
    endpoint = Endpoint(registry_with_validation_apart(pki, kpr=KPR, validation=KPR_VALIDERING))
    ledger = Ledger(FakeAsyncRedis())
    broker = MemoryBroker()
    bus = MemoryBus(service_name="receipts", broker=broker)
    transport = RecordingTransport(InMemoryNhnBroker())
    async with directory_over_asgi(
        endpoint, FakeAsyncRedis(), tmp_path, trusted=[pki]
    ) as directory:
        receipts = Receipts(
            tenants=tenants,
            decryption=load_decryption_keys(tenants),
            receivers=directory,
            ledger=ledger,
            bus=bus,
            nhn=transport,
            metrics=ServiceMetrics("receipts", registry=None),
            options=ReceiptsOptions(
                credit=4,
                apprec_deadline=timedelta(hours=24),
                overdue_sweep_seconds=3600.0,
                release_delay_seconds=0.01,
            ),
        )
        receipts.register()
        await bus.start()
        await transport.start()
        await receipts.start()
        try:
            yield Running(pki, tenants.tenants[0], ledger, bus, transport, endpoint)
        finally:
            await transport.stop()
            await bus.stop()
            await receipts.close()
            broker.close()


async def test_kpr_validering_s_apprecs_close_the_test_submission(running: Running) -> None:
    ipl, ide = await running.test_submission()
    assert running.endpoint.registry.requests[SIGNING] == 1  # KPR's, at start-up

    await running.answer(parse_msghead(ipl.document), KPR_VALIDERING)
    await running.answer(parse_msghead(ide.document), KPR_VALIDERING)

    assert await running.state(str(ipl.msg_id)) is MessageState.ACKNOWLEDGED
    assert await running.state(str(ide.msg_id)) is MessageState.ACKNOWLEDGED
    assert running.parked() == []
    # KPR Validering's certificate: looked up when its first AppRec came, then kept
    assert running.endpoint.registry.requests[SIGNING] == 2


async def test_kpr_s_signature_does_not_close_a_message_sent_to_kpr_validering(
    running: Running,
) -> None:
    ipl, _ = await running.test_submission()

    await running.answer(parse_msghead(ipl.document), KPR)

    assert await running.state(str(ipl.msg_id)) is MessageState.DISPATCHED
    [parked] = running.parked()
    assert parked.headers["kprgw-reason-class"] == "wrong_signer"
    assert parked.headers["kprgw-msg-id"] == str(ipl.msg_id)
    assert "not signed by the receiver it was sent to (validation)" in parked.reason


async def test_kpr_validering_s_signature_does_not_close_a_daily_message(
    running: Running,
) -> None:
    sent = await send_message(running.ledger, running.tenant)

    await running.answer(sent.head, KPR_VALIDERING)

    assert await running.state(sent.msg_id) is MessageState.DISPATCHED
    [parked] = running.parked()
    assert "not signed by the receiver it was sent to (production)" in parked.reason
    # and KPR's own AppRec still closes it
    await running.answer(sent.head, KPR)
    assert await running.state(sent.msg_id) is MessageState.ACKNOWLEDGED


async def test_a_signer_that_is_neither_receiver_is_refused_as_before(running: Running) -> None:
    ipl, _ = await running.test_submission()

    await running.answer(parse_msghead(ipl.document), "intruder")

    assert await running.state(str(ipl.msg_id)) is MessageState.DISPATCHED
    [parked] = running.parked()
    assert parked.headers["kprgw-reason-class"] == "unexpected_signer"
