"""Errors of the rules' configuration: their data table and the tenants' test person lists."""

from kpr_gateway.transform.errors import TransformError


class RulesConfigError(TransformError):
    """A rules data file or a test person list cannot be used (raised at start-up only).

    Its text names the file and line, never the content of a line (it may be a national id).
    """
