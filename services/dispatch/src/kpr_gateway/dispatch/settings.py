"""dispatch settings, from environment variables prefixed ``KPRGW_DISPATCH_``."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from kpr_gateway.runtime.nhn import NhnServiceSettings
from kpr_gateway.runtime.registry import RegistryServiceSettings

DEFAULT_MESSAGE_TTL_MS = int(timedelta(days=4).total_seconds() * 1000)
"""Four days, as NHN's reference client (Helsenorge.Messaging) configures asynchronous
messages: it outlasts a long weekend of receiver downtime; after that the message expires on
the bus instead of arriving stale (the ledger shows it overdue long before)."""


class DispatchSettings(NhnServiceSettings, RegistryServiceSettings):
    model_config = SettingsConfigDict(env_prefix="KPRGW_DISPATCH_", extra="ignore")

    prefetch: int = Field(default=16, ge=1, description="Sends in flight at once.")
    message_ttl_ms: int = Field(
        default=DEFAULT_MESSAGE_TTL_MS,
        ge=1000,
        description="AMQP header ttl of every KPR message sent (milliseconds; default 4 days).",
    )
    send_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        description=(
            "Wait this long for NHN's broker to settle a send; then the message is retried "
            "through the bus (the ledger keeps both attempts)."
        ),
    )
    nhn_exchange: str | None = Field(
        default=None, description="Exchange to send through (/exchange/{exchange}/{queue})."
    )
    nhn_verify_queues: bool = Field(
        default=True,
        description=(
            "Check that a destination queue exists before the first send to it: RabbitMQ's "
            "AMQP 1.0 plugin accepts and drops a message no queue is bound for."
        ),
    )
