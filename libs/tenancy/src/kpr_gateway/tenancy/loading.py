"""Reading tenant YAML files and the secrets they reference."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from kpr_gateway.tenancy.errors import TenantFileError
from kpr_gateway.tenancy.model import BASE_DIR_CONTEXT_KEY, Tenant, TenantsFile

MIN_PSEUDONYM_SECRET_BYTES = 32

_Model = TypeVar("_Model", bound=BaseModel)


def load_tenants(path: Path) -> TenantsFile:
    """Load and check a tenants file (``tenants: [...]``)."""
    return _load(path, TenantsFile)


def load_tenant(path: Path) -> Tenant:
    """Load a single tenant described on its own (same fields as one tenants-file entry)."""
    return _load(path, Tenant)


def read_pseudonym_secret(tenant: Tenant) -> bytes:
    """The tenant's pseudonym secret, from its mounted file."""
    try:
        secret = tenant.pseudonym_secret_file.read_bytes().strip()
    except OSError as exc:
        raise TenantFileError(
            f"tenant {tenant.id}: pseudonym_secret_file cannot be read ({exc.strerror})"
        ) from exc
    if len(secret) < MIN_PSEUDONYM_SECRET_BYTES:
        raise TenantFileError(
            f"tenant {tenant.id}: pseudonym secret is shorter than "
            f"{MIN_PSEUDONYM_SECRET_BYTES} bytes"
        )
    return secret


def _load(path: Path, model: type[_Model]) -> _Model:
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TenantFileError(f"{path}: cannot be read ({exc.strerror})") from exc
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise TenantFileError(f"{path}: not valid YAML ({type(exc).__name__})") from exc
    try:
        return model.model_validate(raw, context={BASE_DIR_CONTEXT_KEY: path.resolve().parent})
    except ValidationError as exc:
        raise TenantFileError(f"{path}: {describe(exc)}") from exc


def describe(exc: ValidationError) -> str:
    """Field paths and reasons, without echoing input values (they may be secrets)."""
    reasons = []
    for error in exc.errors(include_input=False, include_url=False):
        where = ".".join(str(part) for part in error["loc"]) or "(file)"
        reasons.append(f"{where}: {error['msg']}")
    return "; ".join(reasons)
