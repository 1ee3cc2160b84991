"""Tenants: one municipality each, with its HER-ids, target environment and secrets."""

from kpr_gateway.tenancy.errors import (
    EnvironmentNotAllowedError,
    ReportingNotConfiguredError,
    TenancyError,
    TenantFileError,
)
from kpr_gateway.tenancy.loading import load_tenant, load_tenants, read_pseudonym_secret
from kpr_gateway.tenancy.model import TargetEnvironment, Tenant, TenantsFile
from kpr_gateway.tenancy.receivers import (
    KPR_RECEIVERS,
    TEST_SUBMISSION_ENVIRONMENT,
    addressable_environments,
    kpr_receiver,
    kpr_receiver_her_id,
    message_environment,
)
from kpr_gateway.tenancy.reporting import (
    ContactEntry,
    EpjSystemEntry,
    MeldingProfile,
    TenantReporting,
)

__all__ = [
    "KPR_RECEIVERS",
    "TEST_SUBMISSION_ENVIRONMENT",
    "ContactEntry",
    "EnvironmentNotAllowedError",
    "EpjSystemEntry",
    "MeldingProfile",
    "ReportingNotConfiguredError",
    "TargetEnvironment",
    "TenancyError",
    "Tenant",
    "TenantFileError",
    "TenantReporting",
    "TenantsFile",
    "addressable_environments",
    "kpr_receiver",
    "kpr_receiver_her_id",
    "load_tenant",
    "load_tenants",
    "message_environment",
    "read_pseudonym_secret",
]
