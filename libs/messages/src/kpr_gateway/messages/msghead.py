"""Hodemelding (MsgHead) v1.2 with service-based (two-level) addressing and one document.

Only what KPR Gateway sends is modelled: one ``Document`` whose ``RefDoc/Content`` holds an XML
instance inline (``RefDoc/MsgType`` XML) or that instance zipped, base64 in a kith
``Base64Container`` (``RefDoc/MsgType`` A, ``MimeType`` application/zip; see ``packing``), and
sender and receiver as ``Organisation`` (level 1 the legal entity, level 2 the communication
party). Element order follows MsgHead-v1_2.xsd exactly.

``open_document``, ``document_bytes`` and ``document_element`` give a reader the document the
same way for both packings.
"""

from __future__ import annotations

import copy
import io
import re
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import IO

from lxml import etree

from kpr_gateway.messages.errors import MalformedXmlError, MsgHeadError
from kpr_gateway.messages.packing import (
    BASE64_CONTAINER,
    DEFAULT_MAX_UNPACKED_BYTES,
    ZIP_MIME_TYPE,
    Packing,
    packed_in,
)
from kpr_gateway.messages.xmlsafe import DEFAULT_MAX_BYTES, parse_xml
from kpr_gateway.messages.xmlwrite import to_bytes
from kpr_gateway.messages.xsdtime import format_utc, parse_datetime, parse_datetime_or_date

MSGHEAD_NS = "http://www.kith.no/xmlstds/msghead/2006-05-24"
MIG_VERSION = "v1.2 2006-05-24"
# OID of kodeverk 9051 "Identifikatorer for virksomheter" (HER-id, ENH).
ORGANISATION_ID_SYSTEM = "2.16.578.1.12.4.1.1.9051"
HER_ID_TYPE = ("HER", "HER-id")
ORG_NUMBER_TYPE = ("ENH", "Organisasjonsnummeret i Enhetsregisteret")
ACK_YES = ("J", "Ja")
ACK_NO = ("N", "Nei")
REFDOC_XML = ("XML", "XML-instans")
# Kodeverk 8114 "Type dokument": A is an attached document, here the zip in a Base64Container.
REFDOC_ATTACHMENT = ("A", "Vedlegg")

_CODE = re.compile(r"\S+")
_HER_ID = re.compile(r"\d+")
_ORG_NUMBER = re.compile(r"\d{9}")


@dataclass(frozen=True, slots=True)
class Organisation:
    """An organisation level; ``service`` is the nested level (the communication party)."""

    name: str
    her_id: str
    org_number: str | None = None
    service: Organisation | None = None


@dataclass(frozen=True, slots=True)
class ConversationRef:
    ref_to_parent: str
    ref_to_conversation: str


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class MsgHead:
    """A MsgHead carrying one document: the XML document itself (inline), or a kith
    ``Base64Container`` holding it zipped (``packing.PackedDocument.container()``).

    ``document`` is not copied on construction; ``build_msghead`` copies it into the output.
    Equality compares the document as exclusive C14N with indentation whitespace ignored.
    """

    msg_type: str
    msg_type_text: str
    msg_id: str
    gen_date: datetime
    sender: Organisation
    receiver: Organisation
    ack_requested: bool = True
    conversation_ref: ConversationRef | None = None
    issue_date: datetime
    document: etree._Element
    content_description: str | None = None

    @property
    def packing(self) -> Packing:
        """How ``document`` travels: what the Content element is decides it."""
        if self.document.tag == BASE64_CONTAINER:
            return Packing.BASE64_ZIP
        return Packing.INLINE

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MsgHead):
            return NotImplemented
        return self._key() == other._key() and canonical_document(
            self.document
        ) == canonical_document(other.document)

    def __hash__(self) -> int:
        return hash((self._key(), canonical_document(self.document)))

    def _key(self) -> tuple[object, ...]:
        return (
            self.msg_type,
            self.msg_type_text,
            self.msg_id,
            self.gen_date,
            self.sender,
            self.receiver,
            self.ack_requested,
            self.conversation_ref,
            self.issue_date,
            self.content_description,
        )


