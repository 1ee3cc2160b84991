"""transform settings, from environment variables prefixed ``KPRGW_TRANSFORM_``."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from kpr_gateway.messages.daily import DEFAULT_MAX_MESSAGE_BYTES
from kpr_gateway.messages.iplos_kpr import SERVICE_TYPES
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
    max_events_held: int = Field(
        default=20_000,
        ge=1,
        description=(
            "Events held at most (parsed, not yet in a published message); further chunks wait "
            "unparsed. Memory follows this (about 2-3 KB an event), not prefetch times chunk size."
        ),
    )
    max_message_bytes: int = Field(
        default=DEFAULT_MAX_MESSAGE_BYTES,
        ge=10_000,
        description=(
            "Largest KPR message (MsgHead with its Melding, before CMS): a batch that would be "
            "larger is split. NHN recommends at most 1 MB on the Tjenestebuss."
        ),
    )
    reported_service_types: str = Field(
        default="",
        description=(
            "Service types (kodeverk 9151) that are reported, comma-separated, e.g. "
            "'18,19,20,21,29' (the specification's first phase). Empty: every code valid on "
            "the event's date. Events of other types are kept as not_reportable."
        ),
    )

    @field_validator("reported_service_types")
    @classmethod
    def _known_codes(cls, value: str) -> str:
        unknown = [c for c in _codes(value) if c not in SERVICE_TYPES]
        if unknown:
            raise ValueError(f"not codes of kodeverk 9151: {', '.join(unknown)}")
        return value

    def reported_types(self) -> frozenset[str] | None:
        """The configured service types, or None for every code valid on the event's date."""
        codes = _codes(self.reported_service_types)
        return frozenset(codes) if codes else None


def _codes(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]
