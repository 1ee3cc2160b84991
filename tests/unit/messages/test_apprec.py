"""AppRec v1.0/v1.1: tolerant reading with warnings, strict on correlation and status."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from lxml import etree

from kpr_gateway.messages.apprec import (
    ERROR_CODE_SYSTEM,
    AdditionalId,
    AppRec,
    AppRecErrorCode,
    AppRecParty,
    AppRecStatus,
    AppRecStatusCode,
    OriginalMsg,
    PartyUnit,
    apprec_for,
    build_apprec,
    parse_apprec,
)
from kpr_gateway.messages.errors import (
    AppRecError,
    MalformedXmlError,
    MissingOriginalMsgIdError,
    NotAnAppRecError,
    UnknownAppRecStatusError,
    UnsafeXmlError,
)
from kpr_gateway.messages.msghead import MsgHead, Organisation
from tests.unit.messages.examples import NS10, NS11, apprec_document, at, attrs, reply
from tests.unit.messages.strategies import apprecs, payload_document

FAKE_NATIONAL_ID = "13116900216"


def test_reads_a_rejection() -> None:
    apprec = parse_apprec(apprec_document())
    assert apprec.version == "1.0"
    assert apprec.status == AppRecStatus(AppRecStatusCode.REJECTED, "Avvist")
    assert apprec.errors == [
        AppRecErrorCode("E21", ERROR_CODE_SYSTEM, "Mottaker finnes ikke", None)
    ]
    assert apprec.original == OriginalMsg(
        id="4d7c6f0e-3b52-4c1a-9d3e-2f8a6b1c0d9e",
        msg_type="KPR_IPL",
        issue_date=datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC),
    )
    assert apprec.sender == AppRecParty(
        name="Folkehelseinstituttet",
        id="85217",
        type_id="HER",
        role="AVS",
        departments=(PartyUnit("KPR", "122612", "HER"),),
    )
    assert apprec.receiver is not None
    assert apprec.receiver.id == "8142987"
    assert apprec.warnings == []


def test_reads_version_1_1_by_namespace() -> None:
    apprec = parse_apprec(
        apprec_document(namespace=NS11, mig="<MIGversion>v1.1 2012-02-15</MIGversion>")
    )
    assert apprec.version == "1.1"
    assert apprec.mig_version == "v1.1 2012-02-15"
    assert apprec.warnings == []


def test_keeps_every_error_with_all_attributes() -> None:
    errors = (
        '<Error V="E21" S="2.16.578.1.12.4.1.1.8221" DN="Mottaker finnes ikke" OT="ref 1"/>'
        '<Error V="K-117" S="2.16.578.1.99.1" DN="Ugyldig tjenestekode" OT="Hendelse[3]"/>'
        '<Error V="X"/>'
    )
    apprec = parse_apprec(apprec_document(errors=errors, status='<Status V="3"/>'))
    assert apprec.errors == [
        AppRecErrorCode("E21", ERROR_CODE_SYSTEM, "Mottaker finnes ikke", "ref 1"),
        AppRecErrorCode("K-117", "2.16.578.1.99.1", "Ugyldig tjenestekode", "Hendelse[3]"),
        AppRecErrorCode("X", None, None, None),
    ]
    assert apprec.status == AppRecStatus(AppRecStatusCode.OK_WITH_ERRORS, "OK, feil i delmelding")


def test_trims_whitespace_in_codes_and_ids_with_warnings() -> None:
    apprec = parse_apprec(
        apprec_document(
            status='<Status V=" 1 " DN="OK"/>',
            errors='<Error V=" E10\n" S=" 2.16.578.1.12.4.1.1.8221 "/>',
            original=(
                "<OriginalMsgId><MsgType V=' KPR_IPL '/>"
                "<IssueDate> 2025-03-14T09:26:53Z </IssueDate>"
                "<Id>\n   4d7c6f0e-3b52-4c1a-9d3e-2f8a6b1c0d9e  \n</Id></OriginalMsgId>"
            ),
            sender_hcp="<Inst><Id> 85217 </Id><TypeId V=' HER'/></Inst>",
        )
    )
    assert apprec.status.code == 1
    assert apprec.errors == [AppRecErrorCode("E10", ERROR_CODE_SYSTEM)]
    assert apprec.original.id == "4d7c6f0e-3b52-4c1a-9d3e-2f8a6b1c0d9e"
    assert apprec.original.msg_type == "KPR_IPL"
    assert apprec.original.issue_date == datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC)
    assert apprec.sender is not None
    assert (apprec.sender.id, apprec.sender.type_id) == ("85217", "HER")
    assert "whitespace trimmed in Status/@V" in apprec.warnings
    assert "whitespace trimmed in OriginalMsgId/Id" in apprec.warnings
    assert "whitespace trimmed in Sender/HCP/Inst/TypeId/@V" in apprec.warnings


@pytest.mark.parametrize(
    "mig", ["<MIGversion>1.0 2008-11-21</MIGversion>", "<MIGversion>v1.1 2012-02-15</MIGversion>"]
)
def test_unknown_mig_version_is_accepted_with_a_warning(mig: str) -> None:
    apprec = parse_apprec(apprec_document(mig=mig))
    assert apprec.version == "1.0"  # the namespace decides
    assert apprec.status.code == AppRecStatusCode.REJECTED
    assert any("MIGversion" in warning for warning in apprec.warnings)


def test_missing_mig_version_is_accepted_with_a_warning() -> None:
    apprec = parse_apprec(apprec_document(mig=""))
    assert apprec.mig_version is None
    assert "missing MIGversion" in apprec.warnings


def test_unknown_elements_are_ignored_with_a_warning() -> None:
    extra = '<Comment>free text</Comment><x:Vendor xmlns:x="urn:vendor"><x:A/></x:Vendor>'
    apprec = parse_apprec(apprec_document(extra=extra))
    assert apprec.status.code == AppRecStatusCode.REJECTED
    assert "ignored unknown element Comment in AppRec" in apprec.warnings
    assert "ignored unknown element Vendor in AppRec" in apprec.warnings


def test_reads_a_professional_and_additional_ids() -> None:
    hcp = (
        "<HCProf><Type V='LE'/><Name>Dr. Test</Name><Id>9144900</Id><TypeId V='HPR'/>"
        "<AdditionalId><Id>123</Id><Type V='HER'/></AdditionalId></HCProf>"
    )
    apprec = parse_apprec(apprec_document(sender_hcp=hcp))
    assert apprec.sender == AppRecParty(
        name="Dr. Test",
        id="9144900",
        type_id="HPR",
        kind="HCProf",
        role="AVS",
        additional_ids=(AdditionalId("123", "HER"),),
    )


def test_missing_sender_is_tolerated_with_a_warning() -> None:
    apprec = parse_apprec(apprec_document(sender_hcp="<MedSpeciality V='x'/>"))
    assert apprec.sender is None
    assert "Sender/HCP has neither Inst nor HCProf" in apprec.warnings


def test_invalid_dates_are_tolerated_with_warnings() -> None:
    broken = apprec_document().replace(b"<GenDate>2025-03-14T10:00:00Z", b"<GenDate>igaar")
    apprec = parse_apprec(broken)
    assert apprec.gen_date is None
    assert "AppRec/GenDate is not a valid date-time; ignored" in apprec.warnings


@pytest.mark.parametrize(
    "original",
    [
        "",
        "<OriginalMsgId><MsgType V='KPR_IPL'/><IssueDate>2025-03-14T09:26:53Z</IssueDate>"
        "</OriginalMsgId>",
        "<OriginalMsgId><MsgType V='KPR_IPL'/><IssueDate>2025-03-14T09:26:53Z</IssueDate>"
        "<Id>  </Id></OriginalMsgId>",
    ],
)
def test_missing_original_msg_id_is_refused(original: str) -> None:
    with pytest.raises(MissingOriginalMsgIdError):
        parse_apprec(apprec_document(original=original))


@pytest.mark.parametrize(
    "status", ["", '<Status V="4" DN="?"/>', '<Status V="0"/>', '<Status V="OK"/>', "<Status/>"]
)
def test_status_outside_kodeverk_8258_is_refused(status: str) -> None:
    with pytest.raises(UnknownAppRecStatusError):
        parse_apprec(apprec_document(status=status))


@pytest.mark.parametrize(
    "data",
    [
        apprec_document(namespace="http://www.kith.no/xmlstds/apprec/2099-01-01"),
        apprec_document(namespace="http://www.kith.no/xmlstds/msghead/2006-05-24"),
        b"<AppRec/>",
        f'<Kvittering xmlns="{NS10}"/>'.encode(),
    ],
)
def test_wrong_root_or_namespace_is_refused(data: bytes) -> None:
    with pytest.raises(NotAnAppRecError):
        parse_apprec(data)


def test_not_an_apprec_is_an_apprec_error() -> None:
    assert issubclass(NotAnAppRecError, AppRecError)
    assert issubclass(MissingOriginalMsgIdError, AppRecError)
    assert issubclass(UnknownAppRecStatusError, AppRecError)


def test_hostile_and_malformed_input_raise_the_xml_errors() -> None:
    with pytest.raises(UnsafeXmlError):
        parse_apprec(b'<!DOCTYPE AppRec [<!ENTITY x SYSTEM "file:///etc/passwd">]><AppRec/>')
    with pytest.raises(MalformedXmlError):
        parse_apprec(apprec_document()[:-20])


def test_errors_and_warnings_do_not_echo_content() -> None:
    leaky = apprec_document(
        mig=f"<MIGversion>{FAKE_NATIONAL_ID}</MIGversion>",
        status=f'<Status V="{FAKE_NATIONAL_ID}"/>',
    )
    with pytest.raises(UnknownAppRecStatusError) as caught:
        parse_apprec(leaky)
    assert FAKE_NATIONAL_ID not in str(caught.value)
    apprec = parse_apprec(
        apprec_document(mig=f"<MIGversion>{FAKE_NATIONAL_ID}</MIGversion>", extra="<Fnr>x</Fnr>")
    )
    assert all(FAKE_NATIONAL_ID not in warning for warning in apprec.warnings)


def test_party_names_are_kept_out_of_repr() -> None:
    apprec = parse_apprec(apprec_document())
    assert "Folkehelseinstituttet" not in repr(apprec)
    assert apprec.sender is not None
    assert apprec.sender.name == "Folkehelseinstituttet"


def test_json_dict_has_exactly_the_agreed_shape() -> None:
    result = parse_apprec(apprec_document()).to_json_dict()
    assert list(result) == [
        "version",
        "id",
        "gen_date",
        "status",
        "errors",
        "original",
        "sender",
        "receiver",
    ]
    assert result["version"] == "1.0"
    assert result["id"] == "ar-1"
    assert result["gen_date"] == "2025-03-14T10:00:00+00:00"
    assert result["status"] == {"code": 2, "text": "Avvist"}
    assert type(result["status"]["code"]) is int
    assert result["errors"] == [
        {"code": "E21", "system": ERROR_CODE_SYSTEM, "text": "Mottaker finnes ikke", "ref": None}
    ]
    assert result["original"] == {
        "msg_type": "KPR_IPL",
        "issue_date": "2025-03-14T09:26:53+00:00",
        "id": "4d7c6f0e-3b52-4c1a-9d3e-2f8a6b1c0d9e",
    }
    assert result["sender"] == {
        "role": "AVS",
        "kind": "Inst",
        "name": "Folkehelseinstituttet",
        "id": "85217",
        "type_id": "HER",
        "additional_ids": [],
        "departments": [{"name": "KPR", "id": "122612", "type_id": "HER", "additional_ids": []}],
        "persons": [],
    }
    assert json.loads(json.dumps(result)) == result


# ----------------------------------------------------------------------------- writing


def test_apprec_for_answers_the_msghead() -> None:
    apprec = reply()
    assert apprec.original == OriginalMsg(
        id="4d7c6f0e-3b52-4c1a-9d3e-2f8a6b1c0d9e",
        msg_type="KPR_IPL",
        issue_date=datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC),
    )
    assert apprec.sender == AppRecParty(
        name="Folkehelseinstituttet",
        id="85217",
        type_id="HER",
        departments=(PartyUnit("KPR", "122612", "HER"),),
    )
    assert apprec.receiver is not None
    assert apprec.receiver.departments == (PartyUnit("Saks", "8142988", "HER"),)
    assert apprec.status == AppRecStatus(AppRecStatusCode.REJECTED, "Avvist")


def test_apprec_for_fills_id_and_date() -> None:
    apprec = apprec_for(
        MsgHead(
            msg_type="KPR_IDE",
            msg_type_text="KPR identmelding",
            msg_id="m",
            gen_date=datetime(2025, 3, 14, tzinfo=UTC),
            sender=Organisation("A", "1"),
            receiver=Organisation("B", "2"),
            issue_date=datetime(2025, 3, 14, tzinfo=UTC),
            document=payload_document("12345678901", [], []),
        ),
        status=1,
        version="1.1",
    )
    assert apprec.id is not None
    assert len(apprec.id) == 36
    assert apprec.gen_date is not None
    assert apprec.gen_date.tzinfo is UTC
    assert apprec.version == "1.1"


def test_built_rejection_has_the_xsd_order_and_values() -> None:
    root = etree.fromstring(build_apprec(reply()))
    assert root.tag == f"{{{NS10}}}AppRec"
    assert [etree.QName(child).localname for child in root] == [
        "MsgType",
        "MIGversion",
        "GenDate",
        "Id",
        "Sender",
        "Receiver",
        "Status",
        "Error",
        "OriginalMsgId",
    ]
    ns = {"ar": NS10}
    assert root.findtext("ar:MIGversion", namespaces=ns) == "1.0 2004-11-21"
    assert root.findtext("ar:GenDate", namespaces=ns) == "2025-03-14T10:00:00Z"
    assert attrs(at(root, "ar:Status", ns)) == {"V": "2", "DN": "Avvist"}
    assert attrs(at(root, "ar:Error", ns)) == {
        "V": "E21",
        "S": ERROR_CODE_SYSTEM,
        "DN": "Mottaker finnes ikke",
    }
    assert root.findtext("ar:OriginalMsgId/ar:Id", namespaces=ns) == (
        "4d7c6f0e-3b52-4c1a-9d3e-2f8a6b1c0d9e"
    )
    inst = at(root, "ar:Sender/ar:HCP/ar:Inst", ns)
    assert [etree.QName(child).localname for child in inst] == ["Name", "Id", "TypeId", "Dept"]


def test_version_1_1_is_written_in_its_namespace_and_mig() -> None:
    root = etree.fromstring(build_apprec(reply(version="1.1")))
    assert root.tag == f"{{{NS11}}}AppRec"
    assert root.findtext(f"{{{NS11}}}MIGversion") == "v1.1 2012-02-15"


@pytest.mark.parametrize(
    ("changes", "complaint"),
    [
        ({"version": "2.0"}, "version"),
        ({"id": None}, "id"),
        ({"id": " ar-1"}, "id"),
        ({"gen_date": None}, "gen_date"),
        ({"gen_date": datetime(2025, 1, 1)}, "gen_date"),
        ({"msg_type": "KVITTERING"}, "msg_type"),
        ({"mig_version": "1.0 2008-11-21"}, "mig_version"),
        ({"status": AppRecStatus(4, "?")}, "status"),  # type: ignore[arg-type]
        ({"errors": [AppRecErrorCode("E 21")]}, "errors.code"),
        ({"errors": [AppRecErrorCode("")]}, "errors.code"),
        ({"errors": [AppRecErrorCode("E21", system="kodeverk 8221")]}, "OID"),
        ({"original": OriginalMsg(id="")}, "original.id"),
        (
            {"original": OriginalMsg(id="m", issue_date=datetime(2025, 1, 1, tzinfo=UTC))},
            "msg_type",
        ),
        ({"original": OriginalMsg(id="m", msg_type="KPR_IPL")}, "original.issue_date"),
        ({"sender": None}, "sender"),
        ({"receiver": AppRecParty(id="1")}, "receiver.type_id"),
        ({"receiver": AppRecParty(kind="HCProf", departments=(PartyUnit(),))}, "Inst only"),
        ({"receiver": AppRecParty(kind="Dept")}, "kind"),  # type: ignore[arg-type]
        ({"receiver": AppRecParty(additional_ids=(AdditionalId("1"),))}, "additional_ids.type"),
        ({"sender": AppRecParty(name="bell\x07")}, "cannot be written"),
    ],
)
def test_builder_refuses_what_would_not_validate(
    changes: dict[str, object], complaint: str
) -> None:
    with pytest.raises(AppRecError, match=complaint):
        build_apprec(reply(**changes))


def test_status_of_refuses_unknown_codes() -> None:
    assert AppRecStatus.of(3) == AppRecStatus(
        AppRecStatusCode.OK_WITH_ERRORS, "OK, feil i delmelding"
    )
    with pytest.raises(UnknownAppRecStatusError):
        AppRecStatus.of(4)


def test_warnings_are_not_written() -> None:
    assert build_apprec(reply(warnings=["noise"])) == build_apprec(reply())


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(apprecs())
def test_round_trip(original: AppRec) -> None:
    data = build_apprec(original)
    parsed = parse_apprec(data)
    assert parsed == original
    assert build_apprec(parsed) == data
