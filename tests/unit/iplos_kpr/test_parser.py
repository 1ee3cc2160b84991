"""parse_melding: every field comes back from build -> to_bytes -> parse, and what is not a
Melding of 56.0.0 is refused with KprDocumentError (or the safe parser's own errors)."""

from __future__ import annotations

import dataclasses

import pytest
from lxml import etree

from kpr_gateway.messages.errors import MessagesError, UnsafeXmlError
from kpr_gateway.messages.iplos_kpr import (
    NAMESPACE,
    ChainHead,
    KprDocumentError,
    NumberedNotification,
    build_melding,
    parse_melding,
    to_bytes,
)
from tests.unit.iplos_kpr.examples import (
    D_NUMMER,
    DUF_NUMMER,
    H_NUMMER,
    HEADER,
    event_id,
    expected_header,
    expected_notification,
    notification,
    numbered,
    uuid_of,
)


def every_kind_and_status() -> list[NumberedNotification]:
    return numbered(
        [
            notification(),
            notification(
                event_id=event_id(2),
                kind="service_end",
                registered_at="2026-03-01T23:59:59.123456+02:00",
                person={"id_type": 2, "national_id": D_NUMMER, "district": None},
            ),
            notification(
                event_id=event_id(3),
                kind="provider_changed",
                provider_org_number="987654325",
                person={"id_type": 10, "national_id": DUF_NUMMER, "user_number": "D-77"},
            ),
            notification(
                event_id=event_id(4),
                status="M",
                corrects=event_id(1),
                kind="temporary_stop_from",
                stop_id="STOPP-1",
                person={"id_type": 3, "national_id": H_NUMMER},
            ),
            notification(
                event_id=event_id(5),
                status="C",
                corrects=event_id(1),
                kind="temporary_stop_to",
                stop_id="STOPP-1",
                provider_org_number="987654325",
                person={"id_type": 9, "national_id": "140348"},
            ),
        ],
        ChainHead(10, uuid_of(10)),
    )


def test_round_trip_gives_back_every_field() -> None:
    items = every_kind_and_status()
    parsed = parse_melding(to_bytes(build_melding(HEADER, items)))
    assert parsed.header == expected_header(HEADER)
    assert parsed.notifications == tuple(expected_notification(item) for item in items)
    assert [n.seq for n in parsed.notifications] == [11, 12, 13, 14, 15]
    assert parsed.notifications[1].registered_at.microsecond == 123456


def test_round_trip_from_the_element() -> None:
    items = every_kind_and_status()
    root = build_melding(HEADER, items)
    assert parse_melding(root) == parse_melding(to_bytes(root))
    assert parse_melding(root, schema_checked=True) == parse_melding(root)


def test_header_without_optional_values() -> None:
    header = dataclasses.replace(HEADER, local_id=None, contacts=HEADER.contacts[1:])
    parsed = parse_melding(to_bytes(build_melding(header, [])))
    assert parsed.header == expected_header(header)
    assert parsed.header.local_id is None
    assert parsed.notifications == ()


def test_repr_leaves_out_personal_data() -> None:
    parsed = parse_melding(build_melding(HEADER, every_kind_and_status()))
    text = repr(parsed)
    for secret in (D_NUMMER, H_NUMMER, DUF_NUMMER, "100234", "Kari Kontakt", "kari@example"):
        assert secret not in text


# ----------------------------------------------------------------------------- tolerated


def built() -> bytes:
    return to_bytes(build_melding(HEADER, every_kind_and_status()[:1]))


def test_comments_and_processing_instructions_are_skipped() -> None:
    data = (
        built()
        .replace(b"<Bruker", b"<!-- the person --><?note x?><Bruker")
        .replace(b"<TjenesteStart", b"<!-- the event --><TjenesteStart")
        .replace(b"<Kontaktperson", b"<!-- contacts --><Kontaktperson", 1)
    )
    assert parse_melding(data) == parse_melding(built())


def test_guids_in_braces_and_upper_case_are_read() -> None:
    upper = event_id(1).upper()
    data = built().replace(f'"{event_id(1)}"'.encode(), f'"{{{upper}}}"'.encode())
    assert parse_melding(data).notifications[0].event_id == uuid_of(1)


