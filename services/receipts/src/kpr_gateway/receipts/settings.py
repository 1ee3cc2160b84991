"""receipts settings, from environment variables prefixed ``KPRGW_RECEIPTS_``."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from kpr_gateway.runtime.nhn import NhnServiceSettings
from kpr_gateway.runtime.registry import RegistryServiceSettings
from kpr_gateway.runtime.settings import Duration


class ReceiptsSettings(NhnServiceSettings, RegistryServiceSettings):
    model_config = SettingsConfigDict(env_prefix="KPRGW_RECEIPTS_", extra="ignore")

    credit: int = Field(
        default=10, ge=1, description="Messages in flight per NHN queue (AMQP link credit)."
    )
    apprec_deadline: Duration = Field(
        default=timedelta(hours=24),
        description=(
            "A dispatched message without an AppRec or transport error after this long is "
            "marked overdue (seconds, or ISO 8601 such as PT24H). KPR reporting is daily, so "
            "a message still unanswered a day later needs an operator before the next run."
        ),
    )
    backlog_quiet_seconds: float = Field(
        default=5.0,
        ge=0,
        description=(
            "The first overdue sweep waits until no message arrived on NHN's queues for this "
            "long: AppRecs that waited during an outage are read before anything is overdue."
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
