"""The real samples in shared/standards/samples: every AppRec reads with the expected values."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from kpr_gateway.messages.apprec import (
    APPREC_NAMESPACES,
    ERROR_CODE_SYSTEM,
    AppRecErrorCode,
    AppRecParty,
    AppRecStatus,
    AppRecStatusCode,
    OriginalMsg,
    PartyUnit,
    parse_apprec,
)
from kpr_gateway.messages.errors import NotAnAppRecError, UnknownDocumentTypeError
from kpr_gateway.messages.msghead import Organisation, parse_msghead
from kpr_gateway.messages.schemas import SchemaSet, validate_document
from kpr_gateway.messages.xmlsafe import parse_xml

# Expected values per AppRec sample. A new AppRec sample must be added here.
EXPECTED_APPRECS: dict[str, dict[str, Any]] = {
    "apprec-1.0-ok.xml": {
        "version": "1.0",
        "id": "1d6b0e00-33a1-11de-9255-0002a5d5c51b",
        "mig_version": "1.0 2004-11-21",
        "gen_date": datetime(2020, 6, 19, 18, 5, 23),  # the samples have no zone
        "status": AppRecStatus(AppRecStatusCode.OK, "OK"),
        "errors": [],
        "original": OriginalMsg(
            id="a6967e6a-8c0a-4be4-a647-c921d3086423",
            msg_type="EPIKRISE",
            issue_date=datetime(2020, 6, 19, 17, 2, 15),
        ),
        "sender": AppRecParty(
            name="Kattskinnet legesenter",
            id="56704",
            type_id="HER",
            role="COP",
            persons=(PartyUnit("Rita Lin", "258521", "HER"),),
        ),
        "receiver": AppRecParty(
            name="Testsykehuset HF",
            id="123459",
            type_id="HER",
            role="RECEIVER",
            departments=(PartyUnit("Medisinsk mikrobiologi", "91126", "HER"),),
        ),
        "warnings": [],
    },
    "apprec-1.0-avvist.xml": {
        "version": "1.0",
        "id": "8d018d60-336b-11de-8bd7-0002a5d5c51b",
        "mig_version": "1.0 2008-11-21",
        "gen_date": datetime(2008, 12, 17, 9, 30, 47),
        "status": AppRecStatus(AppRecStatusCode.REJECTED, "Avvist"),
        "errors": [
            AppRecErrorCode("E21", ERROR_CODE_SYSTEM, "Mottaker finnes ikke", "Legen har sluttet")
        ],
        "original": OriginalMsg(
            id="a6967e6a-8c0a-4be4-a647-c921d3086423",
            msg_type="EPIKRISE",
            issue_date=datetime(2020, 6, 19, 17, 2, 15),
        ),
        "sender": AppRecParty(
            name="Kattskinnet legesenter",
            id="56704",
            type_id="HER",  # written as " HER" in the sample
            role="REQ",
            persons=(PartyUnit("Rita Lin", "258521", "HER"),),
        ),
        "receiver": AppRecParty(
            name="Testsykehuset HF",
            id="123459",
            type_id="HER",
            role="RECEIVER",
            departments=(PartyUnit("Medisinsk mikrobiologi", "91126", "HER"),),
        ),
        "warnings": [
            "whitespace trimmed in Sender/HCP/Inst/TypeId/@V",
            "MIGversion is not '1.0 2004-11-21'; read as AppRec 1.0",
        ],
    },
    "apprec-1.1-ok.xml": {
        "version": "1.1",
        "id": "5e4f20c0-c41b-11e0-962b-0800200c9a66",
        "mig_version": "v1.1 2012-02-15",
        "gen_date": datetime(2012, 2, 17, 10, 31, 7),
        "status": AppRecStatus(AppRecStatusCode.OK, "OK"),
        "errors": [],
        "original": OriginalMsg(
            id="4c793d90-c41b-11e0-962b-0800200c9a66",
            msg_type="EPIKRISE",
            issue_date=datetime(2012, 2, 17, 8, 32, 15),
        ),
        "sender": AppRecParty(
            name="Kattskinnet legesenter",
            id="56704",
            type_id="HER",
            role="PRIM",
            persons=(PartyUnit("August September", "369767", "HER"),),
        ),
        "receiver": AppRecParty(
            name="SYKEHUSET I VESTFOLD HF",
            id="69",
            type_id="HER",
            role="AVS",
            departments=(PartyUnit("Kirurgi", "89583", "HER"),),
        ),
        "warnings": [],
    },
}


def _is_apprec(path: Path) -> bool:
    qname = etree.QName(parse_xml(path.read_bytes()))
    return qname.localname == "AppRec" and qname.namespace in APPREC_NAMESPACES.values()


def test_every_apprec_sample_has_expectations(samples_dir: Path) -> None:
    found = {path.name for path in samples_dir.glob("*.xml") if _is_apprec(path)}
    assert found == set(EXPECTED_APPRECS)


@pytest.mark.parametrize("name", sorted(EXPECTED_APPRECS))
def test_apprec_sample_reads_with_expected_values(samples_dir: Path, name: str) -> None:
    apprec = parse_apprec((samples_dir / name).read_bytes())
    expected = EXPECTED_APPRECS[name]
    actual = {field: getattr(apprec, field) for field in expected}
    assert actual == expected


def test_rejected_sample_correlates_and_reports_its_error(samples_dir: Path) -> None:
    apprec = parse_apprec((samples_dir / "apprec-1.0-avvist.xml").read_bytes())
    result = apprec.to_json_dict()
    assert result["status"] == {"code": 2, "text": "Avvist"}
    assert result["original"]["id"] == "a6967e6a-8c0a-4be4-a647-c921d3086423"
    assert result["errors"] == [
        {
            "code": "E21",
            "system": "2.16.578.1.12.4.1.1.8221",
            "text": "Mottaker finnes ikke",
            "ref": "Legen har sluttet",
        }
    ]


@pytest.mark.parametrize("name", sorted(EXPECTED_APPRECS))
def test_apprec_samples_are_valid_against_their_xsd(
    samples_dir: Path, schemas: SchemaSet, name: str
) -> None:
    assert validate_document((samples_dir / name).read_bytes(), schemas) == []


def test_msghead_sample_reads(samples_dir: Path) -> None:
    head = parse_msghead((samples_dir / "msghead-tjenestebasert-example.xml").read_bytes())
    assert head.msg_type == "DIALOG_INNBYGGER_EKONTAKT"
    assert head.msg_type_text == "Dialog med innbygger - eKontakt"
    assert head.msg_id == "0d77d041-f010-4ec8-9105-f3dda92fc320"
    assert head.gen_date == datetime(2022, 10, 22, 14, 15, tzinfo=UTC)
    assert head.ack_requested is True
    assert head.conversation_ref is None
    assert head.sender == Organisation(
        name="Direktoratet for e-helse",
        her_id="115851",
        service=Organisation(name="Kenneths kommunikasjonspart 4", her_id="8141333"),
    )
    assert head.receiver == Organisation(
        name="Direktoratet for e-helse",
        her_id="115851",
        service=Organisation(name="Helsenorge.no", her_id="8093244"),
    )
    assert head.issue_date == datetime(2012, 11, 14, 9, 30, 47, tzinfo=UTC)
    assert head.content_description == "Bestille attest"
    assert head.document.tag == "{http://www.kith.no/xmlstds/dialog/2013-01-23}Dialogmelding"
    assert head.document.getparent() is None


def test_msghead_sample_payload_without_schema_is_reported(
    samples_dir: Path, schemas: SchemaSet
) -> None:
    # Content is processContents="strict": a payload without a known schema cannot validate.
    data = (samples_dir / "msghead-tjenestebasert-example.xml").read_bytes()
    issues = validate_document(data, schemas)
    assert len(issues) == 1
    assert issues[0].line == 60
    assert "Dialogmelding" in issues[0].message
    assert "strict wildcard" in issues[0].message


@pytest.mark.parametrize(
    "name",
    [
        "ar-certificate-details-encryption-93238.xml",
        "ar-communication-party-93238.xml",
        "ar-get-communication-party-details-service-response.xml",
    ],
)
def test_address_registry_samples_are_not_apprecs(
    samples_dir: Path, schemas: SchemaSet, name: str
) -> None:
    data = (samples_dir / name).read_bytes()
    with pytest.raises(NotAnAppRecError):
        parse_apprec(data)
    with pytest.raises(UnknownDocumentTypeError):
        validate_document(data, schemas)
