"""The tenant a command works for: from a file with one tenant, or chosen from a tenants file."""

from __future__ import annotations

from pathlib import Path

import yaml

from kpr_gateway.cli.output import fail
from kpr_gateway.tenancy import TenancyError, Tenant, load_tenant, load_tenants


def choose_tenant(path: Path, tenant_id: str | None, *, exit_code: int = 1) -> Tenant:
    """The tenant of a one-tenant file, or the one ``tenant_id`` names in a tenants file (the
    only one when it has one); otherwise the command ends with ``exit_code`` and the reason."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        document = None  # the loaders below report the problem in their own words
    try:
        if not (isinstance(document, dict) and "tenants" in document):
            tenant = load_tenant(path)
            if tenant_id is not None and tenant.id != tenant_id:
                fail(f"{path} describes tenant {tenant.id}, not {tenant_id}", code=exit_code)
            return tenant
        tenants = load_tenants(path).tenants
    except TenancyError as exc:
        fail(exc, code=exit_code)
    if tenant_id is None:
        if len(tenants) > 1:
            fail(f"{path} has {len(tenants)} tenants: choose one with --tenant-id", code=exit_code)
        return tenants[0]
    chosen = next((t for t in tenants if t.id == tenant_id), None)
    if chosen is None:
        fail(f"{path} has no tenant {tenant_id}", code=exit_code)
    return chosen
