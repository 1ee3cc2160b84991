"""The simulated registry's SOAP 1.2: reading requests, writing answers as NHN's WCF does.

Answers follow the real ones (``ar-*.xml`` among the official samples): the same element
names, namespaces and order as the WSDL's data contracts, ``i:type`` on the result, the
``Common`` namespace for addresses and codes, ``CertificateDetails`` for certificates, and
faults with a ``GenericFault`` detail (``InvalidHerIdSupplied`` for an unknown HER-id).
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree

from kpr_gateway.messages.errors import MessagesError
from kpr_gateway.messages.xmlsafe import parse_xml
from kpr_gateway.registry import Operation, PartyType, QueueKind
from kpr_gateway.registry.wsdl import (
    CERTIFICATE_NS,
    COMMON_NS,
    INVALID_HER_ID_ERROR_CODE,
    PARTY_NS,
    SOAP12_MEDIA_TYPE,
    SOAP12_NS,
    WSA_NS,
    XSI_NS,
    canonical_her_id,
)
from kpr_gateway.simulator.errors import SimulatorError
from kpr_gateway.simulator.registry import RegistryParty, ServedAddress

MAX_REQUEST_BYTES: Final = 64 * 1024
RESPONSE_CONTENT_TYPE: Final = f"{SOAP12_MEDIA_TYPE}; charset=utf-8"
FaultCode = Literal["Sender", "Receiver", "VersionMismatch"]

_ADDRESS_CODE_TEXTS: Final = {
    QueueKind.ASYNC: "Asynkron AMQP kø",
    QueueKind.SYNC: "Synkron AMQP kø",
    QueueKind.ERROR: "Feilmelding AMQP kø",
}
_ADDRESS_TYPE_OID: Final = "9044"
_ADDRESS_SIMPLE_TYPE: Final = "type_adressekomponeneter"
_XSI_TYPES: Final = {
    PartyType.PERSON: "OrganizationPerson",
    PartyType.ORGANIZATION: "Organization",
    PartyType.SERVICE: "Service",
}
_XS_INT: Final = re.compile(r"[-+]?[0-9]{1,10}")
_VALID_FROM: Final = "2016-01-01T00:00:00"
_VALID_TO: Final = "9999-12-31T00:00:00"
_LDAP_URL: Final = "ldap://ldap.test.simulator/dc=KPR Gateway development CA?usercertificate;binary"


class RegistryRequestError(SimulatorError):
    """A request the registry cannot read; answered with a ``Sender`` fault."""

    def __init__(self, message: str, *, subcode: str | None = None) -> None:
        super().__init__(message)
        self.subcode = subcode


class UnsupportedMediaTypeError(RegistryRequestError):
    """Not ``application/soap+xml``: WCF answers 415 without a SOAP envelope."""


@dataclass(frozen=True)
class RegistryRequest:
    operation: Operation
    her_id: str | None
    """The canonical HER-id; None for Ping, and for a number that cannot be a HER-id."""
    message_id: str | None


def read_request(body: bytes, content_type: str | None) -> RegistryRequest:
    """Read one SOAP 1.2 request; the action must agree with the body's operation."""
    media_type, action = _media_type_and_action(content_type or "")
    if media_type != SOAP12_MEDIA_TYPE:
        raise UnsupportedMediaTypeError(f"content type {media_type or '(none)'} is not SOAP 1.2")
    try:
        root = parse_xml(body, max_bytes=MAX_REQUEST_BYTES)
    except MessagesError as exc:
        raise RegistryRequestError(f"the request is not accepted XML: {exc}") from exc
    if root.tag != f"{{{SOAP12_NS}}}Envelope":
        raise RegistryRequestError(
            "the request is not a SOAP 1.2 envelope", subcode="VersionMismatch"
        )
    header_action = root.findtext(f"{{{SOAP12_NS}}}Header/{{{WSA_NS}}}Action")
    message_id = root.findtext(f"{{{SOAP12_NS}}}Header/{{{WSA_NS}}}MessageID")
    call = next((child for child in root.iterfind(f"{{{SOAP12_NS}}}Body/*")), None)
    if call is None or etree.QName(call).namespace != PARTY_NS:
        raise RegistryRequestError("the SOAP Body holds no registry operation")
    operation = next((op for op in Operation if op.value == etree.QName(call).localname), None)
    if operation is None:
        raise RegistryRequestError("the operation is not served here", subcode="ActionNotSupported")
    for given in (action, header_action):
        if given is not None and given.strip() != operation.action:
            raise RegistryRequestError(
                "the action does not match the operation in the body",
                subcode="ActionNotSupported",
            )
    if operation is Operation.PING:
        return RegistryRequest(operation, None, message_id)
    # WCF reads a missing herId as 0, which names no party.
    text = (call.findtext(f"{{{PARTY_NS}}}herId") or "0").strip()
    if not _XS_INT.fullmatch(text):
        raise RegistryRequestError("herId is not an xs:int", subcode="DeserializationFailed")
    return RegistryRequest(operation, canonical_her_id(text), message_id)


