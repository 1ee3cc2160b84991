"""IPLOS i KPR, XPR(ipl) 56.0.0: the one place that knows the document KPR receives daily.

The public requirement specification "Kravspesifikasjon - IPLOS i KPR" (HIS 1135:2021) and its
official XSD (shipped in ``xsd/``): a ``Melding`` (versjon 56.0.0, meldingstype K) from one
municipality holds ``Notifikasjon``s, each about one service event (TjenesteStart,
TjenesteSlutt, TjenesteutforerEndret, MidlertidigStoppFra, MidlertidigStoppTil) with its
``Bruker``; ident and health data travel in the same message (one KPR_IPL per batch).

FHI's daily model builds on this one and is shared only with EPJ vendors; when it is at
hand it replaces this package, and only this package.

``Notification`` is the JSON an EPJ system POSTs: the public API contract.
"""

from kpr_gateway.messages.iplos_kpr.builder import (
    Contact,
    EpjSystem,
    MeldingHeader,
    NumberedNotification,
    build_melding,
    build_melding_with_source,
    to_bytes,
)
from kpr_gateway.messages.iplos_kpr.chain import ChainHead, head_after, number
from kpr_gateway.messages.iplos_kpr.codes import (
    FIRST_PHASE_SERVICE_TYPES,
    SERVICE_TYPES,
    ContactType,
    EventKind,
    IdType,
    NotificationStatus,
    ServiceType,
    service_type,
)
from kpr_gateway.messages.iplos_kpr.errors import KprDocumentError
from kpr_gateway.messages.iplos_kpr.identity import patient_guid, patient_guids
from kpr_gateway.messages.iplos_kpr.models import (
    NATIONAL_ID_IN_TEXT,
    Notification,
    Person,
    describe_error_entries,
    describe_errors,
    shown_field_name,
)
from kpr_gateway.messages.iplos_kpr.parser import (
    ParsedContact,
    ParsedHeader,
    ParsedMelding,
    ParsedNotification,
    ParsedPerson,
    parse_melding,
)
from kpr_gateway.messages.iplos_kpr.xsd import (
    GUID_EMPTY,
    NAMESPACE,
    VERSION,
    XSD_DIR,
    XSD_FILES,
    XSD_PATH,
    validate_document,
)

MSG_TYPE: str = "KPR_IPL"
"""The MsgHead message type of the daily message (fagmelding with ident inline)."""

__all__ = [
    "FIRST_PHASE_SERVICE_TYPES",
    "GUID_EMPTY",
    "MSG_TYPE",
    "NAMESPACE",
    "NATIONAL_ID_IN_TEXT",
    "SERVICE_TYPES",
    "VERSION",
    "XSD_DIR",
    "XSD_FILES",
    "XSD_PATH",
    "ChainHead",
    "Contact",
    "ContactType",
    "EpjSystem",
    "EventKind",
    "IdType",
    "KprDocumentError",
    "MeldingHeader",
    "Notification",
    "NotificationStatus",
    "NumberedNotification",
    "ParsedContact",
    "ParsedHeader",
    "ParsedMelding",
    "ParsedNotification",
    "ParsedPerson",
    "Person",
    "ServiceType",
    "build_melding",
    "build_melding_with_source",
    "describe_error_entries",
    "describe_errors",
    "head_after",
    "number",
    "parse_melding",
    "patient_guid",
    "patient_guids",
    "service_type",
    "shown_field_name",
    "to_bytes",
    "validate_document",
]
