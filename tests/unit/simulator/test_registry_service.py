"""The simulator process serves the registry on its HTTP port, built from its settings."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from kpr_gateway.nhn import InMemoryNhnBroker, InMemoryNhnTransport
from kpr_gateway.registry import AddressRegistryClient, PartyType
from kpr_gateway.security.devpki import DevPki
from kpr_gateway.simulator import Simulator, SimulatorConfigError
from kpr_gateway.simulator.registry_config import build_registry
from kpr_gateway.simulator.service import SimulatorProcess
from tests.unit.simulator.support import (
    KPR_HER_ID,
    KPR_QUEUE,
    SENDER_HER_ID,
    fhi_credentials,
    sender_of,
)
from tests.unit.simulator.test_config import fhi_settings, write_parties


def simulator(broker: InMemoryNhnBroker, pki: DevPki) -> Simulator:
    return Simulator(
        transport=InMemoryNhnTransport(broker),
        credentials=fhi_credentials(pki),
        senders=[sender_of(pki)],
        queues=[KPR_QUEUE],
    )


async def test_registry_beside_the_health_routes(
    pki: DevPki, pki_dir: Path, broker: InMemoryNhnBroker, tmp_path: Path
) -> None:
    settings = fhi_settings(pki_dir, write_parties(tmp_path, pki_dir), registry_path="/ar/v1")
    registry = build_registry(settings)
    assert registry is not None
    process = SimulatorProcess(
        simulator(broker, pki),
        host="127.0.0.1",
        port=0,
        registry=registry,
        registry_path=settings.registry_path,
    )
    await process.start()
    try:
        base = f"http://127.0.0.1:{process.port}"
        async with AddressRegistryClient(f"{base}/ar/v1") as client:
            receiver = await client.get_communication_party_details(KPR_HER_ID)
            sender_signing = await client.get_certificate_details_for_validating_signature(
                SENDER_HER_ID
            )
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{process.ops_port}") as http:
            health = await http.get("/healthz")
    finally:
        await process.stop(drain_seconds=5)

    assert receiver.type is PartyType.SERVICE
    assert receiver.async_queue == KPR_QUEUE
    assert sender_signing == pki.party("kommune").signing.certificate
    assert health.status_code == 200


async def test_without_a_registry_the_path_is_not_served(
    pki: DevPki, broker: InMemoryNhnBroker
) -> None:
    process = SimulatorProcess(simulator(broker, pki), host="127.0.0.1", port=0)
    await process.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{process.port}") as http:
            response = await http.post("/registry", content=b"")
    finally:
        await process.stop(drain_seconds=5)
    assert response.status_code == 404
    assert process.registry is None


def test_registry_settings(pki_dir: Path, tmp_path: Path) -> None:
    parties = write_parties(tmp_path, pki_dir)
    password = tmp_path / "registry-password"
    password.write_text("s3cret\n")

    assert build_registry(fhi_settings(pki_dir, parties, registry_enabled=False)) is None
    guarded = build_registry(
        fhi_settings(pki_dir, parties, registry_username="kprgw", registry_password_file=password)
    )
    assert guarded is not None
    assert guarded.authorised("Basic a3ByZ3c6czNjcmV0")  # kprgw:s3cret
    assert not guarded.authorised(None)

    with pytest.raises(ValidationError, match="go together"):
        fhi_settings(pki_dir, parties, registry_username="kprgw")
    with pytest.raises(ValidationError, match="registry_path"):
        fhi_settings(pki_dir, parties, registry_path="no-slash")
    with pytest.raises(SimulatorConfigError, match="registry_password_file cannot be read"):
        build_registry(
            fhi_settings(
                pki_dir,
                parties,
                registry_username="kprgw",
                registry_password_file=tmp_path / "missing",
            )
        )
