"""Errors of envelope, and how the bus treats them (park or retry).

Texts name tenants, message ids and certificates (by serial and fingerprint) only.
"""

from kpr_gateway.pipeline.errors import PermanentError, TransientError
from kpr_gateway.runtime.message_step import LedgerErrors
from kpr_gateway.runtime.receivers import ReceiverErrors


class EnvelopeError(Exception):
    """Root of every error raised by kpr_gateway.envelope."""


class UnknownTenantError(EnvelopeError, PermanentError):
    """A message names a tenant this gateway does not serve: parked, never dropped."""


class MessageUnknownToLedgerError(EnvelopeError, PermanentError):
    """The ledger has no record of the message transform built: parked for an operator."""


class SealError(EnvelopeError, PermanentError):
    """The message cannot be sealed (a certificate expired or is unfit): parked with the reason."""


class MessageTooLargeError(EnvelopeError, PermanentError):
    """The sealed message is over the NHN size limit (``max_nhn_message_bytes``): never sent,
    parked with the sizes, and recorded in the ledger as rejected by envelope."""


class ReceiverUnresolvedError(EnvelopeError, PermanentError):
    """The message's receiver cannot be used: it names an environment its tenant may not send
    to, or the Address Registry cannot resolve that receiver. Parked with the reason."""


class RegistryDownError(EnvelopeError, TransientError):
    """The Address Registry could not be asked for the message's receiver: retried."""


class LedgerDownError(EnvelopeError, TransientError):
    """The ledger could not be reached: retried with backoff."""


LEDGER_ERRORS = LedgerErrors(down=LedgerDownError, unknown_message=MessageUnknownToLedgerError)
"""What the ledger's answers become in envelope (its ``MessageStep``)."""

RECEIVER_ERRORS = ReceiverErrors(down=RegistryDownError, unresolved=ReceiverUnresolvedError)
"""What a receiver a message names and cannot have becomes in envelope."""
