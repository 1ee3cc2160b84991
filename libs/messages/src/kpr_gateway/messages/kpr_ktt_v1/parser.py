"""Reads Fagmelding and Identmelding documents back into data classes.

Used by the round-trip tests and by the KPR simulator. A document is checked against
the XSD before it is read, so what is read has the format the builder writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from uuid import UUID

from lxml import etree

from kpr_gateway.messages.kpr_ktt_v1.codes import EventStatus
from kpr_gateway.messages.kpr_ktt_v1.errors import KprDocumentError
from kpr_gateway.messages.kpr_ktt_v1.xsd import (
    FAGMELDING_TAG,
    IDENTMELDING_TAG,
    parse_document,
    qname,
    validate_document,
)

_EVENTS = f"{qname('Events')}/{qname('Event')}"
_PERSONS = f"{qname('Persons')}/{qname('Person')}"
# Schema-valid values Python cannot represent, such as the time 24:00:00.
_OUT_OF_RANGE = "a date, time or number in the document is out of the supported range"


@dataclass(frozen=True, slots=True)
class ParsedHeader:
    message_id: UUID
    created: datetime
    municipality_number: str
    reporter_org_number: str


@dataclass(frozen=True, slots=True)
class ParsedEvent:
    event_id: UUID
    status: EventStatus
    person_key: str
    service_code: str
    decision_date: date
    start_date: date
    stop_date: date | None
    end_date: date | None
    hours_per_week: Decimal | None
    provider_org_number: str | None
    case_reference: str | None


@dataclass(frozen=True, slots=True)
class ParsedFagmelding:
    header: ParsedHeader
    events: tuple[ParsedEvent, ...]


@dataclass(frozen=True, slots=True)
class ParsedPerson:
    person_key: str
    national_id: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class ParsedIdentmelding:
    header: ParsedHeader
    persons: tuple[ParsedPerson, ...]


def parse_fagmelding(document: etree._Element | bytes) -> ParsedFagmelding:
    """Read a KPR_IPL document (an element or its bytes)."""
    root = _valid_root(document, FAGMELDING_TAG, "Fagmelding")
    try:
        return ParsedFagmelding(
            header=_header(root),
            events=tuple(_event(element) for element in root.iterfind(_EVENTS)),
        )
    except (ValueError, ArithmeticError) as exc:
        raise KprDocumentError(_OUT_OF_RANGE) from exc


def parse_identmelding(document: etree._Element | bytes) -> ParsedIdentmelding:
    """Read a KPR_IDE document (an element or its bytes)."""
    root = _valid_root(document, IDENTMELDING_TAG, "Identmelding")
    persons = tuple(
        ParsedPerson(
            person_key=_text(element, "PersonKey"), national_id=_text(element, "NationalId")
        )
        for element in root.iterfind(_PERSONS)
    )
    try:
        return ParsedIdentmelding(header=_header(root), persons=persons)
    except ValueError as exc:
        raise KprDocumentError(_OUT_OF_RANGE) from exc


def _valid_root(document: etree._Element | bytes, tag: str, name: str) -> etree._Element:
    root = parse_document(document) if isinstance(document, bytes) else document
    if root.tag != tag:
        raise KprDocumentError(f"expected a {name} document")
    validate_document(root)
    return root


def _header(root: etree._Element) -> ParsedHeader:
    header = _child(root, "Header")
    return ParsedHeader(
        message_id=UUID(_text(header, "MessageId")),
        created=datetime.fromisoformat(_text(header, "Created").strip()),
        municipality_number=_text(header, "MunicipalityNumber"),
        reporter_org_number=_text(header, "ReporterOrgNumber"),
    )


def _event(element: etree._Element) -> ParsedEvent:
    hours = _optional_text(element, "HoursPerWeek")
    return ParsedEvent(
        event_id=UUID(_text(element, "EventId")),
        status=EventStatus(_text(element, "Status")),
        person_key=_text(element, "PersonKey"),
        service_code=_text(element, "ServiceCode"),
        decision_date=_date(element, "DecisionDate"),
        start_date=_date(element, "StartDate"),
        stop_date=_optional_date(element, "StopDate"),
        end_date=_optional_date(element, "EndDate"),
        hours_per_week=Decimal(hours.strip()) if hours is not None else None,
        provider_org_number=_optional_text(element, "ProviderOrgNumber"),
        case_reference=_optional_text(element, "CaseReference"),
    )


def _child(parent: etree._Element, local: str) -> etree._Element:
    child = parent.find(qname(local))
    if child is None:  # the schema requires it; kept for the type checker
        raise KprDocumentError(f"missing element {local}")
    return child


def _optional_text(parent: etree._Element, local: str) -> str | None:
    child = parent.find(qname(local))
    if child is None:
        return None
    return child.text or ""


def _text(parent: etree._Element, local: str) -> str:
    return _child(parent, local).text or ""


def _date(parent: etree._Element, local: str) -> date:
    # xs:date collapses whitespace, so the schema accepts padded dates.
    return date.fromisoformat(_text(parent, local).strip())


def _optional_date(parent: etree._Element, local: str) -> date | None:
    text = _optional_text(parent, local)
    return date.fromisoformat(text.strip()) if text is not None else None
