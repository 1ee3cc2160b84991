"""What FHI's receiver checks in a message, in the order it checks it.

1. Open the CMS: decrypt with FHI's key, verify the signature against the sender's signing
   certificate. A failure is a transport error (nobody can answer a message they cannot read).
2. Read the MsgHead; check that its sender is the AMQP ``fromHerId`` and that the subject is
   its type. Failures are transport errors too: without a readable, honest MsgHead there is
   nothing to address an AppRec to.
3. Check receiver (FHI with a KPR party, the ``toHerId``, and the owner of the queue it came
   on when that is one of the default queues) and type (KPR_IPL, or KPR_IDE for the annual
   round), the MsgHead's schema
   when a standards directory is configured, then the document, inline or packed (zipped in
   a Base64Container: unpacked first, then checked the same way). By its root namespace: the
   Melding of IPLOS i KPR (daily, KPR_IPL only) against the official XPR(ipl) 56.0.0 XSD
   always and what the register checks beyond the schema (``document_checks``); an annual
   document (IPLOS 3.7, XPR(ide)) against its official XSD, streaming, by
   ``annual_checks.check_annual_document`` (never part of a chain). Failures
   become AppRec error codes (``codes``) and the answer is status 2. The notifications'
   places in the sender's chain are returned for the caller, which alone holds the chains
   (``chain``).

Texts name HER-ids, codes, lines, element paths and sequence numbers only, never document
values.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from kpr_gateway.messages import iplos_kpr
from kpr_gateway.messages.apprec import AppRecErrorCode
from kpr_gateway.messages.errors import MalformedXmlError, MessagesError, UnsafeXmlError
from kpr_gateway.messages.msghead import (
    MsgHead,
    Organisation,
    document_element,
    document_namespace,
    read_msghead,
)
from kpr_gateway.messages.packing import Packing
from kpr_gateway.messages.schemas import SchemaSet
from kpr_gateway.messages.xmlsafe import parse_xml
from kpr_gateway.nhn import NhnMessage
from kpr_gateway.security.cms import open_sealed
from kpr_gateway.security.errors import SecurityError, UnexpectedSignerError
from kpr_gateway.simulator import codes
from kpr_gateway.simulator.annual_checks import (
    ANNUAL_MSG_TYPES,
    AnnualDocument,
    check_annual_document,
)
from kpr_gateway.simulator.chain import ChainLinks, links_of
from kpr_gateway.simulator.conditions import (
    INVALID_CERTIFICATE,
    INVALID_FIELD_VALUE,
    NOT_WELL_FORMED_XML,
    SPOOFING_ATTACK,
)
from kpr_gateway.simulator.credentials import ReceiverCredentials
from kpr_gateway.simulator.document_checks import (
    contact_errors,
    event_errors,
    municipality_errors,
    notification_errors,
)
from kpr_gateway.simulator.parties import KnownSender
from kpr_gateway.simulator.receivers import FHI_HER_ID, KPR_HER_IDS

_SHOWN_CHARS = 40
MAX_CONTENT_BYTES = 32 * 1024 * 1024
"""The largest opened MsgHead read: above the gateway's NHN limit (16 MiB by default), so a
large municipality's zipped year (a base64 text node of more than 10 million characters)
is read, not refused as unsafe XML."""
ANNUAL_MSG_TYPE = "KPR_IDE"
_MSG_TYPES = frozenset({iplos_kpr.MSG_TYPE, ANNUAL_MSG_TYPE})


@dataclass(frozen=True)
class Refusal:
    """The message is refused at transport level: a transport error to the sender."""

    condition: str
    description: str


@dataclass(frozen=True)
class ChainPart:
    """Where a message's notifications belong: the chain of ``municipality_number`` of the
    sender, and their links in it."""

    municipality_number: str
    links: ChainLinks


@dataclass(frozen=True)
class Examined:
    """A readable MsgHead, what is wrong with it (nothing when it is valid) and, when its
    notifications could be read, their place in the sender's chain."""

    head: MsgHead
    errors: tuple[AppRecErrorCode, ...]
    chain: ChainPart | None = None


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


def examine(
    content: bytes,
    message: NhnMessage,
    schemas: SchemaSet | None,
    sender: KnownSender,
    *,
    queue_owner: str | None = None,
) -> Examined | Refusal:
    """Read and check the opened content of ``message`` from ``sender``; ``queue_owner`` is
    the HER-id of the receiver whose queue it arrived on, when known."""
    read = _read_head(content, message)
    if isinstance(read, Refusal):
        return read
    root, head = read
    errors = [*_receiver_errors(head.receiver, message.to_her_id, queue_owner)]
    document_errors, chain = _document_errors(root, head, schemas, sender)
    # A message for another receiver never enters this receiver's chains.
    return Examined(head, (*errors, *document_errors), None if errors else chain)


def _document_errors(
    root: etree._Element, head: MsgHead, schemas: SchemaSet | None, sender: KnownSender
) -> tuple[list[AppRecErrorCode], ChainPart | None]:
    """The type, the MsgHead's schema, then the document by its kind."""
    if head.msg_type not in _MSG_TYPES:
        return [_unsupported_type(head.msg_type)], None
    schema_errors = _schema_errors(root, schemas) if schemas is not None else []
    if schema_errors:
        return schema_errors, None
    return _errors_by_kind(head, schemas, sender)


