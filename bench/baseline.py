"""The baseline: a bare ASGI endpoint that only publishes each request's body with a
publisher confirm to a durable quorum queue, and answers 202 once the broker confirmed.

That is the least any accept-after-confirm HTTP intake can do per event; the gateway's intake
adds authentication, a rate limit, validation and the ledger. Served like intake: uvicorn on
uvloop, with the HTTP implementation uvicorn picks (httptools), as the services run.

    python -m bench.baseline --port PORT --queue QUEUE [--rabbitmq-url URL]
"""

from __future__ import annotations

import argparse
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aio_pika
import uvicorn
from aio_pika.abc import AbstractChannel
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def create_app(rabbitmq_url: str, queue: str) -> Starlette:
    channel: AbstractChannel | None = None

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        nonlocal channel
        connection = await aio_pika.connect_robust(rabbitmq_url)
        async with connection:
            channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
            await channel.declare_queue(queue, durable=True, arguments={"x-queue-type": "quorum"})
            yield

    async def submit(request: Request) -> Response:
        body = await request.body()
        assert channel is not None  # noqa: S101 - set by the lifespan before serving
        message_id = str(uuid.uuid4())
        await channel.default_exchange.publish(
            aio_pika.Message(
                body,
                message_id=message_id,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key=queue,
            mandatory=True,
        )
        return JSONResponse({"id": message_id, "status": "accepted"}, status_code=202)

    async def ready(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/v1/events", submit, methods=["POST"]),
            Route("/readyz", ready, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--queue", required=True)
    parser.add_argument("--rabbitmq-url", default="amqp://guest:guest@127.0.0.1:5672/")
    args = parser.parse_args()
    uvicorn.run(
        create_app(args.rabbitmq_url, args.queue),
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        log_level="warning",
        access_log=False,
        server_header=False,
    )


if __name__ == "__main__":
    main()
