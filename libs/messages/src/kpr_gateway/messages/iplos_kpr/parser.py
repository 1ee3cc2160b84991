"""Reads a ``Melding`` of IPLOS i KPR back into data classes.

Used by the round-trip tests and by the KPR simulator. A document is checked against the
official XSD before it is read (unless the caller already did), so what is read has the
schema's shape; values the schema leaves open (``notifikasjonLopeNr`` is a string there)
are checked here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import cast
from uuid import UUID

from lxml import etree

from kpr_gateway.messages.iplos_kpr.codes import KIND_OF_ELEMENT, EventKind
from kpr_gateway.messages.iplos_kpr.errors import KprDocumentError
from kpr_gateway.messages.iplos_kpr.xsd import (
    MELDING_TAG,
    NAMESPACE,
    parse_document,
    qname,
    validate_document,
)
from kpr_gateway.messages.xsdtime import parse_datetime

_NOTIFICATION = qname("Notifikasjon")
_CONTACT = qname("Kontaktperson")
_MUNICIPALITY = qname("Kommune")
_PERSON = qname("Bruker")
_PREFIX_LENGTH = len(NAMESPACE) + 2
_OUT_OF_RANGE = "a date, time or number in the document is out of the supported range"


@dataclass(frozen=True, slots=True)
class ParsedContact:
    name: str = field(repr=False)
    email: str = field(repr=False)
    type: str
    phone: str | None = field(default=None, repr=False)
    email2: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class ParsedHeader:
    vendor: str
    system_name: str
    system_version: str
    gateway_version: str
    local_id: str | None
    municipality_numbers: tuple[str, ...]
    contacts: tuple[ParsedContact, ...]


@dataclass(frozen=True, slots=True)
class ParsedPerson:
    patient_guid: UUID
    user_number: str = field(repr=False)
    national_id: str = field(repr=False)
    id_type: str
    district: str | None = None


@dataclass(frozen=True, slots=True)
class ParsedNotification:
    event_id: UUID
    status: str
    notified_at: datetime
    seq: int
    previous: UUID
    corrects: UUID | None
    kind: EventKind
    occurrence_id: UUID
    service_id: str
    service_type: str
    registered_at: datetime
    event_date: date
    provider_org_number: str | None
    stop_id: str | None
    person: ParsedPerson


@dataclass(frozen=True, slots=True)
class ParsedMelding:
    header: ParsedHeader
    notifications: tuple[ParsedNotification, ...]


def parse_melding(
    document: etree._Element | bytes, *, schema_checked: bool = False
) -> ParsedMelding:
    """Read a ``Melding`` (an element or its bytes).

    ``schema_checked``: the caller has already checked this very element against the XSD
    (for example inside its MsgHead, with a ``SchemaSet``); it is not checked a second time.
    """
    root = parse_document(document) if isinstance(document, bytes) else document
    if root.tag != MELDING_TAG:
        raise KprDocumentError("expected a Melding of IPLOS i KPR (XPR(ipl) 56.0.0)")
    if not schema_checked:
        validate_document(root)
    try:
        notifications = tuple([_notification(n) for n in root.iterchildren(_NOTIFICATION)])
        header = ParsedHeader(
            vendor=root.get("leverandor", ""),
            system_name=root.get("navnEPJ", ""),
            system_version=root.get("versjonEPJ", ""),
            gateway_version=root.get("versjonUt", ""),
            local_id=root.get("lokalident"),
            municipality_numbers=tuple(
                m.get("kommuneNr", "") for m in root.iterchildren(_MUNICIPALITY)
            ),
            contacts=tuple([_contact(c) for c in root.iterchildren(_CONTACT)]),
        )
    except (ValueError, ArithmeticError) as exc:
        raise KprDocumentError(_OUT_OF_RANGE) from exc
    return ParsedMelding(header, notifications)


def _contact(element: etree._Element) -> ParsedContact:
    return ParsedContact(
        name=element.get("kontPerson", ""),
        email=element.get("meldEpost1", ""),
        type=element.get("typeKontaktperson", "").strip(),
        phone=element.get("meldTelefon"),
        email2=element.get("meldEpost2"),
    )


def _notification(element: etree._Element) -> ParsedNotification:
    events = list(element.iterchildren(etree.Element))
    if len(events) != 1:
        # The schema allows none or several (its XOR is in the text, not the XSD).
        raise KprDocumentError("a notification must carry exactly one event")
    event = events[0]
    kind = KIND_OF_ELEMENT.get(str(event.tag)[_PREFIX_LENGTH:])
    if kind is None:
        raise KprDocumentError("a notification carries an unknown event")
    # By name, not position: a comment or processing instruction may stand before it.
    first = event[0] if len(event) else None
    bruker = first if first is not None and first.tag == _PERSON else event.find(_PERSON)
    if bruker is None:
        raise KprDocumentError("an event carries no Bruker")
    # Each element's attributes read at once: one call instead of a get() per attribute
    # (the simulator reads every notification of every message).
    own, happened, person = _attributes(element), _attributes(event), _attributes(bruker)
    seq_text = own.get("notifikasjonLopeNr", "").strip()
    if not seq_text.isascii() or not seq_text.isdigit():
        raise KprDocumentError("notifikasjonLopeNr is not a whole number")
    ref = own.get("notifikasjonRef")
    return ParsedNotification(
        event_id=UUID(own.get("notifikasjonGUID", "")),
        status=own.get("statusNotifikasjon", "").strip(),
        notified_at=parse_datetime(own.get("notifikasjonTid", "")),
        seq=int(seq_text),
        previous=UUID(own.get("notifikasjonForrigeGUID", "")),
        corrects=UUID(ref) if ref is not None else None,
        kind=kind,
        occurrence_id=UUID(happened.get("hendelseGUID", "")),
        service_id=happened.get("tjenesteID", ""),
        service_type=happened.get("tjenesteType", "").strip(),
        registered_at=parse_datetime(happened.get("hendelseRegTid", "")),
        event_date=date.fromisoformat(happened.get("hendelseDato", "").strip()),
        provider_org_number=happened.get("tjenesteOrgNr"),
        stop_id=happened.get("midlertidigStoppID"),
        person=ParsedPerson(
            patient_guid=UUID(person.get("pasientGUID", "")),
            user_number=person.get("brukerNr", ""),
            national_id=person.get("fid", ""),
            id_type=person.get("typeID", "").strip(),
            district=person.get("bydel"),
        ),
    )


def _attributes(element: etree._Element) -> dict[str, str]:
    # lxml gives str names and values (the stubs also allow bytes, which it never returns).
    return cast("dict[str, str]", dict(element.items()))
