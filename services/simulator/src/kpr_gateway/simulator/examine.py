"""What FHI's receiver checks in a message, in the order it checks it.

1. Open the CMS: decrypt with FHI's key, verify the signature against the sender's signing
   certificate. A failure is a transport error (nobody can answer a message they cannot read).
2. Read the MsgHead; check that its sender is the AMQP ``fromHerId`` and that the subject is
   its type. Failures are transport errors too: without a readable, honest MsgHead there is
   nothing to address an AppRec to.
3. Check receiver, type, schemas and the KPR document. Failures become AppRec error codes
   (kodeverk 8221, see ``codes``) and the answer is status 2.

Texts name HER-ids, codes, lines and element paths only, never document values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from lxml import etree

from kpr_gateway.messages.apprec import AppRecErrorCode
from kpr_gateway.messages.errors import MalformedXmlError, MessagesError, UnsafeXmlError
from kpr_gateway.messages.kpr_ktt_v1 import (
    MSG_TYPE_FAGMELDING,
    MSG_TYPE_IDENTMELDING,
    NAMESPACE,
    XSD_PATH,
    parse_fagmelding,
    parse_identmelding,
)
from kpr_gateway.messages.msghead import MsgHead, Organisation, read_msghead
from kpr_gateway.messages.schemas import SchemaSet
from kpr_gateway.messages.xmlsafe import parse_xml
from kpr_gateway.nhn import NhnMessage
from kpr_gateway.security.cms import open_sealed
from kpr_gateway.security.errors import SecurityError, UnexpectedSignerError
from kpr_gateway.simulator import codes
from kpr_gateway.simulator.conditions import (
    INVALID_CERTIFICATE,
    INVALID_FIELD_VALUE,
    NOT_WELL_FORMED_XML,
    SPOOFING_ATTACK,
)
from kpr_gateway.simulator.credentials import ReceiverCredentials
from kpr_gateway.simulator.parties import KnownSender
from kpr_gateway.simulator.receivers import FHI_HER_ID, KPR_HER_IDS


class _DocumentParser(Protocol):
    def __call__(self, document: etree._Element, *, schema_checked: bool) -> object: ...


MAX_SCHEMA_ERRORS = 10
_SHOWN_CHARS = 40

_DOCUMENT_PARSERS: dict[str, _DocumentParser] = {
    MSG_TYPE_FAGMELDING: parse_fagmelding,
    MSG_TYPE_IDENTMELDING: parse_identmelding,
}


@dataclass(frozen=True)
class Refusal:
    """The message is refused at transport level: a transport error to the sender."""

    condition: str
    description: str


@dataclass(frozen=True)
class Examined:
    """A readable MsgHead and what is wrong with it (nothing when it is valid)."""

    head: MsgHead
    errors: tuple[AppRecErrorCode, ...]


def open_message(
    body: bytes, credentials: ReceiverCredentials, sender: KnownSender
) -> bytes | Refusal:
    """The verified content, or the transport error that refuses it."""
    try:
        return open_sealed(body, credentials.decryption, sender.signing_certificate).content
    except UnexpectedSignerError:
        return Refusal(
            SPOOFING_ATTACK,
            f"message is not signed by the signing certificate of sender {sender.her_id}",
        )
    except SecurityError as exc:
        return Refusal(INVALID_CERTIFICATE, f"message cannot be opened: {exc}")


def examine(content: bytes, message: NhnMessage, schemas: SchemaSet | None) -> Examined | Refusal:
    """Read and check the opened content of ``message``."""
    # Parsed once: the MsgHead is read from the tree that the schemas then check whole, and
    # its document is read in place (large documents are neither parsed nor copied twice).
    try:
        root = parse_xml(content)
        head = read_msghead(root)
    except (UnsafeXmlError, MalformedXmlError) as exc:
        return Refusal(NOT_WELL_FORMED_XML, f"content is not acceptable XML: {exc}")
    except MessagesError as exc:
        return Refusal(NOT_WELL_FORMED_XML, f"content is not a readable MsgHead: {exc}")
    sender_her_id = communication_party(head.sender).her_id
    if sender_her_id != message.from_her_id:
        return Refusal(
            SPOOFING_ATTACK,
            f"MsgHead sender HER-id {_shown(sender_her_id)} is not the fromHerId"
            f" {_shown(message.from_her_id)}",
        )
    if message.subject != head.msg_type:
        return Refusal(
            INVALID_FIELD_VALUE,
            f"subject {_shown(message.subject)} does not match MsgHead type"
            f" {_shown(head.msg_type)}",
        )
    errors = [*_receiver_errors(head.receiver, message.to_her_id)]
    if head.msg_type not in _DOCUMENT_PARSERS:
        errors.append(
            codes.error(
                codes.UNSUPPORTED_FORMAT,
                f"MsgHead type {_shown(head.msg_type)} is not KPR_IPL or KPR_IDE",
            )
        )
        return Examined(head, tuple(errors))
    schema_errors = _schema_errors(root, schemas) if schemas is not None else []
    errors.extend(schema_errors)
    if not schema_errors:
        errors.extend(_document_errors(head, checked=_checks_kpr_documents(schemas)))
    return Examined(head, tuple(errors))


def communication_party(organisation: Organisation) -> Organisation:
    """The innermost level: the party whose HER-id and queues carry the traffic."""
    while organisation.service is not None:
        organisation = organisation.service
    return organisation


def _receiver_errors(receiver: Organisation, to_her_id: str) -> list[AppRecErrorCode]:
    party = communication_party(receiver)
    if receiver.her_id != FHI_HER_ID or party.her_id not in KPR_HER_IDS:
        return [
            codes.error(
                codes.UNKNOWN_RECEIVER,
                f"MsgHead receiver {_shown(receiver.her_id)}/{_shown(party.her_id)}"
                f" is not Folkehelseinstituttet {FHI_HER_ID} with a KPR party",
            )
        ]
    if party.her_id != to_her_id:
        return [
            codes.error(
                codes.UNKNOWN_RECEIVER,
                f"MsgHead receiver {party.her_id} is not the toHerId {_shown(to_her_id)}",
            )
        ]
    return []


def _checks_kpr_documents(schemas: SchemaSet | None) -> bool:
    """Whether a MsgHead valid under ``schemas`` has had its KPR document checked against
    kpr-ktt-v1.xsd (MsgHead's Content is processContents="strict")."""
    return schemas is not None and any(
        payload.namespace == NAMESPACE and payload.xsd_path.resolve() == XSD_PATH.resolve()
        for payload in schemas.payloads
    )


def _schema_errors(root: etree._Element, schemas: SchemaSet) -> list[AppRecErrorCode]:
    issues = schemas.issues(root)
    shown = [codes.error(codes.SCHEMA_INVALID, str(i)) for i in issues[:MAX_SCHEMA_ERRORS]]
    if len(issues) > MAX_SCHEMA_ERRORS:
        shown.append(
            codes.error(
                codes.SCHEMA_INVALID, f"{len(issues) - MAX_SCHEMA_ERRORS} more issue(s) not shown"
            )
        )
    return shown


def _document_errors(head: MsgHead, *, checked: bool) -> list[AppRecErrorCode]:
    try:
        _DOCUMENT_PARSERS[head.msg_type](head.document, schema_checked=checked)
    except MessagesError as exc:  # KprDocumentError: the document or its kind is wrong
        return [codes.error(codes.SCHEMA_INVALID, f"{head.msg_type} document: {exc}")]
    return []


def _shown(value: str) -> str:
    """An id from outside, shortened: it is echoed into receipts and logs."""
    return repr(value[:_SHOWN_CHARS])
