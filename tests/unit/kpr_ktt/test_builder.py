"""Building the Fagmelding and Identmelding, checked against the XSD on its own."""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from lxml import etree

from kpr_gateway.messages.kpr_ktt_v1 import (
    NAMESPACE,
    XSD_PATH,
    KprBatch,
    KprDocumentError,
    KttEvent,
    build_fagmelding,
    build_identmelding,
    person_key,
    to_bytes,
    xsd,
)
from kpr_gateway.messages.kpr_ktt_v1.builder import format_decimal, format_utc
from tests.unit.kpr_ktt.synthetic import synthetic_national_id

PERSON_A = synthetic_national_id(14, 3, 1948, 123)
PERSON_B = synthetic_national_id(23, 7, 1990, 210, d_number=True)
SECRET = b"builder-test-secret-0123456789"
NS = {"k": NAMESPACE}


def event(number: int, national_id: str = PERSON_A, **changes: Any) -> KttEvent:
    fields: dict[str, Any] = {
        "event_id": UUID(int=number),
        "status": "N",
        "municipality_number": "0301",
        "national_id": national_id,
        "service_code": "15",
        "decision_date": date(2026, 1, 2),
        "start_date": date(2026, 1, 5),
    }
    fields.update(changes)
    return KttEvent.model_validate(fields)


def batch(*events: KttEvent, **changes: Any) -> KprBatch:
    fields: dict[str, Any] = {
        "message_id": UUID("0f6b3c1e-9a7d-4e2b-8c5f-1d2e3f4a5b6c"),
        "created": datetime(2026, 1, 6, 2, 0, tzinfo=UTC),
        "municipality_number": "0301",
        "reporter_org_number": "923456783",
        "events": events or (event(1),),
        "tenant_secret": SECRET,
    }
    fields.update(changes)
    return KprBatch(**fields)


@pytest.fixture(scope="module")
def schema() -> etree.XMLSchema:
    return etree.XMLSchema(file=str(XSD_PATH))


def test_fagmelding_is_valid_and_carries_no_national_id(schema: etree.XMLSchema) -> None:
    the_batch = batch(
        event(1, hours_per_week=Decimal("7.50"), case_reference="SAK-1"),
        event(2, PERSON_B, status="C", stop_date=date(2026, 2, 1), end_date=date(2026, 3, 1)),
    )
    document = build_fagmelding(the_batch)
    schema.assertValid(document)
    raw = to_bytes(document)
    assert PERSON_A.encode() not in raw
    assert PERSON_B.encode() not in raw
    assert document.findtext("k:Events/k:Event[1]/k:HoursPerWeek", namespaces=NS) == "7.5"
    assert document.findtext("k:Events/k:Event[2]/k:Status", namespaces=NS) == "C"
    assert document.findtext("k:Events/k:Event[2]/k:PersonKey", namespaces=NS) == person_key(
        PERSON_B, SECRET
    )
    # Optional elements are left out, not written empty.
    assert document.find("k:Events/k:Event[1]/k:EndDate", namespaces=NS) is None


def test_markup_in_a_value_is_written_as_text(schema: etree.XMLSchema) -> None:
    # The documents are written as text: a value must not be able to add elements.
    reference = "A&B</CaseReference></Event><Event>"
    document = build_fagmelding(batch(event(1, case_reference=reference)))
    schema.assertValid(document)
    assert document.findtext("k:Events/k:Event/k:CaseReference", namespaces=NS) == reference
    assert len(document.findall("k:Events/k:Event", namespaces=NS)) == 1
    assert b"A&amp;B&lt;/CaseReference&gt;&lt;/Event&gt;&lt;Event&gt;" in to_bytes(document)


def test_a_value_xml_cannot_carry_is_refused_without_echo() -> None:
    # KttEvent refuses such values; an unvalidated one must still not reach the output.
    valid = event(1)
    unchecked = KttEvent.model_construct(**{**dict(valid), "case_reference": "SAK\x01" + PERSON_B})
    with pytest.raises(KprDocumentError, match="cannot be written as XML") as caught:
        build_fagmelding(batch(unchecked))
    assert PERSON_B not in str(caught.value)


