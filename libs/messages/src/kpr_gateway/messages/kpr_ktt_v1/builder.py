"""Builds the two documents of a batch: the Fagmelding (KPR_IPL) and the Identmelding (KPR_IDE).

The Fagmelding carries the events with the person's pseudonymous key only; the
Identmelding carries, once per person, that key with the national id. Both are
checked against the XSD before they are returned.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import cached_property
from types import MappingProxyType
from typing import Final
from uuid import UUID

from lxml import etree

from kpr_gateway.messages.kpr_ktt_v1.errors import KprDocumentError
from kpr_gateway.messages.kpr_ktt_v1.models import KttEvent
from kpr_gateway.messages.kpr_ktt_v1.pseudonym import MIN_SECRET_BYTES, person_keys
from kpr_gateway.messages.kpr_ktt_v1.xsd import NAMESPACE, VERSION, validate_document
from kpr_gateway.messages.xmlwrite import XML_DECLARATION

MSG_TYPE_FAGMELDING: Final = "KPR_IPL"
MSG_TYPE_IDENTMELDING: Final = "KPR_IDE"

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

    @cached_property
    def person_keys(self) -> Mapping[str, str]:
        """National id to person key for every person of the batch, computed once: both
        documents of the batch need them."""
        return MappingProxyType(
            person_keys((event.national_id for event in self.events), self.tenant_secret)
        )


def build_fagmelding(batch: KprBatch) -> etree._Element:
    """The KPR_IPL document: the batch's events in their order, persons by key only."""
    keys = batch.person_keys
    parts = [_FAGMELDING_OPEN, _header(batch), "<Events>"]
    parts.extend([_event(event, keys[event.national_id]) for event in batch.events])
    parts.append("</Events></Fagmelding>")
    return _checked("".join(parts))


def build_identmelding(batch: KprBatch) -> etree._Element:
    """The KPR_IDE document: one entry per distinct person, sorted by person key."""
    national_ids = {key: national_id for national_id, key in batch.person_keys.items()}
    if len(national_ids) != len(batch.person_keys):
        # 160-bit keys make this practically impossible; refuse rather than merge persons.
        raise KprDocumentError("two persons share one person key")
    parts = [_IDENTMELDING_OPEN, _header(batch), "<Persons>"]
    parts.extend(
        [
            f"<Person><PersonKey>{key}</PersonKey>"
            f"<NationalId>{_escape(national_ids[key])}</NationalId></Person>"
            for key in sorted(national_ids)
        ]
    )
    parts.append("</Persons></Identmelding>")
    return _checked("".join(parts))


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


# The documents are written as text and parsed once rather than built element by element:
# lxml's element API cost ~22 µs an event, the text and its parse ~8. Every value that is a
# string from outside goes through _escape; the rest (UUIDs, dates, decimals, status letters,
# person keys) are written by this module from typed values. What comes out of the parser is
# checked against the XSD, as before, so what was written is exactly what was checked.
_FAGMELDING_OPEN: Final = f'<Fagmelding xmlns="{NAMESPACE}" version="{VERSION}">'
_IDENTMELDING_OPEN: Final = f'<Identmelding xmlns="{NAMESPACE}" version="{VERSION}">'


def _parser() -> etree.XMLParser:
    # A fresh parser per document: lxml parsers are not to be shared between threads.
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, collect_ids=False
    )


def _checked(text: str) -> etree._Element:
    try:
        root = etree.fromstring(text.encode(), _parser())
    except etree.XMLSyntaxError as exc:
        # The only way here is a character XML cannot carry (libxml2 names its code point).
        raise KprDocumentError("a value of the batch cannot be written as XML") from exc
    validate_document(root)
    return root


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _header(batch: KprBatch) -> str:
    return (
        f"<Header><MessageId>{batch.message_id}</MessageId>"
        f"<Created>{format_utc(batch.created)}</Created>"
        f"<MunicipalityNumber>{_escape(batch.municipality_number)}</MunicipalityNumber>"
        f"<ReporterOrgNumber>{_escape(batch.reporter_org_number)}</ReporterOrgNumber></Header>"
    )


def _event(event: KttEvent, key: str) -> str:
    text = (
        f"<Event><EventId>{_escape(str(event.event_id))}</EventId>"
        f"<Status>{event.status.value}</Status><PersonKey>{key}</PersonKey>"
        f"<ServiceCode>{_escape(event.service_code)}</ServiceCode>"
        f"<DecisionDate>{event.decision_date.isoformat()}</DecisionDate>"
        f"<StartDate>{event.start_date.isoformat()}</StartDate>"
    )
    if event.stop_date is not None:
        text += f"<StopDate>{event.stop_date.isoformat()}</StopDate>"
    if event.end_date is not None:
        text += f"<EndDate>{event.end_date.isoformat()}</EndDate>"
    if event.hours_per_week is not None:
        text += f"<HoursPerWeek>{format_decimal(event.hours_per_week)}</HoursPerWeek>"
    if event.provider_org_number is not None:
        text += f"<ProviderOrgNumber>{_escape(event.provider_org_number)}</ProviderOrgNumber>"
    if event.case_reference is not None:
        text += f"<CaseReference>{_escape(event.case_reference)}</CaseReference>"
    return text + "</Event>"
