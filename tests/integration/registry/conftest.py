"""Real Redis (``KPRGW_REDIS_URL``, default the local one) with a key prefix per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from tests.unit.registry.conftest import pki, pki_dir

REDIS_URL = os.environ.get("KPRGW_REDIS_URL", "redis://127.0.0.1:6379/0")

__all__ = ["pki", "pki_dir"]


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS_URL)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def prefix(redis: Redis) -> AsyncIterator[str]:
    """A fresh key prefix; every key under it is deleted after the test."""
    value = f"kprgw-test:registry:{uuid.uuid4().hex}:"
    yield value
    keys = [key async for key in redis.scan_iter(match=f"{value}*")]
    if keys:
        await redis.delete(*keys)
