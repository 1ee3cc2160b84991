"""Tenant files with a ``reporting`` block, and NDJSON files of sample notifications."""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from kpr_gateway.cli.demo.samples import event

SECRET = b"0123456789abcdef0123456789abcdef-test-secret"
EPJ_SYSTEM = {"vendor": "Visma", "name": "Profil", "version": "9.4"}
CLIENT_SYSTEM = {"vendor": "DIPS", "name": "Kommunehelse", "version": "2.1"}


def tenant_data(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "bergen",
        "municipality_number": "4601",
        "name": "Bergen kommune",
        "org_number": "964338531",
        "her_id": "50001",
        "communication_party": {"name": "Saksbehandling", "her_id": "50002"},
        "environment": "validation",
        "pseudonym_secret_file": "secrets/bergen.key",
        "reporting": {
            "epj_system": dict(EPJ_SYSTEM),
            "contacts": [
                {"name": "Kari Kontakt", "email": "iplos@bergen.example.org", "type": 16},
                {
                    "name": "Ola Innsender",
                    "email": "kpr@bergen.example.org",
                    "phone": "+47 55 00 00 00",
                    "type": 17,
                },
            ],
        },
        "epj_clients": [
            {"id": "bergen-profil", "api_key_sha256": "a" * 64, "scopes": ["submit"]},
            {
                "id": "bergen-dips",
                "api_key_sha256": "b" * 64,
                "scopes": ["submit"],
                "epj_system": dict(CLIENT_SYSTEM),
            },
        ],
    }
    data.update(overrides)
    return data


def write_tenant(directory: Path, **overrides: Any) -> Path:
    (directory / "secrets").mkdir(exist_ok=True)
    (directory / "secrets" / "bergen.key").write_bytes(SECRET)
    path = directory / "bergen.yaml"
    path.write_text(yaml.safe_dump(tenant_data(**overrides)))
    return path


def notifications(count: int, municipality: str = "4601", *, seed: int = 1) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [event(rng, municipality) for _ in range(count)]


def write_ndjson(path: Path, items: Iterable[dict[str, Any] | str | bytes]) -> Path:
    with path.open("wb") as out:
        for item in items:
            text = json.dumps(item) if isinstance(item, dict) else item
            out.write((text.encode() if isinstance(text, str) else text) + b"\n")
    return path
