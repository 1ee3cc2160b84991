from __future__ import annotations

import logging
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kpr_gateway.envelope.app import build
from kpr_gateway.envelope.settings import EnvelopeSettings
from kpr_gateway.ledger import Ledger, MessageState
from kpr_gateway.pipeline import MESSAGES, MemoryBus
from kpr_gateway.runtime.receivers import ReceiverStartupError
from kpr_gateway.security import cms
from kpr_gateway.security.devpki import DevPki
from kpr_gateway.security.errors import WrongRecipientError
from kpr_gateway.tenancy import Tenant, TenantFileError, TenantsFile
from tests.support.outbound_world import (
    BERGEN_PARTY_HER_ID,
    KPR_VALIDATION_HER_ID,
    bergen_entry,
    put_built_message,
    service_context,
    trondheim_entry,
    write_tenants,
)
from tests.unit.envelope.conftest import StartEnvelope


async def test_seals_for_the_receiver_signed_by_the_tenant_and_advances_the_ledger(
    start_envelope: StartEnvelope, ledger: Ledger, bergen: Tenant, dev_pki: DevPki
) -> None:
    harness = await start_envelope()
    built = await put_built_message(ledger, bergen, msg_type="KPR_IDE")

    await harness.deliver(built)

    [sealed] = harness.outbox
    assert (sealed.tenant_id, sealed.msg_id, sealed.msg_type, sealed.batch_id) == (
        "bergen",
        built.msg_id,
        "KPR_IDE",
        built.batch_id,
    )
    assert (sealed.from_her_id, sealed.to_her_id) == (BERGEN_PARTY_HER_ID, KPR_VALIDATION_HER_ID)
    opened = cms.open_sealed(
        sealed.cms,
        [dev_pki.party("fhi").encryption],
        expected_signer=dev_pki.party("bergen").signing.certificate,
    )
    assert opened.content == built.document
    record = await ledger.get_message("bergen", str(built.msg_id))
    assert record is not None
    assert record.state is MessageState.ENVELOPED
    assert harness.value("kprgw_envelope_sealed_total", {"tenant": "bergen"}) == 1
    assert harness.value("kprgw_envelope_seal_seconds_count") == 1
    assert harness.producer.parked(MESSAGES) == []


async def test_sealed_message_cannot_be_opened_by_the_sender(
    start_envelope: StartEnvelope, ledger: Ledger, bergen: Tenant, dev_pki: DevPki
) -> None:
    harness = await start_envelope()
    await harness.deliver(await put_built_message(ledger, bergen))

    [sealed] = harness.outbox
    with pytest.raises(WrongRecipientError):
        cms.open_sealed(sealed.cms, [dev_pki.party("bergen").encryption], expected_signer=None)


async def test_redelivery_before_dispatch_seals_the_same_message_again(
    start_envelope: StartEnvelope, ledger: Ledger, bergen: Tenant
) -> None:
    """The ledger is marked before the publish, so a redelivered message that is not yet
    dispatched may never have reached the outbox: it is sealed and published again under the
    same MsgId, and dispatch sends it once."""
    harness = await start_envelope()
    built = await put_built_message(ledger, bergen)

    await harness.deliver(built)
    await harness.deliver(built)

    assert [m.msg_id for m in harness.outbox] == [built.msg_id, built.msg_id]
    record = await ledger.get_message("bergen", str(built.msg_id))
    assert record is not None
    assert [t.state for t in record.history] == ["built", "enveloped"]
    assert harness.value("kprgw_envelope_sealed_total", {"tenant": "bergen"}) == 2


async def test_a_message_already_dispatched_is_not_sealed_again(
    start_envelope: StartEnvelope, ledger: Ledger, bergen: Tenant
) -> None:
    harness = await start_envelope()
    built = await put_built_message(ledger, bergen)
    await ledger.advance_message(
        "bergen", str(built.msg_id), MessageState.DISPATCHED, trace_id=None
    )

    await harness.deliver(built)

    assert harness.outbox == []
    assert harness.value("kprgw_envelope_skipped_total", {"tenant": "bergen"}) == 1


async def test_message_unknown_to_the_ledger_is_parked(
    start_envelope: StartEnvelope, ledger: Ledger, bergen: Tenant
) -> None:
    harness = await start_envelope()
    built = await put_built_message(ledger, bergen)
    stranger = built.model_copy(update={"msg_id": uuid.uuid4()})

    await harness.deliver(stranger)

    assert harness.outbox == []
    [parked] = harness.producer.parked(MESSAGES)
    assert parked.message_id == str(stranger.msg_id)
    assert f"no KPR message {stranger.msg_id} in the ledger" in parked.reason
    assert parked.headers["x-park-service"] == "envelope"


