"""A message over the NHN size limit is never sent: the ledger records it refused by
envelope, with the reason, and the delivery is parked with the same reason."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from lxml import etree

from kpr_gateway.envelope.settings import EnvelopeSettings
from kpr_gateway.ledger import BatchMessage, Ledger, MessageState, NewEvent
from kpr_gateway.messages.msghead import MsgHead, build_msghead
from kpr_gateway.pipeline import MESSAGES
from kpr_gateway.pipeline.contracts import BuiltMessage
from kpr_gateway.tenancy import Tenant, kpr_receiver
from tests.unit.envelope.conftest import StartEnvelope

LIMIT = 64 * 1024


@pytest.fixture
def settings(tmp_path: Path) -> EnvelopeSettings:
    return EnvelopeSettings(tenants_file=tmp_path / "tenants.yaml", max_nhn_message_bytes=LIMIT)


async def put_message_of(ledger: Ledger, tenant: Tenant, size: int) -> BuiltMessage:
    """A built message (recorded as transform records it) whose MsgHead is ``size`` bytes,
    filled with random base64 as a packed document would be (CMS does not compress)."""
    event_id, msg_id, batch_id = (str(uuid.uuid4()) for _ in range(3))
    now = datetime.now(UTC)
    filler = etree.Element("{urn:kprgw:test}Stand-in")
    head = MsgHead(
        msg_type="KPR_IPL",
        msg_type_text="KPR kommunal tjenestetildeling",
        msg_id=msg_id,
        gen_date=now,
        sender=tenant.sender_organisation(),
        receiver=kpr_receiver(tenant.environment),
        issue_date=now,
        document=filler,
    )
    filler.text = "x"
    envelope_bytes = len(build_msghead(head)) - 1
    filler.text = secrets.token_urlsafe(size)[: size - envelope_bytes]
    document = build_msghead(head)
    assert len(document) == size
    await ledger.register_events(tenant.id, [NewEvent(event_id, "content-hash")], trace_id=None)
    commit = await ledger.commit_batch(
        tenant.id,
        batch_id=batch_id,
        event_ids=[event_id],
        messages=[BatchMessage(msg_id, "KPR_IPL", document)],
        trace_id=None,
        traceparent=None,
    )
    assert commit.committed
    return BuiltMessage(
        tenant_id=tenant.id,
        msg_id=uuid.UUID(msg_id),
        msg_type="KPR_IPL",
        batch_id=uuid.UUID(batch_id),
        event_ids=[uuid.UUID(event_id)],
        document=document,
    )


@pytest.mark.parametrize(
    ("size", "sealed"),
    [(LIMIT - 500, True), (LIMIT + 1, False)],
    ids=["over-once-sealed", "over-before-sealing"],
)
async def test_a_message_over_the_limit_is_refused_recorded_and_parked(
    start_envelope: StartEnvelope, ledger: Ledger, bergen: Tenant, size: int, sealed: bool
) -> None:
    harness = await start_envelope()
    built = await put_message_of(ledger, bergen, size)

    await harness.deliver(built)

    assert harness.outbox == []
    [parked] = harness.producer.parked(MESSAGES)
    assert parked.message_id == str(built.msg_id)
    assert f"message {built.msg_id} is " in parked.reason
    assert f"over the NHN message limit of {LIMIT} bytes" in parked.reason
    assert ("sealed," if sealed else "before sealing,") in parked.reason
    assert parked.headers["x-attempt"] == "1"  # parked at once, not retried
    record = await ledger.get_message("bergen", str(built.msg_id))
    assert record is not None
    assert record.state is MessageState.REFUSED
    assert record.receipt is None  # KPR never saw it
    refusal = record.history[-1]
    assert refusal.state == "refused"
    assert refusal.detail is not None
    assert refusal.detail["refused_by"] == "envelope"
    assert refusal.detail["rule"] == "nhn-message-size"
    assert refusal.detail["reason"] == parked.reason
    assert refusal.detail["sealed"] is sealed
    assert refusal.detail["limit_bytes"] == LIMIT
    assert refusal.detail["bytes"] > LIMIT
    assert harness.value("kprgw_envelope_too_large_total", {"tenant": "bergen"}) == 1
    assert harness.value("kprgw_envelope_sealed_total", {"tenant": "bergen"}) is None


async def test_a_message_under_the_limit_is_sealed_and_a_refused_one_is_not_retried(
    start_envelope: StartEnvelope, ledger: Ledger, bergen: Tenant
) -> None:
    harness = await start_envelope()
    fits = await put_message_of(ledger, bergen, LIMIT - 8 * 1024)
    too_large = await put_message_of(ledger, bergen, LIMIT * 2)

    await harness.deliver(fits)
    await harness.deliver(too_large)
    await harness.deliver(too_large)  # an operator's replay of the parked copy

    assert [m.msg_id for m in harness.outbox] == [fits.msg_id]
    assert len(harness.outbox[0].cms) <= LIMIT
    assert len(harness.producer.parked(MESSAGES)) == 1
    assert harness.value("kprgw_envelope_skipped_total", {"tenant": "bergen"}) == 1


def test_the_default_limit_takes_a_packed_annual_file_and_can_be_set(tmp_path: Path) -> None:
    tenants_file = tmp_path / "tenants.yaml"
    default = EnvelopeSettings(tenants_file=tenants_file).max_nhn_message_bytes
    assert default == 16 * 1024 * 1024
    with pytest.MonkeyPatch.context() as env:
        env.setenv("KPRGW_ENVELOPE_MAX_NHN_MESSAGE_BYTES", "1000000")
        assert EnvelopeSettings(tenants_file=tenants_file).max_nhn_message_bytes == 1_000_000
