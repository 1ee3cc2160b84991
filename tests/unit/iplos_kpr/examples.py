"""Example notifications, headers and a tenant secret shared by the IPLOS i KPR tests
(synthetic values only)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from typing import Any
from uuid import UUID

from kpr_gateway.messages.iplos_kpr import (
    ChainHead,
    Contact,
    ContactType,
    EpjSystem,
    MeldingHeader,
    Notification,
    NumberedNotification,
    ParsedContact,
    ParsedHeader,
    ParsedNotification,
    ParsedPerson,
    number,
)
from tests.unit.iplos_kpr.synthetic import synthetic_duf_number, synthetic_national_id

SECRET = b"iplos-kpr-unit-test-secret/not-for-production"
MUNICIPALITY = "0301"
FODSELSNUMMER = synthetic_national_id(14, 3, 1948, 123)
D_NUMMER = synthetic_national_id(23, 7, 1990, 210, d_number=True)
H_NUMMER = synthetic_national_id(2, 11, 1975, 400, h_number=True)
DUF_NUMMER = synthetic_duf_number(2015, 123456)
BIRTH_DATE = "140348"
NATIONAL_IDS = {1: FODSELSNUMMER, 2: D_NUMMER, 3: H_NUMMER, 9: BIRTH_DATE, 10: DUF_NUMMER}

SYSTEM = EpjSystem(vendor="Omsorgsdata AS", name="Omsorg EPJ", version="24.3.1")
CONTACTS = (
    Contact("Kari Kontakt", "kari@example.invalid", ContactType.IPLOS_CONTACT, "+4791234567"),
    Contact(
        "Ola Innsender",
        "ola@example.invalid",
        ContactType.IPLOS_SUBMITTER,
        email2="iplos@example.invalid",
    ),
)
HEADER = MeldingHeader(
    municipality_number=MUNICIPALITY,
    system=SYSTEM,
    gateway_version="0.1.0",
    contacts=CONTACTS,
    local_id="batch-0001",
)


def event_id(index: int) -> str:
    return f"3b0f8c9e-5a61-4c1e-9d2a-{index:012x}"


def notification_data(**changes: Any) -> dict[str, Any]:
    """A valid service_start as JSON data; ``changes`` replace fields, None removes one.

    A dict as ``person`` is merged into the person (None removes a person field); anything
    else replaces it.
    """
    person: Any = {
        "national_id": FODSELSNUMMER,
        "id_type": 1,
        "user_number": "100234",
        "district": "030101",
    }
    person_changes = changes.pop("person", {})
    if isinstance(person_changes, dict):
        person.update(person_changes)
        person = {key: value for key, value in person.items() if value is not None}
    else:
        person = person_changes
    data: dict[str, Any] = {
        "event_id": event_id(1),
        "status": "N",
        "kind": "service_start",
        "occurrence_id": "6a1f0b52-6f0e-4c43-9a55-2f3c1e0d9b11",
        "service_id": "TJ-2026-0042",
        "service_type": "21",
        "event_date": "2026-01-05",
        "registered_at": "2026-01-05T10:15:00+01:00",
        "municipality_number": MUNICIPALITY,
        "source_ref": "GERICA:VEDTAK:5531",
        "person": person,
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def notification(**changes: Any) -> Notification:
    return Notification.model_validate(notification_data(**changes))


def numbered(
    notifications: Sequence[Notification], head: ChainHead | None = None
) -> list[NumberedNotification]:
    """``notifications`` numbered after ``head`` (the start of the chain by default)."""
    return number(head or ChainHead(), notifications, SECRET)[0]


def uuid_of(index: int) -> UUID:
    return UUID(event_id(index))


def expected_header(header: MeldingHeader) -> ParsedHeader:
    """What parse_melding gives back for a Melding built with ``header``."""
    return ParsedHeader(
        vendor=header.system.vendor,
        system_name=header.system.name,
        system_version=header.system.version,
        gateway_version=header.gateway_version,
        local_id=header.local_id,
        municipality_numbers=(header.municipality_number,),
        contacts=tuple(
            ParsedContact(c.name, c.email, str(c.type.value), c.phone, c.email2)
            for c in header.contacts
        ),
    )


def expected_notification(item: NumberedNotification) -> ParsedNotification:
    """What parse_melding gives back for ``item``: every field (times in UTC), no source_ref."""
    n = item.notification
    registered = n.registered_at.astimezone(UTC)
    return ParsedNotification(
        event_id=n.event_id,
        status=n.status.value,
        notified_at=registered,
        seq=item.seq,
        previous=item.previous,
        corrects=n.corrects,
        kind=n.kind,
        occurrence_id=n.occurrence_id,
        service_id=n.service_id,
        service_type=n.service_type,
        registered_at=registered,
        event_date=n.event_date,
        provider_org_number=n.provider_org_number,
        stop_id=n.stop_id,
        person=ParsedPerson(
            patient_guid=item.patient_guid,
            user_number=n.person.user_number,
            national_id=n.person.national_id,
            id_type=str(n.person.id_type.value),
            district=n.person.district,
        ),
    )
