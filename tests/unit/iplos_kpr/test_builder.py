"""build_melding: the document's shape, the chain checks, escaping, and to_bytes."""

from __future__ import annotations

import dataclasses
import re

import pytest
from lxml import etree

from kpr_gateway.messages.iplos_kpr import (
    GUID_EMPTY,
    NAMESPACE,
    ChainHead,
    Contact,
    ContactType,
    EpjSystem,
    KprDocumentError,
    MeldingHeader,
    NumberedNotification,
    build_melding,
    patient_guid,
    to_bytes,
    validate_document,
)
from kpr_gateway.messages.xmlwrite import XML_DECLARATION
from tests.unit.iplos_kpr.examples import (
    CONTACTS,
    FODSELSNUMMER,
    HEADER,
    SECRET,
    event_id,
    notification,
    numbered,
    uuid_of,
)

NS = {"k": NAMESPACE}


def q(local: str) -> str:
    return f"{{{NAMESPACE}}}{local}"


def attrs(element: etree._Element) -> dict[str, str]:
    return {str(name): str(value) for name, value in element.attrib.items()}


def one(parent: etree._Element, path: str) -> etree._Element:
    found = parent.find(path, NS)
    assert found is not None, f"missing {path}"
    return found


def three_kinds() -> list[NumberedNotification]:
    return numbered(
        [
            notification(),
            notification(
                event_id=event_id(2),
                status="M",
                corrects=event_id(1),
                kind="temporary_stop_from",
                stop_id="STOPP-7",
                provider_org_number="987654325",
                person={"district": None},
            ),
            notification(
                event_id=event_id(3),
                kind="provider_changed",
                provider_org_number="987654325",
                person={"id_type": 9, "national_id": "140348", "user_number": "100999"},
            ),
        ]
    )


# ----------------------------------------------------------------------------- shape


def test_melding_attributes_and_children_in_schema_order() -> None:
    root = build_melding(HEADER, three_kinds())
    assert root.tag == q("Melding")
    assert attrs(root) == {
        "versjon": "56.0.0",
        "meldingstype": "K",
        "leverandor": "Omsorgsdata AS",
        "navnEPJ": "Omsorg EPJ",
        "versjonEPJ": "24.3.1",
        "versjonUt": "0.1.0",
        "lokalident": "batch-0001",
    }
    assert [child.tag for child in root] == [
        q("Notifikasjon"),
        q("Notifikasjon"),
        q("Notifikasjon"),
        q("Kontaktperson"),
        q("Kontaktperson"),
        q("Kommune"),
    ]
    assert attrs(one(root, "k:Kommune")) == {"kommuneNr": "0301"}


def test_local_id_is_optional() -> None:
    root = build_melding(dataclasses.replace(HEADER, local_id=None), three_kinds())
    assert "lokalident" not in root.attrib


def test_original_notification() -> None:
    items = three_kinds()
    element = build_melding(HEADER, items)[0]
    assert attrs(element) == {
        "statusNotifikasjon": "N",
        "notifikasjonTid": "2026-01-05T09:15:00Z",
        "notifikasjonGUID": event_id(1),
        "notifikasjonForrigeGUID": str(GUID_EMPTY),
        "notifikasjonLopeNr": "1",
    }
    (event,) = element
    assert event.tag == q("TjenesteStart")
    assert attrs(event) == {
        "hendelseGUID": "6a1f0b52-6f0e-4c43-9a55-2f3c1e0d9b11",
        "tjenesteID": "TJ-2026-0042",
        "tjenesteType": "21",
        "hendelseRegTid": "2026-01-05T09:15:00Z",
        "hendelseDato": "2026-01-05",
    }
    (bruker,) = event
    assert bruker.tag == q("Bruker")
    assert attrs(bruker) == {
        "pasientGUID": str(patient_guid("100234", SECRET)),
        "brukerNr": "100234",
        "bydel": "030101",
        "fid": FODSELSNUMMER,
        "typeID": "1",
    }