def canonical_document(document: etree._Element) -> bytes:
    """Exclusive C14N of ``document`` without whitespace-only text between elements."""
    clone = copy.deepcopy(document)
    clone.tail = None
    for element in clone.iter():
        if len(element) and element.text is not None and not element.text.strip():
            element.text = None
        if element is not clone and element.tail is not None and not element.tail.strip():
            element.tail = None
    return etree.tostring(clone, method="c14n", exclusive=True)


# ----------------------------------------------------------------------------- building


def _q(name: str) -> str:
    return f"{{{MSGHEAD_NS}}}{name}"


def _sub(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, _q(name))
    if text is not None:
        element.text = text
    return element


def _code(parent: etree._Element, name: str, value: str, text: str) -> etree._Element:
    element = _sub(parent, name)
    element.set("V", value)
    element.set("DN", text)
    return element


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise MsgHeadError(message)


def _check_trimmed(value: str, where: str) -> None:
    # The reader trims these values, so only trimmed ones survive a round trip.
    _require(
        bool(value) and value == value.strip(),
        f"{where} must be non-empty without surrounding whitespace",
    )


def _check_head(head: MsgHead) -> None:
    _require(_CODE.fullmatch(head.msg_type) is not None, "msg_type must be a code without spaces")
    _check_trimmed(head.msg_type_text, "msg_type_text")
    _check_trimmed(head.msg_id, "msg_id")
    for label, value in (("gen_date", head.gen_date), ("issue_date", head.issue_date)):
        _require(value.utcoffset() is not None, f"{label} must be timezone-aware")
    _require(
        isinstance(head.document, etree._Element) and isinstance(head.document.tag, str),
        "document must be an XML element",
    )
    if head.conversation_ref is not None:
        _check_trimmed(head.conversation_ref.ref_to_parent, "conversation_ref.ref_to_parent")
        _check_trimmed(
            head.conversation_ref.ref_to_conversation, "conversation_ref.ref_to_conversation"
        )
    for label, organisation in (("sender", head.sender), ("receiver", head.receiver)):
        _check_organisation(organisation, label)


def _check_organisation(organisation: Organisation, where: str) -> None:
    _check_trimmed(organisation.name, f"{where}.name")
    _require(
        _HER_ID.fullmatch(organisation.her_id) is not None, f"{where}: HER-id must be digits only"
    )
    if organisation.org_number is not None:
        _require(
            _ORG_NUMBER.fullmatch(organisation.org_number) is not None,
            f"{where}: organisation number must be 9 digits",
        )
    if organisation.service is not None:
        _check_organisation(organisation.service, f"{where}.service")


def _write_ident(parent: etree._Element, value: str, type_code: tuple[str, str]) -> None:
    ident = _sub(parent, "Ident")
    _sub(ident, "Id", value)
    type_id = _code(ident, "TypeId", *type_code)
    type_id.set("S", ORGANISATION_ID_SYSTEM)


def _write_organisation(parent: etree._Element, organisation: Organisation) -> None:
    element = _sub(parent, "Organisation")
    _sub(element, "OrganisationName", organisation.name)
    _write_ident(element, organisation.her_id, HER_ID_TYPE)
    if organisation.org_number is not None:
        _write_ident(element, organisation.org_number, ORG_NUMBER_TYPE)
    if organisation.service is not None:
        _write_organisation(element, organisation.service)


def build_msghead(head: MsgHead, *, compact_document: bool = False) -> bytes:
    """Serialise ``head`` as UTF-8 with an XML declaration and two-space indentation.

    ``compact_document``: the caller vouches that every element of ``head.document`` holds
    either only elements (no text between them, not even whitespace) or only text without
    line breaks, never empty text, and that it has no comments or processing instructions,
    as a document parsed from text written without indentation. Such a document is written
    by libxml2's own indentation into the envelope instead of being copied and indented:
    the same bytes, in a third of the time for a large document.
    """
    _check_head(head)
    try:
        return _serialise(head, compact_document=compact_document)
    except (ValueError, OverflowError) as exc:  # e.g. characters XML cannot carry
        raise MsgHeadError("a MsgHead field cannot be written as XML") from exc


# Stands in for the document while the envelope is indented and written (compact documents).
_PLACEHOLDER_NS = "urn:no:kpr-gateway:msghead:placeholder"
_PLACEHOLDER = f'<kprgw:Document xmlns:kprgw="{_PLACEHOLDER_NS}"/>'.encode()
# The document's lines are indented as its level in the envelope: MsgHead/Document/RefDoc/
# Content/document is level 4.
_DOCUMENT_LINE_BREAK = b"\n" + b"  " * 4
# libxml2 indents no deeper than 30 levels (60 spaces); etree.indent has no limit.
_CAPPED_INDENT = b"\n" + b" " * 60


