"""Tenants: one municipality each, with its HER-ids, target environment and secrets."""

from kpr_gateway.tenancy.errors import ReportingNotConfiguredError, TenancyError, TenantFileError
from kpr_gateway.tenancy.loading import load_tenant, load_tenants, read_pseudonym_secret
from kpr_gateway.tenancy.model import TargetEnvironment, Tenant, TenantsFile
from kpr_gateway.tenancy.receivers import KPR_RECEIVERS, kpr_receiver
from kpr_gateway.tenancy.reporting import (
    ContactEntry,
    EpjSystemEntry,
    MeldingProfile,
    TenantReporting,
)

__all__ = [
    "KPR_RECEIVERS",
    "ContactEntry",
    "EpjSystemEntry",
    "MeldingProfile",
    "ReportingNotConfiguredError",
    "TargetEnvironment",
    "TenancyError",
    "Tenant",
    "TenantFileError",
    "TenantReporting",
    "TenantsFile",
    "kpr_receiver",
    "load_tenant",
    "load_tenants",
    "read_pseudonym_secret",
]