def test_correction_with_stop_and_provider() -> None:
    element = build_melding(HEADER, three_kinds())[1]
    assert element.get("statusNotifikasjon") == "M"
    assert element.get("notifikasjonRef") == event_id(1)
    assert element.get("notifikasjonForrigeGUID") == event_id(1)
    assert element.get("notifikasjonLopeNr") == "2"
    (event,) = element
    assert event.tag == q("MidlertidigStoppFra")
    assert event.get("midlertidigStoppID") == "STOPP-7"
    assert event.get("tjenesteOrgNr") == "987654325"
    assert "bydel" not in event[0].attrib


def test_birth_date_as_id_type_9() -> None:
    bruker = one(build_melding(HEADER, three_kinds()), "k:Notifikasjon[3]/*/k:Bruker")
    assert (bruker.get("fid"), bruker.get("typeID")) == ("140348", "9")
    assert bruker.get("pasientGUID") == str(patient_guid("100999", SECRET))


@pytest.mark.parametrize(
    ("kind", "element", "extra"),
    [
        ("service_start", "TjenesteStart", {}),
        ("service_end", "TjenesteSlutt", {}),
        ("provider_changed", "TjenesteutforerEndret", {"provider_org_number": "987654325"}),
        ("temporary_stop_from", "MidlertidigStoppFra", {"stop_id": "S-1"}),
        ("temporary_stop_to", "MidlertidigStoppTil", {"stop_id": "S-1"}),
    ],
)
def test_each_kind_has_its_element(kind: str, element: str, extra: dict[str, str]) -> None:
    root = build_melding(HEADER, numbered([notification(kind=kind, **extra)]))
    (event,) = one(root, "k:Notifikasjon")
    assert event.tag == q(element)
    assert ("midlertidigStoppID" in event.attrib) == ("stop_id" in extra)
    assert ("tjenesteOrgNr" in event.attrib) == ("provider_org_number" in extra)


def test_source_ref_is_never_sent() -> None:
    data = to_bytes(build_melding(HEADER, three_kinds()))
    assert b"GERICA" not in data


def test_registered_at_is_written_in_utc_with_its_fraction() -> None:
    item = notification(registered_at="2026-01-05T00:30:00.250-05:30")
    root = build_melding(HEADER, numbered([item]))
    assert one(root, "k:Notifikasjon").get("notifikasjonTid") == "2026-01-05T06:00:00.25Z"


def test_contacts_with_and_without_optional_fields() -> None:
    root = build_melding(HEADER, three_kinds())
    first, second = root.iterfind("k:Kontaktperson", NS)
    assert attrs(first) == {
        "kontPerson": "Kari Kontakt",
        "meldTelefon": "+4791234567",
        "meldEpost1": "kari@example.invalid",
        "typeKontaktperson": "16",
    }
    assert attrs(second) == {
        "kontPerson": "Ola Innsender",
        "meldEpost1": "ola@example.invalid",
        "meldEpost2": "iplos@example.invalid",
        "typeKontaktperson": "17",
    }


def test_a_melding_without_notifications_is_valid() -> None:
    root = build_melding(HEADER, [])
    assert [child.tag for child in root] == [q("Kontaktperson")] * 2 + [q("Kommune")]
    validate_document(root)


# ----------------------------------------------------------------------------- header


@pytest.mark.parametrize("municipality", ["301", "03011", "03a1", "", "٠٣٠١"])
def test_header_municipality_is_four_digits(municipality: str) -> None:
    with pytest.raises(KprDocumentError, match="4 digits"):
        dataclasses.replace(HEADER, municipality_number=municipality)


def test_header_needs_a_contact() -> None:
    with pytest.raises(KprDocumentError, match="at least one contact"):
        dataclasses.replace(HEADER, contacts=[])


