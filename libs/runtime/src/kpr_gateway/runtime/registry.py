"""The Address Registry, for the services that look up a tenant's KPR receiver (envelope,
dispatch, receipts): its connection settings and the receiver directory they make.

Without ``registry_url`` the directory serves each tenant's ``receiver_override`` only (sites
without registry access), and a tenant without one stops the start-up. With it, a tenant
without an override is served from the registry, cached in the service's Redis under
``<key_prefix>:registry:`` (one cache for all services of the gateway); a tenant with an
override keeps using it.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, Self
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from redis.asyncio import Redis

from kpr_gateway.registry import (
    DEFAULT_TIMEOUT,
    DEFAULT_TTL,
    AddressRegistry,
    AddressRegistryClient,
    CachedRegistry,
    ReceiverDirectory,
)
from kpr_gateway.runtime.settings import ServiceSettings

if TYPE_CHECKING:
    import httpx


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

    @field_validator("registry_password_file")
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
    settings: RegistryServiceSettings, redis: Redis, client: AddressRegistry | None
) -> ReceiverDirectory:
    """Overrides only without a client; else overrides first, then the registry through a
    cache in ``redis`` (which must answer bytes, redis-py's default)."""
    if client is None:
        return ReceiverDirectory()
    cached = CachedRegistry(
        client,
        redis,
        ttl=timedelta(seconds=settings.registry_cache_ttl_seconds),
        key_prefix=f"{settings.key_prefix}:registry:",
    )
    return ReceiverDirectory(cached)


def _exit(service_name: str, reason: str) -> NoReturn:
    print(f"{service_name}: {reason}", file=sys.stderr)
    raise SystemExit(2)
