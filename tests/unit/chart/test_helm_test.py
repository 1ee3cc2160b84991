"""`helm test`: a hook Pod that asks every service's /readyz on its ops port, locked down as
the services are, with a NetworkPolicy of its own; and its script, run here against local
servers."""

from __future__ import annotations

import http.server
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from tests.unit.chart.rendering import (
    GATEWAY_SERVICES,
    SERVICES,
    Manifest,
    component,
    container,
    deployments,
    of_kind,
    render,
)

FULL = ("full-values.yaml",)


def hook_pod(manifests: list[Manifest]) -> Manifest:
    [pod] = of_kind(manifests, "Pod")
    return pod


def hook_policy(manifests: list[Manifest]) -> Manifest:
    [policy] = [p for p in of_kind(manifests, "NetworkPolicy") if component(p) == "test"]
    return policy


@pytest.mark.parametrize(("values", "services"), [((), GATEWAY_SERVICES), (FULL, SERVICES)])
def test_the_hook_asks_every_service_for_readiness_on_its_ops_port(
    values: tuple[str, ...], services: tuple[str, ...]
) -> None:
    manifests = render(values)
    pod = hook_pod(manifests)
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    assert pod["spec"]["restartPolicy"] == "Never"
    own = {component(s): s for s in of_kind(manifests, "Service")}
    expected = []
    for service in services:
        [ops] = [p for p in own[service]["spec"]["ports"] if p["name"] == "ops"]
        name = own[service]["metadata"]["name"]
        expected.append(f"http://{name}.kpr-gateway.svc:{ops['port']}/readyz")
    [main] = pod["spec"]["containers"]
    assert main["args"] == expected
    assert set(services) == set(deployments(manifests))


@pytest.mark.parametrize("values", [(), FULL])
def test_the_hook_runs_locked_down_with_intakes_image(values: tuple[str, ...]) -> None:
    manifests = render(values)
    pod = hook_pod(manifests)
    spec = pod["spec"]
    assert spec["automountServiceAccountToken"] is False
    assert spec["enableServiceLinks"] is False
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] > 0
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert "volumes" not in spec
    [main] = spec["containers"]
    context = main["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["privileged"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert main["resources"]["limits"]["memory"]
    assert main["image"] == container(deployments(manifests)["intake"])["image"]
    assert main["command"][:2] == ["python", "-c"]


def test_the_hook_has_its_own_network_policy_and_the_services_admit_it_on_ops_only() -> None:
    manifests = render(FULL)
    policy = hook_policy(manifests)
    pod = hook_pod(manifests)
    annotations = policy["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "test"
    assert int(annotations["helm.sh/hook-weight"]) < int(
        pod["metadata"]["annotations"].get("helm.sh/hook-weight", "0")
    )  # in place before the pod starts
    selected = policy["spec"]["podSelector"]["matchLabels"]
    assert selected.items() <= pod["metadata"]["labels"].items()
    assert selected["app.kubernetes.io/component"] == "test"
    assert policy["spec"]["ingress"] == []
    ops, dns = sorted(policy["spec"]["egress"], key=lambda rule: len(rule["ports"]))
    assert ops["ports"] == [{"port": 9090, "protocol": "TCP"}]
    assert ops["to"] == [
        {
            "podSelector": {
                "matchLabels": {
                    "app.kubernetes.io/name": "kprgw",
                    "app.kubernetes.io/instance": "kpr-gateway",
                }
            }
        }
    ]
    assert {port["port"] for port in dns["ports"]} == {53}
    for service_policy in of_kind(manifests, "NetworkPolicy"):
        if component(service_policy) == "test":
            continue
        admitting = [
            rule
            for rule in service_policy["spec"]["ingress"]
            for peer in rule.get("from", [])
            if peer.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/component")
            == "test"
        ]
        assert [rule["ports"] for rule in admitting] == [[{"port": "ops", "protocol": "TCP"}]]


def test_the_hook_can_be_left_out() -> None:
    manifests = render((), ("test.enabled=false",))
    assert of_kind(manifests, "Pod") == []
    assert "test" not in {component(p) for p in of_kind(manifests, "NetworkPolicy")}
    for policy in of_kind(manifests, "NetworkPolicy"):
        for rule in policy["spec"]["ingress"]:
            for peer in rule.get("from", []):
                labels = peer.get("podSelector", {}).get("matchLabels", {})
                assert labels.get("app.kubernetes.io/component") != "test"


class _Ready(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/readyz" else 404)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


class _NotReady(_Ready):
    status = 503


@pytest.fixture
def servers() -> Iterator[tuple[str, str]]:
    """A ready service's and an unready one's /readyz URLs."""
    started = [
        http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        for handler in (_Ready, _NotReady)
    ]
    for server in started:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    ready, unready = (f"http://127.0.0.1:{s.server_port}/readyz" for s in started)
    yield ready, unready
    for server in started:
        server.shutdown()
        server.server_close()


def run_script(urls: list[str], monkeypatch: pytest.MonkeyPatch) -> int:
    """The rendered script, run here (its waits between attempts skipped)."""
    [main] = hook_pod(render())["spec"]["containers"]
    script = main["command"][2]
    monkeypatch.setattr(sys, "argv", ["-c", *urls])
    monkeypatch.setattr(time, "sleep", lambda _: None)
    with pytest.raises(SystemExit) as exit_info:
        exec(compile(script, "helm-test", "exec"), {"__name__": "__main__"})  # noqa: S102
    return int(exit_info.value.code or 0)


def test_the_script_passes_when_every_service_is_ready(
    servers: tuple[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ready, _ = servers
    assert run_script([ready, ready], monkeypatch) == 0
    assert capsys.readouterr().out.count(f"ready: {ready}") == 2


def test_the_script_fails_naming_the_service_that_is_not(
    servers: tuple[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ready, unready = servers
    assert run_script([ready, unready], monkeypatch) == 1
    out = capsys.readouterr().out
    assert f"ready: {ready}" in out
    assert f"NOT READY: {unready} (HTTP 503)" in out
