"""A development PKI, the simulated registry on a real Starlette app, and tenants using it.

The client under test talks HTTP to the simulator's registry app through httpx's ASGI
transport: the real app, the real client, no sockets.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.types import ASGIApp

from kpr_gateway.registry import AddressRegistryClient
from kpr_gateway.security.devpki import DevPki
from kpr_gateway.simulator import ReceiverCredentials, known_sender
from kpr_gateway.simulator.registry import RegistryParty, SimulatedRegistry, simulated_registry
from kpr_gateway.simulator.registry_http import registry_routes
from kpr_gateway.tenancy import Tenant

BASE = "http://registry.test"
URL = f"{BASE}/registry"
PARTIES = (("kommune", "958935420"), ("fhi", "983744516"), ("other", "974760673"))
SENDER_HER_ID = "50002"
SENDER_ASYNC = "kommune-50002_async"
SENDER_ERROR = "kommune-50002_error"
FHI_HER_ID = "85217"
KPR_VALIDATION = "171479"
KPR_PRODUCTION = "122612"


def fhi_credentials(pki: DevPki) -> ReceiverCredentials:
    fhi = pki.party("fhi")
    return ReceiverCredentials(signing=fhi.signing, decryption=(fhi.encryption,))


def standard_registry(
    pki: DevPki, *, username: str | None = None, password: str | None = None
) -> SimulatedRegistry:
    """FHI with its KPR receivers, and the municipality's party as the one known sender."""
    kommune = pki.party("kommune")
    sender = known_sender(
        SENDER_HER_ID,
        kommune.signing.certificate,
        kommune.encryption.certificate,
        async_queue=SENDER_ASYNC,
        error_queue=SENDER_ERROR,
    )
    return simulated_registry([sender], fhi_credentials(pki), username=username, password=password)


def custom_registry(parties: Iterable[RegistryParty], **options: Any) -> SimulatedRegistry:
    return SimulatedRegistry(parties, **options)


def registry_app(registry: SimulatedRegistry) -> Starlette:
    return Starlette(routes=registry_routes(registry))


@asynccontextmanager
async def client_of(
    app: ASGIApp, *, url: str = URL, **options: Any
) -> AsyncIterator[AddressRegistryClient]:
    """A registry client whose HTTP goes to ``app`` in-process."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
        yield AddressRegistryClient(url, http=http, **options)


def tenant(tmp_path: Path, **overrides: Any) -> Tenant:
    secret = tmp_path / "pseudonym.key"
    secret.write_bytes(b"0123456789abcdef0123456789abcdef-dev")
    values: dict[str, Any] = {
        "id": "bergen",
        "municipality_number": "4601",
        "name": "Bergen kommune",
        "org_number": "964338531",
        "her_id": "50001",
        "communication_party": {"name": "Saksbehandling", "her_id": SENDER_HER_ID},
        "environment": "validation",
        "pseudonym_secret_file": str(secret),
    }
    values.update(overrides)
    return Tenant.model_validate(values)
