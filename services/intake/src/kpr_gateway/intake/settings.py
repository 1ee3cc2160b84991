"""intake settings, from environment variables prefixed ``KPRGW_INTAKE_``."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Self
from urllib.parse import urlsplit

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from kpr_gateway.intake.jwks import SUPPORTED_ALGORITHMS, JwksPolicy
from kpr_gateway.intake.oauth import OAuthConfig
from kpr_gateway.messages.packing import ANNUAL_PACKING, Packing
from kpr_gateway.runtime import ServiceSettings
from kpr_gateway.tenancy.model import Scope


class IntakeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="KPRGW_INTAKE_", extra="ignore")

    max_batch_events: int = Field(default=10_000, ge=1)
    max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    chunk_events: int = Field(
        default=500, ge=1, description="Events per internal message on the events queue."
    )
    rate_limit_per_second: int = Field(
        default=500,
        ge=1,
        description="Requests per second per EPJ client before 429, unless it has its own.",
    )

    # The annual IPLOS 3.7 submission (POST /v1/annual-submissions).
    annual_spool_dir: Path | None = Field(
        default=None,
        description="Where uploads are spooled while checked (unset: the system's temp dir).",
    )
    annual_max_file_bytes: int = Field(
        default=512 * 1024 * 1024,
        ge=1024,
        description="Largest IPLOS or ident file accepted (413 above); a 50,000-person year is "
        "about 72 MB.",
    )
    annual_max_nhn_message_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=1024,
        description="Largest MsgHead built for an annual file; a larger one refuses the "
        "submission before anything is stored (envelope checks the sealed size again).",
    )
    annual_packing_ipl: Packing = Field(
        default=ANNUAL_PACKING, description="How KPR_IPL carries the IPLOS 3.7 file."
    )
    annual_packing_ide: Packing = Field(
        default=ANNUAL_PACKING, description="How KPR_IDE carries the XPR(ide) file."
    )
    annual_max_concurrent: int = Field(
        default=1,
        ge=1,
        description="Annual submissions checked at once by one replica (503 with Retry-After "
        "beyond): each spools up to two files of annual_max_file_bytes, and the spool has a "
        "size limit.",
    )
    annual_republish_after_seconds: float = Field(
        default=60.0,
        gt=0,
        description="Annual messages recorded this long ago and never confirmed on the bus "
        "(a crash) are published again: at start-up, then by a sweep this often.",
    )

    # OAuth2 bearer tokens (off unless an issuer is set; API keys work either way).
    oauth_issuer: str | None = Field(
        default=None, description="Accepted ``iss``, e.g. https://helseid-sts.nhn.no"
    )
    oauth_audience: str | None = Field(default=None, description="Required ``aud`` value.")
    oauth_jwks_url: str | None = Field(
        default=None, description="The issuer's JWKS (HTTPS; plain HTTP only on loopback)."
    )
    oauth_tenant_claim: str = Field(
        default="kpr_tenant",
        description=(
            "Claim naming the tenant; its value is matched with tenants[].oauth.tenant_claim_value "
            "(HelseID: helseid://claims/client/claims/orgnr_parent)."
        ),
    )
    oauth_client_claims: list[str] = Field(
        default=["client_id", "azp"], min_length=1, description="Claims naming the client."
    )
    oauth_scope_claim: str = "scope"
    oauth_scope_submit: str = "kpr:submit"
    oauth_scope_read: str = "kpr:read"
    oauth_scope_annual: str = "kpr:annual"
    oauth_algorithms: list[str] = Field(default=["RS256", "ES256", "PS256"], min_length=1)
    oauth_leeway_seconds: float = Field(default=30.0, ge=0, le=300)
    oauth_jwks_max_age_seconds: float = Field(default=300.0, ge=10)
    oauth_jwks_min_refresh_seconds: float = Field(default=10.0, ge=0)
    oauth_jwks_timeout_seconds: float = Field(default=5.0, gt=0)

    @model_validator(mode="after")
    def _oauth_complete(self) -> Self:
        if self.oauth_issuer is None:
            return self
        if not self.oauth_audience or not self.oauth_jwks_url:
            raise ValueError("oauth_issuer needs oauth_audience and oauth_jwks_url")
        _require_safe_url(self.oauth_jwks_url)
        refused = set(self.oauth_algorithms) - SUPPORTED_ALGORITHMS
        if refused:
            raise ValueError(
                f"oauth_algorithms {sorted(refused)} refused; "
                f"use asymmetric ones: {sorted(SUPPORTED_ALGORITHMS)}"
            )
        scope_names = (self.oauth_scope_submit, self.oauth_scope_read, self.oauth_scope_annual)
        if len(set(scope_names)) != len(scope_names):
            raise ValueError(
                "oauth_scope_submit, oauth_scope_read and oauth_scope_annual must differ"
            )
        return self

    def oauth_config(self) -> OAuthConfig | None:
        if self.oauth_issuer is None or self.oauth_audience is None:
            return None
        return OAuthConfig(
            issuer=self.oauth_issuer,
            audience=self.oauth_audience,
            tenant_claim=self.oauth_tenant_claim,
            client_claims=tuple(self.oauth_client_claims),
            scope_claim=self.oauth_scope_claim,
            scope_values={
                self.oauth_scope_submit: Scope.SUBMIT,
                self.oauth_scope_read: Scope.READ,
                self.oauth_scope_annual: Scope.ANNUAL,
            },
            algorithms=frozenset(self.oauth_algorithms),
            leeway_seconds=self.oauth_leeway_seconds,
        )

    def jwks_policy(self) -> JwksPolicy:
        return JwksPolicy(
            max_age_seconds=self.oauth_jwks_max_age_seconds,
            min_refresh_seconds=self.oauth_jwks_min_refresh_seconds,
            timeout_seconds=self.oauth_jwks_timeout_seconds,
        )


def _require_safe_url(url: str) -> None:
    """Keys that decide who may submit come over TLS; plain HTTP is for a local test issuer."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname and _is_loopback(parts.hostname):
        return
    raise ValueError("oauth_jwks_url must be https (plain http only on loopback)")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
