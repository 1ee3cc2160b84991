"""The code lists agree with the official XPR(ipl)_CodingSchemes.xsd as shipped in the package."""

from __future__ import annotations

from datetime import date

import pytest
from lxml import etree

from kpr_gateway.messages.iplos_kpr import (
    FIRST_PHASE_SERVICE_TYPES,
    SERVICE_TYPES,
    XSD_DIR,
    ContactType,
    EventKind,
    IdType,
    NotificationStatus,
    service_type,
)
from kpr_gateway.messages.iplos_kpr.codes import KIND_OF_ELEMENT

XS = "{http://www.w3.org/2001/XMLSchema}"
ENDED_WITH_2018 = {"12", "13", "16"}


def official_codes(oid: str) -> dict[str, tuple[str, str]]:
    """Code value -> (text, comment) of one coding scheme, from the schema's appinfo."""
    root = etree.parse(str(XSD_DIR / "XPR(ipl)_CodingSchemes.xsd")).getroot()
    for appinfo in root.iter(f"{XS}appinfo"):
        oids = [scheme.get("OID") for scheme in appinfo.iter(f"{XS}codingScheme")]
        if oid in oids:
            return {
                str(code.get("value")): (str(code.get("text")), str(code.get("comment")))
                for code in appinfo.iter(f"{XS}code")
            }
    raise AssertionError(f"kodeverk {oid} not in the schema")


def test_service_types_are_the_official_list_plus_the_three_that_ended_with_2018() -> None:
    official = official_codes("9151")
    assert set(SERVICE_TYPES) == set(official) | ENDED_WITH_2018
    for code, (text, comment) in official.items():
        row = SERVICE_TYPES[code]
        assert row.code == code
        assert row.name_nb == text
        assert row.withdrawn == (comment or None)
        assert row.valid_until is None


def test_withdrawn_codes_are_never_valid() -> None:
    withdrawn = {code for code, row in SERVICE_TYPES.items() if row.withdrawn is not None}
    assert withdrawn == {"6", "14", "23", "24", "26", "27", "28"}
    for code in withdrawn:
        assert not SERVICE_TYPES[code].is_valid_on(date(2010, 1, 1))
        assert not SERVICE_TYPES[code].is_valid_on(date(2026, 1, 1))


@pytest.mark.parametrize("code", sorted(ENDED_WITH_2018))
def test_codes_12_13_16_are_valid_until_the_end_of_2018(code: str) -> None:
    row = SERVICE_TYPES[code]
    assert row.valid_until == date(2018, 12, 31)
    assert row.is_valid_on(date(2017, 1, 1))
    assert row.is_valid_on(date(2018, 12, 31))
    assert not row.is_valid_on(date(2019, 1, 1))


def test_current_codes_are_valid_on_any_day() -> None:
    for code in ("1", "15", "21", "29"):
        assert SERVICE_TYPES[code].is_valid_on(date(2017, 1, 1))
        assert SERVICE_TYPES[code].is_valid_on(date(2099, 12, 31))


def test_first_phase_is_the_specifications_five() -> None:
    assert {"18", "19", "20", "21", "29"} == FIRST_PHASE_SERVICE_TYPES
    assert set(SERVICE_TYPES) >= FIRST_PHASE_SERVICE_TYPES


def test_service_type_lookup() -> None:
    assert service_type("21") is SERVICE_TYPES["21"]
    assert service_type("99") is None
    assert service_type("021") is None


def test_notification_status_is_kodeverk_7316() -> None:
    official = official_codes("7316")
    assert {status.value for status in NotificationStatus} == set(official)
    assert official["M"][0] == "KorrigerErstatt"
    assert official["C"][0] == "KorrigerAnnuller"
    assert official["T"][0] == "KorrigerSuppler"
    assert [s.is_correction for s in NotificationStatus] == [False, True, True, True]


def test_id_types_are_the_accepted_codes_of_kodeverk_9032() -> None:
    official = official_codes("9032")
    assert {str(t.value) for t in IdType} == {"1", "2", "3", "9", "10"}
    assert {str(t.value) for t in IdType} <= set(official)
    for id_type in IdType:
        assert id_type.name_nb.split(" (")[0] == official[str(id_type.value)][0]
    assert {t for t in IdType if t.gives_kpr_id} == {
        IdType.FODSELSNUMMER,
        IdType.D_NUMMER,
        IdType.DUF_NUMMER,
    }


def test_contact_types_are_the_iplos_codes_of_kodeverk_8471() -> None:
    official = official_codes("8471")
    assert official[str(ContactType.IPLOS_CONTACT.value)][0] == "IPLOS kontaktperson"
    assert official[str(ContactType.IPLOS_SUBMITTER.value)][0] == "IPLOS innsendingsansvarlig"


def test_message_kind_k_is_in_kodeverk_7371() -> None:
    assert official_codes("7371")["K"][0] == "Melding for kontinuerlige oppdateringer"


def test_every_kind_has_its_element_of_the_schema() -> None:
    root = etree.parse(str(XSD_DIR / "XPR(ipl).xsd")).getroot()
    declared = {str(element.get("name")) for element in root.iterfind(f"{XS}element")}
    elements = {kind.element for kind in EventKind}
    assert elements == declared - {"Melding", "Notifikasjon", "Kontaktperson", "Kommune", "Bruker"}
    assert {kind: KIND_OF_ELEMENT[kind.element] for kind in EventKind} == {k: k for k in EventKind}
    assert {k for k in EventKind if k.has_stop_id} == {
        EventKind.TEMPORARY_STOP_FROM,
        EventKind.TEMPORARY_STOP_TO,
    }
    assert {k for k in EventKind if k.requires_provider} == {EventKind.PROVIDER_CHANGED}


def test_the_schema_agrees_on_what_each_kind_requires() -> None:
    root = etree.parse(str(XSD_DIR / "XPR(ipl).xsd")).getroot()
    for kind in EventKind:
        element = root.find(f"{XS}element[@name='{kind.element}']")
        assert element is not None
        uses = {a.get("name"): a.get("use") for a in element.iter(f"{XS}attribute")}
        assert ("midlertidigStoppID" in uses) == kind.has_stop_id
        assert (uses["tjenesteOrgNr"] == "required") == kind.requires_provider
