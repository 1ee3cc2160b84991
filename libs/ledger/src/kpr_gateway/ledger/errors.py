"""Errors of the ledger; texts carry tenant and ledger ids only."""


class LedgerError(Exception):
    """Root of every error raised by kpr_gateway.ledger."""


class LedgerUnavailableError(LedgerError):
    """Redis could not be reached or answered with an error (transient)."""


class UnknownMessageError(LedgerError):
    """A KPR message id that the ledger has never recorded for this tenant."""


class ChainBrokenError(LedgerError):
    """A commit whose links would leave a gap or a fork in a chain (a programming error)."""


class ResendRefusedError(LedgerError):
    """A resend of a message that is unknown or still in flight."""
