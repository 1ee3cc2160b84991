"""envelope and a message that names its receiver's environment: a test submission of a tenant
in production is sealed for KPR Validering's certificate (resolved when first needed), its
daily messages for KPR's; an environment the tenant may not send to parks the message."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
from fakeredis import FakeAsyncRedis

from kpr_gateway.envelope.app import build
from kpr_gateway.envelope.settings import EnvelopeSettings
from kpr_gateway.ledger import Ledger, MessageState
from kpr_gateway.pipeline import MESSAGES, OUTBOX, Delivery, MemoryBroker, MemoryBus
from kpr_gateway.pipeline.contracts import SealedMessage
from kpr_gateway.registry import Operation
from kpr_gateway.security import cms
from kpr_gateway.security.devpki import DevPki
from kpr_gateway.security.errors import WrongRecipientError
from kpr_gateway.simulator.registry import SimulatedRegistry
from kpr_gateway.tenancy import TenantsFile
from tests.support.outbound_world import (
    bergen_entry,
    put_built_message,
    service_context,
    trondheim_entry,
    write_tenants,
)
from tests.support.validation_receiver import (
    KPR_HER_ID,
    KPR_VALIDERING_HER_ID,
    in_production,
    put_annual_pair,
    registry_with_validation_apart,
)
from tests.unit.envelope.conftest import Harness
from tests.unit.runtime.registries import PARTIES, Endpoint, directory_over_asgi

ENCRYPTION = Operation.GET_CERTIFICATE_DETAILS_FOR_ENCRYPTION

Start = Callable[[SimulatedRegistry], Awaitable[tuple[Harness, Endpoint]]]


@pytest.fixture(scope="module")
def pki() -> DevPki:
    return DevPki.create(PARTIES)


@pytest.fixture
def production_tenants(pki: DevPki, tmp_path: Path) -> TenantsFile:
    """bergen (with an override: the ``fhi`` certificates) and trondheim (the registry's), both
    sending to KPR in production."""
    entries = [bergen_entry(), trondheim_entry(receiver=False)]
    return write_tenants(pki, tmp_path, [in_production(entry) for entry in entries])


@pytest.fixture
def ledger() -> Ledger:
    return Ledger(FakeAsyncRedis())


@pytest.fixture
async def start(
    production_tenants: TenantsFile, ledger: Ledger, tmp_path: Path, pki: DevPki
) -> AsyncIterator[Start]:
    stack = AsyncExitStack()

    async def started(registry: SimulatedRegistry) -> tuple[Harness, Endpoint]:
        endpoint = Endpoint(registry)
        directory = await stack.enter_async_context(
            directory_over_asgi(endpoint, FakeAsyncRedis(), tmp_path, trusted=[pki])
        )
        broker = MemoryBroker(delay_scale=0.001)
        bus = MemoryBus(service_name="envelope", broker=broker)
        context = service_context(
            "envelope", tenants=production_tenants, ledger=ledger, bus=bus, receivers=directory
        )
        envelope = build(context, EnvelopeSettings(tenants_file=tmp_path / "tenants.yaml"))
        producer = MemoryBus(service_name="test", broker=broker)
        harness = Harness(broker, producer, context.metrics)

        async def collect(delivery: Delivery) -> None:
            harness.outbox.append(SealedMessage.from_body(delivery.body))

        producer.subscribe(OUTBOX, collect)
        envelope.register()
        for part in (bus, producer):
            await part.start()
            stack.push_async_callback(part.stop)
        stack.push_async_callback(envelope.close)
        await envelope.start()
        return harness, endpoint

    yield started
    await stack.aclose()


@dataclass(frozen=True)
class _Keys:
    pki: DevPki

    def opens(self, sealed: SealedMessage, party: str) -> bool:
        signer = self.pki.party("bergen").signing.certificate  # both tenants' files are bergen's
        try:
            cms.open_sealed(sealed.cms, [self.pki.party(party).encryption], signer)
        except WrongRecipientError:
            return False
        return True


async def test_a_test_submission_is_sealed_for_kpr_validering_and_a_daily_message_for_kpr(
    start: Start, production_tenants: TenantsFile, ledger: Ledger, pki: DevPki
) -> None:
    harness, endpoint = await start(registry_with_validation_apart(pki))
    trondheim = production_tenants.by_id("trondheim")
    ipl, ide = await put_annual_pair(ledger, trondheim, "validation")
    daily = await put_built_message(ledger, trondheim)
    assert endpoint.registry.requests[ENCRYPTION] == 1  # trondheim's own, at start-up

    for built in (ipl, ide, daily):
        await harness.deliver(built)

    by_id = {sealed.msg_id: sealed for sealed in harness.outbox}
    keys = _Keys(pki)
    for annual in (ipl, ide):
        sealed = by_id[annual.msg_id]
        assert (sealed.to_her_id, sealed.environment) == (KPR_VALIDERING_HER_ID, "validation")
        assert keys.opens(sealed, "kpr-next")  # KPR Validering's certificate in the registry
        assert not keys.opens(sealed, "kpr")
        assert b'"environment":"validation"' in sealed.to_body()
        record = await ledger.get_message("trondheim", str(annual.msg_id))
        assert record is not None
        assert record.state is MessageState.ENVELOPED
    sealed = by_id[daily.msg_id]
    assert (sealed.to_her_id, sealed.environment) == (KPR_HER_ID, None)
    assert keys.opens(sealed, "kpr")
    assert b"environment" not in sealed.to_body()  # a daily body is as it was
    # KPR Validering's certificate was looked up for the first message that needed it, once
    assert endpoint.registry.requests[ENCRYPTION] == 2
    assert harness.producer.parked(MESSAGES) == []


async def test_with_an_override_kpr_validering_is_sealed_for_the_override_s_certificate(
    start: Start, production_tenants: TenantsFile, ledger: Ledger, pki: DevPki
) -> None:
    harness, endpoint = await start(registry_with_validation_apart(pki))
    ipl, _ = await put_annual_pair(ledger, production_tenants.by_id("bergen"), "validation")

    await harness.deliver(ipl)

    [sealed] = harness.outbox
    assert sealed.to_her_id == KPR_VALIDERING_HER_ID
    assert _Keys(pki).opens(sealed, "fhi")
    assert endpoint.registry.requests[ENCRYPTION] == 1  # trondheim's at start-up: none more


async def test_an_environment_the_tenant_may_not_send_to_parks_the_message(
    start: Start, production_tenants: TenantsFile, ledger: Ledger, pki: DevPki
) -> None:
    harness, _ = await start(registry_with_validation_apart(pki))
    ipl, _ = await put_annual_pair(ledger, production_tenants.by_id("bergen"), "validation")
    elsewhere = ipl.model_copy(update={"environment": "communication-test"})

    await harness.deliver(elsewhere)

    assert harness.outbox == []
    [parked] = harness.producer.parked(MESSAGES)
    assert parked.message_id == str(ipl.msg_id)
    assert "names environment communication-test" in parked.reason
    assert parked.headers["x-attempt"] == "1"  # parked at once, not retried
    record = await ledger.get_message("bergen", str(ipl.msg_id))
    assert record is not None
    assert record.state is MessageState.BUILT
