"""Exceptions of kpr_gateway.observability; all derive from ``ObservabilityError``."""

from __future__ import annotations


class ObservabilityError(Exception):
    """Root of every error raised by kpr_gateway.observability."""


class ConfigurationError(ObservabilityError):
    """Tracing, logging or metrics were asked for in a way this library does not support."""


class HealthServerError(ObservabilityError):
    """The health/metrics HTTP server could not bind its address or did not start."""
