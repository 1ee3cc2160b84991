"""dispatch with the Address Registry: a tenant without ``receiver_override`` sends to the
KPR receiver's queue as the simulator's registry names it; one with it, to its override's."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from fakeredis import FakeAsyncRedis

from kpr_gateway.dispatch.app import build
from kpr_gateway.dispatch.settings import DispatchSettings
from kpr_gateway.ledger import Ledger, MessageState
from kpr_gateway.nhn import InMemoryNhnBroker
from kpr_gateway.pipeline import MemoryBroker, MemoryBus
from kpr_gateway.registry import Operation
from kpr_gateway.runtime import Component
from kpr_gateway.runtime.receivers import ReceiverStartupError
from kpr_gateway.security.devpki import DevPki
from kpr_gateway.simulator.registry import SimulatedRegistry
from kpr_gateway.tenancy import TenantsFile
from tests.support.outbound_world import (
    KPR_VALIDATION_HER_ID,
    KPR_VALIDATION_QUEUE,
    bergen_entry,
    put_built_message,
    sealed_from,
    service_context,
    trondheim_entry,
    write_tenants,
)
from tests.unit.dispatch.conftest import Harness
from tests.unit.dispatch.transports import FlakyTransport
from tests.unit.runtime.registries import (
    KPR_VALIDATION_QUEUE_IN_REGISTRY,
    PARTIES,
    Endpoint,
    directory_over_asgi,
    kpr_registry,
)

PARTY = Operation.GET_COMMUNICATION_PARTY_DETAILS

StartWithRegistry = Callable[[SimulatedRegistry], Awaitable[tuple[Harness, Component]]]


@pytest.fixture(scope="module")
def pki() -> DevPki:
    return DevPki.create(PARTIES)


@pytest.fixture
def registry_tenants(pki: DevPki, tmp_path: Path) -> TenantsFile:
    """bergen with an override (default queue), trondheim without one."""
    return write_tenants(pki, tmp_path, [bergen_entry(), trondheim_entry(receiver=False)])


@pytest.fixture
async def with_registry(
    registry_tenants: TenantsFile, ledger: Ledger, tmp_path: Path
) -> AsyncIterator[StartWithRegistry]:
    """dispatch built by ``build`` on a context whose directory asks the simulated registry;
    started unless ``start()`` fails (then it raises)."""
    stack = AsyncExitStack()

    async def start(registry: SimulatedRegistry) -> tuple[Harness, Component]:
        directory = await stack.enter_async_context(
            directory_over_asgi(Endpoint(registry), FakeAsyncRedis(), tmp_path)
        )
        broker = MemoryBroker(delay_scale=0.001)
        bus = MemoryBus(service_name="dispatch", broker=broker)
        nhn_broker = InMemoryNhnBroker()
        transport = FlakyTransport(nhn_broker)
        context = service_context(
            "dispatch",
            tenants=registry_tenants,
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
        return Harness(broker, producer, context.metrics, nhn_broker, transport), component

    yield start
    await stack.aclose()


async def test_a_tenant_without_override_sends_to_the_registrys_queue(
    with_registry: StartWithRegistry,
    registry_tenants: TenantsFile,
    ledger: Ledger,
    pki: DevPki,
) -> None:
    registry = kpr_registry(pki)
    harness, _ = await with_registry(registry)
    trondheim = registry_tenants.by_id("trondheim")
    built = await put_built_message(ledger, trondheim)
    from_registry = sealed_from(built, pki).model_copy(
        update={"tenant_id": "trondheim", "from_her_id": trondheim.communication_party.her_id}
    )
    from_override = sealed_from(
        await put_built_message(ledger, registry_tenants.by_id("bergen")), pki
    )

    await harness.deliver(from_registry)
    await harness.deliver(from_override)

    [sent] = harness.received(KPR_VALIDATION_QUEUE_IN_REGISTRY)
    assert (sent.to, sent.reply_to, sent.body) == (
        KPR_VALIDATION_QUEUE_IN_REGISTRY,
        "60002_async",
        from_registry.cms,
    )
    assert sent.application_properties()["toHerId"] == KPR_VALIDATION_HER_ID
    [other] = harness.received(KPR_VALIDATION_QUEUE)
    assert other.body == from_override.cms
    assert registry.requests[PARTY] == 1  # trondheim's receiver, at start-up only
    record = await ledger.get_message("trondheim", str(built.msg_id))
    assert record is not None
    assert record.state is MessageState.DISPATCHED


async def test_a_receiver_without_a_queue_in_the_registry_stops_the_start_up(
    with_registry: StartWithRegistry, pki: DevPki
) -> None:
    served = kpr_registry(pki)
    without_queue = SimulatedRegistry(
        dataclasses.replace(party, async_queue=None) for party in served.parties.values()
    )

    with pytest.raises(
        ReceiverStartupError,
        match=r"^tenant trondheim: the receiver's async queue cannot be resolved: receiver "
        r"HER-id 171479 has no E_SB_ASYNC queue in the Address Registry$",
    ):
        await with_registry(without_queue)
