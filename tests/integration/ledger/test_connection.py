"""Redis clients whose commands hiredis writes: what redis-py's own packer would send."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.asyncio.connection import Connection
from redis.exceptions import DataError

from kpr_gateway.ledger import redis_from_url
from kpr_gateway.ledger.connection import (
    HiredisPackingConnection,
    HiredisPackingSSLConnection,
)

pytestmark = pytest.mark.integration


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = redis_from_url("redis://127.0.0.1:6379/0")
    yield client
    await client.aclose()


def test_the_scheme_picks_the_connection() -> None:
    plain = redis_from_url("redis://127.0.0.1:6379/0")
    tls = redis_from_url("rediss://127.0.0.1:6380/0")
    unix = redis_from_url("unix:///run/redis.sock")
    assert plain.connection_pool.connection_class is HiredisPackingConnection
    assert tls.connection_pool.connection_class is HiredisPackingSSLConnection
    assert not issubclass(unix.connection_pool.connection_class, HiredisPackingConnection)
    with pytest.raises(ValueError, match="scheme"):
        redis_from_url("http://127.0.0.1:6379")


def test_commands_are_written_as_redis_py_writes_them() -> None:
    ours, theirs = HiredisPackingConnection(), Connection()
    for args in (
        ("SET", "k", "v"),
        ("CONFIG GET", "maxmemory"),
        (b"CONFIG GET", b"maxmemory"),
        ("HSET", "k", "f", 7, "g", 1.5, "h", bytearray(b"\x00\xff"), "i", memoryview(b"xy")),
        ("SET", "k", "ø" * 10 + "x" * 10_000),
    ):
        assert b"".join(ours.pack_command(*args)) == b"".join(theirs.pack_command(*args))


def test_a_value_it_cannot_write_is_a_data_error() -> None:
    with pytest.raises(DataError):
        HiredisPackingConnection().pack_command("SET", "k", object())


async def test_round_trip_on_the_real_redis(redis: Redis) -> None:
    key = f"test-conn-{uuid.uuid4().hex}"
    try:
        await redis.hset(key, mapping={"a": "1", "b": b"\x00\xff", "c": 2})
        assert await redis.hgetall(key) == {b"a": b"1", b"b": b"\x00\xff", b"c": b"2"}
        assert await redis.config_get("maxmemory")  # a command name of two words
        big = b"x" * 2_000_000
        await redis.set(key, big)
        assert await redis.get(key) == big
    finally:
        await redis.delete(key)
