"""W3C trace context in message headers, and the spans around publish and process.

Only the OpenTelemetry API is used: the SDK and exporters are set up by the service (or a
test passes its own ``TracerProvider``). Span attributes name the queue and the message id,
never body content; failures set an error status with our own reason, never an exception
text or stack trace (those may quote personal data).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind, Status, StatusCode

from kpr_gateway.pipeline.delivery import Delivery

TRACER_NAME = "kpr_gateway.pipeline"
TRACE_HEADERS = ("traceparent", "tracestate")

SYSTEM_ATTRIBUTE = "messaging.system"
DESTINATION_ATTRIBUTE = "messaging.destination.name"
MESSAGE_ID_ATTRIBUTE = "messaging.message.id"
OPERATION_ATTRIBUTE = "messaging.operation.type"
ATTEMPT_ATTRIBUTE = "kpr_gateway.attempt"
OUTCOME_ATTRIBUTE = "kpr_gateway.outcome"


def pipeline_tracer(provider: trace.TracerProvider | None = None) -> trace.Tracer:
    """The bus's tracer: from ``provider`` when given, else from the global provider."""
    return trace.get_tracer(TRACER_NAME, tracer_provider=provider)


def inject_context(headers: MutableMapping[str, str], context: Context | None = None) -> None:
    """Write ``traceparent``/``tracestate`` for ``context`` (default: the current one)."""
    propagate.inject(headers, context=context)


def extract_context(headers: Mapping[str, str]) -> Context:
    """The remote context carried in ``headers`` (empty when there is none)."""
    return propagate.extract(dict(headers))


@contextmanager
def producer_span(
    tracer: trace.Tracer, *, system: str, queue: str, message_id: str
) -> Iterator[trace.Span]:
    """A PRODUCER span ``<queue> publish`` under the current context."""
    with tracer.start_as_current_span(
        f"{queue} publish",
        kind=SpanKind.PRODUCER,
        attributes={
            SYSTEM_ATTRIBUTE: system,
            DESTINATION_ATTRIBUTE: queue,
            MESSAGE_ID_ATTRIBUTE: message_id,
            OPERATION_ATTRIBUTE: "send",
        },
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        yield span


@contextmanager
def consumer_span(tracer: trace.Tracer, delivery: Delivery, *, system: str) -> Iterator[trace.Span]:
    """A CONSUMER span ``<queue> process``, child of the context the publisher injected."""
    with tracer.start_as_current_span(
        f"{delivery.queue} process",
        context=extract_context(delivery.headers),
        kind=SpanKind.CONSUMER,
        attributes={
            SYSTEM_ATTRIBUTE: system,
            DESTINATION_ATTRIBUTE: delivery.queue,
            MESSAGE_ID_ATTRIBUTE: delivery.message_id,
            OPERATION_ATTRIBUTE: "process",
            ATTEMPT_ATTRIBUTE: delivery.attempt,
        },
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        yield span


def mark_failed(span: trace.Span, reason: str) -> None:
    """Error status with a reason written by our code (see ``outcome.describe``)."""
    span.set_status(Status(StatusCode.ERROR, reason))
