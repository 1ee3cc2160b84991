"""RabbitBus against the local RabbitMQ: unique queue names per test, deleted afterwards."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from kpr_gateway.pipeline import RabbitBus
from tests.support.rabbit import RABBIT_URL, channel, delete_queues, queues_of

__all__ = ["channel"]

WORK = "work"
FAST_RETRIES = (0.2, 0.4)

BusFactory = Callable[..., RabbitBus]


@pytest.fixture
def rabbit_url() -> str:
    return RABBIT_URL


@pytest.fixture
def prefix() -> str:
    return f"kprgw-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def make_bus(prefix: str) -> AsyncIterator[BusFactory]:
    buses: list[RabbitBus] = []

    def make(**kwargs: Any) -> RabbitBus:
        options: dict[str, Any] = {
            "service_name": "test-service",
            "prefix": prefix,
            "queues": (WORK,),
            "retry_delays": FAST_RETRIES,
            "max_attempts": 3,
            "graceful_timeout": 5.0,
        }
        options.update(kwargs)
        bus = RabbitBus(RABBIT_URL, **options)
        buses.append(bus)
        return bus

    yield make
    for bus in buses:
        await bus.stop()
    await delete_queues(queues_of(buses))
