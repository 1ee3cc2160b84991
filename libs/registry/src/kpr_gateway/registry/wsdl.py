"""Names from NHN's Address Registry WSDL (``ICommunicationPartyService``, SOAP 1.2 binding).

The SOAP 1.2 port (``WSHttpBinding``, e.g. ``https://ws-web.test.nhn.no/v1/AR``) requires
WS-Addressing 1.0 headers; the action of each operation is also the ``action`` parameter of
the request's ``Content-Type``.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Final

SOAP12_NS: Final = "http://www.w3.org/2003/05/soap-envelope"
SOAP11_NS: Final = "http://schemas.xmlsoap.org/soap/envelope/"
WSA_NS: Final = "http://www.w3.org/2005/08/addressing"
WSA_ANONYMOUS: Final = "http://www.w3.org/2005/08/addressing/anonymous"
XSI_NS: Final = "http://www.w3.org/2001/XMLSchema-instance"

PARTY_NS: Final = "http://register.nhn.no/CommunicationParty"
COMMON_NS: Final = "http://register.nhn.no/Common"
CERTIFICATE_NS: Final = "http://register.nhn.no/CertificateDetails"

SOAP12_MEDIA_TYPE: Final = "application/soap+xml"
_ACTION_BASE: Final = "http://register.nhn.no/CommunicationParty/ICommunicationPartyService/"

# WCF's code when the HER-id names no party (the reference client reads it the same way).
INVALID_HER_ID_ERROR_CODE: Final = "InvalidHerIdSupplied"

# HerId is an xs:int in the WSDL.
_HER_ID = re.compile(r"[1-9][0-9]{0,9}")
_MAX_HER_ID: Final = 2**31 - 1


class Operation(StrEnum):
    """The operations the gateway uses; the value is the request element's local name."""

    PING = "Ping"
    GET_COMMUNICATION_PARTY_DETAILS = "GetCommunicationPartyDetails"
    GET_CERTIFICATE_DETAILS_FOR_ENCRYPTION = "GetCertificateDetailsForEncryption"
    GET_CERTIFICATE_DETAILS_FOR_VALIDATING_SIGNATURE = "GetCertificateDetailsForValidatingSignature"

    @property
    def action(self) -> str:
        return _ACTION_BASE + self.value

    @property
    def response_action(self) -> str:
        return f"{self.action}Response"

    @property
    def response_element(self) -> str:
        return f"{self.value}Response"

    @property
    def result_element(self) -> str:
        return f"{self.value}Result"

    @classmethod
    def from_action(cls, action: str) -> Operation | None:
        if not action.startswith(_ACTION_BASE):
            return None
        name = action.removeprefix(_ACTION_BASE)
        return next((operation for operation in cls if operation.value == name), None)


def request_content_type(operation: Operation) -> str:
    """SOAP 1.2 carries the action in the media type (RFC 3902), not in a SOAPAction header."""
    return f'{SOAP12_MEDIA_TYPE}; charset=utf-8; action="{operation.action}"'


def canonical_her_id(her_id: str | int) -> str | None:
    """The HER-id as the registry's decimal ``xs:int``, or None if it cannot be a HER-id."""
    text = str(her_id).strip() if isinstance(her_id, int) else her_id.strip()
    if not _HER_ID.fullmatch(text) or int(text) > _MAX_HER_ID:
        return None
    return text
