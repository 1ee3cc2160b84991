"""envelope settings, from environment variables prefixed ``KPRGW_ENVELOPE_``."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from kpr_gateway.runtime.registry import RegistryServiceSettings


class EnvelopeSettings(RegistryServiceSettings):
    model_config = SettingsConfigDict(env_prefix="KPRGW_ENVELOPE_", extra="ignore")

    prefetch: int = Field(
        default=16, ge=1, description="Messages sealed at once (a seal takes about 1 ms of CPU)."
    )
    expiry_warning_days: int = Field(
        default=60,
        ge=1,
        description="Warn at start-up when a certificate expires within this many days.",
    )
