"""The NHN Tjenestebuss wire profile (DESIGN.md section 5) as plain data.

Property names are NHN's; values are what Helsenorge.Messaging sends. The body is
one Data section with the CMS bytes; transport errors arrive with an empty body and
``originalMessageId``, ``errorCondition``, ``errorDescription``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType

from kpr_gateway.nhn.errors import NhnWireError

CMS_CONTENT_TYPE = "application/pkcs7-mime; smime-type=signed-and-enveloped-data"
APPREC_SUBJECT = "APPREC"

FROM_HER_ID = "fromHerId"
TO_HER_ID = "toHerId"
APPLICATION_TIMESTAMP = "applicationTimeStamp"
ENQUEUED_TIME_UTC = "enqueuedTimeUtc"
ORIGINAL_MESSAGE_ID = "originalMessageId"
ERROR_CONDITION = "errorCondition"
ERROR_DESCRIPTION = "errorDescription"

_EMPTY: Mapping[str, str] = MappingProxyType({})


def format_timestamp(moment: datetime) -> str:
    """UTC, ``yyyy-MM-ddTHH:mm:ssZ`` as the profile writes application timestamps."""
    return moment.astimezone(UTC).replace(microsecond=0, tzinfo=None).isoformat() + "Z"


def parse_timestamp(text: str) -> datetime:
    """Read a profile timestamp, tolerating fractions and offsets that peers send."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise NhnWireError("timestamp is not ISO 8601") from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class NhnMessage:
    """One message on the Tjenestebuss, with the profile's properties."""

    message_id: str
    to: str
    subject: str
    reply_to: str | None
    correlation_id: str
    content_type: str
    from_her_id: str
    to_her_id: str
    application_timestamp: str
    enqueued_time_utc: str | None
    ttl_ms: int | None
    body: bytes
    extra_properties: Mapping[str, str] = field(default_factory=lambda: _EMPTY)

    def application_properties(self) -> dict[str, str]:
        """The application-properties section, exactly as it goes on the wire."""
        properties = {
            FROM_HER_ID: self.from_her_id,
            TO_HER_ID: self.to_her_id,
            APPLICATION_TIMESTAMP: self.application_timestamp,
        }
        if self.enqueued_time_utc is not None:
            properties[ENQUEUED_TIME_UTC] = self.enqueued_time_utc
        properties.update(self.extra_properties)
        return properties


def new_message(
    *,
    to_queue: str,
    subject: str,
    reply_to: str | None,
    from_her_id: str,
    to_her_id: str,
    body: bytes,
    ttl_ms: int | None,
    correlation_id: str | None = None,
    message_id: str | None = None,
    now: datetime | None = None,
    content_type: str = CMS_CONTENT_TYPE,
    extra_properties: Mapping[str, str] | None = None,
) -> NhnMessage:
    """A message per the profile: a new GUID, correlation-id = message-id unless given."""
    moment = now or datetime.now(UTC)
    identifier = message_id or str(uuid.uuid4())
    return NhnMessage(
        message_id=identifier,
        to=to_queue,
        subject=subject,
        reply_to=reply_to,
        correlation_id=correlation_id or identifier,
        content_type=content_type,
        from_her_id=from_her_id,
        to_her_id=to_her_id,
        application_timestamp=format_timestamp(moment),
        enqueued_time_utc=format_timestamp(moment),
        ttl_ms=ttl_ms,
        body=body,
        extra_properties=MappingProxyType(dict(extra_properties or {})),
    )


@dataclass(frozen=True, slots=True)
class TransportError:
    """A transport error from the sender's ``_error`` queue."""

    original_message_id: str
    condition: str
    description: str


def read_transport_error(properties: Mapping[str, str]) -> TransportError:
    """Read a transport error's application properties (values trimmed, tolerant of case)."""
    by_lower = {key.lower(): value for key, value in properties.items()}
    original = by_lower.get(ORIGINAL_MESSAGE_ID.lower(), "").strip()
    if not original:
        raise NhnWireError("transport error without originalMessageId")
    return TransportError(
        original_message_id=original,
        condition=by_lower.get(ERROR_CONDITION.lower(), "").strip() or "unknown",
        description=by_lower.get(ERROR_DESCRIPTION.lower(), "").strip(),
    )


def transport_error_message(
    *, original: NhnMessage, condition: str, description: str, error_queue: str
) -> NhnMessage:
    """What the bus sends to the sender's ``_error`` queue when it cannot deliver a message."""
    return new_message(
        to_queue=error_queue,
        subject=original.subject,
        reply_to=None,
        from_her_id=original.to_her_id,
        to_her_id=original.from_her_id,
        body=b"",
        ttl_ms=None,
        content_type="text/plain",
        extra_properties={
            ORIGINAL_MESSAGE_ID: original.message_id,
            ERROR_CONDITION: condition,
            ERROR_DESCRIPTION: description,
        },
    )