def test_identmelding_has_one_sorted_entry_per_person(schema: etree.XMLSchema) -> None:
    the_batch = batch(event(1), event(2, PERSON_B), event(3), event(4, PERSON_B), event(5))
    document = build_identmelding(the_batch)
    schema.assertValid(document)
    keys = [e.text for e in document.iterfind("k:Persons/k:Person/k:PersonKey", namespaces=NS)]
    ids = [e.text for e in document.iterfind("k:Persons/k:Person/k:NationalId", namespaces=NS)]
    assert keys == sorted({person_key(PERSON_A, SECRET), person_key(PERSON_B, SECRET)})
    assert dict(zip(keys, ids, strict=True)) == {
        person_key(PERSON_A, SECRET): PERSON_A,
        person_key(PERSON_B, SECRET): PERSON_B,
    }
    # Identity only: no events, no service data.
    assert document.find("k:Events", namespaces=NS) is None


def test_both_documents_share_the_header() -> None:
    the_batch = batch(created=datetime(2026, 1, 6, 3, 0, tzinfo=timezone(timedelta(hours=1))))
    for document in (build_fagmelding(the_batch), build_identmelding(the_batch)):
        header = document.find("k:Header", namespaces=NS)
        assert header is not None
        assert [child.text for child in header] == [
            "0f6b3c1e-9a7d-4e2b-8c5f-1d2e3f4a5b6c",
            "2026-01-06T02:00:00Z",
            "0301",
            "923456783",
        ]
        assert document.get("version") == "1.0"


def test_serialisation_is_deterministic() -> None:
    the_batch = batch(event(1), event(2, PERSON_B))
    first = to_bytes(build_fagmelding(the_batch))
    assert first == to_bytes(build_fagmelding(the_batch))
    assert first.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<Fagmelding ')
    assert first.endswith(b"</Fagmelding>\n")


def test_to_bytes_leaves_out_the_tail_of_an_embedded_element() -> None:
    wrapper = etree.Element("Content")
    document = build_fagmelding(batch())
    wrapper.append(document)
    document.tail = "\n   "
    assert to_bytes(document).endswith(b"</Fagmelding>\n")


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2026, 1, 6, 2, 0, tzinfo=UTC), "2026-01-06T02:00:00Z"),
        (datetime(2026, 1, 6, 0, 30, tzinfo=timezone(timedelta(hours=2))), "2026-01-05T22:30:00Z"),
        (datetime(2026, 1, 6, 2, 0, 0, 1500, tzinfo=UTC), "2026-01-06T02:00:00.001500Z"),
    ],
)
def test_format_utc(moment: datetime, text: str) -> None:
    assert format_utc(moment) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [("7.50", "7.5"), ("10", "10"), ("1E+1", "10"), ("0.00", "0"), ("-0", "0"), ("168", "168")],
)
def test_format_decimal(value: str, text: str) -> None:
    assert format_decimal(Decimal(value)) == text


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"created": datetime(2026, 1, 6, 2, 0)}, "time zone"),
        ({"municipality_number": "301"}, "municipality number"),
        ({"municipality_number": "\uff10\uff13\uff10\uff11"}, "municipality number"),  # full-width
        ({"reporter_org_number": "92345678"}, "organisation number"),
        ({"tenant_secret": b"short"}, "at least 16 bytes"),
        ({"events": ()}, "at least one event"),
        ({"events": (event(1), event(1, PERSON_B))}, "occurs twice"),
        ({"events": (event(1), event(2, municipality_number="4601"))}, "municipality 4601"),
    ],
)
def test_bad_batches_are_refused(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(KprDocumentError, match=message) as caught:
        batch(**changes)
    assert PERSON_A not in str(caught.value)
    assert PERSON_B not in str(caught.value)


def test_batch_repr_hides_secret_and_national_ids() -> None:
    text = repr(batch(event(1), event(2, PERSON_B)))
    assert repr(SECRET)[2:-1] not in text
    assert PERSON_A not in text
    assert PERSON_B not in text


def test_batch_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        batch().municipality_number = "4601"  # type: ignore[misc]


def test_batch_keeps_its_own_copy_of_the_events() -> None:
    events = [event(1)]
    the_batch = batch(events=events)
    events.append(event(1))  # would be a duplicate id
    assert the_batch.events == (event(1),)
    assert hash(the_batch) == hash(batch(events=[event(1)]))


def test_building_in_many_threads_at_once_is_safe() -> None:
    """Services build and parse in worker threads; the shared schema must not break."""
    xsd._schema.cache_clear()  # the first use, racing, is what used to fail
    with ThreadPoolExecutor(max_workers=8) as pool:
        built = list(pool.map(lambda n: build_fagmelding(batch(event(n))), range(32)))
    assert len(built) == 32
