"""transform on the in-memory bus and fakeredis: rules, batching, crash recovery, parking."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fakeredis import FakeAsyncRedis
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from kpr_gateway.cli.demo.samples import event, national_id
from kpr_gateway.cli.demo.world import DemoWorld, create_world
from kpr_gateway.ledger import EventState, Ledger, MessageState, NewEvent
from kpr_gateway.messages.kpr_ktt_v1 import KttEvent, parse_fagmelding, parse_identmelding
from kpr_gateway.messages.msghead import parse_msghead
from kpr_gateway.observability import GracefulShutdown
from kpr_gateway.observability.health import readiness_checks
from kpr_gateway.observability.metrics import ServiceMetrics
from kpr_gateway.pipeline import EVENTS, MESSAGES, Delivery, MemoryBroker, MemoryBus
from kpr_gateway.pipeline.contracts import AcceptedEvent, BuiltMessage, EventChunk
from kpr_gateway.runtime import ServiceContext
from kpr_gateway.tenancy import TenantFileError, load_tenants
from kpr_gateway.transform.app import BatchLimits, Transform, build
from kpr_gateway.transform.settings import TransformSettings


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DemoWorld:
    return create_world(tmp_path_factory.mktemp("world"))


class Harness:
    def __init__(
        self, world: DemoWorld, max_events: int, tracer_provider: TracerProvider | None = None
    ) -> None:
        self.broker = MemoryBroker(delay_scale=0)
        self.bus = MemoryBus(
            service_name="transform", broker=self.broker, tracer_provider=tracer_provider
        )
        self.upstream = MemoryBus(service_name="intake", broker=self.broker)
        self.downstream = MemoryBus(service_name="envelope", broker=self.broker)
        self.ledger = Ledger(FakeAsyncRedis())
        self.transform = Transform(
            tenants=load_tenants(world.tenants_file),
            ledger=self.ledger,
            bus=self.bus,
            metrics=ServiceMetrics("transform"),
            limits=BatchLimits(max_events=max_events, max_age_seconds=0.05, prefetch=16),
            tracer_provider=tracer_provider,
        )
        self.built: list[BuiltMessage] = []
        self.rng = random.Random(7)

    async def record(self, delivery: Delivery) -> None:
        self.built.append(BuiltMessage.from_body(delivery.body))

    async def start(self) -> None:
        self.transform.register()
        self.downstream.subscribe(MESSAGES, self.record)
        for bus in (self.bus, self.upstream, self.downstream):
            await bus.start()

    async def stop(self) -> None:
        for bus in (self.upstream, self.bus, self.downstream):
            await bus.stop()
        await self.transform.close()

    async def accept(self, tenant: str, events: list[dict[str, Any]]) -> EventChunk:
        """What intake does: register in the ledger, then publish one chunk."""
        chunk = await self.chunk(tenant, events)
        await self.publish(chunk)
        return chunk

    async def chunk(self, tenant: str, events: list[dict[str, Any]]) -> EventChunk:
        """Register the events in the ledger and wrap them in a chunk (not yet published)."""
        await self.ledger.register_events(
            tenant, [NewEvent(e["event_id"], "h") for e in events], trace_id=None
        )
        return EventChunk(
            tenant_id=tenant,
            chunk_id=uuid.uuid4(),
            events=[
                AcceptedEvent(
                    event_id=uuid.UUID(e["event_id"]),
                    received_at=datetime.now(UTC),
                    event=e,
                    trace_id=uuid.uuid4().hex,
                )
                for e in events
            ],
        )

    async def publish(self, chunk: EventChunk) -> None:
        await self.upstream.publish(EVENTS, chunk.to_body(), message_id=str(chunk.chunk_id))
        await self.broker.wait_settled()

    def events(self, count: int, municipality: str = "4601") -> list[dict[str, Any]]:
        return [event(self.rng, municipality) for _ in range(count)]


@pytest.fixture
async def harness(world: DemoWorld) -> AsyncIterator[Harness]:
    harness = Harness(world, max_events=3)
    await harness.start()
    yield harness
    await harness.stop()


async def test_valid_events_become_one_ipl_and_one_ide(harness: Harness) -> None:
    events = harness.events(2)
    await harness.accept("bergen", events)
    assert sorted(m.msg_type for m in harness.built) == ["KPR_IDE", "KPR_IPL"]
    ipl = next(m for m in harness.built if m.msg_type == "KPR_IPL")
    ide = next(m for m in harness.built if m.msg_type == "KPR_IDE")
    assert ipl.batch_id == ide.batch_id
    assert sorted(str(e) for e in ipl.event_ids) == sorted(e["event_id"] for e in events)
    fagmelding = parse_fagmelding(parse_msghead(ipl.document).document)
    assert {str(e.event_id) for e in fagmelding.events} == {e["event_id"] for e in events}
    identmelding = parse_identmelding(parse_msghead(ide.document).document)
    assert {p.national_id for p in identmelding.persons} == {e["national_id"] for e in events}
    head = parse_msghead(ipl.document)
    assert head.sender.her_id == "91001"
    assert head.receiver.service is not None
    assert head.receiver.service.her_id == "171479"  # validation environment

    for item in events:
        record = await harness.ledger.get_event("bergen", item["event_id"])
        assert record is not None
        assert (record.state, record.status) == (EventState.BATCHED, "built")
        assert sorted(record.msg_ids) == sorted(str(m.msg_id) for m in harness.built)


async def test_batches_flush_at_max_events(harness: Harness) -> None:
    await harness.accept("bergen", harness.events(5))
    ipls = [m for m in harness.built if m.msg_type == "KPR_IPL"]
    assert sorted(len(m.event_ids) for m in ipls) == [2, 3]


async def test_tenants_are_batched_apart(harness: Harness) -> None:
    await harness.accept("bergen", harness.events(1))
    await harness.accept("trondheim", harness.events(1, municipality="5001"))
    assert sorted(m.tenant_id for m in harness.built if m.msg_type == "KPR_IPL") == [
        "bergen",
        "trondheim",
    ]


async def test_rules_reject_or_suppress_with_reasons(harness: Harness) -> None:
    obsolete = event(harness.rng, "4601", service_code="12")
    foreign = event(harness.rng, "5001")
    test_person = event(harness.rng, "4601", person=national_id(harness.rng, month_offset=80))
    valid = event(harness.rng, "4601")
    await harness.accept("bergen", [obsolete, foreign, test_person, valid])

    ipl = next(m for m in harness.built if m.msg_type == "KPR_IPL")
    assert [str(e) for e in ipl.event_ids] == [valid["event_id"]]
    states = {}
    for item in (obsolete, foreign, test_person):
        record = await harness.ledger.get_event("bergen", item["event_id"])
        assert record is not None
        states[item["event_id"]] = (record.status, [r.rule for r in record.reasons])
    assert states[obsolete["event_id"]] == ("rejected_invalid", ["service-code-obsolete"])
    assert states[foreign["event_id"]] == ("rejected_invalid", ["municipality-not-tenant"])
    assert states[test_person["event_id"]] == ("suppressed_test_person", ["test-person"])
    record = await harness.ledger.get_event("bergen", obsolete["event_id"])
    assert record is not None
    assert "29" in record.reasons[0].reason


async def test_a_redelivered_chunk_republishes_unsent_messages_only(harness: Harness) -> None:
    chunk = await harness.accept("bergen", harness.events(2))
    first = sorted(str(m.msg_id) for m in harness.built)
    # as after a crash between the ledger commit and the ack: the same chunk again
    await harness.publish(chunk)
    assert sorted(str(m.msg_id) for m in harness.built) == sorted(first * 2)

    for msg_id in first:
        await harness.ledger.advance_message(
            "bergen", msg_id, MessageState.ENVELOPED, trace_id=None
        )
    await harness.publish(chunk)
    assert len(harness.built) == 4  # enveloped messages are not sent again


async def test_unknown_tenant_and_unknown_event_are_parked(harness: Harness) -> None:
    stray = EventChunk(
        tenant_id="nowhere",
        chunk_id=uuid.uuid4(),
        events=[
            AcceptedEvent(
                event_id=uuid.uuid4(),
                received_at=datetime.now(UTC),
                event=harness.events(1)[0],
                trace_id=uuid.uuid4().hex,
            )
        ],
    )
    await harness.publish(stray)
    ghost = EventChunk(
        tenant_id="bergen",
        chunk_id=uuid.uuid4(),
        events=[
            AcceptedEvent(
                event_id=uuid.UUID(e["event_id"]),
                received_at=datetime.now(UTC),
                event=e,
                trace_id=uuid.uuid4().hex,
            )
            for e in harness.events(1)
        ],
    )
    await harness.publish(ghost)  # never registered in the ledger
    reasons = sorted(p.reason for p in harness.broker.parked(EVENTS))
    assert reasons[0].startswith("chunk ")
    assert "unknown tenant" in reasons[0]
    assert "not in the ledger" in reasons[1]
    assert harness.built == []


async def test_an_unreadable_chunk_is_parked(harness: Harness) -> None:
    await harness.upstream.publish(EVENTS, b'{"tenant_id": 1}', message_id="bad")
    await harness.broker.wait_settled()
    [parked] = harness.broker.parked(EVENTS)
    assert parked.reason.startswith("invalid EventChunk body")


def traced(world: DemoWorld) -> tuple[Harness, InMemorySpanExporter]:
    """A harness whose spans are kept, for the tracing tests."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return Harness(world, max_events=10, tracer_provider=provider), exporter


