"""Builds the ``Melding`` of IPLOS i KPR (XPR(ipl) 56.0.0): one municipality's notifications,
each with its number in the municipality's chain, the EPJ system, the contact persons and
the municipality. Every document is checked against the official XSD before it is returned.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final
from uuid import UUID

from lxml import etree

from kpr_gateway.messages.iplos_kpr.codes import KIND_OF_ELEMENT, ContactType
from kpr_gateway.messages.iplos_kpr.errors import KprDocumentError
from kpr_gateway.messages.iplos_kpr.models import Notification
from kpr_gateway.messages.iplos_kpr.xsd import (
    GUID_EMPTY,
    MESSAGE_KIND,
    NAMESPACE,
    VERSION,
    validate_document,
)
from kpr_gateway.messages.xmlwrite import XML_DECLARATION
from kpr_gateway.messages.xsdtime import format_utc

_MUNICIPALITY_NUMBER: Final = re.compile("[0-9]{4}")


@dataclass(frozen=True, slots=True)
class EpjSystem:
    """The EPJ system whose notifications a message carries (``leverandor``, ``navnEPJ``,
    ``versjonEPJ``)."""

    vendor: str
    name: str
    version: str


@dataclass(frozen=True, slots=True)
class Contact:
    """A ``Kontaktperson``: the register writes to them about the message."""

    name: str
    email: str
    type: ContactType
    phone: str | None = None
    email2: str | None = None


@dataclass(frozen=True, slots=True)
class MeldingHeader:
    """What a ``Melding`` says about itself and its sender."""

    municipality_number: str
    system: EpjSystem
    gateway_version: str
    """``versjonUt``: the program that wrote the message, the gateway."""
    contacts: Sequence[Contact]
    local_id: str | None = None
    """``lokalident``: free for the sender; the gateway writes its batch id."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "contacts", tuple(self.contacts))
        if not _MUNICIPALITY_NUMBER.fullmatch(self.municipality_number):
            raise KprDocumentError("municipality number must be 4 digits")
        if not self.contacts:
            raise KprDocumentError("a message needs at least one contact person")


@dataclass(frozen=True, slots=True)
class NumberedNotification:
    """A notification with its place in the municipality's chain and its person's GUID."""

    notification: Notification
    seq: int
    """``notifikasjonLopeNr``: strictly increasing per municipality, from 1."""
    previous: UUID
    """``notifikasjonForrigeGUID``: the notification before it, Guid.Empty for the first."""
    patient_guid: UUID


def build_melding(
    header: MeldingHeader, notifications: Sequence[NumberedNotification]
) -> etree._Element:
    """The ``Melding``: the notifications in the order given, which must be the chain's."""
    return build_melding_with_source(header, notifications)[0]


def build_melding_with_source(
    header: MeldingHeader, notifications: Sequence[NumberedNotification]
) -> tuple[etree._Element, bytes]:
    """The ``Melding`` and the very bytes it was read and checked from (UTF-8 with the XML
    declaration, not indented): a stored copy needs no second serialisation."""
    _check_chain(header, notifications)
    parts = [_open(header)]
    parts.extend([_notification(item) for item in notifications])
    parts.extend([_contact(contact) for contact in header.contacts])
    parts.append(f'<Kommune kommuneNr="{header.municipality_number}"/></Melding>')
    try:
        source = "".join(parts).encode()
    except UnicodeEncodeError as exc:  # a lone surrogate cannot even be encoded
        raise KprDocumentError(_NOT_WRITABLE) from exc
    return _checked(source), XML_DECLARATION + source


def to_bytes(element: etree._Element) -> bytes:
    """UTF-8 with the XML declaration of ``kpr_gateway.messages.xmlwrite``, indented, final newline.

    The same element always gives the same bytes; ``element`` itself is not changed, and its
    tail (when it sits inside another document) is left out.
    """
    return XML_DECLARATION + etree.tostring(
        element, encoding="UTF-8", xml_declaration=False, pretty_print=True, with_tail=False
    )


