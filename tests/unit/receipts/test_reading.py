"""Reading AppRecs and transport errors into ledger outcomes, and what parked messages carry."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from lxml import etree

from kpr_gateway.ledger import ReceiptOutcome
from kpr_gateway.messages.apprec import AppRec, OriginalMsg, apprec_for, build_apprec
from kpr_gateway.messages.msghead import build_msghead
from kpr_gateway.nhn import new_message
from kpr_gateway.receipts.errors import (
    MalformedAppRecError,
    MalformedTransportError,
    NotAnAppRecError,
    UnmatchedAppRecError,
    UnopenableMessageError,
    snake_case,
)
from kpr_gateway.receipts.parking import parked_headers
from kpr_gateway.receipts.reading import (
    apprec_outcome,
    read_apprec,
    read_error,
    same_receipt,
    sent_msg_id,
)
from tests.unit.messages.examples import head
from tests.unit.messages.strategies import apprecs

NOW = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


@settings(max_examples=40, deadline=None)
@given(apprecs())
def test_outcome_keeps_status_and_every_error(apprec: AppRec) -> None:
    outcome = apprec_outcome(read_apprec(build_apprec(apprec)), received_at=NOW)

    assert outcome.kind == "apprec"
    assert outcome.status_code == int(apprec.status.code)
    assert outcome.status_text == apprec.status.text
    assert outcome.apprec_id == apprec.id
    assert [(e.code, e.system, e.text, e.ref) for e in outcome.errors] == [
        (e.code, e.system, e.text, e.ref) for e in apprec.errors
    ]


@settings(max_examples=20, deadline=None)
@given(apprecs())
def test_apprec_in_a_msghead_reads_as_the_bare_one(apprec: AppRec) -> None:
    bare = build_apprec(apprec)
    wrapped = build_msghead(
        dataclasses.replace(head(), msg_type="APPREC", document=etree.fromstring(bare))
    )

    assert read_apprec(wrapped) == read_apprec(bare)


@pytest.mark.parametrize(
    ("content", "error", "reason_class"),
    [
        (b"<not-an-apprec/>", NotAnAppRecError, "not_apprec"),
        (build_msghead(head()), NotAnAppRecError, "not_apprec"),
        (b"<unclosed", MalformedAppRecError, "malformed_apprec"),
        (b'<!DOCTYPE x [<!ENTITY a "b">]><x/>', MalformedAppRecError, "malformed_apprec"),
    ],
    ids=["other-xml", "kpr-msghead", "malformed", "doctype"],
)
def test_what_is_not_a_readable_apprec(
    content: bytes, error: type[Exception], reason_class: str
) -> None:
    with pytest.raises(error) as raised:
        read_apprec(content)
    assert getattr(raised.value, "reason_class", None) == reason_class


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("4d7c6f0e-3b52-4c1a-9d3e-2f8a6b1c0d9e", "4d7c6f0e-3b52-4c1a-9d3e-2f8a6b1c0d9e"),
        ("4D7C6F0E-3B52-4C1A-9D3E-2F8A6B1C0D9E", "4d7c6f0e-3b52-4c1a-9d3e-2f8a6b1c0d9e"),
        ("{4d7c6f0e-3b52-4c1a-9d3e-2f8a6b1c0d9e}", "4d7c6f0e-3b52-4c1a-9d3e-2f8a6b1c0d9e"),
    ],
)
def test_sent_msg_id_is_read_as_the_gateway_wrote_it(written: str, expected: str) -> None:
    apprec = read_apprec(build_apprec(dataclasses.replace(_apprec(), original=_original(written))))
    assert sent_msg_id(apprec) == expected


def test_original_id_that_is_no_uuid_matches_nothing() -> None:
    apprec = read_apprec(build_apprec(dataclasses.replace(_apprec(), original=_original("42"))))
    with pytest.raises(UnmatchedAppRecError, match="not a UUID"):
        sent_msg_id(apprec)


def test_same_receipt_ignores_only_when_it_arrived() -> None:
    stored = ReceiptOutcome(kind="apprec", received_at=NOW, status_code=1, apprec_id="a-1")
    again = stored.model_copy(update={"received_at": NOW + timedelta(minutes=5)})
    other = stored.model_copy(update={"apprec_id": "a-2"})

    assert same_receipt(stored, again)
    assert not same_receipt(stored, other)
    assert not same_receipt(None, stored)


def test_transport_error_needs_the_original_message_id() -> None:
    with pytest.raises(MalformedTransportError, match="originalMessageId"):
        read_error({"errorCondition": "transport:invalid-certificate"})
    error = read_error({"originalMessageId": " abc ", "errorCondition": "abuse:spoofing-attack"})
    assert (error.original_message_id, error.condition) == ("abc", "abuse:spoofing-attack")


def test_security_errors_are_labelled_by_their_class() -> None:
    error = UnopenableMessageError("x", error_class="UnexpectedSignerError")
    assert error.reason_class == "unexpected_signer"
    assert snake_case("NotCms") == "not_cms"
    assert snake_case("CertificateExpired") == "certificate_expired"


def test_parked_headers_carry_where_it_came_from_and_its_properties() -> None:
    message = new_message(
        to_queue="50002_error",
        subject="KPR_IPL",
        reply_to="50002_async",
        from_her_id="171479",
        to_her_id="50002",
        body=b"",
        ttl_ms=None,
        extra_properties={"originalMessageId": "m-1", "errorDescription": "x" * 5000},
    )

    headers = parked_headers(
        message, tenant_id="bergen", queue="50002_error", reason_class="replay", msg_id="id-1"
    )

    assert headers["kprgw-tenant"] == "bergen"
    assert headers["kprgw-msg-id"] == "id-1"
    assert headers["nhn-queue"] == "50002_error"
    assert headers["nhn-message-id"] == message.message_id
    assert headers["nhn-reply-to"] == "50002_async"
    assert headers["nhn-property-originalMessageId"] == "m-1"
    assert len(headers["nhn-property-errorDescription"]) == 1000
    assert not any(name.lower().startswith("x-") for name in headers)


def _apprec() -> AppRec:
    return apprec_for(head(), status=1)


def _original(msg_id: str) -> OriginalMsg:
    return dataclasses.replace(_apprec().original, id=msg_id)