async def test_the_batch_span_continues_one_event_trace_and_links_the_others(
    world: DemoWorld,
) -> None:
    harness, exporter = traced(world)
    await harness.start()
    try:
        for _ in range(3):  # three chunks, three consumer spans, one batch
            await harness.upstream.publish(
                EVENTS,
                (await harness.chunk("bergen", harness.events(1))).to_body(),
                message_id=str(uuid.uuid4()),
            )
        await harness.broker.wait_settled()
    finally:
        await harness.stop()
    assert len([m for m in harness.built if m.msg_type == "KPR_IPL"]) == 1
    consumers = [s for s in exporter.get_finished_spans() if s.name.startswith("events")]
    assert len(consumers) == 3
    consumer_traces = {s.context.trace_id for s in consumers if s.context is not None}
    [batch] = [s for s in exporter.get_finished_spans() if s.name == "build batch"]
    assert batch.context is not None
    assert batch.context.trace_id in consumer_traces
    linked = {link.context.trace_id for link in batch.links}
    assert linked == consumer_traces - {batch.context.trace_id}
    assert batch.attributes is not None
    assert batch.attributes["kprgw.batch.events"] == 3


async def test_events_grouped_in_one_chunk_keep_their_own_request_traces(
    world: DemoWorld,
) -> None:
    """intake commits concurrent requests in one chunk; each event carries its request's span."""
    harness, exporter = traced(world)
    await harness.start()
    try:
        chunk = await harness.chunk("bergen", harness.events(3))
        requests = [(uuid.uuid4().hex, f"{n + 1:016x}") for n in range(3)]
        grouped = chunk.model_copy(
            update={
                "events": [
                    e.model_copy(update={"trace_id": t, "traceparent": f"00-{t}-{s}-01"})
                    for e, (t, s) in zip(chunk.events, requests, strict=True)
                ]
            }
        )
        await harness.publish(grouped)
    finally:
        await harness.stop()
    [batch] = [s for s in exporter.get_finished_spans() if s.name == "build batch"]
    assert batch.context is not None
    assert batch.parent is not None
    assert (f"{batch.context.trace_id:032x}", f"{batch.parent.span_id:016x}") == requests[0]
    linked = {(f"{k.context.trace_id:032x}", f"{k.context.span_id:016x}") for k in batch.links}
    assert linked == set(requests[1:])


