"""With the official XSDs a packed daily message passes (MsgHead with its Base64Container),
and its unpacked Melding is checked against XPR(ipl) 56.0.0 on its own."""

from __future__ import annotations

from lxml import etree

from kpr_gateway.messages.apprec import AppRecStatusCode
from kpr_gateway.messages.msghead import parse_msghead
from kpr_gateway.messages.schemas import SchemaSet
from kpr_gateway.nhn import InMemoryNhnBroker
from kpr_gateway.security.devpki import DevPki
from tests.unit.simulator.support import Party, chain, kpr_ipl, nhn_message, running, sealed
from tests.unit.simulator.test_packed import packed, packed_kpr_ipl


async def test_a_packed_daily_message_passes_the_official_schemas(
    pki: DevPki, broker: InMemoryNhnBroker, party: Party, schemas: SchemaSet
) -> None:
    async with running(pki, broker, schemas=schemas):
        apprec = await party.answer_to(nhn_message(sealed(pki, packed_kpr_ipl(chain(40)))))
    assert (apprec.status.code, apprec.errors) == (AppRecStatusCode.OK, [])


async def test_the_unpacked_melding_is_checked_against_its_xsd(
    pki: DevPki, broker: InMemoryNhnBroker, party: Party, schemas: SchemaSet
) -> None:
    melding = parse_msghead(kpr_ipl()).document
    for notification in melding.iter(f"{{{etree.QName(melding).namespace}}}Notifikasjon"):
        del notification.attrib["notifikasjonLopeNr"]
    async with running(pki, broker, schemas=schemas):
        apprec = await party.answer_to(
            nhn_message(sealed(pki, packed(kpr_ipl(), etree.tostring(melding))))
        )
    assert apprec.status.code is AppRecStatusCode.REJECTED
    assert {e.code for e in apprec.errors} == {"T02"}
    # Found by the official schemas (a line and the attribute), not by the package's reader.
    assert all((e.ref or "").startswith("line ") for e in apprec.errors)
    assert "notifikasjonLopeNr" in (apprec.errors[0].ref or "")
