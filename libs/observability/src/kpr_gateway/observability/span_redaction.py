"""Span export through redaction: names, attributes, events, links and status texts.

Why an exporter wrapper and not a span processor: a span handed to ``on_end`` is an
immutable ``ReadableSpan`` that every processor shares, and changing it would mean writing
to SDK internals. Wrapping the exporter instead gives each export a redacted copy, costs
nothing on the hot path when spans are batched (copies are made on the export thread), and
covers everything an exporter can send. ``setup_tracing`` puts every exporter behind it;
code that builds its own ``TracerProvider`` must wrap its exporters the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.util import BoundedList
from opentelemetry.trace import Link, Status
from opentelemetry.util.types import Attributes

from kpr_gateway.observability.redaction import redact, redact_value

_T = TypeVar("_T")


class RedactingSpanExporter(SpanExporter):
    """Exports redacted copies of the spans through ``inner``."""

    def __init__(self, inner: SpanExporter) -> None:
        self._inner = inner

    @property
    def inner(self) -> SpanExporter:
        return self._inner

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self._inner.export([redacted_span(span) for span in spans])

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)


def redacted_span(span: ReadableSpan) -> ReadableSpan:
    """A copy of ``span`` with every free text redacted; ids, times and counts unchanged."""
    status = span.status
    if status.description:
        status = Status(status.status_code, redact(status.description))
    events = [
        Event(
            redact(event.name),
            _redacted_attributes(event.attributes, _dropped(event.attributes)),
            event.timestamp,
        )
        for event in span.events
    ]
    links = [
        Link(link.context, _redacted_attributes(link.attributes, _dropped(link.attributes)))
        for link in span.links
    ]
    return ReadableSpan(
        name=redact(span.name),
        context=span.get_span_context(),
        parent=span.parent,
        resource=span.resource,
        attributes=_redacted_attributes(span.attributes, span.dropped_attributes),
        events=_bounded(events, span.dropped_events),
        links=_bounded(links, span.dropped_links),
        kind=span.kind,
        status=status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def _dropped(attributes: Attributes) -> int:
    return attributes.dropped if isinstance(attributes, BoundedAttributes) else 0


def _redacted_attributes(attributes: Attributes, dropped: int) -> BoundedAttributes | None:
    if attributes is None:
        return None
    # Bounded like the original so exporters still report how many attributes were dropped.
    redacted = BoundedAttributes(
        attributes={key: redact_value(value) for key, value in attributes.items()},
        immutable=True,
    )
    redacted.dropped = dropped
    return redacted


def _bounded(items: Sequence[_T], dropped: int) -> BoundedList[_T]:
    bounded: BoundedList[_T] = BoundedList(None)
    bounded.extend(items)
    bounded.dropped = dropped
    return bounded
