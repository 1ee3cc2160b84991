"""Errors of the NHN side; texts carry queue names and message ids only."""


class NhnError(Exception):
    """Root of every error raised by kpr_gateway.nhn."""


class NhnSendError(NhnError):
    """The broker did not accept a message (refused, unreachable, timed out)."""


class NhnWireError(NhnError):
    """A received message does not follow the wire profile (missing property, bad value)."""
