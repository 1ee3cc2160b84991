"""Settings every service shares; each service subclasses with its own env prefix."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

_SECONDS = re.compile(r"\s*[0-9]+(?:\.[0-9]+)?\s*")


def _seconds_or_iso(value: object) -> object:
    # An environment variable is text: "30" is 30 seconds; "PT30S" and "1 day" are pydantic's.
    if isinstance(value, str) and _SECONDS.fullmatch(value):
        return timedelta(seconds=float(value))
    return value


Duration = Annotated[timedelta, BeforeValidator(_seconds_or_iso)]
"""A duration setting: seconds (``30``, ``1.5``) or ISO 8601 (``PT24H``)."""


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KPRGW_", extra="ignore")

    tenants_file: Path = Field(description="The tenants file (YAML).")
    rabbitmq_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_password_file: Path | None = Field(
        default=None,
        description="A file holding Redis' password (AUTH), rather than the password in the URL.",
    )
    redis_ca_file: Path | None = Field(
        default=None,
        description="CA bundle (PEM) that signs Redis' TLS certificate, for a rediss:// URL.",
    )
    queue_prefix: str = Field(default="", description="Prefix for internal queue names.")
    key_prefix: str = Field(default="kprgw", description="Prefix for Redis keys.")
    http_host: str = "0.0.0.0"  # noqa: S104 - a container listens on all its interfaces
    http_port: int = Field(
        default=8080,
        description=(
            "The service's own HTTP app (intake's API, transform's operator actions); a "
            "service without one does not listen here."
        ),
    )
    ops_host: str = "0.0.0.0"  # noqa: S104 - a container listens on all its interfaces
    ops_port: int = Field(
        default=9090,
        description="Health, readiness, status and metrics, apart from the API.",
    )
    log_level: str = "INFO"
    log_json: bool = True
    traces_console: bool = False
    mode: Literal["production", "development"] = Field(
        default="production",
        description=(
            "production: refuse a Redis without an append-only file synced every second, and "
            "a ledger without its generation marker (kprgw ledger init). development (local "
            "runs, tests): log the first, write the second."
        ),
    )
    allow_redis_without_aof: bool = Field(
        default=False,
        description=(
            "Run in production mode on a Redis without AOF, knowing a Redis restart loses the "
            "ledger; shown in the metrics and the readiness detail."
        ),
    )
    ledger_check_seconds: float = Field(
        default=10.0,
        gt=0,
        description="How often the ledger's generation marker is checked while running.",
    )
    drain_seconds: float = Field(
        default=25.0, description="Upper bound for finishing in-flight work after SIGTERM."
    )
