"""simulator settings, from environment variables prefixed ``KPRGW_SIMULATOR_``.

The simulator is test infrastructure on its own NHN connection; it has no internal bus,
no Redis and no tenants file, so these settings do not extend the services' shared ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from kpr_gateway.simulator.conditions import INTERNAL_ERROR
from kpr_gateway.simulator.receivers import DEFAULT_RECEIVER_QUEUES

Share = Annotated[float, Field(ge=0.0, le=1.0)]


class SimulatorSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="KPRGW_SIMULATOR_", extra="ignore", populate_by_name=True
    )

    # FHI's credentials (mounted files) and the senders it knows.
    signing_certificate: Path = Field(description="FHI's signing certificate (PEM).")
    signing_key: Path = Field(description="Its private key (PEM).")
    encryption_certificate: Path = Field(description="FHI's encryption certificate (PEM).")
    encryption_key: Path = Field(description="Its private key (PEM).")
    previous_encryption_certificate: Path | None = Field(
        default=None, description="During a rotation: the previous encryption certificate."
    )
    previous_encryption_key: Path | None = None
    key_password_file: Path | None = Field(
        default=None, description="Password of the private keys, if they are encrypted."
    )
    parties_file: Path = Field(description="YAML file of the known senders.")
    receiver_queues: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_RECEIVER_QUEUES),
        description="Queues to listen on, comma-separated (default: the KPR HER-ids' _async).",
    )
    standards_dir: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("KPRGW_SIMULATOR_STANDARDS_DIR", "KPRGW_STANDARDS_DIR"),
        description="Official XSDs; without them MsgHead is read, not schema-validated.",
    )
    apprec_version: Literal["1.0", "1.1"] = "1.0"
    credit: int = Field(default=10, ge=1, description="Messages in flight per queue.")
    answer_ttl_ms: int | None = Field(default=None, ge=1, description="TTL of answers (ms).")
    readers: int = Field(
        default=2,
        ge=1,
        description="Messages opened and checked at once (CPU-bound; each holds its document).",
    )
    gap_grace_seconds: float = Field(
        default=30.0,
        gt=0,
        description=(
            "How long the answer to a message that starts after a gap in its sender's chain "
            "waits for the gap to close before it is a rejection."
        ),
    )

    # Fault injection (see faults.py).
    reject_share: Share = 0.0
    transport_error_share: Share = 0.0
    no_answer_share: Share = 0.0
    duplicate_apprec_share: Share = 0.0
    delay_seconds: float = Field(default=0.0, ge=0.0)
    seed: int | None = None
    reject_senders: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Sender HER-ids always answered with status 2, comma-separated.",
    )
    transport_error_condition: str = Field(default=INTERNAL_ERROR, min_length=1)
    fault_control: bool = Field(
        default=False,
        description=(
            "Tests only: PUT /faults replaces the fault shares while running, GET /received "
            "counts what arrived (fault_control.py)."
        ),
    )

    # The AMQP 1.0 connection to the Tjenestebuss (or the local RabbitMQ).
    amqp_url: str | None = Field(
        default=None,
        description="amqps://user@host:port/exchange (Helsenorge.Messaging's form).",
    )
    amqp_password_file: Path | None = Field(
        default=None, description="SASL PLAIN password (mounted file); wins over the URL's."
    )
    amqp_allow_insecure: bool = Field(
        default=False, description="Allow plain amqp:// (local test brokers only)."
    )

    # The Address Registry it also plays (SOAP 1.2 on the HTTP port; see registry_http.py).
    registry_enabled: bool = Field(
        default=True, description="Serve the Address Registry under registry_path."
    )
    registry_path: str = Field(default="/registry", pattern=r"^/[A-Za-z0-9._/-]*$")
    registry_username: str | None = Field(
        default=None, description="HTTP basic user the registry demands (none: open)."
    )
    registry_password_file: Path | None = Field(
        default=None, description="Its password (mounted file)."
    )

    # The process.
    http_host: str = "0.0.0.0"  # noqa: S104 - a container listens on all its interfaces
    http_port: int = Field(
        default=8080, description="The Address Registry (and, for tests, fault control)."
    )
    ops_host: str = "0.0.0.0"  # noqa: S104 - a container listens on all its interfaces
    ops_port: int = Field(
        default=9090, description="Health, readiness, status and metrics, apart from the rest."
    )
    log_level: str = "INFO"
    log_json: bool = True
    traces_console: bool = False
    drain_seconds: float = Field(default=25.0, gt=0)

    @field_validator("receiver_queues", "reject_senders", mode="before")
    @classmethod
    def _split_queues(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part for part in value.replace(",", " ").split() if part]
        return value

    @field_validator("receiver_queues")
    @classmethod
    def _some_queues(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one receiver queue is needed")
        return value

    @model_validator(mode="after")
    def _shares_fit(self) -> Self:
        shares = (
            self.reject_share,
            self.transport_error_share,
            self.no_answer_share,
            self.duplicate_apprec_share,
        )
        if sum(shares) > 1.0 + 1e-9:
            raise ValueError(
                "reject, transport error, no-answer and duplicate AppRec shares add up to more "
                "than 1"
            )
        if (self.previous_encryption_certificate is None) != (self.previous_encryption_key is None):
            raise ValueError("previous encryption certificate and key go together")
        if (self.registry_username is None) != (self.registry_password_file is None):
            raise ValueError("registry username and password file go together")
        return self
