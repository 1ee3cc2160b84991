"""Redis clients whose commands are written by hiredis (C), not by redis-py's Python packer.

A ledger step carries thousands of arguments (keys and values for every event of a batch);
redis-py's asyncio connection writes them one by one in Python, which measured about a third
of the Python time of registering and committing events. Its synchronous connection already
uses ``hiredis.pack_command`` when hiredis is installed; these connections do the same for
asyncio, with the same handling of the command name and of bytearray and memoryview
arguments. Replies are read by hiredis either way (redis-py picks its parser itself).
"""

from __future__ import annotations

from typing import Any

import hiredis
from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection, Connection, SSLConnection
from redis.exceptions import DataError


def _pack(args: tuple[Any, ...]) -> list[bytes]:
    name = args[0]
    # A command name may carry words of its own ("CONFIG GET"): sent as separate arguments.
    if isinstance(name, str):
        args = tuple(name.encode().split()) + args[1:]
    elif b" " in name:
        args = tuple(name.split()) + args[1:]
    args = tuple(bytes(arg) if isinstance(arg, bytearray | memoryview) else arg for arg in args)
    try:
        return [hiredis.pack_command(args)]
    except TypeError as exc:  # as redis-py's own packers answer a value they cannot write
        raise DataError(str(exc)) from exc


class HiredisPackingConnection(Connection):
    def pack_command(self, *args: Any) -> list[bytes]:
        return _pack(args)


class HiredisPackingSSLConnection(SSLConnection):
    def pack_command(self, *args: Any) -> list[bytes]:
        return _pack(args)


_PACKING_BY_HIREDIS: dict[type[AbstractConnection], type[AbstractConnection]] = {
    Connection: HiredisPackingConnection,
    SSLConnection: HiredisPackingSSLConnection,
}


def redis_from_url(url: str, **options: Any) -> Redis:
    """``Redis.from_url(url, **options)`` with the connections above for ``redis://`` and
    ``rediss://`` (a ``unix://`` socket keeps redis-py's own). A URL that is not one of
    these raises ``ValueError``, as redis-py does."""
    client = Redis.from_url(url, **options)
    pool = client.connection_pool
    # No connection exists yet: the pool makes its first on the first command.
    current = pool.connection_class
    pool.connection_class = _PACKING_BY_HIREDIS.get(current, current)
    return client
