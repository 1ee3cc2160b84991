"""Errors of dispatch, and how the bus treats them (park or retry).

Texts name tenants, message ids, HER-ids and queue names only.
"""

from kpr_gateway.pipeline.errors import PermanentError, TransientError
from kpr_gateway.runtime.message_step import LedgerErrors
from kpr_gateway.runtime.receivers import ReceiverErrors


class DispatchError(Exception):
    """Root of every error raised by kpr_gateway.dispatch."""


class NoTransportError(DispatchError):
    """dispatch was built without an NHN transport (a wiring mistake, found at start-up)."""


class UnknownTenantError(DispatchError, PermanentError):
    """A message names a tenant this gateway does not serve: parked, never dropped."""


class MessageUnknownToLedgerError(DispatchError, PermanentError):
    """The ledger has no record of the message: parked for an operator, never sent."""


class AddressMismatchError(DispatchError, PermanentError):
    """The sealed message's HER-ids are not the tenant's current ones (the tenant's target
    changed after sealing): parked rather than sent to a receiver it was not sealed for."""


class ReceiverUnresolvedError(DispatchError, PermanentError):
    """The message's receiver cannot be used: it names an environment its tenant may not send
    to, or the Address Registry cannot resolve that receiver's queue. Parked with the reason."""


class RegistryDownError(DispatchError, TransientError):
    """The Address Registry could not be asked for the message's receiver: retried."""


class SendFailedError(DispatchError, TransientError):
    """NHN's broker did not accept the message (refused, unreachable, timed out): retried."""


class LedgerDownError(DispatchError, TransientError):
    """The ledger could not be reached: retried with backoff."""


LEDGER_ERRORS = LedgerErrors(down=LedgerDownError, unknown_message=MessageUnknownToLedgerError)
"""What the ledger's answers become in dispatch (its ``MessageStep``)."""

RECEIVER_ERRORS = ReceiverErrors(down=RegistryDownError, unresolved=ReceiverUnresolvedError)
"""What a receiver a message names and cannot have becomes in dispatch."""