def party_answer(
    party: RegistryParty,
    addresses: list[ServedAddress],
    parent: RegistryParty | None,
    *,
    relates_to: str | None,
    now: datetime,
) -> bytes:
    operation = Operation.GET_COMMUNICATION_PARTY_DETAILS
    envelope, response = _answer_envelope(operation, relates_to)
    result = etree.SubElement(
        response,
        _party(operation.result_element),
        nsmap={"i": XSI_NS},
    )
    xsi_type = _XSI_TYPES.get(party.type)
    if xsi_type is not None:
        result.set(f"{{{XSI_NS}}}type", xsi_type)
    _child(result, "Active", _bool(party.active))
    _child(result, "DisplayName", party.name)
    listed = etree.SubElement(result, _party("ElectronicAddresses"), nsmap={"b": COMMON_NS})
    for served in addresses:
        _address(listed, served, now)
    etree.SubElement(result, _party("FutureElectronicAddresses"), nsmap={"b": COMMON_NS})
    _child(result, "HerId", party.her_id)
    _child(result, "IsValidCommunicationParty", _bool(party.active and bool(addresses)))
    _child(result, "LastChanged", _datetime(now))
    _child(result, "Name", party.name)
    _child(result, "ParentHerId", parent.her_id if parent is not None else "-1")
    parent_name = _child(result, "ParentName", parent.name if parent is not None else None)
    if parent is None:
        parent_name.set(f"{{{XSI_NS}}}nil", "true")
    etree.SubElement(result, _party("PhysicalAddresses"), nsmap={"b": COMMON_NS})
    _child(result, "ServerTime", _datetime(now))
    _child(result, "Type", party.type.value)
    valid = etree.SubElement(result, _party("Valid"), nsmap={"b": COMMON_NS})
    etree.SubElement(valid, _common("From")).text = _VALID_FROM
    etree.SubElement(valid, _common("To")).text = _VALID_TO
    _extension(result, party.type)
    return _serialise(envelope)


def certificate_answer(
    operation: Operation, certificate: x509.Certificate | None, *, relates_to: str | None
) -> bytes:
    envelope, response = _answer_envelope(operation, relates_to)
    result = etree.SubElement(
        response, _party(operation.result_element), nsmap={"b": CERTIFICATE_NS, "i": XSI_NS}
    )
    if certificate is None:
        result.set(f"{{{XSI_NS}}}nil", "true")
    else:
        der = certificate.public_bytes(Encoding.DER)
        etree.SubElement(result, f"{{{CERTIFICATE_NS}}}Certificate").text = base64.b64encode(
            der
        ).decode("ascii")
        etree.SubElement(result, f"{{{CERTIFICATE_NS}}}LdapUrl").text = _LDAP_URL
    return _serialise(envelope)


def ping_answer(*, relates_to: str | None, now: datetime) -> bytes:
    envelope, response = _answer_envelope(Operation.PING, relates_to)
    _child(response, "PingResult", f"pong {_datetime(now)}")
    return _serialise(envelope)


def fault_answer(
    code: FaultCode,
    reason: str,
    *,
    subcode: str | None = None,
    error_code: str | None = None,
    operation: Operation | None = None,
    relates_to: str | None = None,
) -> bytes:
    """A SOAP 1.2 fault; ``error_code`` adds a ``GenericFault`` detail as the WSDL declares."""
    envelope = etree.Element(f"{{{SOAP12_NS}}}Envelope", nsmap={"s": SOAP12_NS, "a": WSA_NS})
    header = etree.SubElement(envelope, f"{{{SOAP12_NS}}}Header")
    fault_action = (
        f"{operation.action}GenericFaultFault"
        if operation is not None and error_code is not None
        else "http://www.w3.org/2005/08/addressing/soap/fault"
    )
    _header(header, fault_action, relates_to)
    body = etree.SubElement(envelope, f"{{{SOAP12_NS}}}Body")
    fault = etree.SubElement(body, f"{{{SOAP12_NS}}}Fault")
    code_element = etree.SubElement(fault, f"{{{SOAP12_NS}}}Code")
    etree.SubElement(code_element, f"{{{SOAP12_NS}}}Value").text = f"s:{code}"
    if subcode is not None:
        sub = etree.SubElement(code_element, f"{{{SOAP12_NS}}}Subcode")
        etree.SubElement(sub, f"{{{SOAP12_NS}}}Value").text = f"a:{subcode}"
    reason_element = etree.SubElement(fault, f"{{{SOAP12_NS}}}Reason")
    text = etree.SubElement(reason_element, f"{{{SOAP12_NS}}}Text")
    text.set("{http://www.w3.org/XML/1998/namespace}lang", "en-US")
    text.text = reason
    if error_code is not None:
        detail = etree.SubElement(fault, f"{{{SOAP12_NS}}}Detail")
        generic = etree.SubElement(
            detail,
            _common("GenericFault"),
            nsmap={None: COMMON_NS, "i": XSI_NS},  # type: ignore[dict-item]  # default prefix
        )
        etree.SubElement(generic, _common("ErrorCode")).text = error_code
        etree.SubElement(generic, _common("Message")).text = reason
    return _serialise(envelope)


