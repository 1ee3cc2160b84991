"""With the official XSDs: a packed annual document passes the MsgHead check (a
Base64Container) and is then checked on its own, streaming; an inline one is checked with the
MsgHead, whose composed schema includes IPLOS 3.7 and XPR(ide) 53.1.3."""

from __future__ import annotations

import pytest

from kpr_gateway.messages.apprec import AppRecStatusCode
from kpr_gateway.messages.packing import Packing
from kpr_gateway.messages.schemas import SchemaSet
from kpr_gateway.nhn import InMemoryNhnBroker
from kpr_gateway.security.devpki import DevPki
from tests.unit.simulator.annual_messages import (
    IDENT_FILE,
    IPLOS_FILE,
    annual_message,
    edited,
    national_ids,
)
from tests.unit.simulator.support import Party, running


@pytest.mark.parametrize("packing", [Packing.BASE64_ZIP, Packing.INLINE])
async def test_the_examples_pass_the_official_schemas(
    pki: DevPki, broker: InMemoryNhnBroker, party: Party, schemas: SchemaSet, packing: Packing
) -> None:
    async with running(pki, broker, schemas=schemas):
        iplos = await party.answer_to(
            annual_message(pki, IPLOS_FILE.read_bytes(), "KPR_IPL", packing=packing)
        )
        ident = await party.answer_to(
            annual_message(pki, IDENT_FILE.read_bytes(), "KPR_IDE", packing=packing)
        )
    assert [(a.status.code, a.errors) for a in (iplos, ident)] == [(AppRecStatusCode.OK, [])] * 2


async def test_a_packed_broken_file_is_found_by_the_streaming_check(
    pki: DevPki, broker: InMemoryNhnBroker, party: Party, schemas: SchemaSet
) -> None:
    document, line = edited(IPLOS_FILE, "<peAlder>55</peAlder>", "<peAlder>5x5</peAlder>")
    async with running(pki, broker, schemas=schemas):
        apprec = await party.answer_to(annual_message(pki, document, "KPR_IPL"))
    assert apprec.status.code is AppRecStatusCode.REJECTED
    assert [(e.code, e.ref) for e in apprec.errors] == [
        (
            "T02",
            f"line {line} of the IPLOS 3.7 document:"
            " element peAlder (SCHEMAV_CVC_DATATYPE_VALID_1_2_1)",
        )
    ]


async def test_an_inline_broken_file_is_found_by_the_msghead_check_without_values(
    pki: DevPki, broker: InMemoryNhnBroker, party: Party, schemas: SchemaSet
) -> None:
    document, _ = edited(IDENT_FILE, 'typeID="1"', 'typeID="77"')
    async with running(pki, broker, schemas=schemas):
        apprec = await party.answer_to(
            annual_message(pki, document, "KPR_IDE", packing=Packing.INLINE)
        )
    assert apprec.status.code is AppRecStatusCode.REJECTED
    assert [e.code for e in apprec.errors] == ["T02"]
    ref = apprec.errors[0].ref or ""
    # The MsgHead's line and libxml2's message with the value withheld, as for a daily Melding.
    assert ref.startswith("line ")
    assert "typeID" in ref
    assert "[value withheld]" in ref
    assert "77" not in ref
    assert not [fid for fid in national_ids(IDENT_FILE) if fid in ref]


@pytest.mark.parametrize("packing", [Packing.BASE64_ZIP, Packing.INLINE])
async def test_swapped_types_are_rejected_with_t10(
    pki: DevPki, broker: InMemoryNhnBroker, party: Party, schemas: SchemaSet, packing: Packing
) -> None:
    async with running(pki, broker, schemas=schemas):
        answers = [
            await party.answer_to(
                annual_message(pki, IPLOS_FILE.read_bytes(), "KPR_IDE", packing=packing)
            ),
            await party.answer_to(
                annual_message(pki, IDENT_FILE.read_bytes(), "KPR_IPL", packing=packing)
            ),
        ]
    assert [[e.code for e in a.errors] for a in answers] == [["T10"], ["T10"]]
    assert "travels as KPR_IPL" in (answers[0].errors[0].ref or "")
    assert "travels as KPR_IDE" in (answers[1].errors[0].ref or "")
