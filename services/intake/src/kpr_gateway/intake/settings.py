"""intake settings, from environment variables prefixed ``KPRGW_INTAKE_``."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from kpr_gateway.runtime import ServiceSettings


class IntakeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="KPRGW_INTAKE_", extra="ignore")

    max_batch_events: int = Field(default=10_000, ge=1)
    max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    chunk_events: int = Field(
        default=500, ge=1, description="Events per internal message on the events queue."
    )
    rate_limit_per_second: int = Field(
        default=500, ge=1, description="Requests per second per EPJ client before 429."
    )
