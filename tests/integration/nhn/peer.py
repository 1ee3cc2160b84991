"""A plain qpid-proton peer, written the way another party on the bus would write one.

Blocking on purpose (``proton.utils.BlockingConnection``); tests run it in a thread so the
transport under test keeps its event loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from proton import Data, Delivery, Described, Event, Handler, Message, Receiver
from proton.utils import BlockingConnection

from tests.integration.nhn.broker import BROKER


@dataclass(frozen=True)
class Received:
    message: Message
    sections: list[tuple[int, Any]]  # (descriptor code, value) in wire order


def _connect() -> BlockingConnection:
    return BlockingConnection(
        BROKER.url,
        user=BROKER.username,
        password=BROKER.password,
        allowed_mechs="PLAIN",
        timeout=10,
    )


def sections_of(raw: bytes) -> list[tuple[int, Any]]:
    """Split an encoded AMQP message into its sections, as they came on the wire."""
    data = Data()
    position = 0
    while position < len(raw):
        position += data.decode(raw[position:])
    data.rewind()
    found: list[tuple[int, Any]] = []
    while data.next():
        section = data.get_object()
        assert isinstance(section, Described)
        found.append((int(cast(int, section.descriptor)), section.value))
    return found


class _RawCapture(Handler):
    """Keeps each delivery's bytes exactly as they arrived, then accepts it."""

    def __init__(self) -> None:
        super().__init__()
        self.raw: list[bytes] = []

    def on_delivery(self, event: Event) -> None:
        delivery = event.delivery
        assert delivery is not None
        if delivery.readable and not delivery.partial:
            link = delivery.link
            assert isinstance(link, Receiver)
            self.raw.append(link.recv(delivery.pending) or b"")
            link.advance()
            delivery.update(Delivery.ACCEPTED)
            delivery.settle()
            link.flow(1)


def receive(queue: str, count: int = 1) -> list[Received]:
    """Take ``count`` messages from ``queue`` (``/amq/queue/...``), accepting each."""
    connection = _connect()
    try:
        capture = _RawCapture()
        # Keep the BlockingReceiver referenced: when it is collected, its link loses the handler.
        _receiver = connection.create_receiver(f"/amq/queue/{queue}", credit=1, handler=capture)
        connection.wait(lambda: len(capture.raw) >= count, timeout=10, msg="peer receiving")
    finally:
        connection.close()
    received = []
    for raw in capture.raw:
        message = Message()
        message.decode(raw)
        received.append(Received(message, sections_of(raw)))
    return received


def send(address: str, messages: list[Message]) -> None:
    """Send each message and wait for the broker to accept it."""
    connection = _connect()
    try:
        sender = connection.create_sender(address)
        for message in messages:
            delivery = sender.send(message)
            assert delivery.remote_state == Delivery.ACCEPTED
    finally:
        connection.close()
