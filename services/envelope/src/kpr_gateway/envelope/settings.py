"""envelope settings, from environment variables prefixed ``KPRGW_ENVELOPE_``."""

from __future__ import annotations

from typing import Final

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from kpr_gateway.runtime.registry import RegistryServiceSettings

DEFAULT_MAX_NHN_MESSAGE_BYTES: Final = 16 * 1024 * 1024
"""The Tjenestebuss runs RabbitMQ, whose default largest message (4.x) is 16 MiB; NHN
recommends at most 1 MB, which the daily messages keep (transform splits them). A packed
annual file is 4-6 MB sealed."""


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
    max_nhn_message_bytes: int = Field(
        default=DEFAULT_MAX_NHN_MESSAGE_BYTES,
        ge=64 * 1024,
        description=(
            "A sealed message larger than this is not sent: it is parked and the ledger records"
            " it rejected by envelope. Set it to what the Tjenestebuss accepts."
        ),
    )
