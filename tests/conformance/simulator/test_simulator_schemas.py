"""With the official XSDs the simulator validates MsgHead fully, and its AppRecs validate."""

from __future__ import annotations

import pytest
from lxml import etree

from kpr_gateway.messages.apprec import AppRecStatusCode, AppRecVersion, parse_apprec
from kpr_gateway.messages.kpr_ktt_v1 import NAMESPACE
from kpr_gateway.messages.msghead import MSGHEAD_NS
from kpr_gateway.messages.schemas import SchemaSet, validate_document
from kpr_gateway.nhn import InMemoryNhnBroker
from kpr_gateway.security.devpki import DevPki
from kpr_gateway.simulator import Faults
from tests.unit.simulator.support import (
    SENDER_ASYNC,
    Party,
    fagmelding,
    nhn_message,
    running,
    sealed,
    shipments,
    with_document_change,
)


@pytest.mark.parametrize("kind", ["fagmelding", "identmelding"])
async def test_valid_shipments_pass_the_official_schemas(
    pki: DevPki, broker: InMemoryNhnBroker, party: Party, schemas: SchemaSet, kind: str
) -> None:
    shipment = getattr(shipments(), kind)
    async with running(pki, broker, schemas=schemas):
        await party.send(nhn_message(sealed(pki, shipment.document), subject=shipment.msg_type))
        apprec = party.open_apprec(await party.next_on(SENDER_ASYNC))
    assert apprec.status.code is AppRecStatusCode.OK
    assert apprec.original.id == shipment.msg_id


@pytest.mark.parametrize("version", ["1.0", "1.1"])
@pytest.mark.parametrize("reject", [False, True])
async def test_apprecs_validate_against_the_official_xsd(
    pki: DevPki, party: Party, schemas: SchemaSet, version: AppRecVersion, reject: bool
) -> None:
    faults = Faults(reject_share=1.0 if reject else 0.0)
    async with running(pki, party.broker, schemas=schemas, apprec_version=version, faults=faults):
        await party.send(nhn_message(sealed(pki, fagmelding())))
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
    body = sealed(pki, _extra_msginfo_element(fagmelding()))
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


async def test_kpr_document_errors_are_reported_by_line_without_values(
    pki: DevPki, broker: InMemoryNhnBroker, party: Party, schemas: SchemaSet
) -> None:
    def break_statuses(document: etree._Element) -> None:
        for status in document.iter(f"{{{NAMESPACE}}}Status"):
            status.text = "Q"

    document = with_document_change(fagmelding(), break_statuses)
    async with running(pki, broker, schemas=schemas):
        await party.send(nhn_message(sealed(pki, document)))
        apprec = party.open_apprec(await party.next_on(SENDER_ASYNC))

    assert apprec.status.code is AppRecStatusCode.REJECTED
    assert {e.code for e in apprec.errors} == {"T02"}
    assert len(apprec.errors) >= 2  # one per broken event
    for error in apprec.errors:
        assert (error.ref or "").startswith("line ")
        assert "'Q'" not in (error.ref or "")
