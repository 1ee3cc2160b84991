"""A communication party as the gateway needs it: identity, parent, state and AMQP queues.

Queues come from the party's electronic addresses of type ``E_SB_ASYNC``, ``E_SB_SYNC`` and
``E_SB_ERROR``; the queue is the text after the last ``/`` (``sb.test.nhn.no/DigitalDialog/
93238_async`` -> ``93238_async``). The registry itself does the inheritance: a party lists its
parent's addresses beside its own, flagged ``<Inherited>true</Inherited>`` (in the sample of
HER-id 93238, the certificate address comes from parent 93237 that way). So a queue is taken
whether inherited or not, and the party's own address wins over an inherited one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from lxml import etree

from kpr_gateway.registry.errors import RegistryResponseError
from kpr_gateway.registry.soap import is_nil
from kpr_gateway.registry.wsdl import COMMON_NS, PARTY_NS, XSI_NS, canonical_her_id

_TRUE = frozenset({"true", "1"})


class PartyType(StrEnum):
    """``CommunicationPartyType`` of the WSDL."""

    NONE = "None"
    PERSON = "Person"
    ORGANIZATION = "Organization"
    SERVICE = "Service"
    ALL = "All"


class QueueKind(StrEnum):
    """The electronic address types that name AMQP queues on the Tjenestebuss."""

    ASYNC = "E_SB_ASYNC"
    SYNC = "E_SB_SYNC"
    ERROR = "E_SB_ERROR"


# The xsi:type of the result, for answers whose Type element is missing or unknown.
_XSI_TYPES = {
    "OrganizationPerson": PartyType.PERSON,
    "Organization": PartyType.ORGANIZATION,
    "Service": PartyType.SERVICE,
}


@dataclass(frozen=True)
class CommunicationParty:
    """One party of the Address Registry. Names stay out of repr: a party may be a person."""

    her_id: str
    name: str = field(repr=False)
    type: PartyType
    active: bool
    valid_communication_party: bool
    parent_her_id: str | None = None
    parent_name: str | None = field(default=None, repr=False)
    async_queue: str | None = None
    sync_queue: str | None = None
    error_queue: str | None = None
    inherited_queues: frozenset[QueueKind] = frozenset()
    """Which of the queues above the registry flagged as inherited from the parent."""

    def queue(self, kind: QueueKind) -> str | None:
        return {
            QueueKind.ASYNC: self.async_queue,
            QueueKind.SYNC: self.sync_queue,
            QueueKind.ERROR: self.error_queue,
        }[kind]


def queue_name(address: str) -> str:
    """The queue of an ``E_SB_*`` address: the text after the last ``/``."""
    return address.strip().rpartition("/")[2].strip()


def parse_communication_party(result: etree._Element) -> CommunicationParty:
    """Read a ``CommunicationParty`` (or ``GetCommunicationPartyDetailsResult``) element."""
    her_id = canonical_her_id(_text(result, "HerId") or "")
    if her_id is None:
        raise RegistryResponseError("the communication party in the answer has no valid HerId")
    queues, inherited = _queues(result)
    return CommunicationParty(
        her_id=her_id,
        name=_text(result, "Name") or _text(result, "DisplayName") or "",
        type=_party_type(result),
        active=_flag(result, "Active"),
        valid_communication_party=_flag(result, "IsValidCommunicationParty"),
        parent_her_id=canonical_her_id(_text(result, "ParentHerId") or ""),
        parent_name=_text(result, "ParentName"),
        async_queue=queues.get(QueueKind.ASYNC),
        sync_queue=queues.get(QueueKind.SYNC),
        error_queue=queues.get(QueueKind.ERROR),
        inherited_queues=frozenset(inherited),
    )


def _queues(result: etree._Element) -> tuple[dict[QueueKind, str], set[QueueKind]]:
    queues: dict[QueueKind, str] = {}
    inherited: set[QueueKind] = set()
    addresses = result.find(f"{{{PARTY_NS}}}ElectronicAddresses")
    if addresses is None:
        return queues, inherited
    for address in addresses.iterchildren(f"{{{COMMON_NS}}}ElectronicAddress"):
        kind = _queue_kind(address)
        text = address.findtext(f"{{{COMMON_NS}}}Address")
        if kind is None or text is None or not queue_name(text):
            continue
        is_inherited = (address.findtext(f"{{{COMMON_NS}}}Inherited") or "").strip() in _TRUE
        if kind in queues and (is_inherited or kind not in inherited):
            continue  # the first own address wins; an own address replaces an inherited one
        queues[kind] = queue_name(text)
        if is_inherited:
            inherited.add(kind)
        else:
            inherited.discard(kind)
    return queues, inherited


def _queue_kind(address: etree._Element) -> QueueKind | None:
    code = address.findtext(f"{{{COMMON_NS}}}TypeCodeValue") or address.findtext(
        f"{{{COMMON_NS}}}Type/{{{COMMON_NS}}}CodeValue"
    )
    try:
        return QueueKind((code or "").strip())
    except ValueError:
        return None


def _party_type(result: etree._Element) -> PartyType:
    # Type is an xs:list; a party has one type, the first one known is taken.
    for token in (_text(result, "Type") or "").split():
        try:
            return PartyType(token)
        except ValueError:
            continue
    declared = (result.get(f"{{{XSI_NS}}}type") or "").rpartition(":")[2]
    return _XSI_TYPES.get(declared, PartyType.NONE)


def _text(parent: etree._Element, name: str) -> str | None:
    element = parent.find(f"{{{PARTY_NS}}}{name}")
    if element is None or is_nil(element):
        return None
    text = (element.text or "").strip()
    return text or None


def _flag(parent: etree._Element, name: str) -> bool:
    """An xs:boolean; absent or unreadable counts as false (the cautious reading)."""
    return (_text(parent, name) or "").lower() in _TRUE


# The cache's form of a party (JSON), kept beside the type so the two change together.


def party_to_json(party: CommunicationParty) -> bytes:
    return json.dumps(
        {
            "her_id": party.her_id,
            "name": party.name,
            "type": party.type.value,
            "active": party.active,
            "valid_communication_party": party.valid_communication_party,
            "parent_her_id": party.parent_her_id,
            "parent_name": party.parent_name,
            "async_queue": party.async_queue,
            "sync_queue": party.sync_queue,
            "error_queue": party.error_queue,
            "inherited_queues": sorted(kind.value for kind in party.inherited_queues),
        },
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode("utf-8")


def party_from_json(data: bytes) -> CommunicationParty:
    """Raises ``ValueError`` (or ``TypeError``/``KeyError``) for anything not written above."""
    raw: Any = json.loads(data.decode("utf-8"))
    if not isinstance(raw, dict):
        raise ValueError("a cached party is a JSON object")
    her_id = canonical_her_id(_str(raw["her_id"]))
    if her_id is None:
        raise ValueError("a cached party has an invalid HER-id")
    return CommunicationParty(
        her_id=her_id,
        name=_str(raw["name"]),
        type=PartyType(raw["type"]),
        active=_bool(raw["active"]),
        valid_communication_party=_bool(raw["valid_communication_party"]),
        parent_her_id=_optional_str(raw["parent_her_id"]),
        parent_name=_optional_str(raw["parent_name"]),
        async_queue=_optional_str(raw["async_queue"]),
        sync_queue=_optional_str(raw["sync_queue"]),
        error_queue=_optional_str(raw["error_queue"]),
        inherited_queues=frozenset(QueueKind(kind) for kind in raw["inherited_queues"]),
    )


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError("expected a string")
    return value


def _optional_str(value: object) -> str | None:
    return None if value is None else _str(value)


def _bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError("expected a boolean")
    return value
