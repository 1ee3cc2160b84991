"""Errors of the tenancy library; texts name tenants and fields, never secret values."""


class TenancyError(Exception):
    """Root of every error raised by kpr_gateway.tenancy."""


class TenantFileError(TenancyError):
    """The tenants file (or a file it refers to) is missing, unreadable or invalid."""


class ReportingNotConfiguredError(TenancyError):
    """A tenant (or one of its EPJ clients) lacks what a KPR message must say about its
    sender: the ``reporting`` block, or an EPJ system for the client."""


class EnvironmentNotAllowedError(TenancyError):
    """A message names an environment its tenant may not send to (only the tenant's own, or
    KPR Validering for a test submission)."""