def _check_chain(header: MeldingHeader, notifications: Sequence[NumberedNotification]) -> None:
    seen: set[UUID] = set()
    before: NumberedNotification | None = None
    for position, item in enumerate(notifications):
        notification = item.notification
        if notification.municipality_number != header.municipality_number:
            raise KprDocumentError(
                f"notification {position} ({notification.event_id}) is for municipality "
                f"{notification.municipality_number}, the message for {header.municipality_number}"
            )
        if notification.event_id in seen:
            raise KprDocumentError(f"notification {notification.event_id} occurs twice")
        seen.add(notification.event_id)
        if item.seq < 1:
            raise KprDocumentError(f"notification {position} has sequence number {item.seq}")
        if item.previous == notification.event_id:
            raise KprDocumentError(f"notification {position} names itself as the one before it")
        if before is None:
            if (item.seq == 1) != (item.previous == GUID_EMPTY):
                raise KprDocumentError(
                    "the first notification of a chain, and only that one, follows Guid.Empty"
                )
        elif item.seq != before.seq + 1 or item.previous != before.notification.event_id:
            raise KprDocumentError(
                f"notification {position} does not follow the one before it in the chain"
            )
        before = item


# The document is written as text and parsed once rather than built element by element
# (lxml's element API costs several times as much per notification). Every string from
# outside goes through _attr; the rest (UUIDs, dates, numbers, codes) is written here from
# typed values. What comes out of the parser is checked against the XSD, so what was written
# is exactly what was checked.
def _open(header: MeldingHeader) -> str:
    system = header.system
    local = f' lokalident="{_attr(header.local_id)}"' if header.local_id is not None else ""
    return (
        f'<Melding xmlns="{NAMESPACE}" versjon="{VERSION}" meldingstype="{MESSAGE_KIND}" '
        f'leverandor="{_attr(system.vendor)}" navnEPJ="{_attr(system.name)}" '
        f'versjonEPJ="{_attr(system.version)}" versjonUt="{_attr(header.gateway_version)}"'
        f"{local}>"
    )


def _notification(item: NumberedNotification) -> str:
    # Enum values by _value_ (``.value`` is a Python-level property), the event's element by
    # its kind's value: this runs for every notification.
    n = item.notification
    ref = f' notifikasjonRef="{n.corrects}"' if n.corrects is not None else ""
    registered = format_utc(n.registered_at)
    element = _ELEMENT_OF_KIND[n.kind._value_]
    event = (
        f'<{element} hendelseGUID="{n.occurrence_id}" '
        f'tjenesteID="{_attr(n.service_id)}" tjenesteType="{n.service_type}" '
        f'hendelseRegTid="{registered}" hendelseDato="{n.event_date.isoformat()}"'
    )
    if n.stop_id is not None:
        event += f' midlertidigStoppID="{_attr(n.stop_id)}"'
    if n.provider_org_number is not None:
        event += f' tjenesteOrgNr="{n.provider_org_number}"'
    person = n.person
    district = f' bydel="{_attr(person.district)}"' if person.district is not None else ""
    return (
        f'<Notifikasjon statusNotifikasjon="{n.status._value_}" notifikasjonTid="{registered}" '
        f'notifikasjonGUID="{n.event_id}" notifikasjonForrigeGUID="{item.previous}" '
        f'notifikasjonLopeNr="{item.seq}"{ref}>'
        f"{event}>"
        f'<Bruker pasientGUID="{item.patient_guid}" brukerNr="{_attr(person.user_number)}"'
        f'{district} fid="{person.national_id}" typeID="{person.id_type._value_}"/>'
        f"</{element}></Notifikasjon>"
    )


def _contact(contact: Contact) -> str:
    text = f'<Kontaktperson kontPerson="{_attr(contact.name)}"'
    if contact.phone is not None:
        text += f' meldTelefon="{_attr(contact.phone)}"'
    text += f' meldEpost1="{_attr(contact.email)}"'
    if contact.email2 is not None:
        text += f' meldEpost2="{_attr(contact.email2)}"'
    return text + f' typeKontaktperson="{contact.type.value}"/>'


_ELEMENT_OF_KIND: Final = {kind.value: element for element, kind in KIND_OF_ELEMENT.items()}
_NOT_WRITABLE: Final = "a value of the message cannot be written as XML"


def _parser() -> etree.XMLParser:
    # A fresh parser per document: lxml parsers are not to be shared between threads.
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, collect_ids=False
    )


def _checked(source: bytes) -> etree._Element:
    try:
        root = etree.fromstring(source, _parser())
    except etree.XMLSyntaxError as exc:
        # The only way here is a character XML cannot carry (libxml2 names its code point).
        raise KprDocumentError(_NOT_WRITABLE) from exc
    validate_document(root)
    return root


def _attr(text: str) -> str:
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("\t", "&#9;")
        .replace("\n", "&#10;")
        .replace("\r", "&#13;")
    )
