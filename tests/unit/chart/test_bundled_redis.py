"""The bundled Redis (redis.bundled): a StatefulSet of one whose configuration keeps the ledger
safe (AOF synced every second, no eviction), its password only ever in files, the services
pointed at it without a URL Secret, only the gateway's pods let in; contradicting values are
refused, and with it off the chart renders what it rendered before."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from kpr_gateway.ledger.safeguards import Durability
from tests.unit.chart.rendering import (
    CHART_DIR,
    CI_VALUES_DIR,
    GATEWAY_SERVICES,
    Manifest,
    component,
    container,
    deployments,
    env_values,
    helm,
    of_kind,
    pod_spec,
    render,
    render_failure,
    render_text,
)

BUNDLED = ("bundled-redis-values.yaml",)
PLAIN_TCP = ("redis.bundled.tls.enabled=false",)
RELEASE_LABELS = {
    "app.kubernetes.io/name": "kpr-gateway",
    "app.kubernetes.io/instance": "kpr-gateway",
}
REDIS_LABELS = RELEASE_LABELS | {"app.kubernetes.io/component": "redis"}
NAME = "kpr-gateway-redis"  # the release is called kpr-gateway: <release>-redis
SECRETS_DIR = "/var/run/secrets/kprgw/redis"
CONFIG_DIR = "/etc/kprgw/redis"
RUN_DIR = "/run/kprgw-redis"
EXISTING_VALUES = [
    (),
    *[(p.name,) for p in sorted(CI_VALUES_DIR.glob("*.yaml")) if p.name != BUNDLED[0]],
]


def redis_objects(manifests: list[Manifest]) -> dict[str, Manifest]:
    """The bundled Redis' objects by kind."""
    found = {}
    for manifest in manifests:
        if component(manifest) == "redis":
            assert manifest["kind"] not in found, manifest["kind"]
            found[manifest["kind"]] = manifest
    return found


def statefulset(sets: tuple[str, ...] = ()) -> Manifest:
    return redis_objects(render(BUNDLED, sets))["StatefulSet"]


def config_files(sets: tuple[str, ...] = ()) -> dict[str, str]:
    data: dict[str, str] = redis_objects(render(BUNDLED, sets))["ConfigMap"]["data"]
    return data


def directives(conf: str) -> dict[str, str]:
    """redis.conf as directive -> its arguments (each directive appears once)."""
    found: dict[str, str] = {}
    for raw in conf.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, _, arguments = line.partition(" ")
        assert name not in found, f"{name} is set twice"
        found[name] = arguments
    return found


def projected_items(spec: Manifest, volume_name: str) -> dict[str, tuple[str, str]]:
    """A projected volume's files: path -> (Secret, key)."""
    [volume] = [v for v in spec["volumes"] if v["name"] == volume_name]
    assert volume["projected"]["defaultMode"] == 0o440
    files = {}
    for source in volume["projected"]["sources"]:
        for item in source["secret"]["items"]:
            files[item["path"]] = (source["secret"]["name"], item["key"])
    return files


