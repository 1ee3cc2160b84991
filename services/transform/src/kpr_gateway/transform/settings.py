"""transform settings, from environment variables prefixed ``KPRGW_TRANSFORM_``."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from kpr_gateway.runtime import ServiceSettings


class TransformSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="KPRGW_TRANSFORM_", extra="ignore")

    max_batch_events: int = Field(default=5_000, ge=1, description="Flush a batch at this size.")
    max_batch_age_seconds: float = Field(
        default=2.0, gt=0, description="Flush a tenant's pending events after this long."
    )
    prefetch: int = Field(
        default=256,
        ge=1,
        description=(
            "Chunks in flight. A chunk is acknowledged once its batch is sent, so when all of "
            "them wait the pending batches are flushed at once rather than at max age."
        ),
    )
