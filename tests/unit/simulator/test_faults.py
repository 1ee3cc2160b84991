"""Fault injection: shares of rejected, bounced and unanswered messages, a delay, a seed."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from kpr_gateway.messages.apprec import AppRecStatusCode
from kpr_gateway.nhn import InMemoryNhnBroker, read_transport_error
from kpr_gateway.security.devpki import DevPki
from kpr_gateway.simulator import Fault, FaultDice, Faults, SimulatorConfigError
from tests.unit.simulator.support import (
    KPR_QUEUE,
    SENDER_ASYNC,
    SENDER_ERROR,
    Party,
    counter,
    kpr_ipl,
    nhn_message,
    running,
    sealed,
    wait_for_count,
)


def rolls(faults: Faults, count: int) -> list[Fault]:
    dice = FaultDice(faults)
    return [dice.roll() for _ in range(count)]


def test_no_faults_by_default() -> None:
    assert set(rolls(Faults(), 200)) == {Fault.NONE}


@pytest.mark.parametrize(
    ("faults", "fault"),
    [
        (Faults(reject_share=1), Fault.REJECT),
        (Faults(transport_error_share=1), Fault.TRANSPORT_ERROR),
        (Faults(no_answer_share=1), Fault.NO_ANSWER),
    ],
)
def test_a_share_of_one_hits_every_message(faults: Faults, fault: Fault) -> None:
    assert set(rolls(faults, 200)) == {fault}


def test_shares_divide_the_messages_and_a_seed_repeats_them() -> None:
    faults = Faults(reject_share=0.2, transport_error_share=0.1, no_answer_share=0.1, seed=7)
    first = rolls(faults, 2_000)
    assert rolls(faults, 2_000) == first
    counts = Counter(first)
    assert 0.15 < counts[Fault.REJECT] / 2_000 < 0.25
    assert 0.06 < counts[Fault.TRANSPORT_ERROR] / 2_000 < 0.14
    assert 0.06 < counts[Fault.NO_ANSWER] / 2_000 < 0.14
    assert rolls(Faults(reject_share=0.5, seed=8), 50) != rolls(
        Faults(reject_share=0.5, seed=7), 50
    )


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        ({"reject_share": 1.5}, "reject_share"),
        ({"no_answer_share": -0.1}, "no_answer_share"),
        ({"reject_share": 0.6, "transport_error_share": 0.5}, "exceed 1"),
        ({"delay_seconds": -1}, "delay_seconds"),
        ({"transport_error_condition": " "}, "condition"),
    ],
)
def test_impossible_faults_are_refused(options: dict[str, float | str], reason: str) -> None:
    with pytest.raises(SimulatorConfigError, match=reason):
        Faults(**options)  # type: ignore[arg-type]


async def test_reject_share_rejects_valid_messages(
    pki: DevPki, broker: InMemoryNhnBroker, party: Party
) -> None:
    async with running(pki, broker, faults=Faults(reject_share=1)) as simulator:
        await party.send(nhn_message(sealed(pki, kpr_ipl())))
        apprec = party.open_apprec(await party.next_on(SENDER_ASYNC))
    assert apprec.status.code is AppRecStatusCode.REJECTED
    assert [(e.code, e.text) for e in apprec.errors] == [("X99", "Annen feil")]
    assert "simulated" in (apprec.errors[0].ref or "")
    assert counter(simulator, "answered", status="2") == 1


async def test_no_answer_share_accepts_and_stays_silent(
    pki: DevPki, broker: InMemoryNhnBroker, party: Party
) -> None:
    async with running(pki, broker, faults=Faults(no_answer_share=1)) as simulator:
        for _ in range(3):
            await party.send(nhn_message(sealed(pki, kpr_ipl())))
        await wait_for_count(simulator, "unanswered", 3, reason="no_answer")
    assert broker.depth(SENDER_ASYNC) == broker.depth(SENDER_ERROR) == 0
    assert broker.depth(KPR_QUEUE) == 0
    assert broker.dead_letters == []


@pytest.mark.parametrize("condition", [None, "transport:expired-message"])
async def test_transport_error_share_bounces_to_the_error_queue(
    pki: DevPki, broker: InMemoryNhnBroker, party: Party, condition: str | None
) -> None:
    faults = Faults(transport_error_share=1)
    if condition is not None:
        faults = Faults(transport_error_share=1, transport_error_condition=condition)
    message = nhn_message(sealed(pki, kpr_ipl()))
    async with running(pki, broker, faults=faults):
        await party.send(message)
        answer = await party.next_on(SENDER_ERROR)
    error = read_transport_error(answer.application_properties())
    assert error.original_message_id == message.message_id
    assert error.condition == (condition or "transport:internal-error")
    assert "simulated" in error.description
    assert broker.depth(SENDER_ASYNC) == 0


async def test_delay_holds_the_answer_back(
    pki: DevPki, broker: InMemoryNhnBroker, party: Party
) -> None:
    async with running(pki, broker, faults=Faults(delay_seconds=0.3)):
        started = time.monotonic()
        await party.send(nhn_message(sealed(pki, kpr_ipl())))
        await party.next_on(SENDER_ASYNC)
        waited = time.monotonic() - started
    assert waited >= 0.3


async def test_a_seed_gives_the_same_answers_in_the_same_order(pki: DevPki, party: Party) -> None:
    faults = Faults(reject_share=0.5, seed=3)
    expected = [2 if fault is Fault.REJECT else 1 for fault in rolls(faults, 6)]
    assert set(expected) == {1, 2}  # the seed mixes both outcomes
    body = sealed(pki, kpr_ipl())
    async with running(pki, party.broker, faults=faults, credit=1):
        statuses = []
        for _ in expected:  # one at a time: the order of draws is the order of messages
            await party.send(nhn_message(body))
            answer = await party.next_on(SENDER_ASYNC)
            statuses.append(int(party.open_apprec(answer).status.code))
    assert statuses == expected


def test_reject_senders_always_draw_a_rejection() -> None:
    dice = FaultDice(Faults(reject_senders=frozenset({"91002"}), seed=1))
    assert [dice.roll("91002") for _ in range(5)] == [Fault.REJECT] * 5
    assert {dice.roll("92002") for _ in range(5)} == {Fault.NONE}
