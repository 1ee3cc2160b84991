"""The simulator's answers on the wire: a sealed AppRec, or a transport error."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime

from kpr_gateway.messages.apprec import (
    AppRec,
    AppRecErrorCode,
    AppRecStatus,
    AppRecStatusCode,
    AppRecVersion,
    apprec_for,
    build_apprec,
)
from kpr_gateway.messages.msghead import MsgHead
from kpr_gateway.nhn import APPREC_SUBJECT, NhnMessage, new_message, transport_error_message
from kpr_gateway.security.cms import seal
from kpr_gateway.simulator.credentials import ReceiverCredentials
from kpr_gateway.simulator.parties import KnownSender


def receipt(
    head: MsgHead,
    errors: Sequence[AppRecErrorCode],
    *,
    version: AppRecVersion,
    now: datetime | None = None,
) -> AppRec:
    """Status 1 without errors, 2 (rejected) with them; parties swapped from ``head``."""
    status = AppRecStatusCode.REJECTED if errors else AppRecStatusCode.OK
    apprec = apprec_for(head, status=status, errors=list(errors), version=version, gen_date=now)
    issued = apprec.original.issue_date
    if issued is not None and issued.utcoffset() is None:
        # MsgHead allows a GenDate without zone; the AppRec must carry one. Read it as UTC.
        original = dataclasses.replace(apprec.original, issue_date=issued.replace(tzinfo=UTC))
        apprec = dataclasses.replace(apprec, original=original)
    return apprec


def with_verdict(
    apprec: AppRec, errors: Sequence[AppRecErrorCode], *, now: datetime | None = None
) -> AppRec:
    """``apprec`` (as ``receipt`` prepared it) with the status ``errors`` give, issued now.

    A receipt is prepared while the message is read and given its verdict later, once the
    sender's chain has had its say (possibly after waiting for a gap to close)."""
    status = AppRecStatusCode.REJECTED if errors else AppRecStatusCode.OK
    return dataclasses.replace(
        apprec,
        status=AppRecStatus.of(status),
        errors=list(errors),
        gen_date=now or datetime.now(UTC),
    )


def apprec_message(
    apprec: AppRec,
    *,
    original: NhnMessage,
    received_on: str,
    sender: KnownSender,
    credentials: ReceiverCredentials,
    ttl_ms: int | None,
) -> NhnMessage:
    """The AppRec, sealed for the sender, on its way back to the original's reply-to queue.

    Correlation-id is the original AMQP message-id; fromHerId and toHerId are swapped;
    reply-to is the queue the original arrived on (``received_on``).
    """
    body = seal(build_apprec(apprec), credentials.signing, sender.encryption_certificate)
    return new_message(
        to_queue=original.reply_to or sender.async_queue,
        subject=APPREC_SUBJECT,
        reply_to=received_on,
        from_her_id=original.to_her_id,
        to_her_id=original.from_her_id,
        body=body,
        ttl_ms=ttl_ms,
        correlation_id=original.message_id,
    )


def transport_error(
    original: NhnMessage, sender: KnownSender, condition: str, description: str
) -> NhnMessage:
    """The transport error for ``original`` on the sender's error queue."""
    return transport_error_message(
        original=original,
        condition=condition,
        description=description,
        error_queue=sender.error_queue,
    )
