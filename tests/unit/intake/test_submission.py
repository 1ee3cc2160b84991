"""Group commit: concurrent submissions share one registration, publish and update per tenant,
and each request still gets its own answer only after its events are confirmed."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fakeredis import FakeAsyncRedis
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from kpr_gateway.cli.demo.samples import event
from kpr_gateway.intake.errors import UnavailableError
from kpr_gateway.intake.submission import Accepted, Conflicting, Submitter
from kpr_gateway.ledger import EventState, Ledger
from kpr_gateway.messages.iplos_kpr import Notification
from kpr_gateway.pipeline import EVENTS, Delivery, MemoryBroker, MemoryBus, PublishError
from kpr_gateway.pipeline.contracts import EventChunk


class CountingBus(MemoryBus):
    """The in-memory bus, counting publishes; it can refuse them, or hold them until released."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.publishes = 0
        self.refuse = False
        self.gate = asyncio.Event()
        self.gate.set()

    async def publish(
        self, queue: str, body: bytes, *, message_id: str, headers: Any = None
    ) -> None:
        self.publishes += 1
        await self.gate.wait()
        if self.refuse:
            raise PublishError("broker did not confirm (test)")
        await super().publish(queue, body, message_id=message_id, headers=headers)


class Harness:
    def __init__(self, submitter: Submitter, bus: CountingBus, ledger: Ledger) -> None:
        self.submitter = submitter
        self.bus = bus
        self.ledger = ledger
        self.chunks: list[EventChunk] = []

    async def record(self, delivery: Delivery) -> None:
        self.chunks.append(EventChunk.from_body(delivery.body))


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    broker = MemoryBroker(delay_scale=0)
    bus = CountingBus(service_name="intake", broker=broker)
    consumer = MemoryBus(service_name="transform", broker=broker)
    ledger = Ledger(FakeAsyncRedis())
    result = Harness(Submitter(ledger, bus, chunk_events=50, max_groups=1), bus, ledger)
    consumer.subscribe(EVENTS, result.record)
    await bus.start()
    await consumer.start()
    yield result
    await consumer.stop()
    await bus.stop()


def events(count: int, seed: int) -> list[Notification]:
    rng = random.Random(seed)
    return [Notification.model_validate(event(rng, "4601")) for _ in range(count)]


def trace(number: int) -> str:
    return f"{number:032x}"


async def test_requests_arriving_during_a_commit_are_committed_together(
    harness: Harness,
) -> None:
    singles = events(12, seed=1)
    harness.bus.gate.clear()  # the first request's publish waits: the others queue up
    first = asyncio.create_task(harness.submitter.submit("bergen", singles[:1], trace_id=trace(1)))
    await asyncio.sleep(0.01)
    rest = [
        asyncio.create_task(
            harness.submitter.submit(
                "bergen",
                [single],
                trace_id=trace(n),
                traceparent=f"00-{trace(n)}-{n:016x}-01",
            )
        )
        for n, single in enumerate(singles[1:], start=2)
    ]
    await asyncio.sleep(0.01)
    assert not any(task.done() for task in rest)  # nobody is answered before the confirm
    harness.bus.gate.set()
    answers = [await first, *[await task for task in rest]]

    assert harness.bus.publishes == 2  # the first alone, then the eleven that waited
    assert [[o.event_id for o in answer] for answer in answers] == [
        [str(e.event_id)] for e in singles
    ]
    assert all(isinstance(o, Accepted) and not o.repeat for a in answers for o in a)
    await harness.bus.wait_settled()
    grouped = harness.chunks[1]
    assert len(grouped.events) == 11
    for n, accepted in enumerate(grouped.events, start=2):
        # each event keeps the trace of its own request, in the chunk and in the ledger
        assert (accepted.trace_id, accepted.traceparent) == (trace(n), f"00-{trace(n)}-{n:016x}-01")
        record = await harness.ledger.get_event("bergen", str(accepted.event_id))
        assert record is not None
        assert (record.trace_id, record.history[0].trace_id) == (trace(n), trace(n))
        assert (record.state, record.accepted) == (EventState.RECEIVED, True)


async def test_a_group_keeps_tenants_apart_and_answers_repeats_and_conflicts(
    harness: Harness,
) -> None:
    bergen, trondheim = events(1, seed=2), events(1, seed=3)
    other_content = [bergen[0].model_copy(update={"service_id": "TJ-CHANGED"})]
    harness.bus.gate.clear()
    blocker = asyncio.create_task(
        harness.submitter.submit("bergen", events(1, 4), trace_id=trace(9))
    )
    await asyncio.sleep(0.01)
    tasks = [
        asyncio.create_task(harness.submitter.submit(tenant, batch, trace_id=trace(n)))
        for n, (tenant, batch) in enumerate(
            [
                ("bergen", bergen),
                ("trondheim", trondheim),
                ("bergen", bergen),
                ("bergen", other_content),
            ]
        )
    ]
    await asyncio.sleep(0.01)
    harness.bus.gate.set()
    await blocker
    first, other_tenant, repeat, conflict = [await task for task in tasks]

    assert isinstance(first[0], Accepted)
    assert not first[0].repeat
    assert isinstance(other_tenant[0], Accepted)
    assert isinstance(repeat[0], Accepted)
    assert repeat[0].repeat
    assert isinstance(conflict[0], Conflicting)
    await harness.bus.wait_settled()
    by_tenant = {(c.tenant_id, tuple(str(e.event_id) for e in c.events)) for c in harness.chunks}
    # published once per tenant for the group, the repeated event once
    assert ("bergen", (str(bergen[0].event_id),)) in by_tenant
    assert ("trondheim", (str(trondheim[0].event_id),)) in by_tenant
    assert len(harness.chunks) == 3


