"""The simulated registry as an HTTP endpoint, and the parties it is built from."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from kpr_gateway.registry import Operation, PartyType, QueueKind
from kpr_gateway.registry.soap import build_request
from kpr_gateway.registry.wsdl import request_content_type
from kpr_gateway.security.certs import Usage
from kpr_gateway.security.devpki import DevPki
from kpr_gateway.simulator import SimulatorConfigError, known_sender
from kpr_gateway.simulator.registry import (
    QUEUE_HOST,
    Outage,
    RegistryParty,
    ServedAddress,
    SimulatedRegistry,
    simulated_registry,
)
from kpr_gateway.simulator.registry_http import registry_routes
from kpr_gateway.simulator.registry_soap import MAX_REQUEST_BYTES
from tests.unit.simulator.support import KPR_HER_ID, SENDER_HER_ID, fhi_credentials, sender_of

URL = "http://simulator.test/registry"
PARTY = Operation.GET_COMMUNICATION_PARTY_DETAILS


def the_registry(pki: DevPki, **options: str) -> SimulatedRegistry:
    return simulated_registry([sender_of(pki)], fhi_credentials(pki), **options)


async def post(
    registry: SimulatedRegistry,
    body: bytes,
    *,
    content_type: str = request_content_type(PARTY),
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    app = Starlette(routes=registry_routes(registry))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
        return await http.post(
            URL, content=body, headers={"Content-Type": content_type, **(headers or {})}
        )


def request(her_id: str = KPR_HER_ID, operation: Operation = PARTY) -> bytes:
    return build_request(operation, to=URL, message_id="urn:uuid:3", her_id=her_id)


async def test_answers_and_counts(pki: DevPki) -> None:
    registry = the_registry(pki)
    response = await post(registry, request())

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/soap+xml; charset=utf-8"
    assert f"{QUEUE_HOST}/{KPR_HER_ID}_async".encode() in response.content
    assert registry.requests == {PARTY: 1}


async def test_unknown_her_id_is_a_generic_fault(pki: DevPki) -> None:
    response = await post(the_registry(pki), request("99999"))

    assert response.status_code == 500
    assert b"<ErrorCode>InvalidHerIdSupplied</ErrorCode>" in response.content
    assert b"GetCommunicationPartyDetailsGenericFaultFault" in response.content


async def test_unreadable_request_is_a_sender_fault(pki: DevPki) -> None:
    response = await post(the_registry(pki), b"<not-soap/>")
    assert response.status_code == 500
    assert b"<s:Value>s:Sender</s:Value>" in response.content


async def test_http_refusals(pki: DevPki) -> None:
    registry = the_registry(pki)
    app = Starlette(routes=registry_routes(registry))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
        assert (await http.get(URL)).status_code == 405
    assert (await post(registry, request(), content_type="text/xml")).status_code == 415
    huge = b" " * (MAX_REQUEST_BYTES + 1)
    assert (await post(registry, huge)).status_code == 413
    assert sum(registry.requests.values()) == 0


async def test_outages(pki: DevPki) -> None:
    registry = the_registry(pki)
    registry.outage = Outage.UNAVAILABLE
    unavailable = await post(registry, request())
    registry.outage = Outage.FAULT
    fault = await post(registry, request())
    registry.outage = None
    back = await post(registry, request())

    assert unavailable.status_code == 503
    assert fault.status_code == 500
    assert b"s:Receiver" in fault.content
    assert back.status_code == 200
    assert registry.requests == {PARTY: 1}


async def test_basic_authentication(pki: DevPki) -> None:
    registry = the_registry(pki, username="kprgw", password="pw")

    def basic(credentials: bytes) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(credentials).decode()}

    missing = await post(registry, request())
    wrong = await post(registry, request(), headers=basic(b"kprgw:nope"))
    garbled = await post(registry, request(), headers={"Authorization": "Basic %%%"})
    bearer = await post(registry, request(), headers={"Authorization": "Bearer pw"})
    right = await post(registry, request(), headers=basic(b"kprgw:pw"))

    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Basic ")
    assert {wrong.status_code, garbled.status_code, bearer.status_code} == {401}
    assert right.status_code == 200


def test_parties_of_the_simulator(pki: DevPki) -> None:
    registry = the_registry(pki)
    fhi = registry.party("85217")
    kpr = registry.party(KPR_HER_ID)
    sender = registry.party(SENDER_HER_ID)
    assert fhi is not None
    assert kpr is not None
    assert sender is not None

    assert set(registry.parties) == {"85217", "122612", "171479", "8133973", SENDER_HER_ID}
    assert fhi.type is PartyType.ORGANIZATION
    assert kpr.parent_her_id == "85217"
    assert registry.certificate(kpr, Usage.SIGNING) == pki.party("fhi").signing.certificate
    assert registry.certificate(sender, Usage.ENCRYPTION) == (
        pki.party("kommune").encryption.certificate
    )
    assert registry.addresses(sender) == [
        ServedAddress(QueueKind.ASYNC, f"{QUEUE_HOST}/{SENDER_HER_ID}_async", inherited=False),
        ServedAddress(QueueKind.ERROR, f"{QUEUE_HOST}/{SENDER_HER_ID}_error", inherited=False),
    ]


def test_inheritance_can_be_switched_off() -> None:
    parties = [
        RegistryParty("1", "Parent", PartyType.ORGANIZATION, async_queue="p_async"),
        RegistryParty("2", "Child", PartyType.SERVICE, parent_her_id="1"),
    ]
    child = parties[1]
    inheriting = SimulatedRegistry(parties)
    own_only = SimulatedRegistry(parties, inherit=False)

    assert inheriting.addresses(child) == [
        ServedAddress(QueueKind.ASYNC, f"{QUEUE_HOST}/p_async", inherited=True)
    ]
    assert own_only.addresses(child) == []


@pytest.mark.parametrize(
    ("parties", "options", "reason"),
    [
        ([RegistryParty("1", "A", PartyType.SERVICE)] * 2, {}, "given twice"),
        (
            [RegistryParty("2", "A", PartyType.SERVICE, parent_her_id="1")],
            {},
            "parent 1 is unknown",
        ),
        ([], {"username": "u"}, "go together"),
    ],
)
def test_registry_configuration_errors(
    parties: list[RegistryParty], options: dict[str, Any], reason: str
) -> None:
    with pytest.raises(SimulatorConfigError, match=reason):
        SimulatedRegistry(parties, **options)


def test_a_sender_cannot_take_a_kpr_her_id(pki: DevPki) -> None:
    kommune = pki.party("kommune")
    clash = known_sender(KPR_HER_ID, kommune.signing.certificate, kommune.encryption.certificate)
    with pytest.raises(SimulatorConfigError, match=f"{KPR_HER_ID} is given twice"):
        simulated_registry([clash], fhi_credentials(pki))
