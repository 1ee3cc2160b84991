"""The simulator answers for each sender's chain: forks are rejected, repeats accepted, and
the answer to a message after a gap waits for the gap to close, or rejects it in the end."""

from __future__ import annotations

import time

from kpr_gateway.messages.apprec import AppRec, AppRecStatusCode
from kpr_gateway.nhn import InMemoryNhnBroker, InMemoryNhnTransport
from kpr_gateway.security.devpki import DevPki
from kpr_gateway.simulator import Faults, Simulator
from tests.unit.simulator.support import (
    KPR_QUEUE,
    SENDER_ASYNC,
    Party,
    chain,
    counter,
    fhi_credentials,
    gauge,
    kpr_message,
    running,
    sender_of,
    wait_until,
)


def refs(apprec: AppRec) -> list[str]:
    return [error.ref or "" for error in apprec.errors]


async def test_consecutive_messages_are_accepted(
    pki: DevPki, broker: InMemoryNhnBroker, party: Party
) -> None:
    numbered = chain(7)
    async with running(pki, broker):
        for part in (numbered[:3], numbered[3:4], numbered[4:]):
            apprec = await party.answer_to(kpr_message(pki, part))
            assert apprec.status.code is AppRecStatusCode.OK


async def test_a_fork_is_rejected_naming_the_number(
    pki: DevPki, broker: InMemoryNhnBroker, party: Party
) -> None:
    async with running(pki, broker) as simulator:
        await party.answer_to(kpr_message(pki, chain(3)))
        forked = await party.answer_to(kpr_message(pki, chain(5, branch=1)[2:]))
        # The fork was not recorded: the chain goes on from its own seq 3.
        onward = await party.answer_to(kpr_message(pki, chain(5)[3:]))

    assert forked.status.code is AppRecStatusCode.REJECTED
    assert {(e.code, e.text) for e in forked.errors} == {("KPR21", "Brudd i notifikasjonskjeden")}
    assert refs(forked) == [
        "seq 3: received before with another notifikasjonGUID",
        "seq 3: notifikasjonForrigeGUID is not the GUID received as seq 2",
    ]
    assert onward.status.code is AppRecStatusCode.OK
    assert counter(simulator, "chain_rejections", kind="fork") == 1


async def test_a_repeat_is_accepted(pki: DevPki, broker: InMemoryNhnBroker, party: Party) -> None:
    numbered = chain(3)
    async with running(pki, broker):
        first = await party.answer_to(kpr_message(pki, numbered))
        resent = await party.answer_to(kpr_message(pki, numbered))
    assert first.status.code is resent.status.code is AppRecStatusCode.OK


async def test_after_a_gap_the_answer_waits_until_the_gap_closes(
    pki: DevPki, broker: InMemoryNhnBroker, party: Party
) -> None:
    numbered = chain(6)
    late, early = kpr_message(pki, numbered[:3]), kpr_message(pki, numbered[3:])
    # One message in flight at a time: a held answer must not hold up the queue.
    async with running(pki, broker, credit=1) as simulator:
        await party.send(early)
        await wait_until(lambda: gauge(simulator, "held") == 1)
        assert broker.depth(KPR_QUEUE) == 0  # accepted while its answer waits
        assert broker.depth(SENDER_ASYNC) == 0
        await party.send(late)
        answers = [await party.next_on(SENDER_ASYNC) for _ in range(2)]
        assert gauge(simulator, "held") == 0

    by_message = {answer.correlation_id: party.open_apprec(answer) for answer in answers}
    assert by_message.keys() == {late.message_id, early.message_id}
    for apprec in by_message.values():
        assert apprec.status.code is AppRecStatusCode.OK
        assert apprec.errors == []


async def test_a_gap_that_stays_open_is_rejected_after_the_grace_period(
    pki: DevPki, broker: InMemoryNhnBroker, party: Party
) -> None:
    numbered = chain(9)
    async with running(pki, broker, gap_grace_seconds=0.3) as simulator:
        await party.answer_to(kpr_message(pki, numbered[:3]))
        started = time.monotonic()
        apprec = await party.answer_to(kpr_message(pki, numbered[6:]))
        waited = time.monotonic() - started
        # Recorded all the same: what follows it is no gap.
        onward = await party.answer_to(kpr_message(pki, chain(10)[9:]), timeout=0.25)

    assert waited >= 0.3
    assert apprec.status.code is AppRecStatusCode.REJECTED
    assert [(e.code, e.text) for e in apprec.errors] == [("KPR20", "Hull i notifikasjonskjeden")]
    assert refs(apprec) == ["seq 7 follows a gap: seqs 4 to 6 not received"]
    assert onward.status.code is AppRecStatusCode.OK
    assert counter(simulator, "chain_rejections", kind="gap") == 1


async def test_held_answers_are_given_when_the_simulator_stops(
    pki: DevPki, broker: InMemoryNhnBroker, party: Party
) -> None:
    message = kpr_message(pki, chain(4)[3:])
    async with running(pki, broker) as simulator:
        await party.send(message)
        await wait_until(lambda: gauge(simulator, "held") == 1)
        assert broker.depth(SENDER_ASYNC) == 0

    answer = await party.next_on(SENDER_ASYNC, timeout=0.1)  # sent during the stop
    assert answer.correlation_id == message.message_id
    apprec = party.open_apprec(answer)
    assert apprec.status.code is AppRecStatusCode.REJECTED
    assert refs(apprec) == ["seq 4 follows a gap: seqs 1 to 3 not received"]


async def test_a_message_with_other_errors_is_answered_at_once_despite_a_gap(
    pki: DevPki, broker: InMemoryNhnBroker, party: Party
) -> None:
    async with running(pki, broker, faults=Faults(reject_share=1)):
        apprec = await party.answer_to(kpr_message(pki, chain(4)[3:]), timeout=1)
    assert [e.code for e in apprec.errors] == ["X99"]


async def test_once_stopping_a_gap_is_rejected_at_once(
    pki: DevPki, broker: InMemoryNhnBroker, party: Party
) -> None:
    """A message that arrives while the simulator stops (its transport still running) is not
    held: nobody would be left to answer it."""
    transport = InMemoryNhnTransport(broker)
    simulator = Simulator(
        transport=transport,
        credentials=fhi_credentials(pki),
        senders=[sender_of(pki)],
        queues=[KPR_QUEUE],
        owns_transport=False,
    )
    simulator.register()
    await transport.start()
    try:
        await simulator.stop()
        apprec = await party.answer_to(kpr_message(pki, chain(4)[3:]), timeout=1)
    finally:
        await transport.stop()
    assert refs(apprec) == ["seq 4 follows a gap: seqs 1 to 3 not received"]
    assert gauge(simulator, "held") == 0
