"""The simulator answers valid KPR_IPL messages with AppRec status 1 and invalid ones with 2."""

from __future__ import annotations

import pytest
from lxml import etree

from kpr_gateway.messages.apprec import ERROR_CODE_SYSTEM, AppRecStatusCode
from kpr_gateway.messages.iplos_kpr import NAMESPACE
from kpr_gateway.messages.msghead import Organisation
from kpr_gateway.nhn import APPREC_SUBJECT, CMS_CONTENT_TYPE, InMemoryNhnBroker
from kpr_gateway.security.devpki import DevPki
from kpr_gateway.tenancy import TargetEnvironment, kpr_receiver
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
    rewritten,
    running,
    sealed,
    shipment,
    wait_for_count,
    with_document_change,
)


async def test_valid_message_gets_apprec_ok_on_the_senders_async_queue(
    pki: DevPki, broker: InMemoryNhnBroker, party: Party
) -> None:
    sent = shipment()
    message = nhn_message(sealed(pki, sent.document), subject=sent.msg_type)

    async with running(pki, broker) as simulator:
        await party.send(message)
        answer = await party.next_on(SENDER_ASYNC)

    assert answer.subject == APPREC_SUBJECT
    assert answer.correlation_id == message.message_id
    assert answer.message_id != message.message_id
    assert (answer.from_her_id, answer.to_her_id) == (KPR_HER_ID, SENDER_HER_ID)
    assert answer.reply_to == KPR_QUEUE
    assert answer.content_type == CMS_CONTENT_TYPE
    apprec = party.open_apprec(answer)  # decrypts with our key, verifies FHI's signature
    assert apprec.version == "1.0"
    assert apprec.status.code is AppRecStatusCode.OK
    assert apprec.errors == []
    assert (apprec.original.id, apprec.original.msg_type) == (str(sent.msg_id), "KPR_IPL")
    assert apprec.sender is not None
    assert apprec.receiver is not None
    assert (apprec.sender.id, apprec.sender.departments[0].id) == ("85217", KPR_HER_ID)
    assert (apprec.receiver.id, apprec.receiver.departments[0].id) == ("90001", SENDER_HER_ID)
    assert broker.depth(KPR_QUEUE) == 0
    assert broker.dead_letters == []
    assert counter(simulator, "received", queue=KPR_QUEUE) == 1
    assert counter(simulator, "answered", status="1") == 1


async def test_apprec_version_1_1_on_request(
    pki: DevPki, broker: InMemoryNhnBroker, party: Party
) -> None:
    async with running(pki, broker, apprec_version="1.1"):
        await party.send(nhn_message(sealed(pki, kpr_ipl())))
        apprec = party.open_apprec(await party.next_on(SENDER_ASYNC))
    assert apprec.version == "1.1"
    assert apprec.mig_version == "v1.1 2012-02-15"
    assert apprec.status.code is AppRecStatusCode.OK


def _break_first_guid(document: etree._Element) -> None:
    notification = document.find(f"{{{NAMESPACE}}}Notifikasjon")
    assert notification is not None
    notification.set("notifikasjonGUID", "not-a-guid")


async def test_schema_invalid_document_is_rejected_with_t02(
    pki: DevPki, broker: InMemoryNhnBroker, party: Party
) -> None:
    document = with_document_change(kpr_ipl(), _break_first_guid)

    async with running(pki, broker) as simulator:
        apprec = await party.answer_to(nhn_message(sealed(pki, document)))

    assert apprec.status.code is AppRecStatusCode.REJECTED
    assert [e.code for e in apprec.errors] == ["T02"]
    error = apprec.errors[0]
    assert (error.system, error.text) == (ERROR_CODE_SYSTEM, "XML validerer ikke")
    assert error.ref is not None
    assert "XPR(ipl).xsd" in error.ref
    assert "Notifikasjon" in error.ref
    assert "not-a-guid" not in error.ref  # the offending value is not echoed
    assert counter(simulator, "answered", status="2") == 1


async def test_a_document_that_is_no_melding_is_rejected_with_t02(
    pki: DevPki, broker: InMemoryNhnBroker, party: Party
) -> None:
    document = rewritten(kpr_ipl(), document=etree.Element("{urn:example:other}Rapport"))

    async with running(pki, broker):
        apprec = await party.answer_to(nhn_message(sealed(pki, document)))

    assert apprec.status.code is AppRecStatusCode.REJECTED
    assert [e.code for e in apprec.errors] == ["T02"]
    assert "KPR_IPL document" in (apprec.errors[0].ref or "")


async def test_kpr_ide_is_refused_as_the_daily_interface_takes_kpr_ipl_only(
    pki: DevPki, broker: InMemoryNhnBroker, party: Party
) -> None:
    document = rewritten(kpr_ipl(), msg_type="KPR_IDE")

    async with running(pki, broker):
        apprec = await party.answer_to(nhn_message(sealed(pki, document), subject="KPR_IDE"))

    assert apprec.status.code is AppRecStatusCode.REJECTED
    assert [(e.code, e.text) for e in apprec.errors] == [("T10", "Støtter ikke meldingsformatet")]
    assert "takes KPR_IPL only" in (apprec.errors[0].ref or "")
    assert apprec.original.msg_type == "KPR_IDE"


async def test_unsupported_message_type_is_rejected_with_t10(
    pki: DevPki, broker: InMemoryNhnBroker, party: Party
) -> None:
    document = rewritten(kpr_ipl(), msg_type="DIALOG_INNBYGGER")

    async with running(pki, broker):
        await party.send(nhn_message(sealed(pki, document), subject="DIALOG_INNBYGGER"))
        apprec = party.open_apprec(await party.next_on(SENDER_ASYNC))

    assert apprec.status.code is AppRecStatusCode.REJECTED
    assert [e.code for e in apprec.errors] == ["T10"]
    assert apprec.original.msg_type == "DIALOG_INNBYGGER"


@pytest.mark.parametrize(
    ("receiver", "to_her_id"),
    [
        # addressed to production KPR but sent to the validation party's HER-id
        (kpr_receiver(TargetEnvironment.PRODUCTION), KPR_HER_ID),
        # not FHI at all
        (Organisation("Helsedirektoratet", "4210", service=Organisation("Post", "4211")), "4211"),
    ],
)
async def test_wrong_receiver_is_rejected_with_e21(
    pki: DevPki, broker: InMemoryNhnBroker, party: Party, receiver: Organisation, to_her_id: str
) -> None:
    document = shipment(receiver=receiver).document

    async with running(pki, broker):
        await party.send(nhn_message(sealed(pki, document), to_her_id=to_her_id))
        apprec = party.open_apprec(await party.next_on(SENDER_ASYNC))

    assert apprec.status.code is AppRecStatusCode.REJECTED
    assert [(e.code, e.text) for e in apprec.errors] == [("E21", "Mottaker finnes ikke")]


async def test_no_answer_when_the_msghead_asks_for_none(
    pki: DevPki, broker: InMemoryNhnBroker, party: Party
) -> None:
    document = rewritten(kpr_ipl(), ack_requested=False)

    async with running(pki, broker) as simulator:
        await party.send(nhn_message(sealed(pki, document)))
        await wait_for_count(simulator, "unanswered", reason="no_ack_requested")

    assert broker.depth(SENDER_ASYNC) == broker.depth(SENDER_ERROR) == 0
    assert broker.depth(KPR_QUEUE) == 0
