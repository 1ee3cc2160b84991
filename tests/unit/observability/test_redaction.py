from __future__ import annotations

import uuid

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from kpr_gateway.observability import REDACTED_ID, redact, redact_value

FNR = "01017012345"
D_NUMBER = "41017012345"

digit_runs = st.from_regex(r"[0-9]{1,14}", fullmatch=True)
uuids = st.uuids().map(str)
hex_ids = st.from_regex(r"[0-9a-f]{32}|[0-9a-f]{16}", fullmatch=True)
# Text mixing words, digit runs of every length, UUIDs and separators.
mixed_text = st.lists(
    st.one_of(st.text(max_size=6), digit_runs, uuids, hex_ids, st.sampled_from(list(" .-_,:=\n"))),
    max_size=12,
).map("".join)
# Characters that end a token; ' ' and '.' are left out next to kept numbers because they
# are the two separators allowed inside an id (``123456 12345``).
boundaries = st.sampled_from(list(",;:=/|()<>\"'\t\n!?#&*+-_[]{}"))
elevens = st.from_regex(r"[0-9]{11}", fullmatch=True)


# How people write the gap between the date part and the personal part.
gaps = st.text(alphabet=" .-_/\t", max_size=3)
# ... and the date part itself: ddmmyy, or dd.mm.yy with any one separator.
date_separators = st.sampled_from(["", ".", "-", "/", " ", "_"])


def ids() -> st.SearchStrategy[str]:
    return st.tuples(elevens, gaps, date_separators).map(
        lambda parts: (
            parts[2].join((parts[0][:2], parts[0][2:4], parts[0][4:6])) + parts[1] + parts[0][6:]
        )
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"fnr={FNR} ok", f"fnr={REDACTED_ID} ok"),
        (f"d-number {D_NUMBER}", f"d-number {REDACTED_ID}"),
        ("born 010170 12345.", f"born {REDACTED_ID}."),
        ("010170.12345", REDACTED_ID),
        (f"<Fnr>{FNR}</Fnr>", f"<Fnr>{REDACTED_ID}</Fnr>"),
        (f'{{"fnr":"{FNR}"}}', f'{{"fnr":"{REDACTED_ID}"}}'),
        (f"fnr{FNR}x", f"fnr{REDACTED_ID}x"),
        (f"{FNR},{D_NUMBER}", f"{REDACTED_ID},{REDACTED_ID}"),
        # the forms the hardening issue found unredacted
        ("id 250195-21713.", f"id {REDACTED_ID}."),
        ("id 250195 21713", f"id {REDACTED_ID}"),
        ("id 25.01.95 21713", f"id {REDACTED_ID}"),
        ("id 250195\t21713", f"id {REDACTED_ID}"),
        ("id 250195_21713", f"id {REDACTED_ID}"),
        ("id 25-01-95 - 21713", f"id {REDACTED_ID}"),
    ],
)
def test_ids_are_replaced(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "HER-id 8142987 to 123456789",
        "org 974760673",
        "phone +4712345678901",  # 13 digits
        "1234567890",  # 10 digits
        "123456789012",  # 12 digits
        "123456 1234567890",  # 6 + 10 is no id
        "2025-01-31T12:34:56.123456Z",
        "msg 5d1f6c3e-1b1b-4b0f-a7a3-123456789012",
        "traceparent 00-12345678901234567890123456789012-1234567890123456-01",
        "span 12345678901abcde",  # a span id whose digits happen to look like an id
        "a000000/14909e29-d7c1-e48f-051c-2546cba9b683",  # six digits, a separator, a UUID
        "no digits at all",
        "",
    ],
)
def test_other_numbers_and_ids_survive(text: str) -> None:
    assert redact(text) == text


@given(st.text(), ids(), boundaries, boundaries, st.text())
def test_an_embedded_id_is_gone(
    prefix: str, national_id: str, before: str, after: str, suffix: str
) -> None:
    head, tail = prefix + before, after + suffix
    assume(national_id not in head and national_id not in tail)
    redacted = redact(head + national_id + tail)
    assert national_id not in redacted
    assert REDACTED_ID in redacted


@given(mixed_text, ids(), boundaries, boundaries, mixed_text)
def test_an_id_among_numbers_and_uuids_is_gone(
    prefix: str, national_id: str, before: str, after: str, suffix: str
) -> None:
    head, tail = prefix + before, after + suffix
    assume(national_id not in head and national_id not in tail)
    assert national_id not in redact(head + national_id + tail)


@given(
    mixed_text,
    st.one_of(
        uuids,
        uuids.map(str.upper),
        hex_ids,
        st.from_regex(r"[0-9]{1,9}", fullmatch=True),  # HER-ids, organisation numbers
    ),
    boundaries,
    boundaries,
    mixed_text,
)
def test_uuids_her_ids_and_org_numbers_survive(
    prefix: str, kept: str, before: str, after: str, suffix: str
) -> None:
    assert kept in redact(prefix + before + kept + after + suffix)


@given(mixed_text)
def test_redaction_is_idempotent(text: str) -> None:
    once = redact(text)
    assert redact(once) == once


@given(st.text(alphabet=st.characters(exclude_characters="0123456789")))
def test_text_without_digits_is_unchanged(text: str) -> None:
    assert redact(text) == text


def test_a_uuid_made_of_digits_is_kept_whole() -> None:
    value = str(uuid.UUID("12345678-1234-4234-8234-123456789012"))
    assert redact(f"id={value}") == f"id={value}"


class Person:
    def __str__(self) -> str:
        return f"person {FNR}"


def test_structured_values() -> None:
    value: dict[object, object] = {
        "fnr": FNR,
        "as_int": int(D_NUMBER),
        "small_int": 8142987,
        "flag": True,
        "ratio": 0.5,
        "nothing": None,
        "list": [f"a {FNR}", "b"],
        "raw": f"x{FNR}".encode(),
        f"key {FNR}": "v",
        7: [Person()],
    }
    assert redact_value(value) == {
        "fnr": REDACTED_ID,
        "as_int": REDACTED_ID,
        "small_int": 8142987,
        "flag": True,
        "ratio": 0.5,
        "nothing": None,
        "list": (f"a {REDACTED_ID}", "b"),
        "raw": f"x{REDACTED_ID}".encode(),
        f"key {REDACTED_ID}": "v",
        "7": (f"person {REDACTED_ID}",),
    }
