"""The chart's values: what it refuses (values.schema.json: wrong types, unknown keys; the
rules across values in templates/_checks.tpl: production safety, drain time, tenant secrets),
and that they keep pace with the services' settings classes and the tenancy model."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from kpr_gateway.tenancy import Tenant
from tests.unit.chart.rendering import (
    CHART_DIR,
    CI_VALUES_DIR,
    SERVICES,
    deployments,
    env_values,
    render,
    render_failure,
)
from tests.unit.chart.service_settings import SETTINGS, snake

SCHEMA: dict[str, Any] = json.loads((CHART_DIR / "values.schema.json").read_text())
SCHEMA_ERROR = "values don't meet the specifications of the schema"
PSEUDONYM = {"pseudonym": {"name": "oslo-pseudonym"}}


def values_file(tmp_path: Path, values: dict[str, Any]) -> str:
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    return str(path)


def a_tenant(**changes: Any) -> dict[str, Any]:
    tenant: dict[str, Any] = {
        "id": "oslo",
        "municipality_number": "0301",
        "name": "Oslo kommune",
        "org_number": "958935420",
        "her_id": "90001",
        "communication_party": {"name": "Saksbehandling", "her_id": "90002"},
        "environment": "validation",
        "secrets": {"pseudonym": {"name": "oslo-pseudonym"}, "receiver": {"name": "kpr"}},
    }
    tenant.update(changes)
    return tenant


@pytest.mark.parametrize(
    ("assignment", "reported"),
    [
        ("intake.replicas=two", "replicas"),
        ("drainSeconds=0", "drainSeconds"),
        ("nhn.environment=staging", "environment"),
        ("image.pullPolicy=Sometimes", "pullPolicy"),
        ("podSecurity.runAsUser=0", "runAsUser"),
        ("networkPolicy.enabled=maybe", "enabled"),
        ("metrics.serviceMonitor.interval=soon", "interval"),
        ("nhn.url=https://tjenestebuss.example.org", "url"),
        ("receipts.settings.credit=0", "credit"),
        ("simulator.settings.rejectShare=2", "rejectShare"),
        ("intake.pdb.maxUnavailable=all", "maxUnavailable"),
        ("envelope.image.digest=latest", "digest"),
        ("envelope.image.digest=sha256:ABC", "digest"),
        ("test.enabled=yes", "enabled"),
    ],
)
def test_wrong_types_and_values_are_refused(assignment: str, reported: str) -> None:
    error = render_failure(sets=(assignment,))
    assert SCHEMA_ERROR in error
    assert reported in error


@pytest.mark.parametrize(
    "assignment",
    [
        "replica=3",
        "intake.replica=3",
        "transform.settings.maxBatchSize=10",
        "nhn.user=kprgw",
        # one digest for every service's image cannot be right: digests are per service
        "image.digest=sha256:" + "0" * 64,
    ],
)
def test_unknown_keys_are_refused(assignment: str) -> None:
    error = render_failure(sets=(assignment,))
    assert SCHEMA_ERROR in error
    assert "additional properties" in error.lower()


def test_a_tenant_names_its_secrets_not_their_paths(tmp_path: Path) -> None:
    tenant = a_tenant(pseudonym_secret_file="/secrets/oslo")
    error = render_failure((values_file(tmp_path, {"tenants": [tenant]}),))
    assert "pseudonym_secret_file" in error


def test_a_tenant_needs_its_pseudonym_secret(tmp_path: Path) -> None:
    tenant = a_tenant(secrets={"receiver": {"name": "kpr"}})
    error = render_failure((values_file(tmp_path, {"tenants": [tenant]}),))
    assert "pseudonym" in error


def test_a_minimal_tenant_renders(tmp_path: Path) -> None:
    manifests = render((values_file(tmp_path, {"tenants": [a_tenant()]}),))
    assert any(m["kind"] == "ConfigMap" for m in manifests)


EPJ_SYSTEM = {"vendor": "Visma", "name": "Profil", "version": "9.4"}
CONTACT_16: dict[str, Any] = {"name": "Kari Eksempel", "email": "kari@example.org", "type": 16}
CONTACT_17: dict[str, Any] = {"name": "Ola Eksempel", "email": "ola@example.org", "type": 17}
REPORTING: dict[str, Any] = {"epj_system": EPJ_SYSTEM, "contacts": [CONTACT_16, CONTACT_17]}


@pytest.mark.parametrize(
    ("reporting", "reported"),
    [
        ({**REPORTING, "contacts": [CONTACT_16]}, "value must be 17"),
        ({**REPORTING, "contacts": [CONTACT_17]}, "value must be 16"),
        ({**REPORTING, "contacts": [{**CONTACT_16, "type": 20}, CONTACT_17]}, "contacts/0/type"),
        ({**REPORTING, "contacts": [{**CONTACT_16, "email": "kari"}, CONTACT_17]}, "0/email"),
        ({**REPORTING, "epj_system": {"vendor": "Visma", "name": "Profil"}}, "version"),
        ({"epj_system": EPJ_SYSTEM}, "contacts"),
    ],
)
def test_a_tenants_reporting_block_is_checked(
    tmp_path: Path, reporting: dict[str, Any], reported: str
) -> None:
    error = render_failure((values_file(tmp_path, {"tenants": [a_tenant(reporting=reporting)]}),))
    assert SCHEMA_ERROR in error
    assert reported in error


def test_a_tenants_reporting_block_reaches_the_tenants_file(tmp_path: Path) -> None:
    client = {"id": "gerica", "api_key_sha256": "0" * 64, "epj_system": EPJ_SYSTEM}
    tenant = a_tenant(reporting=REPORTING, epj_clients=[client])
    [configmap] = [
        m
        for m in render((values_file(tmp_path, {"tenants": [tenant]}),))
        if m["kind"] == "ConfigMap" and m["metadata"]["name"].endswith("-tenants")
    ]
    [entry] = yaml.safe_load(configmap["data"]["tenants.yaml"])["tenants"]
    assert entry["reporting"] == REPORTING
    assert entry["epj_clients"][0]["epj_system"] == EPJ_SYSTEM


REGISTRY = {"url": "https://ar.example.org/v1/AR", "trustBundle": {"configMapName": "ar-trust"}}


def test_with_the_address_registry_a_tenant_needs_no_receiver_certificates(tmp_path: Path) -> None:
    tenant = a_tenant(secrets=PSEUDONYM)
    values = {"addressRegistry": REGISTRY, "tenants": [tenant]}
    manifests = render((values_file(tmp_path, values),))
    assert any(m["kind"] == "ConfigMap" for m in manifests)


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        (
            {"tenants": [a_tenant(environment="production")]},
            "a test release never sends to production",
        ),
        (
            {"nhn": {"environment": "production"}, "simulator": {"enabled": True}},
            "the simulator is test infrastructure",
        ),
        ({"simulator": {"enabled": True}}, "simulator.amqp.url"),
        ({"tracing": {"otlp": {"enabled": True}}}, "tracing.otlp.endpoint"),
        (
            {"transform": {"autoscaling": {"enabled": True}}},
            "transform.autoscaling: the events queue has a single active consumer",
        ),
        (
            {"drainSeconds": 30, "intake": {"terminationGracePeriodSeconds": 60}},
            "intake.terminationGracePeriodSeconds must be longer than",
        ),
        ({"tenants": [a_tenant(), a_tenant()]}, "the id oslo is used twice"),
        (
            {
                "tenants": [
                    a_tenant(
                        secrets={
                            "pseudonym": {"name": "p"},
                            "signing": {"name": "s"},
                            "receiver": {"name": "k"},
                        }
                    )
                ]
            },
            "secrets.signing and secrets.encryption go together",
        ),
        (
            {
                "addressRegistry": REGISTRY,
                "tenants": [
                    a_tenant(receiver_override={"async_queue": "171479_async"}, secrets=PSEUDONYM)
                ],
            },
            "receiver_override needs secrets.receiver",
        ),
        (
            {"tenants": [a_tenant(secrets=PSEUDONYM)]},
            "secrets.receiver (KPR's certificates) is needed",
        ),
        (
            {"addressRegistry": REGISTRY | {"username": "kprgw"}},
            "addressRegistry: a username needs its passwordSecret",
        ),
        (
            {"addressRegistry": {"url": "https://ar.example.org/v1/AR"}},
            "addressRegistry.url needs the CA certificates",
        ),
        (
            {
                "addressRegistry": REGISTRY
                | {"trustBundle": {"configMapName": "ar-trust", "secretName": "ar-trust"}}
            },
            "set configMapName or secretName, not both",
        ),
        (
            {"addressRegistry": REGISTRY | {"url": "http://simulator:8080/registry"}},
            "http:// needs addressRegistry.allowInsecure",
        ),
    ],
)
def test_contradicting_values_stop_the_release(
    values: dict[str, Any], reason: str, tmp_path: Path
) -> None:
    error = render_failure((values_file(tmp_path, values),))
    assert reason in error


OWN_ACCOUNT = PSEUDONYM | {"receiver": {"name": "kpr"}, "nhnPassword": {"name": "oslo-nhn"}}


@pytest.mark.parametrize(
    ("nhn", "secrets", "reported"),
    [
        ({"username": "kprgw-oslo"}, PSEUDONYM | {"receiver": {"name": "kpr"}}, "'nhnPassword'"),
        ({"async_queue": "90002_async"}, OWN_ACCOUNT, "'username'"),
        (None, OWN_ACCOUNT, "'nhn'"),
        ({"username": ""}, OWN_ACCOUNT, "username"),
    ],
)
def test_a_tenants_nhn_account_needs_both_user_and_password(
    nhn: dict[str, str] | None, secrets: dict[str, Any], reported: str, tmp_path: Path
) -> None:
    tenant = a_tenant(secrets=secrets) if nhn is None else a_tenant(nhn=nhn, secrets=secrets)
    error = render_failure((values_file(tmp_path, {"tenants": [tenant]}),))
    assert SCHEMA_ERROR in error
    assert reported in error


def test_tenants_with_their_own_nhn_accounts_need_no_release_account(tmp_path: Path) -> None:
    # kpr_gateway.runtime.nhn connects with the release's account (nhn.username,
    # nhn.passwordSecret) only for tenants without their own; the chart asks for neither.
    tenant = a_tenant(nhn={"username": "kprgw-oslo"}, secrets=OWN_ACCOUNT)
    values = {"nhn": {"url": "amqps://tjenestebuss.example.org:5671/kpr"}, "tenants": [tenant]}
    for service, deployment in deployments(render((values_file(tmp_path, values),))).items():
        env = env_values(deployment)
        prefix = f"KPRGW_{service.upper()}_NHN_"
        assert f"{prefix}USERNAME" not in env, service
        assert f"{prefix}PASSWORD_FILE" not in env, service


def test_production_tenants_go_with_a_production_release(tmp_path: Path) -> None:
    values = {"nhn": {"environment": "production"}, "tenants": [a_tenant(environment="production")]}
    manifests = render((values_file(tmp_path, values),))
    assert any(m["kind"] == "Deployment" for m in manifests)


def test_every_service_has_the_same_workload_options() -> None:
    properties = SCHEMA["properties"]
    common = set(properties["transform"]["properties"])
    for service in SERVICES:
        own = set(properties[service]["properties"])
        extra = {"intake": {"service", "ingress", "annualSpool"}, "simulator": {"enabled", "amqp"}}
        extra["simulator"] |= {"credentialsSecret", "partiesConfigMap", "registryAuth"}
        extra["webhooks"] = {"caSecret", "egress"}
        missing = {"simulator": {"autoscaling"}}.get(service, set())
        assert own == (common - missing) | extra.get(service, set()), service


@pytest.mark.parametrize("service", SERVICES)
def test_each_settings_option_is_a_setting_of_the_service(service: str) -> None:
    options = SCHEMA["properties"][service]["properties"]["settings"]["properties"]
    fields = SETTINGS[service].model_fields
    assert options
    for option in options:
        assert snake(option) in fields, f"{service}.settings.{option} is no setting of {service}"


def test_the_defaults_in_values_yaml_match_the_schema_required_keys() -> None:
    defaults = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
    for key in SCHEMA["required"]:
        assert key in defaults, key
    assert set(defaults) <= set(SCHEMA["properties"])


def test_the_full_example_sets_every_top_level_option() -> None:
    full = yaml.safe_load((CI_VALUES_DIR / "full-values.yaml").read_text())
    assert set(full) == set(SCHEMA["properties"]) - {"global"}
    for service in SERVICES:
        options = set(SCHEMA["properties"][service]["properties"]["settings"]["properties"])
        assert set(full[service]["settings"]) == options, service
        assert full[service].get("enabled", True), service


# Settings the chart sets itself (from other values), and the few it leaves at their defaults.
CHART_MANAGED = {
    "tenants_file", "rabbitmq_url", "redis_url", "queue_prefix", "key_prefix", "http_port",
    "ops_port",
    "log_level", "log_json", "traces_console", "drain_seconds",
    "mode", "allow_redis_without_aof", "ledger_check_seconds",  # values.ledger
    "redis_password_file", "redis_ca_file",  # values.redis.passwordSecret, caSecret
    "nhn_url", "nhn_username", "nhn_password_file", "nhn_ca_file", "nhn_allow_insecure",
    "nhn_exchange",
    "signing_certificate", "signing_key", "encryption_certificate", "encryption_key",
    "parties_file", "amqp_url", "amqp_password_file", "amqp_allow_insecure",
    "registry_url", "registry_username", "registry_password_file",
    "registry_cache_ttl_seconds", "registry_timeout_seconds",
    "registry_trust_bundle_file", "registry_receiver_org_number", "registry_revocation",
    "registry_crl_timeout_seconds", "registry_allow_insecure",  # values.addressRegistry
    "ca_file",  # values.webhooks.caSecret
    "annual_spool_dir",
}  # fmt: skip
LEFT_AT_DEFAULT = {
    "http_host",  # a container listens on all its interfaces
    "ops_host",
    "key_password_file",  # the simulator's test keys are not encrypted
    "previous_encryption_certificate",  # no key rotation in the simulator
    "previous_encryption_key",
    "standards_dir",  # the official XSDs are not in the image
}


@pytest.mark.parametrize("service", SERVICES)
def test_every_setting_of_a_service_can_be_given(service: str) -> None:
    options = SCHEMA["properties"][service]["properties"]["settings"]["properties"]
    given = {snake(option) for option in options} | CHART_MANAGED | LEFT_AT_DEFAULT
    missing = set(SETTINGS[service].model_fields) - given
    assert not missing, f"values.schema.json has no {service}.settings for {sorted(missing)}"


def model_properties(schema: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    """A JSON schema's properties, following $ref and the null of optional fields."""
    if "$ref" in schema:
        return model_properties(definitions[schema["$ref"].rsplit("/", 1)[1]], definitions)
    for option in schema.get("anyOf", []):
        if option.get("type") != "null":
            return model_properties(option, definitions)
    if schema.get("type") == "array":
        return model_properties(schema["items"], definitions)
    properties: dict[str, Any] = schema.get("properties", {})
    return properties


