"""The Address Registry, for the services that look up a tenant's KPR receiver (envelope,
dispatch, receipts): its connection settings and the receiver directory they make.

Without ``registry_url`` the directory serves each tenant's ``receiver_override`` only (sites
without registry access), and a tenant without one stops the start-up. With it, a tenant
without an override is served from the registry, cached in the service's Redis under
``<key_prefix>:registry:`` (one cache for all services of the gateway); a tenant with an
override keeps using it.

The registry's certificates are trusted only when they chain to the trust bundle
(``registry_trust_bundle_file``, required with ``registry_url``), belong to the expected
organisation (``registry_receiver_org_number``, FHI's) and are not revoked (their CRLs,
fetched through the registry client's connection pool within
``registry_crl_timeout_seconds``). When revocation cannot be checked, ``registry_revocation``
decides: ``hard-fail`` (the default in production mode) refuses, ``soft-fail`` (the default in
development mode) accepts with a warning. The registry itself is spoken to over HTTPS;
``registry_allow_insecure`` permits plain HTTP for a local registry (and says so in the log).
"""

from __future__ import annotations

import logging
import sys
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NoReturn, Self
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from redis.asyncio import Redis

from kpr_gateway.registry import (
    DEFAULT_CRL_TIMEOUT,
    DEFAULT_TIMEOUT,
    DEFAULT_TTL,
    FHI_ORG_NUMBER,
    AddressRegistryClient,
    CachedRegistry,
    CertificateTrust,
    CrlChecker,
    ReceiverDirectory,
    RevocationMode,
    TrustBundle,
    TrustBundleError,
)
from kpr_gateway.runtime.settings import ServiceSettings

if TYPE_CHECKING:
    import httpx

_log = logging.getLogger(__name__)


class RegistrySettingsError(Exception):
    """The registry connection settings cannot be used (e.g. the password file is unreadable)."""


class RegistryServiceSettings(ServiceSettings):
    """ServiceSettings plus the Address Registry (``<PREFIX>REGISTRY_*`` variables)."""

    registry_url: str | None = Field(
        default=None,
        description=(
            "The Address Registry's SOAP 1.2 endpoint (NHN's test registry: "
            "https://ws-web.test.nhn.no/v1/AR). Unset: every tenant needs receiver_override."
        ),
    )
    registry_username: str | None = Field(default=None, description="HTTP basic user name.")
    registry_password_file: Path | None = Field(
        default=None, description="File with the HTTP basic password (a mounted Secret)."
    )
    registry_cache_ttl_seconds: float = Field(
        default=DEFAULT_TTL.total_seconds(),
        gt=0,
        description=(
            "How long a registry answer cached in Redis is used before the registry is asked "
            "again (while the registry is down, older answers are still used)."
        ),
    )
    registry_timeout_seconds: float = Field(
        default=DEFAULT_TIMEOUT, gt=0, description="How long to wait for one registry answer."
    )
    registry_allow_insecure: bool = Field(
        default=False,
        description=(
            "Allow an http:// registry_url (a local registry: kprgw local, tests). The "
            "registry's answers decide where messages go, so production uses https://."
        ),
    )
    registry_trust_bundle_file: Path | None = Field(
        default=None,
        description=(
            "CA certificates (PEM) of the enterprise certificate issuers the registry's "
            "certificates must chain to: Buypass' and Commfides' in production, the "
            "development PKI's ca.pem locally. Required with registry_url; read again when "
            "the file changes."
        ),
    )
    registry_receiver_org_number: str = Field(
        default=FHI_ORG_NUMBER,
        pattern=r"^[0-9]{9}$",
        description=(
            "The organisation number KPR's certificates from the registry must carry "
            "(Folkehelseinstituttet's)."
        ),
    )
    registry_revocation: Literal["hard-fail", "soft-fail"] | None = Field(
        default=None,
        description=(
            "When a registry certificate's CRL cannot be had: hard-fail refuses the "
            "certificate, soft-fail accepts it with a warning. Default: hard-fail in "
            "production mode, soft-fail in development mode. A revoked certificate is "
            "always refused."
        ),
    )
    registry_crl_timeout_seconds: float = Field(
        default=DEFAULT_CRL_TIMEOUT, gt=0, description="How long to wait for one CRL."
    )

    @field_validator("registry_url")
    @classmethod
    def _is_http_url(cls, url: str | None) -> str | None:
        if url is None:
            return None
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL")
        if parts.username is not None or parts.password is not None:
            raise ValueError("must not hold credentials: use registry_username and _password_file")
        return url

    @field_validator("registry_password_file", "registry_trust_bundle_file")
    @classmethod
    def _is_file(cls, path: Path | None) -> Path | None:
        if path is not None and not path.is_file():
            raise ValueError("is not a file")
        return path

    @model_validator(mode="after")
    def _credentials_go_together(self) -> Self:
        if (self.registry_username is None) != (self.registry_password_file is None):
            raise ValueError("registry_username and registry_password_file go together")
        return self

    @model_validator(mode="after")
    def _registry_is_trusted(self) -> Self:
        if self.registry_url is None:
            return self
        if urlsplit(self.registry_url).scheme != "https" and not self.registry_allow_insecure:
            raise ValueError(
                "registry_url must be https:// (registry_allow_insecure permits http:// for a "
                "local registry)"
            )
        if self.registry_trust_bundle_file is None:
            raise ValueError(
                "registry_url needs registry_trust_bundle_file: the CA certificates (PEM) the "
                "registry's certificates must chain to (Buypass, Commfides)"
            )
        return self

    def revocation_mode(self) -> RevocationMode:
        """``registry_revocation``, else hard-fail in production and soft-fail in development."""
        if self.registry_revocation is not None:
            return RevocationMode(self.registry_revocation)
        if self.mode == "production":
            return RevocationMode.HARD_FAIL
        return RevocationMode.SOFT_FAIL

    def registry_password(self) -> str | None:
        """The HTTP basic password from its file (without the trailing newline), if one is set."""
        if self.registry_password_file is None:
            return None
        try:
            return self.registry_password_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8"
            raise RegistrySettingsError(
                f"registry_password_file cannot be read ({reason})"
            ) from exc


