from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanContext, Status, StatusCode, TraceFlags

from kpr_gateway.observability import (
    REDACTED_ID,
    RedactingSpanExporter,
    redacted_span,
    setup_tracing,
)

FNR = "01017012345"
OTHER_TRACE = SpanContext(
    trace_id=0x4BF92F3577B34DA6A3CE929D0E0E4736,
    span_id=0x00F067AA0BA902B7,
    is_remote=True,
    trace_flags=TraceFlags(TraceFlags.SAMPLED),
)


def finished_span(memory: InMemorySpanExporter) -> tuple[ReadableSpan, SpanContext]:
    provider = setup_tracing("test", exporter=memory, set_global=False)
    tracer = provider.get_tracer(__name__)
    with tracer.start_as_current_span("parent") as parent:
        with tracer.start_as_current_span(
            f"look up {FNR}",
            attributes={"person": FNR, "ids": [FNR, "x"], "tenant": "bergen", "events": 3},
            links=[Link(OTHER_TRACE, {"who": f"for {FNR}"})],
        ) as span:
            span.add_event(f"found {FNR}", {"detail": f"person {FNR}"})
            span.record_exception(ValueError(f"bad id {FNR}"))
            span.set_status(Status(StatusCode.ERROR, f"failed for {FNR}"))
        parent_context = parent.get_span_context()
    provider.shutdown()
    child = next(s for s in memory.get_finished_spans() if s.name != "parent")
    return child, parent_context


def test_exported_spans_carry_no_id_in_any_text() -> None:
    memory = InMemorySpanExporter()
    span, _ = finished_span(memory)
    dump = span.to_json()
    assert FNR not in dump
    assert span.name == f"look up {REDACTED_ID}"
    assert span.attributes is not None
    assert span.attributes["person"] == REDACTED_ID
    assert span.attributes["ids"] == (REDACTED_ID, "x")
    assert span.attributes["tenant"] == "bergen"
    assert span.attributes["events"] == 3
    found, exception = span.events
    assert found.name == f"found {REDACTED_ID}"
    assert found.attributes == {"detail": f"person {REDACTED_ID}"}
    assert exception.attributes is not None
    assert exception.attributes["exception.message"] == f"bad id {REDACTED_ID}"
    assert span.status.description == f"failed for {REDACTED_ID}"
    assert span.links[0].attributes == {"who": f"for {REDACTED_ID}"}


def test_ids_times_and_relations_are_kept() -> None:
    memory = InMemorySpanExporter()
    span, parent_context = finished_span(memory)
    context = span.get_span_context()
    assert context is not None
    assert span.parent is not None
    assert context.trace_id == parent_context.trace_id
    assert span.parent.span_id == parent_context.span_id
    assert span.links[0].context == OTHER_TRACE
    assert span.start_time is not None
    assert span.end_time is not None
    assert span.start_time <= span.end_time
    assert span.resource.attributes["service.name"] == "test"
    assert span.status.status_code is StatusCode.ERROR


def test_dropped_counts_survive_the_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "2")
    monkeypatch.setenv("OTEL_SPAN_EVENT_COUNT_LIMIT", "1")
    memory = InMemorySpanExporter()
    provider = setup_tracing("test", exporter=memory, set_global=False)
    with provider.get_tracer(__name__).start_as_current_span("s") as span:
        span.set_attributes({"a": 1, "b": 2, "c": FNR})
        span.add_event("one")
        span.add_event(f"two {FNR}")
    provider.shutdown()
    [exported] = memory.get_finished_spans()
    assert exported.dropped_attributes == 1
    assert exported.dropped_events == 1
    assert [event.name for event in exported.events] == [f"two {REDACTED_ID}"]


def test_a_span_without_ids_is_copied_equal() -> None:
    memory = InMemorySpanExporter()
    provider = setup_tracing("test", exporter=memory, set_global=False)
    with provider.get_tracer(__name__).start_as_current_span("plain", attributes={"n": 1}):
        pass
    provider.shutdown()
    [span] = memory.get_finished_spans()
    assert redacted_span(span).to_json() == span.to_json()


def test_the_wrapper_passes_flush_and_shutdown_through() -> None:
    memory = InMemorySpanExporter()
    wrapper = RedactingSpanExporter(memory)
    assert wrapper.inner is memory
    assert wrapper.force_flush(1000) is True
    wrapper.shutdown()
    assert wrapper.export([]) is SpanExportResult.FAILURE  # the in-memory exporter is shut
