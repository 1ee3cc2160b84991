"""Finding this run's own broker and Redis connections among everyone's."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.chaos import connections
from bench.chaos.connections import (
    parse_connections,
    ports_to,
    redis_clients,
    socket_inodes,
    tcp_connections,
)

# /proc/net/tcp: sl, local, remote (hex address:port), st, ..., uid, timeout, inode
TCP = """  sl local_address rem_address st tx_queue rx_queue tr tm->when retrnsmt uid timeout inode
   0: 0100007F:9C40 0100007F:1628 01 00000000:00000000 00:00000000 00000000     0        0 1001 1
   1: 0100007F:9C41 0100007F:18EB 01 00000000:00000000 00:00000000 00000000     0        0 1002 1
   2: 0100007F:9C42 0100007F:1628 01 00000000:00000000 00:00000000 00000000     0        0 1003 1
   3: 0100007F:1628 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1004 1
"""


def fake_proc(root: Path, sockets: dict[int, list[int]]) -> Path:
    (root / "net").mkdir(parents=True)
    (root / "net" / "tcp").write_text(TCP)
    for pid, inodes in sockets.items():
        fds = root / str(pid) / "fd"
        fds.mkdir(parents=True)
        for number, inode in enumerate(inodes):
            os.symlink(f"socket:[{inode}]", fds / str(number))
        os.symlink("/dev/null", fds / "99")
    return root


def test_tcp_tables_give_each_socket_its_ports() -> None:
    assert tcp_connections([TCP]) == {
        1001: (0x9C40, 5672),
        1002: (0x9C41, 6379),
        1003: (0x9C42, 5672),
        1004: (5672, 0),
    }


def test_only_the_processes_connections_to_the_port_are_theirs(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path, {11: [1001, 1002], 12: [1004], 13: []})
    assert socket_inodes(11, proc) == {1001, 1002}
    pids = {"transform": 11, "listener": 12, "idle": 13, "gone": 14}
    assert ports_to(pids, 5672, proc) == {0x9C40: "transform"}  # 1003 is someone else's
    assert ports_to(pids, 6379, proc) == {0x9C41: "transform"}


def test_rabbitmqctl_listing_tells_the_protocols_apart() -> None:
    listing = (
        "pid\tprotocol\tpeer_port\n"
        "<rabbit@localhost.1.4990.0>\t{0,9,1}\t40890\n"
        "<rabbit@localhost.1.5119.0>\t{'AMQP',{1,0}}\t40892\n"
        "<rabbit@localhost.1.5120.0>\t{0,9,1}\t\n"
    )
    first, second = parse_connections(listing)
    assert (first.pid, first.peer_port, first.amqp_1_0) == (
        "<rabbit@localhost.1.4990.0>",
        40890,
        False,
    )
    assert (second.peer_port, second.amqp_1_0) == (40892, True)


def test_redis_client_list_gives_ids_and_peer_ports() -> None:
    clients = [
        {"id": "7", "addr": "127.0.0.1:51000", "name": ""},
        {"id": "8", "addr": "[::1]:51001"},
        {"name": "no address"},
    ]
    assert redis_clients(clients) == {"7": 51000, "8": 51001}


async def test_the_nhn_link_is_dropped_and_the_internal_bus_left_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """RabbitMQ 3.x lists AMQP 0-9-1 connections only: an unlisted one of ours is the NHN
    link (its socket destroyed); one a newer broker lists as AMQP 1.0 is closed by it."""
    owners = {40001: "dispatch", 40002: "dispatch", 40003: "receipts", 40004: "receipts"}
    monkeypatch.setattr(connections, "ports_to", lambda pids, port: owners)
    calls: list[tuple[str, ...]] = []

    async def command(*arguments: str) -> str:
        calls.append(arguments)
        if "list_connections" in arguments:
            return (
                "<r.1>\t{0,9,1}\t40001\n<r.2>\t{0,9,1}\t40003\n"
                "<r.3>\t{'AMQP',{1,0}}\t40004\n<r.4>\t{0,9,1}\t50000\n"
            )
        return ""

    monkeypatch.setattr(connections, "_command", command)
    dropped = await connections.drop_amqp_1_0_links({"dispatch": 1, "receipts": 2})
    assert dropped == {"receipts": 1, "dispatch": 1}
    assert (
        "rabbitmqctl",
        "-q",
        "close_connection",
        "<r.3>",
        "chaos run: NHN link dropped",
    ) in calls
    assert ("ss", "-K", "-tn", "( sport = :40002 and dport = :5672 )") in calls
    assert not any("40001" in " ".join(c) or "40003" in " ".join(c) for c in calls[1:])
