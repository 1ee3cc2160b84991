"""From settings to a ready ``Simulator``: credentials, senders, schemas and faults."""

from __future__ import annotations

from kpr_gateway.messages.errors import SchemaError
from kpr_gateway.messages.schemas import SchemaSet, load_schema_set
from kpr_gateway.nhn import NhnTransport
from kpr_gateway.observability.metrics import ServiceMetrics
from kpr_gateway.simulator.app import Simulator
from kpr_gateway.simulator.credentials import (
    KeyFiles,
    ReceiverCredentials,
    load_receiver_credentials,
)
from kpr_gateway.simulator.errors import SimulatorConfigError
from kpr_gateway.simulator.faults import Faults
from kpr_gateway.simulator.parties import load_parties
from kpr_gateway.simulator.settings import SimulatorSettings


def credentials_from(settings: SimulatorSettings) -> ReceiverCredentials:
    encryption = [KeyFiles(settings.encryption_certificate, settings.encryption_key)]
    if settings.previous_encryption_certificate and settings.previous_encryption_key:
        encryption.append(
            KeyFiles(settings.previous_encryption_certificate, settings.previous_encryption_key)
        )
    return load_receiver_credentials(
        KeyFiles(settings.signing_certificate, settings.signing_key),
        encryption,
        password=_password(settings),
    )


def faults_from(settings: SimulatorSettings) -> Faults:
    return Faults(
        reject_share=settings.reject_share,
        transport_error_share=settings.transport_error_share,
        no_answer_share=settings.no_answer_share,
        duplicate_apprec_share=settings.duplicate_apprec_share,
        delay_seconds=settings.delay_seconds,
        seed=settings.seed,
        transport_error_condition=settings.transport_error_condition,
        reject_senders=frozenset(settings.reject_senders),
    )


def schemas_from(settings: SimulatorSettings) -> SchemaSet | None:
    if settings.standards_dir is None:
        return None
    try:
        return load_schema_set(settings.standards_dir)
    except SchemaError as exc:
        raise SimulatorConfigError(f"standards directory: {exc}") from exc


def build_simulator(
    settings: SimulatorSettings,
    transport: NhnTransport,
    *,
    metrics: ServiceMetrics | None = None,
    owns_transport: bool = True,
) -> Simulator:
    """Everything loaded and checked now, so a bad file stops the start, not a message."""
    return Simulator(
        transport=transport,
        credentials=credentials_from(settings),
        senders=load_parties(settings.parties_file),
        queues=settings.receiver_queues,
        schemas=schemas_from(settings),
        faults=faults_from(settings),
        apprec_version=settings.apprec_version,
        metrics=metrics,
        credit=settings.credit,
        answer_ttl_ms=settings.answer_ttl_ms,
        owns_transport=owns_transport,
        gap_grace_seconds=settings.gap_grace_seconds,
        readers=settings.readers,
        track_received=settings.fault_control,
    )


def _password(settings: SimulatorSettings) -> bytes | None:
    if settings.key_password_file is None:
        return None
    try:
        return settings.key_password_file.read_bytes().strip()
    except OSError as exc:
        raise SimulatorConfigError(f"key_password_file cannot be read ({exc.strerror})") from exc
