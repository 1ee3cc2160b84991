"""What the register checks in a ``Melding`` beyond its XSD (the schema leaves these open).

- exactly one ``Kommune``, and it is the sender's municipality when the simulator knows it;
- at least one ``Kontaktperson`` of type 16 (IPLOS kontaktperson) and one of type 17
  (IPLOS innsendingsansvarlig);
- every ``Notifikasjon`` carries exactly one event (the XSD makes each optional);
- status N, M or C (T is not to be used yet), and ``notifikasjonRef`` on M and C only.

Notifications are named by their ``notifikasjonLopeNr``, never by what they say.
"""

from __future__ import annotations

from collections.abc import Sequence

from lxml import etree

from kpr_gateway.messages.apprec import AppRecErrorCode
from kpr_gateway.messages.iplos_kpr import (
    NAMESPACE,
    ContactType,
    NotificationStatus,
    ParsedHeader,
    ParsedNotification,
)
from kpr_gateway.simulator import codes

_NOTIFICATION = f"{{{NAMESPACE}}}Notifikasjon"
_REQUIRED_CONTACTS = (ContactType.IPLOS_CONTACT, ContactType.IPLOS_SUBMITTER)
_IN_USE = frozenset(
    {NotificationStatus.ORIGINAL, NotificationStatus.REPLACE, NotificationStatus.CANCEL}
)
_SHOWN_DIGITS = 20


def event_errors(melding: etree._Element) -> list[AppRecErrorCode]:
    """Notifications without an event or with several (checked before the Melding is read:
    its reader needs exactly one)."""
    problems = []
    for position, notification in enumerate(melding.iterchildren(_NOTIFICATION), start=1):
        events = sum(1 for _ in notification.iterchildren(etree.Element))
        if events != 1:
            problems.append(f"{_named(notification, position)} carries {events} events, not 1")
    return codes.errors(codes.NOTIFICATION_INVALID, problems)


def municipality_errors(
    header: ParsedHeader, municipality_number: str | None
) -> list[AppRecErrorCode]:
    """Exactly one Kommune; ``municipality_number``: the sender's, when it is known."""
    municipalities = header.municipality_numbers
    if len(municipalities) != 1:
        detail = f"the Melding names {len(municipalities)} Kommune, not exactly 1"
    elif municipality_number is not None and municipalities[0] != municipality_number:
        detail = (
            f"Kommune {municipalities[0][:_SHOWN_DIGITS]!r} is not the sender's"
            f" municipality {municipality_number}"
        )
    else:
        return []
    return [codes.error(codes.WRONG_MUNICIPALITY, detail)]


def contact_errors(header: ParsedHeader) -> list[AppRecErrorCode]:
    """At least one Kontaktperson of each type an IPLOS message needs (16 and 17)."""
    types = {contact.type for contact in header.contacts}
    return [
        codes.error(
            codes.CONTACT_MISSING, f"no Kontaktperson of typeKontaktperson {required.value}"
        )
        for required in _REQUIRED_CONTACTS
        if str(required.value) not in types
    ]


def notification_errors(notifications: Sequence[ParsedNotification]) -> list[AppRecErrorCode]:
    """Status and reference of each notification."""
    problems = []
    for item in notifications:
        status = item.status
        if status not in _IN_USE:
            problems.append(f"seq {item.seq}: statusNotifikasjon is not N, M or C")
        elif status != NotificationStatus.ORIGINAL and item.corrects is None:
            problems.append(f"seq {item.seq}: status {status} without notifikasjonRef")
        elif status == NotificationStatus.ORIGINAL and item.corrects is not None:
            problems.append(f"seq {item.seq}: status N with a notifikasjonRef")
        elif item.corrects == item.event_id:
            problems.append(f"seq {item.seq}: notifikasjonRef names the notification itself")
    return codes.errors(codes.NOTIFICATION_INVALID, problems)


def _named(notification: etree._Element, position: int) -> str:
    seq = (notification.get("notifikasjonLopeNr") or "").strip()
    if seq.isascii() and seq.isdigit() and len(seq) <= _SHOWN_DIGITS:
        return f"seq {seq}"
    return f"notification {position}"
