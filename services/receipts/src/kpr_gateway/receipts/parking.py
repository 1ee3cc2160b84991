"""Headers of an NHN message parked on ``receipts.parked``: everything an operator needs to
find it on NHN and in the ledger. The body is parked unchanged (the CMS bytes, or nothing for
a transport error, whose content is these properties)."""

from __future__ import annotations

from kpr_gateway.nhn import NhnMessage

TENANT_HEADER = "kprgw-tenant"
MSG_ID_HEADER = "kprgw-msg-id"
REASON_CLASS_HEADER = "kprgw-reason-class"
NHN_QUEUE_HEADER = "nhn-queue"
NHN_MESSAGE_ID_HEADER = "nhn-message-id"
NHN_PROPERTY_PREFIX = "nhn-property-"
_MAX_VALUE_CHARS = 1000


def parked_headers(
    message: NhnMessage,
    *,
    tenant_id: str,
    queue: str,
    reason_class: str,
    msg_id: str | None = None,
) -> dict[str, str]:
    headers = {
        TENANT_HEADER: tenant_id,
        NHN_QUEUE_HEADER: queue,
        NHN_MESSAGE_ID_HEADER: message.message_id,
        REASON_CLASS_HEADER: reason_class,
        "nhn-correlation-id": message.correlation_id,
        "nhn-subject": message.subject,
        "nhn-content-type": message.content_type,
    }
    if message.reply_to:
        headers["nhn-reply-to"] = message.reply_to
    if msg_id is not None:
        headers[MSG_ID_HEADER] = msg_id
    for name, value in message.application_properties().items():
        headers[f"{NHN_PROPERTY_PREFIX}{name}"] = value
    return {name: value[:_MAX_VALUE_CHARS] for name, value in headers.items()}
