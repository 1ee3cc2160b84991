"""KPR KTT document format, version 1: the one place that knows what KPR receives.

FHI shares the daily KPR KTT message model with EPJ vendors, not publicly. This module
therefore models the known concepts of KPR Kommunal tjenestetildeling (municipality
number, message and event GUIDs, status N/M/T/C, service codes of the KPR service list,
decision/start/stop/end dates, hours per week, provider organisation number, case
reference) with its own schema, ``kpr-ktt-v1.xsd``, kept in the repository next to this
file. It is not FHI's official schema. FHI's official schema plugs in here, and only
here: a new version of this module (its XSD, builder, parser and code list) replaces
this one, and the rest of the gateway keeps using the API below.

Two documents per batch, each sent in its own MsgHead:

- the Fagmelding (``KPR_IPL``): the events, with no direct identifiers; the person is a
  per-tenant pseudonymous key (``person_key``);
- the Identmelding (``KPR_IDE``): per person, the key and the national id only.

``KttEvent`` is the JSON event EPJ systems POST to the gateway: the public API contract.
"""

from kpr_gateway.messages.kpr_ktt_v1.builder import (
    MSG_TYPE_FAGMELDING,
    MSG_TYPE_IDENTMELDING,
    KprBatch,
    build_fagmelding,
    build_identmelding,
    to_bytes,
)
from kpr_gateway.messages.kpr_ktt_v1.codes import (
    SERVICE_TYPES,
    EventStatus,
    ServiceType,
    service_type,
)
from kpr_gateway.messages.kpr_ktt_v1.errors import KprDocumentError
from kpr_gateway.messages.kpr_ktt_v1.models import KttEvent, describe_errors
from kpr_gateway.messages.kpr_ktt_v1.parser import (
    ParsedEvent,
    ParsedFagmelding,
    ParsedHeader,
    ParsedIdentmelding,
    ParsedPerson,
    parse_fagmelding,
    parse_identmelding,
)
from kpr_gateway.messages.kpr_ktt_v1.pseudonym import PERSON_KEY_LENGTH, person_key
from kpr_gateway.messages.kpr_ktt_v1.xsd import NAMESPACE, VERSION, XSD_PATH, validate_document

__all__ = [
    "MSG_TYPE_FAGMELDING",
    "MSG_TYPE_IDENTMELDING",
    "NAMESPACE",
    "PERSON_KEY_LENGTH",
    "SERVICE_TYPES",
    "VERSION",
    "XSD_PATH",
    "EventStatus",
    "KprBatch",
    "KprDocumentError",
    "KttEvent",
    "ParsedEvent",
    "ParsedFagmelding",
    "ParsedHeader",
    "ParsedIdentmelding",
    "ParsedPerson",
    "ServiceType",
    "build_fagmelding",
    "build_identmelding",
    "describe_errors",
    "parse_fagmelding",
    "parse_identmelding",
    "person_key",
    "service_type",
    "to_bytes",
    "validate_document",
]