def compare_fields(
    chart: dict[str, Any], model: dict[str, Any], defs: dict[str, Any], at: str
) -> None:
    chart_properties = model_properties(chart, SCHEMA["definitions"])
    model_props = model_properties(model, defs)
    assert set(chart_properties) == set(model_props), at
    for name, sub in chart_properties.items():
        if model_properties(sub, SCHEMA["definitions"]):
            compare_fields(sub, model_props[name], defs, f"{at}.{name}")


def test_tenants_in_values_are_tenants_file_entries() -> None:
    # The chart's tenant is the tenancy model's, less the files it writes itself.
    model = Tenant.model_json_schema()
    definitions = model.get("$defs", {})
    chart = json.loads(json.dumps(SCHEMA["properties"]["tenants"]["items"]))
    del chart["properties"]["secrets"]
    written: dict[str, Any] = {
        "pseudonym_secret_file": {},
        "test_persons_file": {},
        "certificates": {},
    }
    chart["properties"].update(written)
    override = chart["properties"]["receiver_override"]["properties"]
    override.update({"encryption_certificate": {}, "signing_certificate": {}})
    chart["properties"]["nhn"]["properties"]["password_file"] = {}
    # A client's webhook names its Secret; the chart writes the file's path in its place.
    webhook = copy.deepcopy(SCHEMA["definitions"]["webhook"])
    del webhook["properties"]["secret"]
    webhook["properties"]["secret_file"] = {}
    oauth_clients = chart["properties"]["oauth"]["properties"]["clients"]
    for clients in (chart["properties"]["epj_clients"], oauth_clients):
        clients["items"]["properties"]["webhook"] = webhook
    compare_fields(chart, model, definitions, "tenant")
