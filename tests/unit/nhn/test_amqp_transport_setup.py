"""AmqpNhnTransport before it connects: settings, and refusing work while not running."""

from __future__ import annotations

import pytest

from kpr_gateway.nhn import AmqpNhnTransport, NhnError, NhnSendError, new_message
from kpr_gateway.nhn.amqp_endpoint import parse_endpoint


def test_takes_a_parsed_endpoint() -> None:
    endpoint = parse_endpoint("amqps://u:p@mb.example/NHNTESTServiceBus")
    assert AmqpNhnTransport(endpoint).exchange == "NHNTESTServiceBus"
    with pytest.raises(NhnError, match="not beside it"):
        AmqpNhnTransport(endpoint, password="other")


async def test_refuses_to_send_before_start() -> None:
    transport = AmqpNhnTransport("amqps://u:p@mb.example/x")
    message = new_message(
        to_queue="q",
        subject="KPR_IPL",
        reply_to=None,
        from_her_id="1",
        to_her_id="2",
        body=b"",
        ttl_ms=None,
    )
    assert not await transport.ping()
    with pytest.raises(NhnSendError, match="not running"):
        await transport.send(message)
    await transport.stop()  # stopping what never started is harmless
