"""Reading documents back, and refusing what is not a valid document of this format."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from uuid import UUID

import pytest
from lxml import etree

from kpr_gateway.messages.errors import MessagesError, UnsafeXmlError
from kpr_gateway.messages.kpr_ktt_v1 import (
    NAMESPACE,
    EventStatus,
    KprBatch,
    KprDocumentError,
    KttEvent,
    build_fagmelding,
    build_identmelding,
    parse_fagmelding,
    parse_identmelding,
    person_key,
    to_bytes,
    validate_document,
)
from tests.unit.kpr_ktt.synthetic import synthetic_national_id

PERSON = synthetic_national_id(14, 3, 1948, 123)
SECRET = b"parser-test-secret-0123456789"
NS = {"k": NAMESPACE}


def the_batch() -> KprBatch:
    event = KttEvent(
        event_id=UUID(int=7),
        status=EventStatus.CORRECT_SUPPLEMENT,
        municipality_number="0301",
        national_id=PERSON,
        service_code="27",
        decision_date=date(2026, 1, 2),
        start_date=date(2026, 1, 5),
    )
    return KprBatch(
        message_id=UUID(int=1),
        created=datetime(2026, 1, 6, tzinfo=UTC),
        municipality_number="0301",
        reporter_org_number="923456783",
        events=[event],
        tenant_secret=SECRET,
    )


def test_parse_identmelding_from_bytes() -> None:
    parsed = parse_identmelding(to_bytes(build_identmelding(the_batch())))
    assert parsed.header.message_id == UUID(int=1)
    assert [person.national_id for person in parsed.persons] == [PERSON]
    assert parsed.persons[0].person_key == person_key(PERSON, SECRET)
    assert PERSON not in repr(parsed)


def test_parse_fagmelding_from_an_embedded_element() -> None:
    wrapper = etree.Element("Content")
    wrapper.append(build_fagmelding(the_batch()))
    parsed = parse_fagmelding(wrapper[0])
    assert parsed.events[0].status is EventStatus.CORRECT_SUPPLEMENT
    assert parsed.events[0].service_code == "27"


def test_padded_dates_are_read_as_the_schema_reads_them() -> None:
    document = build_fagmelding(the_batch())
    start = document.find("k:Events/k:Event/k:StartDate", namespaces=NS)
    assert start is not None
    start.text = "\n  2026-01-05  "
    assert parse_fagmelding(document).events[0].start_date == date(2026, 1, 5)


def test_wrong_document_kind_is_refused() -> None:
    with pytest.raises(KprDocumentError, match="expected a Fagmelding"):
        parse_fagmelding(build_identmelding(the_batch()))
    with pytest.raises(KprDocumentError, match="expected a Identmelding"):
        parse_identmelding(build_fagmelding(the_batch()))


def test_invalid_document_error_names_place_not_value() -> None:
    document = build_identmelding(the_batch())
    national_id = document.find("k:Persons/k:Person/k:NationalId", namespaces=NS)
    assert national_id is not None
    national_id.text = PERSON + "9"
    with pytest.raises(KprDocumentError) as caught:
        parse_identmelding(to_bytes(document))
    message = str(caught.value)
    assert "line 12, NationalId at " in message
    assert "SCHEMAV_CVC_PATTERN_VALID" in message
    assert not re.search(r"[0-9]{11}", message)


def test_missing_element_is_refused() -> None:
    document = build_fagmelding(the_batch())
    event = document.find("k:Events/k:Event", namespaces=NS)
    assert event is not None
    status = event.find("k:Status", namespaces=NS)
    assert status is not None
    event.remove(status)
    with pytest.raises(KprDocumentError, match=r"not valid against kpr-ktt-v1\.xsd"):
        validate_document(document)


def test_a_schema_checked_document_is_not_checked_again() -> None:
    document = build_fagmelding(the_batch())
    status = document.find("k:Events/k:Event/k:Status", namespaces=NS)
    assert status is not None
    status.text = "  T  "  # not a StatusType value, but the caller says it checked
    with pytest.raises(KprDocumentError, match="not valid"):
        parse_fagmelding(document)
    with pytest.raises(KprDocumentError, match="a status the format does not know"):
        parse_fagmelding(document, schema_checked=True)


def test_a_missing_element_is_refused_even_unchecked() -> None:
    document = build_fagmelding(the_batch())
    event = document.find("k:Events/k:Event", namespaces=NS)
    status = document.find("k:Events/k:Event/k:Status", namespaces=NS)
    assert event is not None
    assert status is not None
    event.remove(status)
    with pytest.raises(KprDocumentError, match="lacks an element"):
        parse_fagmelding(document, schema_checked=True)
    person = build_identmelding(the_batch())
    key = person.find("k:Persons/k:Person/k:PersonKey", namespaces=NS)
    assert key is not None
    key.getparent().remove(key)  # type: ignore[union-attr]
    with pytest.raises(KprDocumentError, match="lacks an element"):
        parse_identmelding(person, schema_checked=True)


def test_duplicate_event_ids_are_invalid() -> None:
    document = build_fagmelding(the_batch())
    events = document.find("k:Events", namespaces=NS)
    assert events is not None
    events.append(etree.fromstring(etree.tostring(events[0])))
    with pytest.raises(KprDocumentError, match="SCHEMAV_CVC_IDC"):
        parse_fagmelding(document)


def test_time_24_00_is_refused_as_out_of_range() -> None:
    raw = to_bytes(build_fagmelding(the_batch())).replace(
        b"2026-01-06T00:00:00Z", b"2026-01-05T24:00:00Z"
    )
    with pytest.raises(KprDocumentError, match="out of the supported range"):
        parse_fagmelding(raw)


def test_doctype_is_refused_by_the_safe_parser() -> None:
    raw = to_bytes(build_fagmelding(the_batch())).replace(
        b"?>\n", b'?>\n<!DOCTYPE Fagmelding [<!ENTITY x "y">]>\n', 1
    )
    with pytest.raises(UnsafeXmlError):
        parse_fagmelding(raw)


def test_all_errors_share_the_package_root() -> None:
    with pytest.raises(MessagesError):
        parse_fagmelding(b"<not-closed>")
    assert issubclass(KprDocumentError, MessagesError)