def _serialise(head: MsgHead, *, compact_document: bool = False) -> bytes:
    # lxml-stubs do not allow None (the default namespace) as a prefix key
    root = etree.Element(_q("MsgHead"), nsmap={None: MSGHEAD_NS})  # type: ignore[dict-item]
    info = _sub(root, "MsgInfo")
    _code(info, "Type", head.msg_type, head.msg_type_text)
    _sub(info, "MIGversion", MIG_VERSION)
    _sub(info, "GenDate", format_utc(head.gen_date))
    _sub(info, "MsgId", head.msg_id)
    _code(info, "Ack", *(ACK_YES if head.ack_requested else ACK_NO))
    if head.conversation_ref is not None:
        conversation = _sub(info, "ConversationRef")
        _sub(conversation, "RefToParent", head.conversation_ref.ref_to_parent)
        _sub(conversation, "RefToConversation", head.conversation_ref.ref_to_conversation)
    _write_organisation(_sub(info, "Sender"), head.sender)
    _write_organisation(_sub(info, "Receiver"), head.receiver)

    document = _sub(root, "Document")
    if head.content_description is not None:
        _sub(document, "ContentDescription", head.content_description)
    ref_doc = _sub(document, "RefDoc")
    _sub(ref_doc, "IssueDate").set("V", format_utc(head.issue_date))
    if head.packing is Packing.BASE64_ZIP:
        _code(ref_doc, "MsgType", *REFDOC_ATTACHMENT)
        _sub(ref_doc, "MimeType", ZIP_MIME_TYPE)
    else:
        _code(ref_doc, "MsgType", *REFDOC_XML)
    content = _sub(ref_doc, "Content")
    if compact_document and _stands_alone(head.document):
        placeholder = etree.SubElement(
            content, f"{{{_PLACEHOLDER_NS}}}Document", nsmap={"kprgw": _PLACEHOLDER_NS}
        )
        envelope = to_bytes(root)
        written = etree.tostring(
            head.document, encoding="UTF-8", pretty_print=True, with_tail=False
        )
        if envelope.count(_PLACEHOLDER) == 1 and _CAPPED_INDENT not in written:
            return envelope.replace(
                _PLACEHOLDER, written.removesuffix(b"\n").replace(b"\n", _DOCUMENT_LINE_BREAK)
            )
        content.remove(placeholder)  # not expected: fall back to the general way
    inline = copy.deepcopy(head.document)
    inline.tail = None
    content.append(inline)

    return to_bytes(root)


def _stands_alone(document: etree._Element) -> bool:
    # Written on its own, a document declares its namespaces itself; inside the envelope lxml
    # would drop a declaration the MsgHead element already makes.
    return document.getparent() is None and MSGHEAD_NS not in document.nsmap.values()


# ----------------------------------------------------------------------------- parsing


def _child(parent: etree._Element, name: str, where: str) -> etree._Element:
    element = parent.find(_q(name))
    if element is None:
        raise MsgHeadError(f"MsgHead: missing {where}/{name}")
    return element


def _text(parent: etree._Element, name: str, where: str) -> str:
    value = (_child(parent, name, where).text or "").strip()
    if not value:
        raise MsgHeadError(f"MsgHead: empty {where}/{name}")
    return value


def _attr(element: etree._Element, attribute: str, where: str) -> str:
    value = (element.get(attribute) or "").strip()
    if not value:
        raise MsgHeadError(f"MsgHead: missing {where}/@{attribute}")
    return value


def _read_organisation(element: etree._Element, where: str) -> Organisation:
    name = _text(element, "OrganisationName", where)
    her_id: str | None = None
    org_number: str | None = None
    for ident in element.findall(_q("Ident")):
        type_id = ident.find(_q("TypeId"))
        kind = (type_id.get("V") or "").strip() if type_id is not None else ""
        value = (ident.findtext(_q("Id")) or "").strip()
        if kind == HER_ID_TYPE[0] and her_id is None and value:
            her_id = value
        elif kind == ORG_NUMBER_TYPE[0] and org_number is None and value:
            org_number = value
    if her_id is None:
        raise MsgHeadError(f"MsgHead: {where} has no HER-id Ident")
    nested = element.find(_q("Organisation"))
    service = None if nested is None else _read_organisation(nested, f"{where}/Organisation")
    return Organisation(name=name, her_id=her_id, org_number=org_number, service=service)


