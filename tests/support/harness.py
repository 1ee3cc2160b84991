"""What a unit test of a service on the in-memory bus holds: the shared broker, a producer
bus of the test's own beside the service, and the service's metrics."""

from __future__ import annotations

from dataclasses import dataclass

from kpr_gateway.observability import ServiceMetrics
from kpr_gateway.pipeline import MemoryBroker, MemoryBus


@dataclass
class MemoryHarness:
    broker: MemoryBroker
    producer: MemoryBus
    metrics: ServiceMetrics

    def value(self, name: str, labels: dict[str, str] | None = None) -> float | None:
        """A sample of the service's metrics; None when it was never recorded."""
        return self.metrics.registry.get_sample_value(name, labels or {})
