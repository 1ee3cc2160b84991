"""A consumer in its own process, for the test that kills one without letting it ack.

Usage: python consumer_process.py URL PREFIX QUEUE. Prints "ready" once consuming and
"got <message id>" when a message arrives, then holds it forever (never acks).
"""

from __future__ import annotations

import asyncio
import sys

from kpr_gateway.pipeline import Delivery, RabbitBus


async def main(url: str, prefix: str, queue: str) -> None:
    bus = RabbitBus(
        url, service_name="doomed", prefix=prefix, queues=[queue], retry_delays=(0.2, 0.4)
    )

    async def hold(delivery: Delivery) -> None:
        print(f"got {delivery.message_id}", flush=True)
        await asyncio.Event().wait()

    bus.subscribe(queue, hold, prefetch=1)
    await bus.start()
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
