"""dispatch and a message that names its receiver's environment: a test submission of a tenant
in production goes to KPR Validering's queue (resolved when first needed), its daily messages
to KPR's; an override's queue is its own receiver's only."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from fakeredis import FakeAsyncRedis

from kpr_gateway.dispatch.app import build
from kpr_gateway.dispatch.settings import DispatchSettings
from kpr_gateway.ledger import Ledger, MessageState
from kpr_gateway.nhn import InMemoryNhnBroker
from kpr_gateway.pipeline import OUTBOX, MemoryBroker, MemoryBus
from kpr_gateway.pipeline.contracts import BuiltMessage, SealedMessage
from kpr_gateway.registry import Operation
from kpr_gateway.security.devpki import DevPki
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
    REGISTRY_PREFIX,
    in_production,
    put_annual_pair,
    registry_with_validation_apart,
)
from tests.unit.dispatch.conftest import Harness
from tests.unit.dispatch.transports import FlakyTransport
from tests.unit.runtime.registries import PARTIES, Endpoint, directory_over_asgi

PARTY = Operation.GET_COMMUNICATION_PARTY_DETAILS

Start = Callable[[SimulatedRegistry], Awaitable[tuple[Harness, Endpoint]]]


@pytest.fixture(scope="module")
def pki() -> DevPki:
    return DevPki.create(PARTIES)


@pytest.fixture
def production_tenants(pki: DevPki, tmp_path: Path) -> TenantsFile:
    """bergen with an override naming KPR's queue, trondheim with the registry; both in
    production."""
    bergen = bergen_entry()
    bergen["receiver_override"]["async_queue"] = "kpr_custom_async"
    entries = [bergen, trondheim_entry(receiver=False)]
    return write_tenants(pki, tmp_path, [in_production(entry) for entry in entries])


@pytest.fixture
def ledger() -> Ledger:
    return Ledger(FakeAsyncRedis())


@pytest.fixture
async def start(
    production_tenants: TenantsFile, ledger: Ledger, tmp_path: Path
) -> AsyncIterator[Start]:
    stack = AsyncExitStack()

    async def started(registry: SimulatedRegistry) -> tuple[Harness, Endpoint]:
        endpoint = Endpoint(registry)
        directory = await stack.enter_async_context(
            directory_over_asgi(endpoint, FakeAsyncRedis(), tmp_path)
        )
        broker = MemoryBroker(delay_scale=0.001)
        bus = MemoryBus(service_name="dispatch", broker=broker)
        nhn_broker = InMemoryNhnBroker()
        transport = FlakyTransport(nhn_broker)
        context = service_context(
            "dispatch",
            tenants=production_tenants,
            ledger=ledger,
            bus=bus,
            nhn=transport,
            receivers=directory,
        )
        component = build(context, DispatchSettings(tenants_file=tmp_path / "tenants.yaml"))
        producer = MemoryBus(service_name="test", broker=broker)
        component.register()
        for part in (bus, transport, producer):
            await part.start()
            stack.push_async_callback(part.stop)
        stack.push_async_callback(component.close)
        await component.start()
        return Harness(broker, producer, context.metrics, nhn_broker, transport), endpoint

    yield started
    await stack.aclose()


def sealed(built: BuiltMessage, from_her_id: str, to_her_id: str) -> SealedMessage:
    """What envelope makes of ``built`` (the CMS does not matter to dispatch)."""
    return SealedMessage(
        tenant_id=built.tenant_id,
        msg_id=built.msg_id,
        msg_type=built.msg_type,
        batch_id=built.batch_id,
        from_her_id=from_her_id,
        to_her_id=to_her_id,
        environment=built.environment,
        cms=b"sealed",
    )


async def test_a_test_submission_goes_to_kpr_validering_s_queue_a_daily_message_to_kpr_s(
    start: Start, production_tenants: TenantsFile, ledger: Ledger, pki: DevPki
) -> None:
    harness, endpoint = await start(registry_with_validation_apart(pki))
    trondheim = production_tenants.by_id("trondheim")
    party = trondheim.communication_party.her_id
    ipl, ide = await put_annual_pair(ledger, trondheim, state=MessageState.ENVELOPED)
    daily = await put_built_message(ledger, trondheim)
    await ledger.advance_message(
        "trondheim", str(daily.msg_id), MessageState.ENVELOPED, trace_id=None
    )
    lookups_at_start = endpoint.registry.requests[PARTY]

    for annual in (ipl, ide):
        await harness.deliver(sealed(annual, party, KPR_VALIDERING_HER_ID))
    await harness.deliver(sealed(daily, party, KPR_HER_ID))

    to_validation = harness.received(f"{REGISTRY_PREFIX}{KPR_VALIDERING_HER_ID}_async")
    assert sorted(m.subject for m in to_validation) == ["KPR_IDE", "KPR_IPL"]
    assert {(m.to_her_id, m.reply_to) for m in to_validation} == {
        (KPR_VALIDERING_HER_ID, trondheim.async_queue)
    }
    [to_kpr] = harness.received(f"{REGISTRY_PREFIX}{KPR_HER_ID}_async")
    assert to_kpr.to_her_id == KPR_HER_ID
    for msg_id in (ipl.msg_id, ide.msg_id, daily.msg_id):
        record = await ledger.get_message("trondheim", str(msg_id))
        assert record is not None
        assert record.state is MessageState.DISPATCHED
    # KPR Validering's queue: looked up for the first message that needed it, then kept
    assert endpoint.registry.requests[PARTY] == lookups_at_start + 1


async def test_an_override_s_queue_is_its_own_receiver_s_only(
    start: Start, production_tenants: TenantsFile, ledger: Ledger, pki: DevPki
) -> None:
    harness, _ = await start(registry_with_validation_apart(pki))
    bergen = production_tenants.by_id("bergen")
    party = bergen.communication_party.her_id
    ipl, _ = await put_annual_pair(ledger, bergen, state=MessageState.ENVELOPED)
    daily = await put_built_message(ledger, bergen)
    await ledger.advance_message("bergen", str(daily.msg_id), MessageState.ENVELOPED, trace_id=None)

    await harness.deliver(sealed(ipl, party, KPR_VALIDERING_HER_ID))
    await harness.deliver(sealed(daily, party, KPR_HER_ID))

    [test] = harness.received(f"{KPR_VALIDERING_HER_ID}_async")  # NHN's naming convention
    assert test.to_her_id == KPR_VALIDERING_HER_ID
    [real] = harness.received("kpr_custom_async")
    assert real.to_her_id == KPR_HER_ID


@pytest.mark.parametrize(
    "case",
    [
        ("communication-test", "8133973", "names environment communication-test"),
        (
            "validation",
            KPR_HER_ID,
            f"but the tenant now sends from 50002 to {KPR_VALIDERING_HER_ID}",
        ),
    ],
)
async def test_a_message_for_another_receiver_than_it_may_go_to_is_parked(
    start: Start,
    production_tenants: TenantsFile,
    ledger: Ledger,
    pki: DevPki,
    case: tuple[str, str, str],
) -> None:
    """An environment the tenant may not send to; a message sealed for KPR's HER-id that names
    KPR Validering's environment."""
    environment, to_her_id, reason = case
    harness, _ = await start(registry_with_validation_apart(pki))
    bergen = production_tenants.by_id("bergen")
    ipl, _ = await put_annual_pair(ledger, bergen, state=MessageState.ENVELOPED)
    message = sealed(ipl, bergen.communication_party.her_id, to_her_id).model_copy(
        update={"environment": environment}
    )

    await harness.deliver(message)

    [parked] = harness.producer.parked(OUTBOX)
    assert reason in parked.reason
    assert harness.transport.attempts == []
    record = await ledger.get_message("bergen", str(ipl.msg_id))
    assert record is not None
    assert record.state is MessageState.ENVELOPED