def _read_ack(info: etree._Element) -> bool:
    ack = info.find(_q("Ack"))
    if ack is None:
        return False
    value = _attr(ack, "V", "MsgInfo/Ack")
    if value not in (ACK_YES[0], ACK_NO[0]):
        raise MsgHeadError("MsgHead: MsgInfo/Ack/@V is neither J nor N")
    return value == ACK_YES[0]


def _read_date(text: str, where: str, *, allow_date: bool = False) -> datetime:
    try:
        return parse_datetime_or_date(text) if allow_date else parse_datetime(text)
    except ValueError as exc:
        raise MsgHeadError(f"MsgHead: {where} is not a valid date-time") from exc


def _read_document(
    root: etree._Element, *, detach: bool
) -> tuple[datetime, etree._Element, str | None]:
    documents = root.findall(_q("Document"))
    if len(documents) != 1:
        raise MsgHeadError(f"MsgHead: expected exactly one Document, found {len(documents)}")
    document = documents[0]
    description_element = document.find(_q("ContentDescription"))
    description = None if description_element is None else (description_element.text or "")
    ref_doc = _child(document, "RefDoc", "Document")
    issue_date = _read_date(
        _attr(_child(ref_doc, "IssueDate", "RefDoc"), "V", "RefDoc/IssueDate"),
        "RefDoc/IssueDate",
        allow_date=True,
    )
    msg_type = _attr(_child(ref_doc, "MsgType", "RefDoc"), "V", "RefDoc/MsgType")
    content = _child(ref_doc, "Content", "RefDoc")
    elements = [child for child in content if isinstance(child.tag, str)]
    if len(elements) != 1:
        raise MsgHeadError(
            f"MsgHead: RefDoc/Content must hold exactly one element, found {len(elements)}"
        )
    _check_packing(ref_doc, msg_type, elements[0])
    if not detach:
        return issue_date, elements[0], description
    inline = copy.deepcopy(elements[0])
    inline.tail = None
    return issue_date, inline, description


def _check_packing(ref_doc: etree._Element, msg_type: str, element: etree._Element) -> None:
    """The two packings the gateway knows: XML inline, or A with a zip in a Base64Container."""
    packed = element.tag == BASE64_CONTAINER
    if msg_type == REFDOC_XML[0]:
        if packed:
            raise MsgHeadError("MsgHead: RefDoc/MsgType is XML but Content is a Base64Container")
        return
    if msg_type != REFDOC_ATTACHMENT[0]:
        raise MsgHeadError("MsgHead: RefDoc/MsgType is neither XML (inline) nor A (packed)")
    if not packed:
        raise MsgHeadError("MsgHead: RefDoc/MsgType is A but Content is not a Base64Container")
    if (ref_doc.findtext(_q("MimeType")) or "").strip() != ZIP_MIME_TYPE:
        raise MsgHeadError(
            f"MsgHead: a Base64Container is read only as a zipped document "
            f"(RefDoc/MimeType {ZIP_MIME_TYPE})"
        )


