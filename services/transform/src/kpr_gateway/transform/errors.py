"""Errors of transform, and how the bus treats them (park or retry)."""

from kpr_gateway.pipeline.errors import PermanentError, TransientError


class TransformError(Exception):
    """Root of every error raised by kpr_gateway.transform."""


class UnknownTenantError(TransformError, PermanentError):
    """A chunk names a tenant this gateway does not serve: parked, never dropped."""


class EventUnknownToLedgerError(TransformError, PermanentError):
    """The ledger has no record of an event intake accepted: parked for an operator."""


class BuildError(TransformError, PermanentError):
    """The KPR documents could not be built from events that passed validation."""


class LedgerDownError(TransformError, TransientError):
    """The ledger could not be reached: retried with backoff."""


class CorrectionWaitsError(TransformError, TransientError):
    """A correction arrived before its original was numbered: retried later, so that it is
    numbered (and sent) after its original, never before."""
