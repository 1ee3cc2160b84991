from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest

from kpr_gateway.dispatch.app import build
from kpr_gateway.dispatch.errors import NoTransportError
from kpr_gateway.dispatch.settings import DEFAULT_MESSAGE_TTL_MS, DispatchSettings
from kpr_gateway.ledger import Ledger, MessageState
from kpr_gateway.nhn import CMS_CONTENT_TYPE, InMemoryNhnBroker, InMemoryNhnTransport
from kpr_gateway.pipeline import OUTBOX, MemoryBus
from kpr_gateway.runtime.receivers import ReceiverStartupError
from kpr_gateway.security import cms
from kpr_gateway.security.devpki import DevPki
from kpr_gateway.tenancy import Tenant, TenantsFile
from tests.support.outbound_world import (
    BERGEN_ASYNC_QUEUE,
    BERGEN_PARTY_HER_ID,
    KPR_VALIDATION_HER_ID,
    KPR_VALIDATION_QUEUE,
    bergen_entry,
    put_built_message,
    sealed_from,
    service_context,
    write_tenants,
)
from tests.unit.dispatch.conftest import StartDispatch
from tests.unit.dispatch.transports import StallingTransport

_PROFILE_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


async def test_sends_with_every_wire_property_and_records_dispatched(
    start_dispatch: StartDispatch, ledger: Ledger, bergen: Tenant, dev_pki: DevPki
) -> None:
    harness = await start_dispatch()
    sealed = sealed_from(await put_built_message(ledger, bergen, msg_type="KPR_IDE"), dev_pki)

    await harness.deliver(sealed)

    [sent] = harness.received()
    assert sent.to == KPR_VALIDATION_QUEUE
    assert sent.subject == "KPR_IDE"
    assert sent.reply_to == BERGEN_ASYNC_QUEUE
    assert uuid.UUID(sent.message_id)
    assert sent.correlation_id == sent.message_id
    assert sent.content_type == CMS_CONTENT_TYPE == cms.CONTENT_TYPE
    assert sent.ttl_ms == DEFAULT_MESSAGE_TTL_MS == 4 * 24 * 3600 * 1000
    assert sent.application_properties() == {
        "fromHerId": BERGEN_PARTY_HER_ID,
        "toHerId": KPR_VALIDATION_HER_ID,
        "applicationTimeStamp": sent.application_timestamp,
        "enqueuedTimeUtc": sent.enqueued_time_utc,
    }
    assert _PROFILE_TIMESTAMP.fullmatch(sent.application_timestamp)
    assert sent.enqueued_time_utc is not None
    assert _PROFILE_TIMESTAMP.fullmatch(sent.enqueued_time_utc)
    assert sent.body == sealed.cms

    msg_id = str(sealed.msg_id)
    record = await ledger.get_message("bergen", msg_id)
    assert record is not None
    assert record.state is MessageState.DISPATCHED
    assert [t.state for t in record.history] == ["built", "send_attempt", "dispatched"]
    assert record.history[1].detail == {"transport_message_id": sent.message_id}
    assert record.history[2].detail == {"transport_message_id": sent.message_id}
    assert await ledger.msg_id_for_transport_id("bergen", sent.message_id) == msg_id
    assert await ledger.awaiting_count("bergen") == 1
    assert harness.value("kprgw_dispatch_sent_total", {"tenant": "bergen"}) == 1
    assert harness.value("kprgw_dispatch_send_seconds_count") == 1


async def test_ttl_comes_from_the_settings(
    start_dispatch: StartDispatch, ledger: Ledger, bergen: Tenant, dev_pki: DevPki
) -> None:
    harness = await start_dispatch(message_ttl_ms=3_600_000)

    await harness.deliver(sealed_from(await put_built_message(ledger, bergen), dev_pki))

    [sent] = harness.received()
    assert sent.ttl_ms == 3_600_000


async def test_a_message_enveloped_but_not_yet_advanced_is_still_sent(
    start_dispatch: StartDispatch, ledger: Ledger, bergen: Tenant, dev_pki: DevPki
) -> None:
    # envelope crashed between its publish and its ledger step: the ledger still says built
    harness = await start_dispatch()
    sealed = sealed_from(await put_built_message(ledger, bergen), dev_pki)

    await harness.deliver(sealed)

    assert len(harness.received()) == 1
    record = await ledger.get_message("bergen", str(sealed.msg_id))
    assert record is not None
    assert record.state is MessageState.DISPATCHED


async def test_redelivery_of_a_dispatched_message_sends_nothing_new(
    start_dispatch: StartDispatch, ledger: Ledger, bergen: Tenant, dev_pki: DevPki
) -> None:
    harness = await start_dispatch()
    sealed = sealed_from(await put_built_message(ledger, bergen), dev_pki)

    await harness.deliver(sealed)
    await harness.deliver(sealed)

    assert len(harness.received()) == 1
    assert len(harness.transport.attempts) == 1
    record = await ledger.get_message("bergen", str(sealed.msg_id))
    assert record is not None
    assert [t.state for t in record.history] == ["built", "send_attempt", "dispatched"]
    assert harness.value("kprgw_dispatch_skipped_total", {"tenant": "bergen"}) == 1


async def test_a_message_with_its_receipt_is_never_sent_again(
    start_dispatch: StartDispatch, ledger: Ledger, bergen: Tenant, dev_pki: DevPki
) -> None:
    harness = await start_dispatch()
    sealed = sealed_from(await put_built_message(ledger, bergen), dev_pki)
    await ledger.advance_message(
        "bergen", str(sealed.msg_id), MessageState.ACKNOWLEDGED, trace_id=None
    )

    await harness.deliver(sealed)

    assert harness.transport.attempts == []


