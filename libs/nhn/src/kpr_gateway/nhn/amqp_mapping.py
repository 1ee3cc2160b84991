"""NhnMessage <-> AMQP 1.0 message (qpid-proton), exactly as DESIGN.md section 5 lays it out.

Writing is strict: the properties section, a durable header with the ttl, the profile's
application properties as strings and one Data section with the bytes. Reading is
tolerant, because peers differ: missing properties read as ``None`` or ``""``, ids of any
AMQP type read as text, application property values of other types are turned into text,
and a body that is not one Data section is read as bytes where it can be (an AmqpValue
with binary or text, an AmqpSequence of binaries) and as an empty body otherwise, so that
the handler parks the message instead of the transport dropping it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from proton import Message, timestamp

from kpr_gateway.nhn.errors import NhnWireError
from kpr_gateway.nhn.wire import (
    APPLICATION_TIMESTAMP,
    ENQUEUED_TIME_UTC,
    FROM_HER_ID,
    TO_HER_ID,
    NhnMessage,
    format_timestamp,
)

_PROFILE_KEYS = frozenset({FROM_HER_ID, TO_HER_ID, APPLICATION_TIMESTAMP, ENQUEUED_TIME_UTC})


def send_address(exchange: str, queue: str) -> str:
    """Sender link target on the Tjenestebuss (RabbitMQ's AMQP 1.0 addressing)."""
    return f"/exchange/{exchange}/{queue}"


def receive_address(queue: str) -> str:
    """Receiver link source: the queue itself, never a temporary bound queue."""
    return f"/amq/queue/{queue}"


def to_amqp(message: NhnMessage) -> Message:
    """The AMQP message that goes on the wire for ``message``."""
    for name in ("to", "subject", "reply_to", "content_type"):
        # proton passes these as C strings: a NUL would silently cut the value short.
        if "\x00" in (getattr(message, name) or ""):
            raise NhnWireError(f"message {message.message_id}: {name} contains a NUL character")
    _require_utf8(message)
    fields: dict[str, Any] = {
        "id": message.message_id,
        "address": message.to,
        "subject": message.subject,
        "correlation_id": message.correlation_id,
        "content_type": message.content_type,
        "durable": True,
        "properties": dict(message.application_properties()),
    }
    if message.reply_to is not None:
        fields["reply_to"] = message.reply_to
    if message.ttl_ms is not None:
        # proton takes seconds and truncates seconds * 1000 to an int; half a millisecond
        # more keeps float rounding from turning 1001 ms into 1000 ms.
        fields["ttl"] = (message.ttl_ms + 0.5) / 1000
    return Message(body=message.body, inferred=True, **fields)


def _require_utf8(message: NhnMessage) -> None:
    """AMQP strings are UTF-8: text that has none (lone surrogates) is refused here, by name,
    instead of failing inside proton's encoder."""
    texts = [
        ("message-id", message.message_id),
        ("to", message.to),
        ("subject", message.subject),
        ("reply-to", message.reply_to or ""),
        ("correlation-id", message.correlation_id),
        ("content-type", message.content_type),
        *(
            ("application-properties", text)
            for item in message.application_properties().items()
            for text in item
        ),
    ]
    for name, value in texts:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise NhnWireError(f"{name}: text that is not UTF-8 encodable") from exc


def from_amqp(amqp: Message) -> NhnMessage:
    """Read a received AMQP message, tolerating what peers leave out or type differently."""
    # proton annotates Message.properties as None; it holds the decoded map.
    received: dict[object, object] = getattr(amqp, "properties", None) or {}
    properties = {str(key): _property_text(value) for key, value in received.items()}
    extra = {key: value for key, value in properties.items() if key not in _PROFILE_KEYS}
    ttl_seconds = amqp.ttl
    return NhnMessage(
        message_id=_id_text(amqp.id),
        to=amqp.address or "",
        subject=amqp.subject or "",
        reply_to=amqp.reply_to,
        correlation_id=_id_text(amqp.correlation_id),
        content_type=_content_type(amqp),
        from_her_id=properties.get(FROM_HER_ID, ""),
        to_her_id=properties.get(TO_HER_ID, ""),
        application_timestamp=properties.get(APPLICATION_TIMESTAMP, ""),
        enqueued_time_utc=properties.get(ENQUEUED_TIME_UTC),
        ttl_ms=round(ttl_seconds * 1000) if ttl_seconds else None,
        body=body_bytes(amqp.body),
        extra_properties=MappingProxyType(extra),
    )


def body_bytes(body: Any) -> bytes:
    """One Data section's bytes, or what an AmqpValue/AmqpSequence holds if binary or text."""
    if body is None:
        return b""
    if isinstance(body, bytes | bytearray | memoryview):
        return bytes(body)
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, list | tuple) and all(
        isinstance(part, bytes | bytearray | memoryview) for part in body
    ):
        return b"".join(bytes(part) for part in body)
    return b""


def _content_type(amqp: Message) -> str:
    value = amqp.content_type
    # proton 0.40 reads an absent content-type as symbol("None").
    return "" if value is None or value == "None" else str(value)


def _id_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return raw.hex()
    return str(value)  # str, UUID, ulong, symbol


def _property_text(value: object) -> str:
    if isinstance(value, timestamp):
        return format_timestamp(datetime.fromtimestamp(int(value) / 1000, UTC))
    if isinstance(value, datetime):
        return format_timestamp(value if value.tzinfo else value.replace(tzinfo=UTC))
    if isinstance(value, bool):
        return "true" if value else "false"
    return _id_text(value)
