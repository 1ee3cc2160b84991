"""The Address Registry client: SOAP 1.2 over httpx, HTTP basic authentication.

``base_url`` is the SOAP 1.2 endpoint itself (NHN's test registry:
``https://ws-web.test.nhn.no/v1/AR``); each operation is a POST of one envelope to it. Every
failure is a ``RegistryError``: transport problems, timeouts, HTTP 5xx and ``Receiver`` faults
are ``RegistryUnavailableError`` (transient), the rest say why the answer is final.
"""

from __future__ import annotations

import logging
import time
import uuid
from types import TracebackType
from typing import Any, Final, Self

import httpx
from cryptography import x509
from lxml import etree

from kpr_gateway.messages.errors import UnsafeXmlError
from kpr_gateway.registry.certificates import parse_certificate_details
from kpr_gateway.registry.errors import (
    CertificateNotFoundError,
    PartyNotFoundError,
    RegistryAuthenticationError,
    RegistryError,
    RegistryFaultError,
    RegistryResponseError,
    RegistryUnavailableError,
)
from kpr_gateway.registry.party import CommunicationParty, parse_communication_party
from kpr_gateway.registry.soap import (
    MAX_RESPONSE_BYTES,
    SoapFault,
    build_request,
    parse_envelope,
    result_of,
)
from kpr_gateway.registry.wsdl import (
    INVALID_HER_ID_ERROR_CODE,
    Operation,
    canonical_her_id,
    request_content_type,
)

DEFAULT_TIMEOUT: Final = 10.0

_log = logging.getLogger(__name__)
_XML_MEDIA_TYPES = frozenset({"application/soap+xml", "text/xml", "application/xml"})
_TRANSIENT_STATUSES = frozenset({408, 429})
_AUTH_STATUSES = frozenset({401, 403})
# WS-Security fault subcodes that mean "who are you?" rather than "what do you want?".
_SECURITY_SUBCODES = frozenset({"InvalidSecurity", "InvalidSecurityToken", "FailedAuthentication"})


