"""The annual documents (IPLOS 3.7 as KPR_IPL, XPR(ide) as KPR_IDE) are checked against their
official XSDs, streaming, and answered with an AppRec per message: OK when valid, T02 naming
line and element (never a value) when not, T10 when a document travels as the other type."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from kpr_gateway.messages.apprec import AppRec, AppRecStatusCode
from kpr_gateway.messages.iplos_annual import StreamOutcome
from kpr_gateway.messages.msghead import parse_msghead
from kpr_gateway.messages.packing import Packing
from kpr_gateway.nhn import InMemoryNhnBroker
from kpr_gateway.security.devpki import DevPki
from kpr_gateway.simulator import SimulatorError, annual_checks
from tests.unit.simulator.annual_messages import (
    IDENT_FILE,
    IPLOS_FILE,
    annual_message,
    annual_msghead,
    edited,
    national_ids,
)
from tests.unit.simulator.support import Party, chain, counter, kpr_message, running

DATATYPE = "SCHEMAV_CVC_DATATYPE_VALID_1_2_1"


def refs(apprec: AppRec) -> list[tuple[str, str]]:
    return [(error.code, error.ref or "") for error in apprec.errors]


@pytest.mark.parametrize("packing", [Packing.BASE64_ZIP, Packing.INLINE])
async def test_a_valid_pair_is_acknowledged_with_an_apprec_per_message(
    pki: DevPki, broker: InMemoryNhnBroker, party: Party, packing: Packing
) -> None:
    iplos = annual_message(pki, IPLOS_FILE.read_bytes(), "KPR_IPL", packing=packing)
    ident = annual_message(pki, IDENT_FILE.read_bytes(), "KPR_IDE", packing=packing)
    async with running(pki, broker) as simulator:
        answers = [await party.answer_to(iplos), await party.answer_to(ident)]
    assert [(a.status.code, a.errors) for a in answers] == [(AppRecStatusCode.OK, [])] * 2
    assert counter(simulator, "answered", status="1") == 2


async def test_annual_messages_are_not_part_of_the_daily_chain(
    pki: DevPki, broker: InMemoryNhnBroker, party: Party
) -> None:
    """A daily message starting at seq 2 after an annual one still follows a gap."""
    async with running(pki, broker, gap_grace_seconds=0.05):
        annual = await party.answer_to(annual_message(pki, IPLOS_FILE.read_bytes(), "KPR_IPL"))
        daily = await party.answer_to(kpr_message(pki, chain(3)[1:]))
    assert annual.status.code is AppRecStatusCode.OK
    assert [code for code, _ in refs(daily)] == ["KPR20"]


async def test_an_iplos_file_that_breaks_its_xsd_is_rejected_naming_line_and_element(
    pki: DevPki, broker: InMemoryNhnBroker, party: Party
) -> None:
    document, line = edited(IPLOS_FILE, "<peAlder>55</peAlder>", "<peAlder>5x5</peAlder>")
    async with running(pki, broker):
        apprec = await party.answer_to(annual_message(pki, document, "KPR_IPL"))
    assert apprec.status.code is AppRecStatusCode.REJECTED
    assert refs(apprec) == [
        ("T02", f"line {line} of the IPLOS 3.7 document: element peAlder ({DATATYPE})")
    ]
    assert apprec.errors[0].text == "XML validerer ikke"


async def test_an_ident_file_that_breaks_its_xsd_names_no_ids(
    pki: DevPki, broker: InMemoryNhnBroker, party: Party
) -> None:
    text, type_line = edited(IDENT_FILE, 'typeID="1"', 'typeID="77"')
    duplicate_line = type_line + 1  # the second PasientIdent takes the first one's pid
    document = text.replace(b'pid="100002"', b'pid="100001"', 1)
    async with running(pki, broker):
        apprec = await party.answer_to(annual_message(pki, document, "KPR_IDE"))
    assert apprec.status.code is AppRecStatusCode.REJECTED
    assert refs(apprec) == [
        (
            "T02",
            f"line {type_line} of the XPR(ide) document: element PasientIdent/@typeID"
            " (SCHEMAV_CVC_ENUMERATION_VALID)",
        ),
        (
            "T02",
            f"line {duplicate_line} of the XPR(ide) document: element PasientIdent"
            " (SCHEMAV_CVC_IDC)",
        ),
    ]
    shown = " ".join(ref for _, ref in refs(apprec))
    assert "100001" not in shown
    assert not [fid for fid in national_ids(IDENT_FILE) if fid in shown]


async def test_many_schema_errors_are_listed_in_part_and_counted(
    pki: DevPki, broker: InMemoryNhnBroker, party: Party
) -> None:
    document, first_line = edited(IPLOS_FILE, "<peAlder>", "<peAlder>x", count=-1)
    persons = IPLOS_FILE.read_text(encoding="utf-8").count("<peAlder>")
    async with running(pki, broker):
        apprec = await party.answer_to(annual_message(pki, document, "KPR_IPL"))
    found = refs(apprec)
    assert {code for code, _ in found} == {"T02"}
    # The reader places the first five on their lines; the last entry counts them all.
    assert len(found) == 6
    assert (
        found[0][1] == f"line {first_line} of the IPLOS 3.7 document: element peAlder ({DATATYPE})"
    )
    assert found[-1][1] == f"the IPLOS 3.7 document has {persons} schema errors in all"


async def test_a_truncated_file_is_rejected_where_it_breaks_off(
    pki: DevPki, broker: InMemoryNhnBroker, party: Party
) -> None:
    text = IPLOS_FILE.read_bytes()
    truncated = text[: len(text) // 2]
    async with running(pki, broker):
        apprec = await party.answer_to(annual_message(pki, truncated, "KPR_IPL"))
    last_line = truncated.count(b"\n") + 1
    [(code, ref)] = refs(apprec)
    assert code == "T02"
    assert ref.startswith(f"line {last_line} of the IPLOS 3.7 document: ")


async def test_a_doctype_is_refused_before_anything_is_read(
    pki: DevPki, broker: InMemoryNhnBroker, party: Party
) -> None:
    declaration = b'<?xml version="1.0" encoding="UTF-8"?>\n'
    document = IPLOS_FILE.read_bytes().replace(
        declaration, declaration + b'<!DOCTYPE IPLOS [<!ENTITY x "y">]>\n', 1
    )
    async with running(pki, broker):
        apprec = await party.answer_to(annual_message(pki, document, "KPR_IPL"))
    assert refs(apprec) == [
        ("T02", "line 1 of the IPLOS 3.7 document: (document) (DOCTYPE_NOT_ACCEPTED)")
    ]


async def test_a_document_in_the_other_types_message_is_rejected_with_t10(
    pki: DevPki, broker: InMemoryNhnBroker, party: Party
) -> None:
    async with running(pki, broker):
        iplos_as_ide = await party.answer_to(
            annual_message(pki, IPLOS_FILE.read_bytes(), "KPR_IDE")
        )
        ident_as_ipl = await party.answer_to(
            annual_message(pki, IDENT_FILE.read_bytes(), "KPR_IPL")
        )
    assert refs(iplos_as_ide) == [
        (
            "T10",
            "a http://www.npr.no/xmlstds/iplos/2019 document travels as KPR_IPL, not 'KPR_IDE'",
        )
    ]
    assert refs(ident_as_ipl) == [
        (
            "T10",
            "a http://www.npr.no/xmlstds/53_1_3_ide document travels as KPR_IDE, not 'KPR_IPL'",
        )
    ]


async def test_the_spooled_document_is_removed_after_the_check(
    pki: DevPki,
    broker: InMemoryNhnBroker,
    party: Party,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The identity file carries national ids: its spool does not outlive the check."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    spooled: list[tuple[Path, bool]] = []
    validate = annual_checks._validate

    def spying(namespace: str, path: Path) -> StreamOutcome:
        spooled.append((path, path.is_file()))
        return validate(namespace, path)

    monkeypatch.setattr(annual_checks, "_validate", spying)
    broken, _ = edited(IDENT_FILE, 'typeID="1"', 'typeID="77"')
    async with running(pki, broker):
        valid = await party.answer_to(annual_message(pki, IDENT_FILE.read_bytes(), "KPR_IDE"))
        invalid = await party.answer_to(annual_message(pki, broken, "KPR_IDE"))
    assert valid.status.code is AppRecStatusCode.OK
    assert invalid.status.code is AppRecStatusCode.REJECTED
    assert [(path.parent.parent, there) for path, there in spooled] == [(tmp_path, True)] * 2
    assert list(tmp_path.iterdir()) == []


def test_a_spool_that_cannot_be_written_is_the_simulators_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not the sender's: no AppRec is made, the error leaves the message to come back."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "missing"))
    head = parse_msghead(annual_msghead(IDENT_FILE.read_bytes(), "KPR_IDE"))
    document = annual_checks.AnnualDocument(head, annual_checks.XPR_IDE_NAMESPACE)
    with pytest.raises(SimulatorError, match="no spool folder for the annual document"):
        annual_checks.check_annual_document(document)
