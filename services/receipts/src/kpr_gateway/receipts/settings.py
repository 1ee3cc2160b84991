"""receipts settings, from environment variables prefixed ``KPRGW_RECEIPTS_``."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from kpr_gateway.receipts.errors import NhnSettingsError
from kpr_gateway.runtime import ServiceSettings


class ReceiptsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="KPRGW_RECEIPTS_", extra="ignore")

    credit: int = Field(
        default=10, ge=1, description="Messages in flight per NHN queue (AMQP link credit)."
    )
    apprec_deadline: timedelta = Field(
        default=timedelta(hours=24),
        description=(
            "A dispatched message without an AppRec or transport error after this long is "
            "marked overdue (seconds, or ISO 8601 such as PT24H). KPR reporting is daily, so "
            "a message still unanswered a day later needs an operator before the next run."
        ),
    )
    overdue_sweep_seconds: float = Field(
        default=60.0,
        gt=0,
        description="How often each tenant's overdue messages are marked and counted.",
    )
    release_delay_seconds: float = Field(
        default=2.0,
        ge=0,
        description=(
            "Pause before handing a message back to NHN when the ledger or the internal bus "
            "is down, so a dependency outage does not become a busy redelivery loop."
        ),
    )
    nhn_url: str = Field(
        default="amqps://127.0.0.1:5671",
        description=(
            "NHN Tjenestebuss, AMQP 1.0, as amqps://host:port/exchange (TLS). Credentials: "
            "nhn_username and nhn_password_file."
        ),
    )
    nhn_username: str | None = Field(default=None, description="SASL PLAIN user name.")
    nhn_password_file: Path | None = Field(
        default=None, description="File with the SASL PLAIN password (a mounted Secret)."
    )
    nhn_ca_file: Path | None = Field(
        default=None, description="CA certificates (PEM) to verify the Tjenestebuss with."
    )
    nhn_allow_insecure: bool = Field(
        default=False, description="Allow plain amqp:// (a local broker in tests only)."
    )

    @field_validator("nhn_password_file", "nhn_ca_file")
    @classmethod
    def _file_exists(cls, path: Path | None) -> Path | None:
        if path is not None and not path.is_file():
            raise ValueError("is not a file")
        return path

    def nhn_password(self) -> str | None:
        """The SASL PLAIN password from its mounted file (None when not configured)."""
        if self.nhn_password_file is None:
            return None
        try:
            return self.nhn_password_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise NhnSettingsError(f"nhn_password_file cannot be read ({exc.strerror})") from exc
