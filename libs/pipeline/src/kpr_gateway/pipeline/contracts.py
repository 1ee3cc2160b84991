"""The JSON bodies that travel between the services, one model per queue.

Models forbid unknown fields so a producer/consumer mismatch fails loudly (and parks the
message) instead of silently dropping data. Binary fields travel as standard base64. A body that
does not validate raises ``PermanentError`` whose reason names field positions and error
types only, never the offending values (they may be personal data).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal, Self
from uuid import UUID

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from kpr_gateway.messages.iplos_kpr import Notification
from kpr_gateway.pipeline.errors import PermanentError

TenantId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")]
HerId = Annotated[str, StringConstraints(pattern=r"^[1-9][0-9]{0,8}$")]
TraceId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
TraceParent = Annotated[
    str, StringConstraints(pattern=r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
]
"""A W3C ``traceparent`` (version 00)."""
MsgType = Literal["KPR_IPL", "KPR_IDE"]
ReceiverEnvironment = Literal["production", "validation", "communication-test"]
"""The values of ``kpr_gateway.tenancy.TargetEnvironment`` (a test holds the two equal): a
message that names one goes to that environment's KPR receiver."""
ReceiptOutcome = Literal["acknowledged", "acknowledged_with_errors", "rejected", "transport_error"]

_MAX_REPORTED_ERRORS = 5


def _from_base64(value: object) -> object:
    # JSON carries text: decode it. Python callers pass bytes, which stay as they are.
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except binascii.Error:
            raise ValueError("not standard base64") from None
    return value


Base64Binary = Annotated[
    bytes,
    BeforeValidator(_from_base64),
    PlainSerializer(lambda value: base64.b64encode(value).decode("ascii"), when_used="json"),
]
"""Bytes that travel as standard base64 (RFC 4648 section 4, padded) in JSON."""


class Contract(BaseModel):
    """Base of every body: strict shape, immutable; binary fields are ``Base64Binary``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def to_body(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_body(cls, body: bytes) -> Self:
        try:
            return cls.model_validate_json(body)
        except ValidationError as exc:
            raise PermanentError(_describe(cls.__name__, exc)) from None


def _describe(model: str, exc: ValidationError) -> str:
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    where = [
        f"{'.'.join(_shown(part) for part in error['loc']) or '<body>'} ({error['type']})"
        for error in errors[:_MAX_REPORTED_ERRORS]
    ]
    more = len(errors) - len(where)
    suffix = f" and {more} more" if more > 0 else ""
    return f"invalid {model} body: {', '.join(where)}{suffix}"


def _shown(part: int | str) -> str:
    # A location part can be a key from the body (pydantic names unknown keys there), and a
    # key could be a national id: only field-like names are shown.
    if isinstance(part, int) or _FIELD_NAME.fullmatch(part):
        return str(part)
    return "<field>"


_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


class AcceptedEvent(Contract):
    """One event as intake accepted it: the notification and the EPJ client that sent it
    (its EPJ system names the message: ``leverandor``, ``navnEPJ``, ``versjonEPJ``).

    ``traceparent`` is the span of the request that brought the event: intake commits the
    events of concurrent requests together, so a chunk's own trace context is only the
    first request's, and transform links each event's batch to the event's own span.
    """

    event_id: UUID
    received_at: AwareDatetime
    event: Notification = Field(repr=False)
    client_id: TenantId | None = None
    """The EPJ client's id in the tenants file; None for events from before it was carried."""
    trace_id: TraceId
    traceparent: TraceParent | None = None


class EventChunk(Contract):
    """Queue ``events``: a tenant's accepted events from one POST (or part of it)."""

    tenant_id: TenantId
    chunk_id: UUID
    events: list[AcceptedEvent] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class EncodedEvent:
    """An ``AcceptedEvent`` whose notification is already written as JSON (``event_json``:
    ``Notification.model_dump_json()``, UTF-8), for ``chunk_body``."""

    event_id: UUID
    event_json: bytes
    client_id: str | None
    trace_id: str
    traceparent: str | None


