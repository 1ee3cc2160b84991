"""Queues for a local broker (tests, the simulator, ``make up``): never used against NHN.

On the Tjenestebuss the queues and their bindings exist already. A local RabbitMQ has
neither, and its AMQP 1.0 plugin cannot bind a queue to an exchange, so they are made
through AMQP 0-9-1 on the same port: each queue durable, bound to the exchange with its own
name as routing key (as NHN's exchange routes). A queue that exists already (perhaps with
other arguments, such as a dead-letter exchange) is left as it is and only bound.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterable
from urllib.parse import quote

from kpr_gateway.nhn.amqp_endpoint import AmqpEndpoint
from kpr_gateway.nhn.errors import NhnError


class LocalQueues:
    def __init__(self, endpoint: AmqpEndpoint, *, ca_file: str | None = None) -> None:
        self._endpoint = endpoint
        self._ca_file = ca_file
        self._made: set[str] = set()
        self._lock = asyncio.Lock()

    async def ensure(self, queues: Iterable[str]) -> None:
        wanted = [queue for queue in dict.fromkeys(queues) if queue not in self._made]
        if not wanted:
            return
        async with self._lock:
            wanted = [queue for queue in wanted if queue not in self._made]
            if wanted:
                await self._declare(wanted)
                self._made.update(wanted)

    async def _declare(self, queues: list[str]) -> None:
        # aio-pika is there wherever the pipeline is; imported here so NHN use never needs it.
        import aio_pika  # noqa: PLC0415
        from aio_pika.exceptions import AMQPError, ChannelNotFoundEntity  # noqa: PLC0415

        endpoint = self._endpoint
        exchange = endpoint.exchange
        scheme = "amqps" if endpoint.tls else "amqp"
        url = (
            f"{scheme}://{quote(endpoint.username, safe='')}:{quote(endpoint.password, safe='')}"
            f"@{endpoint.host}:{endpoint.port}/"
        )
        context = ssl.create_default_context(cafile=self._ca_file) if endpoint.tls else None
        try:
            connection = await aio_pika.connect(url, ssl_context=context, timeout=10)
            async with connection:
                if not exchange.startswith("amq."):
                    channel = await connection.channel()
                    await channel.declare_exchange(
                        exchange, aio_pika.ExchangeType.DIRECT, durable=True
                    )
                for queue in queues:
                    channel = await connection.channel()
                    try:
                        declared = await channel.declare_queue(queue, passive=True)
                    except ChannelNotFoundEntity:
                        channel = await connection.channel()
                        declared = await channel.declare_queue(queue, durable=True)
                    await declared.bind(exchange, routing_key=queue)
        except (AMQPError, OSError) as exc:
            raise NhnError(
                f"could not declare local queues on {endpoint.where}: {type(exc).__name__}"
            ) from exc
