"""Errors of the tenancy library; texts name tenants and fields, never secret values."""


class TenancyError(Exception):
    """Root of every error raised by kpr_gateway.tenancy."""


class TenantFileError(TenancyError):
    """The tenants file (or a file it refers to) is missing, unreadable or invalid."""
