"""SOAP 1.2 envelopes for the registry: the request we send and the answer we read.

Answers are parsed with ``kpr_gateway.messages.xmlsafe.parse_xml`` (no DTD, no entities, no
network, bounded size and depth): the registry is outside our trust boundary.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from kpr_gateway.messages.errors import MessagesError, UnsafeXmlError
from kpr_gateway.messages.xmlsafe import parse_xml
from kpr_gateway.registry.errors import RegistryResponseError
from kpr_gateway.registry.wsdl import (
    PARTY_NS,
    SOAP11_NS,
    SOAP12_NS,
    WSA_ANONYMOUS,
    WSA_NS,
    XSI_NS,
    Operation,
)

MAX_RESPONSE_BYTES = 2 * 1024 * 1024
_FAULT_TEXT_CHARS = 80


def build_request(
    operation: Operation, *, to: str, message_id: str, her_id: str | None = None
) -> bytes:
    """The request envelope: WS-Addressing headers, then the operation element in the body."""
    envelope = etree.Element(f"{{{SOAP12_NS}}}Envelope", nsmap={"s": SOAP12_NS, "a": WSA_NS})
    header = etree.SubElement(envelope, f"{{{SOAP12_NS}}}Header")
    action = etree.SubElement(header, f"{{{WSA_NS}}}Action")
    action.set(f"{{{SOAP12_NS}}}mustUnderstand", "1")
    action.text = operation.action
    etree.SubElement(header, f"{{{WSA_NS}}}MessageID").text = message_id
    reply_to = etree.SubElement(header, f"{{{WSA_NS}}}ReplyTo")
    etree.SubElement(reply_to, f"{{{WSA_NS}}}Address").text = WSA_ANONYMOUS
    destination = etree.SubElement(header, f"{{{WSA_NS}}}To")
    destination.set(f"{{{SOAP12_NS}}}mustUnderstand", "1")
    destination.text = to
    body = etree.SubElement(envelope, f"{{{SOAP12_NS}}}Body")
    call = etree.SubElement(
        body,
        f"{{{PARTY_NS}}}{operation.value}",
        nsmap={None: PARTY_NS},  # type: ignore[dict-item]  # lxml-stubs lack the default prefix
    )
    if her_id is not None:
        etree.SubElement(call, f"{{{PARTY_NS}}}herId").text = her_id
    return etree.tostring(envelope, encoding="utf-8", xml_declaration=True)


@dataclass(frozen=True)
class SoapFault:
    """A SOAP 1.2 fault, reduced to its codes: reason texts may quote personal data."""

    code: str
    subcodes: tuple[str, ...]
    error_code: str | None
    """``GenericFault/ErrorCode`` from the detail (e.g. ``InvalidHerIdSupplied``), if any."""

    def describe(self) -> str:
        parts = [self.code, *self.subcodes]
        text = "/".join(parts)
        return f"{text} ({self.error_code})" if self.error_code else text


def parse_envelope(data: bytes) -> etree._Element | SoapFault:
    """The body's payload element of a SOAP 1.2 answer, or its fault."""
    try:
        root = parse_xml(data, max_bytes=MAX_RESPONSE_BYTES)
    except UnsafeXmlError as exc:
        raise RegistryResponseError(
            f"the registry's answer was refused as unsafe XML: {exc}"
        ) from exc
    except MessagesError as exc:
        raise RegistryResponseError(f"the registry's answer is not XML: {exc}") from exc
    if root.tag == f"{{{SOAP11_NS}}}Envelope":
        raise RegistryResponseError("the registry answered with SOAP 1.1 to a SOAP 1.2 request")
    if root.tag != f"{{{SOAP12_NS}}}Envelope":
        raise RegistryResponseError("the registry's answer is not a SOAP 1.2 envelope")
    body = root.find(f"{{{SOAP12_NS}}}Body")
    if body is None:
        raise RegistryResponseError("the registry's answer has no SOAP Body")
    payload = _first_child(body)
    if payload is None:
        raise RegistryResponseError("the registry's answer has an empty SOAP Body")
    if payload.tag == f"{{{SOAP12_NS}}}Fault":
        return _parse_fault(payload)
    return payload


def result_of(payload: etree._Element, operation: Operation) -> etree._Element | None:
    """The ``<Operation>Result`` element, or None when the registry has nothing (nil or absent)."""
    if payload.tag != f"{{{PARTY_NS}}}{operation.response_element}":
        raise RegistryResponseError(
            f"{operation.value}: expected {operation.response_element} in the answer, "
            f"got {etree.QName(payload).localname}"
        )
    result = payload.find(f"{{{PARTY_NS}}}{operation.result_element}")
    if result is None or is_nil(result):
        return None
    return result


def is_nil(element: etree._Element) -> bool:
    return (element.get(f"{{{XSI_NS}}}nil") or "").strip() in {"true", "1"}


def _parse_fault(fault: etree._Element) -> SoapFault:
    code_element = fault.find(f"{{{SOAP12_NS}}}Code")
    if code_element is None:
        raise RegistryResponseError("the registry's SOAP fault has no Code")
    code = _qname_local(code_element.findtext(f"{{{SOAP12_NS}}}Value"))
    subcodes: list[str] = []
    subcode = code_element.find(f"{{{SOAP12_NS}}}Subcode")
    while subcode is not None:
        subcodes.append(_qname_local(subcode.findtext(f"{{{SOAP12_NS}}}Value")))
        subcode = subcode.find(f"{{{SOAP12_NS}}}Subcode")
    error_code = None
    detail = fault.find(f"{{{SOAP12_NS}}}Detail")
    if detail is not None:
        # The WSDL puts GenericFault in the Common namespace; any namespace is accepted.
        generic = next(detail.iter("{*}GenericFault"), None)
        if generic is not None:
            error_code = _code_text(generic.findtext("{*}ErrorCode"))
    return SoapFault(code=code, subcodes=tuple(subcodes), error_code=error_code)


def _first_child(element: etree._Element) -> etree._Element | None:
    for child in element:
        if isinstance(child.tag, str):  # skip comments and processing instructions
            return child
    return None


def _qname_local(value: str | None) -> str:
    """``s:Sender`` -> ``Sender``; codes are QNames whose prefix we need not resolve."""
    return _code_text((value or "").strip().rpartition(":")[2]) or "(none)"


def _code_text(value: str | None) -> str | None:
    """A fault code as safe to log: a short token of word characters, or None."""
    if value is None:
        return None
    token = value.strip()[:_FAULT_TEXT_CHARS]
    if not token or not all(c.isalnum() or c in "_.-" for c in token):
        return None
    return token