async def test_certificate_expired_since_start_up_parks_with_the_reason(
    start_envelope: StartEnvelope, ledger: Ledger, bergen: Tenant
) -> None:
    later = datetime.now(UTC) + timedelta(days=400)  # the dev PKI is valid for 365 days
    harness = await start_envelope(clock=lambda: later)
    built = await put_built_message(ledger, bergen)

    await harness.deliver(built)

    assert harness.outbox == []
    [parked] = harness.producer.parked(MESSAGES)
    assert f"tenant bergen: message {built.msg_id} cannot be sealed" in parked.reason
    assert "expired" in parked.reason
    assert parked.headers["x-attempt"] == "1"  # parked at once, not retried
    record = await ledger.get_message("bergen", str(built.msg_id))
    assert record is not None
    assert record.state is MessageState.BUILT
    assert harness.value(
        "kprgw_envelope_certificate_days_left", {"tenant": "bergen", "certificate": "signing"}
    ) == pytest.approx(-36, abs=1)


async def test_unknown_tenant_and_invalid_body_are_parked(
    start_envelope: StartEnvelope, ledger: Ledger, bergen: Tenant
) -> None:
    harness = await start_envelope()
    built = await put_built_message(ledger, bergen)
    other = built.model_copy(update={"tenant_id": "oslo"})

    await harness.deliver(other)
    await harness.deliver(b'{"tenant_id": "bergen"}', message_id="broken")

    unknown, invalid = harness.producer.parked(MESSAGES)
    assert "unknown tenant oslo" in unknown.reason
    assert invalid.reason.startswith("invalid BuiltMessage body")
    assert harness.outbox == []


def test_a_tenant_without_certificates_stops_the_start_up(
    dev_pki: DevPki, tmp_path: Path, ledger: Ledger, settings: EnvelopeSettings
) -> None:
    tenants = write_tenants(
        dev_pki, tmp_path, [bergen_entry(), trondheim_entry(certificates=False)]
    )
    context = service_context(
        "envelope", tenants=tenants, ledger=ledger, bus=MemoryBus(service_name="envelope")
    )
    with pytest.raises(TenantFileError, match="tenant trondheim: certificates are not configured"):
        build(context, settings)


async def test_a_tenant_without_a_receiver_stops_the_start_up(
    dev_pki: DevPki, tmp_path: Path, ledger: Ledger, settings: EnvelopeSettings
) -> None:
    tenants = write_tenants(dev_pki, tmp_path, [bergen_entry(receiver=False)])
    context = service_context(
        "envelope", tenants=tenants, ledger=ledger, bus=MemoryBus(service_name="envelope")
    )
    envelope = build(context, settings)
    with pytest.raises(
        ReceiverStartupError,
        match="tenant bergen: the receiver's encryption certificate cannot be resolved: no "
        "receiver_override and no Address Registry configured",
    ):
        await envelope.start()


async def test_start_up_warns_of_certificates_that_expire_soon(
    tenants: TenantsFile, ledger: Ledger, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = EnvelopeSettings(tenants_file=tmp_path / "tenants.yaml", expiry_warning_days=400)
    context = service_context(
        "envelope", tenants=tenants, ledger=ledger, bus=MemoryBus(service_name="envelope")
    )
    envelope = build(context, settings)
    with caplog.at_level(logging.WARNING, logger="kpr_gateway.envelope.app"):
        await envelope.start()
    warned = sorted(r.getMessage() for r in caplog.records)
    assert len(warned) == 2
    assert re.fullmatch(
        r"tenant bergen: receiver_encryption certificate expires in 36[45] days", warned[0]
    )
    assert re.fullmatch(r"tenant bergen: signing certificate expires in 36[45] days", warned[1])


async def test_start_up_is_quiet_when_certificates_are_far_from_expiry(
    tenants: TenantsFile,
    ledger: Ledger,
    settings: EnvelopeSettings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    context = service_context(
        "envelope", tenants=tenants, ledger=ledger, bus=MemoryBus(service_name="envelope")
    )
    envelope = build(context, settings)
    with caplog.at_level(logging.WARNING, logger="kpr_gateway.envelope.app"):
        await envelope.start()
    assert caplog.records == []
