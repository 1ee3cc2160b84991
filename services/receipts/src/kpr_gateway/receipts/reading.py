"""Reading what arrives on a tenant's NHN queues: the sealed AppRec, or a transport error.

Tolerant of what peers send (AppRec v1.0 and v1.1, an AppRec wrapped in a MsgHead, upper-case
GUIDs), strict about who sent it: the CMS must be encrypted for the tenant and signed by the
receiver's signing certificate (from the override, or from the Address Registry once trusted),
and the AppRec must be addressed from KPR to the tenant's communication party
(``Addressing``). Every refusal is a ``ReceiptParkedError`` whose reason names the error class,
positions and our own HER-ids, never content (nor the HER-ids a foreign AppRec names: they may
be a person's).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from cryptography import x509
from lxml import etree

from kpr_gateway.ledger import ReceiptError, ReceiptOutcome
from kpr_gateway.messages.apprec import AppRec, AppRecParty, parse_apprec
from kpr_gateway.messages.errors import MessagesError
from kpr_gateway.messages.errors import NotAnAppRecError as NotAnAppRecDocument
from kpr_gateway.messages.msghead import parse_msghead
from kpr_gateway.nhn import NhnError, TransportError, read_transport_error
from kpr_gateway.receipts.errors import (
    ForeignAppRecError,
    MalformedAppRecError,
    MalformedTransportError,
    MisaddressedAppRecError,
    NotAnAppRecError,
    UnmatchedAppRecError,
    UnopenableMessageError,
)
from kpr_gateway.security.certs import Credential
from kpr_gateway.security.cms import open_sealed
from kpr_gateway.security.errors import SecurityError
from kpr_gateway.tenancy import (
    Tenant,
    addressable_environments,
    kpr_receiver,
    kpr_receiver_her_id,
)

APPREC_ROOT = "AppRec"
HER_ID_TYPE = "HER"


@dataclass(frozen=True)
class Addressing:
    """Who a tenant's AppRecs come from and go to, by HER-id (two-level addressing: the
    institution, and its communication party as a department)."""

    tenant_her_id: str
    """The municipality (level 1)."""
    communication_party_her_id: str
    """The tenant's communication party (level 2), which owns the queues."""
    fhi_her_ids: frozenset[str]
    """Folkehelseinstituttet (level 1)."""
    kpr_her_ids: frozenset[str]
    """The KPR parties (level 2) the tenant sends to: its environment's, and KPR Validering
    for a test submission."""


def apprec_addressing(tenant: Tenant) -> Addressing:
    environments = addressable_environments(tenant)
    return Addressing(
        tenant_her_id=tenant.her_id,
        communication_party_her_id=tenant.communication_party.her_id,
        fhi_her_ids=frozenset(kpr_receiver(environment).her_id for environment in environments),
        kpr_her_ids=frozenset(kpr_receiver_her_id(environment) for environment in environments),
    )


@dataclass(frozen=True)
class TenantKeys:
    """What opening a tenant's AppRecs needs: its decryption keys, the expected signer and
    the addressing."""

    decryption: tuple[Credential, ...] = field(repr=False)
    """The current encryption key first, then the previous one during a rotation."""
    expected_signer: x509.Certificate
    """The receiver's (KPR's) signing certificate."""
    addressing: Addressing


def open_apprec(body: bytes, keys: TenantKeys, *, now: datetime | None = None) -> AppRec:
    """Decrypt, verify, parse and check the addressing of a sealed AppRec (CPU-bound: run it
    off the event loop)."""
    try:
        opened = open_sealed(body, keys.decryption, keys.expected_signer, now=now)
    except SecurityError as exc:
        name = type(exc).__name__
        raise UnopenableMessageError(f"{name}: {exc}", error_class=name) from exc
    apprec = read_apprec(opened.content)
    check_addressing(apprec, keys.addressing)
    return apprec


