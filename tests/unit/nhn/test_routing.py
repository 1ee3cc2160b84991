"""RoutedTransport: each sender and queue over its own connection (one in-memory broker per
account here, so a message that takes the wrong connection ends on the wrong broker)."""

from __future__ import annotations

import asyncio

import pytest

from kpr_gateway.nhn import (
    InMemoryNhnBroker,
    InMemoryNhnTransport,
    NhnDelivery,
    NhnError,
    NhnHandler,
    NhnMessage,
    NhnSendError,
    new_message,
)
from kpr_gateway.nhn.routing import RoutedTransport


def message(from_her_id: str, to_queue: str = "kpr_async") -> NhnMessage:
    return new_message(
        to_queue=to_queue,
        subject="KPR_IPL",
        reply_to=f"{from_her_id}_async",
        from_her_id=from_her_id,
        to_her_id="122612",
        body=b"cms",
        ttl_ms=None,
    )


class Accounts:
    """Two tenants with their own NHN accounts, and the release's default account."""

    def __init__(self) -> None:
        self.brokers = {name: InMemoryNhnBroker() for name in ("bergen", "trondheim", "default")}
        self.transport = RoutedTransport(
            {name: InMemoryNhnTransport(broker) for name, broker in self.brokers.items()},
            senders={"8100001": "bergen", "8100002": "trondheim"},
            queues={"8100001_async": "bergen", "8100002_async": "trondheim"},
            default="default",
        )


async def test_a_message_leaves_over_its_senders_connection() -> None:
    accounts = Accounts()
    await accounts.transport.start()
    try:
        await accounts.transport.send(message("8100001"))
        await accounts.transport.send(message("8100002"))
        await accounts.transport.send(message("8199999"))  # nobody's own: the default
    finally:
        await accounts.transport.stop()
    assert {name: b.depth("kpr_async") for name, b in accounts.brokers.items()} == {
        "bergen": 1,
        "trondheim": 1,
        "default": 1,
    }
    sent = accounts.brokers["trondheim"].queue("kpr_async").get_nowait()
    assert sent.from_her_id == "8100002"


async def test_a_queue_is_read_over_the_connection_of_its_party() -> None:
    accounts = Accounts()
    received: list[tuple[str, str]] = []

    def handler(label: str) -> NhnHandler:
        async def handle(delivery: NhnDelivery) -> None:
            received.append((label, delivery.message.from_her_id))
            await delivery.accept()

        return handle

    accounts.brokers["bergen"].put(message("122612", "8100001_async"))
    accounts.brokers["trondheim"].put(message("122612", "8100002_async"))
    # the same queue name on the wrong account's broker must never be read
    accounts.brokers["default"].put(message("666", "8100001_async"))
    accounts.transport.subscribe("8100001_async", handler("bergen"), credit=1)
    accounts.transport.subscribe("8100002_async", handler("trondheim"), credit=1)
    await accounts.transport.start()
    try:
        for _ in range(100):
            if len(received) == 2:
                break
            await asyncio.sleep(0.01)
    finally:
        await accounts.transport.stop()
    assert sorted(received) == [("bergen", "122612"), ("trondheim", "122612")]
    assert accounts.brokers["default"].depth("8100001_async") == 1


async def test_without_a_default_an_unknown_sender_or_queue_is_an_error() -> None:
    transport = RoutedTransport(
        {"bergen": InMemoryNhnTransport(InMemoryNhnBroker())},
        senders={"8100001": "bergen"},
        queues={"8100001_async": "bergen"},
    )
    with pytest.raises(NhnSendError, match="sender HER-id 8199999"):
        await transport.send(message("8199999"))
    with pytest.raises(NhnError, match="no NHN connection for queue other_async"):
        transport.subscribe("other_async", lambda d: d.accept())


def test_routes_must_name_known_connections() -> None:
    with pytest.raises(NhnError, match="unknown NHN connections: oslo"):
        RoutedTransport(
            {"bergen": InMemoryNhnTransport(InMemoryNhnBroker())},
            senders={"8100001": "oslo"},
            queues={},
        )


class FailingToStart(InMemoryNhnTransport):
    async def start(self) -> None:
        raise NhnError("login refused")


async def test_if_one_connection_cannot_start_the_others_are_stopped() -> None:
    healthy = InMemoryNhnTransport(InMemoryNhnBroker())
    transport = RoutedTransport(
        {"bergen": healthy, "trondheim": FailingToStart(InMemoryNhnBroker())},
        senders={},
        queues={},
        default="bergen",
    )
    with pytest.raises(NhnError, match="NHN connection trondheim: login refused"):
        await transport.start()
    assert not await healthy.ping()
