"""A MsgHead whose document is packed (zipped, base64 in a Base64Container) is unpacked and
checked as an inline one; annual documents go to the annual checks (test_annual.py)."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Sequence

from lxml import etree

from kpr_gateway.messages.apprec import AppRecStatusCode
from kpr_gateway.messages.iplos_kpr import NumberedNotification, to_bytes
from kpr_gateway.messages.msghead import build_msghead, parse_msghead
from kpr_gateway.messages.packing import PackedDocument, pack_bytes
from kpr_gateway.nhn import InMemoryNhnBroker
from kpr_gateway.security.devpki import DevPki
from kpr_gateway.simulator.annual_checks import IPLOS_ANNUAL_NAMESPACE, XPR_IDE_NAMESPACE
from tests.unit.simulator.support import (
    CONTACTS,
    Party,
    chain,
    counter,
    kpr_ipl,
    nhn_message,
    running,
    sealed,
)


def packed(msghead: bytes, document: bytes | None = None, **changes: object) -> bytes:
    """``msghead`` with its document (or ``document``) zipped into a Base64Container."""
    head = parse_msghead(msghead)
    data = to_bytes(head.document) if document is None else document
    container = pack_bytes(data).container()
    return build_msghead(dataclasses.replace(head, document=container, **changes))  # type: ignore[arg-type]


def packed_kpr_ipl(
    numbered: Sequence[NumberedNotification] | None = None, **options: object
) -> bytes:
    return packed(kpr_ipl(numbered, **options))


async def test_a_packed_daily_message_is_acknowledged_and_continues_its_chain(
    pki: DevPki, broker: InMemoryNhnBroker, party: Party
) -> None:
    numbered = chain(6)
    async with running(pki, broker) as simulator:
        first = await party.answer_to(nhn_message(sealed(pki, packed_kpr_ipl(numbered[:3]))))
        # Inline after packed: the packed one's numbers were entered, so no gap is held.
        second = await party.answer_to(nhn_message(sealed(pki, kpr_ipl(numbered[3:]))))

    assert (first.status.code, first.errors) == (AppRecStatusCode.OK, [])
    assert (second.status.code, second.errors) == (AppRecStatusCode.OK, [])
    assert counter(simulator, "answered", status="1") == 2


async def test_a_packed_daily_message_gets_the_registers_checks(
    pki: DevPki, broker: InMemoryNhnBroker, party: Party
) -> None:
    document = packed_kpr_ipl(contacts=CONTACTS[:1])
    async with running(pki, broker):
        apprec = await party.answer_to(nhn_message(sealed(pki, document)))
    assert apprec.status.code is AppRecStatusCode.REJECTED
    assert [e.code for e in apprec.errors] == ["KPR11"]


async def test_a_packed_document_that_breaks_its_xsd_is_rejected_with_t02(
    pki: DevPki, broker: InMemoryNhnBroker, party: Party
) -> None:
    melding = parse_msghead(kpr_ipl()).document
    etree.SubElement(melding, f"{{{etree.QName(melding).namespace}}}Unexpected")
    document = packed(kpr_ipl(), etree.tostring(melding))
    async with running(pki, broker):
        apprec = await party.answer_to(nhn_message(sealed(pki, document)))
    assert apprec.status.code is AppRecStatusCode.REJECTED
    assert [e.code for e in apprec.errors] == ["T02"]
    assert "Unexpected" in (apprec.errors[0].ref or "")


async def test_packed_content_that_is_no_zip_is_rejected_with_t02(
    pki: DevPki, broker: InMemoryNhnBroker, party: Party
) -> None:
    head = parse_msghead(kpr_ipl())
    container = PackedDocument(base64.b64encode(b"no zip here")).container()
    document = build_msghead(dataclasses.replace(head, document=container))
    async with running(pki, broker):
        apprec = await party.answer_to(nhn_message(sealed(pki, document)))
    assert apprec.status.code is AppRecStatusCode.REJECTED
    assert [e.code for e in apprec.errors] == ["T02"]
    assert "packed document: the packed content is not a readable zip" in (
        apprec.errors[0].ref or ""
    )


def annual_document(namespace: str) -> bytes:
    """A root in an annual namespace that its schema does not declare."""
    return f'<Melding xmlns="{namespace}" versjon="3.7"/>'.encode()


async def test_annual_documents_go_to_the_annual_checks_by_their_namespace(
    pki: DevPki, broker: InMemoryNhnBroker, party: Party
) -> None:
    iplos = packed(kpr_ipl(), annual_document(IPLOS_ANNUAL_NAMESPACE))
    ident = packed(kpr_ipl(), annual_document(XPR_IDE_NAMESPACE), msg_type="KPR_IDE")
    ident_as_ipl = packed(kpr_ipl(), annual_document(XPR_IDE_NAMESPACE))
    async with running(pki, broker):
        answers = [
            await party.answer_to(nhn_message(sealed(pki, iplos))),
            await party.answer_to(nhn_message(sealed(pki, ident), subject="KPR_IDE")),
            await party.answer_to(nhn_message(sealed(pki, ident_as_ipl))),
        ]

    assert [a.status.code for a in answers] == [AppRecStatusCode.REJECTED] * 3
    refs = [[(e.code, e.ref or "") for e in a.errors] for a in answers]
    assert [{code for code, _ in errors} for errors in refs] == [{"T02"}, {"T02"}, {"T10"}]
    # Each against its own schema (an undeclared root in IPLOS, missing attributes in XPR(ide)).
    assert refs[0][0][1].startswith("line 1 of the IPLOS 3.7 document: element Melding")
    assert refs[1][0][1].startswith("line 1 of the XPR(ide) document: element Melding")
    assert "travels as KPR_IDE" in refs[2][0][1]
