"""NetworkPolicies allow only DESIGN.md's flows; the metrics are scraped (on the ops port,
apart from the API) and alerted on; the intake Ingress publishes the API alone."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.unit.chart.rendering import (
    CHART_DIR,
    CI_VALUES_DIR,
    REPO_ROOT,
    SERVICES,
    Manifest,
    component,
    deployments,
    helm,
    named,
    of_kind,
    render,
)

FULL = ("full-values.yaml",)
BROKERS = {5671, 5672, 6379}
MONITORING = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
HELM_TEST = "test"  # the `helm test` pod's component; its policy is a test hook too


def policies(values: tuple[str, ...]) -> dict[str, Manifest]:
    return {component(p) or "": p for p in of_kind(render(values), "NetworkPolicy")}


def egress_ports(policy: Manifest) -> set[int]:
    return {port["port"] for rule in policy["spec"]["egress"] for port in rule["ports"]}


@pytest.mark.parametrize("values", [(), FULL])
def test_every_pod_is_isolated_both_ways(values: tuple[str, ...]) -> None:
    manifests = render(values)
    found = policies(values)
    assert set(found) == set(deployments(manifests)) | {HELM_TEST}
    del found[HELM_TEST]  # tests/unit/chart/test_helm_test.py
    for service, policy in found.items():
        assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
        selected = deployments(manifests)[service]["spec"]["selector"]["matchLabels"]
        assert policy["spec"]["podSelector"]["matchLabels"] == selected
        for rule in policy["spec"]["egress"] + policy["spec"]["ingress"]:
            assert rule["ports"], f"{service}: a rule without ports allows every port"


@pytest.mark.parametrize("values", [(), FULL])
def test_the_scraper_reaches_the_ops_port_only_and_only_from_the_monitoring_namespace(
    values: tuple[str, ...],
) -> None:
    for service, policy in policies(values).items():
        if service == HELM_TEST:
            continue
        scrape = [r for r in policy["spec"]["ingress"] if MONITORING in r.get("from", [])]
        assert scrape == [{"ports": [{"port": "ops", "protocol": "TCP"}], "from": [MONITORING]}]
        for rule in policy["spec"]["ingress"]:
            for peer in rule.get("from", []):
                assert peer.get("namespaceSelector") != {}, f"{service}: every namespace"


def test_no_metrics_scraper_is_admitted_when_metrics_from_is_empty() -> None:
    found = policies_with(("networkPolicy.metricsFrom=null",))
    for service, policy in found.items():
        peers = [peer for rule in policy["spec"]["ingress"] for peer in rule.get("from", [])]
        assert all("podSelector" in peer for peer in peers), service  # the helm test pod only
    assert len(found) == len(policies(()))


def policies_with(sets: tuple[str, ...]) -> dict[str, Manifest]:
    return {component(p) or "": p for p in of_kind(render((), sets), "NetworkPolicy")}


def test_only_intake_and_the_simulator_take_traffic_on_their_http_port() -> None:
    release = {"app.kubernetes.io/name": "kprgw", "app.kubernetes.io/instance": "kpr-gateway"}
    helm_test = release | {"app.kubernetes.io/component": HELM_TEST}
    for service, policy in policies(FULL).items():
        if service == HELM_TEST:
            continue
        rules = policy["spec"]["ingress"]
        ops = [
            r
            for r in rules
            if r.get("from") in ([MONITORING], [{"podSelector": {"matchLabels": helm_test}}])
        ]
        assert len(ops) == 2, service
        assert all(r["ports"] == [{"port": "ops", "protocol": "TCP"}] for r in ops)
        others = [r for r in rules if r not in ops]
        if service == "intake":
            [epj] = others
            assert epj["ports"] == [{"port": "http", "protocol": "TCP"}]
            assert {"ipBlock": {"cidr": "198.51.100.0/24"}} in epj["from"]
        elif service == "simulator":  # the Address Registry it plays, for the release's pods
            [registry] = others
            assert registry["from"] == [{"podSelector": {"matchLabels": release}}]
            assert registry["ports"] == [{"port": "http", "protocol": "TCP"}]
        else:
            assert others == [], service


def test_only_dispatch_and_receipts_reach_nhn() -> None:
    for service, policy in policies(FULL).items():
        nhn = [
            r
            for r in policy["spec"]["egress"]
            if r.get("to")
            == [{"ipBlock": {"cidr": "203.0.113.0/24", "except": ["203.0.113.128/25"]}}]
        ]
        assert bool(nhn) == (service in {"dispatch", "receipts"}), service


def test_egress_is_dns_the_brokers_nhn_the_registry_and_the_collector() -> None:
    for service, policy in policies(FULL).items():
        expected = {53, 4318, 443}  # DNS, OTLP and the extra rule of the full example
        if service == HELM_TEST:
            assert egress_ports(policy) == {53, 9090}  # DNS and the services' ops ports
            continue
        if service == "simulator":
            expected |= {5671}  # its own broker only
        else:
            expected |= {5671, 6379, 26379}
        if service in {"envelope", "dispatch", "receipts"}:
            expected |= {8443, 80}  # the Address Registry and its certificates' CRLs
        if service == "webhooks":
            expected |= {443, 8443}  # the EPJ systems' webhooks
        assert egress_ports(policy) == expected, service
    for service, policy in policies(()).items():
        if service == HELM_TEST:
            continue
        nhn = {5671} if service in {"dispatch", "receipts"} else set()
        webhooks = {443} if service == "webhooks" else set()
        assert egress_ports(policy) == {53} | BROKERS | nhn | webhooks, service


def test_network_policies_can_be_left_to_the_cluster() -> None:
    assert of_kind(render((), ("networkPolicy.enabled=false",)), "NetworkPolicy") == []


def test_pods_announce_their_metrics() -> None:
    for deployment in deployments(render()).values():
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/port"] == "9090"  # the ops port
        assert annotations["prometheus.io/path"] == "/metrics"


def test_the_service_monitor_scrapes_every_service() -> None:
    manifests = render(FULL)
    [monitor] = of_kind(manifests, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    selector = monitor["spec"]["selector"]["matchLabels"]
    selected = [
        s
        for s in of_kind(manifests, "Service")
        if selector.items() <= s["metadata"]["labels"].items()
    ]
    assert {component(s) for s in selected} == set(SERVICES)
    for service in selected:
        ports = {port["name"]: port for port in service["spec"]["ports"]}
        assert ports["ops"]["targetPort"] == "ops"
    assert monitor["spec"]["endpoints"] == [
        {"port": "ops", "path": "/metrics", "interval": "15s", "scrapeTimeout": "5s"}
    ]
    assert of_kind(render(), "ServiceMonitor") == []


def metric_is_defined(metric: str) -> bool:
    """Whether a ``kprgw_*`` metric is made somewhere in the services or libraries."""
    if metric == "kprgw_handled_total":
        source = (
            REPO_ROOT / "libs/observability/src/kpr_gateway/observability/metrics.py"
        ).read_text()
        return '"handled",' in source
    if metric == "kprgw_external_up":
        source = (
            REPO_ROOT / "libs/observability/src/kpr_gateway/observability/health.py"
        ).read_text()
        return '"external_up",' in source
    match = re.fullmatch(r"kprgw_([a-z]+)_([a-z_]+?)(_total)?", metric)
    assert match, metric
    service, name, total = match.groups()
    kind = "counter" if total else "gauge"
    code = "\n".join(
        p.read_text() for p in (REPO_ROOT / "services" / service / "src").rglob("*.py")
    )
    return re.search(rf'metrics\.{kind}\(\s*"{name}"', code) is not None


def test_alerts_cover_overdue_parked_certificates_and_dispatch() -> None:
    [rule] = of_kind(render(FULL), "PrometheusRule")
    alerts = {a["alert"]: a for group in rule["spec"]["groups"] for a in group["rules"]}
    assert set(alerts) == {
        "KprGatewayAppRecOverdue",
        "KprGatewayMessagesParked",
        "KprGatewayNhnMessagesParked",
        "KprGatewayCertificateExpiring",
        "KprGatewayDispatchFailing",
        "KprGatewayExternalDown",
        "KprGatewayReceiptsBacklog",
        "KprGatewayReceiptsBacklogUnknown",
        "KprGatewayWebhookFailing",
    }
    assert alerts["KprGatewayReceiptsBacklog"]["for"] == "20m"
    assert alerts["KprGatewayExternalDown"]["for"] == "5m"
    assert alerts["KprGatewayExternalDown"]["expr"].endswith("== 0")
    assert alerts["KprGatewayCertificateExpiring"]["expr"].endswith("< 45")
    assert alerts["KprGatewayAppRecOverdue"]["for"] == "30m"
    for alert in alerts.values():
        assert 'namespace="kpr-gateway"' in alert["expr"]
        assert alert["labels"]["severity"] in {"warning", "critical"}
        assert alert["annotations"]["summary"]
    assert of_kind(render(), "PrometheusRule") == []


def test_alerts_use_metrics_the_gateway_exports() -> None:
    [rule] = of_kind(render(FULL), "PrometheusRule")
    metrics = set()
    for group in rule["spec"]["groups"]:
        for alert in group["rules"]:
            metrics |= set(re.findall(r"\bkprgw_[a-z_]+", alert["expr"]))
    assert metrics == {
        "kprgw_receipts_overdue",
        "kprgw_handled_total",
        "kprgw_receipts_parked_total",
        "kprgw_envelope_certificate_days_left",
        "kprgw_dispatch_send_failures_total",
        "kprgw_external_up",
        "kprgw_webhooks_queue_depth",
        "kprgw_webhooks_queue_limit",
        "kprgw_webhooks_deliveries_total",
    }
    missing = {metric for metric in metrics if not metric_is_defined(metric)}
    assert not missing, f"no service exports {missing}"
    assert not metric_is_defined("kprgw_dispatch_no_such_metric_total")


def test_the_ingress_publishes_the_api_only() -> None:
    manifests = render(FULL)
    [ingress] = of_kind(manifests, "Ingress")
    service = named(manifests, "Service", "kprgw-full-intake")
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"] == [
        {"hosts": ["kpr.example.org"], "secretName": "kpr-example-org-tls"}
    ]
    [rule] = ingress["spec"]["rules"]
    [path] = rule["http"]["paths"]
    assert path["path"] == "/v1"
    assert path["backend"]["service"] == {
        "name": service["metadata"]["name"],
        "port": {"name": "http"},
    }
    assert of_kind(render(), "Ingress") == []


def notes(values: tuple[str, ...]) -> str:
    """NOTES.txt as `helm install` prints it (a client-side dry run needs no cluster)."""
    args: list[str | Path] = ["install", "kprgw", CHART_DIR, "--dry-run=client"]
    args += ["--namespace", "kpr-test"]
    for values_file in values:
        args += ["--values", CI_VALUES_DIR / values_file]
    output = helm(*args).stdout
    assert "NOTES:" in output
    return output.split("NOTES:", 1)[1]


def test_the_notes_tell_how_to_check_the_release() -> None:
    text = notes(())
    assert "kubectl --namespace kpr-test rollout status deployment" in text
    assert "helm test kprgw --namespace kpr-test" in text
    assert "port-forward service/kprgw-kpr-gateway-intake 9090:9090" in text
    assert "curl -s localhost:9090/readyz" in text
    assert "curl -s localhost:9090/status" in text
    assert "logs deployment/kprgw-kpr-gateway-envelope" in text
    assert "WARNING: no tenants are configured" in text
    assert "WARNING: nhn.url is empty" in text


def test_the_notes_of_a_configured_release_point_at_its_api_and_traces() -> None:
    text = notes(FULL)
    assert "WARNING" not in text
    assert "https://kpr.example.org/v1/" in text
    assert "Traces go to http://otel-collector.observability:4318" in text
    assert "The KPR simulator is ON" in text
