"""Ledger scenarios of the webhook deliveries and of the events' EPJ client, run against real
Redis (integration) and fakeredis (unit, embedded mode)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from kpr_gateway.ledger import (
    BatchMessage,
    DeliveryState,
    EventOutcome,
    Ledger,
    NewEvent,
    ReceiptMatch,
)
from tests.integration.ledger.scenarios import TENANT, TRACE, Clock, apprec


async def _one_message(ledger: Ledger, msg_id: str, event_ids: list[str]) -> None:
    commit = await ledger.commit_batch(
        TENANT,
        batch_id=f"b-{msg_id}",
        event_ids=event_ids,
        messages=[BatchMessage(msg_id, "KPR_IPL", b"<ipl/>")],
        trace_id=TRACE,
        traceparent=None,
    )
    assert commit.committed


async def events_keep_the_client_that_submitted_them(ledger: Ledger) -> None:
    await ledger.register_events(
        TENANT, [NewEvent("g1", "h"), NewEvent("g2", "h")], trace_id=TRACE, client_id="gerica"
    )
    await ledger.register_events(TENANT, [NewEvent("n1", "h")], trace_id=TRACE)
    # a repeat by another client does not change whose event it is
    await ledger.register_events(TENANT, [NewEvent("g1", "h")], trace_id=TRACE, client_id="other")
    for event_id, client_id in (("g1", "gerica"), ("g2", "gerica"), ("n1", None)):
        record = await ledger.get_event(TENANT, event_id)
        assert record is not None
        assert record.client_id == client_id


async def a_message_s_events_are_grouped_by_client_with_their_status(ledger: Ledger) -> None:
    await ledger.register_events(
        TENANT, [NewEvent("a1", "h"), NewEvent("a2", "h")], trace_id=TRACE, client_id="gerica"
    )
    await ledger.register_events(TENANT, [NewEvent("b1", "h")], trace_id=TRACE, client_id="profil")
    await ledger.register_events(TENANT, [NewEvent("old", "h")], trace_id=TRACE)
    await _one_message(ledger, "m1", ["a1", "b1", "a2", "old"])
    assert await ledger.record_receipt(TENANT, "m1", apprec(2), trace_id=None) is (
        ReceiptMatch.MATCHED
    )
    found = await ledger.webhooks.message_events(TENANT, "m1")
    assert found is not None
    assert found.message.msg_id == "m1"
    assert found.message.msg_type == "KPR_IPL"
    assert found.by_client == {
        "gerica": [EventOutcome("a1", "rejected"), EventOutcome("a2", "rejected")],
        "profil": [EventOutcome("b1", "rejected")],
    }
    assert found.without_client == 1
    assert await ledger.webhooks.message_events(TENANT, "never-recorded") is None
    assert await ledger.webhooks.message_events("trondheim", "m1") is None


async def a_resent_message_s_events_show_the_resend_s_outcome(ledger: Ledger) -> None:
    """The status each event shows is what ``get_event`` shows: a message sent again no
    longer counts once its resend has an outcome."""
    await ledger.register_events(TENANT, [NewEvent("r1", "h")], trace_id=TRACE, client_id="gerica")
    await _one_message(ledger, "first", ["r1"])
    await ledger.record_receipt(TENANT, "first", apprec(2), trace_id=None)
    await ledger.resend_message(
        TENANT, "first", new_msg_id="again", document=b"<ipl/>", trace_id=None, traceparent=None
    )
    await ledger.record_receipt(TENANT, "again", apprec(1), trace_id=None)
    for msg_id in ("first", "again"):
        found = await ledger.webhooks.message_events(TENANT, msg_id)
        assert found is not None
        assert found.by_client == {"gerica": [EventOutcome("r1", "acknowledged")]}
    record = await ledger.get_event(TENANT, "r1")
    assert record is not None
    assert record.status == "acknowledged"


async def attempts_are_counted_and_a_delivery_stays_delivered(ledger: Ledger) -> None:
    webhooks = ledger.webhooks
    assert await webhooks.deliveries(TENANT, ["m1"]) == {"m1": []}
    assert (
        await webhooks.record_attempt(
            TENANT, "m1", "gerica", state=DeliveryState.RETRYING, status_code=503, error="HTTP 503"
        )
        == 1
    )
    [retrying] = (await webhooks.deliveries(TENANT, ["m1"]))["m1"]
    assert (retrying.client_id, retrying.state, retrying.attempts) == (
        "gerica",
        DeliveryState.RETRYING,
        1,
    )
    assert (retrying.last_status, retrying.last_error, retrying.delivered_at) == (
        503,
        "HTTP 503",
        None,
    )
    assert retrying.last_attempt_at is not None

    delivered = await webhooks.record_attempt(
        TENANT, "m1", "gerica", state=DeliveryState.DELIVERED, status_code=204
    )
    assert delivered == 2
    await webhooks.record_attempt(
        TENANT, "m1", "profil", state=DeliveryState.FAILED, error="timeout"
    )
    # a second copy of the notice failed late: the client stays delivered
    await webhooks.record_attempt(
        TENANT, "m1", "gerica", state=DeliveryState.RETRYING, error="connection failed"
    )
    by_client = {d.client_id: d for d in (await webhooks.deliveries(TENANT, ["m1", "m2"]))["m1"]}
    gerica, profil = by_client["gerica"], by_client["profil"]
    assert (gerica.state, gerica.attempts) == (DeliveryState.DELIVERED, 3)
    assert gerica.delivered_at is not None
    assert (gerica.last_status, gerica.last_error) == (None, "connection failed")
    assert (profil.state, profil.attempts, profil.last_status, profil.last_error) == (
        DeliveryState.FAILED,
        1,
        None,
        "timeout",
    )
    with pytest.raises(ValueError, match="no ':'"):
        await webhooks.record_attempt(TENANT, "m1", "a:b", state=DeliveryState.DELIVERED)


async def deliveries_expire_with_the_retention(ledger: Ledger) -> None:
    await ledger.webhooks.record_attempt(TENANT, "m1", "gerica", state=DeliveryState.DELIVERED)
    ttl = await ledger.redis.ttl(ledger.keys.webhook_deliveries(TENANT, "m1"))
    assert timedelta(days=399) < timedelta(seconds=ttl) <= timedelta(days=400)


async def attempt_times_come_from_the_ledger_s_clock(ledger: Ledger, clock: Clock) -> None:
    await ledger.webhooks.record_attempt(TENANT, "m1", "gerica", state=DeliveryState.RETRYING)
    clock.advance(timedelta(seconds=30))
    await ledger.webhooks.record_attempt(TENANT, "m1", "gerica", state=DeliveryState.DELIVERED)
    [delivery] = (await ledger.webhooks.deliveries(TENANT, ["m1"]))["m1"]
    assert delivery.last_attempt_at == delivery.delivered_at == clock.now


SCENARIOS = [
    events_keep_the_client_that_submitted_them,
    a_message_s_events_are_grouped_by_client_with_their_status,
    a_resent_message_s_events_show_the_resend_s_outcome,
    attempts_are_counted_and_a_delivery_stays_delivered,
    deliveries_expire_with_the_retention,
]
