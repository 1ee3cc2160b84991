"""Shared by the annual end-to-end tests: the demo world with the annual scope for its
clients, the sample files, and following a submission to its outcome."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import yaml

from kpr_gateway.cli.demo.world import DemoWorld

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "annual"
FINAL = frozenset({"refused", "acknowledged", "acknowledged_with_errors", "rejected", "failed"})


def grant_annual_scope(world: DemoWorld) -> None:
    """The demo world's EPJ clients may also submit the annual files (rewritten in place,
    before the services read the tenants file)."""
    document = yaml.safe_load(world.tenants_file.read_text())
    for tenant in document["tenants"]:
        for client in tenant["epj_clients"]:
            client["scopes"] = ["submit", "read", "annual"]
    world.tenants_file.write_text(yaml.safe_dump(document, sort_keys=False))


async def submit_and_follow(
    client: httpx.AsyncClient,
    api_key: str,
    tenant: str,
    *,
    timeout: float = 90,
    form: dict[str, str] | None = None,
) -> dict[str, Any]:
    """POST the tenant's 2025 sample pair (with ``form``'s fields), then poll until the
    submission has its outcome."""
    headers = {"Authorization": f"Bearer {api_key}"}
    files = {
        "iplos": ("iplos.xml", (EXAMPLES / f"{tenant}-2025-iplos.xml").read_bytes()),
        "ident": ("ident.xml", (EXAMPLES / f"{tenant}-2025-ident.xml").read_bytes()),
    }
    answer = await client.post(
        "/v1/annual-submissions",
        files=files,
        data={"year": "2025", **(form or {})},
        headers=headers,
    )
    assert answer.status_code == 201, answer.text
    return await follow(client, api_key, answer.headers["location"], timeout=timeout)


async def follow(
    client: httpx.AsyncClient, api_key: str, location: str, *, timeout: float = 90
) -> dict[str, Any]:
    """Poll a submission until it and both its messages have their outcomes."""
    headers = {"Authorization": f"Bearer {api_key}"}
    async with asyncio.timeout(timeout):
        while True:
            status: dict[str, Any] = (await client.get(location, headers=headers)).json()
            if status["status"] in FINAL and all(
                m["state"] not in ("built", "enveloped", "dispatched") for m in status["messages"]
            ):
                return status
            await asyncio.sleep(0.3)