def parse_msghead(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> MsgHead:
    """Read a MsgHead; ``MsgHeadError`` names the first missing or invalid required part.

    Unsafe or malformed input raises the errors of ``xmlsafe.parse_xml``.
    """
    return _read(parse_xml(data, max_bytes=max_bytes), detach=True)


def read_msghead(root: etree._Element) -> MsgHead:
    """Read the MsgHead of an already parsed tree (``root`` from ``xmlsafe.parse_xml``).

    Unlike ``parse_msghead`` the document is not copied out: ``document`` is the element
    inside ``root`` (tail included), so the tree can still be validated whole and a large
    document is not copied. Raises ``MsgHeadError`` as ``parse_msghead`` does.
    """
    return _read(root, detach=False)


def _read(root: etree._Element, *, detach: bool) -> MsgHead:
    if root.tag != _q("MsgHead"):
        raise MsgHeadError("MsgHead: root element is not MsgHead in the MsgHead v1.2 namespace")
    info = _child(root, "MsgInfo", "MsgHead")
    type_element = _child(info, "Type", "MsgInfo")
    if _text(info, "MIGversion", "MsgInfo") != MIG_VERSION:
        raise MsgHeadError(f"MsgHead: MsgInfo/MIGversion is not {MIG_VERSION}")
    conversation_element = info.find(_q("ConversationRef"))
    conversation = None
    if conversation_element is not None:
        conversation = ConversationRef(
            ref_to_parent=_text(conversation_element, "RefToParent", "ConversationRef"),
            ref_to_conversation=_text(conversation_element, "RefToConversation", "ConversationRef"),
        )
    issue_date, document, description = _read_document(root, detach=detach)
    sender = _child(_child(info, "Sender", "MsgInfo"), "Organisation", "Sender")
    receiver = _child(_child(info, "Receiver", "MsgInfo"), "Organisation", "Receiver")
    return MsgHead(
        msg_type=_attr(type_element, "V", "MsgInfo/Type"),
        msg_type_text=(type_element.get("DN") or "").strip(),
        msg_id=_text(info, "MsgId", "MsgInfo"),
        gen_date=_read_date(_text(info, "GenDate", "MsgInfo"), "MsgInfo/GenDate"),
        sender=_read_organisation(sender, "Sender/Organisation"),
        receiver=_read_organisation(receiver, "Receiver/Organisation"),
        ack_requested=_read_ack(info),
        conversation_ref=conversation,
        issue_date=issue_date,
        document=document,
        content_description=description,
    )


# ----------------------------------------------------------------------------- the document


def open_document(
    head: MsgHead, *, max_bytes: int = DEFAULT_MAX_UNPACKED_BYTES
) -> AbstractContextManager[IO[bytes]]:
    """The document's XML bytes as a stream, unpacked as it is read when it is packed.

    A packed document past ``max_bytes`` raises ``PackedDocumentTooLargeError`` while it is
    read, a damaged one ``PackedDocumentError``. An inline document is serialised (it was
    parsed with the MsgHead, so no bound applies to it here).
    """
    if head.packing is Packing.BASE64_ZIP:
        return packed_in(head.document).open(max_bytes=max_bytes)
    return nullcontext(io.BytesIO(_inline_bytes(head.document)))


def document_bytes(head: MsgHead, *, max_bytes: int = DEFAULT_MAX_UNPACKED_BYTES) -> bytes:
    """The document's XML bytes in memory, for either packing (bounds as ``open_document``)."""
    if head.packing is Packing.BASE64_ZIP:
        return packed_in(head.document).unpack(max_bytes=max_bytes)
    return _inline_bytes(head.document)


def document_element(head: MsgHead, *, max_bytes: int = DEFAULT_MAX_BYTES) -> etree._Element:
    """The document as an element: inline, ``head.document`` itself; packed, unpacked (at most
    ``max_bytes``) and parsed with ``xmlsafe.parse_xml``, whose errors it raises."""
    if head.packing is Packing.BASE64_ZIP:
        return parse_xml(document_bytes(head, max_bytes=max_bytes), max_bytes=max_bytes)
    return head.document


def document_namespace(head: MsgHead, *, max_bytes: int = DEFAULT_MAX_UNPACKED_BYTES) -> str:
    """The namespace of the document's root element ("" for none), without unpacking more
    of a packed document than its first bytes: a reader picks its checks by it before it
    reads a document of tens of MB. A packed document that is not XML raises
    ``MalformedXmlError``."""
    if head.packing is Packing.INLINE:
        return etree.QName(head.document).namespace or ""
    with open_document(head, max_bytes=max_bytes) as stream:
        # Only the root's start tag is read: no entity is resolved, nothing is fetched.
        events = etree.iterparse(
            stream, events=("start",), resolve_entities=False, no_network=True, load_dtd=False
        )
        try:
            for _, element in events:
                return etree.QName(element).namespace or ""
        except etree.XMLSyntaxError as exc:
            raise MalformedXmlError("the packed document is not well-formed XML") from exc
    raise MalformedXmlError("the packed document holds no element")


def _inline_bytes(document: etree._Element) -> bytes:
    return etree.tostring(document, encoding="UTF-8", xml_declaration=True, with_tail=False)
