"""The wire profile (DESIGN.md section 5) as a separate proton peer sees it, both ways."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import cast

from proton import Message

from kpr_gateway.nhn import (
    APPREC_SUBJECT,
    CMS_CONTENT_TYPE,
    NhnDelivery,
    NhnMessage,
    new_message,
    read_transport_error,
)
from tests.integration.nhn import peer
from tests.integration.nhn.conftest import QueueNames, TransportFactory
from tests.integration.nhn.support import wait_until

HEADER, PROPERTIES, APPLICATION_PROPERTIES, DATA = 0x70, 0x73, 0x74, 0x75
BODY = bytes(range(256)) * 3  # CMS is binary: every byte value, more than one frame's worth


async def test_peer_reads_every_field_that_send_writes(
    transports: TransportFactory, queues: QueueNames
) -> None:
    target, own = queues("kpr_async"), queues("gateway_async")
    transport = transports()
    await transport.start()
    message = new_message(
        to_queue=target,
        subject="KPR_IPL",
        reply_to=own,
        from_her_id="8142987",
        to_her_id="122612",
        body=BODY,
        ttl_ms=86_400_001,
        now=datetime(2026, 1, 5, 7, 8, 9, tzinfo=UTC),
    )

    await transport.send(message)
    [received] = await asyncio.to_thread(peer.receive, target)

    amqp = received.message
    assert amqp.id == message.message_id
    assert amqp.address == target
    assert amqp.subject == "KPR_IPL"
    assert amqp.reply_to == own
    assert amqp.correlation_id == message.message_id
    assert amqp.content_type == CMS_CONTENT_TYPE
    assert round(amqp.ttl * 1000) == 86_400_001
    assert amqp.durable is True
    properties = cast("dict[str, object]", amqp.properties)  # proton types it as None
    assert properties == {
        "fromHerId": "8142987",
        "toHerId": "122612",
        "applicationTimeStamp": "2026-01-05T07:08:09Z",
        "enqueuedTimeUtc": "2026-01-05T07:08:09Z",
    }
    assert all(isinstance(value, str) for value in properties.values())
    bodies = [value for code, value in received.sections if code == DATA]
    assert [bytes(body) for body in bodies] == [BODY]  # one Data section, the exact bytes
    codes = [code for code, _ in received.sections]
    assert codes.index(HEADER) < codes.index(PROPERTIES) < codes.index(APPLICATION_PROPERTIES)
    assert codes.index(APPLICATION_PROPERTIES) < codes.index(DATA)


async def test_subscribe_reads_what_a_peer_sends(
    transports: TransportFactory, queues: QueueNames
) -> None:
    own = queues("gateway_async")
    apprec = Message(
        body=b"<AppRec/>",
        inferred=True,
        id="f3b5c0f4-8a7e-4d55-9a8c-0d6d4b2f1e01",
        address=own,
        subject=APPREC_SUBJECT,
        reply_to="kpr_async",
        correlation_id="0c9a1d7e-2b1f-4f0e-8d55-3e6f0a9b7c21",
        content_type=CMS_CONTENT_TYPE,
        durable=True,
        ttl=3600,
        properties={
            "fromHerId": "122612",
            "toHerId": "8142987",
            "applicationTimeStamp": "2026-01-05T07:08:10Z",
            "enqueuedTimeUtc": "2026-01-05T07:08:11Z",
            "cpaId": "00000000-0000-0000-0000-000000000000",
        },
    )
    transport_error = Message(
        id="a1f0e7c2-55d4-4c1b-9e3a-7b2d8c6f4e10",
        address=own,
        subject="KPR_IPL",
        properties={
            "fromHerId": "122612",
            "toHerId": "8142987",
            "applicationTimeStamp": "2026-01-05T07:08:12Z",
            "originalMessageId": "0c9a1d7e-2b1f-4f0e-8d55-3e6f0a9b7c21",
            "errorCondition": "transport:invalid-certificate",
            "errorDescription": "the certificate has expired",
        },
    )
    got: list[NhnMessage] = []

    async def handle(delivery: NhnDelivery) -> None:
        got.append(delivery.message)
        await delivery.accept()

    transport = transports()
    transport.subscribe(own, handle)
    await transport.start()
    await asyncio.to_thread(peer.send, f"/amq/queue/{own}", [apprec, transport_error])
    await wait_until(lambda: len(got) == 2)

    first, second = got
    assert first == NhnMessage(
        message_id="f3b5c0f4-8a7e-4d55-9a8c-0d6d4b2f1e01",
        to=own,
        subject=APPREC_SUBJECT,
        reply_to="kpr_async",
        correlation_id="0c9a1d7e-2b1f-4f0e-8d55-3e6f0a9b7c21",
        content_type=CMS_CONTENT_TYPE,
        from_her_id="122612",
        to_her_id="8142987",
        application_timestamp="2026-01-05T07:08:10Z",
        enqueued_time_utc="2026-01-05T07:08:11Z",
        ttl_ms=3_600_000,
        body=b"<AppRec/>",
        extra_properties={"cpaId": "00000000-0000-0000-0000-000000000000"},
    )
    assert second.body == b""
    assert second.reply_to is None
    assert second.enqueued_time_utc is None
    assert second.ttl_ms is None
    error = read_transport_error(second.extra_properties)
    assert (error.original_message_id, error.condition, error.description) == (
        "0c9a1d7e-2b1f-4f0e-8d55-3e6f0a9b7c21",
        "transport:invalid-certificate",
        "the certificate has expired",
    )


async def test_a_large_body_crosses_in_many_frames(
    transports: TransportFactory, queues: QueueNames
) -> None:
    inbox = queues("async")
    body = bytes(range(256)) * 4096 + b"end"  # 1 MiB: many 32 KiB frames each way
    got: list[bytes] = []

    async def handle(delivery: NhnDelivery) -> None:
        got.append(delivery.message.body)
        await delivery.accept()

    transport = transports()
    transport.subscribe(inbox, handle)
    await transport.start()
    await transport.send(
        new_message(
            to_queue=inbox,
            subject="KPR_IPL",
            reply_to=None,
            from_her_id="1",
            to_her_id="2",
            body=body,
            ttl_ms=None,
        )
    )
    await wait_until(lambda: len(got) == 1)
    assert got == [body]