def _errors_by_kind(
    head: MsgHead, schemas: SchemaSet | None, sender: KnownSender
) -> tuple[list[AppRecErrorCode], ChainPart | None]:
    """The document's root namespace picks the checks: annual or the daily Melding."""
    try:
        namespace = document_namespace(head)
    except MessagesError as exc:
        return [_unreadable_packed(exc)], None
    if namespace in ANNUAL_MSG_TYPES:
        return check_annual_document(AnnualDocument(head, namespace)), None
    if head.msg_type != iplos_kpr.MSG_TYPE:
        return [_unsupported_type(head.msg_type)], None
    melding = _daily_document(head, schemas)
    if isinstance(melding, list):
        return melding, None
    return _melding_errors(melding, schemas, sender.municipality_number)


def _daily_document(
    head: MsgHead, schemas: SchemaSet | None
) -> etree._Element | list[AppRecErrorCode]:
    """The daily document: inline, checked with the MsgHead already; packed, unpacked (within
    ``xmlsafe``'s bound: a day's message is small) and checked against the schemas on its own."""
    if head.packing is Packing.INLINE:
        return head.document
    try:
        document = document_element(head)
        # Without the composed schemas the Melding is checked with the package's XSD later.
        checked = _checks_kpr_documents(schemas)
        schema_errors = _schema_errors(document, schemas) if schemas and checked else []
    except MessagesError as exc:  # also UnknownDocumentTypeError: no schema for its root
        return [_unreadable_packed(exc)]
    return schema_errors or document


def _unreadable_packed(exc: MessagesError) -> AppRecErrorCode:
    return codes.error(codes.SCHEMA_INVALID, f"packed document: {exc}")


def _read_head(content: bytes, message: NhnMessage) -> tuple[etree._Element, MsgHead] | Refusal:
    """The parsed content and its MsgHead, when the MsgHead is readable and honest."""
    # Parsed once: the MsgHead is read from the tree that the schemas then check whole, and
    # its document is read in place (large documents are neither parsed nor copied twice).
    try:
        root = parse_xml(content, max_bytes=MAX_CONTENT_BYTES, large_text=True)
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
    return root, head


def communication_party(organisation: Organisation) -> Organisation:
    """The innermost level: the party whose HER-id and queues carry the traffic."""
    while organisation.service is not None:
        organisation = organisation.service
    return organisation


def _receiver_errors(
    receiver: Organisation, to_her_id: str, queue_owner: str | None
) -> list[AppRecErrorCode]:
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
    if queue_owner is not None and queue_owner != to_her_id:
        return [
            codes.error(
                codes.UNKNOWN_RECEIVER,
                f"message for toHerId {_shown(to_her_id)} arrived on the queue of {queue_owner}",
            )
        ]
    return []


def _unsupported_type(msg_type: str) -> AppRecErrorCode:
    if msg_type == ANNUAL_MSG_TYPE:
        detail = (
            "the daily interface takes KPR_IPL only (ident and health data in one message);"
            " KPR_IDE belongs to the annual submission"
        )
    else:
        detail = f"MsgHead type {_shown(msg_type)} is not KPR_IPL"
    return codes.error(codes.UNSUPPORTED_FORMAT, detail)


def _checks_kpr_documents(schemas: SchemaSet | None) -> bool:
    """Whether a MsgHead valid under ``schemas`` has had its Melding checked against the
    official XPR(ipl) 56.0.0 XSD (MsgHead's Content is processContents="strict")."""
    return schemas is not None and any(
        payload.namespace == iplos_kpr.NAMESPACE
        and payload.xsd_path.resolve() == iplos_kpr.XSD_PATH.resolve()
        for payload in schemas.payloads
    )


def _schema_errors(root: etree._Element, schemas: SchemaSet) -> list[AppRecErrorCode]:
    return codes.errors(codes.SCHEMA_INVALID, [str(issue) for issue in schemas.issues(root)])


def _melding_errors(
    document: etree._Element, schemas: SchemaSet | None, municipality_number: str | None
) -> tuple[list[AppRecErrorCode], ChainPart | None]:
    """The register's verdict on the Melding, and its chain links when they could be read.

    The links are returned even when other checks fail (a missing contact person does not
    make the numbers less received), but not when the Kommune is in doubt: it names the chain.
    """
    try:
        if not _checks_kpr_documents(schemas):
            iplos_kpr.validate_document(document)
        errors = event_errors(document)
        if errors:
            return errors, None
        melding = iplos_kpr.parse_melding(document, schema_checked=True)
    except MessagesError as exc:  # KprDocumentError: not a valid Melding of 56.0.0
        return [codes.error(codes.SCHEMA_INVALID, f"KPR_IPL document: {exc}")], None
    municipality = municipality_errors(melding.header, municipality_number)
    errors = [
        *municipality,
        *contact_errors(melding.header),
        *notification_errors(melding.notifications),
    ]
    links = links_of(melding.notifications)
    if isinstance(links, list):
        return [*errors, *links], None
    if links is None or municipality:
        return errors, None
    return errors, ChainPart(melding.header.municipality_numbers[0], links)


def _shown(value: str) -> str:
    """An id from outside, shortened: it is echoed into receipts and logs."""
    return repr(value[:_SHOWN_CHARS])
