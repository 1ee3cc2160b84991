"""Trace context travels with the message: one trace from publisher to handler and retries."""

from __future__ import annotations

import asyncio

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode, format_trace_id

from kpr_gateway.pipeline import EVENTS, Delivery, MemoryBroker, MemoryBus, TransientError
from kpr_gateway.pipeline.tracing import extract_context, inject_context

BODY = b'{"national_id": "01017012345"}'


def by_name(spans: tuple[ReadableSpan, ...], name: str) -> list[ReadableSpan]:
    return [span for span in spans if span.name == name]


def test_inject_then_extract_gives_the_same_span_context(tracer_provider: TracerProvider) -> None:
    tracer = tracer_provider.get_tracer("test")
    headers: dict[str, str] = {}
    with tracer.start_as_current_span("request") as span:
        inject_context(headers)
    assert headers["traceparent"].split("-")[1] == format_trace_id(span.get_span_context().trace_id)
    remote = trace.get_current_span(extract_context(headers)).get_span_context()
    assert remote.trace_id == span.get_span_context().trace_id
    assert remote.span_id == span.get_span_context().span_id
    assert remote.is_remote


def test_no_context_injects_nothing() -> None:
    headers: dict[str, str] = {}
    inject_context(headers)
    assert "traceparent" not in headers


async def _run(bus: MemoryBus, tracer_provider: TracerProvider) -> None:
    await bus.start()
    with tracer_provider.get_tracer("test").start_as_current_span("POST /v1/events"):
        await bus.publish(EVENTS, BODY, message_id="m-1")
    await asyncio.wait_for(bus.wait_settled(), timeout=5)
    await bus.stop()


async def test_handler_runs_in_a_consumer_span_child_of_the_publisher(
    tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter
) -> None:
    bus = MemoryBus(service_name="transform", tracer_provider=tracer_provider)
    seen: list[int] = []

    async def handler(delivery: Delivery) -> None:
        seen.append(trace.get_current_span().get_span_context().span_id)

    bus.subscribe(EVENTS, handler)
    await _run(bus, tracer_provider)

    spans = span_exporter.get_finished_spans()
    [request] = by_name(spans, "POST /v1/events")
    [publish] = by_name(spans, "events publish")
    [process] = by_name(spans, "events process")
    assert publish.kind is SpanKind.PRODUCER
    assert process.kind is SpanKind.CONSUMER
    assert publish.parent is not None
    assert publish.parent.span_id == request.context.span_id
    assert process.parent is not None
    assert process.parent.span_id == publish.context.span_id
    assert {s.context.trace_id for s in (request, publish, process)} == {request.context.trace_id}
    assert seen == [process.context.span_id]
    assert process.attributes is not None
    assert process.attributes["messaging.system"] == "memory"
    assert process.attributes["messaging.destination.name"] == EVENTS
    assert process.attributes["messaging.message.id"] == "m-1"
    assert process.attributes["kpr_gateway.outcome"] == "ack"
    for span in spans:
        for value in (span.attributes or {}).values():
            assert "01017012345" not in str(value)


async def test_retries_stay_in_the_same_trace(
    tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter
) -> None:
    bus = MemoryBus(
        service_name="transform",
        broker=MemoryBroker(queues=[EVENTS], retry_delays=(1.0,), delay_scale=0.001),
        tracer_provider=tracer_provider,
    )

    async def flaky(delivery: Delivery) -> None:
        if delivery.attempt == 1:
            raise TransientError("ledger unavailable")

    bus.subscribe(EVENTS, flaky)
    await _run(bus, tracer_provider)

    spans = span_exporter.get_finished_spans()
    first, second = sorted(by_name(spans, "events process"), key=lambda s: s.start_time or 0)
    [retry] = by_name(spans, "events.retry.1 publish")
    assert first.status.status_code is StatusCode.ERROR
    assert first.status.description == "ledger unavailable"
    assert first.attributes is not None
    assert first.attributes["kpr_gateway.outcome"] == "retry"
    assert retry.parent is not None
    assert retry.parent.span_id == first.context.span_id
    assert second.parent is not None
    assert second.parent.span_id == retry.context.span_id
    assert second.attributes is not None
    assert second.attributes["kpr_gateway.attempt"] == 2
    assert len({s.context.trace_id for s in spans}) == 1
    assert not first.events  # no exception event: its text could carry personal data


async def test_message_without_context_starts_a_new_trace(
    tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter
) -> None:
    bus = MemoryBus(service_name="transform", tracer_provider=tracer_provider)

    async def handler(_: Delivery) -> None:
        return None

    bus.subscribe(EVENTS, handler)
    await bus.start()
    await bus.publish(EVENTS, BODY, message_id="m-1")
    await asyncio.wait_for(bus.wait_settled(), timeout=5)
    await bus.stop()
    [publish] = by_name(span_exporter.get_finished_spans(), "events publish")
    [process] = by_name(span_exporter.get_finished_spans(), "events process")
    assert publish.parent is None
    assert process.parent is not None
    assert process.parent.span_id == publish.context.span_id