def registry_client(
    service_name: str,
    settings: RegistryServiceSettings,
    *,
    http: httpx.AsyncClient | None = None,
) -> AddressRegistryClient | None:
    """The registry client from the settings, or None without ``registry_url``; bad settings
    end the process with exit 2. ``http`` is left open (the caller owns it), as the client's."""
    if settings.registry_url is None:
        return None
    if urlsplit(settings.registry_url).scheme != "https":
        _log.warning(
            "address registry over plain HTTP (registry_allow_insecure): for a local registry only"
        )
    try:
        return AddressRegistryClient(
            settings.registry_url,
            username=settings.registry_username,
            password=settings.registry_password(),
            timeout=settings.registry_timeout_seconds,
            http=http,
        )
    except (ValueError, RegistrySettingsError) as exc:
        _exit(service_name, f"settings: {exc}")


def receiver_directory(
    settings: RegistryServiceSettings,
    redis: Redis,
    client: AddressRegistryClient | None,
    *,
    service_name: str = "registry",
) -> ReceiverDirectory:
    """Overrides only without a client; else overrides first, then the registry through a
    cache in ``redis`` (which must answer bytes, redis-py's default), its certificates
    trusted as the settings say. An unusable trust bundle ends the process with exit 2."""
    if client is None:
        return ReceiverDirectory()
    cached = CachedRegistry(
        client,
        redis,
        ttl=timedelta(seconds=settings.registry_cache_ttl_seconds),
        key_prefix=f"{settings.key_prefix}:registry:",
    )
    return ReceiverDirectory(
        cached,
        trust=registry_trust(settings, client.http, service_name=service_name),
        receiver_org_number=settings.registry_receiver_org_number,
    )


def registry_trust(
    settings: RegistryServiceSettings, http: httpx.AsyncClient, *, service_name: str = "registry"
) -> CertificateTrust:
    """The trust the settings describe; CRLs are fetched with ``http`` (left to its owner)."""
    if settings.registry_trust_bundle_file is None:
        _exit(service_name, "settings: registry_url needs registry_trust_bundle_file")
    try:
        bundle = TrustBundle(settings.registry_trust_bundle_file)
    except TrustBundleError as exc:
        _exit(service_name, f"settings: registry_trust_bundle_file: {exc}")
    mode = settings.revocation_mode()
    if mode is RevocationMode.SOFT_FAIL:
        _log.warning(
            "registry certificates whose CRL cannot be had are accepted (revocation soft-fails)"
        )
    crls = CrlChecker(http, mode=mode, timeout=settings.registry_crl_timeout_seconds)
    return CertificateTrust(bundle, crls)


def _exit(service_name: str, reason: str) -> NoReturn:
    print(f"{service_name}: {reason}", file=sys.stderr)
    raise SystemExit(2)
