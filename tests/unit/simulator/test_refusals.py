"""Messages that cannot be taken in are answered with a transport error, or rejected."""

from __future__ import annotations

import pytest

from kpr_gateway.messages.msghead import Organisation
from kpr_gateway.nhn import InMemoryNhnBroker, NhnMessage, read_transport_error
from kpr_gateway.security.devpki import DevPki
from kpr_gateway.simulator import known_sender
from tests.unit.simulator.support import (
    KPR_HER_ID,
    KPR_QUEUE,
    SENDER_ASYNC,
    SENDER_ERROR,
    SENDER_HER_ID,
    Party,
    counter,
    kpr_ipl,
    nhn_message,
    running,
    sealed,
    shipment,
    wait_for_count,
)


async def _transport_error_for(
    pki: DevPki, broker: InMemoryNhnBroker, party: Party, message: NhnMessage
) -> tuple[NhnMessage, str, str]:
    async with running(pki, broker) as simulator:
        await party.send(message)
        answer = await party.next_on(SENDER_ERROR)
        error = read_transport_error(answer.application_properties())
        assert counter(simulator, "transport_errors", condition=error.condition) == 1
    assert error.original_message_id == message.message_id
    assert answer.body == b""
    assert (answer.from_her_id, answer.to_her_id) == (KPR_HER_ID, SENDER_HER_ID)
    assert broker.depth(SENDER_ASYNC) == 0  # no AppRec beside it
    assert broker.depth(KPR_QUEUE) == 0  # the message was accepted
    assert broker.dead_letters == []
    return answer, error.condition, error.description


async def test_spoofed_signer_gets_spoofing_attack(
    pki: DevPki, broker: InMemoryNhnBroker, party: Party
) -> None:
    message = nhn_message(sealed(pki, kpr_ipl(), signer="intruder"))
    _, condition, description = await _transport_error_for(pki, broker, party, message)
    assert condition == "abuse:spoofing-attack"
    assert SENDER_HER_ID in description


async def test_msghead_sender_other_than_from_her_id_is_spoofing(
    pki: DevPki, broker: InMemoryNhnBroker, party: Party
) -> None:
    other = Organisation("Bergen kommune", "50001", service=Organisation("Saksbehandling", "50002"))
    document = shipment(sender=other).document
    _, condition, description = await _transport_error_for(
        pki, broker, party, nhn_message(sealed(pki, document))
    )
    assert condition == "abuse:spoofing-attack"
    assert "'50002'" in description
    assert "'90002'" in description


async def test_message_not_encrypted_for_fhi_gets_invalid_certificate(
    pki: DevPki, broker: InMemoryNhnBroker, party: Party
) -> None:
    message = nhn_message(sealed(pki, kpr_ipl(), recipient="intruder"))
    _, condition, description = await _transport_error_for(pki, broker, party, message)
    assert condition == "transport:invalid-certificate"
    assert "cannot be opened" in description


async def test_body_that_is_not_cms_gets_invalid_certificate(
    pki: DevPki, broker: InMemoryNhnBroker, party: Party
) -> None:
    message = nhn_message(b"plain text, not CMS")
    _, condition, _ = await _transport_error_for(pki, broker, party, message)
    assert condition == "transport:invalid-certificate"


@pytest.mark.parametrize(
    "content",
    [b"this is not XML", b"<?xml version='1.0'?><NotAMsgHead/>"],
)
async def test_unreadable_content_gets_not_well_formed_xml(
    pki: DevPki, broker: InMemoryNhnBroker, party: Party, content: bytes
) -> None:
    _, condition, _ = await _transport_error_for(
        pki, broker, party, nhn_message(sealed(pki, content))
    )
    assert condition == "transport:not-well-formed-xml"


async def test_subject_other_than_msghead_type_gets_invalid_field_value(
    pki: DevPki, broker: InMemoryNhnBroker, party: Party
) -> None:
    message = nhn_message(sealed(pki, kpr_ipl()), subject="KPR_IDE")
    _, condition, description = await _transport_error_for(pki, broker, party, message)
    assert condition == "transport:invalid-field-value"
    assert "KPR_IPL" in description


async def test_unknown_sender_is_rejected_as_nobody_can_be_told(
    pki: DevPki, broker: InMemoryNhnBroker, party: Party
) -> None:
    message = nhn_message(sealed(pki, kpr_ipl()), from_her_id="12345")

    async with running(pki, broker) as simulator:
        await party.send(message)
        await wait_for_count(simulator, "unanswered", reason="unknown_sender")

    [dead] = broker.dead_letters
    assert (dead.queue, dead.message.message_id) == (KPR_QUEUE, message.message_id)
    assert "unknown sender" in dead.reason
    assert "12345" in dead.reason
    assert broker.depth(SENDER_ASYNC) == broker.depth(SENDER_ERROR) == 0


async def test_a_sender_on_its_own_queues(
    pki: DevPki, broker: InMemoryNhnBroker, party: Party
) -> None:
    """Queue names from the parties file win over NHN's defaults; reply-to wins for AppRecs."""
    kommune = pki.party("kommune")
    sender = known_sender(
        SENDER_HER_ID,
        kommune.signing.certificate,
        kommune.encryption.certificate,
        async_queue="custom_async",
        error_queue="custom_error",
    )
    spoofed = nhn_message(sealed(pki, kpr_ipl(), signer="intruder"))
    async with running(pki, broker, senders=[sender]):
        await party.send(spoofed)
        await party.send(nhn_message(sealed(pki, kpr_ipl())))
        error = await party.next_on("custom_error")
        answer = await party.next_on(SENDER_ASYNC)  # the message's reply-to
    assert read_transport_error(error.application_properties()).original_message_id == (
        spoofed.message_id
    )
    assert party.open_apprec(answer).status.code == 1
