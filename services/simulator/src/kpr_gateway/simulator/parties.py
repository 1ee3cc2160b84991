"""The senders the simulator knows: a YAML parties file, as the Address Registry would tell.

    senders:
      - her_id: "50002"              # the municipality's communication party (level 2)
        signing_certificate: certs/bergen-sign.pem      # verifies what it sends
        encryption_certificate: certs/bergen-enc.pem    # the AppRec is encrypted for it
        async_queue: 50002_async     # optional; default <her_id>_async
        error_queue: 50002_error     # optional; default <her_id>_error
        municipality_number: "4601"  # optional; its messages must name this Kommune

Relative paths are read from the folder of the parties file. Certificates are checked
for their use (signing: nonRepudiation; encryption: keyEncipherment) and validity.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Self

import yaml
from cryptography import x509
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from kpr_gateway.security.certs import Usage, check_certificate, load_certificate
from kpr_gateway.security.errors import SecurityError
from kpr_gateway.simulator.errors import SimulatorConfigError
from kpr_gateway.tenancy import TenancyError, TenantsFile
from kpr_gateway.tenancy.credentials import load_tenant_credentials

HerId = Annotated[str, StringConstraints(pattern=r"^[1-9][0-9]{0,8}$")]
QueueName = Annotated[str, StringConstraints(pattern=r"^\S+$", max_length=200)]
MunicipalityNumber = Annotated[str, StringConstraints(pattern=r"^[0-9]{4}$")]


@dataclass(frozen=True)
class KnownSender:
    """A communication party allowed to send to the simulator, with its certificates."""

    her_id: str
    signing_certificate: x509.Certificate
    encryption_certificate: x509.Certificate
    async_queue: str
    error_queue: str
    municipality_number: str | None = None
    """The municipality the party sends for; None: any one Kommune is taken."""


def known_sender(
    her_id: str,
    signing_certificate: x509.Certificate,
    encryption_certificate: x509.Certificate,
    *,
    async_queue: str | None = None,
    error_queue: str | None = None,
    municipality_number: str | None = None,
) -> KnownSender:
    """A sender with NHN's default queue names for its HER-id unless others are given."""
    return KnownSender(
        her_id=her_id,
        signing_certificate=signing_certificate,
        encryption_certificate=encryption_certificate,
        async_queue=async_queue or f"{her_id}_async",
        error_queue=error_queue or f"{her_id}_error",
        municipality_number=municipality_number,
    )


def senders_from_tenants(
    tenants: TenantsFile, *, now: datetime | None = None
) -> tuple[KnownSender, ...]:
    """The gateway's tenants as senders (the embedded mode, and ``make up`` on one machine).

    Each tenant's communication party sends; its certificates come from the tenant's files.
    """
    senders = []
    for tenant in tenants.tenants:
        try:
            credentials = load_tenant_credentials(tenant, now=now)
        except TenancyError as exc:
            raise SimulatorConfigError(str(exc)) from exc
        senders.append(
            known_sender(
                tenant.communication_party.her_id,
                credentials.signing.certificate,
                credentials.decryption[0].certificate,
                async_queue=tenant.async_queue,
                error_queue=tenant.error_queue,
                municipality_number=tenant.municipality_number,
            )
        )
    return tuple(senders)


def senders_by_her_id(senders: Iterable[KnownSender]) -> Mapping[str, KnownSender]:
    """Index senders by HER-id; a HER-id given twice is a configuration error."""
    indexed: dict[str, KnownSender] = {}
    for sender in senders:
        if sender.her_id in indexed:
            raise SimulatorConfigError(f"sender HER-id {sender.her_id} is given twice")
        indexed[sender.her_id] = sender
    return MappingProxyType(indexed)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SenderEntry(_Strict):
    her_id: HerId
    signing_certificate: Path
    encryption_certificate: Path
    async_queue: QueueName | None = None
    error_queue: QueueName | None = None
    municipality_number: MunicipalityNumber | None = None


class PartiesFile(_Strict):
    senders: list[SenderEntry] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_her_ids(self) -> Self:
        seen: set[str] = set()
        for entry in self.senders:
            if entry.her_id in seen:
                raise ValueError(f"duplicate sender HER-id {entry.her_id}")
            seen.add(entry.her_id)
        return self


def load_parties(path: Path, *, now: datetime | None = None) -> tuple[KnownSender, ...]:
    """Read the parties file and load every sender's certificates."""
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SimulatorConfigError(f"parties file {path}: cannot be read ({exc.strerror})") from exc
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise SimulatorConfigError(
            f"parties file {path}: not valid YAML ({type(exc).__name__})"
        ) from exc
    try:
        parties = PartiesFile.model_validate(raw)
    except ValidationError as exc:
        raise SimulatorConfigError(f"parties file {path}: {_describe(exc)}") from exc
    base = path.resolve().parent
    return tuple(_load_sender(entry, base, now) for entry in parties.senders)


def _load_sender(entry: SenderEntry, base: Path, now: datetime | None) -> KnownSender:
    return known_sender(
        entry.her_id,
        _certificate(
            entry.her_id,
            "signing_certificate",
            base / entry.signing_certificate,
            Usage.SIGNING,
            now,
        ),
        _certificate(
            entry.her_id,
            "encryption_certificate",
            base / entry.encryption_certificate,
            Usage.ENCRYPTION,
            now,
        ),
        async_queue=entry.async_queue,
        error_queue=entry.error_queue,
        municipality_number=entry.municipality_number,
    )


def _certificate(
    her_id: str, field: str, path: Path, usage: Usage, now: datetime | None
) -> x509.Certificate:
    try:
        certificate = load_certificate(path)
        check_certificate(certificate, usage, now)
    except SecurityError as exc:
        raise SimulatorConfigError(f"sender {her_id}: {field}: {exc}") from exc
    return certificate


def _describe(exc: ValidationError) -> str:
    """Field paths and reasons, without echoing input values."""
    reasons = []
    for error in exc.errors(include_input=False, include_url=False):
        where = ".".join(str(part) for part in error["loc"]) or "(file)"
        reasons.append(f"{where}: {error['msg']}")
    return "; ".join(reasons)
