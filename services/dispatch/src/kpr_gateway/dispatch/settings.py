"""dispatch settings, from environment variables prefixed ``KPRGW_DISPATCH_``."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from kpr_gateway.dispatch.errors import NhnSettingsError
from kpr_gateway.runtime import ServiceSettings

DEFAULT_MESSAGE_TTL_MS = int(timedelta(days=4).total_seconds() * 1000)
"""Four days, as NHN's reference client (Helsenorge.Messaging) configures asynchronous
messages: it outlasts a long weekend of receiver downtime; after that the message expires on
the bus instead of arriving stale (the ledger shows it overdue long before)."""


class DispatchSettings(ServiceSettings):
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
    nhn_url: str = Field(
        default="amqps://127.0.0.1:5671",
        description=(
            "NHN Tjenestebuss, AMQP 1.0: amqps://host:port/exchange (Helsenorge.Messaging's "
            "form). User and exchange may also be given below; those win over the URL's."
        ),
    )
    nhn_username: str | None = Field(default=None, description="SASL PLAIN user name.")
    nhn_password_file: Path | None = Field(
        default=None, description="File with the SASL PLAIN password (a mounted Secret)."
    )
    nhn_exchange: str | None = Field(
        default=None, description="Exchange to send through (/exchange/{exchange}/{queue})."
    )
    nhn_ca_file: Path | None = Field(
        default=None, description="CA certificates (PEM) to trust for TLS; system ones if unset."
    )
    nhn_allow_insecure: bool = Field(
        default=False, description="Allow plain amqp:// (local brokers in tests only)."
    )
    nhn_verify_queues: bool = Field(
        default=True,
        description=(
            "Check that a destination queue exists before the first send to it: RabbitMQ's "
            "AMQP 1.0 plugin accepts and drops a message no queue is bound for."
        ),
    )

    @field_validator("nhn_password_file", "nhn_ca_file")
    @classmethod
    def _is_file(cls, path: Path | None) -> Path | None:
        if path is not None and not path.is_file():
            raise ValueError("is not a file")
        return path

    def nhn_password(self) -> str | None:
        """The SASL PLAIN password from its file (without the trailing newline), if one is set."""
        if self.nhn_password_file is None:
            return None
        try:
            return self.nhn_password_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise NhnSettingsError(f"nhn_password_file cannot be read ({exc.strerror})") from exc
