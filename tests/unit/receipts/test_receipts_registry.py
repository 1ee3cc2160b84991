"""receipts with the Address Registry: for a tenant without ``receiver_override`` an AppRec
must be signed by the signing certificate the simulator's registry serves; when KPR rotates
it, the registry is asked once more before an AppRec is parked."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from fakeredis import FakeAsyncRedis

from kpr_gateway.ledger import Ledger, MessageState
from kpr_gateway.nhn import InMemoryNhnBroker
from kpr_gateway.observability.metrics import ServiceMetrics
from kpr_gateway.pipeline import RECEIPTS, MemoryBroker, MemoryBus, ParkedMessage
from kpr_gateway.receipts.app import Receipts, ReceiptsOptions, load_decryption_keys
from kpr_gateway.registry import Operation
from kpr_gateway.security.devpki import DevPki
from kpr_gateway.tenancy import Tenant, load_tenants
from tests.unit.receipts.world import (
    RecordingTransport,
    on_async_queue,
    sealed_apprec,
    send_message,
    write_tenants,
)
from tests.unit.runtime.registries import PARTIES, Endpoint, directory_over_asgi, kpr_registry

SIGNING = Operation.GET_CERTIFICATE_DETAILS_FOR_VALIDATING_SIGNATURE


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
    metrics: ServiceMetrics

    async def answer(self, signer: str) -> tuple[str, str]:
        """A sent message and FHI's AppRec to it signed by ``signer``; (MsgId, how settled)."""
        sent = await send_message(self.ledger, self.tenant)
        message = on_async_queue(self.tenant, sealed_apprec(self.pki, sent.head, signer=signer))
        self.transport.broker.put(message)
        await self.transport.settled(message.message_id)
        return sent.msg_id, message.message_id

    def parked(self) -> list[ParkedMessage]:
        return self.bus.parked(RECEIPTS)

    async def state(self, msg_id: str) -> MessageState:
        record = await self.ledger.get_message(self.tenant.id, msg_id)
        assert record is not None
        return record.state

    def signing_lookups(self) -> int:
        return self.endpoint.registry.requests[SIGNING]


@pytest.fixture
async def running(tmp_path: Path, pki: DevPki) -> AsyncIterator[Running]:
    """receipts for bergen, whose tenant entry has no receiver_override."""
    path = write_tenants(tmp_path, pki)
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    del document["tenants"][0]["receiver_override"]
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    tenants = load_tenants(path)
    endpoint = Endpoint(kpr_registry(pki, "kpr"))
    ledger = Ledger(FakeAsyncRedis())
    broker = MemoryBroker()
    bus = MemoryBus(service_name="receipts", broker=broker)
    transport = RecordingTransport(InMemoryNhnBroker())
    metrics = ServiceMetrics("receipts", registry=None)
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
            metrics=metrics,
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
        running = Running(pki, tenants.tenants[0], ledger, bus, transport, endpoint, metrics)
        try:
            yield running
        finally:
            await transport.stop()
            await bus.stop()
            await receipts.close()
            broker.close()


async def test_an_apprec_signed_with_the_registrys_certificate_closes_the_message(
    running: Running,
) -> None:
    msg_id, _ = await running.answer(signer="kpr")

    assert await running.state(msg_id) is MessageState.ACKNOWLEDGED
    assert running.parked() == []
    assert running.signing_lookups() == 1  # at start-up only


async def test_the_overrides_certificate_is_not_the_registrys(running: Running) -> None:
    msg_id, amqp_id = await running.answer(signer="fhi")

    [parked] = running.parked()
    assert parked.message_id == amqp_id
    assert parked.headers["kprgw-reason-class"] == "unexpected_signer"
    assert await running.state(msg_id) is MessageState.DISPATCHED


async def test_a_rotated_signing_certificate_is_picked_up_before_parking(
    running: Running, pki: DevPki
) -> None:
    running.endpoint.serve(kpr_registry(pki, "kpr-next"))  # the cached answer is still fresh

    first, _ = await running.answer(signer="kpr-next")
    second, _ = await running.answer(signer="kpr-next")

    assert await running.state(first) is MessageState.ACKNOWLEDGED
    assert await running.state(second) is MessageState.ACKNOWLEDGED
    assert running.parked() == []
    assert running.signing_lookups() == 1  # the first AppRec asked; the second verified at once


async def test_forged_apprecs_are_parked_after_one_lookup(running: Running) -> None:
    await running.answer(signer="intruder")
    await running.answer(signer="intruder")

    assert [p.headers["kprgw-reason-class"] for p in running.parked()] == [
        "unexpected_signer",
        "unexpected_signer",
    ]
    assert running.signing_lookups() == 2  # start-up, and once for both (not twice)
    value = running.metrics.registry.get_sample_value(
        "kprgw_receipts_parked_total", {"tenant": "bergen", "reason": "unexpected_signer"}
    )
    assert value == 2
