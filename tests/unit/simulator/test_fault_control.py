"""Fault control for tests: faults replaced while running (``PUT /faults``), the duplicate
AppRec fault, and what arrived (``GET /received``) for a comparison with the ledger."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from kpr_gateway.messages.apprec import AppRecStatusCode
from kpr_gateway.messages.msghead import parse_msghead
from kpr_gateway.nhn import InMemoryNhnBroker, InMemoryNhnTransport
from kpr_gateway.security.devpki import DevPki
from kpr_gateway.simulator import Fault, FaultDice, Faults, Simulator, SimulatorConfigError
from kpr_gateway.simulator.service import SimulatorProcess
from kpr_gateway.simulator.settings import SimulatorSettings
from tests.unit.simulator.support import (
    KPR_QUEUE,
    SENDER_ASYNC,
    Party,
    chain,
    counter,
    fhi_credentials,
    kpr_ipl,
    nhn_message,
    running,
    sealed,
    sender_of,
)


def test_the_duplicate_share_is_a_range_of_its_own() -> None:
    dice = FaultDice(Faults(duplicate_apprec_share=1))
    assert {dice.roll() for _ in range(50)} == {Fault.DUPLICATE_APPREC}
    with pytest.raises(SimulatorConfigError, match="exceed 1"):
        Faults(reject_share=0.5, duplicate_apprec_share=0.6)
    with pytest.raises(SimulatorConfigError, match="duplicate_apprec_share"):
        Faults(duplicate_apprec_share=1.2)


def test_settings_add_the_duplicate_share_to_the_others() -> None:
    with pytest.raises(ValueError, match="add up to more than 1"):
        SimulatorSettings.model_validate(
            {
                "signing_certificate": "s.pem",
                "signing_key": "s.key",
                "encryption_certificate": "e.pem",
                "encryption_key": "e.key",
                "parties_file": "p.yaml",
                "no_answer_share": 0.5,
                "duplicate_apprec_share": 0.6,
            }
        )


async def test_the_duplicate_fault_answers_the_same_apprec_twice(
    pki: DevPki, broker: InMemoryNhnBroker, party: Party
) -> None:
    message = nhn_message(sealed(pki, kpr_ipl()))
    async with running(pki, broker, faults=Faults(duplicate_apprec_share=1)) as simulator:
        await party.send(message)
        first = await party.next_on(SENDER_ASYNC)
        second = await party.next_on(SENDER_ASYNC)
    assert first.correlation_id == second.correlation_id == message.message_id
    assert first.message_id == second.message_id  # the same AMQP message, as a redelivery
    assert party.open_apprec(first) == party.open_apprec(second)
    assert party.open_apprec(first).status.code is AppRecStatusCode.OK
    assert counter(simulator, "duplicate_answers") == 1
    assert counter(simulator, "answered", status="1") == 1


async def test_set_faults_applies_from_the_next_message(
    pki: DevPki, broker: InMemoryNhnBroker, party: Party
) -> None:
    async with running(pki, broker, faults=Faults(reject_share=1)) as simulator:
        rejected = await party.answer_to(nhn_message(sealed(pki, kpr_ipl())))
        simulator.set_faults(Faults())
        accepted = await party.answer_to(nhn_message(sealed(pki, kpr_ipl(chain(4)[3:]))))
    assert rejected.status.code is AppRecStatusCode.REJECTED
    assert accepted.status.code is AppRecStatusCode.OK


@pytest.fixture
async def controlled(
    pki: DevPki, broker: InMemoryNhnBroker
) -> AsyncIterator[tuple[Simulator, httpx.AsyncClient]]:
    simulator = Simulator(
        transport=InMemoryNhnTransport(broker),
        credentials=fhi_credentials(pki),
        senders=[sender_of(pki)],
        queues=[KPR_QUEUE],
        faults=Faults(seed=5, transport_error_condition="transport:expired-message"),
        track_received=True,
    )
    process = SimulatorProcess(simulator, host="127.0.0.1", port=0, fault_control=True)
    await process.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{process.port}") as client:
            yield simulator, client
    finally:
        await process.stop(drain_seconds=5)


async def test_put_faults_replaces_every_share_and_keeps_the_rest(
    controlled: tuple[Simulator, httpx.AsyncClient], pki: DevPki, party: Party
) -> None:
    simulator, client = controlled
    put = await client.put("/faults", json={"reject_share": 1})
    assert put.status_code == 200
    assert put.json() == {
        "reject_share": 1,
        "transport_error_share": 0.0,
        "no_answer_share": 0.0,
        "duplicate_apprec_share": 0.0,
        "delay_seconds": 0.0,
    }
    rejected = await party.answer_to(nhn_message(sealed(pki, kpr_ipl())))
    assert rejected.status.code is AppRecStatusCode.REJECTED
    assert (simulator.faults.seed, simulator.faults.transport_error_condition) == (
        5,
        "transport:expired-message",
    )
    again = await client.put("/faults", json={"duplicate_apprec_share": 0.5, "delay_seconds": 0})
    assert again.status_code == 200
    shown = (await client.get("/faults")).json()
    assert (shown["reject_share"], shown["duplicate_apprec_share"]) == (0.0, 0.5)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"reject_share": 0.7, "no_answer_share": 0.7}', "exceed 1"),
        (b'{"reject_share": 2}', "reject_share"),
        (b'{"seed": 3}', "not a fault that can be set: seed"),
        (b'{"reject_share": "1"}', "number"),
        (b'{"reject_share": true}', "number"),
        (b"[0.5]", "not a JSON object"),
        (b"reject", "not JSON"),
    ],
)
async def test_impossible_faults_are_refused_and_change_nothing(
    controlled: tuple[Simulator, httpx.AsyncClient], body: bytes, reason: str
) -> None:
    simulator, client = controlled
    before = simulator.faults
    answer = await client.put("/faults", content=body)
    assert answer.status_code == 422
    assert reason in answer.json()["message"]
    assert simulator.faults == before


async def test_received_counts_each_msg_id_and_notifications_in_several_messages(
    controlled: tuple[Simulator, httpx.AsyncClient], pki: DevPki, party: Party
) -> None:
    _, client = controlled
    first = kpr_ipl(chain(3))
    resent = kpr_ipl(chain(3))  # the same notifications in a new message (a resend)
    message = nhn_message(sealed(pki, first))
    await party.answer_to(message)
    await party.answer_to(message)  # the same message again (a redelivery)
    await party.answer_to(nhn_message(sealed(pki, resent)))
    await party.answer_to(nhn_message(sealed(pki, kpr_ipl(chain(5)[3:]))))
    await party.send(nhn_message(sealed(pki, b"<not-a-msghead/>")))
    await party.next_on(SENDER_ASYNC.replace("_async", "_error"))
    received: dict[str, Any] = (await client.get("/received")).json()

    first_id, resent_id = parse_msghead(first).msg_id, parse_msghead(resent).msg_id
    assert received["messages"][first_id] == 2
    assert received["messages"][resent_id] == 1
    assert len(received["messages"]) == 3
    assert received["unread"] == 1
    assert received["notifications"] == 5
    repeated = received["repeated_notifications"]
    assert set(repeated) == {str(n.notification.event_id) for n in chain(3)}
    assert set(map(tuple, repeated.values())) == {(first_id, resent_id)}


async def test_without_fault_control_there_are_no_such_routes(
    pki: DevPki, broker: InMemoryNhnBroker
) -> None:
    simulator = Simulator(
        transport=InMemoryNhnTransport(broker),
        credentials=fhi_credentials(pki),
        senders=[sender_of(pki)],
        queues=[KPR_QUEUE],
    )
    process = SimulatorProcess(simulator, host="127.0.0.1", port=0)
    await process.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{process.port}") as client:
            put = await client.put("/faults", json={"reject_share": 1})
            received = await client.get("/received")
    finally:
        await process.stop(drain_seconds=5)
    assert (put.status_code, received.status_code) == (404, 404)
    assert simulator.received is None
    assert simulator.faults == Faults()
