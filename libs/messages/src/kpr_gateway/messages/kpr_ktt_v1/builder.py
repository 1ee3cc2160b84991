"""Builds the two documents of a batch: the Fagmelding (KPR_IPL) and the Identmelding (KPR_IDE).

The Fagmelding carries the events with the person's pseudonymous key only; the
Identmelding carries, once per person, that key with the national id. Both are
checked against the XSD before they are returned.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Final, cast
from uuid import UUID

from lxml import etree

from kpr_gateway.messages.kpr_ktt_v1.errors import KprDocumentError
from kpr_gateway.messages.kpr_ktt_v1.models import KttEvent
from kpr_gateway.messages.kpr_ktt_v1.pseudonym import MIN_SECRET_BYTES, person_key
from kpr_gateway.messages.kpr_ktt_v1.xsd import (
    FAGMELDING_TAG,
    IDENTMELDING_TAG,
    NAMESPACE,
    VERSION,
    qname,
    validate_document,
)
from kpr_gateway.messages.xmlwrite import XML_DECLARATION

MSG_TYPE_FAGMELDING: Final = "KPR_IPL"
MSG_TYPE_IDENTMELDING: Final = "KPR_IDE"

# The default namespace; lxml-stubs type nsmap keys as str although lxml takes None.
_NSMAP: Final = cast("Mapping[str, str]", {None: NAMESPACE})
_MUNICIPALITY_NUMBER: Final = re.compile("[0-9]{4}")
_ORG_NUMBER: Final = re.compile("[0-9]{9}")


@dataclass(frozen=True)
class KprBatch:
    """One tenant's events that travel together as one Fagmelding and one Identmelding."""

    message_id: UUID
    created: datetime
    municipality_number: str
    reporter_org_number: str
    events: Sequence[KttEvent]
    tenant_secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        # A tuple, so that the checks below stay true: a caller's list could change later.
        object.__setattr__(self, "events", tuple(self.events))
        if self.created.utcoffset() is None:
            raise KprDocumentError("created must carry a time zone (UTC)")
        if not _MUNICIPALITY_NUMBER.fullmatch(self.municipality_number):
            raise KprDocumentError("municipality number must be 4 digits")
        if not _ORG_NUMBER.fullmatch(self.reporter_org_number):
            raise KprDocumentError("reporter organisation number must be 9 digits")
        if len(self.tenant_secret) < MIN_SECRET_BYTES:
            raise KprDocumentError(f"tenant secret must be at least {MIN_SECRET_BYTES} bytes")
        if not self.events:
            raise KprDocumentError("a batch needs at least one event")
        seen: set[UUID] = set()
        for position, event in enumerate(self.events):
            if event.municipality_number != self.municipality_number:
                raise KprDocumentError(
                    f"event {position} ({event.event_id}) is for municipality "
                    f"{event.municipality_number}, the batch for {self.municipality_number}"
                )
            if event.event_id in seen:
                raise KprDocumentError(f"event id {event.event_id} occurs twice in the batch")
            seen.add(event.event_id)


def build_fagmelding(batch: KprBatch) -> etree._Element:
    """The KPR_IPL document: the batch's events in their order, persons by key only."""
    root = etree.Element(FAGMELDING_TAG, {"version": VERSION}, nsmap=_NSMAP)
    _add_header(root, batch)
    events = etree.SubElement(root, qname("Events"))
    for event in batch.events:
        _add_event(events, event, person_key(event.national_id, batch.tenant_secret))
    validate_document(root)
    return root


def build_identmelding(batch: KprBatch) -> etree._Element:
    """The KPR_IDE document: one entry per distinct person, sorted by person key."""
    national_ids: dict[str, str] = {}
    for event in batch.events:
        key = person_key(event.national_id, batch.tenant_secret)
        known = national_ids.setdefault(key, event.national_id)
        if known != event.national_id:
            # 160-bit keys make this practically impossible; refuse rather than merge persons.
            raise KprDocumentError(f"two persons share one person key (event {event.event_id})")
    root = etree.Element(IDENTMELDING_TAG, {"version": VERSION}, nsmap=_NSMAP)
    _add_header(root, batch)
    persons = etree.SubElement(root, qname("Persons"))
    for key in sorted(national_ids):
        person = etree.SubElement(persons, qname("Person"))
        _add_text(person, "PersonKey", key)
        _add_text(person, "NationalId", national_ids[key])
    validate_document(root)
    return root


def to_bytes(element: etree._Element) -> bytes:
    """UTF-8 with the XML declaration of ``kpr_gateway.messages.xmlwrite``, indented, final newline.

    The same element always gives the same bytes; ``element`` itself is not changed, and its
    tail (when it sits inside another document) is left out.
    """
    return XML_DECLARATION + etree.tostring(
        element, encoding="UTF-8", xml_declaration=False, pretty_print=True, with_tail=False
    )


def format_utc(moment: datetime) -> str:
    """``moment`` in UTC as ``YYYY-MM-DDTHH:MM:SS[.ffffff]Z``."""
    utc = moment.astimezone(UTC)
    spec = "microseconds" if utc.microsecond else "seconds"
    return utc.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def format_decimal(value: Decimal) -> str:
    """Plain decimal notation without exponent or trailing zeros (``7.50`` gives ``7.5``)."""
    if value == 0:
        return "0"
    return format(value.normalize(), "f")


def _add_header(root: etree._Element, batch: KprBatch) -> None:
    header = etree.SubElement(root, qname("Header"))
    _add_text(header, "MessageId", str(batch.message_id))
    _add_text(header, "Created", format_utc(batch.created))
    _add_text(header, "MunicipalityNumber", batch.municipality_number)
    _add_text(header, "ReporterOrgNumber", batch.reporter_org_number)


def _add_event(parent: etree._Element, event: KttEvent, key: str) -> None:
    element = etree.SubElement(parent, qname("Event"))
    _add_text(element, "EventId", str(event.event_id))
    _add_text(element, "Status", event.status.value)
    _add_text(element, "PersonKey", key)
    _add_text(element, "ServiceCode", event.service_code)
    _add_date(element, "DecisionDate", event.decision_date)
    _add_date(element, "StartDate", event.start_date)
    _add_date(element, "StopDate", event.stop_date)
    _add_date(element, "EndDate", event.end_date)
    if event.hours_per_week is not None:
        _add_text(element, "HoursPerWeek", format_decimal(event.hours_per_week))
    _add_optional(element, "ProviderOrgNumber", event.provider_org_number)
    _add_optional(element, "CaseReference", event.case_reference)


def _add_text(parent: etree._Element, local: str, text: str) -> None:
    etree.SubElement(parent, qname(local)).text = text


def _add_optional(parent: etree._Element, local: str, text: str | None) -> None:
    if text is not None:
        _add_text(parent, local, text)


def _add_date(parent: etree._Element, local: str, day: date | None) -> None:
    if day is not None:
        _add_text(parent, local, day.isoformat())
