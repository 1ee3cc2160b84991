"""Reading what arrives on a tenant's NHN queues: the sealed AppRec, or a transport error.

Tolerant of what peers send (AppRec v1.0 and v1.1, an AppRec wrapped in a MsgHead, upper-case
GUIDs), strict about who sent it: the CMS must be encrypted for the tenant and signed by the
receiver's signing certificate. Every refusal is a ``ReceiptParkedError`` whose reason names
the error class and positions, never content.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from cryptography import x509
from lxml import etree

from kpr_gateway.ledger import ReceiptError, ReceiptOutcome
from kpr_gateway.messages.apprec import AppRec, parse_apprec
from kpr_gateway.messages.errors import MessagesError
from kpr_gateway.messages.errors import NotAnAppRecError as NotAnAppRecDocument
from kpr_gateway.messages.msghead import parse_msghead
from kpr_gateway.nhn import NhnError, TransportError, read_transport_error
from kpr_gateway.receipts.errors import (
    MalformedAppRecError,
    MalformedTransportError,
    NotAnAppRecError,
    UnmatchedAppRecError,
    UnopenableMessageError,
)
from kpr_gateway.security.certs import Credential
from kpr_gateway.security.cms import open_sealed
from kpr_gateway.security.errors import SecurityError

APPREC_ROOT = "AppRec"


@dataclass(frozen=True)
class TenantKeys:
    """What opening a tenant's AppRecs needs: its decryption keys and the expected signer."""

    decryption: tuple[Credential, ...] = field(repr=False)
    """The current encryption key first, then the previous one during a rotation."""
    expected_signer: x509.Certificate
    """The receiver's (KPR's) signing certificate."""


def open_apprec(body: bytes, keys: TenantKeys, *, now: datetime | None = None) -> AppRec:
    """Decrypt, verify and parse a sealed AppRec (CPU-bound: run it off the event loop)."""
    try:
        opened = open_sealed(body, keys.decryption, keys.expected_signer, now=now)
    except SecurityError as exc:
        name = type(exc).__name__
        raise UnopenableMessageError(f"{name}: {exc}", error_class=name) from exc
    return read_apprec(opened.content)


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
