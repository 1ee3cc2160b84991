"""envelope with the Address Registry: a tenant without ``receiver_override`` is sealed for
the certificate the simulator's registry serves, one with it for its override's; an unfit
certificate from the registry is looked up once more (KPR may have a new one)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

import pytest
from fakeredis import FakeAsyncRedis

from kpr_gateway.envelope.app import Envelope, build
from kpr_gateway.envelope.sealing import load_sealing
from kpr_gateway.envelope.settings import EnvelopeSettings
from kpr_gateway.ledger import Ledger, MessageState
from kpr_gateway.pipeline import MESSAGES, OUTBOX, Delivery, MemoryBroker, MemoryBus
from kpr_gateway.pipeline.contracts import SealedMessage
from kpr_gateway.registry import Operation
from kpr_gateway.runtime.receivers import ReceiverStartupError
from kpr_gateway.security import cms
from kpr_gateway.security.devpki import DevPki
from kpr_gateway.security.errors import WrongRecipientError
from kpr_gateway.simulator.registry import Outage, SimulatedRegistry
from kpr_gateway.tenancy import TenantsFile
from tests.support.outbound_world import (
    KPR_VALIDATION_HER_ID,
    bergen_entry,
    put_built_message,
    service_context,
    trondheim_entry,
    write_tenants,
)
from tests.unit.envelope.conftest import Harness
from tests.unit.runtime.registries import PARTIES, Endpoint, directory_over_asgi, kpr_registry

ENCRYPTION = Operation.GET_CERTIFICATE_DETAILS_FOR_ENCRYPTION
LATER = timedelta(days=400)


@pytest.fixture(scope="module")
def pki() -> DevPki:
    """Everything valid for 1000 days..."""
    return DevPki.create(PARTIES, valid_days=1000)


@pytest.fixture(scope="module")
def short_pki() -> DevPki:
    """...but this ``kpr``, which expires after a year (as the dev PKI's default)."""
    return DevPki.create((("kpr", "983744516"),), valid_days=365)


@pytest.fixture
def registry_tenants(pki: DevPki, tmp_path: Path) -> TenantsFile:
    """bergen with an override (the ``fhi`` certificates), trondheim without one."""
    return write_tenants(pki, tmp_path, [bergen_entry(), trondheim_entry(receiver=False)])


@dataclass
class Running:
    harness: Harness
    envelope: Envelope
    endpoint: Endpoint


class StartWithRegistry(Protocol):
    def __call__(
        self,
        registry: SimulatedRegistry,
        *,
        clock: Callable[[], datetime] | None = None,
        start: bool = True,
    ) -> Awaitable[Running]: ...


@pytest.fixture
async def with_registry(
    registry_tenants: TenantsFile, ledger: Ledger, tmp_path: Path, pki: DevPki, short_pki: DevPki
) -> AsyncIterator[StartWithRegistry]:
    """envelope built as the runtime builds it, its directory over the simulated registry."""
    stack = AsyncExitStack()
    buses: list[MemoryBus] = []

    async def start(
        registry: SimulatedRegistry,
        *,
        clock: Callable[[], datetime] | None = None,
        start: bool = True,
    ) -> Running:
        endpoint = Endpoint(registry)
        directory = await stack.enter_async_context(
            directory_over_asgi(endpoint, FakeAsyncRedis(), tmp_path, trusted=[pki, short_pki])
        )
        broker = MemoryBroker(delay_scale=0.001)
        bus = MemoryBus(service_name="envelope", broker=broker)
        context = service_context(
            "envelope", tenants=registry_tenants, ledger=ledger, bus=bus, receivers=directory
        )
        if clock is None:
            envelope = build(context, EnvelopeSettings(tenants_file=tmp_path / "tenants.yaml"))
        else:
            envelope = Envelope(
                tenants=registry_tenants,
                sealing=load_sealing(registry_tenants),
                receivers=directory,
                ledger=ledger,
                bus=bus,
                metrics=context.metrics,
                prefetch=4,
                clock=clock,
            )
        producer = MemoryBus(service_name="test", broker=broker)
        harness = Harness(broker, producer, context.metrics)

        async def collect(delivery: Delivery) -> None:
            harness.outbox.append(SealedMessage.from_body(delivery.body))

        producer.subscribe(OUTBOX, collect)
        envelope.register()
        for started in (bus, producer):
            await started.start()
            buses.append(started)
        stack.push_async_callback(envelope.close)
        if start:
            await envelope.start()
        return Running(harness, envelope, endpoint)

    yield start
    for bus in buses:
        await bus.stop()
    await stack.aclose()


async def test_a_tenant_without_override_is_sealed_for_the_registrys_certificate(
    with_registry: StartWithRegistry,
    registry_tenants: TenantsFile,
    ledger: Ledger,
    pki: DevPki,
) -> None:
    running = await with_registry(kpr_registry(pki, "kpr"))
    from_registry = await put_built_message(ledger, registry_tenants.by_id("trondheim"))
    from_override = await put_built_message(ledger, registry_tenants.by_id("bergen"))

    await running.harness.deliver(from_registry)
    await running.harness.deliver(from_override)

    trondheim, bergen = running.harness.outbox
    assert (trondheim.tenant_id, trondheim.from_her_id, trondheim.to_her_id) == (
        "trondheim",
        "60002",
        KPR_VALIDATION_HER_ID,
    )
    signer = pki.party("bergen").signing.certificate  # both tenants' files are bergen's
    opened = cms.open_sealed(trondheim.cms, [pki.party("kpr").encryption], signer)
    assert opened.content == from_registry.document
    with pytest.raises(WrongRecipientError):
        cms.open_sealed(trondheim.cms, [pki.party("fhi").encryption], signer)
    opened = cms.open_sealed(bergen.cms, [pki.party("fhi").encryption], signer)
    assert opened.content == from_override.document
    assert running.endpoint.registry.requests[ENCRYPTION] == 1  # trondheim's, at start-up
    days_left = running.harness.value(
        "kprgw_envelope_certificate_days_left",
        {"tenant": "trondheim", "certificate": "receiver_encryption"},
    )
    assert days_left == pytest.approx(1000, abs=2)


async def test_a_message_that_arrives_before_the_receivers_are_resolved_waits(
    with_registry: StartWithRegistry, registry_tenants: TenantsFile, ledger: Ledger, pki: DevPki
) -> None:
    running = await with_registry(kpr_registry(pki, "kpr"), start=False)
    built = await put_built_message(ledger, registry_tenants.by_id("trondheim"))

    await running.harness.producer.publish(MESSAGES, built.to_body(), message_id="early")
    async with asyncio.timeout(5):  # taken by the handler, which waits for start()
        while running.harness.broker.depth(MESSAGES) > 0:
            await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    assert running.harness.outbox == []

    await running.envelope.start()
    await running.harness.broker.wait_settled()

    [sealed] = running.harness.outbox
    assert sealed.msg_id == built.msg_id
    assert running.harness.producer.parked(MESSAGES) == []


async def test_the_start_up_stops_naming_the_tenant_when_the_registry_cannot_answer(
    with_registry: StartWithRegistry, pki: DevPki
) -> None:
    registry = kpr_registry(pki, "kpr")
    registry.outage = Outage.UNAVAILABLE  # and nothing is cached yet
    running = await with_registry(registry, start=False)

    with pytest.raises(
        ReceiverStartupError,
        match=r"^tenant trondheim: the receiver's encryption certificate cannot be resolved: "
        r"GetCertificateDetailsForEncryption for HER-id 171479: the registry answered HTTP 503$",
    ):
        await running.envelope.start()


async def test_an_expired_registry_certificate_is_renewed_from_the_registry(
    with_registry: StartWithRegistry,
    registry_tenants: TenantsFile,
    ledger: Ledger,
    pki: DevPki,
    short_pki: DevPki,
) -> None:
    later = datetime.now(UTC) + LATER
    running = await with_registry(kpr_registry(short_pki, "kpr"), clock=lambda: later)
    running.endpoint.serve(kpr_registry(pki, "kpr-next"))  # KPR's new certificate
    built = await put_built_message(ledger, registry_tenants.by_id("trondheim"))

    await running.harness.deliver(built)

    [sealed] = running.harness.outbox
    opened = cms.open_sealed(
        sealed.cms,
        [pki.party("kpr-next").encryption],
        pki.party("bergen").signing.certificate,
        now=later,
    )
    assert opened.content == built.document
    assert running.endpoint.registry.requests[ENCRYPTION] == 1  # once, after start-up
    days_left = running.harness.value(
        "kprgw_envelope_certificate_days_left",
        {"tenant": "trondheim", "certificate": "receiver_encryption"},
    )
    assert days_left == pytest.approx(600, abs=2)  # the gauge follows the new certificate


async def test_an_expired_certificate_the_registry_still_serves_parks_the_message(
    with_registry: StartWithRegistry,
    registry_tenants: TenantsFile,
    ledger: Ledger,
    short_pki: DevPki,
) -> None:
    later = datetime.now(UTC) + LATER
    running = await with_registry(kpr_registry(short_pki, "kpr"), clock=lambda: later)
    built = await put_built_message(ledger, registry_tenants.by_id("trondheim"))

    await running.harness.deliver(built)

    assert running.harness.outbox == []
    [parked] = running.harness.producer.parked(MESSAGES)
    assert f"tenant trondheim: message {built.msg_id} cannot be sealed" in parked.reason
    assert "expired" in parked.reason
    assert running.endpoint.registry.requests[ENCRYPTION] == 2  # start-up, and once more
    record = await ledger.get_message("trondheim", str(built.msg_id))
    assert record is not None
    assert record.state is MessageState.BUILT
