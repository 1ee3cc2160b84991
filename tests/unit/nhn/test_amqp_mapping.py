"""NhnMessage <-> AMQP 1.0 message: strict writing, tolerant reading, and the round trip."""

from __future__ import annotations

import uuid
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from proton import Data, Described, Message, symbol, timestamp, ulong

from kpr_gateway.nhn import CMS_CONTENT_TYPE, NhnMessage, NhnWireError, new_message
from kpr_gateway.nhn.amqp_mapping import (
    body_bytes,
    from_amqp,
    receive_address,
    send_address,
    to_amqp,
)

PROFILE_KEYS = {"fromHerId", "toHerId", "applicationTimeStamp", "enqueuedTimeUtc"}
DATA, AMQP_VALUE, AMQP_SEQUENCE = 0x75, 0x77, 0x76


def on_the_wire(amqp: Message) -> Message:
    received = Message()
    received.decode(amqp.encode())
    return received


def decoded_sections(amqp: Message) -> list[tuple[int, Any]]:
    raw, data, position = amqp.encode(), Data(), 0
    while position < len(raw):
        position += data.decode(raw[position:])
    data.rewind()
    found: list[tuple[int, Any]] = []
    while data.next():
        section = data.get_object()
        assert isinstance(section, Described)
        found.append((int(cast(int, section.descriptor)), section.value))
    return found


def sections(amqp: Message) -> list[int]:
    return [code for code, _ in decoded_sections(amqp)]


def test_addresses_follow_rabbitmq_amqp10_addressing() -> None:
    assert send_address("NHNTESTServiceBus", "122612_async") == (
        "/exchange/NHNTESTServiceBus/122612_async"
    )
    assert receive_address("8142987_async") == "/amq/queue/8142987_async"


def test_written_message_has_the_profile_fields() -> None:
    message = new_message(
        to_queue="122612_async",
        subject="KPR_IDE",
        reply_to="8142987_async",
        from_her_id="8142987",
        to_her_id="122612",
        body=b"\x30\x82cms",
        ttl_ms=1001,
    )
    amqp = to_amqp(message)
    assert amqp.id == message.message_id
    assert amqp.address == "122612_async"
    assert amqp.subject == "KPR_IDE"
    assert amqp.reply_to == "8142987_async"
    assert amqp.correlation_id == message.message_id
    assert amqp.content_type == CMS_CONTENT_TYPE
    assert amqp.durable is True
    [header] = [value for code, value in decoded_sections(amqp) if code == 0x70]
    assert header == [True, None, 1001]  # durable, ttl exact (proton would truncate 1.001 s)
    assert amqp.properties == message.application_properties()
    assert sections(amqp) == [0x70, 0x73, 0x74, DATA]


ids = st.uuids().map(str)
# AMQP strings are UTF-8: no lone surrogates (refused by to_amqp, tested below)
text = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=40)
ascii_text = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=60)
extra_keys = st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=20).filter(
    lambda key: key not in PROFILE_KEYS
)
messages = st.builds(
    NhnMessage,
    message_id=ids,
    to=text,
    subject=text,
    reply_to=st.none() | text,
    correlation_id=ids,
    content_type=ascii_text,
    from_her_id=st.integers(1, 99_999_999).map(str),
    to_her_id=st.integers(1, 99_999_999).map(str),
    application_timestamp=text,
    enqueued_time_utc=st.none() | text,
    ttl_ms=st.none() | st.integers(1, 2**32 - 1),
    body=st.binary(max_size=2048),
    extra_properties=st.dictionaries(extra_keys, text, max_size=4),
)


@settings(max_examples=50)
@given(messages)
def test_round_trip_through_the_wire(message: NhnMessage) -> None:
    assert from_amqp(on_the_wire(to_amqp(message))) == message


def test_nul_in_a_c_string_field_is_refused() -> None:
    message = new_message(
        to_queue="q\x00r",
        subject="KPR_IPL",
        reply_to=None,
        from_her_id="1",
        to_her_id="2",
        body=b"",
        ttl_ms=None,
    )
    with pytest.raises(NhnWireError, match="to contains a NUL"):
        to_amqp(message)


@pytest.mark.parametrize(
    ("field", "where"),
    [("to_queue", "to"), ("extra_properties", "application-properties")],
)
def test_text_that_is_not_utf8_is_refused_by_name(field: str, where: str) -> None:
    options: dict[str, Any] = {
        "to_queue": "kpr_async",
        "subject": "KPR_IPL",
        "reply_to": None,
        "from_her_id": "1",
        "to_her_id": "2",
        "body": b"",
        "ttl_ms": None,
    }
    options[field] = {"note": "\ud800"} if field == "extra_properties" else "q\ud800"
    with pytest.raises(NhnWireError, match=f"^{where}: text that is not UTF-8 encodable$"):
        to_amqp(new_message(**options))


def test_reading_tolerates_missing_properties() -> None:
    read = from_amqp(on_the_wire(Message(body=b"x", inferred=True)))
    assert read == NhnMessage(
        message_id="",
        to="",
        subject="",
        reply_to=None,
        correlation_id="",
        content_type="",
        from_her_id="",
        to_her_id="",
        application_timestamp="",
        enqueued_time_utc=None,
        ttl_ms=None,
        body=b"x",
    )


def test_reading_turns_other_types_into_text() -> None:
    identifier = uuid.UUID("6f1c1a2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b")
    amqp = Message(
        body=b"",
        inferred=True,
        id=identifier,
        correlation_id=ulong(42),
        content_type=symbol("text/plain"),
        properties={
            "fromHerId": 8142987,
            "toHerId": 122612,
            "applicationTimeStamp": timestamp(1_767_596_889_000),
            "flag": True,
        },
    )
    read = from_amqp(on_the_wire(amqp))
    assert read.message_id == str(identifier)
    assert read.correlation_id == "42"
    assert read.content_type == "text/plain"
    assert (read.from_her_id, read.to_her_id) == ("8142987", "122612")
    assert read.application_timestamp == "2026-01-05T07:08:09Z"
    assert read.extra_properties == {"flag": "true"}


def test_binary_ids_read_as_text_or_hex() -> None:
    assert from_amqp(on_the_wire(Message(id=b"abc"))).message_id == "abc"
    assert from_amqp(on_the_wire(Message(id=b"\xff\x00"))).message_id == "ff00"


def test_bodies_that_are_not_one_data_section() -> None:
    value_binary = Message(body=b"cms")  # AmqpValue holding binary
    value_text = Message(body="<AppRec/>")
    sequence = Message(body=[b"c", b"ms"], inferred=True)
    mixed_sequence = Message(body=[b"c", 1], inferred=True)
    value_map = Message(body={"not": "bytes"})
    assert sections(value_binary)[-1] == AMQP_VALUE
    assert sections(sequence)[-1] == AMQP_SEQUENCE
    assert from_amqp(on_the_wire(value_binary)).body == b"cms"
    assert from_amqp(on_the_wire(value_text)).body == b"<AppRec/>"
    assert from_amqp(on_the_wire(sequence)).body == b"cms"
    assert from_amqp(on_the_wire(mixed_sequence)).body == b""
    assert from_amqp(on_the_wire(value_map)).body == b""
    assert from_amqp(on_the_wire(Message())).body == b""


def test_body_bytes_copies_views() -> None:
    assert body_bytes(memoryview(b"abc")) == b"abc"
    assert body_bytes(bytearray(b"abc")) == b"abc"
    assert body_bytes(None) == b""
    assert body_bytes(7) == b""