def selects(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Whether a Kubernetes label selector selects pods with these labels."""
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions", []):
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values", [])
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def test_the_selector_check_can_say_no() -> None:
    selector = {
        "matchLabels": {"a": "1"},
        "matchExpressions": [{"key": "c", "operator": "In", "values": ["x", "y"]}],
    }
    assert selects(selector, {"a": "1", "c": "y"})
    assert not selects(selector, {"a": "1", "c": "z"})
    assert not selects(selector, {"a": "2", "c": "x"})
    assert not selects(selector, {"a": "1"})


def test_a_statefulset_of_one_keeps_the_ledger_on_its_claim() -> None:
    objects = redis_objects(render(BUNDLED))
    assert set(objects) == {
        "StatefulSet",
        "Service",
        "ConfigMap",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "ServiceAccount",
    }
    redis = objects["StatefulSet"]
    assert redis["metadata"]["name"] == NAME
    assert redis["spec"]["replicas"] == 1
    assert redis["spec"]["serviceName"] == objects["Service"]["metadata"]["name"]
    assert redis["spec"]["persistentVolumeClaimRetentionPolicy"] == {
        "whenDeleted": "Retain",
        "whenScaled": "Retain",
    }
    [claim] = redis["spec"]["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "data"
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "20Gi"
    assert claim["spec"]["storageClassName"] == "fast-ssd"
    mounts = {m["name"]: m["mountPath"] for m in container(redis)["volumeMounts"]}
    assert mounts["data"] == directives(config_files()["redis.conf"])["dir"] == "/data"
    # an empty class leaves the cluster's default to choose
    [default_claim] = statefulset(("redis.bundled.persistence.storageClassName=",))["spec"][
        "volumeClaimTemplates"
    ]
    assert "storageClassName" not in default_claim["spec"]


def test_redis_is_configured_for_the_ledgers_safety() -> None:
    conf = directives(config_files()["redis.conf"])
    assert conf["appendonly"] == "yes"
    assert conf["appendfsync"] == "everysec"
    assert conf["no-appendfsync-on-rewrite"] == "no"  # fsync goes on during AOF rewrites
    assert conf["maxmemory-policy"] == "noeviction"
    assert conf["maxmemory"] == "1536mb"
    # what the services check at start in production mode (kpr_gateway.ledger.safeguards)
    durability = Durability(
        aof_enabled=conf["appendonly"] == "yes",
        appendfsync=conf["appendfsync"],
        evicts="maxmemory" in conf and conf["maxmemory-policy"] != "noeviction",
    )
    assert durability.sufficient
    without_limit = directives(config_files(("redis.bundled.maxmemory=",))["redis.conf"])
    assert "maxmemory" not in without_limit
    assert without_limit["maxmemory-policy"] == "noeviction"


def test_redis_runs_on_that_configuration_with_the_password_added() -> None:
    redis = statefulset()
    files = config_files()
    assert container(redis)["command"] == ["sh", f"{CONFIG_DIR}/start.sh"]
    start = files["start.sh"]
    assert "include %s\\nrequirepass" in start
    assert f"{CONFIG_DIR}/redis.conf" in start
    assert f'password="$(cat {SECRETS_DIR}/password)"' in start
    assert start.rstrip().endswith(f"exec redis-server {RUN_DIR}/redis.conf")
    assert "umask 077" in start
    volumes = {v["name"]: v for v in pod_spec(redis)["volumes"]}
    mounts = {m["mountPath"]: m for m in container(redis)["volumeMounts"]}
    # the file with the password lives in memory only, never on the claim
    assert volumes[mounts[RUN_DIR]["name"]]["emptyDir"]["medium"] == "Memory"
    assert volumes[mounts[CONFIG_DIR]["name"]]["configMap"]["name"] == NAME


def test_tls_serves_on_the_redis_port_only_with_the_certificate_of_the_secret() -> None:
    conf = directives(config_files()["redis.conf"])
    assert conf["port"] == "0"  # no plain TCP
    assert conf["tls-port"] == "6379"
    assert conf["tls-auth-clients"] == "no"
    files = projected_items(pod_spec(statefulset()), "secrets")
    assert files == {
        "password": ("kprgw-redis-auth", "password"),
        "tls.crt": ("kprgw-redis-tls", "tls.crt"),
        "tls.key": ("kprgw-redis-tls", "tls.key"),
        "ca.crt": ("kprgw-redis-tls", "ca.crt"),
    }
    for directive, path in [("tls-cert-file", "tls.crt"), ("tls-key-file", "tls.key")]:
        assert conf[directive] == f"{SECRETS_DIR}/{path}"
    plain = directives(config_files(PLAIN_TCP)["redis.conf"])
    assert plain["port"] == "6379"
    assert not any(name.startswith("tls-") for name in plain)
    assert set(projected_items(pod_spec(statefulset(PLAIN_TCP)), "secrets")) == {"password"}


@pytest.mark.parametrize("sets", [(), PLAIN_TCP], ids=["tls", "plain"])
def test_the_password_is_never_a_literal_argument_or_variable(sets: tuple[str, ...]) -> None:
    manifests = render(BUNDLED, sets)
    assert of_kind(manifests, "Secret") == []
    redis = container(redis_objects(manifests)["StatefulSet"])
    assert "env" not in redis
    assert "args" not in redis
    words = [str(word) for word in redis["command"]]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        words += redis[probe]["exec"]["command"]
    assert not {"-a", "--pass", "--user", "--requirepass", "requirepass"} & set(words)
    ping = config_files(sets)["ping.sh"]
    assert f'REDISCLI_AUTH="$(cat {SECRETS_DIR}/password)"' in ping
    [cli] = [line for line in ping.splitlines() if "redis-cli" in line]
    assert not {"-a", "--pass", "--user"} & set(cli.split())
    assert cli.strip().endswith('ping)"')
    # the services: a URL without credentials, the password as a file
    for service, deployment in deployments(manifests).items():
        url = env_values(deployment)[f"KPRGW_{service.upper()}_REDIS_URL"]["value"]
        assert urlsplit(url).password is None
        assert urlsplit(url).username is None


def test_the_probes_ask_redis_for_pong_with_the_password_file() -> None:
    redis = container(statefulset())
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert redis[probe]["exec"]["command"] == ["sh", f"{CONFIG_DIR}/ping.sh"], probe
        assert redis[probe]["timeoutSeconds"] >= 5, probe
    # a large AOF takes a while to load after a restart
    startup = redis["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300
    ping = config_files()["ping.sh"]
    assert "redis-cli -h 127.0.0.1 -p 6379 --tls --cacert" in ping
    assert '[ "$answer" = PONG ]' in ping
    assert "--tls" not in config_files(PLAIN_TCP)["ping.sh"]


@pytest.mark.parametrize(
    ("sets", "scheme", "ca"),
    [((), "rediss", True), (PLAIN_TCP, "redis", False)],
    ids=["tls", "plain"],
)
def test_the_services_connect_to_the_bundled_service(
    sets: tuple[str, ...], scheme: str, ca: bool
) -> None:
    manifests = render(BUNDLED, sets)
    objects = redis_objects(manifests)
    service = objects["Service"]
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["selector"] == objects["StatefulSet"]["spec"]["selector"]["matchLabels"]
    [port] = service["spec"]["ports"]
    assert port["targetPort"] == "redis"
    served = {p["name"]: p["containerPort"] for p in container(objects["StatefulSet"])["ports"]}
    assert served == {"redis": 6379}
    expected_url = f"{scheme}://{service['metadata']['name']}.kpr-gateway.svc:{port['port']}/0"
    found = deployments(manifests)
    assert set(found) == set(GATEWAY_SERVICES)
    for service_name, deployment in found.items():
        prefix = f"KPRGW_{service_name.upper()}_"
        env = env_values(deployment)
        assert env[f"{prefix}REDIS_URL"] == {"name": f"{prefix}REDIS_URL", "value": expected_url}
        assert env[f"{prefix}REDIS_PASSWORD_FILE"]["value"] == f"{SECRETS_DIR}/password"
        assert (f"{prefix}REDIS_CA_FILE" in env) == ca
        if ca:
            assert env[f"{prefix}REDIS_CA_FILE"]["value"] == f"{SECRETS_DIR}/ca.crt"
        assert env[f"{prefix}MODE"]["value"] == "production"
        assert env[f"{prefix}ALLOW_REDIS_WITHOUT_AOF"]["value"] == "false"
        mounts = {m["name"]: m for m in container(deployment)["volumeMounts"]}
        assert mounts["redis"] == {"name": "redis", "mountPath": SECRETS_DIR, "readOnly": True}
        expected = {"password": ("kprgw-redis-auth", "password")}
        if ca:
            expected["ca.crt"] = ("kprgw-redis-tls", "ca.crt")
        assert projected_items(pod_spec(deployment), "redis") == expected, service_name


def pod_labels(manifests: list[Manifest]) -> dict[str, dict[str, str]]:
    """The labels of every pod the release runs, by component."""
    found = {}
    for workload in of_kind(manifests, "Deployment") + of_kind(manifests, "StatefulSet"):
        found[component(workload) or ""] = workload["spec"]["template"]["metadata"]["labels"]
    return found


def test_only_the_gateways_five_services_reach_redis() -> None:
    sets = ("simulator.enabled=true", "simulator.amqp.url=amqps://sim@broker.example.org/kpr")
    manifests = render(BUNDLED, sets)
    pods = pod_labels(manifests)
    assert set(pods) == {*GATEWAY_SERVICES, "simulator", "redis"}
    policy = redis_objects(manifests)["NetworkPolicy"]
    assert policy["spec"]["podSelector"]["matchLabels"] == REDIS_LABELS
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert policy["spec"]["egress"] == []  # Redis connects nowhere
    [rule] = policy["spec"]["ingress"]
    assert rule["ports"] == [{"port": "redis", "protocol": "TCP"}]
    [peer] = rule["from"]
    assert set(peer) == {"podSelector"}  # this namespace only
    admitted = {name for name, labels in pods.items() if selects(peer["podSelector"], labels)}
    assert admitted == set(GATEWAY_SERVICES)
    other_release = pods["intake"] | {"app.kubernetes.io/instance": "another"}
    assert not selects(peer["podSelector"], other_release)
    # and the services' own egress on Redis' port goes to Redis' pods only
    for gateway_policy in of_kind(manifests, "NetworkPolicy"):
        if component(gateway_policy) not in GATEWAY_SERVICES:
            continue
        rules = [
            r
            for r in gateway_policy["spec"]["egress"]
            if {"port": 6379, "protocol": "TCP"} in r["ports"]
        ]
        [to_redis] = rules
        assert to_redis["ports"] == [{"port": 6379, "protocol": "TCP"}]
        [target] = to_redis["to"]
        reached = {name for name, labels in pods.items() if selects(target["podSelector"], labels)}
        assert reached == {"redis"}, component(gateway_policy)
    unprotected = render(BUNDLED, ("networkPolicy.enabled=false",))
    assert "NetworkPolicy" not in redis_objects(unprotected)


def test_the_redis_pod_runs_locked_down() -> None:
    redis = statefulset()
    spec = pod_spec(redis)
    assert spec["automountServiceAccountToken"] is False
    assert spec["enableServiceLinks"] is False
    assert spec["serviceAccountName"] == NAME
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] == 999
    assert spec["securityContext"]["fsGroup"] == 999  # the claim is writable by Redis' group
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    context = container(redis)["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["privileged"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    writable = sorted(
        m["mountPath"] for m in container(redis)["volumeMounts"] if not m.get("readOnly")
    )
    assert writable == ["/data", RUN_DIR]
    assert all("secret" not in volume for volume in spec["volumes"])
    assert spec["terminationGracePeriodSeconds"] == 90
    assert container(redis)["resources"] == {
        "requests": {"cpu": "200m", "memory": "512Mi"},
        "limits": {"memory": "2Gi"},
    }
    assert spec["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert spec["priorityClassName"] == "kpr-gateway"
    account = redis_objects(render(BUNDLED))["ServiceAccount"]
    assert account["automountServiceAccountToken"] is False


def test_the_statefulset_name_leaves_room_for_its_revision_label() -> None:
    # pods carry controller-revision-hash: <name>-<10 characters>, at most 63 in all
    long_name = statefulset((f"fullnameOverride={'k' * 63}",))
    assert len(long_name["metadata"]["name"]) <= 52
    assert long_name["metadata"]["name"].endswith("-redis")
    assert statefulset()["metadata"]["name"] == NAME


def test_a_changed_configuration_restarts_redis() -> None:
    before = statefulset()["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
    after = statefulset(("redis.bundled.maxmemory=2gb",))
    assert after["spec"]["template"]["metadata"]["annotations"]["checksum/config"] != before


def test_the_disruption_budget_keeps_the_one_redis_up() -> None:
    budget = redis_objects(render(BUNDLED))["PodDisruptionBudget"]
    assert budget["spec"]["maxUnavailable"] == 0
    assert "minAvailable" not in budget["spec"]
    assert budget["spec"]["selector"]["matchLabels"] == REDIS_LABELS
    evictable = redis_objects(render(BUNDLED, ("redis.bundled.pdb.maxUnavailable=1",)))
    assert evictable["PodDisruptionBudget"]["spec"]["maxUnavailable"] == 1
    drainable = redis_objects(render(BUNDLED, ("redis.bundled.pdb.enabled=false",)))
    assert "PodDisruptionBudget" not in drainable


def test_the_image_comes_from_the_configured_registry() -> None:
    redis = container(statefulset())
    assert redis["image"] == "registry.example.org/mirror/library/redis:7.2"
    digest = "sha256:" + "ab" * 32
    pinned = container(statefulset((f"redis.bundled.image.digest={digest}",)))
    assert pinned["image"] == f"registry.example.org/mirror/library/redis@{digest}"
    defaults = yaml.safe_load((CHART_DIR / "values.yaml").read_text())["redis"]["bundled"]
    assert defaults["enabled"] is False
    assert defaults["image"]["tag"].startswith("7.")


def values_file(tmp_path: Path, values: dict[str, Any]) -> str:
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    return str(path)


@pytest.mark.parametrize(
    ("assignment", "reason"),
    [
        (
            "redis.urlSecret.name=kpr-gateway-redis",
            "redis.urlSecret: with redis.bundled.enabled the services connect to the bundled Redis",
        ),
        ("redis.passwordSecret.name=redis-auth", "redis.passwordSecret is an external Redis'"),
        ("redis.caSecret.name=redis-ca", "redis.caSecret is an external Redis' CA"),
        (
            "ledger.allowRedisWithoutAof=true",
            "ledger.allowRedisWithoutAof: the bundled Redis keeps an AOF",
        ),
        (
            "redis.bundled.auth.existingSecret=",
            "redis.bundled.auth.existingSecret: the bundled Redis needs a password",
        ),
        ("redis.bundled.tls.existingSecret=", "redis.bundled.tls.existingSecret: TLS needs"),
    ],
)
def test_contradicting_redis_values_stop_the_release(assignment: str, reason: str) -> None:
    assert reason in render_failure(BUNDLED, (assignment,))


@pytest.mark.parametrize(
    ("assignment", "reported"),
    [
        ("redis.bundled.replicas=3", "additional properties"),
        ("redis.bundled.auth.password=secret", "additional properties"),
        ("redis.bundled.maxmemory=lots", "maxmemory"),
        ("redis.bundled.image.digest=latest", "digest"),
        ("redis.bundled.persistence.size=8GB", "size"),
        ("redis.bundled.podSecurity.runAsUser=0", "runAsUser"),
    ],
)
def test_the_schema_refuses_unknown_and_malformed_redis_values(
    assignment: str, reported: str
) -> None:
    error = render_failure(BUNDLED, (assignment,))
    assert "values don't meet the specifications of the schema" in error
    assert reported in error


def test_an_external_redis_needs_no_bundled_settings(tmp_path: Path) -> None:
    # bundled off: its own settings, however set, change nothing
    values = {
        "redis": {
            "bundled": {
                "enabled": False,
                "auth": {"existingSecret": "unused"},
                "tls": {"enabled": True, "existingSecret": "unused-tls"},
                "maxmemory": "1gb",
                "persistence": {"size": "1Ti", "storageClassName": "unused"},
            }
        }
    }
    extra = values_file(tmp_path, values)
    for existing in EXISTING_VALUES:
        assert render_text(existing) == render_text((*existing, extra)), existing


@pytest.mark.parametrize("values", EXISTING_VALUES, ids=lambda v: v[0] if v else "defaults")
def test_without_the_bundled_redis_the_services_use_the_url_secret(values: tuple[str, ...]) -> None:
    manifests = render(values)
    assert redis_objects(manifests) == {}
    assert of_kind(manifests, "StatefulSet") == []
    configured = yaml.safe_load((CI_VALUES_DIR / values[0]).read_text()) if values else {}
    url_secret = configured.get("redis", {}).get("urlSecret", {})
    expected = {
        "name": url_secret.get("name", "kpr-gateway-redis"),
        "key": url_secret.get("key", "url"),
    }
    for service, deployment in deployments(manifests).items():
        if service == "simulator":
            continue
        variable = env_values(deployment)[f"KPRGW_{service.upper()}_REDIS_URL"]
        assert variable["valueFrom"]["secretKeyRef"] == expected, service


def notes(sets: tuple[str, ...]) -> str:
    args: list[str | Path] = ["install", "kprgw", CHART_DIR, "--dry-run=client"]
    args += ["--namespace", "kpr-test", "--values", CI_VALUES_DIR / BUNDLED[0]]
    for assignment in sets:
        args += ["--set", assignment]
    return helm(*args).stdout.split("NOTES:", 1)[1]


def test_the_notes_say_how_to_mark_the_bundled_ledger() -> None:
    text = notes(())
    assert "statefulset/kprgw-kpr-gateway-redis" in text
    assert "kubectl --namespace kpr-test port-forward statefulset/kprgw-kpr-gateway-redis" in text
    assert "get secret kprgw-redis-auth -o jsonpath='{.data.password}'" in text
    assert "get secret kprgw-redis-tls -o jsonpath='{.data.ca\\.crt}'" in text
    assert "rediss://:${PASSWORD}@127.0.0.1:6379/0?ssl_ca_certs=redis-ca.crt" in text
    assert "kprgw ledger init --key-prefix kprgw-small" in text
    development = notes(("ledger.mode=development",))
    assert "statefulset/kprgw-kpr-gateway-redis" in development
    assert "kprgw ledger init" not in development  # the services write the marker themselves
