"""receipts end to end in one process: FHI's sealed AppRecs and NHN's transport errors on the
tenant's queues, the ledger, the notice on ``receipts`` and how each NHN message is settled."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid

import pytest
from lxml import etree

from kpr_gateway.ledger import MessageState
from kpr_gateway.messages.apprec import AppRecVersion, apprec_for, build_apprec
from kpr_gateway.messages.msghead import MsgHead, build_msghead
from kpr_gateway.nhn import NhnMessage, new_message
from kpr_gateway.pipeline import PARK_SERVICE_HEADER
from tests.unit.receipts.conftest import Harness
from tests.unit.receipts.world import (
    on_async_queue,
    rejection_codes,
    seal,
    sealed_apprec,
    transport_error,
)


async def no_more_notices(harness: Harness, expected: int) -> None:
    await asyncio.sleep(0.05)
    assert len(harness.notices) == expected


# ---------------------------------------------------------------------------- AppRecs


@pytest.mark.parametrize("version", ["1.0", "1.1"])
async def test_ok_apprec_acknowledges_the_message(harness: Harness, version: AppRecVersion) -> None:
    sent = await harness.sent()
    apprec_id = str(uuid.uuid4())
    message = on_async_queue(
        harness.tenant,
        sealed_apprec(harness.pki, sent.head, status=1, version=version, apprec_id=apprec_id),
    )

    await harness.deliver(message)

    record = await harness.message(sent.msg_id)
    assert record.state is MessageState.ACKNOWLEDGED
    assert record.receipt is not None
    assert (record.receipt.kind, record.receipt.status_code) == ("apprec", 1)
    assert record.receipt.apprec_id == apprec_id
    assert record.receipt.errors == []
    [notice] = await harness.notices_arrived(1)
    assert notice.tenant_id == harness.tenant.id
    assert str(notice.msg_id) == sent.msg_id
    assert (notice.outcome, notice.status_code, notice.errors) == ("acknowledged", 1, [])
    assert notice.received_at == record.receipt.received_at
    assert harness.transport.of(message.message_id) == ["accept"]
    assert harness.nhn.dead_letters == []
    assert harness.parked() == []
    assert (
        harness.metric("kprgw_receipts_received_total", tenant="bergen", outcome="acknowledged")
        == 1
    )


async def test_rejection_keeps_every_error_code(harness: Harness) -> None:
    sent = await harness.sent()
    codes = rejection_codes()
    message = on_async_queue(
        harness.tenant, sealed_apprec(harness.pki, sent.head, status=2, errors=codes)
    )

    await harness.deliver(message)

    record = await harness.message(sent.msg_id)
    assert record.state is MessageState.REJECTED
    assert record.receipt is not None
    assert record.receipt.status_code == 2
    assert [(e.code, e.system, e.text, e.ref) for e in record.receipt.errors] == [
        (c.code, c.system, c.text, c.ref) for c in codes
    ]
    [notice] = await harness.notices_arrived(1)
    assert (notice.outcome, notice.status_code) == ("rejected", 2)
    assert [e.code for e in notice.errors] == ["E21", "KPR-017"]
    assert notice.errors[0].system == codes[0].system
    assert harness.transport.of(message.message_id) == ["accept"]


async def test_ok_with_errors_in_part_of_the_message(harness: Harness) -> None:
    sent = await harness.sent()
    message = on_async_queue(
        harness.tenant,
        sealed_apprec(
            harness.pki, sent.head, status=3, errors=rejection_codes()[1:], version="1.1"
        ),
    )

    await harness.deliver(message)

    assert (await harness.message(sent.msg_id)).state is MessageState.ACKNOWLEDGED_WITH_ERRORS
    [notice] = await harness.notices_arrived(1)
    assert (notice.outcome, notice.status_code) == ("acknowledged_with_errors", 3)
    assert [e.code for e in notice.errors] == ["KPR-017"]


async def test_receipt_history_carries_the_receipts_own_trace(harness: Harness) -> None:
    sent = await harness.sent()
    await harness.deliver(on_async_queue(harness.tenant, sealed_apprec(harness.pki, sent.head)))

    record = await harness.message(sent.msg_id)
    [span] = [s for s in harness.spans.get_finished_spans() if s.name == "nhn async process"]
    assert span.context is not None
    assert record.history[-1].state == MessageState.ACKNOWLEDGED
    assert record.history[-1].trace_id == format(span.context.trace_id, "032x")


async def test_upper_case_original_msg_id_still_matches(harness: Harness) -> None:
    sent = await harness.sent()
    shouted = dataclasses.replace(sent.head, msg_id=sent.msg_id.upper())

    await harness.deliver(on_async_queue(harness.tenant, sealed_apprec(harness.pki, shouted)))

    assert (await harness.message(sent.msg_id)).state is MessageState.ACKNOWLEDGED


async def test_previous_encryption_key_still_opens_late_answers(harness: Harness) -> None:
    sent = await harness.sent()
    body = sealed_apprec(harness.pki, sent.head, recipient="bergen-old")

    await harness.deliver(on_async_queue(harness.tenant, body))

    assert (await harness.message(sent.msg_id)).state is MessageState.ACKNOWLEDGED


async def test_apprec_wrapped_in_a_msghead_is_read(harness: Harness) -> None:
    sent = await harness.sent()
    apprec = etree.fromstring(build_apprec(apprec_for(sent.head, status=1)))
    wrapper = MsgHead(
        msg_type="APPREC",
        msg_type_text="Applikasjonskvittering",
        msg_id=str(uuid.uuid4()),
        gen_date=sent.head.gen_date,
        sender=sent.head.receiver,
        receiver=sent.head.sender,
        ack_requested=False,
        issue_date=sent.head.gen_date,
        document=apprec,
    )
    body = seal(build_msghead(wrapper), harness.pki)

    await harness.deliver(on_async_queue(harness.tenant, body))

    assert (await harness.message(sent.msg_id)).state is MessageState.ACKNOWLEDGED


async def test_own_redelivery_repeats_the_notice(harness: Harness) -> None:
    """A crash after the ledger write but before the NHN accept: NHN delivers it again."""
    sent = await harness.sent()
    message = on_async_queue(harness.tenant, sealed_apprec(harness.pki, sent.head))
    await harness.deliver(message)
    first = await harness.message(sent.msg_id)

    harness.nhn.put(message)
    await harness.notices_arrived(2)
    await harness.transport.settled(message.message_id)

    assert harness.transport.of(message.message_id) == ["accept", "accept"]
    first_notice, again = harness.notices
    assert again == first_notice
    assert (await harness.message(sent.msg_id)).history == first.history
    assert harness.parked() == []
    assert (
        harness.metric("kprgw_receipts_received_total", tenant="bergen", outcome="acknowledged")
        == 1
    )


# ---------------------------------------------------------------------------- parked


async def assert_parked(
    harness: Harness, message: NhnMessage, *, reason: str, reason_class: str
) -> dict[str, str]:
    """The message was parked raw with ``reason``, and accepted on NHN (not dead-lettered)."""
    assert harness.transport.of(message.message_id) == ["accept"]
    assert harness.nhn.dead_letters == []
    [parked] = harness.parked()
    assert parked.body == message.body
    assert parked.message_id == message.message_id
    assert parked.reason.startswith(reason), parked.reason
    headers = dict(parked.headers)
    assert headers[PARK_SERVICE_HEADER] == "receipts"
    assert headers["kprgw-tenant"] == harness.tenant.id
    assert headers["kprgw-reason-class"] == reason_class
    assert headers["nhn-queue"] == message.to
    assert headers["nhn-message-id"] == message.message_id
    assert headers["nhn-property-fromHerId"] == message.from_her_id
    assert harness.metric("kprgw_receipts_parked_total", tenant="bergen", reason=reason_class) == 1
    return headers


async def test_apprec_for_no_known_message_is_parked(harness: Harness) -> None:
    sent = await harness.sent()
    stranger = dataclasses.replace(sent.head, msg_id=str(uuid.uuid4()))
    message = on_async_queue(harness.tenant, sealed_apprec(harness.pki, stranger))

    await harness.deliver(message)

    headers = await assert_parked(
        harness, message, reason="AppRec for no known message", reason_class="unknown_message"
    )
    assert headers["kprgw-msg-id"] == stranger.msg_id
    assert (await harness.message(sent.msg_id)).state is MessageState.DISPATCHED
    await no_more_notices(harness, 0)


async def test_apprec_whose_original_id_is_no_uuid_is_parked(harness: Harness) -> None:
    sent = await harness.sent()
    odd = dataclasses.replace(sent.head, msg_id="MSG-0001")
    message = on_async_queue(harness.tenant, sealed_apprec(harness.pki, odd))

    await harness.deliver(message)

    await assert_parked(
        harness, message, reason="AppRec for no known message", reason_class="unknown_message"
    )


async def test_second_different_apprec_is_parked_as_replay(harness: Harness) -> None:
    sent = await harness.sent()
    first = on_async_queue(harness.tenant, sealed_apprec(harness.pki, sent.head, status=1))
    await harness.deliver(first)
    await harness.notices_arrived(1)
    harness.transport.settlements.clear()

    replay = on_async_queue(
        harness.tenant,
        sealed_apprec(harness.pki, sent.head, status=2, errors=rejection_codes()),
    )
    await harness.deliver(replay)

    headers = await assert_parked(
        harness, replay, reason="AppRec for an already closed message", reason_class="replay"
    )
    assert headers["kprgw-msg-id"] == sent.msg_id
    record = await harness.message(sent.msg_id)
    assert record.state is MessageState.ACKNOWLEDGED
    assert record.receipt is not None
    assert record.receipt.status_code == 1
    await no_more_notices(harness, 1)


@pytest.mark.parametrize(
    ("signer", "recipient", "reason"),
    [
        ("intruder", "bergen", "UnexpectedSignerError"),
        ("fhi", "intruder", "WrongRecipientError"),
    ],
    ids=["spoofed-signer", "wrong-recipient"],
)
async def test_apprec_not_from_kpr_or_not_for_us_is_parked(
    harness: Harness, signer: str, recipient: str, reason: str
) -> None:
    sent = await harness.sent()
    body = sealed_apprec(harness.pki, sent.head, signer=signer, recipient=recipient)
    message = on_async_queue(harness.tenant, body)

    await harness.deliver(message)

    reason_class = {"UnexpectedSignerError": "unexpected_signer"}.get(reason, "wrong_recipient")
    await assert_parked(harness, message, reason=reason, reason_class=reason_class)
    assert (await harness.message(sent.msg_id)).state is MessageState.DISPATCHED
    await no_more_notices(harness, 0)


async def test_tampered_cms_is_parked(harness: Harness) -> None:
    sent = await harness.sent()
    body = bytearray(sealed_apprec(harness.pki, sent.head))
    body[-20] ^= 0xFF  # inside the encrypted content: padding or signature breaks
    message = on_async_queue(harness.tenant, bytes(body))

    await harness.deliver(message)

    [parked] = harness.parked()
    assert parked.reason.split(":")[0] in {"DecryptionError", "BadSignatureError", "NotCmsError"}
    assert harness.transport.of(message.message_id) == ["accept"]


async def test_garbage_is_parked(harness: Harness) -> None:
    message = on_async_queue(harness.tenant, b"this is not a CMS message")

    await harness.deliver(message)

    await assert_parked(harness, message, reason="NotCmsError", reason_class="not_cms")


async def test_sealed_content_that_is_not_an_apprec_is_parked(harness: Harness) -> None:
    sent = await harness.sent()
    # FHI's certificate, but the content is a MsgHead with a KPR document, not an AppRec
    body = seal(build_msghead(sent.head), harness.pki)
    message = on_async_queue(harness.tenant, body)

    await harness.deliver(message)

    await assert_parked(
        harness,
        message,
        reason="content is a MsgHead that does not carry an AppRec",
        reason_class="not_apprec",
    )


async def test_apprec_with_unknown_status_is_parked(harness: Harness) -> None:
    sent = await harness.sent()
    xml = build_apprec(apprec_for(sent.head, status=1))
    broken = xml.replace(b'<Status V="1"', b'<Status V="7"', 1)
    assert broken != xml
    message = on_async_queue(harness.tenant, seal(broken, harness.pki))

    await harness.deliver(message)

    await assert_parked(
        harness, message, reason="AppRec cannot be read", reason_class="malformed_apprec"
    )
    assert (await harness.message(sent.msg_id)).state is MessageState.DISPATCHED


# ---------------------------------------------------------------------------- transport errors


async def test_transport_error_is_correlated_through_the_amqp_id(harness: Harness) -> None:
    sent = await harness.sent()
    message = transport_error(harness.tenant, sent.transport_id)

    await harness.deliver(message)

    record = await harness.message(sent.msg_id)
    assert record.state is MessageState.TRANSPORT_ERROR
    assert record.receipt is not None
    assert record.receipt.kind == "transport_error"
    assert record.receipt.error_condition == "transport:invalid-certificate"
    assert record.receipt.error_description == "certificate of the sender is not valid"
    [notice] = await harness.notices_arrived(1)
    assert (notice.outcome, notice.status_code) == ("transport_error", None)
    assert [(e.code, e.text) for e in notice.errors] == [
        ("transport:invalid-certificate", "certificate of the sender is not valid")
    ]
    assert harness.transport.of(message.message_id) == ["accept"]
    # never answer an error with an error: nothing was sent anywhere on NHN
    assert harness.nhn.depth(harness.tenant.error_queue) == 0
    assert harness.nhn.depth("171479_async") == 0


async def test_transport_error_for_unknown_amqp_id_is_parked(harness: Harness) -> None:
    await harness.sent()
    unknown = str(uuid.uuid4())
    message = transport_error(harness.tenant, unknown)

    await harness.deliver(message)

    headers = await assert_parked(
        harness,
        message,
        reason="transport error for no known message",
        reason_class="unknown_transport_message",
    )
    assert harness.parked()[0].body == b""
    assert headers["nhn-property-originalMessageId"] == unknown
    assert headers["nhn-property-errorCondition"] == "transport:invalid-certificate"


async def test_error_queue_message_without_original_id_is_parked(harness: Harness) -> None:
    message = new_message(
        to_queue=harness.tenant.error_queue,
        subject="KPR_IPL",
        reply_to=None,
        from_her_id="171479",
        to_her_id=harness.tenant.communication_party.her_id,
        body=b"",
        ttl_ms=None,
        content_type="text/plain",
    )

    await harness.deliver(message)

    await assert_parked(
        harness,
        message,
        reason="transport error cannot be read",
        reason_class="malformed_transport_error",
    )


async def test_transport_error_after_the_apprec_is_parked(harness: Harness) -> None:
    sent = await harness.sent()
    await harness.deliver(on_async_queue(harness.tenant, sealed_apprec(harness.pki, sent.head)))
    harness.transport.settlements.clear()
    late = transport_error(harness.tenant, sent.transport_id)

    await harness.deliver(late)

    await assert_parked(
        harness,
        late,
        reason="transport error for an already closed message",
        reason_class="transport_error_after_outcome",
    )
    assert (await harness.message(sent.msg_id)).state is MessageState.ACKNOWLEDGED


async def test_same_transport_error_again_repeats_the_notice(harness: Harness) -> None:
    sent = await harness.sent()
    message = transport_error(harness.tenant, sent.transport_id)
    await harness.deliver(message)
    harness.nhn.put(message)

    await harness.notices_arrived(2)
    await harness.transport.settled(message.message_id)

    assert harness.transport.of(message.message_id) == ["accept", "accept"]
    assert harness.parked() == []


# ---------------------------------------------------------------------------- dependencies down


async def test_ledger_down_releases_then_closes_when_it_is_back(harness: Harness) -> None:
    sent = await harness.sent()
    message = on_async_queue(harness.tenant, sealed_apprec(harness.pki, sent.head))
    harness.redis_server.connected = False

    await harness.deliver(message, "release")
    assert "accept" not in harness.transport.of(message.message_id)
    assert harness.parked() == []
    assert harness.nhn.dead_letters == []
    assert harness.metric("kprgw_receipts_released_total", tenant="bergen", cause="ledger") >= 1

    harness.redis_server.connected = True
    await harness.transport.settled(message.message_id, "accept")

    assert (await harness.message(sent.msg_id)).state is MessageState.ACKNOWLEDGED
    await harness.notices_arrived(1)


async def test_bus_down_releases_and_never_accepts(harness: Harness) -> None:
    sent = await harness.sent()
    await harness.bus.stop()
    message = on_async_queue(harness.tenant, sealed_apprec(harness.pki, sent.head))

    await harness.deliver(message, "release")

    assert "accept" not in harness.transport.of(message.message_id)
    assert harness.nhn.dead_letters == []
    assert harness.metric("kprgw_receipts_released_total", tenant="bergen", cause="bus") >= 1
    # the ledger has the outcome; the redelivery will publish the notice (see above)
    assert (await harness.message(sent.msg_id)).state is MessageState.ACKNOWLEDGED


async def test_bus_down_while_parking_releases(harness: Harness) -> None:
    await harness.bus.stop()
    message = on_async_queue(harness.tenant, b"garbage")

    await harness.deliver(message, "release")

    assert "accept" not in harness.transport.of(message.message_id)
    assert harness.nhn.dead_letters == []


# ---------------------------------------------------------------------------- tracing


async def test_receipt_span_links_to_the_sent_messages_trace(harness: Harness) -> None:
    sent = await harness.sent()
    message = on_async_queue(harness.tenant, sealed_apprec(harness.pki, sent.head))

    await harness.deliver(message)
    await harness.notices_arrived(1)

    spans = harness.spans.get_finished_spans()
    [receipt] = [s for s in spans if s.name == "nhn async process"]
    assert receipt.context is not None
    attributes = dict(receipt.attributes or {})
    assert attributes["kprgw.tenant"] == "bergen"
    assert attributes["kprgw.msg_id"] == sent.msg_id
    assert attributes["messaging.message.id"] == message.message_id
    assert attributes["kprgw.receipt.outcome"] == "acknowledged"
    [link] = receipt.links
    assert (link.context.trace_id, link.context.span_id) == (
        0x0AF7651916CD43DD8448EB211C80319C,
        0xB7AD6B7169203331,
    )
    # the notice continues the receipt's trace on the internal bus
    publish = [s for s in spans if s.name == "receipts publish"]
    assert publish
    assert publish[0].parent is not None
    assert publish[0].context is not None
    assert publish[0].context.trace_id == receipt.context.trace_id


async def test_parked_receipt_span_has_an_error_status(harness: Harness) -> None:
    message = on_async_queue(harness.tenant, b"garbage")

    await harness.deliver(message)

    [span] = [s for s in harness.spans.get_finished_spans() if s.name == "nhn async process"]
    assert not span.status.is_ok
    assert (span.status.description or "").startswith("NotCmsError")
    assert dict(span.attributes or {})["kprgw.outcome"] == "park"
