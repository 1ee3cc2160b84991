"""MsgHead v1.2: the builder writes what the XSD orders, the parser is strict on required parts."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from kpr_gateway.messages.errors import MsgHeadError, UnsafeXmlError
from kpr_gateway.messages.msghead import (
    MSGHEAD_NS,
    ConversationRef,
    MsgHead,
    Organisation,
    build_msghead,
    canonical_document,
    parse_msghead,
    read_msghead,
)
from kpr_gateway.messages.xmlsafe import parse_xml
from tests.unit.messages.examples import MH, at, attrs, head
from tests.unit.messages.strategies import PAYLOAD_NS, msgheads, payload_document


def built(**changes: object) -> etree._Element:
    return etree.fromstring(build_msghead(head(**changes)))


def children(element: etree._Element) -> list[str]:
    return [etree.QName(child).localname for child in element]


def test_msginfo_children_follow_the_xsd_order() -> None:
    root = built(conversation_ref=ConversationRef("parent", "conversation"))
    assert children(root) == ["MsgInfo", "Document"]
    assert children(root[0]) == [
        "Type",
        "MIGversion",
        "GenDate",
        "MsgId",
        "Ack",
        "ConversationRef",
        "Sender",
        "Receiver",
    ]
    assert children(at(root, "mh:MsgInfo/mh:ConversationRef")) == [
        "RefToParent",
        "RefToConversation",
    ]


def test_document_and_refdoc_follow_the_xsd_order() -> None:
    root = built()
    assert children(at(root, "mh:Document")) == ["ContentDescription", "RefDoc"]
    assert children(at(root, "mh:Document/mh:RefDoc")) == ["IssueDate", "MsgType", "Content"]
    ref_doc_type = at(root, "mh:Document/mh:RefDoc/mh:MsgType")
    assert attrs(ref_doc_type) == {"V": "XML", "DN": "XML-instans"}
    content = at(root, "mh:Document/mh:RefDoc/mh:Content")
    assert [child.tag for child in content] == [f"{{{PAYLOAD_NS}}}Payload"]


def test_msginfo_values() -> None:
    info = at(built(), "mh:MsgInfo")
    assert attrs(at(info, "mh:Type")) == {"V": "KPR_IPL", "DN": "KPR fagmelding"}
    assert info.findtext("mh:MIGversion", namespaces=MH) == "v1.2 2006-05-24"
    assert info.findtext("mh:GenDate", namespaces=MH) == "2025-03-14T09:26:53Z"
    assert info.findtext("mh:MsgId", namespaces=MH) == "4d7c6f0e-3b52-4c1a-9d3e-2f8a6b1c0d9e"
    assert attrs(at(info, "mh:Ack")) == {"V": "J", "DN": "Ja"}


def test_ack_not_requested_is_written_as_n() -> None:
    ack = at(built(ack_requested=False), "mh:MsgInfo/mh:Ack")
    assert attrs(ack) == {"V": "N", "DN": "Nei"}


def test_two_level_addressing_with_her_and_enh_idents() -> None:
    sender = at(built(), "mh:MsgInfo/mh:Sender/mh:Organisation")
    assert children(sender) == ["OrganisationName", "Ident", "Ident", "Organisation"]
    her, enh = sender.findall("mh:Ident", MH)
    assert her.findtext("mh:Id", namespaces=MH) == "8142987"
    assert attrs(at(her, "mh:TypeId")) == {
        "V": "HER",
        "DN": "HER-id",
        "S": "2.16.578.1.12.4.1.1.9051",
    }
    assert enh.findtext("mh:Id", namespaces=MH) == "974760673"
    assert attrs(at(enh, "mh:TypeId")) == {
        "V": "ENH",
        "DN": "Organisasjonsnummeret i Enhetsregisteret",
        "S": "2.16.578.1.12.4.1.1.9051",
    }
    service = at(sender, "mh:Organisation")
    assert service.findtext("mh:OrganisationName", namespaces=MH) == "Saksbehandling"
    assert service.findtext("mh:Ident/mh:Id", namespaces=MH) == "8142988"
    assert service.find("mh:Organisation", MH) is None


def test_output_is_utf8_with_declaration_and_stable() -> None:
    first = build_msghead(head())
    assert first.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<MsgHead xmlns="')
    assert first.endswith(b"</MsgHead>\n")
    assert build_msghead(head()) == first


def test_build_copies_the_document_and_leaves_it_untouched() -> None:
    document = payload_document("12345678901", ["x"], [])
    before = etree.tostring(document)
    build_msghead(head(document=document))
    assert etree.tostring(document) == before
    assert document.getparent() is None


def test_gen_date_in_another_zone_is_written_in_utc() -> None:
    oslo_summer = timezone(timedelta(hours=2))
    root = built(gen_date=datetime(2025, 6, 1, 2, 0, tzinfo=oslo_summer))
    assert root.findtext("mh:MsgInfo/mh:GenDate", namespaces=MH) == "2025-06-01T00:00:00Z"


@pytest.mark.parametrize(
    ("changes", "complaint"),
    [
        ({"gen_date": datetime(2025, 1, 1)}, "gen_date"),
        ({"issue_date": datetime(2025, 1, 1)}, "issue_date"),
        ({"msg_type": "KPR IPL"}, "msg_type"),
        ({"msg_type_text": " "}, "msg_type_text"),
        ({"msg_id": ""}, "msg_id"),
        ({"msg_id": " id"}, "msg_id"),
        ({"sender": Organisation("Kommune", "12a")}, "HER-id"),
        ({"sender": Organisation("Kommune", "1", org_number="12345678")}, "9 digits"),
        ({"receiver": Organisation("", "1")}, "receiver.name"),
        (
            {"receiver": Organisation("FHI", "85217", service=Organisation("KPR", "x"))},
            "receiver.service",
        ),
        ({"conversation_ref": ConversationRef("", "c")}, "conversation_ref"),
        ({"document": etree.Comment("not an element")}, "document"),
    ],
)
def test_builder_refuses_what_would_not_validate(
    changes: dict[str, object], complaint: str
) -> None:
    with pytest.raises(MsgHeadError, match=complaint):
        build_msghead(head(**changes))


def test_builder_refuses_characters_xml_cannot_carry() -> None:
    with pytest.raises(MsgHeadError, match="cannot be written"):
        build_msghead(head(content_description="bell\x07"))


def test_parse_reads_what_build_wrote() -> None:
    original = head(conversation_ref=ConversationRef("p", "c"), ack_requested=False)
    assert parse_msghead(build_msghead(original)) == original


def test_parsed_document_is_detached_from_the_envelope() -> None:
    parsed = parse_msghead(build_msghead(head()))
    assert parsed.document.getparent() is None
    assert parsed.document.tag == f"{{{PAYLOAD_NS}}}Payload"
    assert parsed.document.findtext(f"{{{PAYLOAD_NS}}}Reference") == "12345678901"


def test_read_msghead_reads_the_document_in_place() -> None:
    data = build_msghead(head())
    root = parse_xml(data)
    read = read_msghead(root)
    assert read == parse_msghead(data)
    # Not a copy: the document is still inside the tree, which stays whole.
    content = root.find("mh:Document/mh:RefDoc/mh:Content", namespaces=MH)
    assert content is not None
    assert read.document.getparent() is content
    assert etree.tostring(root) == etree.tostring(parse_xml(data))


def test_equality_ignores_indentation_but_not_content() -> None:
    compact = etree.fromstring(
        f'<tp:Payload xmlns:tp="{PAYLOAD_NS}"><tp:Reference>1</tp:Reference></tp:Payload>'
    )
    pretty = etree.fromstring(
        f'<tp:Payload xmlns:tp="{PAYLOAD_NS}">\n  <tp:Reference>1</tp:Reference>\n</tp:Payload>'
    )
    changed = etree.fromstring(
        f'<tp:Payload xmlns:tp="{PAYLOAD_NS}"><tp:Reference>2</tp:Reference></tp:Payload>'
    )
    assert canonical_document(compact) == canonical_document(pretty)
    assert head(document=compact) == head(document=pretty)
    assert hash(head(document=compact)) == hash(head(document=pretty))
    assert head(document=compact) != head(document=changed)
    assert head(document=compact) != head(document=compact, msg_id="other")


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(msgheads)
def test_round_trip(original: MsgHead) -> None:
    data = build_msghead(original)
    parsed = parse_msghead(data)
    assert parsed == original
    assert build_msghead(parsed) == data


# Text a compact document may hold: not empty, no line break (XML characters otherwise).
_plain_text = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"), exclude_characters="\ufffe\uffff")
    | st.just("\t"),
    min_size=1,
    max_size=20,
)
_compact_documents = st.builds(
    payload_document,
    reference=st.from_regex(r"[0-9]{11}", fullmatch=True),
    items=st.lists(_plain_text, max_size=3),
    groups=st.lists(st.lists(_plain_text, max_size=2), max_size=2),
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(original=msgheads, document=_compact_documents, reparse=st.booleans())
def test_a_compact_document_is_written_as_the_general_way_writes_it(
    original: MsgHead, document: etree._Element, reparse: bool
) -> None:
    if reparse:  # as the KPR builder makes them: parsed from text without indentation
        document = etree.fromstring(etree.tostring(document))
    head_ = dataclasses.replace(original, document=document)
    assert build_msghead(head_, compact_document=True) == build_msghead(head_)


def test_a_compact_document_is_not_copied(monkeypatch: pytest.MonkeyPatch) -> None:
    general = build_msghead(head())

    def no_copy(value: object) -> object:
        raise AssertionError("copied")

    monkeypatch.setattr("kpr_gateway.messages.msghead.copy.deepcopy", no_copy)
    assert build_msghead(head(), compact_document=True) == general


def test_documents_that_cannot_be_written_apart_take_the_general_way() -> None:
    deep = etree.Element(f"{{{PAYLOAD_NS}}}Payload")
    element = deep
    for _ in range(40):  # deeper than libxml2 indents
        element = etree.SubElement(element, f"{{{PAYLOAD_NS}}}Group")
    element.text = "x"
    own_namespace = etree.fromstring(f'<Payload xmlns="{MSGHEAD_NS}"><Item>x</Item></Payload>')
    wrapper = etree.Element("wrapper")
    attached = etree.SubElement(wrapper, f"{{{PAYLOAD_NS}}}Payload")
    etree.SubElement(attached, f"{{{PAYLOAD_NS}}}Reference").text = "1"
    for document in (deep, own_namespace, attached):
        head_ = head(document=document)
        assert build_msghead(head_, compact_document=True) == build_msghead(head_)


def _replace_in(data: bytes, old: bytes, new: bytes) -> bytes:
    assert old in data
    return data.replace(old, new, 1)


GOOD = build_msghead(head())


@pytest.mark.parametrize(
    ("old", "new", "complaint"),
    [
        (b"<MsgId>4d7c6f0e-3b52-4c1a-9d3e-2f8a6b1c0d9e</MsgId>", b"", "MsgInfo/MsgId"),
        (b"<MsgId>4d7c6f0e-3b52-4c1a-9d3e-2f8a6b1c0d9e</MsgId>", b"<MsgId> </MsgId>", "MsgId"),
        (b"<GenDate>2025-03-14T09:26:53Z</GenDate>", b"<GenDate>yesterday</GenDate>", "GenDate"),
        (b"<MIGversion>v1.2 2006-05-24</MIGversion>", b"<MIGversion>v1.1</MIGversion>", "MIG"),
        (b'<Type V="KPR_IPL" DN="KPR fagmelding"/>', b'<Type DN="x"/>', "Type/@V"),
        (b'<Ack V="J" DN="Ja"/>', b'<Ack V="X"/>', "Ack"),
        (b'<MsgType V="XML" DN="XML-instans"/>', b'<MsgType V="PDF"/>', "neither XML"),
        (b"<IssueDate V=", b"<IssueDate X=", "IssueDate/@V"),
        (b"<OrganisationName>Testkommune</OrganisationName>", b"", "OrganisationName"),
        (
            b'<TypeId V="HER" DN="HER-id" S="2.16.578.1.12.4.1.1.9051"/>',
            b'<TypeId V="XXX"/>',
            "HER-id",
        ),
    ],
)
def test_parse_names_the_missing_or_invalid_part(old: bytes, new: bytes, complaint: str) -> None:
    with pytest.raises(MsgHeadError, match=complaint):
        parse_msghead(_replace_in(GOOD, old, new))


def test_parse_names_a_missing_refdoc() -> None:
    renamed = GOOD.replace(b"RefDoc>", b"Reference>")
    with pytest.raises(MsgHeadError, match="Document/RefDoc"):
        parse_msghead(renamed)


def test_parse_refuses_two_documents() -> None:
    start = GOOD.index(b"<Document>")
    end = GOOD.index(b"</Document>") + len(b"</Document>")
    doubled = GOOD[:end] + GOOD[start:end] + GOOD[end:]
    with pytest.raises(MsgHeadError, match="exactly one Document"):
        parse_msghead(doubled)


def test_parse_refuses_empty_content() -> None:
    start = GOOD.index(b"<Content>") + len(b"<Content>")
    end = GOOD.index(b"</Content>")
    with pytest.raises(MsgHeadError, match="exactly one element, found 0"):
        parse_msghead(GOOD[:start] + b"<!-- nothing -->" + GOOD[end:])


def test_parse_refuses_another_root() -> None:
    with pytest.raises(MsgHeadError, match="root element"):
        parse_msghead(b'<MsgHead xmlns="urn:other"/>')


def test_parse_treats_missing_ack_as_not_requested() -> None:
    parsed = parse_msghead(_replace_in(GOOD, b'<Ack V="J" DN="Ja"/>', b""))
    assert parsed.ack_requested is False


def test_parse_trims_whitespace_in_codes_and_ids() -> None:
    messy = _replace_in(GOOD, b"<Id>8142987</Id>", b"<Id>\n 8142987 </Id>")
    messy = _replace_in(messy, b'<TypeId V="HER"', b'<TypeId V=" HER "')
    assert parse_msghead(messy).sender.her_id == "8142987"


def test_parse_goes_through_the_safe_parser() -> None:
    hostile = b'<!DOCTYPE MsgHead [<!ENTITY x "y">]>' + GOOD.split(b"\n", 1)[1]
    with pytest.raises(UnsafeXmlError):
        parse_msghead(hostile)


def test_parse_errors_do_not_echo_content() -> None:
    secret = b"13116900216"
    broken = _replace_in(
        GOOD, b"<GenDate>2025-03-14T09:26:53Z</GenDate>", b"<GenDate>" + secret + b"</GenDate>"
    )
    with pytest.raises(MsgHeadError) as caught:
        parse_msghead(broken)
    assert secret.decode() not in str(caught.value)
