"""A complete development world on disk: a dev PKI, two municipalities with their secrets,
EPJ API keys, and FHI's certificates for the built-in simulator.

Used by ``kprgw demo`` and by the end-to-end tests, so both run what an operator would
configure: a tenants file with mounted-file secrets.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kpr_gateway.security.devpki import DevPki
from kpr_gateway.tenancy import TargetEnvironment, kpr_receiver


@dataclass(frozen=True, slots=True)
class DemoMunicipality:
    tenant_id: str
    name: str
    municipality_number: str
    org_number: str
    her_id: str
    service_her_id: str


MUNICIPALITIES = (
    DemoMunicipality("bergen", "Bergen kommune", "4601", "964338531", "91001", "91002"),
    DemoMunicipality("trondheim", "Trondheim kommune", "5001", "942110464", "92001", "92002"),
)
FHI = ("fhi", "983744516")
DEMO_EPJ_SYSTEM = {"vendor": "KPR Gateway", "name": "Demo-EPJ", "version": "1.0"}
"""The EPJ system the demo's notifications come from (``leverandor``, ``navnEPJ``, ...)."""


@dataclass(frozen=True)
class DemoWorld:
    directory: Path
    tenants_file: Path
    api_keys: dict[str, str]
    """tenant id -> the EPJ client's API key (shown to the user; only its hash is stored)."""
    pki_dir: Path
    municipalities: tuple[DemoMunicipality, ...]
    simulator_parties_file: Path
    """The simulator's known senders: the tenants' communication parties."""

    def fhi_file(self, suffix: str) -> Path:
        return self.pki_dir / f"{FHI[0]}-{suffix}"


def create_world(
    directory: Path,
    *,
    environment: str = "validation",
    municipalities: tuple[DemoMunicipality, ...] = MUNICIPALITIES,
    nhn_queue_prefix: str = "",
) -> DemoWorld:
    """Write the world to ``directory``; ``nhn_queue_prefix`` keeps NHN queue names of
    parallel runs on one broker apart (empty: NHN's own names, ``<herId>_async``)."""
    directory.mkdir(parents=True, exist_ok=True)
    pki_dir = directory / "pki"
    parties = [(m.tenant_id, m.org_number) for m in municipalities] + [FHI]
    DevPki.create(parties).write(pki_dir)
    secrets_dir = directory / "secrets"
    secrets_dir.mkdir(exist_ok=True)
    api_keys: dict[str, str] = {}
    tenants: list[dict[str, Any]] = []
    for municipality in municipalities:
        secret = secrets_dir / f"{municipality.tenant_id}-pseudonym.key"
        secret.write_text(secrets.token_urlsafe(48))
        secret.chmod(0o600)
        api_key = f"kprgw_{secrets.token_urlsafe(32)}"
        api_keys[municipality.tenant_id] = api_key
        tenants.append(_tenant(municipality, environment, api_key, nhn_queue_prefix))
    tenants_file = directory / "tenants.yaml"
    tenants_file.write_text(yaml.safe_dump({"tenants": tenants}, sort_keys=False))
    parties_file = directory / "simulator-parties.yaml"
    parties_file.write_text(
        yaml.safe_dump({"senders": [_sender(directory, t) for t in tenants]}, sort_keys=False)
    )
    return DemoWorld(directory, tenants_file, api_keys, pki_dir, municipalities, parties_file)


def _sender(directory: Path, tenant: dict[str, Any]) -> dict[str, Any]:
    """A tenant as the simulator knows it: HER-id, certificates, queues to answer on."""
    sender: dict[str, Any] = {
        "her_id": tenant["communication_party"]["her_id"],
        "signing_certificate": str(directory / tenant["certificates"]["signing"]["certificate"]),
        "encryption_certificate": str(
            directory / tenant["certificates"]["encryption"]["certificate"]
        ),
    }
    sender.update(tenant.get("nhn", {}))
    return sender


def _reporting(municipality: DemoMunicipality) -> dict[str, Any]:
    """What the municipality's KPR messages say about their sender: the EPJ system and the
    IPLOS contact (type 16) and submitter (type 17). Fictional people, example.org addresses."""
    domain = f"{municipality.tenant_id}.kommune.example.org"
    return {
        "epj_system": dict(DEMO_EPJ_SYSTEM),
        "contacts": [
            {
                "name": "IPLOS-kontakt",
                "email": f"iplos@{domain}",
                "phone": "+47 55 00 00 00",
                "type": 16,
            },
            {"name": "Innsendingsansvarlig", "email": f"kpr@{domain}", "type": 17},
        ],
    }


def _tenant(
    municipality: DemoMunicipality, environment: str, api_key: str, queue_prefix: str
) -> dict[str, Any]:
    name = municipality.tenant_id
    tenant: dict[str, Any] = {
        "id": name,
        "municipality_number": municipality.municipality_number,
        "name": municipality.name,
        "org_number": municipality.org_number,
        "her_id": municipality.her_id,
        "communication_party": {"name": "Saksbehandling", "her_id": municipality.service_her_id},
        "environment": environment,
        "pseudonym_secret_file": f"secrets/{name}-pseudonym.key",
        "certificates": {
            "signing": {"certificate": f"pki/{name}-sign.pem", "key": f"pki/{name}-sign.key"},
            "encryption": {"certificate": f"pki/{name}-enc.pem", "key": f"pki/{name}-enc.key"},
        },
        "reporting": _reporting(municipality),
        "epj_clients": [
            {
                "id": f"{name}-epj",
                "api_key_sha256": hashlib.sha256(api_key.encode()).hexdigest(),
                "scopes": ["submit", "read", "annual"],
            }
        ],
        "receiver_override": {
            "encryption_certificate": f"pki/{FHI[0]}-enc.pem",
            "signing_certificate": f"pki/{FHI[0]}-sign.pem",
        },
    }
    if queue_prefix:
        her_id = municipality.service_her_id
        tenant["nhn"] = {
            "async_queue": f"{queue_prefix}{her_id}_async",
            "error_queue": f"{queue_prefix}{her_id}_error",
        }
        receiver = kpr_receiver(TargetEnvironment(environment))
        receiver_her_id = receiver.service.her_id if receiver.service else receiver.her_id
        tenant["receiver_override"]["async_queue"] = f"{queue_prefix}{receiver_her_id}_async"
    return tenant
