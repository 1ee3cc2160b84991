"""webhooks settings, from environment variables prefixed ``KPRGW_WEBHOOKS_``."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from kpr_gateway.runtime import ServiceSettings


class WebhooksSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="KPRGW_WEBHOOKS_", extra="ignore")

    prefetch: int = Field(
        default=8,
        ge=1,
        description="Receipt notices handled at once (each POSTs to its clients in parallel).",
    )
    timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=120,
        description="Wait this long for a webhook to connect and answer; longer is a failure.",
    )
    allow_insecure_urls: bool = Field(
        default=False,
        description="Accept http:// webhook URLs (local runs, tests); otherwise only https://.",
    )
    ca_file: Path | None = Field(
        default=None,
        description=(
            "CA certificates (PEM) that sign the webhooks' TLS certificates, for receivers "
            "behind a private CA; unset: the system's CAs."
        ),
    )
    backlog_poll_seconds: float = Field(
        default=15.0,
        gt=0,
        description="How often the depth of the receipts queue is read for the backlog gauge.",
    )