def test_a_sequence_number_with_leading_zeros_and_space() -> None:
    data = built().replace(b'notifikasjonLopeNr="11"', b'notifikasjonLopeNr=" 011 "')
    assert parse_melding(data).notifications[0].seq == 11


def test_a_document_of_another_sender_with_several_municipalities() -> None:
    data = built().replace(
        b'<Kommune kommuneNr="0301"/>', b'<Kommune kommuneNr="0301"/><Kommune kommuneNr="4601"/>'
    )
    assert parse_melding(data).header.municipality_numbers == ("0301", "4601")


# ----------------------------------------------------------------------------- refused


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (b'notifikasjonLopeNr="11"', b'notifikasjonLopeNr="x"', "not a whole number"),
        (b'notifikasjonLopeNr="11"', b'notifikasjonLopeNr="-1"', "not a whole number"),
        (b'notifikasjonLopeNr="11"', b'notifikasjonLopeNr=""', "not a whole number"),
        (
            b'notifikasjonLopeNr="11"',
            'notifikasjonLopeNr="\u0661\u0661"'.encode(),
            "not a whole number",
        ),
        (b'hendelseDato="2026-01-05"', b'hendelseDato="2026-01-05Z"', "out of the supported"),
        (b'hendelseDato="2026-01-05"', b'hendelseDato="-2026-01-05"', "out of the supported"),
        (
            b'notifikasjonTid="2026-01-05T09:15:00Z"',
            b'notifikasjonTid="2026-01-05T24:00:00Z"',
            "out of the supported",
        ),
        (b"</TjenesteStart>", b"</TjenesteStart><TjenesteSlutt/>", "not valid"),
        (b"TjenesteStart", b"TjenesteBegin", "not valid"),
        (b' fid="', b' kjonn="1" fid="', "not valid"),
        (b'versjon="56.0.0"', b'versjon="56.0.1"', "not valid"),
        (b'meldingstype="K"', b'meldingstype="B"', "not valid"),
        (b'bydel="030101"', b'bydel="0301011"', "not valid"),
    ],
)
def test_broken_documents_are_refused(old: bytes, new: bytes, message: str) -> None:
    data = built()
    assert old in data
    with pytest.raises(KprDocumentError, match=message):
        parse_melding(data.replace(old, new))


def test_two_events_in_one_notification_are_refused() -> None:
    # The schema allows it (its XOR is in the text only); the parser does not.
    root = build_melding(HEADER, every_kind_and_status()[:2])
    first, second = root.iterfind(f"{{{NAMESPACE}}}Notifikasjon")
    first.append(second[0])
    with pytest.raises(KprDocumentError, match="exactly one event"):
        parse_melding(root)


def test_a_notification_without_an_event_is_refused() -> None:
    root = build_melding(HEADER, every_kind_and_status()[:1])
    notification_element = root[0]
    notification_element.remove(notification_element[0])
    with pytest.raises(KprDocumentError, match="exactly one event"):
        parse_melding(root)


@pytest.mark.parametrize(
    "data",
    [
        b'<Melding xmlns="urn:other"/>',
        b"<Melding/>",
        f'<Notifikasjon xmlns="{NAMESPACE}"/>'.encode(),
    ],
)
def test_other_roots_are_refused(data: bytes) -> None:
    with pytest.raises(KprDocumentError, match="expected a Melding"):
        parse_melding(data)


def test_unsafe_and_malformed_input_is_refused_by_the_safe_parser() -> None:
    with pytest.raises(UnsafeXmlError):
        parse_melding(b'<!DOCTYPE r [<!ENTITY a "b">]><Melding>&a;</Melding>')
    with pytest.raises(MessagesError):
        parse_melding(b"<Melding")


def test_errors_do_not_carry_the_national_id() -> None:
    data = built().replace(b'hendelseDato="2026-01-05"', f'hendelseDato="{D_NUMMER}"'.encode())
    root = etree.fromstring(data)
    with pytest.raises(KprDocumentError) as caught:
        parse_melding(root)
    assert D_NUMMER not in str(caught.value)
