"""Services as processes on the real RabbitMQ and Redis: health, status and metrics on the
ops port only, and readiness that an Address Registry outage does not touch."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from kpr_gateway.pipeline import RabbitBus
from kpr_gateway.security.devpki import DevPki
from tests.integration.envelope.infra import REDIS_URL, Infra, rabbit_and_redis
from tests.support.outbound_world import bergen_entry, trondheim_entry, write_tenants
from tests.support.rabbit import RABBIT_URL
from tests.unit.runtime.registries import (
    PARTIES,
    Endpoint,
    kpr_registry,
    served,
    trust_environment,
)

pytestmark = pytest.mark.integration

OPS_PATHS = ("/healthz", "/readyz", "/status", "/metrics")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Ports:
    """The API port and the ops port of one process."""

    def __init__(self) -> None:
        self.http = free_port()
        self.ops = free_port()

    def api(self, path: str) -> str:
        return f"http://127.0.0.1:{self.http}{path}"

    def ops_url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.ops}{path}"


def environment(
    service: str, tmp_path: Path, infra: Infra, ports: Ports, **extra: str
) -> dict[str, str]:
    prefix = f"KPRGW_{service.upper()}_"
    variables = {
        "TENANTS_FILE": str(tmp_path / "tenants.yaml"),
        "RABBITMQ_URL": RABBIT_URL,
        "REDIS_URL": REDIS_URL,
        "QUEUE_PREFIX": infra.prefix,
        "KEY_PREFIX": infra.prefix,
        "HTTP_HOST": "127.0.0.1",
        "HTTP_PORT": str(ports.http),
        "OPS_HOST": "127.0.0.1",
        "OPS_PORT": str(ports.ops),
        "LOG_JSON": "false",
        "MODE": "development",  # the local Redis has no AOF
        **extra,
    }
    clean = {k: v for k, v in os.environ.items() if not k.startswith(prefix)}
    return clean | {prefix + name: value for name, value in variables.items()}


@asynccontextmanager
async def running(
    service: str, env: dict[str, str], log: Path, ports: Ports
) -> AsyncIterator[httpx.AsyncClient]:
    """The service as a process, once it answers /readyz on its ops port (an HTTP client is
    yielded); SIGTERM after, and it must drain cleanly."""
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", f"kpr_gateway.{service}", env=env, stdout=out, stderr=out
        )
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                async with asyncio.timeout(60):
                    while not await _ready(client, ports):
                        assert process.returncode is None, log.read_text()
                        await asyncio.sleep(0.1)
                yield client
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
            async with asyncio.timeout(60):
                code = await process.wait()
    assert code == 0, log.read_text()


async def _ready(client: httpx.AsyncClient, ports: Ports) -> bool:
    try:
        return (await client.get(ports.ops_url("/readyz"))).status_code == 200
    except httpx.TransportError:
        return False


async def status_once(
    client: httpx.AsyncClient, ports: Ports, unavailable: list[str]
) -> dict[str, Any]:
    """/status once it names ``unavailable`` (external checks are reused for a few seconds)."""
    async with asyncio.timeout(20):
        while True:
            status: dict[str, Any] = (await client.get(ports.ops_url("/status"))).json()
            if status["unavailable"] == unavailable:
                return status
            await asyncio.sleep(0.2)


async def test_a_registry_outage_is_shown_and_leaves_the_envelope_ready(tmp_path: Path) -> None:
    pki = DevPki.create(PARTIES)
    write_tenants(pki, tmp_path, [trondheim_entry(receiver=False)])
    ports = Ports()
    async with rabbit_and_redis() as infra, AsyncExitStack() as registry_up:
        infra.buses.append(RabbitBus(RABBIT_URL, service_name="cleanup", prefix=infra.prefix))
        url = await registry_up.enter_async_context(served(Endpoint(kpr_registry(pki))))
        trust = trust_environment(tmp_path, [pki])
        env = environment("envelope", tmp_path, infra, ports, REGISTRY_URL=url, **trust)
        async with running("envelope", env, tmp_path / "envelope.log", ports) as client:
            up = await status_once(client, ports, [])
            await registry_up.aclose()  # the Address Registry is gone, for everyone
            down = await status_once(client, ports, ["address_registry"])
            ready = await client.get(ports.ops_url("/readyz"))
            metrics = (await client.get(ports.ops_url("/metrics"))).text
            with pytest.raises(httpx.ConnectError):  # no API: nothing on the HTTP port
                await client.get(ports.api("/metrics"))

    assert up["external"] == {"address_registry": True}
    assert down["external"] == {"address_registry": False}
    assert down["status"] == "ready"
    assert ready.status_code == 200
    assert set(ready.json()["checks"]) == {"broker", "redis"}
    assert 'kprgw_external_up{system="address_registry"} 0.0' in metrics


async def test_intake_serves_its_api_and_its_ops_port_apart(
    dev_pki: DevPki, tmp_path: Path
) -> None:
    write_tenants(dev_pki, tmp_path, [bergen_entry()])
    ports = Ports()
    async with rabbit_and_redis() as infra:
        infra.buses.append(RabbitBus(RABBIT_URL, service_name="cleanup", prefix=infra.prefix))
        env = environment("intake", tmp_path, infra, ports)
        async with running("intake", env, tmp_path / "intake.log", ports) as client:
            api = {path: await client.get(ports.api(path)) for path in OPS_PATHS}
            ops = {path: await client.get(ports.ops_url(path)) for path in OPS_PATHS}
            unauthenticated = await client.post(ports.api("/v1/events"), json={})
            on_ops = await client.post(ports.ops_url("/v1/events"), json={})

    assert {path: answer.status_code for path, answer in api.items()} == dict.fromkeys(
        OPS_PATHS, 404
    )
    assert {path: answer.status_code for path, answer in ops.items()} == dict.fromkeys(
        OPS_PATHS, 200
    )
    assert "kprgw_intake_audit_total" in ops["/metrics"].text
    assert ops["/status"].json()["external"] == {}
    assert unauthenticated.status_code == 401  # the API is on its own port
    assert on_ops.status_code in {404, 405}  # and only there


class CuttableLink:
    """A TCP proxy to the local broker standing in for NHN's Tjenestebuss; ``cut()`` closes
    it and every connection through it, as an NHN outage would."""

    def __init__(self, target_port: int) -> None:
        self._target_port = target_port
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._connected, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in self._writers:
            writer.close()
        self._writers.clear()

    async def _connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(
            "127.0.0.1", self._target_port
        )
        self._writers += [writer, upstream_writer]
        await asyncio.gather(
            self._pipe(reader, upstream_writer),
            self._pipe(upstream_reader, writer),
            return_exceptions=True,
        )

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()


async def test_an_nhn_outage_is_shown_and_leaves_dispatch_ready(
    dev_pki: DevPki, tmp_path: Path
) -> None:
    write_tenants(dev_pki, tmp_path, [bergen_entry()])
    (tmp_path / "nhn-password").write_text("guest")
    ports = Ports()
    nhn = CuttableLink(5672)
    await nhn.start()
    try:
        async with rabbit_and_redis() as infra:
            infra.buses.append(RabbitBus(RABBIT_URL, service_name="cleanup", prefix=infra.prefix))
            env = environment(
                "dispatch",
                tmp_path,
                infra,
                ports,
                NHN_URL=f"amqp://127.0.0.1:{nhn.port}/amq.direct",
                NHN_USERNAME="guest",
                NHN_PASSWORD_FILE=str(tmp_path / "nhn-password"),
                NHN_ALLOW_INSECURE="true",
            )
            async with running("dispatch", env, tmp_path / "dispatch.log", ports) as client:
                up = await status_once(client, ports, [])
                await nhn.cut()  # NHN is gone, for every replica alike
                down = await status_once(client, ports, ["nhn"])
                ready = await client.get(ports.ops_url("/readyz"))
                metrics = (await client.get(ports.ops_url("/metrics"))).text
    finally:
        await nhn.cut()

    assert up["external"] == {"nhn": True}
    assert down["status"] == "ready"
    assert ready.status_code == 200
    assert "nhn" not in ready.json()["checks"]
    assert 'kprgw_external_up{system="nhn"} 0.0' in metrics