def check_addressing(apprec: AppRec, addressing: Addressing) -> None:
    """Park an AppRec not sent by KPR to the tenant's communication party.

    A party is read by HER-id: the communication party is the institution's department
    (service-based addressing, as the gateway sends), or the institution itself when it has
    no department. Identifiers without a type count as HER-ids; of another type, not.
    """
    msg_id = _original_uuid(apprec)
    tenant = (
        f"the tenant's communication party (HER-id {addressing.communication_party_her_id}"
        f" under {addressing.tenant_her_id})"
    )
    receiver = _levels(apprec.receiver)
    if receiver is None or not (
        receiver[1] == addressing.communication_party_her_id
        and receiver[0] in (None, addressing.tenant_her_id)
    ):
        raise MisaddressedAppRecError(f"AppRec is not addressed to {tenant}", msg_id=msg_id)
    sender = _levels(apprec.sender)
    if sender is None or not (
        sender[1] in addressing.kpr_her_ids
        and (sender[0] is None or sender[0] in addressing.fhi_her_ids)
    ):
        kpr = " or ".join(sorted(addressing.kpr_her_ids))
        fhi = " or ".join(sorted(addressing.fhi_her_ids))
        raise ForeignAppRecError(
            f"AppRec is not from KPR (HER-id {kpr} under {fhi})", msg_id=msg_id
        )


def _levels(party: AppRecParty | None) -> tuple[str | None, str | None] | None:
    """(institution, communication party) HER-ids of an AppRec party; None when it names
    none, or more than one department (which one would be the party?)."""
    if party is None:
        return None
    institution = party.id if _is_her_id(party.type_id) else None
    departments = {d.id for d in party.departments if d.id is not None and _is_her_id(d.type_id)}
    if len(departments) > 1:
        return None
    if departments:
        return institution, departments.pop()
    return None, institution


def _is_her_id(type_id: str | None) -> bool:
    return type_id is None or type_id.upper() == HER_ID_TYPE


def _original_uuid(apprec: AppRec) -> str | None:
    try:
        return str(uuid.UUID(apprec.original.id))
    except ValueError:
        return None


def read_apprec(content: bytes) -> AppRec:
    """A bare AppRec, or one carried as the document of a MsgHead."""
    try:
        return parse_apprec(content)
    except NotAnAppRecDocument:
        inner = _apprec_in_msghead(content)
    except MessagesError as exc:
        raise MalformedAppRecError(f"AppRec cannot be read: {exc}") from exc
    try:
        return parse_apprec(inner)
    except MessagesError as exc:
        raise MalformedAppRecError(f"AppRec in a MsgHead cannot be read: {exc}") from exc


def _apprec_in_msghead(content: bytes) -> bytes:
    try:
        head = parse_msghead(content)
    except MessagesError as exc:
        raise NotAnAppRecError(f"content is not an AppRec ({type(exc).__name__})") from exc
    if etree.QName(head.document).localname != APPREC_ROOT:
        raise NotAnAppRecError("content is a MsgHead that does not carry an AppRec")
    return etree.tostring(head.document, encoding="utf-8", xml_declaration=True)


def sent_msg_id(apprec: AppRec) -> str:
    """The MsgId the AppRec answers, as the gateway wrote it (a lower-case UUID).

    Peers on .NET write GUIDs in upper case or in braces; anything that is no UUID cannot
    be one of ours.
    """
    try:
        return str(uuid.UUID(apprec.original.id))
    except ValueError:
        raise UnmatchedAppRecError(
            "AppRec for no known message (OriginalMsgId/Id is not a UUID)"
        ) from None


def apprec_outcome(apprec: AppRec, *, received_at: datetime) -> ReceiptOutcome:
    return ReceiptOutcome(
        kind="apprec",
        received_at=received_at,
        status_code=int(apprec.status.code),
        status_text=apprec.status.text,
        errors=[
            ReceiptError(code=e.code, system=e.system, text=e.text, ref=e.ref)
            for e in apprec.errors
        ],
        apprec_id=apprec.id,
    )


def read_error(properties: Mapping[str, str]) -> TransportError:
    try:
        return read_transport_error(properties)
    except NhnError as exc:
        raise MalformedTransportError(f"transport error cannot be read: {exc}") from exc


def transport_error_outcome(error: TransportError, *, received_at: datetime) -> ReceiptOutcome:
    return ReceiptOutcome(
        kind="transport_error",
        received_at=received_at,
        error_condition=error.condition,
        error_description=error.description,
    )


def same_receipt(stored: ReceiptOutcome | None, arrived: ReceiptOutcome) -> bool:
    """Whether ``arrived`` is the receipt already stored (our own redelivery), not a new one."""
    if stored is None:
        return False
    return stored.model_dump(exclude={"received_at"}) == arrived.model_dump(exclude={"received_at"})
