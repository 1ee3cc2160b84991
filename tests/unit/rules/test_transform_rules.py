"""transform with a configured rule set: listed test persons end suppressed; findings counted."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from fakeredis import FakeAsyncRedis

from kpr_gateway.ledger import Ledger, NewEvent
from kpr_gateway.messages.iplos_kpr import Notification
from kpr_gateway.observability.metrics import ServiceMetrics
from kpr_gateway.pipeline import EVENTS, Delivery, MemoryBroker, MemoryBus
from kpr_gateway.pipeline.contracts import AcceptedEvent, EventChunk
from kpr_gateway.tenancy import TenantsFile
from kpr_gateway.transform.app import BatchLimits, Transform
from kpr_gateway.transform.rules import KnownTestPersons, RuleSet
from tests.unit.rules.support import PERSON, event_data, national_id, tenant_data, write_secret

REPORTING = {
    "epj_system": {"vendor": "Omsorgsdata AS", "name": "Omsorg EPJ", "version": "24.3"},
    "contacts": [
        {"name": "Kari Kontakt", "email": "kari@example.invalid", "type": 16},
        {"name": "Ola Innsender", "email": "ola@example.invalid", "type": 17},
    ],
}


async def test_rule_outcomes_reach_the_ledger_and_the_counters(tmp_path: Path) -> None:
    write_secret(tmp_path)
    data = tenant_data(
        pseudonym_secret_file=str(tmp_path / "secrets" / "bergen.key"), reporting=REPORTING
    )
    tenants = TenantsFile.model_validate({"tenants": [data]})
    metrics = ServiceMetrics("transform")
    ledger = Ledger(FakeAsyncRedis())
    bus = MemoryBus(service_name="transform", broker=MemoryBroker(delay_scale=0))
    await bus.start()
    transform = Transform(
        tenants=tenants,
        ledger=ledger,
        bus=bus,
        metrics=metrics,
        limits=BatchLimits(max_events=10, max_age_seconds=0.05, prefetch=4),
        rules=RuleSet(test_persons={"bergen": KnownTestPersons([PERSON])}),
    )
    listed = event_data(event_id=str(uuid.uuid4()))
    synthetic = event_data(
        event_id=str(uuid.uuid4()), national_id=national_id(date(1985, 1, 2), month_offset=40)
    )
    obsolete = event_data(
        event_id=str(uuid.uuid4()), national_id=national_id(date(1960, 1, 2)), service_type="13"
    )
    birth_date_only = event_data(event_id=str(uuid.uuid4()), national_id="020160", id_type=9)
    # Replaces the listed person's event with another person: the correction passes the
    # rules and follows its (suppressed) original.
    replace_listed = event_data(
        event_id=str(uuid.uuid4()),
        status="M",
        corrects=listed["event_id"],
        national_id=national_id(date(1960, 1, 4)),
    )
    items = [listed, synthetic, obsolete, birth_date_only, replace_listed]
    await ledger.register_events(
        "bergen", [NewEvent(e["event_id"], "h") for e in items], trace_id=None
    )

    await transform.handle_chunk(_delivery(items))
    await transform.flush()

    outcomes = {}
    for item in items:
        record = await ledger.get_event("bergen", item["event_id"])
        assert record is not None
        outcomes[item["event_id"]] = (record.status, [r.rule for r in record.reasons])
    assert outcomes[listed["event_id"]] == ("suppressed_test_person", ["test-person-listed"])
    assert outcomes[synthetic["event_id"]] == ("suppressed_test_person", ["test-person"])
    assert outcomes[obsolete["event_id"]] == ("rejected_invalid", ["service-code-obsolete"])
    assert outcomes[birth_date_only["event_id"]] == ("built", [])
    assert outcomes[replace_listed["event_id"]] == (
        "suppressed_test_person",
        ["correction-original-not-sent"],
    )

    def findings(rule: str, severity: str) -> float | None:
        return metrics.registry.get_sample_value(
            "kprgw_transform_rule_findings_total",
            {"tenant": "bergen", "rule": rule, "severity": severity},
        )

    assert findings("test-person-listed", "suppress") == 1
    assert findings("test-person", "suppress") == 1
    assert findings("service-code-obsolete", "reject") == 1
    assert findings("no-kpr-id", "warn") == 1
    assert findings("correction-original-not-sent", "suppress") == 1  # its original's kind
    assert findings("correction-original-not-sent", "reject") is None
    assert findings("municipality-not-tenant", "reject") is None
    await transform.close()
    await bus.stop()


def _delivery(events: list[dict[str, Any]]) -> Delivery:
    chunk = EventChunk(
        tenant_id="bergen",
        chunk_id=uuid.uuid4(),
        events=[
            AcceptedEvent(
                event_id=uuid.UUID(e["event_id"]),
                received_at=datetime.now(UTC),
                event=Notification.model_validate(e),
                trace_id=uuid.uuid4().hex,
            )
            for e in events
        ],
    )
    return Delivery(body=chunk.to_body(), headers={}, message_id=str(chunk.chunk_id), queue=EVENTS)
