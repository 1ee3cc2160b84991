"""transform on the in-memory bus and fakeredis: rules, batching, crash recovery, parking."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fakeredis import FakeAsyncRedis
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from kpr_gateway.cli.demo.samples import correction, event, national_id
from kpr_gateway.cli.demo.world import DemoWorld, create_world
from kpr_gateway.ledger import EventState, Ledger, MessageState, NewEvent, ResendRefusedError
from kpr_gateway.messages.iplos_kpr import (
    FIRST_PHASE_SERVICE_TYPES,
    GUID_EMPTY,
    ChainHead,
    EventKind,
    Notification,
    ParsedMelding,
    parse_melding,
)
from kpr_gateway.messages.msghead import parse_msghead
from kpr_gateway.observability import GracefulShutdown
from kpr_gateway.observability.health import readiness_checks
from kpr_gateway.observability.metrics import ServiceMetrics
from kpr_gateway.pipeline import EVENTS, MESSAGES, Delivery, MemoryBroker, MemoryBus
from kpr_gateway.pipeline.contracts import AcceptedEvent, BuiltMessage, EventChunk
from kpr_gateway.runtime import ServiceContext
from kpr_gateway.tenancy import TenantFileError, load_tenants
from kpr_gateway.transform.app import BatchLimits, Transform, build
from kpr_gateway.transform.rules import RuleSet
from kpr_gateway.transform.settings import TransformSettings


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DemoWorld:
    return create_world(tmp_path_factory.mktemp("world"))


class Harness:
    def __init__(
        self,
        world: DemoWorld,
        max_events: int,
        tracer_provider: TracerProvider | None = None,
        *,
        rules: RuleSet | None = None,
        max_message_bytes: int = 1_000_000,
        delay_scale: float = 0,
        max_events_held: int = 20_000,
    ) -> None:
        self.broker = MemoryBroker(delay_scale=delay_scale)
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
            limits=BatchLimits(
                max_events=max_events,
                max_age_seconds=0.05,
                prefetch=16,
                max_message_bytes=max_message_bytes,
                max_events_held=max_events_held,
            ),
            tracer_provider=tracer_provider,
            rules=rules,
        )
        self.built: list[BuiltMessage] = []
        self.rng = random.Random(7)

    def bus_retried(self) -> bool:
        """True once transform has given a delivery back for a later retry."""
        return bool(self.broker._timers)

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
                    event=Notification.model_validate(e),
                    client_id="epj-bergen" if tenant == "bergen" else None,
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


def melding_of(message: BuiltMessage) -> ParsedMelding:
    return parse_melding(parse_msghead(message.document).document)


def chain_of(messages: list[BuiltMessage]) -> list[tuple[int, str, str]]:
    """(seq, event id, previous) of every notification sent, in the order sent."""
    return [
        (n.seq, str(n.event_id), str(n.previous))
        for m in messages
        for n in melding_of(m).notifications
    ]


async def test_valid_events_become_one_kpr_ipl_numbered_from_guid_empty(
    harness: Harness,
) -> None:
    events = harness.events(2)
    await harness.accept("bergen", events)
    [ipl] = harness.built
    assert ipl.msg_type == "KPR_IPL"
    assert [str(e) for e in ipl.event_ids] == [e["event_id"] for e in events]
    melding = melding_of(ipl)
    assert melding.header.municipality_numbers == ("4601",)
    assert {c.type for c in melding.header.contacts} >= {"16", "17"}
    assert melding.header.local_id == str(ipl.batch_id)
    first, second = events
    assert chain_of(harness.built) == [
        (1, first["event_id"], str(GUID_EMPTY)),
        (2, second["event_id"], first["event_id"]),
    ]
    assert [n.person.national_id for n in melding.notifications] == [
        e["person"]["national_id"] for e in events
    ]
    head = parse_msghead(ipl.document)
    assert head.sender.her_id == "91001"
    assert head.receiver.service is not None
    assert head.receiver.service.her_id == "171479"  # validation environment

    for seq, item in enumerate(events, start=1):
        record = await harness.ledger.get_event("bergen", item["event_id"])
        assert record is not None
        assert (record.state, record.status) == (EventState.BATCHED, "built")
        assert record.msg_ids == [str(ipl.msg_id)]
        assert record.seq == seq
    assert await harness.ledger.chain_head("bergen", "4601") == ChainHead(
        2, uuid.UUID(second["event_id"])
    )


async def test_batches_flush_at_max_events_and_continue_the_chain(harness: Harness) -> None:
    events = harness.events(5)
    await harness.accept("bergen", events)
    assert [len(m.event_ids) for m in harness.built] == [3, 2]
    assert [seq for seq, _, _ in chain_of(harness.built)] == [1, 2, 3, 4, 5]
    assert [event_id for _, event_id, _ in chain_of(harness.built)] == [
        e["event_id"] for e in events
    ]
    report = await harness.ledger.verify_chain("bergen", "4601")
    assert (report.ok, report.length) == (True, 5)


async def test_tenants_are_batched_and_numbered_apart(harness: Harness) -> None:
    await harness.accept("bergen", harness.events(1))
    await harness.accept("trondheim", harness.events(1, municipality="5001"))
    assert sorted(m.tenant_id for m in harness.built) == ["bergen", "trondheim"]
    assert [seq for seq, _, _ in chain_of(harness.built)] == [1, 1]


async def test_rules_reject_or_suppress_with_reasons(harness: Harness) -> None:
    obsolete = event(harness.rng, "4601", service_type="12")
    foreign = event(harness.rng, "5001")
    test_person = event(harness.rng, "4601", person=national_id(harness.rng, month_offset=80))
    valid = event(harness.rng, "4601")
    await harness.accept("bergen", [obsolete, foreign, test_person, valid])

    [ipl] = harness.built
    assert [str(e) for e in ipl.event_ids] == [valid["event_id"]]
    assert chain_of(harness.built) == [(1, valid["event_id"], str(GUID_EMPTY))]
    states = {}
    for item in (obsolete, foreign, test_person):
        record = await harness.ledger.get_event("bergen", item["event_id"])
        assert record is not None
        assert record.seq is None  # never numbered
        states[item["event_id"]] = (record.status, [r.rule for r in record.reasons])
    assert states[foreign["event_id"]] == ("rejected_invalid", ["municipality-not-tenant"])
    assert states[test_person["event_id"]] == ("suppressed_test_person", ["test-person"])
    status, rules = states[obsolete["event_id"]]
    assert status == "rejected_invalid"
    assert len(rules) == 1
    record = await harness.ledger.get_event("bergen", obsolete["event_id"])
    assert record is not None
    assert "29" in record.reasons[0].reason


async def test_a_backfilled_2018_event_with_service_type_12_is_sent(harness: Harness) -> None:
    """Under the number Bergen had in 2018 (1201), and with a code that ended with 2018."""
    old = event(harness.rng, "1201", service_type="12", on=date(2018, 6, 1))
    await harness.accept("bergen", [old])
    [ipl] = harness.built
    melding = melding_of(ipl)
    assert [n.service_type for n in melding.notifications] == ["12"]
    assert melding.header.municipality_numbers == ("1201",)


async def test_service_types_left_out_by_the_setting_are_kept_as_not_reportable(
    world: DemoWorld,
) -> None:
    harness = Harness(
        world, max_events=10, rules=RuleSet(reported_service_types=FIRST_PHASE_SERVICE_TYPES)
    )
    await harness.start()
    try:
        home_care = event(harness.rng, "4601", service_type="15")
        long_term = event(harness.rng, "4601", service_type="21")
        await harness.accept("bergen", [home_care, long_term])
        await harness.transform.flush()
        await harness.broker.wait_settled()
    finally:
        await harness.stop()
    [ipl] = harness.built
    assert [str(e) for e in ipl.event_ids] == [long_term["event_id"]]
    record = await harness.ledger.get_event("bergen", home_care["event_id"])
    assert record is not None
    assert record.status == "not_reportable"
    assert record.reasons


async def test_a_correction_of_a_sent_original_is_sent_whatever_its_new_service_type(
    world: DemoWorld,
) -> None:
    """KPR has the original: a correction that moves it to a type the setting leaves out is
    still sent (else KPR keeps the original as it was); a new original of that type is not."""
    harness = Harness(
        world, max_events=10, rules=RuleSet(reported_service_types=FIRST_PHASE_SERVICE_TYPES)
    )
    await harness.start()
    try:
        long_term = event(harness.rng, "4601", service_type="21")
        await harness.accept("bergen", [long_term])
        await harness.transform.flush()
        moved = correction(harness.rng, long_term, "M", service_type="15")
        home_care = event(harness.rng, "4601", service_type="15")
        await harness.accept("bergen", [moved, home_care])
        await harness.transform.flush()
        await harness.broker.wait_settled()
    finally:
        await harness.stop()
    sent = [n for m in harness.built for n in melding_of(m).notifications]
    assert [(n.status, n.service_type) for n in sent] == [("N", "21"), ("M", "15")]
    record = await harness.ledger.get_event("bergen", home_care["event_id"])
    assert record is not None
    assert record.status == "not_reportable"


async def test_a_correction_in_the_same_chunk_follows_its_original(harness: Harness) -> None:
    original = event(harness.rng, "4601", kind=EventKind.SERVICE_START)
    replaced = correction(harness.rng, original, "M")
    cancelled = correction(harness.rng, original, "C")
    await harness.accept("bergen", [original, replaced, cancelled])
    notifications = [n for m in harness.built for n in melding_of(m).notifications]
    assert [(n.status, n.seq) for n in notifications] == [("N", 1), ("M", 2), ("C", 3)]
    assert notifications[1].corrects == uuid.UUID(original["event_id"])
    assert notifications[2].corrects == uuid.UUID(original["event_id"])


async def test_a_correction_of_an_unknown_or_refused_original_is_rejected(
    harness: Harness,
) -> None:
    stranger = correction(harness.rng, event(harness.rng, "4601"), "M")
    refused = event(harness.rng, "4601", service_type="12")  # obsolete since 2019: rejected
    of_refused = correction(harness.rng, refused, "C", service_type="21")
    replaced = event(harness.rng, "4601")
    first_m = correction(harness.rng, replaced, "M")
    m_of_m = correction(harness.rng, first_m, "M")
    await harness.accept("bergen", [stranger, refused, of_refused, replaced, first_m])
    await harness.accept("bergen", [m_of_m])
    rules = {}
    for item in (stranger, of_refused, m_of_m):
        record = await harness.ledger.get_event("bergen", item["event_id"])
        assert record is not None
        assert record.status == "rejected_invalid"
        rules[item["event_id"]] = [r.rule for r in record.reasons]
    assert rules[stranger["event_id"]] == ["correction-unknown-original"]
    assert rules[of_refused["event_id"]] == ["correction-original-not-sent"]
    assert rules[m_of_m["event_id"]] == ["correction-of-correction"]
    assert [s for s, _, _ in chain_of(harness.built)] == [1, 2]


async def test_a_correction_that_overtakes_its_original_waits_for_it(world: DemoWorld) -> None:
    """The original's chunk is registered but not delivered yet (say, in a retry queue): the
    correction is not numbered before it, and goes once the original has been."""
    harness = Harness(world, max_events=3, delay_scale=0.01)
    await harness.start()
    try:
        await _overtaken(harness)
    finally:
        await harness.stop()


async def _overtaken(harness: Harness) -> None:
    original = event(harness.rng, "4601")
    replaced = correction(harness.rng, original, "M")
    original_chunk = await harness.chunk("bergen", [original])
    correction_chunk = await harness.chunk("bergen", [replaced])
    await harness.upstream.publish(
        EVENTS, correction_chunk.to_body(), message_id=str(correction_chunk.chunk_id)
    )
    async with asyncio.timeout(5):
        while not harness.bus_retried():
            await asyncio.sleep(0.01)
    assert harness.built == []
    await harness.publish(original_chunk)
    async with asyncio.timeout(10):
        while len(chain_of(harness.built)) < 2:  # in one message or two
            await asyncio.sleep(0.02)
    assert [(s, e) for s, e, _ in chain_of(harness.built)] == [
        (1, original["event_id"]),
        (2, replaced["event_id"]),
    ]


async def test_a_large_batch_is_split_to_stay_under_the_message_size(world: DemoWorld) -> None:
    harness = Harness(world, max_events=40, max_message_bytes=20_000)
    await harness.start()
    try:
        events = harness.events(40)
        await harness.accept("bergen", events)
    finally:
        await harness.stop()
    assert len(harness.built) > 1
    assert all(len(m.document) <= 20_000 for m in harness.built)
    assert [e for _, e, _ in chain_of(harness.built)] == [e["event_id"] for e in events]
    assert [s for s, _, _ in chain_of(harness.built)] == list(range(1, 41))
    for message in harness.built:
        record = await harness.ledger.get_message("bergen", str(message.msg_id))
        assert record is not None
        assert record.event_ids == [str(e) for e in message.event_ids]


async def test_numbering_continues_a_head_moved_by_someone_else(harness: Harness) -> None:
    """Another replica (or an earlier life of this one) committed first: the chain goes on
    from the ledger's head, never from a head remembered in memory."""
    await harness.accept("bergen", harness.events(1))
    await harness.accept("bergen", harness.events(1))
    assert [s for s, _, _ in chain_of(harness.built)] == [1, 2]
    [_, (_, last, _)] = chain_of(harness.built)
    assert (await harness.ledger.chain_head("bergen", "4601")).guid == uuid.UUID(last)


