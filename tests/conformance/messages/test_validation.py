"""What the builders write validates against the official XSDs, payload included."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from lxml import etree

from kpr_gateway.messages import iplos_annual, iplos_kpr, xpr_ide
from kpr_gateway.messages.apprec import AppRec, apprec_for, build_apprec
from kpr_gateway.messages.errors import (
    SchemaError,
    SchemaValidationError,
    StandardsNotFoundError,
    UnknownDocumentTypeError,
    UnsafeXmlError,
)
from kpr_gateway.messages.msghead import MSGHEAD_NS, MsgHead, build_msghead, parse_msghead
from kpr_gateway.messages.schemas import (
    APPREC_V10_NS,
    STANDARDS_DIR_ENV,
    PayloadSchema,
    SchemaSet,
    load_schema_set,
    redact_values,
    require_valid,
    validate_document,
)
from tests.unit.iplos_kpr.examples import HEADER, notification, numbered
from tests.unit.messages.examples import head, reply
from tests.unit.messages.strategies import PAYLOAD_NS, apprecs, msgheads, payload_document

FAKE_NATIONAL_ID = "13116900216"


def kpr_melding() -> etree._Element:
    """A Melding of IPLOS i KPR with one notification."""
    return iplos_kpr.build_melding(
        HEADER, numbered([notification(person={"national_id": FAKE_NATIONAL_ID})])
    )


# ----------------------------------------------------------------------------- MsgHead


def test_built_msghead_with_test_payload_validates(schemas: SchemaSet) -> None:
    assert validate_document(build_msghead(head()), schemas) == []


def test_built_msghead_with_kpr_document_validates_fully(default_schemas: SchemaSet) -> None:
    document = kpr_melding()
    data = build_msghead(head(msg_type=iplos_kpr.MSG_TYPE, document=document))
    assert validate_document(data, default_schemas) == []
    # And the KPR document on its own validates by its namespace too.
    assert validate_document(iplos_kpr.to_bytes(document), default_schemas) == []
    assert parse_msghead(data).document.tag == document.tag


def test_invalid_inline_kpr_document_is_reported_with_its_line(
    default_schemas: SchemaSet,
) -> None:
    document = kpr_melding()
    # Sabotage: an element KPR does not know, deep inside the inline document.
    etree.SubElement(document, f"{{{iplos_kpr.NAMESPACE}}}Unexpected").text = "x"
    data = build_msghead(head(document=document))
    issues = validate_document(data, default_schemas)
    assert len(issues) == 1
    expected_line = next(
        number
        for number, line in enumerate(data.decode().splitlines(), start=1)
        if "Unexpected" in line
    )
    assert issues[0].line == expected_line
    assert "Unexpected" in issues[0].message


def test_invalid_attribute_in_kpr_document_is_reported_without_the_value(
    default_schemas: SchemaSet,
) -> None:
    document = kpr_melding()
    bruker = document.find(f".//{{{iplos_kpr.NAMESPACE}}}Bruker")
    assert bruker is not None
    bruker.set("pasientGUID", FAKE_NATIONAL_ID)
    issues = validate_document(build_msghead(head(document=document)), default_schemas)
    assert len(issues) == 1
    assert "pasientGUID" in issues[0].message
    assert FAKE_NATIONAL_ID not in issues[0].message


def test_invalid_value_in_payload_is_reported_without_the_value(schemas: SchemaSet) -> None:
    document = payload_document(f"{FAKE_NATIONAL_ID}x", [], [])
    issues = validate_document(build_msghead(head(document=document)), schemas)
    assert len(issues) == 1
    assert "Reference" in issues[0].message
    assert FAKE_NATIONAL_ID not in issues[0].message
    assert "[value withheld]" in issues[0].message


def test_msghead_in_wrong_order_is_reported(schemas: SchemaSet) -> None:
    data = build_msghead(head())
    swapped = data.replace(b"<MsgId>", b"<MsgIdX>").replace(b"</MsgId>", b"</MsgIdX>")
    issues = validate_document(swapped, schemas)
    assert issues
    assert any("MsgIdX" in issue.message for issue in issues)


def test_payload_from_another_set_is_not_known(default_schemas: SchemaSet) -> None:
    # The default set knows KPR only; the test payload inline fails the strict wildcard.
    issues = validate_document(build_msghead(head()), default_schemas)
    assert len(issues) == 1
    assert "strict wildcard" in issues[0].message


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(msgheads)
def test_any_built_msghead_validates(schemas: SchemaSet, original: MsgHead) -> None:
    assert validate_document(build_msghead(original), schemas) == []


# ----------------------------------------------------------------------------- AppRec


@pytest.mark.parametrize("version", ["1.0", "1.1"])
def test_built_apprec_validates(schemas: SchemaSet, version: str) -> None:
    assert validate_document(build_apprec(reply(version=version)), schemas) == []


@pytest.mark.parametrize("version", ["1.0", "1.1"])
def test_apprec_answering_a_built_msghead_validates(schemas: SchemaSet, version: str) -> None:
    head_data = build_msghead(head())
    answer = apprec_for(parse_msghead(head_data), status=1, version=version)  # type: ignore[arg-type]
    assert validate_document(build_apprec(answer), schemas) == []


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(apprecs())
def test_any_built_apprec_validates(schemas: SchemaSet, apprec: AppRec) -> None:
    assert validate_document(build_apprec(apprec), schemas) == []


@pytest.mark.parametrize("version", ["1.0", "1.1"])
def test_apprec_without_status_is_reported(schemas: SchemaSet, version: str) -> None:
    data = build_apprec(reply(version=version))
    broken = data.replace(b'<Status V="2" DN="Avvist"/>', b"")
    assert any("Status" in issue.message for issue in validate_document(broken, schemas))


# ----------------------------------------------------------------------------- choosing


@pytest.mark.parametrize(
    "data",
    [b"<Orphan/>", b'<x:Other xmlns:x="urn:other"/>', b'<Dialogmelding xmlns="urn:dialog"/>'],
)
def test_unknown_root_namespace_is_a_typed_error(schemas: SchemaSet, data: bytes) -> None:
    with pytest.raises(UnknownDocumentTypeError, match="no schema is known"):
        validate_document(data, schemas)


def test_unsafe_input_is_refused_before_validation(schemas: SchemaSet) -> None:
    with pytest.raises(UnsafeXmlError):
        validate_document(b'<!DOCTYPE r [<!ENTITY a "b">]><r>&a;</r>', schemas)


def test_namespaces_cover_msghead_apprec_and_payloads(schemas: SchemaSet) -> None:
    assert schemas.namespaces == {
        MSGHEAD_NS,
        APPREC_V10_NS,
        "http://www.kith.no/xmlstds/apprec/2012-02-15",
        PAYLOAD_NS,
        iplos_kpr.NAMESPACE,
        iplos_annual.NAMESPACE,
        xpr_ide.NAMESPACE,
    }


def test_require_valid_raises_with_the_issues(schemas: SchemaSet) -> None:
    require_valid(build_apprec(reply()), schemas)
    broken = build_apprec(reply()).replace(b"<Id>ar-1</Id>", b"")
    with pytest.raises(SchemaValidationError) as caught:
        require_valid(broken, schemas)
    assert caught.value.issues
    assert all(issue.line > 0 for issue in caught.value.issues)


# ----------------------------------------------------------------------------- loading


def test_schema_sets_are_cached_per_directory(standards_dir: Path) -> None:
    assert load_schema_set(standards_dir) is load_schema_set(standards_dir / "xsd")


def test_compiled_schemas_are_reused(schemas: SchemaSet) -> None:
    # Compiling is the slow part; the set keeps what it compiled (MsgHead and payloads share).
    assert schemas._schema(MSGHEAD_NS) is schemas._schema(MSGHEAD_NS)
    assert schemas._schema(PAYLOAD_NS) is schemas._schema(MSGHEAD_NS)
    assert schemas._schema(APPREC_V10_NS) is not schemas._schema(MSGHEAD_NS)


def test_standards_dir_comes_from_the_environment(
    standards_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(STANDARDS_DIR_ENV, str(standards_dir))
    assert load_schema_set() is load_schema_set(standards_dir)
    monkeypatch.delenv(STANDARDS_DIR_ENV)
    with pytest.raises(StandardsNotFoundError, match=STANDARDS_DIR_ENV):
        load_schema_set()
    with pytest.raises(StandardsNotFoundError, match=STANDARDS_DIR_ENV):
        SchemaSet.from_env()


def test_schema_set_from_env(standards_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(STANDARDS_DIR_ENV, str(standards_dir))
    from_env = SchemaSet.from_env()
    assert from_env.xsd_dir == (standards_dir / "xsd").resolve()
    assert validate_document(build_apprec(reply()), from_env) == []


def test_missing_standards_are_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StandardsNotFoundError, match=r"MsgHead-v1_2\.xsd"):
        SchemaSet(tmp_path)


def test_missing_payload_schema_is_a_clear_error(standards_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(StandardsNotFoundError, match="payload schema"):
        SchemaSet(standards_dir, payloads=[PayloadSchema("urn:x", tmp_path / "none.xsd")])


def test_broken_payload_schema_fails_on_first_use(standards_dir: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.xsd"
    broken.write_text(
        '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:x">'
        '<xs:element name="A" type="xs:noSuchType"/></xs:schema>'
    )
    schema_set = SchemaSet(standards_dir, payloads=[PayloadSchema("urn:x", broken)])
    assert validate_document(build_apprec(reply()), schema_set) == []
    with pytest.raises(SchemaError, match="MsgHead with payloads"):
        validate_document(build_msghead(head()), schema_set)


def test_validation_is_safe_from_many_threads(schemas: SchemaSet) -> None:
    valid = build_msghead(head())
    invalid = build_msghead(head(document=payload_document("1", [], [])))
    results: dict[int, int] = {}

    def work(index: int) -> None:
        data = valid if index % 2 else invalid
        results[index] = sum(len(validate_document(data, schemas)) for _ in range(20))

    threads = [threading.Thread(target=work, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {index: 0 if index % 2 else 20 for index in range(8)}


# ----------------------------------------------------------------------------- redaction


@pytest.mark.parametrize(
    "message",
    [
        f"Element 'A': [facet 'pattern'] The value '{FAKE_NATIONAL_ID}' is not accepted by the "
        "pattern '[0-9]{10}'.",
        f"Element 'A': '{FAKE_NATIONAL_ID}' is not a valid value of the atomic type 'xs:int'.",
        f"Element 'A', attribute 'V': '{FAKE_NATIONAL_ID}' is not a valid value of the union type.",
        f"Element 'A': [facet 'enumeration'] The value '{FAKE_NATIONAL_ID}' is not an element of "
        "the set {'N', 'M'}.",
        f"Element 'A': Duplicate key-sequence ['{FAKE_NATIONAL_ID}'] in unique identity-constraint",
    ],
)
def test_redaction_withholds_values(message: str) -> None:
    redacted = redact_values(message)
    assert FAKE_NATIONAL_ID not in redacted
    assert redacted.startswith("Element 'A'")


def test_redaction_keeps_messages_without_values() -> None:
    message = "Element '{urn:x}A': This element is not expected. Expected is ( {urn:x}B )."
    assert redact_values(message) == message
