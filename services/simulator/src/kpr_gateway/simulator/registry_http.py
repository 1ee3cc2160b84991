"""The simulated registry over HTTP: one POST route, as NHN's SOAP 1.2 endpoint behaves.

- ``401`` with a Basic challenge when credentials are configured and not given;
- ``503`` (plain text) while ``outage`` is ``unavailable``, a ``Receiver`` fault while it is
  ``fault``;
- ``415`` for anything but ``application/soap+xml``; ``413`` past the request size limit;
- faults with HTTP 500, as WCF sends them; answers with 200.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from kpr_gateway.registry import Operation
from kpr_gateway.security.certs import Usage
from kpr_gateway.simulator.registry import Outage, SimulatedRegistry
from kpr_gateway.simulator.registry_soap import (
    MAX_REQUEST_BYTES,
    RESPONSE_CONTENT_TYPE,
    RegistryRequest,
    RegistryRequestError,
    UnsupportedMediaTypeError,
    certificate_answer,
    fault_answer,
    party_answer,
    ping_answer,
    read_request,
    unknown_party_fault,
)

DEFAULT_REGISTRY_PATH: Final = "/registry"
_FAULT_STATUS: Final = 500
_CERTIFICATE_USES: Final = {
    Operation.GET_CERTIFICATE_DETAILS_FOR_ENCRYPTION: Usage.ENCRYPTION,
    Operation.GET_CERTIFICATE_DETAILS_FOR_VALIDATING_SIGNATURE: Usage.SIGNING,
}

_log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def registry_routes(
    registry: SimulatedRegistry,
    path: str = DEFAULT_REGISTRY_PATH,
    *,
    clock: Clock | None = None,
) -> list[BaseRoute]:
    """The SOAP endpoint at ``path``, to add to the simulator's health app."""
    now = clock or (lambda: datetime.now(UTC))

    async def endpoint(request: Request) -> Response:
        refusal = _refusal(registry, request)
        if refusal is not None:
            return refusal
        body = await _body(request)
        if body is None:
            return PlainTextResponse("Request Entity Too Large", status_code=413)
        return _call(registry, body, request.headers.get("content-type"), now())

    return [Route(path, endpoint, methods=["POST"])]


def _refusal(registry: SimulatedRegistry, request: Request) -> Response | None:
    """What is refused before the body is read: missing credentials, an outage."""
    if not registry.authorised(request.headers.get("authorization")):
        return PlainTextResponse(
            "Unauthorized",
            status_code=401,
            headers={"WWW-Authenticate": 'Basic realm="simulated Address Registry"'},
        )
    if registry.outage is Outage.UNAVAILABLE:
        return PlainTextResponse("Service Unavailable", status_code=503)
    return None


def _call(
    registry: SimulatedRegistry, body: bytes, content_type: str | None, moment: datetime
) -> Response:
    try:
        call = read_request(body, content_type)
    except UnsupportedMediaTypeError:
        return PlainTextResponse("Unsupported Media Type", status_code=415)
    except RegistryRequestError as exc:
        _log.info("registry request refused: %s", exc)
        return _soap(fault_answer("Sender", str(exc), subcode=exc.subcode), _FAULT_STATUS)
    if registry.outage is Outage.FAULT:
        return _soap(
            fault_answer(
                "Receiver",
                "The server was unable to process the request due to an internal error.",
                subcode="InternalServiceFault",
                relates_to=call.message_id,
            ),
            _FAULT_STATUS,
        )
    registry.requests[call.operation] += 1
    return _answer(registry, call, moment)


def _answer(registry: SimulatedRegistry, call: RegistryRequest, moment: datetime) -> Response:
    if call.operation is Operation.PING:
        return _soap(ping_answer(relates_to=call.message_id, now=moment), 200)
    party = registry.party(call.her_id) if call.her_id is not None else None
    if party is None:
        _log.info("registry %s: unknown HER-id", call.operation.value)
        return _soap(unknown_party_fault(call.operation, call.message_id), _FAULT_STATUS)
    usage = _CERTIFICATE_USES.get(call.operation)
    if usage is not None:
        certificate = registry.certificate(party, usage)
        return _soap(
            certificate_answer(call.operation, certificate, relates_to=call.message_id), 200
        )
    answer = party_answer(
        party,
        registry.addresses(party),
        registry.parent(party),
        relates_to=call.message_id,
        now=moment,
    )
    return _soap(answer, 200)


async def _body(request: Request) -> bytes | None:
    """The request body, or None once it passes ``MAX_REQUEST_BYTES``."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_REQUEST_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _soap(content: bytes, status: int) -> Response:
    return Response(content, status_code=status, media_type=RESPONSE_CONTENT_TYPE)
