"""OpenTelemetry tracing set-up for a service, configured by the standard ``OTEL_*`` variables.

Exporters, each behind ``RedactingSpanExporter``:

- OTLP over HTTP/protobuf when ``OTEL_EXPORTER_OTLP_ENDPOINT`` or
  ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` is set, or ``OTEL_TRACES_EXPORTER`` names ``otlp``
  (endpoint, headers, timeout, compression and TLS files come from the usual variables;
  batching from ``OTEL_BSP_*``). ``OTEL_TRACES_EXPORTER=none`` turns it off.
- the console (stdout, one JSON document per span) when asked, or ``KPRGW_TRACES_CONSOLE=1``
  or ``OTEL_TRACES_EXPORTER`` names ``console``.
- an exporter passed in by the caller (tests, the embedded mode), exported synchronously.

``OTEL_SDK_DISABLED=true`` gives a provider whose tracers record nothing. ``OTEL_SERVICE_NAME``
and ``OTEL_RESOURCE_ATTRIBUTES`` are honoured; the former wins over ``service_name``.
"""

from __future__ import annotations

import os
import sys

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from kpr_gateway.observability.errors import ConfigurationError
from kpr_gateway.observability.span_redaction import RedactingSpanExporter

# W3C trace context on its own, whatever OTEL_PROPAGATORS configures for the headers.
_W3C = TraceContextTextMapPropagator()

_TRUE = frozenset({"1", "true", "yes", "on"})
_KNOWN_EXPORTERS = frozenset({"otlp", "console", "none"})
_SUPPORTED_PROTOCOL = "http/protobuf"


def setup_tracing(
    service_name: str,
    *,
    console: bool = False,
    exporter: SpanExporter | None = None,
    set_global: bool = True,
) -> TracerProvider:
    """Build the service's ``TracerProvider`` and (unless ``set_global=False``) install it.

    OpenTelemetry lets the global provider be set only once per process, so tests pass
    ``set_global=False`` and take tracers from the returned provider. Callers shut the
    provider down on exit (that flushes batched spans); see ``shutdown`` for the order.
    """
    provider = TracerProvider(resource=_resource(service_name))
    if not _sdk_disabled():
        for processor in _processors(console=console, exporter=exporter):
            provider.add_span_processor(processor)
    if set_global:
        trace.set_tracer_provider(provider)
    return provider


def current_trace_id() -> str | None:
    """The current span's trace id as 32 lower-case hex characters, or None outside a span."""
    context = trace.get_current_span().get_span_context()
    return trace.format_trace_id(context.trace_id) if context.is_valid else None


def current_span_id() -> str | None:
    """The current span's id as 16 lower-case hex characters, or None outside a span."""
    context = trace.get_current_span().get_span_context()
    return trace.format_span_id(context.span_id) if context.is_valid else None


def current_traceparent() -> str | None:
    """The current span as a W3C ``traceparent``, or None outside a span."""
    carrier: dict[str, str] = {}
    _W3C.inject(carrier)
    return carrier.get("traceparent")


def span_context_of(traceparent: str) -> trace.SpanContext | None:
    """The remote span a W3C ``traceparent`` names, or None if it names none."""
    context = trace.get_current_span(_W3C.extract({"traceparent": traceparent}))
    span = context.get_span_context()
    return span if span.is_valid else None


def _resource(service_name: str) -> Resource:
    # Resource.create reads OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME; what we pass wins,
    # so the service name is passed only when the operator has not set one.
    attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: service_name}
    return Resource.create(attributes)


def _sdk_disabled() -> bool:
    return os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"


def _processors(*, console: bool, exporter: SpanExporter | None) -> list[SpanProcessor]:
    names = _exporter_names()
    if console or os.environ.get("KPRGW_TRACES_CONSOLE", "").strip().lower() in _TRUE:
        names.add("console")
    processors: list[SpanProcessor] = []
    if "otlp" in names:
        _check_otlp_protocol()
        # Network export runs on the batch processor's thread, off the request path.
        processors.append(BatchSpanProcessor(RedactingSpanExporter(OTLPSpanExporter())))
    if "console" in names:
        # Looked up now, not at import, so a redirected stdout (tests, the demo) is honoured.
        console_exporter = ConsoleSpanExporter(out=sys.stdout)
        processors.append(SimpleSpanProcessor(RedactingSpanExporter(console_exporter)))
    if exporter is not None:
        processors.append(SimpleSpanProcessor(RedactingSpanExporter(exporter)))
    return processors


def _exporter_names() -> set[str]:
    configured = os.environ.get("OTEL_TRACES_EXPORTER")
    if configured is None or not configured.strip():
        endpoint_set = any(
            os.environ.get(variable, "").strip()
            for variable in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        )
        return {"otlp"} if endpoint_set else set()
    names = {name.strip().lower() for name in configured.split(",") if name.strip()}
    unknown = names - _KNOWN_EXPORTERS
    if unknown:
        raise ConfigurationError(
            f"OTEL_TRACES_EXPORTER names unsupported exporters {sorted(unknown)};"
            f" supported: {sorted(_KNOWN_EXPORTERS)}"
        )
    return set() if "none" in names else names


def _check_otlp_protocol() -> None:
    for variable in ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"):
        protocol = os.environ.get(variable, "").strip()
        if protocol:
            if protocol != _SUPPORTED_PROTOCOL:
                raise ConfigurationError(
                    f"{variable}={protocol!r} is not supported; use {_SUPPORTED_PROTOCOL!r}"
                )
            return