async def test_a_resend_carries_the_same_notifications_with_their_numbers(
    harness: Harness,
) -> None:
    await harness.accept("bergen", harness.events(2))
    [first] = harness.built
    for state in (MessageState.ENVELOPED, MessageState.DISPATCHED, MessageState.REJECTED):
        await harness.ledger.advance_message("bergen", str(first.msg_id), state, trace_id=None)
    new_msg_id = await harness.transform.resend("bergen", first.msg_id)
    await harness.broker.wait_settled()
    [_, again] = harness.built
    assert again.msg_id == new_msg_id != first.msg_id
    assert chain_of([again]) == chain_of([first])
    assert again.event_ids == first.event_ids
    record = await harness.ledger.get_message("bergen", str(new_msg_id))
    assert record is not None
    assert record.resend_of == str(first.msg_id)
    assert (await harness.ledger.verify_chain("bergen", "4601")).ok
    with pytest.raises(ResendRefusedError):  # the resend is in flight (built)
        await harness.transform.resend("bergen", new_msg_id)


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
    assert len(harness.built) == 2 * len(first)  # enveloped messages are not sent again


async def test_unknown_tenant_and_unknown_event_are_parked(harness: Harness) -> None:
    stray = EventChunk(
        tenant_id="nowhere",
        chunk_id=uuid.uuid4(),
        events=[
            AcceptedEvent(
                event_id=uuid.uuid4(),
                received_at=datetime.now(UTC),
                event=Notification.model_validate(harness.events(1)[0]),
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
                event=Notification.model_validate(e),
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
    assert len(harness.built) == 1
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
    harness.transform.serve_http()
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
            assert (await client.get("/metrics")).status_code == 404  # on the ops port
        await harness.broker.wait_settled()
        assert [m.msg_type for m in harness.built] == ["KPR_IPL"]
    finally:
        await harness.stop()


async def test_an_event_under_the_number_valid_before_a_reform_is_batched_apart(
    harness: Harness,
) -> None:
    """Trondheim (5001) reports an event of 2017 under 5001's predecessor number of that
    date; one KPR message carries one municipality number, and each number has its chain."""
    old = event(harness.rng, "1601", on=date(2017, 6, 15))
    current = event(harness.rng, "5001")
    await harness.accept("trondheim", [old, current])
    numbers = sorted(melding_of(m).header.municipality_numbers[0] for m in harness.built)
    assert numbers == ["1601", "5001"]
    assert [s for s, _, _ in chain_of(harness.built)] == [1, 1]


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
    [ipl] = harness.built
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
    listed_event = Notification.model_validate(event(rng, "4601", person=listed))
    other_event = Notification.model_validate(event(rng, "4601"))
    assert transform._rules.check(listed_event, bergen).state is (EventState.SUPPRESSED_TEST_PERSON)
    assert transform._rules.check(other_event, bergen).state is None

    (tmp_path / "test-persons.txt").write_text("not-an-id\n")
    with pytest.raises(TenantFileError, match="tenant bergen: test_persons_file"):
        build(context, TransformSettings(tenants_file=tenants_file))


async def test_chunks_wait_unparsed_while_the_events_held_reach_the_bound(
    world: DemoWorld,
) -> None:
    """Prefetch lets many chunks in; only about max_events_held events are parsed and held
    at a time (a chunk is admitted while fewer are held), and every chunk still goes through."""
    harness = Harness(world, max_events=100, max_events_held=3)
    harness.transform._batcher._max_age = 3600  # only the bound's own flush can send them
    seen: list[int] = []
    handle = harness.transform._handle

    async def observed(chunk: EventChunk) -> None:
        seen.append(harness.transform._held)
        await handle(chunk)

    harness.transform._handle = observed  # type: ignore[method-assign]
    await harness.start()
    try:
        chunks = [await harness.chunk("bergen", harness.events(2)) for _ in range(5)]
        for chunk in chunks:
            await harness.upstream.publish(EVENTS, chunk.to_body(), message_id=str(chunk.chunk_id))
        async with asyncio.timeout(10):  # four chunks pass by the bound's own flushes
            while len(chain_of(harness.built)) < 8:
                await asyncio.sleep(0.01)
        await harness.transform.flush()  # the last one is under the bound: max age or this
        await harness.broker.wait_settled()
    finally:
        await harness.stop()
    assert len(seen) == 5
    assert max(seen) <= 3 + 2  # under the bound when admitted, plus the chunk itself
    assert [s for s, _, _ in chain_of(harness.built)] == list(range(1, 11))
