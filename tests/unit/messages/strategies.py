"""Hypothesis strategies for MsgHead and AppRec values that the builders accept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import get_args

from hypothesis import strategies as st
from lxml import etree

from kpr_gateway.messages.apprec import (
    ERROR_CODE_SYSTEM,
    MIG_VERSIONS,
    AdditionalId,
    AppRec,
    AppRecErrorCode,
    AppRecParty,
    AppRecStatus,
    AppRecStatusCode,
    AppRecVersion,
    OriginalMsg,
    PartyKind,
    PartyUnit,
)
from kpr_gateway.messages.msghead import ConversationRef, MsgHead, Organisation

PAYLOAD_NS = "urn:no:kpr-gateway:test-payload"

# Characters XML 1.0 can carry, without CR (which XML parsers normalise to LF).
_XML_CHARS = st.characters(
    codec="utf-8",
    exclude_categories=("Cs", "Cc"),
    exclude_characters="\ufffe\uffff",
) | st.sampled_from("\t\n")

xml_text = st.text(_XML_CHARS, min_size=0, max_size=20)
trimmed_text = st.text(_XML_CHARS, min_size=1, max_size=20).map(str.strip).filter(bool)
codes = st.from_regex(r"[A-Z0-9][A-Z0-9_-]{0,11}", fullmatch=True)
ids = st.one_of(
    st.uuids().map(str), st.from_regex(r"[A-Za-z0-9][A-Za-z0-9.:_-]{0,30}", fullmatch=True)
)
her_ids = st.integers(min_value=1, max_value=99_999_999).map(str)
org_numbers = st.from_regex(r"[0-9]{9}", fullmatch=True)
oids = st.lists(st.integers(min_value=0, max_value=99_999), min_size=1, max_size=9).map(
    lambda parts: ".".join(map(str, parts))
)
_ZONES = st.sampled_from(
    [UTC, timezone(timedelta(hours=2)), timezone(-timedelta(hours=5, minutes=30))]
)
aware_datetimes = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2099, 12, 31), timezones=_ZONES
)


def _organisation(level: int) -> st.SearchStrategy[Organisation]:
    nested = st.none() if level >= 2 else st.none() | _organisation(level + 1)
    return st.builds(
        Organisation,
        name=trimmed_text,
        her_id=her_ids,
        org_number=st.none() | org_numbers,
        service=nested,
    )


organisations = _organisation(1)


def payload_document(reference: str, items: list[str], groups: list[list[str]]) -> etree._Element:
    """A document valid against tests/conformance/messages/data/test-payload.xsd."""
    root = etree.Element(f"{{{PAYLOAD_NS}}}Payload", nsmap={"tp": PAYLOAD_NS})
    etree.SubElement(root, f"{{{PAYLOAD_NS}}}Reference").text = reference
    for text in items:
        etree.SubElement(root, f"{{{PAYLOAD_NS}}}Item").text = text
    for group_items in groups:
        group = etree.SubElement(root, f"{{{PAYLOAD_NS}}}Group")
        for text in group_items:
            etree.SubElement(group, f"{{{PAYLOAD_NS}}}Item").text = text
    return root


payload_documents = st.builds(
    payload_document,
    reference=st.from_regex(r"[0-9]{11}", fullmatch=True),
    items=st.lists(xml_text, max_size=3),
    groups=st.lists(st.lists(xml_text, max_size=2), max_size=2),
)

msgheads = st.builds(
    MsgHead,
    msg_type=st.sampled_from(["KPR_IPL", "KPR_IDE"]) | codes,
    msg_type_text=trimmed_text,
    msg_id=ids,
    gen_date=aware_datetimes,
    sender=organisations,
    receiver=organisations,
    ack_requested=st.booleans(),
    conversation_ref=st.none() | st.builds(ConversationRef, ids, ids),
    issue_date=aware_datetimes,
    document=payload_documents,
    content_description=st.none() | xml_text,
)

_additional_ids = st.lists(st.builds(AdditionalId, id=ids, type=codes), max_size=2).map(tuple)


@st.composite
def _units(draw: st.DrawFn) -> PartyUnit:
    unit_id = draw(st.none() | ids)
    return PartyUnit(
        name=draw(st.none() | xml_text),
        id=unit_id,
        type_id=draw(codes if unit_id is not None else st.none() | codes),
        additional_ids=draw(_additional_ids),
    )


@st.composite
def parties(draw: st.DrawFn) -> AppRecParty:
    kind: PartyKind = draw(st.sampled_from(get_args(PartyKind)))
    base = draw(_units())
    is_inst = kind == "Inst"
    return AppRecParty(
        name=base.name,
        id=base.id,
        type_id=base.type_id,
        kind=kind,
        role=draw(st.none() | codes),
        additional_ids=base.additional_ids,
        departments=tuple(draw(st.lists(_units(), max_size=2 if is_inst else 0))),
        persons=tuple(draw(st.lists(_units(), max_size=2 if is_inst else 0))),
    )


error_codes = st.builds(
    AppRecErrorCode,
    code=codes,
    system=st.none() | st.just(ERROR_CODE_SYSTEM) | oids,
    text=st.none() | xml_text,
    ref=st.none() | xml_text,
)


@st.composite
def _statuses(draw: st.DrawFn) -> AppRecStatus:
    code = draw(st.sampled_from(list(AppRecStatusCode)))
    return AppRecStatus(code, draw(st.just(AppRecStatus.of(code).text) | trimmed_text))


@st.composite
def apprecs(draw: st.DrawFn) -> AppRec:
    version: AppRecVersion = draw(st.sampled_from(get_args(AppRecVersion)))
    return AppRec(
        version=version,
        id=draw(ids),
        gen_date=draw(aware_datetimes),
        status=draw(_statuses()),
        original=OriginalMsg(id=draw(ids), msg_type=draw(codes), issue_date=draw(aware_datetimes)),
        sender=draw(parties()),
        receiver=draw(parties()),
        errors=draw(st.lists(error_codes, max_size=3)),
        mig_version=MIG_VERSIONS[version],
        software_name=draw(st.none() | xml_text),
        software_version=draw(st.none() | xml_text),
    )
