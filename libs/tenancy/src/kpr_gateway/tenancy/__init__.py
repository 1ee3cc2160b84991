"""Tenants: one municipality each, with its HER-ids, target environment and secrets."""

from kpr_gateway.tenancy.errors import TenancyError, TenantFileError
from kpr_gateway.tenancy.loading import load_tenant, load_tenants, read_pseudonym_secret
from kpr_gateway.tenancy.model import TargetEnvironment, Tenant, TenantsFile
from kpr_gateway.tenancy.receivers import KPR_RECEIVERS, kpr_receiver

__all__ = [
    "KPR_RECEIVERS",
    "TargetEnvironment",
    "TenancyError",
    "Tenant",
    "TenantFileError",
    "TenantsFile",
    "kpr_receiver",
    "load_tenant",
    "load_tenants",
    "read_pseudonym_secret",
]