def chunk_body(
    tenant_id: str, chunk_id: UUID, received_at: datetime, events: Sequence[EncodedEvent]
) -> bytes:
    """The body ``EventChunk(...).to_body()`` writes for these events, byte for byte (a test
    holds the two equal), without writing each notification again: intake writes it once,
    for its content hash. The ids and trace fields are the contract's patterns (ASCII, no
    escapes), written as the model writes them."""
    received = _AWARE_DATETIME.dump_json(received_at)
    head = b'{"event_id":"'
    middle = b'","received_at":' + received + b',"event":'
    # A request's events share their client and trace: each value is written once.
    texts: dict[str | None, bytes] = {}

    def text(value: str | None) -> bytes:
        written = texts.get(value)
        if written is None:
            written = texts[value] = _json_text_or_null(value)
        return written

    parts = [
        b"".join(
            (
                head,
                str(event.event_id).encode(),
                middle,
                event.event_json,
                b',"client_id":',
                text(event.client_id),
                b',"trace_id":',
                text(event.trace_id),
                b',"traceparent":',
                text(event.traceparent),
                b"}",
            )
        )
        for event in events
    ]
    return (
        b'{"tenant_id":'
        + _json_text_or_null(tenant_id)
        + b',"chunk_id":"'
        + str(chunk_id).encode()
        + b'","events":['
        + b",".join(parts)
        + b"]}"
    )


def _json_text_or_null(value: str | None) -> bytes:
    return b"null" if value is None else json.dumps(value, ensure_ascii=False).encode()


_AWARE_DATETIME: TypeAdapter[datetime] = TypeAdapter(AwareDatetime)


def _is_none(value: object) -> bool:
    return value is None


_ENVIRONMENT_DESCRIPTION = (
    "The receiver's environment, named by an annual message (the tenant's own, or validation "
    "for a test submission to KPR Validering); absent: the tenant's own (every daily message)."
)


class BuiltMessage(Contract):
    """Queue ``messages``: one KPR message with its MsgHead, built but not yet sealed.

    A daily message carries its events (at least one); an annual one (KPR_IPL or KPR_IDE of
    an annual IPLOS 3.7 submission) carries none and names its ``submission_id`` instead
    (its ``batch_id`` is the submission id too). Its document is the MsgHead with the file
    packed (zipped, base64): never the uncompressed year. An annual message names its
    ``environment``, so that envelope, dispatch and receipts use the receiver its MsgHead is
    addressed to; left out of the body when unset (daily bodies are as before).
    """

    tenant_id: TenantId
    msg_id: UUID
    msg_type: MsgType
    batch_id: UUID
    event_ids: list[UUID] = Field(default_factory=list)
    submission_id: UUID | None = None
    environment: ReceiverEnvironment | None = Field(
        default=None, exclude_if=_is_none, description=_ENVIRONMENT_DESCRIPTION
    )
    document: Base64Binary = Field(repr=False)

    @model_validator(mode="after")
    def _events_or_submission(self) -> Self:
        if self.submission_id is None and not self.event_ids:
            raise ValueError("a daily message carries at least one event")
        if self.submission_id is not None and self.event_ids:
            raise ValueError("an annual message carries no events")
        return self


class SealedMessage(Contract):
    """Queue ``outbox``: the signed and encrypted message, ready for NHN (``environment`` as
    the ``BuiltMessage`` named it)."""

    tenant_id: TenantId
    msg_id: UUID
    msg_type: MsgType
    batch_id: UUID
    from_her_id: HerId
    to_her_id: HerId
    environment: ReceiverEnvironment | None = Field(
        default=None, exclude_if=_is_none, description=_ENVIRONMENT_DESCRIPTION
    )
    cms: Base64Binary = Field(repr=False)


class ReceiptError(Contract):
    """One error code of an AppRec (a CV): V, S, DN and OT."""

    code: str
    system: str | None = None
    text: str | None = None
    ref: str | None = None


class ReceiptNotice(Contract):
    """Queue ``receipts``: what came back for a sent message.

    ``status_code`` is the AppRec status (kodeverk 8258: 1 OK, 2 rejected, 3 OK with errors);
    ``None`` for a transport error, which has no AppRec.
    """

    tenant_id: TenantId
    msg_id: UUID
    outcome: ReceiptOutcome
    status_code: Literal[1, 2, 3] | None
    errors: list[ReceiptError] = Field(default_factory=list)
    received_at: AwareDatetime
