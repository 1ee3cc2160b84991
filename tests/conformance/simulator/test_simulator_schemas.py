"""With the official XSDs the simulator validates MsgHead and its Melding (XPR(ipl) 56.0.0)
fully, and its AppRecs validate."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from lxml import etree

from kpr_gateway.messages.apprec import AppRecStatusCode, AppRecVersion, parse_apprec
from kpr_gateway.messages.iplos_kpr import NAMESPACE
from kpr_gateway.messages.msghead import MSGHEAD_NS
from kpr_gateway.messages.schemas import PayloadSchema, SchemaSet, validate_document
from kpr_gateway.nhn import InMemoryNhnBroker
from kpr_gateway.security.devpki import DevPki
from kpr_gateway.simulator import Faults
from tests.unit.simulator.support import (
    SENDER_ASYNC,
    Party,
    chain,
    kpr_ipl,
    nhn_message,
    running,
    sealed,
    shipment,
    with_document_change,
)


async def test_valid_shipments_pass_the_official_schemas(
    pki: DevPki, broker: InMemoryNhnBroker, party: Party, schemas: SchemaSet
) -> None:
    sent = shipment(chain(40))
    async with running(pki, broker, schemas=schemas):
        apprec = await party.answer_to(nhn_message(sealed(pki, sent.document)))
    assert apprec.status.code is AppRecStatusCode.OK
    assert apprec.original.id == str(sent.msg_id)


async def test_the_melding_is_checked_against_the_xsd_in_the_standards_directory(
    pki: DevPki, broker: InMemoryNhnBroker, party: Party, standards_dir: Path
) -> None:
    """The XPR(ipl) 56.0.0 XSD as Helsedirektoratet publishes it, not the package's copy."""
    official = standards_dir / "kpr" / "xpr-ipl-56.0.0" / "XPR(ipl).xsd"
    schemas = SchemaSet(standards_dir, payloads=[PayloadSchema(NAMESPACE, official)])
    broken = with_document_change(kpr_ipl(), _set_all("notifikasjonLopeNr", None))
    async with running(pki, broker, schemas=schemas):
        valid = await party.answer_to(nhn_message(sealed(pki, kpr_ipl())))
        invalid = await party.answer_to(nhn_message(sealed(pki, broken)))

    assert valid.status.code is AppRecStatusCode.OK
    assert invalid.status.code is AppRecStatusCode.REJECTED
    assert {e.code for e in invalid.errors} == {"T02"}
    # Found by the MsgHead check with the official XSD (a line and the attribute), not later.
    assert all((e.ref or "").startswith("line ") for e in invalid.errors)
    assert "notifikasjonLopeNr" in (invalid.errors[0].ref or "")


def _set_all(attribute: str, value: str | None) -> Callable[[etree._Element], None]:
    def change(document: etree._Element) -> None:
        for notification in document.iter(f"{{{NAMESPACE}}}Notifikasjon"):
            if value is None:
                del notification.attrib[attribute]
            else:
                notification.set(attribute, value)

    return change


@pytest.mark.parametrize("version", ["1.0", "1.1"])
@pytest.mark.parametrize("reject", [False, True])
async def test_apprecs_validate_against_the_official_xsd(
    pki: DevPki, party: Party, schemas: SchemaSet, version: AppRecVersion, reject: bool
) -> None:
    faults = Faults(reject_share=1.0 if reject else 0.0)
    async with running(pki, party.broker, schemas=schemas, apprec_version=version, faults=faults):
        await party.send(nhn_message(sealed(pki, kpr_ipl())))
        document = party.open(await party.next_on(SENDER_ASYNC))

    assert validate_document(document, schemas) == []
    root = etree.fromstring(document)
    expected_ns = {"1.0": "2004-11-21", "1.1": "2012-02-15"}[version]
    assert etree.QName(root).namespace == f"http://www.kith.no/xmlstds/apprec/{expected_ns}"
    apprec = parse_apprec(document)
    assert apprec.version == version
    assert apprec.warnings == []
    assert apprec.status.code == (2 if reject else 1)


def _extra_msginfo_element(document: bytes) -> bytes:
    """A MsgHead the reader tolerates but MsgHead-v1_2.xsd does not: an unknown element."""
    root = etree.fromstring(document)
    msg_id = root.find(f"{{{MSGHEAD_NS}}}MsgInfo/{{{MSGHEAD_NS}}}MsgId")
    assert msg_id is not None
    msg_id.addnext(etree.Element(f"{{{MSGHEAD_NS}}}Unexpected"))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


async def test_msghead_schema_violation_is_caught_only_with_the_official_xsd(
    pki: DevPki, broker: InMemoryNhnBroker, party: Party, schemas: SchemaSet
) -> None:
    body = sealed(pki, _extra_msginfo_element(kpr_ipl()))
    async with running(pki, broker):
        await party.send(nhn_message(body))
        without_schemas = party.open_apprec(await party.next_on(SENDER_ASYNC))
    async with running(pki, broker, schemas=schemas):
        await party.send(nhn_message(body))
        with_schemas = party.open_apprec(await party.next_on(SENDER_ASYNC))

    assert without_schemas.status.code is AppRecStatusCode.OK
    assert with_schemas.status.code is AppRecStatusCode.REJECTED
    assert [e.code for e in with_schemas.errors] == ["T02"]
    assert "Unexpected" in (with_schemas.errors[0].ref or "")


async def test_melding_errors_are_reported_by_line_without_values(
    pki: DevPki, broker: InMemoryNhnBroker, party: Party, schemas: SchemaSet
) -> None:
    document = with_document_change(kpr_ipl(), _set_all("notifikasjonGUID", "QQQ-not-a-guid"))
    async with running(pki, broker, schemas=schemas):
        apprec = await party.answer_to(nhn_message(sealed(pki, document)))

    assert apprec.status.code is AppRecStatusCode.REJECTED
    assert {e.code for e in apprec.errors} == {"T02"}
    assert len(apprec.errors) >= 3  # one per broken notification
    for error in apprec.errors:
        assert (error.ref or "").startswith("line ")
        assert "QQQ" not in (error.ref or "")
