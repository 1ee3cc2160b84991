from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST as OPENMETRICS
from prometheus_client.parser import text_string_to_metric_families

from kpr_gateway.observability import (
    ConfigurationError,
    ServiceMetrics,
    exposition,
    service_registry,
)


def families(body: bytes) -> dict[str, list[tuple[str, dict[str, str], float]]]:
    return {
        family.name: [(s.name, s.labels, s.value) for s in family.samples]
        for family in text_string_to_metric_families(body.decode())
    }


def test_handled_counts_and_durations() -> None:
    metrics = ServiceMetrics("transform")
    metrics.record_handled("events", "ack", 0.004)
    metrics.record_handled("events", "ack", 0.002)
    metrics.record_handled("events", "park", 0.3)
    value = metrics.registry.get_sample_value
    assert value("kprgw_handled_total", {"queue": "events", "outcome": "ack"}) == 2
    assert value("kprgw_handled_total", {"queue": "events", "outcome": "park"}) == 1
    assert value("kprgw_handler_seconds_count", {"queue": "events"}) == 3
    assert value("kprgw_handler_seconds_bucket", {"queue": "events", "le": "0.005"}) == 2
    assert value("kprgw_handler_seconds_sum", {"queue": "events"}) == pytest.approx(0.306)


def test_exposition_is_prometheus_text_with_process_metrics() -> None:
    metrics = ServiceMetrics("envelope")
    metrics.record_handled("messages", "retry", 0.01)
    body, content_type = exposition(metrics.registry)
    assert content_type.startswith("text/plain")
    parsed = families(body)
    assert ("kprgw_handled_total", {"queue": "messages", "outcome": "retry"}, 1.0) in parsed[
        "kprgw_handled"
    ]
    assert ("target_info", {"service": "envelope"}, 1.0) in parsed["target_info"]
    assert "process_cpu_seconds" in parsed


def test_openmetrics_when_the_scraper_asks() -> None:
    metrics = ServiceMetrics("dispatch")
    body, content_type = exposition(metrics.registry, OPENMETRICS)
    assert content_type.startswith(OPENMETRICS)
    assert body.endswith(b"# EOF\n")


def test_own_metrics_are_named_after_the_service() -> None:
    metrics = ServiceMetrics("kpr-receipts")
    metrics.counter("unmatched", "AppRecs without a known message.", ("tenant",)).labels(
        tenant="bergen"
    ).inc()
    metrics.gauge("overdue", "Messages without an AppRec in time.", ("tenant",)).labels(
        tenant="bergen"
    ).set(4)
    metrics.histogram("open_seconds", "CMS open time.").observe(0.002)
    value = metrics.registry.get_sample_value
    assert value("kprgw_kpr_receipts_unmatched_total", {"tenant": "bergen"}) == 1
    assert value("kprgw_kpr_receipts_overdue", {"tenant": "bergen"}) == 4
    assert value("kprgw_kpr_receipts_open_seconds_count") == 1


def test_services_in_one_process_are_exposed_together() -> None:
    transform = ServiceMetrics("transform")
    envelope = ServiceMetrics("envelope")
    transform.record_handled("events", "ack", 0.001)
    envelope.record_handled("messages", "ack", 0.001)
    body, _ = exposition([transform.registry, envelope.registry])
    text = body.decode()
    assert text.count("# TYPE kprgw_handled_total counter") == 1
    assert text.count("# TYPE process_cpu_seconds_total counter") == 1
    parsed = families(body)
    handled = {
        (labels["queue"], value)
        for name, labels, value in parsed["kprgw_handled"]
        if name.endswith("_total")
    }
    assert handled == {("events", 1.0), ("messages", 1.0)}
    assert {labels["service"] for _, labels, _ in parsed["target_info"]} == {
        "transform",
        "envelope",
    }


def test_a_shared_registry_and_no_process_metrics() -> None:
    registry = service_registry("intake", process_metrics=False)
    metrics = ServiceMetrics("intake", registry=registry)
    assert metrics.registry is registry
    assert "process_cpu_seconds" not in families(exposition(registry)[0])
    assert isinstance(registry, CollectorRegistry)


def test_bad_service_names_and_outcomes_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="metric name"):
        ServiceMetrics("9lives")
    metrics = ServiceMetrics("intake")
    with pytest.raises(ConfigurationError, match="unknown handler outcome"):
        metrics.record_handled("events", "dropped", 0.1)  # type: ignore[arg-type]
