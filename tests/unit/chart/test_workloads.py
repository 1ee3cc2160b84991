"""The rendered Deployments: safe upgrades (rolling, probes, drain time, checksum), security
contexts, service accounts, PodDisruptionBudgets and autoscalers."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml

from tests.unit.chart.rendering import (
    GATEWAY_SERVICES,
    SERVICES,
    Manifest,
    component,
    container,
    deployments,
    env_values,
    named,
    of_kind,
    pod_spec,
    render,
    render_failure,
    render_text,
)

FULL = ("full-values.yaml",)
DEFAULTS: tuple[str, ...] = ()
WITH_HTTP_APP = {"intake", "transform", "simulator"}  # API, operator actions, registry
VALUES_SETS = [DEFAULTS, FULL, ("dev-values.yaml",), ("validation-values.yaml",)]
VALUES_SETS += [("bundled-redis-values.yaml",)]


def all_deployments() -> list[tuple[str, Manifest]]:
    found = []
    for values in VALUES_SETS:
        for service, deployment in deployments(render(values)).items():
            found.append((f"{values[0] if values else 'defaults'}:{service}", deployment))
    return found


DEPLOYMENTS = all_deployments()


@pytest.fixture(params=DEPLOYMENTS, ids=[name for name, _ in DEPLOYMENTS])
def deployment(request: pytest.FixtureRequest) -> Manifest:
    manifest: Manifest = request.param[1]
    return manifest


def test_the_default_release_runs_the_five_services_and_not_the_simulator() -> None:
    assert set(deployments(render())) == set(GATEWAY_SERVICES)
    assert set(deployments(render(FULL))) == set(SERVICES)


def test_each_service_has_its_image() -> None:
    images = {s: container(d)["image"] for s, d in deployments(render()).items()}
    assert images == {s: f"ghcr.io/kpr-gateway/kpr-gateway-{s}:0.1.0" for s in GATEWAY_SERVICES}
    full = {s: container(d)["image"] for s, d in deployments(render(FULL)).items()}
    assert full["transform"] == "registry.example.org/kpr/kpr-gateway-transform:0.1.0-rc.1"
    assert full["intake"] == "registry.example.org/kpr/intake-custom:0.1.0-hotfix"
    # a digest wins over the tag (envelope's own tag and the global one alike)
    digest = "sha256:" + "0" * 63 + "1"
    assert full["envelope"] == f"registry.example.org/kpr/kpr-gateway-envelope@{digest}"


def test_a_digest_pins_an_image_whatever_its_tag() -> None:
    digest = "sha256:" + "ab" * 32
    sets = (f"dispatch.image.digest={digest}", "dispatch.image.tag=moved", "image.tag=t")
    images = {s: container(d)["image"] for s, d in deployments(render((), sets)).items()}
    assert images["dispatch"] == f"ghcr.io/kpr-gateway/kpr-gateway-dispatch@{digest}"
    assert images["intake"] == "ghcr.io/kpr-gateway/kpr-gateway-intake:t"


def test_updates_roll_one_new_pod_in_before_an_old_one_goes(deployment: Manifest) -> None:
    strategy = deployment["spec"]["strategy"]
    assert strategy["type"] == "RollingUpdate"
    assert strategy["rollingUpdate"]["maxUnavailable"] == 0
    assert strategy["rollingUpdate"]["maxSurge"] >= 1


def test_probes_ask_readyz_and_healthz_on_the_ops_port(deployment: Manifest) -> None:
    main = container(deployment)
    service = component(deployment)
    assert service is not None
    ports = {port["name"]: port["containerPort"] for port in main["ports"]}
    env = {v["name"]: v.get("value") for v in main["env"]}
    prefix = f"KPRGW_{service.upper()}_"
    if service in WITH_HTTP_APP:
        assert ports == {"http": 8080, "ops": 9090}
        assert env[f"{prefix}HTTP_PORT"] == "8080"
    else:  # nothing listens on an HTTP port of theirs: none is declared
        assert ports == {"ops": 9090}
        assert f"{prefix}HTTP_PORT" not in env
    assert env[f"{prefix}OPS_PORT"] == "9090"
    assert main["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "ops"}
    assert main["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "ops"}
    assert main["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "ops"}
    # readiness waits out its checks (2 s each, 4 s in all) before it counts as failed
    assert main["readinessProbe"]["timeoutSeconds"] >= 5


def test_pods_get_the_time_to_drain(deployment: Manifest) -> None:
    main = container(deployment)
    env = {v["name"]: v.get("value") for v in main["env"]}
    drain = int(next(v for k, v in env.items() if k.endswith("_DRAIN_SECONDS")))
    pre_stop = main.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
    # the HTTP server (or NHN link) and then the bus each get up to drainSeconds
    assert pod_spec(deployment)["terminationGracePeriodSeconds"] > pre_stop + 2 * drain


def test_intake_keeps_serving_until_the_load_balancers_have_let_go() -> None:
    intake = container(deployments(render())["intake"])
    assert intake["lifecycle"]["preStop"]["sleep"]["seconds"] == 5


def test_pods_run_locked_down(deployment: Manifest) -> None:
    spec = pod_spec(deployment)
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] > 0
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["automountServiceAccountToken"] is False
    assert spec["enableServiceLinks"] is False
    context = container(deployment)["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["privileged"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}


def test_the_image_user_is_the_default_pod_user() -> None:
    dockerfile = (Path(__file__).resolve().parents[3] / "Dockerfile").read_text()
    for deployment in deployments(render()).values():
        context = pod_spec(deployment)["securityContext"]
        assert f"USER {context['runAsUser']}:{context['runAsGroup']}" in dockerfile


def test_only_tmp_and_intakes_annual_spool_are_writable(deployment: Manifest) -> None:
    mounts = container(deployment)["volumeMounts"]
    writable = [m["mountPath"] for m in mounts if not m.get("readOnly")]
    volumes = {v["name"]: v for v in pod_spec(deployment)["volumes"]}
    assert "emptyDir" in volumes["tmp"]
    if component(deployment) != "intake":
        assert writable == ["/tmp"]  # noqa: S108 - the pod's own emptyDir
        return
    spool = "/var/spool/kprgw-annual"
    assert writable == ["/tmp", spool]  # noqa: S108 - the pod's own emptyDirs
    assert volumes["annual-spool"]["emptyDir"]["sizeLimit"]
    env = {e["name"]: e.get("value") for e in container(deployment)["env"]}
    assert env["KPRGW_INTAKE_ANNUAL_SPOOL_DIR"] == spool


def test_secret_files_are_readable_by_the_pod_group_only(deployment: Manifest) -> None:
    for volume in pod_spec(deployment)["volumes"]:
        if "projected" in volume:
            assert volume["projected"]["defaultMode"] == 0o440, volume["name"]
            assert all("secret" in source for source in volume["projected"]["sources"])
        assert "secret" not in volume, "Secrets are projected with an explicit mode"


def test_each_service_has_its_own_service_account_without_a_token() -> None:
    manifests = render(FULL)
    for service, deployment in deployments(manifests).items():
        name = pod_spec(deployment)["serviceAccountName"]
        account = named(manifests, "ServiceAccount", name)
        assert component(account) == service
        assert account["automountServiceAccountToken"] is False
    assert len(of_kind(manifests, "ServiceAccount")) == len(SERVICES)
    intake_account = named(manifests, "ServiceAccount", "kprgw-full-intake")
    assert intake_account["metadata"]["annotations"] == {"example.org/owner": "kpr-team"}


def test_intakes_api_cannot_take_the_ops_port_of_its_service() -> None:
    error = render_failure(sets=("intake.service.port=9090",))
    assert "intake.service.port: 9090 is the Service's ops port" in error


@pytest.mark.parametrize("values", [DEFAULTS, FULL])
def test_each_service_has_a_service_on_its_ports(values: tuple[str, ...]) -> None:
    manifests = render(values)
    for service, deployment in deployments(manifests).items():
        selected = deployment["spec"]["selector"]["matchLabels"]
        [own] = [s for s in of_kind(manifests, "Service") if s["spec"]["selector"] == selected]
        assert component(own) == service
        ports = {port["name"]: port for port in own["spec"]["ports"]}
        assert set(ports) == ({"http", "ops"} if service in WITH_HTTP_APP else {"ops"}), service
        assert all(port["targetPort"] == name for name, port in ports.items())
        assert ports["ops"]["port"] == 9090


def test_disruption_budgets_keep_pods_up_during_node_drains() -> None:
    defaults = render()
    for service, deployment in deployments(defaults).items():
        [budget] = [p for p in of_kind(defaults, "PodDisruptionBudget") if component(p) == service]
        assert budget["spec"]["maxUnavailable"] == 1
        assert budget["spec"]["selector"] == deployment["spec"]["selector"]
    budgets = {component(p): p["spec"] for p in of_kind(render(FULL), "PodDisruptionBudget")}
    assert budgets["intake"] == {
        "minAvailable": 2,
        "unhealthyPodEvictionPolicy": "AlwaysAllow",
        "selector": budgets["intake"]["selector"],
    }
    assert budgets["transform"]["maxUnavailable"] == "50%"
    assert "receipts" not in budgets  # pdb.enabled: false


@pytest.mark.parametrize("values", VALUES_SETS, ids=lambda v: v[0] if v else "defaults")
def test_node_drains_never_wait_on_pods_that_are_not_ready(values: tuple[str, ...]) -> None:
    budgets = {component(p): p["spec"] for p in of_kind(render(values), "PodDisruptionBudget")}
    for service in deployments(render(values)):
        if service in budgets:
            assert budgets[service]["unhealthyPodEvictionPolicy"] == "AlwaysAllow", service
    # the bundled Redis waits for its operator on purpose (maxUnavailable 0): left alone
    if "redis" in budgets:
        assert budgets["redis"]["maxUnavailable"] == 0
        assert "unhealthyPodEvictionPolicy" not in budgets["redis"]


def test_autoscaled_deployments_leave_the_replica_count_to_the_autoscaler() -> None:
    manifests = render(FULL)
    scalers = {component(h): h for h in of_kind(manifests, "HorizontalPodAutoscaler")}
    # transform: one active replica
    assert set(scalers) == {"intake", "envelope", "dispatch", "webhooks"}
    for service, deployment in deployments(manifests).items():
        if service in scalers:
            assert "replicas" not in deployment["spec"]
            target = scalers[service]["spec"]["scaleTargetRef"]
            assert target == {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": deployment["metadata"]["name"],
            }
        else:
            assert deployment["spec"]["replicas"] >= 1
    assert of_kind(render(), "HorizontalPodAutoscaler") == []


def tenants_configmap_text(values: tuple[str, ...]) -> str:
    for document in render_text(values).split("\n---\n"):
        if document.startswith("# Source: kpr-gateway/templates/common/tenants-configmap.yaml"):
            return document.split("\n", 1)[1] + "\n"
    raise AssertionError("no tenants ConfigMap rendered")


@pytest.mark.parametrize("values", [DEFAULTS, FULL])
def test_pods_that_read_the_tenants_file_carry_its_checksum(values: tuple[str, ...]) -> None:
    expected = hashlib.sha256(tenants_configmap_text(values).encode()).hexdigest()
    for service, deployment in deployments(render(values)).items():
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        if service == "simulator":
            assert "checksum/tenants" not in annotations  # it reads no tenants file
        else:
            assert annotations["checksum/tenants"] == expected, service


def checksums(sets: tuple[str, ...]) -> set[str]:
    return {
        d["spec"]["template"]["metadata"]["annotations"]["checksum/tenants"]
        for d in deployments(render(("dev-values.yaml",), sets)).values()
        if "checksum/tenants" in d["spec"]["template"]["metadata"]["annotations"]
    }


def test_a_changed_tenant_rolls_the_pods_and_other_changes_do_not_touch_the_checksum() -> None:
    [before] = checksums(())
    [unrelated] = checksums(("intake.replicas=3", "logging.level=DEBUG"))
    [changed] = checksums(("tenants[0].epj_clients[0].scopes={read}",))
    assert unrelated == before
    assert changed != before


def test_the_tenants_configmap_holds_the_tenants_file() -> None:
    configmap = yaml.safe_load(tenants_configmap_text(FULL))
    tenants = yaml.safe_load(configmap["data"]["tenants.yaml"])
    assert [t["id"] for t in tenants["tenants"]] == ["oslo", "bergen"]
    for deployment in deployments(render(FULL)).values():
        if component(deployment) == "simulator":
            continue
        volumes = {v["name"]: v for v in pod_spec(deployment)["volumes"]}
        assert volumes["tenants"]["configMap"]["name"] == configmap["metadata"]["name"]


def test_an_external_redis_gets_its_password_and_ca_as_files() -> None:
    with_files = deployments(render(FULL))
    for service in GATEWAY_SERVICES:
        prefix = f"KPRGW_{service.upper()}_"
        variables = env_values(with_files[service])
        assert variables[f"{prefix}REDIS_PASSWORD_FILE"]["value"] == (
            "/var/run/secrets/kprgw/redis/password"
        )
        assert variables[f"{prefix}REDIS_CA_FILE"]["value"] == "/var/run/secrets/kprgw/redis/ca.crt"
        mounts = {m["name"]: m for m in container(with_files[service])["volumeMounts"]}
        assert mounts["redis"]["mountPath"] == "/var/run/secrets/kprgw/redis"
        volumes = {v["name"]: v for v in pod_spec(with_files[service])["volumes"]}
        sources = [s["secret"]["name"] for s in volumes["redis"]["projected"]["sources"]]
        assert sources == ["kprgw-redis-auth", "kprgw-redis-ca"]
    without = deployments(render(DEFAULTS))
    for service in GATEWAY_SERVICES:
        assert not any("REDIS_PASSWORD_FILE" in name for name in env_values(without[service]))
        assert "redis" not in {v["name"] for v in pod_spec(without[service])["volumes"]}