async def test_a_refused_publish_answers_every_request_of_the_group_503(
    harness: Harness,
) -> None:
    singles = events(4, seed=5)
    harness.bus.gate.clear()
    harness.bus.refuse = True
    tasks = [
        asyncio.create_task(harness.submitter.submit("bergen", [e], trace_id=trace(n)))
        for n, e in enumerate(singles)
    ]
    await asyncio.sleep(0.01)
    harness.bus.gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, UnavailableError) for r in results)
    assert len({id(r) for r in results}) == len(results)  # each request its own error
    for single in singles:
        record = await harness.ledger.get_event("bergen", str(single.event_id))
        assert record is not None
        assert not record.accepted

    harness.bus.refuse = False
    again = await harness.submitter.submit("bergen", singles, trace_id=trace(7))
    assert all(isinstance(o, Accepted) and o.repeat for o in again)


async def test_a_request_that_goes_away_does_not_stop_its_group(harness: Harness) -> None:
    gone, stays = events(2, seed=6)
    harness.bus.gate.clear()
    blocker = asyncio.create_task(
        harness.submitter.submit("bergen", events(1, 7), trace_id=trace(1))
    )
    await asyncio.sleep(0.01)
    leaving = asyncio.create_task(harness.submitter.submit("bergen", [gone], trace_id=trace(2)))
    staying = asyncio.create_task(harness.submitter.submit("bergen", [stays], trace_id=trace(3)))
    await asyncio.sleep(0.01)
    leaving.cancel()
    harness.bus.gate.set()
    await blocker
    assert isinstance((await staying)[0], Accepted)
    with pytest.raises(asyncio.CancelledError):
        await leaving
    for single in (gone, stays):
        record = await harness.ledger.get_event("bergen", str(single.event_id))
        assert record is not None
        assert record.accepted


async def test_a_submission_of_a_whole_chunk_is_committed_on_its_own(harness: Harness) -> None:
    big = events(120, seed=8)
    outcomes = await harness.submitter.submit("bergen", big, trace_id=trace(1))
    assert len(outcomes) == 120
    assert harness.bus.publishes == 3  # chunks of at most 50 events
    await harness.bus.wait_settled()
    assert [len(c.events) for c in harness.chunks] == [50, 50, 20]


class FailingLedger(Ledger):
    """The real ledger, with one tenant whose registration fails unforeseen."""

    async def register_events(self, tenant_id: str, *args: Any, **kwargs: Any) -> Any:
        if tenant_id == "trondheim":
            raise RuntimeError("unforeseen")
        return await super().register_events(tenant_id, *args, **kwargs)


async def test_an_unforeseen_failure_of_one_tenant_answers_503_and_spares_the_other(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker = MemoryBroker(delay_scale=0)
    bus = CountingBus(service_name="intake", broker=broker)
    await bus.start()
    submitter = Submitter(FailingLedger(FakeAsyncRedis()), bus, chunk_events=50, max_groups=1)
    bus.gate.clear()
    blocker = asyncio.create_task(submitter.submit("bergen", events(1, 9), trace_id=trace(1)))
    await asyncio.sleep(0.01)
    bergen = asyncio.create_task(submitter.submit("bergen", events(1, 10), trace_id=trace(2)))
    trondheim = asyncio.create_task(submitter.submit("trondheim", events(1, 11), trace_id=trace(3)))
    await asyncio.sleep(0.01)
    bus.gate.set()
    await blocker
    assert isinstance((await bergen)[0], Accepted)
    with pytest.raises(UnavailableError, match="could not be committed"):
        await trondheim
    assert "committing submissions failed: RuntimeError" in caplog.text
    await bus.stop()


async def test_the_group_span_continues_the_first_request_and_links_the_others() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    broker = MemoryBroker(delay_scale=0)
    bus = CountingBus(service_name="intake", broker=broker)
    await bus.start()
    submitter = Submitter(
        Ledger(FakeAsyncRedis()), bus, chunk_events=50, max_groups=1, tracer_provider=provider
    )
    parents = [f"00-{trace(n)}-{n:016x}-01" for n in range(1, 4)]
    bus.gate.clear()
    blocker = asyncio.create_task(submitter.submit("bergen", events(1, 12), trace_id=trace(9)))
    await asyncio.sleep(0.01)
    grouped = [
        asyncio.create_task(
            submitter.submit("bergen", [e], trace_id=trace(n), traceparent=parents[n - 1])
        )
        for n, e in enumerate(events(3, 13), start=1)
    ]
    await asyncio.sleep(0.01)
    bus.gate.set()
    await blocker
    await asyncio.gather(*grouped)
    await bus.stop()
    spans = [s for s in exporter.get_finished_spans() if s.name == "commit submissions"]
    alone, group = spans
    assert alone.parent is None  # no traceparent given: a root of its own, no stray parent
    assert group.parent is not None
    assert group.context is not None
    assert (group.context.trace_id, group.parent.span_id) == (int(trace(1), 16), 1)
    assert {(k.context.trace_id, k.context.span_id) for k in group.links} == {
        (int(trace(2), 16), 2),
        (int(trace(3), 16), 3),
    }