def test_header_keeps_its_own_copy_of_the_contacts() -> None:
    contacts = list(CONTACTS)
    header = dataclasses.replace(HEADER, contacts=contacts)
    contacts.clear()
    assert header.contacts == CONTACTS


# ----------------------------------------------------------------------------- chain


def test_a_batch_may_continue_a_chain() -> None:
    head = ChainHead(41, uuid_of(41))
    items = numbered([notification(event_id=event_id(42))], head)
    element = one(build_melding(HEADER, items), "k:Notifikasjon")
    assert element.get("notifikasjonLopeNr") == "42"
    assert element.get("notifikasjonForrigeGUID") == event_id(41)


def chain_error(items: list[NumberedNotification], header: MeldingHeader = HEADER) -> str:
    with pytest.raises(KprDocumentError) as caught:
        build_melding(header, items)
    message = str(caught.value)
    assert FODSELSNUMMER not in message
    return message


def test_wrong_municipality() -> None:
    items = numbered(
        [notification(), notification(event_id=event_id(2), municipality_number="4601")]
    )
    message = chain_error(items)
    assert "notification 1" in message
    assert "municipality 4601" in message
    assert "for 0301" in message


def test_repeated_event_id() -> None:
    first = numbered([notification()])[0]
    again = NumberedNotification(
        first.notification, 2, first.notification.event_id, first.patient_guid
    )
    assert "occurs twice" in chain_error([first, again])


def test_gap_in_the_numbers() -> None:
    first, second = numbered([notification(), notification(event_id=event_id(2))])
    message = chain_error([first, dataclasses.replace(second, seq=3)])
    assert "notification 1 does not follow the one before it" in message


def test_repeated_number() -> None:
    first, second = numbered([notification(), notification(event_id=event_id(2))])
    assert "does not follow" in chain_error([first, dataclasses.replace(second, seq=1)])


def test_bad_previous() -> None:
    first, second = numbered([notification(), notification(event_id=event_id(2))])
    assert "does not follow" in chain_error(
        [first, dataclasses.replace(second, previous=uuid_of(9))]
    )
    assert "does not follow" in chain_error(
        [first, dataclasses.replace(second, previous=GUID_EMPTY)]
    )


def test_order_is_the_chains() -> None:
    first, second = numbered([notification(), notification(event_id=event_id(2))])
    assert "does not follow" in chain_error([second, first])


def test_first_of_a_chain_follows_guid_empty() -> None:
    (first,) = numbered([notification()])
    message = chain_error([dataclasses.replace(first, previous=uuid_of(9))])
    assert "Guid.Empty" in message


def test_only_the_first_of_a_chain_follows_guid_empty() -> None:
    (item,) = numbered([notification(event_id=event_id(5))], ChainHead(4, uuid_of(4)))
    assert "Guid.Empty" in chain_error([dataclasses.replace(item, previous=GUID_EMPTY)])


def test_a_notification_cannot_follow_itself() -> None:
    (item,) = numbered([notification(event_id=event_id(5))], ChainHead(4, uuid_of(4)))
    assert "names itself" in chain_error([dataclasses.replace(item, previous=uuid_of(5))])


@pytest.mark.parametrize("seq", [0, -1])
def test_numbers_start_at_one(seq: int) -> None:
    (item,) = numbered([notification()])
    assert f"sequence number {seq}" in chain_error([dataclasses.replace(item, seq=seq)])


# ----------------------------------------------------------------------------- escaping

AWKWARD = "A&B <c> \"d\" 'e'\tf\ng\rh"


