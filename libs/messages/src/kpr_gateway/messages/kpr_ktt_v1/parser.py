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
_REQUIRED_EVENT_FIELDS = 6  # EventId, Status, PersonKey, ServiceCode, DecisionDate, StartDate
_STATUSES = {status.value: status for status in EventStatus}
_PERSON_KEY = qname("PersonKey")
_STOP_DATE = qname("StopDate")
_END_DATE = qname("EndDate")
_HOURS_PER_WEEK = qname("HoursPerWeek")
_PROVIDER_ORG_NUMBER = qname("ProviderOrgNumber")
_CASE_REFERENCE = qname("CaseReference")
_NATIONAL_ID = qname("NationalId")
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


def parse_fagmelding(
    document: etree._Element | bytes, *, schema_checked: bool = False
) -> ParsedFagmelding:
    """Read a KPR_IPL document (an element or its bytes).

    ``schema_checked``: the caller has already checked this very element against
    kpr-ktt-v1.xsd (for example inside its MsgHead, with a ``SchemaSet``); it is not
    checked a second time.
    """
    root = _root(document, FAGMELDING_TAG, "Fagmelding", schema_checked=schema_checked)
    try:
        return ParsedFagmelding(
            header=_header(root),
            events=tuple([_event(element) for element in root.iterfind(_EVENTS)]),
        )
    except (ValueError, ArithmeticError) as exc:
        raise KprDocumentError(_OUT_OF_RANGE) from exc


def parse_identmelding(
    document: etree._Element | bytes, *, schema_checked: bool = False
) -> ParsedIdentmelding:
    """Read a KPR_IDE document (an element or its bytes); ``schema_checked`` as for
    ``parse_fagmelding``."""
    root = _root(document, IDENTMELDING_TAG, "Identmelding", schema_checked=schema_checked)
    persons = []
    for element in root.iterfind(_PERSONS):
        fields = _fields(element)
        try:
            persons.append(
                ParsedPerson(person_key=fields[_PERSON_KEY], national_id=fields[_NATIONAL_ID])
            )
        except KeyError as exc:  # as in parse_fagmelding
            raise KprDocumentError("a person lacks an element the schema requires") from exc
    try:
        return ParsedIdentmelding(header=_header(root), persons=tuple(persons))
    except ValueError as exc:
        raise KprDocumentError(_OUT_OF_RANGE) from exc


def _root(
    document: etree._Element | bytes, tag: str, name: str, *, schema_checked: bool
) -> etree._Element:
    root = parse_document(document) if isinstance(document, bytes) else document
    if root.tag != tag:
        raise KprDocumentError(f"expected a {name} document")
    if not schema_checked:
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


def _fields(element: etree._Element) -> dict[object, str]:
    # One pass over the children instead of a find() per field: the schema has been checked,
    # so each child occurs at most once (a comment's tag is a function, never asked for).
    return {child.tag: child.text or "" for child in element}


def _event(element: etree._Element) -> ParsedEvent:
    # The schema has been checked, so the children follow EventType's sequence: the six
    # required ones by position, the optional ones after them by name. Reading a child's
    # tag builds a new string each time, which cost more than the rest of the reading.
    children = list(element.iterchildren(etree.Element))
    if len(children) < _REQUIRED_EVENT_FIELDS:  # only when the caller's check was not one
        raise KprDocumentError("an event lacks an element the schema requires")
    event_id, status, key, service_code, decided, started = (
        child.text or "" for child in children[:_REQUIRED_EVENT_FIELDS]
    )
    optional = {child.tag: child.text or "" for child in children[_REQUIRED_EVENT_FIELDS:]}
    parsed_status = _STATUSES.get(status)
    if parsed_status is None:  # only without the schema check (which allows no other value)
        raise KprDocumentError("an event has a status the format does not know")
    hours = optional.get(_HOURS_PER_WEEK)
    stop = optional.get(_STOP_DATE)
    end = optional.get(_END_DATE)
    return ParsedEvent(
        event_id=UUID(event_id),
        status=parsed_status,
        person_key=key,
        service_code=service_code,
        # xs:date and xs:decimal collapse whitespace, so the schema accepts padded values.
        decision_date=date.fromisoformat(decided.strip()),
        start_date=date.fromisoformat(started.strip()),
        stop_date=date.fromisoformat(stop.strip()) if stop is not None else None,
        end_date=date.fromisoformat(end.strip()) if end is not None else None,
        hours_per_week=Decimal(hours.strip()) if hours is not None else None,
        provider_org_number=optional.get(_PROVIDER_ORG_NUMBER),
        case_reference=optional.get(_CASE_REFERENCE),
    )


def _child(parent: etree._Element, local: str) -> etree._Element:
    child = parent.find(qname(local))
    if child is None:  # the schema requires it; kept for the type checker
        raise KprDocumentError(f"missing element {local}")
    return child


def _text(parent: etree._Element, local: str) -> str:
    return _child(parent, local).text or ""
