"""The simulator's Address Registry serving KPR's receivers, for the services' tests.

FHI is served with the certificates of a development party of the test's choosing (not the
``fhi`` party that tenants' ``receiver_override`` points at), and the KPR receivers under it
with queue names no override uses, so a test can tell where a receiver came from. The
registry sits behind an ``Endpoint`` whose registry a test can swap (KPR rotating its
certificates). Services reach it through the runtime's own factories, over httpx's ASGI
transport (no sockets) or a real local port.

The registry's certificates are trusted when their PKI is among ``trusted`` (its CA goes in
the trust bundle; without any, a CA that issued nothing here), over plain HTTP
(``registry_allow_insecure``), with revocation soft-failing: these PKIs publish no CRLs
(revocation itself is tested in ``tests/unit/registry``).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Final

import httpx
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send

from kpr_gateway.observability import HealthServer
from kpr_gateway.registry import ReceiverDirectory
from kpr_gateway.runtime.registry import (
    RegistryServiceSettings,
    receiver_directory,
    registry_client,
)
from kpr_gateway.security.devpki import DevPki
from kpr_gateway.simulator import ReceiverCredentials
from kpr_gateway.simulator.registry import SimulatedRegistry, receiver_parties
from kpr_gateway.simulator.registry_http import DEFAULT_REGISTRY_PATH, registry_routes

# The tenants' own parties and the override's (as in the envelope and receipts worlds), and
# two key pairs KPR has in the registry: the current one and the next (a rotation).
PARTIES: Final = (
    ("bergen", "964338531"),
    ("fhi", "983744516"),
    ("intruder", "974760673"),
    ("bergen-old", "964338531"),
    ("kpr", "983744516"),
    ("kpr-next", "983744516"),
)
ASGI_URL: Final = f"http://registry.test{DEFAULT_REGISTRY_PATH}"
QUEUE_PREFIX: Final = "registry-"
KPR_VALIDATION_QUEUE_IN_REGISTRY: Final = f"{QUEUE_PREFIX}171479_async"


def kpr_registry(pki: DevPki, party: str = "kpr") -> SimulatedRegistry:
    """FHI with ``party``'s certificates, and the KPR receivers with ``registry-`` queues."""
    keys = pki.party(party)
    parties = receiver_parties(
        ReceiverCredentials(signing=keys.signing, decryption=(keys.encryption,))
    )
    return SimulatedRegistry(
        dataclasses.replace(
            entry,
            async_queue=entry.async_queue and f"{QUEUE_PREFIX}{entry.async_queue}",
            error_queue=entry.error_queue and f"{QUEUE_PREFIX}{entry.error_queue}",
        )
        for entry in parties
    )


class Endpoint:
    """The simulated registry's HTTP app; ``serve`` swaps the registry behind it."""

    def __init__(self, registry: SimulatedRegistry) -> None:
        self.serve(registry)

    def serve(self, registry: SimulatedRegistry) -> None:
        self.registry = registry
        self._app = Starlette(routes=registry_routes(registry))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)


@functools.cache
def _stranger_ca() -> x509.Certificate:
    """A CA that issued none of the registry's certificates: a bundle that trusts nothing."""
    return DevPki.create([]).ca.certificate


def trust_bundle(directory: Path, trusted: Iterable[DevPki] = ()) -> Path:
    """The CAs of ``trusted`` (else a stranger's) as a PEM trust bundle in ``directory``."""
    cas = [pki.ca.certificate for pki in trusted] or [_stranger_ca()]
    path = directory / "registry-trust.pem"
    path.write_bytes(b"".join(ca.public_bytes(Encoding.PEM) for ca in cas))
    return path


def trust_environment(directory: Path, trusted: Iterable[DevPki]) -> dict[str, str]:
    """The same as ``REGISTRY_*`` variables (without the service's prefix)."""
    return {
        "REGISTRY_TRUST_BUNDLE_FILE": str(trust_bundle(directory, trusted)),
        "REGISTRY_ALLOW_INSECURE": "true",
        "REGISTRY_REVOCATION": "soft-fail",
    }


def settings_for(
    url: str, tmp_path: Path, *, trusted: Iterable[DevPki] = (), **options: Any
) -> RegistryServiceSettings:
    defaults: dict[str, Any] = {
        "registry_allow_insecure": True,
        "registry_trust_bundle_file": trust_bundle(tmp_path, trusted),
        "registry_revocation": "soft-fail",
    }
    return RegistryServiceSettings(
        tenants_file=tmp_path / "tenants.yaml", registry_url=url, **(defaults | options)
    )


@asynccontextmanager
async def directory_over_asgi(
    endpoint: Endpoint,
    redis: Redis,
    tmp_path: Path,
    *,
    trusted: Iterable[DevPki] = (),
    **options: Any,
) -> AsyncIterator[ReceiverDirectory]:
    """The directory a service gets from the runtime, its HTTP going to ``endpoint``."""
    settings = settings_for(ASGI_URL, tmp_path, trusted=trusted, **options)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=endpoint)) as http:
        client = registry_client("test", settings, http=http)
        yield receiver_directory(settings, redis, client)


@asynccontextmanager
async def served(endpoint: Endpoint) -> AsyncIterator[str]:
    """The endpoint on a real local port (uvicorn); yields its URL."""
    server = HealthServer(endpoint, "127.0.0.1", 0)
    await server.start()
    try:
        yield f"http://127.0.0.1:{server.port}{DEFAULT_REGISTRY_PATH}"
    finally:
        await server.stop()


@asynccontextmanager
async def directory_over_http(
    url: str, redis: Redis, tmp_path: Path, *, trusted: Iterable[DevPki] = (), **options: Any
) -> AsyncIterator[ReceiverDirectory]:
    """The directory as the runtime builds it in production: its own HTTP client."""
    settings = settings_for(url, tmp_path, trusted=trusted, **options)
    client = registry_client("test", settings)
    assert client is not None
    try:
        yield receiver_directory(settings, redis, client)
    finally:
        await client.aclose()
