"""What the register checks beyond the XSD: the Kommune, the contact persons, one event per
notification, and status with reference."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from lxml import etree

from kpr_gateway.messages.apprec import AppRec, AppRecStatusCode
from kpr_gateway.messages.iplos_kpr import NAMESPACE, ChainHead, number
from kpr_gateway.nhn import InMemoryNhnBroker
from kpr_gateway.security.devpki import DevPki
from tests.unit.simulator.support import (
    CONTACTS,
    SECRET,
    Party,
    chain,
    kpr_ipl,
    kpr_message,
    nhn_message,
    notification,
    running,
    sealed,
    sender_of,
    with_document_change,
)


def refs(apprec: AppRec) -> list[str]:
    return [error.ref or "" for error in apprec.errors]


def notifications_of(document: etree._Element) -> list[etree._Element]:
    return list(document.iterchildren(f"{{{NAMESPACE}}}Notifikasjon"))


async def answer(pki: DevPki, party: Party, document: bytes, **options: object) -> AppRec:
    async with running(pki, party.broker, **options):
        return await party.answer_to(nhn_message(sealed(pki, document)))


@pytest.mark.parametrize("known", [None, "0301"])
async def test_the_senders_own_municipality_is_accepted(
    pki: DevPki, party: Party, known: str | None
) -> None:
    apprec = await answer(
        pki, party, kpr_ipl(), senders=[sender_of(pki, municipality_number=known)]
    )
    assert apprec.status.code is AppRecStatusCode.OK


async def test_another_municipality_than_the_senders_is_rejected(pki: DevPki, party: Party) -> None:
    sender = sender_of(pki, municipality_number="4601")
    apprec = await answer(pki, party, kpr_ipl(), senders=[sender])
    assert apprec.status.code is AppRecStatusCode.REJECTED
    assert [(e.code, e.text) for e in apprec.errors] == [("KPR10", "Feil kommune")]
    assert refs(apprec) == ["Kommune '0301' is not the sender's municipality 4601"]


async def test_two_municipalities_in_one_melding_are_rejected(pki: DevPki, party: Party) -> None:
    def second_kommune(document: etree._Element) -> None:
        etree.SubElement(document, f"{{{NAMESPACE}}}Kommune", kommuneNr="4601")

    apprec = await answer(pki, party, with_document_change(kpr_ipl(), second_kommune))
    assert [e.code for e in apprec.errors] == ["KPR10"]
    assert refs(apprec) == ["the Melding names 2 Kommune, not exactly 1"]


@pytest.mark.parametrize(("kept", "missing"), [(0, "17"), (1, "16")])
async def test_both_iplos_contact_types_are_required(
    pki: DevPki, party: Party, kept: int, missing: str
) -> None:
    document = kpr_ipl(contacts=[CONTACTS[kept]])
    apprec = await answer(pki, party, document)
    assert apprec.status.code is AppRecStatusCode.REJECTED
    assert [(e.code, e.text) for e in apprec.errors] == [("KPR11", "Mangler kontaktperson")]
    assert refs(apprec) == [f"no Kontaktperson of typeKontaktperson {missing}"]


async def test_each_notification_carries_exactly_one_event(pki: DevPki, party: Party) -> None:
    numbered, _ = number(
        ChainHead(), [notification(1), notification(2, kind="service_end")], SECRET
    )

    def move_second_event_into_the_first(document: etree._Element) -> None:
        first, second = notifications_of(document)
        first.append(second[0])  # TjenesteSlutt after TjenesteStart: the XSD allows it

    document = with_document_change(kpr_ipl(numbered), move_second_event_into_the_first)
    apprec = await answer(pki, party, document)

    assert apprec.status.code is AppRecStatusCode.REJECTED
    assert [(e.code, e.text) for e in apprec.errors] == [("KPR12", "Feil i notifikasjon")] * 2
    assert refs(apprec) == ["seq 1 carries 2 events, not 1", "seq 2 carries 0 events, not 1"]


def _set(position: int, **attributes: str) -> Callable[[etree._Element], None]:
    def change(document: etree._Element) -> None:
        for name, value in attributes.items():
            notifications_of(document)[position].set(name, value)

    return change


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (
            _set(0, notifikasjonRef=str(chain(3)[2].notification.event_id)),
            "seq 1: status N with a notifikasjonRef",
        ),
        (_set(1, statusNotifikasjon="M"), "seq 2: status M without notifikasjonRef"),
        (_set(2, statusNotifikasjon="T"), "seq 3: statusNotifikasjon is not N, M or C"),
        (
            _set(2, statusNotifikasjon="C", notifikasjonRef=str(chain(3)[2].notification.event_id)),
            "seq 3: notifikasjonRef names the notification itself",
        ),
    ],
)
async def test_status_and_reference_must_agree(
    pki: DevPki, party: Party, change: Callable[[etree._Element], None], reason: str
) -> None:
    apprec = await answer(pki, party, with_document_change(kpr_ipl(chain(3)), change))
    assert [(e.code, e.ref) for e in apprec.errors] == [("KPR12", reason)]


async def test_a_message_rejected_for_its_content_still_counts_in_the_chain(
    pki: DevPki, broker: InMemoryNhnBroker, party: Party
) -> None:
    numbered = chain(6)
    incomplete = nhn_message(sealed(pki, kpr_ipl(numbered[:3], contacts=CONTACTS[:1])))
    async with running(pki, broker):
        rejected = await party.answer_to(incomplete)
        # Its numbers were received: the next message follows them, no gap to wait for.
        onward = await party.answer_to(kpr_message(pki, numbered[3:]), timeout=1)
    assert [e.code for e in rejected.errors] == ["KPR11"]
    assert onward.status.code is AppRecStatusCode.OK
