"""The simulator plays every KPR receiver on its own queue: KPR (122612) and KPR Validering
(171479) both answer, and a message on one receiver's queue addressed to another is refused
with E21, as NHN's queues belong to one communication party each."""

from __future__ import annotations

import pytest

from kpr_gateway.messages.apprec import AppRecStatusCode
from kpr_gateway.nhn import InMemoryNhnBroker, InMemoryNhnTransport, new_message
from kpr_gateway.security.devpki import DevPki
from kpr_gateway.simulator import Simulator
from kpr_gateway.simulator.receivers import DEFAULT_RECEIVER_QUEUES, RECEIVER_OF_QUEUE
from kpr_gateway.tenancy import TargetEnvironment, kpr_receiver, kpr_receiver_her_id
from tests.unit.simulator.support import (
    SENDER_ASYNC,
    SENDER_HER_ID,
    Party,
    counter,
    fhi_credentials,
    sealed,
    sender_of,
    shipment,
)


def test_each_default_queue_belongs_to_its_receiver() -> None:
    assert dict(RECEIVER_OF_QUEUE) == {
        "122612_async": "122612",
        "171479_async": "171479",
        "8133973_async": "8133973",
    }
    assert tuple(RECEIVER_OF_QUEUE) == DEFAULT_RECEIVER_QUEUES


@pytest.mark.parametrize(
    "case",
    [
        (TargetEnvironment.PRODUCTION, "122612_async", []),
        (TargetEnvironment.VALIDATION, "171479_async", []),
        (TargetEnvironment.VALIDATION, "122612_async", ["E21"]),
        (TargetEnvironment.PRODUCTION, "171479_async", ["E21"]),
    ],
)
async def test_both_receivers_answer_on_their_own_queues_only(
    pki: DevPki,
    broker: InMemoryNhnBroker,
    party: Party,
    case: tuple[TargetEnvironment, str, list[str]],
) -> None:
    """The receiver a message is addressed to, the queue it is put on, the AppRec's errors."""
    environment, queue, errors = case
    sent = shipment(receiver=kpr_receiver(environment))
    message = new_message(
        to_queue=queue,
        subject=sent.msg_type,
        reply_to=SENDER_ASYNC,
        from_her_id=SENDER_HER_ID,
        to_her_id=kpr_receiver_her_id(environment),
        body=sealed(pki, sent.document),
        ttl_ms=None,
    )

    simulator = Simulator(  # on its default queues: every KPR receiver's
        transport=InMemoryNhnTransport(broker),
        credentials=fhi_credentials(pki),
        senders=[sender_of(pki)],
    )
    simulator.register()
    await simulator.start()
    try:
        apprec = await party.answer_to(message)
    finally:
        await simulator.stop()

    assert counter(simulator, "received", queue=queue) == 1

    assert [e.code for e in apprec.errors] == errors
    expected = AppRecStatusCode.REJECTED if errors else AppRecStatusCode.OK
    assert apprec.status.code is expected
    assert apprec.sender is not None
    assert apprec.sender.departments[0].id == kpr_receiver_her_id(environment)
    if errors:
        owner = RECEIVER_OF_QUEUE[queue]
        assert apprec.errors[0].ref is not None
        assert f"arrived on the queue of {owner}" in apprec.errors[0].ref
