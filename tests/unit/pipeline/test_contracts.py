"""Round trips of the queue bodies, and refusal of bad ones without echoing their content."""

from __future__ import annotations

import base64
import json
import random
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kpr_gateway.cli.demo.samples import event
from kpr_gateway.messages.iplos_kpr import (
    NATIONAL_ID_IN_TEXT,
    SERVICE_TYPES,
    EventKind,
    IdType,
    Notification,
    NotificationStatus,
)
from kpr_gateway.pipeline.contracts import (
    AcceptedEvent,
    BuiltMessage,
    Contract,
    EncodedEvent,
    EventChunk,
    ReceiptError,
    ReceiptNotice,
    SealedMessage,
    chunk_body,
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
traceparents = st.from_regex(r"\A00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}\Z")
msg_types = st.sampled_from(["KPR_IPL", "KPR_IDE"])
# Not the nil UUID: Guid.Empty means "no notification before" in the chain.
notification_ids = st.uuids().filter(lambda value: value.int != 0)
_NATIONAL_ID_FORMS = {
    IdType.FODSELSNUMMER: r"\A[0-9]{11}\Z",
    IdType.D_NUMMER: r"\A[0-9]{11}\Z",
    IdType.H_NUMMER: r"\A[0-9]{11}\Z",
    IdType.ANNET: r"\A[0-9]{6}\Z",
    IdType.DUF_NUMMER: r"\A[0-9]{12}\Z",
}


def free_text(max_size: int) -> st.SearchStrategy[str]:
    """Any text the contract's free-text fields take: unicode, but no control or non-XML
    characters, no surrounding space, no national id."""
    characters = st.characters(exclude_categories=("Cc", "Cs", "Cn"))
    return st.text(characters, min_size=1, max_size=max_size).filter(
        lambda text: text == text.strip() and NATIONAL_ID_IN_TEXT.search(text) is None
    )


@st.composite
def notifications(draw: st.DrawFn) -> Notification:
    """Valid notifications of every status, kind and id type, with the fields each needs."""
    kind = draw(st.sampled_from(EventKind))
    status = draw(st.sampled_from([s for s in NotificationStatus if s != "T"]))
    event_id = draw(notification_ids)
    corrects: UUID | None = None
    if status.is_correction:
        corrects = draw(notification_ids.filter(lambda value: value != event_id))
    id_type = draw(st.sampled_from(IdType))
    provider = st.from_regex(r"\A[0-9]{9}\Z")
    return Notification(
        event_id=event_id,
        status=status,
        corrects=corrects,
        kind=kind,
        occurrence_id=draw(st.uuids()),
        service_id=draw(free_text(100)),
        service_type=draw(st.sampled_from(sorted(SERVICE_TYPES))),
        event_date=draw(st.dates(min_value=date(2017, 1, 1), max_value=date(2100, 1, 1))),
        registered_at=draw(aware_datetimes),
        provider_org_number=draw(provider if kind.requires_provider else st.none() | provider),
        stop_id=draw(free_text(100)) if kind.has_stop_id else None,
        municipality_number=draw(st.from_regex(r"\A[0-9]{4}\Z")),
        person={
            "national_id": draw(st.from_regex(_NATIONAL_ID_FORMS[id_type])),
            "id_type": id_type,
            "user_number": draw(free_text(100)),
            "district": draw(st.none() | free_text(6)),
        },
        source_ref=draw(st.none() | free_text(200)),
    )


accepted_events = st.builds(
    AcceptedEvent,
    event_id=st.uuids(),
    received_at=aware_datetimes,
    event=notifications(),
    client_id=st.none() | tenant_ids,
    trace_id=trace_ids,
    traceparent=st.none() | traceparents,
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


NOTIFICATION = event(random.Random(7), "0301", kind=EventKind.SERVICE_START)
NOTIFICATION["person"]["national_id"] = NATIONAL_ID


def _chunk_json(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "tenant_id": "oslo",
        "chunk_id": "6f1c8a52-6a57-4f43-9b7e-0d7f3f8e2a10",
        "events": [
            {
                "event_id": NOTIFICATION["event_id"],
                "received_at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC).isoformat(),
                "event": NOTIFICATION,
                "client_id": "gerica-oslo",
                "trace_id": "0" * 32,
            }
        ],
    }
    body.update(changes)
    return body


def _with_event(**changes: Any) -> bytes:
    """A chunk body whose one notification has ``changes`` (``person_...``: in the person)."""
    body = _chunk_json()
    notification = json.loads(json.dumps(NOTIFICATION))
    for name, value in changes.items():
        target, key = (
            (notification["person"], name.removeprefix("person_"))
            if name.startswith("person_")
            else (notification, name)
        )
        target[key] = value
    body["events"][0]["event"] = notification
    return json.dumps(body).encode()


@given(
    tenant_id=tenant_ids,
    chunk_id=st.uuids(),
    received_at=aware_datetimes,
    events=st.lists(
        st.tuples(notifications(), st.none() | tenant_ids, trace_ids, st.none() | traceparents),
        min_size=1,
        max_size=3,
    ),
)
@settings(max_examples=200)
def test_chunk_body_writes_what_the_model_writes(
    tenant_id: str,
    chunk_id: UUID,
    received_at: datetime,
    events: list[tuple[Notification, str | None, str, str | None]],
) -> None:
    written = chunk_body(
        tenant_id,
        chunk_id,
        received_at,
        [
            EncodedEvent(n.event_id, n.model_dump_json().encode(), client, trace, parent)
            for n, client, trace, parent in events
        ],
    )
    modelled = EventChunk(
        tenant_id=tenant_id,
        chunk_id=chunk_id,
        events=[
            AcceptedEvent(
                event_id=n.event_id,
                received_at=received_at,
                event=n,
                client_id=client,
                trace_id=trace,
                traceparent=parent,
            )
            for n, client, trace, parent in events
        ],
    )
    assert written == modelled.to_body()
    assert EventChunk.from_body(written) == modelled


def test_valid_chunk_parses_into_the_notification_and_its_client() -> None:
    chunk = EventChunk.from_body(json.dumps(_chunk_json()).encode())
    [accepted] = chunk.events
    assert isinstance(accepted.event, Notification)
    assert accepted.event == Notification.model_validate(NOTIFICATION)
    assert accepted.event.person.national_id == NATIONAL_ID
    assert accepted.client_id == "gerica-oslo"
    assert NATIONAL_ID not in repr(chunk)  # the event is left out of the repr


def test_an_event_without_its_client_id_parses_as_none() -> None:
    body = _chunk_json()
    del body["events"][0]["client_id"]
    assert EventChunk.from_body(json.dumps(body).encode()).events[0].client_id is None


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (json.dumps(_chunk_json(tenant_id=NATIONAL_ID + "!")).encode(), "tenant_id"),
        (json.dumps(_chunk_json(extra=NATIONAL_ID)).encode(), "extra (extra_forbidden)"),
        (json.dumps(_chunk_json(events=[])).encode(), "events (too_short)"),
        (json.dumps(_chunk_json(chunk_id=NATIONAL_ID)).encode(), "chunk_id (uuid_parsing)"),
        (b"not json " + NATIONAL_ID.encode(), "<body> (json_invalid)"),
        (
            _with_event(person_national_id=NATIONAL_ID[:10]),
            "events.0.event.person (national_id_format)",
        ),
        (_with_event(person_id_type=4), "events.0.event.person.id_type (enum)"),
        (
            _with_event(source_ref=f"fnr {NATIONAL_ID}"),
            "events.0.event.source_ref (national_id_in_text)",
        ),
        (
            _with_event(person_user_number=NATIONAL_ID[:6] + "-" + NATIONAL_ID[6:]),
            "events.0.event.person.user_number (national_id_in_text)",
        ),
        (_with_event(**{NATIONAL_ID: "x"}), "events.0.event (unknown_fields)"),
        (_with_event(status="T"), "events.0.event.status (status_not_in_use)"),
        (_with_event(status="M"), "events.0.event (corrects_missing)"),
        (_with_event(kind="temporary_stop_from"), "events.0.event (stop_id_missing)"),
    ],
    ids=[
        "tenant",
        "extra",
        "no-events",
        "chunk-id",
        "not-json",
        "id-form",
        "id-type",
        "id-in-source-ref",
        "id-in-user-number",
        "id-as-key",
        "status-t",
        "m-without-corrects",
        "stop-without-stop-id",
    ],
)
def test_invalid_body_is_permanent_and_names_positions_only(body: bytes, where: str) -> None:
    with pytest.raises(PermanentError) as info:
        EventChunk.from_body(body)
    assert where in info.value.reason
    assert info.value.reason.startswith("invalid EventChunk body: ")
    assert NATIONAL_ID not in str(info.value)
    assert NATIONAL_ID[:6] not in str(info.value)
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


def test_an_unknown_key_is_not_named_in_the_reason() -> None:
    """pydantic puts an unknown key into the error's location; a key can be a national id."""
    body = (
        b'{"tenant_id": "bergen", "chunk_id": "'
        + str(UUID(int=7)).encode()
        + (b'", "events": [], "01017012345": 1, "extra_field": 2}')
    )
    with pytest.raises(PermanentError) as raised:
        EventChunk.from_body(body)
    assert "01017012345" not in str(raised.value)
    assert "<field> (extra_forbidden)" in str(raised.value)
    assert "extra_field (extra_forbidden)" in str(raised.value)
