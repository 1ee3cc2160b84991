"""kpr_gateway.observability: tracing, redaction of personal data, structured logs, Prometheus
metrics, health endpoints and graceful shutdown for the gateway's services."""

from kpr_gateway.observability.errors import (
    ConfigurationError,
    HealthServerError,
    ObservabilityError,
)
from kpr_gateway.observability.health import (
    DrainState,
    ExternalSystems,
    Readiness,
    health_app,
    health_routes,
    readiness_checks,
)
from kpr_gateway.observability.health_server import HealthServer
from kpr_gateway.observability.log_redaction import RedactingLogFilter
from kpr_gateway.observability.logging import JsonLogFormatter, setup_logging
from kpr_gateway.observability.metrics import (
    HandlerOutcome,
    ServiceMetrics,
    exposition,
    service_registry,
)
from kpr_gateway.observability.redaction import REDACTED_ID, redact, redact_value
from kpr_gateway.observability.shutdown import GracefulShutdown
from kpr_gateway.observability.span_redaction import RedactingSpanExporter, redacted_span
from kpr_gateway.observability.tracing import current_span_id, current_trace_id, setup_tracing

__all__ = [
    "REDACTED_ID",
    "ConfigurationError",
    "DrainState",
    "ExternalSystems",
    "GracefulShutdown",
    "HandlerOutcome",
    "HealthServer",
    "HealthServerError",
    "JsonLogFormatter",
    "ObservabilityError",
    "Readiness",
    "RedactingLogFilter",
    "RedactingSpanExporter",
    "ServiceMetrics",
    "current_span_id",
    "current_trace_id",
    "exposition",
    "health_app",
    "health_routes",
    "readiness_checks",
    "redact",
    "redact_value",
    "redacted_span",
    "service_registry",
    "setup_logging",
    "setup_tracing",
]