def unknown_party_fault(operation: Operation, relates_to: str | None) -> bytes:
    return fault_answer(
        "Sender",
        "HER-id does not identify a communication party",
        error_code=INVALID_HER_ID_ERROR_CODE,
        operation=operation,
        relates_to=relates_to,
    )


def _answer_envelope(
    operation: Operation, relates_to: str | None
) -> tuple[etree._Element, etree._Element]:
    envelope = etree.Element(f"{{{SOAP12_NS}}}Envelope", nsmap={"s": SOAP12_NS, "a": WSA_NS})
    header = etree.SubElement(envelope, f"{{{SOAP12_NS}}}Header")
    _header(header, operation.response_action, relates_to)
    body = etree.SubElement(envelope, f"{{{SOAP12_NS}}}Body")
    response = etree.SubElement(
        body,
        _party(operation.response_element),
        nsmap={None: PARTY_NS},  # type: ignore[dict-item]  # lxml-stubs lack the default prefix
    )
    return envelope, response


def _header(header: etree._Element, action: str, relates_to: str | None) -> None:
    action_element = etree.SubElement(header, f"{{{WSA_NS}}}Action")
    action_element.set(f"{{{SOAP12_NS}}}mustUnderstand", "1")
    action_element.text = action
    if relates_to is not None:
        etree.SubElement(header, f"{{{WSA_NS}}}RelatesTo").text = relates_to


def _address(parent: etree._Element, served: ServedAddress, now: datetime) -> None:
    element = etree.SubElement(parent, _common("ElectronicAddress"))
    etree.SubElement(element, _common("Address")).text = served.address
    etree.SubElement(element, _common("Inherited")).text = _bool(served.inherited)
    etree.SubElement(element, _common("LastChanged")).text = _datetime(now)
    code = etree.SubElement(element, _common("Type"))
    etree.SubElement(code, _common("Active")).text = "true"
    etree.SubElement(code, _common("CodeText")).text = _ADDRESS_CODE_TEXTS[served.kind]
    etree.SubElement(code, _common("CodeValue")).text = served.kind.value
    etree.SubElement(code, _common("OID")).text = _ADDRESS_TYPE_OID
    etree.SubElement(code, _common("SimpleType")).text = _ADDRESS_SIMPLE_TYPE
    etree.SubElement(element, _common("TypeCodeValue")).text = served.kind.value


def _extension(result: etree._Element, party_type: PartyType) -> None:
    """The empty lists of the derived contract (``Service``, ``Organization``), as WCF writes."""
    if party_type is PartyType.SERVICE:
        etree.SubElement(result, _party("CoverageAreas"))
        etree.SubElement(result, _party("Properties"), nsmap={"b": COMMON_NS})
    elif party_type is PartyType.ORGANIZATION:
        etree.SubElement(result, _party("IndustryCodes"), nsmap={"b": COMMON_NS})
        etree.SubElement(result, _party("People"))
        etree.SubElement(result, _party("Properties"), nsmap={"b": COMMON_NS})
        etree.SubElement(result, _party("Services"))


def _child(parent: etree._Element, name: str, text: str | None) -> etree._Element:
    element = etree.SubElement(parent, _party(name))
    element.text = text
    return element


def _party(name: str) -> str:
    return f"{{{PARTY_NS}}}{name}"


def _common(name: str) -> str:
    return f"{{{COMMON_NS}}}{name}"


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _datetime(moment: datetime) -> str:
    return moment.isoformat()


def _media_type_and_action(content_type: str) -> tuple[str, str | None]:
    media_type, *parameters = content_type.split(";")
    action = None
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "action":
            action = value.strip().strip('"')
    return media_type.strip().lower(), action


def _serialise(envelope: etree._Element) -> bytes:
    return etree.tostring(envelope, encoding="utf-8", xml_declaration=False)
