"""Settings every service shares; each service subclasses with its own env prefix."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KPRGW_", extra="ignore")

    tenants_file: Path = Field(description="The tenants file (YAML).")
    rabbitmq_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    redis_url: str = "redis://127.0.0.1:6379/0"
    queue_prefix: str = Field(default="", description="Prefix for internal queue names.")
    key_prefix: str = Field(default="kprgw", description="Prefix for Redis keys.")
    http_host: str = "0.0.0.0"  # noqa: S104 - a container listens on all its interfaces
    http_port: int = Field(default=8080, description="Health, readiness and metrics (and API).")
    log_level: str = "INFO"
    log_json: bool = True
    traces_console: bool = False
    drain_seconds: float = Field(
        default=25.0, description="Upper bound for finishing in-flight work after SIGTERM."
    )
