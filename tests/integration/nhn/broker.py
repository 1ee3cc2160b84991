"""The local RabbitMQ (AMQP 1.0 plugin and 0-9-1 on the same port) as these tests see it."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from tests.support.rabbit import RABBIT_URL

EXCHANGE = "amq.direct"  # routes on the queue's name, as NHN's exchange does


@dataclass(frozen=True)
class Broker:
    host: str
    port: int
    username: str
    password: str

    @property
    def url(self) -> str:
        """AMQP 1.0 URL without credentials."""
        return f"amqp://{self.host}:{self.port}"


def _broker() -> Broker:
    parts = urlsplit(RABBIT_URL)
    return Broker(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5672,
        username=parts.username or "guest",
        password=parts.password or "guest",
    )


BROKER = _broker()
