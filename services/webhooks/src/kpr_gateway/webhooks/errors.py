"""Errors of webhooks, and how the bus treats them (park or retry).

Texts name tenants, EPJ clients, message ids and our words for a failure (``HTTP 503``,
``timeout``): never a body, neither ours nor the receiver's, and URLs without their query.
"""

from kpr_gateway.pipeline.errors import PermanentError, TransientError
from kpr_gateway.runtime import StartupError


class WebhooksError(Exception):
    """Root of every error raised by kpr_gateway.webhooks."""


class UnknownTenantError(WebhooksError, PermanentError):
    """A notice names a tenant this gateway does not serve: parked, never dropped."""


class MessageUnknownToLedgerError(WebhooksError, PermanentError):
    """The ledger has no record of the notice's message (past the retention, or lost)."""


class DeliveryFailedError(WebhooksError, TransientError):
    """A client's webhook did not answer 2xx: the notice is retried with backoff, and the
    clients already delivered are skipped then."""


class DeliveryGaveUpError(WebhooksError, PermanentError):
    """The last attempt the retry schedule allows failed too: parked with each failing
    client's last reason, and the ledger shows those deliveries ``failed``."""


class LedgerDownError(WebhooksError, TransientError):
    """The ledger could not be reached: retried with backoff."""


class CaFileError(WebhooksError, StartupError):
    """``ca_file`` cannot be read as CA certificates: the start-up stops (exit code 2)."""
