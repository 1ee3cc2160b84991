"""`kprgw local up`'s ports: each process's own port and its ops port (health, readiness,
status, metrics) 1000 above, all free; readiness is asked on the ops port."""

from __future__ import annotations

import socket

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from kpr_gateway.cli.local_processes import (
    PROCESSES,
    LocalRunError,
    allocate_ports,
    is_ready,
    ops_port,
)
from kpr_gateway.observability import HealthServer


def test_any_free_ports_come_with_free_ops_ports() -> None:
    ports = allocate_ports(0)
    assert list(ports) == list(PROCESSES)
    every = [*ports.values(), *(ops_port(port) for port in ports.values())]
    assert len(set(every)) == len(every)
    for port in every:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))  # free (an OSError here fails the test)


def test_a_base_gives_intake_the_base_and_its_ops_port_1000_above() -> None:
    base = _free_base()
    ports = allocate_ports(base)
    assert ports["intake"] == base
    assert ops_port(ports["intake"]) == base + 1000
    assert sorted(ports.values()) == list(range(base, base + len(PROCESSES)))


def test_a_taken_ops_port_is_named() -> None:
    base = _free_base()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", base + 1000))
        taken.listen()
        with pytest.raises(LocalRunError, match=rf"intake {base + 1000} \(ops\)"):
            allocate_ports(base)


def test_a_base_without_room_for_the_ops_ports_is_refused() -> None:
    with pytest.raises(LocalRunError, match="no room for the ops ports"):
        allocate_ports(65000)


async def test_readiness_is_asked_on_the_ops_port() -> None:
    async def ready(_: Request) -> Response:
        return PlainTextResponse("ok")

    server = HealthServer(Starlette(routes=[Route("/readyz", ready)]), "127.0.0.1", 0)
    async with server, httpx.AsyncClient() as client:
        # the process's own port is the ops port less 1000; nothing listens there
        assert await is_ready(client, server.port - 1000)
        assert not await is_ready(client, server.port)


def _free_base() -> int:
    """A base whose processes' ports and ops ports are all free (tried until one is)."""
    for _ in range(50):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            base = int(sock.getsockname()[1])
        if base + 1000 + len(PROCESSES) > 65535:
            continue
        try:
            allocate_ports(base)
        except LocalRunError:
            continue
        return base
    raise AssertionError("no free range of ports found")
