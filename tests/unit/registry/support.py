"""A development PKI, the simulated registry on a real Starlette app, and tenants using it.

The client under test talks HTTP to the simulator's registry app through httpx's ASGI
transport: the real app, the real client, no sockets. The PKI's certificates name a CRL at
``CRL_URL`` (on the same app, when ``registry_app`` is given one), and ``trust_of`` trusts the
PKI's CA, fetching CRLs through the client's pool, as the runtime does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from kpr_gateway.registry import (
    AddressRegistryClient,
    CertificateTrust,
    CrlChecker,
    ReceiverDirectory,
    RevocationMode,
)
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
CRL_PATH = "/crl/dev-ca.crl"
CRL_URL = f"{BASE}{CRL_PATH}"
CRL_MEDIA_TYPE = "application/pkix-crl"


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


def registry_app(registry: SimulatedRegistry, *, crl: bytes | None = None) -> Starlette:
    """The registry; with ``crl``, that CRL at ``CRL_PATH`` too (else a 404 there)."""
    routes: list[BaseRoute] = list(registry_routes(registry))
    if crl is not None:
        routes.append(crl_route(crl))
    return Starlette(routes=routes)


def crl_route(crl: bytes, path: str = CRL_PATH) -> Route:
    async def endpoint(request: Request) -> Response:
        return Response(crl, media_type=CRL_MEDIA_TYPE)

    return Route(path, endpoint, methods=["GET"])


def trust_of(
    client: AddressRegistryClient,
    *issuers: x509.Certificate,
    mode: RevocationMode = RevocationMode.HARD_FAIL,
) -> CertificateTrust:
    """Trust in ``issuers``, CRLs fetched through the client's pool (hard-fail: production's)."""
    return CertificateTrust(issuers, CrlChecker(client.http, mode=mode, timeout=2.0))


def trusting_directory(
    client: AddressRegistryClient, pki: DevPki, **options: Any
) -> ReceiverDirectory:
    """The directory over ``client`` (or a cache of it), trusting ``pki``'s CA."""
    return ReceiverDirectory(client, trust=trust_of(client, pki.ca.certificate), **options)


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