async def test_the_operators_flush_sends_pending_events_now(world: DemoWorld) -> None:
    harness = Harness(world, max_events=100)
    harness.transform._batcher._max_age = 3600  # only the flush can send this batch
    harness.transform.serve_http(readiness_checks({"broker": harness.bus.ping}), GracefulShutdown())
    app = harness.transform.http_app()
    assert app is not None
    await harness.start()
    try:
        chunk = await harness.chunk("bergen", harness.events(2))
        await harness.upstream.publish(EVENTS, chunk.to_body(), message_id=str(chunk.chunk_id))
        async with asyncio.timeout(5):
            while harness.transform._batcher.pending_count("bergen") < 2:
                await asyncio.sleep(0.01)
        assert harness.built == []
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://transform"
        ) as client:
            assert (await client.post("/v1/flush?tenant=nowhere")).status_code == 404
            answer = await client.post("/v1/flush?tenant=bergen")
            assert answer.json() == {"flushed_events": 2}
            assert (await client.get("/readyz")).status_code == 200
        await harness.broker.wait_settled()
        assert sorted(m.msg_type for m in harness.built) == ["KPR_IDE", "KPR_IPL"]
    finally:
        await harness.stop()


async def test_an_event_under_the_number_valid_before_a_reform_is_batched_apart(
    harness: Harness,
) -> None:
    """Trondheim (5001) also reports an allocation decided in 2019 under 5001's predecessor
    number of that date; one KPR document carries one municipality number."""
    old = event(harness.rng, "5001")
    current = event(harness.rng, "5001")
    old["municipality_number"], old["decision_date"], old["start_date"] = (
        "1601",
        "2017-06-01",
        "2017-06-15",
    )
    await harness.accept("trondheim", [old, current])
    ipls = [m for m in harness.built if m.msg_type == "KPR_IPL"]
    numbers = sorted(
        parse_fagmelding(parse_msghead(m.document).document).header.municipality_number
        for m in ipls
    )
    assert numbers == ["1601", "5001"]


