"""Round trips of the queue bodies, and refusal of bad ones without echoing their content."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kpr_gateway.pipeline.contracts import (
    AcceptedEvent,
    BuiltMessage,
    Contract,
    EventChunk,
    ReceiptError,
    ReceiptNotice,
    SealedMessage,
)
from kpr_gateway.pipeline.errors import PermanentError

NATIONAL_ID = "01017012345"

tenant_ids = st.from_regex(r"\A[a-z0-9][a-z0-9-]{1,62}\Z")
her_ids = st.from_regex(r"\A[1-9][0-9]{0,8}\Z")
trace_ids = st.from_regex(r"\A[0-9a-f]{32}\Z")
offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
aware_datetimes = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=offsets
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=12,
)
msg_types = st.sampled_from(["KPR_IPL", "KPR_IDE"])

accepted_events = st.builds(
    AcceptedEvent,
    event_id=st.uuids(),
    received_at=aware_datetimes,
    event=st.dictionaries(st.text(), json_values, max_size=5),
    trace_id=trace_ids,
)
contracts: dict[type[Contract], st.SearchStrategy[Any]] = {
    EventChunk: st.builds(
        EventChunk,
        tenant_id=tenant_ids,
        chunk_id=st.uuids(),
        events=st.lists(accepted_events, min_size=1, max_size=3),
    ),
    BuiltMessage: st.builds(
        BuiltMessage,
        tenant_id=tenant_ids,
        msg_id=st.uuids(),
        msg_type=msg_types,
        batch_id=st.uuids(),
        event_ids=st.lists(st.uuids(), min_size=1, max_size=5),
        document=st.binary(max_size=200),
    ),
    SealedMessage: st.builds(
        SealedMessage,
        tenant_id=tenant_ids,
        msg_id=st.uuids(),
        msg_type=msg_types,
        batch_id=st.uuids(),
        from_her_id=her_ids,
        to_her_id=her_ids,
        cms=st.binary(max_size=200),
    ),
    ReceiptNotice: st.builds(
        ReceiptNotice,
        tenant_id=tenant_ids,
        msg_id=st.uuids(),
        outcome=st.sampled_from(
            ["acknowledged", "acknowledged_with_errors", "rejected", "transport_error"]
        ),
        status_code=st.sampled_from([1, 2, 3, None]),
        errors=st.lists(
            st.builds(
                ReceiptError,
                code=st.text(max_size=10),
                system=st.none() | st.text(max_size=20),
                text=st.none() | st.text(max_size=40),
                ref=st.none() | st.text(max_size=20),
            ),
            max_size=3,
        ),
        received_at=aware_datetimes,
    ),
}


@settings(max_examples=50)
@given(data=st.data())
@pytest.mark.parametrize("model", list(contracts), ids=lambda m: m.__name__)
def test_body_round_trip(model: type[Contract], data: st.DataObject) -> None:
    value = data.draw(contracts[model])
    body = value.to_body()
    assert model.from_body(body) == value
    assert model.from_body(body).to_body() == body


def test_bytes_travel_as_padded_standard_base64() -> None:
    message = BuiltMessage(
        tenant_id="oslo",
        msg_id="6f1c8a52-6a57-4f43-9b7e-0d7f3f8e2a10",
        msg_type="KPR_IPL",
        batch_id="0b0e5b3a-2b1d-4a61-8f0f-93e1f0c1d0a2",
        event_ids=["5b8c7f8e-0a53-4d73-9ef4-86e2d1e4a3b7"],
        document=b"<MsgHead/>\x00\xff",
    )
    raw = json.loads(message.to_body())
    assert base64.b64decode(raw["document"]) == b"<MsgHead/>\x00\xff"


def _chunk_json(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "tenant_id": "oslo",
        "chunk_id": "6f1c8a52-6a57-4f43-9b7e-0d7f3f8e2a10",
        "events": [
            {
                "event_id": "5b8c7f8e-0a53-4d73-9ef4-86e2d1e4a3b7",
                "received_at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC).isoformat(),
                "event": {"person": {"national_id": NATIONAL_ID}},
                "trace_id": "0" * 32,
            }
        ],
    }
    body.update(changes)
    return body


def test_valid_chunk_parses() -> None:
    chunk = EventChunk.from_body(json.dumps(_chunk_json()).encode())
    assert chunk.events[0].event["person"]["national_id"] == NATIONAL_ID


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (json.dumps(_chunk_json(tenant_id=NATIONAL_ID + "!")).encode(), "tenant_id"),
        (json.dumps(_chunk_json(extra=NATIONAL_ID)).encode(), "extra (extra_forbidden)"),
        (json.dumps(_chunk_json(events=[])).encode(), "events (too_short)"),
        (json.dumps(_chunk_json(chunk_id=NATIONAL_ID)).encode(), "chunk_id (uuid_parsing)"),
        (b"not json " + NATIONAL_ID.encode(), "<body> (json_invalid)"),
    ],
)
def test_invalid_body_is_permanent_and_names_positions_only(body: bytes, where: str) -> None:
    with pytest.raises(PermanentError) as info:
        EventChunk.from_body(body)
    assert where in info.value.reason
    assert info.value.reason.startswith("invalid EventChunk body: ")
    assert NATIONAL_ID not in str(info.value)
    assert info.value.__cause__ is None


def test_naive_timestamps_are_refused() -> None:
    body = _chunk_json()
    body["events"][0]["received_at"] = "2026-01-02T03:04:05"
    with pytest.raises(PermanentError, match=r"events\.0\.received_at"):
        EventChunk.from_body(json.dumps(body).encode())


def test_many_errors_are_summarised() -> None:
    with pytest.raises(PermanentError, match=r"and \d+ more$"):
        SealedMessage.from_body(b"{}")


def test_binary_fields_must_be_standard_base64() -> None:
    body = json.loads(
        BuiltMessage(
            tenant_id="oslo",
            msg_id="6f1c8a52-6a57-4f43-9b7e-0d7f3f8e2a10",
            msg_type="KPR_IDE",
            batch_id="0b0e5b3a-2b1d-4a61-8f0f-93e1f0c1d0a2",
            event_ids=["5b8c7f8e-0a53-4d73-9ef4-86e2d1e4a3b7"],
            document=b"\xfb\xff",
        ).to_body()
    )
    assert body["document"] == "+/8="
    body["document"] = "-_8="  # the URL-safe alphabet is not accepted
    with pytest.raises(PermanentError, match=r"document \(value_error\)"):
        BuiltMessage.from_body(json.dumps(body).encode())