class AddressRegistryClient:
    """Async client of ``ICommunicationPartyService``; pass ``http`` to share a connection pool.

    A client it creates itself is closed by ``aclose()`` (or ``async with``); one passed in is
    left to its owner.
    """

    def __init__(
        self,
        base_url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        if (username is None) != (password is None):
            raise ValueError("username and password go together")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self._url = base_url
        self._auth = None if username is None else httpx.BasicAuth(username, password or "")
        self._timeout = timeout
        self._http = http if http is not None else httpx.AsyncClient()
        self._owns_http = http is None

    @property
    def base_url(self) -> str:
        return self._url

    @property
    def http(self) -> httpx.AsyncClient:
        """The connection pool; others may share it (the CRL fetches), never close it."""
        return self._http

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def get_communication_party_details(self, her_id: str | int) -> CommunicationParty:
        number = _her_id(her_id)
        operation = Operation.GET_COMMUNICATION_PARTY_DETAILS
        result = await self._call(operation, number)
        if result is None:
            raise PartyNotFoundError(
                f"{operation.value}: no communication party has HER-id {number}", her_id=number
            )
        party = parse_communication_party(result)
        if party.her_id != number:
            raise RegistryResponseError(
                f"{operation.value}: asked for HER-id {number}, the answer is for {party.her_id}"
            )
        return party

    async def get_certificate_details_for_encryption(self, her_id: str | int) -> x509.Certificate:
        return await self._certificate(Operation.GET_CERTIFICATE_DETAILS_FOR_ENCRYPTION, her_id)

    async def get_certificate_details_for_validating_signature(
        self, her_id: str | int
    ) -> x509.Certificate:
        return await self._certificate(
            Operation.GET_CERTIFICATE_DETAILS_FOR_VALIDATING_SIGNATURE, her_id
        )

    async def ping(self) -> bool:
        """True when the registry answers ``Ping``; for readiness checks."""
        try:
            await self._call(Operation.PING, None)
        except RegistryError as exc:
            _log.warning("address registry ping failed: %s", type(exc).__name__)
            return False
        return True

    async def _certificate(self, operation: Operation, her_id: str | int) -> x509.Certificate:
        number = _her_id(her_id)
        result = await self._call(operation, number)
        certificate = None if result is None else parse_certificate_details(result)
        if certificate is None:
            raise CertificateNotFoundError(
                f"{operation.value}: the registry holds no certificate for HER-id {number}",
                her_id=number,
            )
        return certificate

    async def _call(self, operation: Operation, her_id: str | None) -> etree._Element | None:
        where = operation.value if her_id is None else f"{operation.value} for HER-id {her_id}"
        request = build_request(
            operation, to=self._url, message_id=f"urn:uuid:{uuid.uuid4()}", her_id=her_id
        )
        started = time.perf_counter()
        status, media_type, data = await self._post(operation, request, where)
        _log.debug(
            "address registry %s: HTTP %d in %.0f ms",
            where,
            status,
            (time.perf_counter() - started) * 1000,
        )
        transient = status >= 500 or status in _TRANSIENT_STATUSES
        if status in _AUTH_STATUSES:
            raise RegistryAuthenticationError(f"{where}: the registry refused our credentials")
        if media_type not in _XML_MEDIA_TYPES:
            if transient:
                raise RegistryUnavailableError(f"{where}: the registry answered HTTP {status}")
            raise RegistryResponseError(
                f"{where}: HTTP {status} with content type {media_type or '(none)'}, not SOAP"
            )
        try:
            payload = parse_envelope(data)
        except RegistryResponseError as exc:
            if transient and not isinstance(exc.__cause__, UnsafeXmlError):
                raise RegistryUnavailableError(
                    f"{where}: the registry answered HTTP {status}"
                ) from exc
            raise RegistryResponseError(f"{where}: {exc}") from exc
        if isinstance(payload, SoapFault):
            raise _fault_error(payload, where, her_id)
        if not 200 <= status < 300:
            raise RegistryResponseError(f"{where}: HTTP {status} without a SOAP fault")
        try:
            return result_of(payload, operation)
        except RegistryResponseError as exc:
            raise RegistryResponseError(f"{where}: {exc}") from exc

    async def _post(
        self, operation: Operation, request: bytes, where: str
    ) -> tuple[int, str, bytes]:
        options: dict[str, Any] = {}
        if self._auth is not None:
            options["auth"] = self._auth
        try:
            async with self._http.stream(
                "POST",
                self._url,
                content=request,
                headers={"Content-Type": request_content_type(operation)},
                timeout=self._timeout,
                **options,
            ) as response:
                data = await _read_limited(response, where)
                media_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
                return response.status_code, media_type, data
        except httpx.TimeoutException as exc:
            raise RegistryUnavailableError(
                f"{where}: no answer within {self._timeout:g} s"
            ) from exc
        except httpx.TransportError as exc:
            raise RegistryUnavailableError(
                f"{where}: the registry cannot be reached ({type(exc).__name__})"
            ) from exc


async def _read_limited(response: httpx.Response, where: str) -> bytes:
    """The body, refusing answers over ``MAX_RESPONSE_BYTES`` before they fill memory."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            raise RegistryResponseError(
                f"{where}: the answer exceeds {MAX_RESPONSE_BYTES} bytes; refused"
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _her_id(her_id: str | int) -> str:
    number = canonical_her_id(her_id)
    if number is None:
        # The value may come from a peer's message; it is not echoed (it could be anything).
        raise PartyNotFoundError("not a HER-id (a positive whole number of up to 10 digits)")
    return number


def _fault_error(fault: SoapFault, where: str, her_id: str | None) -> RegistryError:
    if fault.error_code == INVALID_HER_ID_ERROR_CODE:
        return PartyNotFoundError(
            f"{where}: the registry knows no party with this HER-id", her_id=her_id
        )
    if _SECURITY_SUBCODES.intersection(fault.subcodes):
        return RegistryAuthenticationError(
            f"{where}: the registry refused our credentials (fault {fault.describe()})"
        )
    if fault.code == "Receiver":
        return RegistryUnavailableError(
            f"{where}: the registry failed on its side (fault {fault.describe()})"
        )
    return RegistryFaultError(
        f"{where}: the registry refused the request (fault {fault.describe()})",
        code=fault.code,
        subcodes=fault.subcodes,
        error_code=fault.error_code,
    )
