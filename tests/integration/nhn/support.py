"""Small helpers shared by the AMQP transport tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from kpr_gateway.nhn import NhnMessage, new_message


def message(queue: str, body: bytes = b"cms", **fields: object) -> NhnMessage:
    options: dict[str, object] = {
        "subject": "KPR_IPL",
        "reply_to": "gateway_async",
        "from_her_id": "8142987",
        "to_her_id": "122612",
        "ttl_ms": 60_000,
    }
    options.update(fields)
    return new_message(to_queue=queue, body=body, **options)  # type: ignore[arg-type]


async def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)
