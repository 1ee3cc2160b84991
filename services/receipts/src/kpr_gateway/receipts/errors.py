"""Errors of receipts, and what happens to the NHN message that caused them.

The NHN handler settles with the same rule the internal bus uses: a ``PermanentError`` parks
the raw message on ``receipts.parked`` and accepts it on NHN; a ``TransientError`` releases
it so NHN delivers it again later. Nothing is dropped and nothing is answered on NHN.
Reasons name ids, queue names and error classes only, never message content.
"""

from __future__ import annotations

import re

from kpr_gateway.pipeline.errors import PermanentError, TransientError

_CAMEL_BOUNDARY = re.compile(r"(?<!^)(?=[A-Z])")


class ReceiptsError(Exception):
    """Root of every error raised by kpr_gateway.receipts."""


class ReceiptParkedError(ReceiptsError, PermanentError):
    """The message cannot close a sent message: parked with ``reason``, accepted on NHN.

    ``reason_class`` is a short label from a small fixed set, for the parked metric.
    """

    reason_class = "unreadable"

    def __init__(self, reason: str, *, msg_id: str | None = None) -> None:
        super().__init__(reason)
        self.msg_id = msg_id


class UnopenableMessageError(ReceiptParkedError):
    """The CMS could not be opened or verified: not for us, tampered, or not from KPR."""

    def __init__(self, reason: str, *, error_class: str) -> None:
        super().__init__(reason)
        self.reason_class = snake_case(error_class.removesuffix("Error"))


class NotAnAppRecError(ReceiptParkedError):
    """The opened content is not an AppRec (v1.0 or v1.1), bare or in a MsgHead."""

    reason_class = "not_apprec"


class MalformedAppRecError(ReceiptParkedError):
    """An AppRec that cannot be read: unsafe or malformed XML, no OriginalMsgId, bad status."""

    reason_class = "malformed_apprec"


class MisaddressedAppRecError(ReceiptParkedError):
    """An AppRec whose receiver is not the tenant's communication party (another tenant's, or
    none named)."""

    reason_class = "misaddressed_apprec"


class ForeignAppRecError(ReceiptParkedError):
    """An AppRec whose sender is not KPR (the FHI party the tenant sends to)."""

    reason_class = "apprec_not_from_kpr"


class UnmatchedAppRecError(ReceiptParkedError):
    """An AppRec whose OriginalMsgId names no message of this tenant."""

    reason_class = "unknown_message"


class ReplayedAppRecError(ReceiptParkedError):
    """A different AppRec for a message that already has its outcome."""

    reason_class = "replay"


class MalformedTransportError(ReceiptParkedError):
    """A message on the error queue without the transport error properties."""

    reason_class = "malformed_transport_error"


class UnmatchedTransportError(ReceiptParkedError):
    """A transport error naming an AMQP message id no sent message had."""

    reason_class = "unknown_transport_message"


class LateTransportError(ReceiptParkedError):
    """A transport error for a message that already has another outcome."""

    reason_class = "transport_error_after_outcome"


class WrongSignerError(ReceiptParkedError):
    """An AppRec not signed by the receiver its message was sent to (KPR's for a message to KPR
    Validering, say), or whose receiver cannot be resolved to tell."""

    reason_class = "wrong_signer"


class ReceiptsUnavailableError(ReceiptsError, TransientError):
    """A dependency is down: the NHN message is released and delivered again later."""

    cause = "unavailable"


class LedgerDownError(ReceiptsUnavailableError):
    """The ledger could not be read or written."""

    cause = "ledger"


class BusDownError(ReceiptsUnavailableError):
    """The internal bus did not confirm a notice or a parked message."""

    cause = "bus"


class RegistryDownError(ReceiptsUnavailableError):
    """The Address Registry could not be asked for the receiver an AppRec came from."""

    cause = "registry"


class NoTransportError(ReceiptsError):
    """receipts was built without an NHN transport to receive from."""


def snake_case(name: str) -> str:
    """``UnexpectedSigner`` -> ``unexpected_signer`` (labels for metrics)."""
    return _CAMEL_BOUNDARY.sub("_", name).lower()
