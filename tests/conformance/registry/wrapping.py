"""Sample payloads put in the SOAP 1.2 answer WCF wraps them in."""

from __future__ import annotations

import copy

from lxml import etree

from kpr_gateway.messages.xmlsafe import parse_xml
from kpr_gateway.registry import Operation
from kpr_gateway.registry.wsdl import PARTY_NS, SOAP12_NS, WSA_NS


def enveloped(payload: bytes, operation: Operation) -> bytes:
    """The sample payload as the result of ``operation`` in a SOAP 1.2 answer."""
    sample = parse_xml(payload)
    envelope = etree.Element(f"{{{SOAP12_NS}}}Envelope", nsmap={"s": SOAP12_NS, "a": WSA_NS})
    body = etree.SubElement(envelope, f"{{{SOAP12_NS}}}Body")
    response = etree.SubElement(
        body,
        f"{{{PARTY_NS}}}{operation.response_element}",
        nsmap={None: PARTY_NS},  # type: ignore[dict-item]  # i:type values resolve against it
    )
    result = etree.SubElement(response, f"{{{PARTY_NS}}}{operation.result_element}")
    for name, value in sample.attrib.items():
        result.set(name, value)
    result.extend(copy.deepcopy(child) for child in sample)
    return etree.tostring(envelope, encoding="utf-8")