async def test_a_full_prefetch_flushes_without_waiting_for_max_age(world: DemoWorld) -> None:
    """Single-event chunks: once every delivery the bus allows is waiting, the batch goes."""
    harness = Harness(world, max_events=1000)
    harness.transform._batcher._max_age = 3600
    harness.transform._batcher._max_waiting = 3
    await harness.start()
    try:
        for _ in range(3):
            chunk = await harness.chunk("bergen", harness.events(1))
            await harness.upstream.publish(EVENTS, chunk.to_body(), message_id=str(chunk.chunk_id))
        async with asyncio.timeout(5):
            await harness.broker.wait_settled()
    finally:
        await harness.stop()
    [ipl] = [m for m in harness.built if m.msg_type == "KPR_IPL"]
    assert len(ipl.event_ids) == 3


async def test_a_tenants_configured_test_persons_are_never_sent(
    world: DemoWorld, tmp_path: Path
) -> None:
    rng = random.Random(99)
    listed = national_id(rng)
    (tmp_path / "test-persons.txt").write_text(f"# test persons of Bergen\n{listed}\n")
    document = yaml.safe_load(world.tenants_file.read_text())
    document["tenants"][0]["test_persons_file"] = str(tmp_path / "test-persons.txt")
    for tenant in document["tenants"]:  # keep the world's relative paths valid from tmp_path
        tenant["pseudonym_secret_file"] = str(world.directory / tenant["pseudonym_secret_file"])
    tenants_file = tmp_path / "tenants.yaml"
    tenants_file.write_text(yaml.safe_dump(document))
    broker = MemoryBroker(delay_scale=0)
    context = ServiceContext(
        name="transform",
        tenants=load_tenants(tenants_file),
        ledger=Ledger(FakeAsyncRedis()),
        bus=MemoryBus(service_name="transform", broker=broker),
        metrics=ServiceMetrics("transform"),
        readiness=readiness_checks({}),
        drain=GracefulShutdown(),
    )
    transform = build(context, TransformSettings(tenants_file=tenants_file))
    bergen = context.tenants.by_id("bergen")
    listed_event = KttEvent.model_validate(event(rng, "4601", person=listed))
    other_event = KttEvent.model_validate(event(rng, "4601"))
    assert transform._rules.check(listed_event, bergen).state is (EventState.SUPPRESSED_TEST_PERSON)
    assert transform._rules.check(other_event, bergen).state is None

    (tmp_path / "test-persons.txt").write_text("not-an-id\n")
    with pytest.raises(TenantFileError, match="tenant bergen: test_persons_file"):
        build(context, TransformSettings(tenants_file=tenants_file))
