"""Hypothesis round trips: build, serialise, parse, and get the batch's data back."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from lxml import etree

from kpr_gateway.messages.kpr_ktt_v1 import (
    XSD_PATH,
    KprBatch,
    ParsedEvent,
    ParsedHeader,
    build_fagmelding,
    build_identmelding,
    parse_fagmelding,
    parse_identmelding,
    person_key,
    to_bytes,
)
from tests.unit.kpr_ktt.strategies import batches

SCHEMA = etree.XMLSchema(file=str(XSD_PATH))
ROUND_TRIP = settings(max_examples=50, suppress_health_check=[HealthCheck.too_slow])


def expected_header(batch: KprBatch) -> ParsedHeader:
    return ParsedHeader(
        message_id=batch.message_id,
        created=batch.created,
        municipality_number=batch.municipality_number,
        reporter_org_number=batch.reporter_org_number,
    )


@ROUND_TRIP
@given(batch=batches())
def test_fagmelding_round_trip(batch: KprBatch) -> None:
    document = build_fagmelding(batch)
    assert SCHEMA.validate(document)
    parsed = parse_fagmelding(to_bytes(document))
    assert parsed.header == expected_header(batch)
    assert parsed.events == tuple(
        ParsedEvent(
            event_id=event.event_id,
            status=event.status,
            person_key=person_key(event.national_id, batch.tenant_secret),
            service_code=event.service_code,
            decision_date=event.decision_date,
            start_date=event.start_date,
            stop_date=event.stop_date,
            end_date=event.end_date,
            hours_per_week=event.hours_per_week,
            provider_org_number=event.provider_org_number,
            case_reference=event.case_reference,
        )
        for event in batch.events
    )


@ROUND_TRIP
@given(batch=batches())
def test_identmelding_round_trip(batch: KprBatch) -> None:
    document = build_identmelding(batch)
    assert SCHEMA.validate(document)
    parsed = parse_identmelding(to_bytes(document))
    assert parsed.header == expected_header(batch)
    expected = {person_key(e.national_id, batch.tenant_secret): e.national_id for e in batch.events}
    assert [(p.person_key, p.national_id) for p in parsed.persons] == sorted(expected.items())


@ROUND_TRIP
@given(batch=batches())
def test_documents_link_by_person_key(batch: KprBatch) -> None:
    fag = parse_fagmelding(build_fagmelding(batch))
    ident = parse_identmelding(build_identmelding(batch))
    assert {event.person_key for event in fag.events} == {p.person_key for p in ident.persons}
    assert fag.header == ident.header