def test_attribute_values_are_escaped_and_come_back_exactly() -> None:
    header = MeldingHeader(
        municipality_number="0301",
        system=EpjSystem(vendor=AWKWARD, name=AWKWARD, version=AWKWARD),
        gateway_version=AWKWARD,
        contacts=[Contact(AWKWARD, AWKWARD, ContactType.IPLOS_CONTACT, AWKWARD, AWKWARD)],
        local_id=AWKWARD,
    )
    root = build_melding(header, [])
    data = to_bytes(root)
    expected = b"A&amp;B &lt;c&gt; &quot;d&quot; 'e'&#9;f&#10;g&#13;h"
    assert data.count(expected) == 9  # five in the Melding, four in the contact
    reparsed = etree.fromstring(data)
    values = [*reparsed.attrib.values(), *reparsed[0].attrib.values()]
    assert values.count(AWKWARD) == 9
    assert {str(v) for v in values} - {AWKWARD} == {"56.0.0", "K", "16"}


def test_escaped_values_inside_notifications() -> None:
    item = notification(
        service_id='T&J <1> "x"',
        person={"user_number": "A&B<C>"},
        stop_id="S&<>",
        kind="temporary_stop_to",
    )
    data = to_bytes(build_melding(HEADER, numbered([item])))
    assert b'tjenesteID="T&amp;J &lt;1&gt; &quot;x&quot;"' in data
    assert b'brukerNr="A&amp;B&lt;C&gt;"' in data
    assert b'midlertidigStoppID="S&amp;&lt;&gt;"' in data


@pytest.mark.parametrize("text", ["bell\x07", "nul\x00", "not a character \ufffe", "lone \ud800"])
def test_values_xml_cannot_carry_are_refused(text: str) -> None:
    header = dataclasses.replace(HEADER, system=EpjSystem(text, "EPJ", "1"))
    with pytest.raises(KprDocumentError, match="cannot be written as XML"):
        build_melding(header, [])


# ----------------------------------------------------------------------------- bytes


def test_to_bytes_is_deterministic_and_leaves_the_element_alone() -> None:
    items = three_kinds()
    root = build_melding(HEADER, items)
    before = etree.tostring(root)
    data = to_bytes(root)
    assert data == to_bytes(root)
    assert data == to_bytes(build_melding(HEADER, items))
    assert etree.tostring(root) == before
    assert data.startswith(XML_DECLARATION)
    assert data.endswith(b"</Melding>\n")
    assert data.decode("utf-8")


def test_to_bytes_leaves_out_the_tail_inside_another_document() -> None:
    root = build_melding(HEADER, [])
    wrapper = etree.Element("wrapper")
    wrapper.append(root)
    root.tail = "tail text"
    assert b"tail text" not in to_bytes(root)


def test_to_bytes_is_indented_one_element_per_line() -> None:
    lines = to_bytes(build_melding(HEADER, three_kinds())).decode().splitlines()
    assert lines[1].startswith("<Melding ")
    assert lines[2].startswith("  <Notifikasjon ")
    assert lines[3].startswith("    <TjenesteStart ")
    assert lines[4].startswith("      <Bruker ")
    assert all(re.fullmatch(r" *<.*>", line) for line in lines[1:])


# ----------------------------------------------------------------------------- schema


def test_validate_document_names_the_element_not_the_value() -> None:
    root = build_melding(HEADER, three_kinds())
    bruker = one(root, "k:Notifikasjon/*/k:Bruker")
    bruker.set("pasientGUID", FODSELSNUMMER)
    bruker.set("bydel", FODSELSNUMMER)
    with pytest.raises(KprDocumentError) as caught:
        validate_document(root)
    message = str(caught.value)
    assert message.startswith("document is not valid against XPR(ipl).xsd: ")
    assert "Bruker" in message
    assert FODSELSNUMMER not in message


def test_validate_document_reports_at_most_five_problems() -> None:
    root = build_melding(HEADER, [])
    for index in range(8):
        etree.SubElement(root, q("Kommune")).set("kommuneNr", f"{index:04d}")
        root[-1].set("kjonn", "1")
    with pytest.raises(KprDocumentError) as caught:
        validate_document(root)
    assert str(caught.value).count("; ") == 4
