"""Which broker and Redis connections are this run's, and closing them.

RabbitMQ and Redis are shared with whatever else runs on the machine (other runs, tests), so
the chaos run closes only its own processes' connections: a process's sockets (``/proc/<pid>/
fd``) give their inodes, ``/proc/net/tcp`` the local port of each, and the broker (``rabbitmqctl
list_connections ... peer_port``) and Redis (``CLIENT LIST``, ``addr``) name the peer port of
each connection they hold.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from redis.asyncio import Redis

RABBITMQCTL: Final = "rabbitmqctl"
SS: Final = "ss"


def socket_inodes(pid: int, proc: Path = Path("/proc")) -> set[int]:
    inodes: set[int] = set()
    try:
        descriptors = list((proc / str(pid) / "fd").iterdir())
    except OSError:
        return inodes
    for descriptor in descriptors:
        try:
            target = os.readlink(descriptor)
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:[") and target.endswith("]"):
            inodes.add(int(target[len("socket:[") : -1]))
    return inodes


def tcp_connections(tables: Iterable[str]) -> dict[int, tuple[int, int]]:
    """inode -> (local port, remote port) of every TCP socket in ``/proc/net/tcp``-style
    tables (ports in hex, the inode in the tenth column)."""
    found = {}
    for table in tables:
        for line in table.splitlines()[1:]:
            fields = line.split()
            if len(fields) < 10:
                continue
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            found[int(fields[9])] = (local_port, remote_port)
    return found


def _tables(proc: Path) -> list[str]:
    texts = []
    for name in ("tcp", "tcp6"):
        try:
            texts.append((proc / "net" / name).read_text())
        except OSError:
            continue
    return texts


def ports_to(
    pids: Mapping[str, int], remote_port: int, proc: Path = Path("/proc")
) -> dict[int, str]:
    """Local port -> process name, for each connection of ``pids`` to ``remote_port``."""
    connections = tcp_connections(_tables(proc))
    owners: dict[int, str] = {}
    for name, pid in pids.items():
        for inode in socket_inodes(pid, proc):
            ports = connections.get(inode)
            if ports is not None and ports[1] == remote_port:
                owners[ports[0]] = name
    return owners


@dataclass(frozen=True)
class BrokerConnection:
    pid: str
    """The broker's own id of the connection (an Erlang pid), for close_connection."""
    protocol: str
    peer_port: int

    @property
    def amqp_1_0(self) -> bool:
        # rabbitmqctl shows {0,9,1} for AMQP 0-9-1 and {'AMQP',{1,0}} for the 1.0 plugin's.
        return "{1,0}" in self.protocol.replace(" ", "")


def parse_connections(listing: str) -> list[BrokerConnection]:
    """``rabbitmqctl -q list_connections pid protocol peer_port`` (tab-separated)."""
    found = []
    for line in listing.splitlines():
        fields = line.split("\t")
        if len(fields) != 3 or not fields[2].strip().isdigit():
            continue  # a header, or a connection still opening
        found.append(BrokerConnection(fields[0].strip(), fields[1].strip(), int(fields[2])))
    return found


class ConnectionsError(Exception):
    """The broker's or Redis' connections could not be listed or closed."""


async def _command(*arguments: str) -> str:
    try:
        process = await asyncio.create_subprocess_exec(
            *arguments, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
    except OSError as exc:
        raise ConnectionsError(f"{arguments[0]} cannot be run ({exc})") from exc
    out, err = await process.communicate()
    if process.returncode != 0:
        raise ConnectionsError(f"{' '.join(arguments[:2])}: {err.decode(errors='replace')}")
    return out.decode(errors="replace")


async def _rabbitmqctl(*arguments: str) -> str:
    return await _command(RABBITMQCTL, "-q", *arguments)


async def close_broker_connections(
    pids: Mapping[str, int], *, amqp_1_0: bool, broker_port: int = 5672
) -> dict[str, int]:
    """Close the broker connections of ``pids`` of one protocol; how many per process."""
    owners = ports_to(pids, broker_port)
    listing = await _rabbitmqctl("list_connections", "pid", "protocol", "peer_port")
    chosen = [
        c for c in parse_connections(listing) if c.peer_port in owners and c.amqp_1_0 == amqp_1_0
    ]
    await asyncio.gather(
        *(_rabbitmqctl("close_connection", c.pid, "chaos run: connection closed") for c in chosen)
    )
    closed: dict[str, int] = {}
    for connection in chosen:
        owner = owners[connection.peer_port]
        closed[owner] = closed.get(owner, 0) + 1
    return closed


async def drop_amqp_1_0_links(
    pids: Mapping[str, int], *, broker_port: int = 5672
) -> dict[str, int]:
    """Drop the AMQP 1.0 connections of ``pids`` (the NHN link) as a network failure would.

    RabbitMQ 3.x's AMQP 1.0 plugin does not list its connections with a peer port (and
    ``list_amqp10_connections`` names no port), so they are told apart from the listed AMQP
    0-9-1 ones and their sockets destroyed (``ss -K``, root or CAP_NET_ADMIN): both ends see
    the connection reset. Connections a newer broker lists as AMQP 1.0 are closed by it."""
    owners = ports_to(pids, broker_port)
    listed = parse_connections(
        await _rabbitmqctl("list_connections", "pid", "protocol", "peer_port")
    )
    internal = {c.peer_port for c in listed if not c.amqp_1_0}
    closable = [c for c in listed if c.amqp_1_0 and c.peer_port in owners]
    await asyncio.gather(
        *(_rabbitmqctl("close_connection", c.pid, "chaos run: NHN link dropped") for c in closable)
    )
    dropped = [c.peer_port for c in closable]
    for port in sorted(set(owners) - internal - set(dropped)):
        await _command(SS, "-K", "-tn", f"( sport = :{port} and dport = :{broker_port} )")
        dropped.append(port)
    counts: dict[str, int] = {}
    for port in dropped:
        counts[owners[port]] = counts.get(owners[port], 0) + 1
    return counts


def redis_clients(client_list: Iterable[Mapping[str, str]]) -> dict[str, int]:
    """``CLIENT LIST`` (as redis-py reads it) as client id -> peer port."""
    found = {}
    for client in client_list:
        if "id" in client and "addr" in client:
            found[str(client["id"])] = int(str(client["addr"]).rsplit(":", 1)[1])
    return found


async def kill_redis_clients(
    redis: Redis, pids: Mapping[str, int], *, redis_port: int
) -> dict[str, int]:
    """Kill the Redis connections of ``pids``; how many per process."""
    owners = ports_to(pids, redis_port)
    killed: dict[str, int] = {}
    for client_id, port in redis_clients(await redis.client_list(_type="normal")).items():
        owner = owners.get(port)
        if owner is None:
            continue
        await redis.client_kill_filter(_id=client_id)
        killed[owner] = killed.get(owner, 0) + 1
    return killed
