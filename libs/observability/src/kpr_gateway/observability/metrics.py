"""Prometheus metrics for a service: its own registry, the common handler metrics, exposition.

Labels must come from small, known sets: tenant id, queue, outcome, message type, status
code. Never a national id, name, event id or message id (unbounded, and personal data for
the first two); those belong in logs and spans, which are redacted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Final, Literal, get_args

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder
from prometheus_client.gc_collector import GCCollector
from prometheus_client.metrics_core import Metric
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from kpr_gateway.observability.errors import ConfigurationError

NAMESPACE: Final = "kprgw"
HandlerOutcome = Literal["ack", "retry", "park"]
HANDLER_OUTCOMES: Final[tuple[str, ...]] = get_args(HandlerOutcome)
# From sub-millisecond in-memory handlers to the slowest expected (a confirmed publish plus
# a Redis round trip under load, a large batch build).
HANDLER_BUCKETS: Final = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip
_SUBSYSTEM = re.compile(r"[a-z][a-z0-9_]*")

Registries = CollectorRegistry | Sequence[CollectorRegistry]


def service_registry(service_name: str, *, process_metrics: bool = True) -> CollectorRegistry:
    """A fresh registry for one service, with ``target_info{service=...}`` and process metrics."""
    registry = CollectorRegistry(target_info={"service": service_name})
    if process_metrics:
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
    return registry


class ServiceMetrics:
    """The metrics every pipeline service has, plus factories for its own.

    Common: ``kprgw_handled_total{queue,outcome}`` and ``kprgw_handler_seconds{queue}``.
    Own metrics are named ``kprgw_<service>_<name>`` so that services sharing one process
    (the embedded mode) can be exposed together without clashes.
    """

    def __init__(self, service_name: str, *, registry: CollectorRegistry | None = None) -> None:
        subsystem = service_name.replace("-", "_").lower()
        if _SUBSYSTEM.fullmatch(subsystem) is None:
            raise ConfigurationError(
                f"service name {service_name!r} cannot be a metric name part"
                " (letters, digits, '-' and '_', starting with a letter)"
            )
        self.service_name = service_name
        self._subsystem = subsystem
        self.registry = registry if registry is not None else service_registry(service_name)
        self.handled_total = Counter(
            "handled",
            "Internal messages handled, by queue and outcome (ack, retry, park).",
            ("queue", "outcome"),
            namespace=NAMESPACE,
            registry=self.registry,
        )
        self.handler_seconds = Histogram(
            "handler_seconds",
            "Time spent in a queue's handler, whatever its outcome.",
            ("queue",),
            namespace=NAMESPACE,
            buckets=HANDLER_BUCKETS,
            registry=self.registry,
        )

    def record_handled(self, queue: str, outcome: HandlerOutcome, seconds: float) -> None:
        """Count one handled delivery and observe how long its handler took."""
        if outcome not in HANDLER_OUTCOMES:
            raise ConfigurationError(f"unknown handler outcome {outcome!r}")
        self.handled_total.labels(queue=queue, outcome=outcome).inc()
        self.handler_seconds.labels(queue=queue).observe(seconds)

    def counter(self, name: str, documentation: str, labelnames: Sequence[str] = ()) -> Counter:
        """A counter ``kprgw_<service>_<name>_total`` in this service's registry."""
        return Counter(
            name,
            documentation,
            labelnames,
            namespace=NAMESPACE,
            subsystem=self._subsystem,
            registry=self.registry,
        )

    def gauge(self, name: str, documentation: str, labelnames: Sequence[str] = ()) -> Gauge:
        """A gauge ``kprgw_<service>_<name>`` in this service's registry."""
        return Gauge(
            name,
            documentation,
            labelnames,
            namespace=NAMESPACE,
            subsystem=self._subsystem,
            registry=self.registry,
        )

    def histogram(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str] = (),
        buckets: Sequence[float] = HANDLER_BUCKETS,
    ) -> Histogram:
        """A histogram ``kprgw_<service>_<name>`` in this service's registry."""
        return Histogram(
            name,
            documentation,
            labelnames,
            namespace=NAMESPACE,
            subsystem=self._subsystem,
            buckets=buckets,
            registry=self.registry,
        )


def exposition(registries: Registries, accept: str = "") -> tuple[bytes, str]:
    """Render ``registries`` for a scrape: the body and its content type.

    ``accept`` is the scraper's Accept header; OpenMetrics is chosen when it asks for it.
    Several registries (services sharing a process) are merged into one exposition.
    """
    encoder, content_type = choose_encoder(accept)
    return encoder(_as_collector(registries)), content_type


def _as_collector(registries: Registries) -> Collector:
    if isinstance(registries, CollectorRegistry):
        return registries
    if len(registries) == 1:
        return registries[0]
    return _MergedRegistries(registries)


class _MergedRegistries(Collector):
    """Families of the same name from several registries become one family.

    The exposition formats allow each family once; a series present in more than one
    registry (the process metrics of services in one process) is written once.
    """

    def __init__(self, registries: Iterable[CollectorRegistry]) -> None:
        self._registries = tuple(registries)

    def collect(self) -> Iterable[Metric]:
        families: dict[str, Metric] = {}
        seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
        for registry in self._registries:
            for family in registry.collect():
                merged = families.get(family.name)
                if merged is None:
                    merged = Metric(family.name, family.documentation, family.type, family.unit)
                    families[family.name] = merged
                for sample in family.samples:
                    key = (sample.name, tuple(sorted(sample.labels.items())))
                    if key not in seen:
                        seen.add(key)
                        merged.samples.append(sample)
        return list(families.values())
