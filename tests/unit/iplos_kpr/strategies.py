"""Hypothesis strategies for IPLOS i KPR: valid notifications, headers and numbered batches.

Everything drawn here is what the gateway accepts: a notification passes ``Notification``'s
validation, a header ``MeldingHeader``'s, and a batch is numbered by ``number``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from hypothesis import assume
from hypothesis import strategies as st

from kpr_gateway.messages.iplos_kpr import (
    GUID_EMPTY,
    NATIONAL_ID_IN_TEXT,
    SERVICE_TYPES,
    ChainHead,
    Contact,
    ContactType,
    EpjSystem,
    EventKind,
    IdType,
    MeldingHeader,
    Notification,
    NumberedNotification,
    number,
)
from tests.unit.iplos_kpr.synthetic import (
    national_id_with_check_digits,
    synthetic_duf_number,
)

MUNICIPALITIES = ("0301", "4601", "5001", "1103")
_C0_BUT_WHITESPACE = "".join(chr(c) for c in range(32) if chr(c) not in "\t\n\r")

# Any character XML 1.0 can carry: what an EPJ system or a tenant file may put in a header.
xml_characters = st.characters(
    exclude_categories=["Cs"], exclude_characters=_C0_BUT_WHITESPACE + "\ufffe\uffff"
)
# What the notification's free-text fields accept: no control characters at all.
_plain_characters = st.characters(
    exclude_categories=("Cs", "Cc"), exclude_characters="\ufffe\uffff"
)
_ZONES = st.sampled_from(
    [
        UTC,
        timezone(timedelta(hours=1)),
        timezone(timedelta(hours=2)),
        timezone(-timedelta(hours=5, minutes=30)),
        timezone(timedelta(hours=14)),
    ]
)
uuids = st.uuids().filter(lambda value: value != GUID_EMPTY)
org_numbers = st.from_regex(r"[0-9]{9}", fullmatch=True)


def plain_text(max_size: int) -> st.SearchStrategy[str]:
    """Free text as the model accepts it: trimmed, no control characters, no national id."""
    return (
        st.text(_plain_characters, min_size=1, max_size=max_size)
        .map(str.strip)
        .filter(lambda text: bool(text) and not NATIONAL_ID_IN_TEXT.search(text))
    )


@st.composite
def eleven_digit_ids(draw: st.DrawFn, day_offset: int = 0, month_offset: int = 80) -> str:
    """A fødselsnummer (D-number: ``day_offset`` 40, H-number: ``month_offset`` 40) with valid
    check digits; synthetic (month + 80) unless an H-number."""
    day = draw(st.integers(1, 28)) + day_offset
    month = draw(st.integers(1, 12)) + month_offset
    prefix = f"{day:02d}{month:02d}{draw(st.integers(0, 99)):02d}{draw(st.integers(0, 999)):03d}"
    full = national_id_with_check_digits(prefix)
    assume(full is not None)  # about one prefix in six has no valid check digits
    assert full is not None
    return full


@st.composite
def persons(draw: st.DrawFn) -> dict[str, Any]:
    id_type = draw(st.sampled_from(IdType))
    if id_type is IdType.FODSELSNUMMER:
        national_id = draw(eleven_digit_ids())
    elif id_type is IdType.D_NUMMER:
        national_id = draw(eleven_digit_ids(day_offset=40))
    elif id_type is IdType.H_NUMMER:
        national_id = draw(eleven_digit_ids(month_offset=40))
    elif id_type is IdType.ANNET:
        national_id = draw(st.dates()).strftime("%d%m%y")
    else:
        national_id = synthetic_duf_number(
            draw(st.integers(1990, 2030)), draw(st.integers(0, 10**6 - 1))
        )
    person: dict[str, Any] = {
        "national_id": national_id,
        "id_type": id_type.value,
        "user_number": draw(plain_text(100)),
    }
    district = draw(st.none() | plain_text(6))
    if district is not None:
        person["district"] = district
    return person


@st.composite
def notifications(
    draw: st.DrawFn,
    municipality: str = MUNICIPALITIES[0],
    person: st.SearchStrategy[dict[str, Any]] | None = None,
) -> Notification:
    kind = draw(st.sampled_from(EventKind))
    status = draw(st.sampled_from(["N", "M", "C"]))
    event_id = draw(uuids)
    data: dict[str, Any] = {
        "event_id": str(event_id),
        "status": status,
        "kind": kind.value,
        "occurrence_id": str(draw(st.uuids())),
        "service_id": draw(plain_text(100)),
        "service_type": draw(st.sampled_from(sorted(SERVICE_TYPES))),
        "event_date": draw(st.dates(date(1990, 1, 1), date(2099, 12, 31))).isoformat(),
        "registered_at": draw(
            st.datetimes(datetime(1990, 1, 1), datetime(2099, 12, 31), timezones=_ZONES)
        ).isoformat(),
        "municipality_number": municipality,
        "person": draw(persons() if person is None else person),
    }
    if status != "N":
        data["corrects"] = str(draw(uuids.filter(lambda value: value != event_id)))
    provider = draw(org_numbers) if kind.requires_provider else draw(st.none() | org_numbers)
    if provider is not None:
        data["provider_org_number"] = provider
    if kind.has_stop_id:
        data["stop_id"] = draw(plain_text(100))
    source_ref = draw(st.none() | plain_text(200))
    if source_ref is not None:
        data["source_ref"] = source_ref
    # Through JSON, as an EPJ system sends it.
    return Notification.model_validate_json(Notification.model_validate(data).model_dump_json())


def _header_text(max_size: int = 40) -> st.SearchStrategy[str]:
    return st.text(xml_characters, max_size=max_size)


contacts = st.builds(
    Contact,
    name=_header_text(),
    email=_header_text(),
    type=st.sampled_from(ContactType),
    phone=st.none() | _header_text(),
    email2=st.none() | _header_text(),
)


@st.composite
def headers(draw: st.DrawFn, municipality: str | None = None) -> MeldingHeader:
    return MeldingHeader(
        municipality_number=municipality or draw(st.sampled_from(MUNICIPALITIES)),
        system=EpjSystem(draw(_header_text()), draw(_header_text()), draw(_header_text())),
        gateway_version=draw(_header_text()),
        contacts=draw(st.lists(contacts, min_size=1, max_size=3)),
        local_id=draw(st.none() | _header_text()),
    )


@st.composite
def chain_heads(draw: st.DrawFn) -> ChainHead:
    seq = draw(st.integers(0, 10**9))
    return ChainHead() if seq == 0 else ChainHead(seq, draw(uuids))


@dataclass(frozen=True)
class Batch:
    header: MeldingHeader
    head: ChainHead
    tenant_secret: bytes
    numbered: list[NumberedNotification]


@st.composite
def batches(draw: st.DrawFn, max_size: int = 8) -> Batch:
    header = draw(headers())
    # A small pool of persons so that batches often hold several notifications per person.
    pool = draw(st.lists(persons(), min_size=1, max_size=4))
    items = draw(
        st.lists(
            notifications(header.municipality_number, st.sampled_from(pool)),
            max_size=max_size,
            unique_by=lambda item: item.event_id,
        )
    )
    head = draw(chain_heads())
    assume(head.guid not in {item.event_id for item in items})
    secret = draw(st.binary(min_size=16, max_size=64))
    return Batch(header, head, secret, number(head, items, secret)[0])