async def test_message_unknown_to_the_ledger_is_parked_and_not_sent(
    start_dispatch: StartDispatch, ledger: Ledger, bergen: Tenant, dev_pki: DevPki
) -> None:
    harness = await start_dispatch()
    sealed = sealed_from(await put_built_message(ledger, bergen), dev_pki)
    stranger = sealed.model_copy(update={"msg_id": uuid.uuid4()})

    await harness.deliver(stranger)

    assert harness.transport.attempts == []
    [parked] = harness.producer.parked(OUTBOX)
    assert f"no KPR message {stranger.msg_id} in the ledger" in parked.reason
    assert parked.headers["x-park-service"] == "dispatch"
    assert await ledger.get_message("bergen", str(stranger.msg_id)) is None


async def test_send_failures_are_retried_until_the_broker_accepts(
    start_dispatch: StartDispatch, ledger: Ledger, bergen: Tenant, dev_pki: DevPki
) -> None:
    harness = await start_dispatch(failures=2)
    sealed = sealed_from(await put_built_message(ledger, bergen), dev_pki)

    await harness.deliver(sealed)

    [sent] = harness.received()
    attempts = harness.transport.attempts
    assert len(attempts) == 3
    assert len({a.message_id for a in attempts}) == 3  # a new AMQP message-id per send
    assert attempts[-1] is sent
    record = await ledger.get_message("bergen", str(sealed.msg_id))
    assert record is not None
    assert record.state is MessageState.DISPATCHED
    noted = [t.detail for t in record.history if t.state == "send_attempt"]
    assert noted == [{"transport_message_id": a.message_id} for a in attempts]
    assert record.history[-1].detail == {"transport_message_id": sent.message_id}
    assert harness.producer.parked(OUTBOX) == []
    assert harness.value("kprgw_dispatch_send_failures_total", {"tenant": "bergen"}) == 2


async def test_a_send_that_never_settles_times_out_and_is_retried(
    start_dispatch: StartDispatch, ledger: Ledger, bergen: Tenant, dev_pki: DevPki
) -> None:
    harness = await start_dispatch(
        transport_type=StallingTransport, failures=1, send_timeout_seconds=0.05
    )
    sealed = sealed_from(await put_built_message(ledger, bergen), dev_pki)

    await harness.deliver(sealed)

    assert len(harness.received()) == 1
    assert len(harness.transport.attempts) == 2
    record = await ledger.get_message("bergen", str(sealed.msg_id))
    assert record is not None
    assert record.state is MessageState.DISPATCHED


async def test_send_failing_every_time_is_parked_after_the_last_attempt(
    start_dispatch: StartDispatch, ledger: Ledger, bergen: Tenant, dev_pki: DevPki
) -> None:
    harness = await start_dispatch(failures=100)
    sealed = sealed_from(await put_built_message(ledger, bergen), dev_pki)

    await harness.deliver(sealed)

    [parked] = harness.producer.parked(OUTBOX)
    assert parked.reason.startswith("gave up after 6 attempts; last: message")
    assert "not accepted by NHN" in parked.reason
    record = await ledger.get_message("bergen", str(sealed.msg_id))
    assert record is not None
    assert record.state is MessageState.BUILT
    assert sum(t.state == "send_attempt" for t in record.history) == 6


async def test_a_message_sealed_for_another_receiver_is_parked(
    start_dispatch: StartDispatch, ledger: Ledger, bergen: Tenant, dev_pki: DevPki
) -> None:
    harness = await start_dispatch()
    sealed = sealed_from(await put_built_message(ledger, bergen), dev_pki)
    production = sealed.model_copy(update={"to_her_id": "122612"})

    await harness.deliver(production)

    assert harness.transport.attempts == []
    [parked] = harness.producer.parked(OUTBOX)
    assert "sealed from HER-id 50002 to 122612" in parked.reason
    assert "now sends from 50002 to 171479" in parked.reason


async def test_unknown_tenant_is_parked(
    start_dispatch: StartDispatch, ledger: Ledger, bergen: Tenant, dev_pki: DevPki
) -> None:
    harness = await start_dispatch()
    sealed = sealed_from(await put_built_message(ledger, bergen), dev_pki)

    await harness.deliver(sealed.model_copy(update={"tenant_id": "oslo"}))

    [parked] = harness.producer.parked(OUTBOX)
    assert "unknown tenant oslo" in parked.reason
    assert harness.transport.attempts == []


def test_build_needs_a_transport(
    tenants: TenantsFile, ledger: Ledger, settings: DispatchSettings
) -> None:
    context = service_context(
        "dispatch", tenants=tenants, ledger=ledger, bus=MemoryBus(service_name="dispatch")
    )
    with pytest.raises(NoTransportError):
        build(context, settings)


async def test_a_tenant_without_a_receiver_stops_the_start_up(
    dev_pki: DevPki, tmp_path: Path, ledger: Ledger, settings: DispatchSettings
) -> None:
    tenants = write_tenants(dev_pki, tmp_path, [bergen_entry(receiver=False)])
    context = service_context(
        "dispatch",
        tenants=tenants,
        ledger=ledger,
        bus=MemoryBus(service_name="dispatch"),
        nhn=InMemoryNhnTransport(InMemoryNhnBroker()),
    )
    dispatch = build(context, settings)
    with pytest.raises(
        ReceiverStartupError,
        match="tenant bergen: the receiver's async queue cannot be resolved: no "
        "receiver_override and no Address Registry configured",
    ):
        await dispatch.start()
