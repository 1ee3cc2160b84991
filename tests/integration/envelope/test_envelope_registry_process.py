"""``python -m kpr_gateway.envelope`` as a process on the real RabbitMQ and Redis: with
``REGISTRY_URL`` a tenant without ``receiver_override`` is sealed for the certificate the
simulator's Address Registry (on a local port) serves; without it, that tenant stops the
start-up with exit code 2 and the tenant named."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from redis.asyncio import Redis

from kpr_gateway.pipeline import MESSAGES, OUTBOX, Delivery, RabbitBus
from kpr_gateway.pipeline.contracts import SealedMessage
from kpr_gateway.security import cms
from kpr_gateway.security.devpki import DevPki
from tests.integration.envelope.infra import REDIS_URL, rabbit_and_redis, wait_for
from tests.support.outbound_world import put_built_message, trondheim_entry, write_tenants
from tests.support.rabbit import RABBIT_URL
from tests.unit.runtime.registries import (
    PARTIES,
    Endpoint,
    kpr_registry,
    served,
    trust_environment,
)


def environment(tmp_path: Path, prefix: str, **extra: str) -> dict[str, str]:
    variables = {
        "TENANTS_FILE": str(tmp_path / "tenants.yaml"),
        "RABBITMQ_URL": RABBIT_URL,
        "REDIS_URL": REDIS_URL,
        "QUEUE_PREFIX": prefix,
        "KEY_PREFIX": prefix,
        "HTTP_HOST": "127.0.0.1",
        "HTTP_PORT": "0",
        "OPS_HOST": "127.0.0.1",
        "OPS_PORT": "0",
        "LOG_JSON": "false",
        "MODE": "development",  # the local Redis has no AOF
        **extra,
    }
    clean = {k: v for k, v in os.environ.items() if not k.startswith("KPRGW_ENVELOPE_")}
    return clean | {f"KPRGW_ENVELOPE_{name}": value for name, value in variables.items()}


async def test_the_service_seals_for_the_certificate_the_registry_serves(tmp_path: Path) -> None:
    pki = DevPki.create(PARTIES)
    tenants = write_tenants(pki, tmp_path, [trondheim_entry(receiver=False)])
    endpoint = Endpoint(kpr_registry(pki, "kpr"))
    async with rabbit_and_redis() as infra, served(endpoint) as url:
        # The service declares every queue with the default retry schedule: so does the tap.
        tap = RabbitBus(RABBIT_URL, service_name="dispatch", prefix=infra.prefix)
        infra.buses.append(tap)
        outbox: list[SealedMessage] = []

        async def collect(delivery: Delivery) -> None:
            outbox.append(SealedMessage.from_body(delivery.body))

        tap.subscribe(OUTBOX, collect)
        await tap.start()
        built = await put_built_message(infra.ledger, tenants.by_id("trondheim"))
        await tap.publish(MESSAGES, built.to_body(), message_id=str(built.msg_id))
        with (tmp_path / "envelope.log").open("wb") as log:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "kpr_gateway.envelope",
                env=environment(
                    tmp_path,
                    infra.prefix,
                    REGISTRY_URL=url,
                    **trust_environment(tmp_path, [pki]),
                ),
                stdout=log,
                stderr=log,
            )
            try:
                await wait_for(lambda: len(outbox) == 1, timeout=60)
                redis = Redis.from_url(REDIS_URL)
                cached = await redis.exists(f"{infra.prefix}:registry:cert:enc:171479")
                await redis.aclose()
            finally:
                if process.returncode is None:
                    process.send_signal(signal.SIGTERM)
                async with asyncio.timeout(60):
                    code = await process.wait()

    [sealed] = outbox
    opened = cms.open_sealed(
        sealed.cms, [pki.party("kpr").encryption], pki.party("bergen").signing.certificate
    )
    assert opened.content == built.document
    assert endpoint.registry.requests.total() >= 1
    assert cached == 1  # cached in the service's Redis, under its key prefix
    assert code == 0, (tmp_path / "envelope.log").read_text(encoding="utf-8")


async def test_without_a_registry_a_tenant_without_override_stops_the_start_up(
    tmp_path: Path,
) -> None:
    pki = DevPki.create(PARTIES[:2])
    write_tenants(pki, tmp_path, [trondheim_entry(receiver=False)])
    async with rabbit_and_redis() as infra:
        infra.buses.append(RabbitBus(RABBIT_URL, service_name="cleanup", prefix=infra.prefix))
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "kpr_gateway.envelope",
            env=environment(tmp_path, infra.prefix),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        async with asyncio.timeout(60):
            _, stderr = await process.communicate()

    assert process.returncode == 2
    assert stderr.decode().endswith(
        "envelope: tenant trondheim: the receiver's encryption certificate cannot be "
        "resolved: no receiver_override and no Address Registry configured\n"
    )
