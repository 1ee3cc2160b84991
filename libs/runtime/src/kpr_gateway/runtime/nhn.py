"""The connection to NHN's Tjenestebuss, for the services that talk to it (dispatch, receipts).

The settings and the transport they make are the same for both, so they live here once.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, NoReturn

from pydantic import Field, field_validator

from kpr_gateway.nhn import NhnError, NhnTransport
from kpr_gateway.runtime.settings import ServiceSettings


class NhnSettingsError(Exception):
    """The NHN connection settings cannot be used (e.g. the password file is unreadable)."""


class NhnServiceSettings(ServiceSettings):
    """ServiceSettings plus the Tjenestebuss connection (``<PREFIX>NHN_*`` variables)."""

    nhn_url: str = Field(
        default="amqps://127.0.0.1:5671",
        description=(
            "NHN Tjenestebuss, AMQP 1.0: amqps://host:port/exchange (Helsenorge.Messaging's "
            "form). The user may also be given below, which wins over the URL's."
        ),
    )
    nhn_username: str | None = Field(default=None, description="SASL PLAIN user name.")
    nhn_password_file: Path | None = Field(
        default=None, description="File with the SASL PLAIN password (a mounted Secret)."
    )
    nhn_ca_file: Path | None = Field(
        default=None, description="CA certificates (PEM) to trust for TLS; system ones if unset."
    )
    nhn_allow_insecure: bool = Field(
        default=False, description="Allow plain amqp:// (local brokers in tests only)."
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


def amqp_transport(service_name: str, settings: NhnServiceSettings, **options: Any) -> NhnTransport:
    """The AMQP 1.0 transport from the settings (``options``: service-specific ones, such as
    dispatch's exchange and send timeout); bad settings end the process with exit 2."""
    from kpr_gateway.nhn.amqp import AmqpNhnTransport  # noqa: PLC0415 - loads qpid-proton

    try:
        return AmqpNhnTransport(
            settings.nhn_url,
            username=settings.nhn_username,
            password=settings.nhn_password(),
            allow_insecure=settings.nhn_allow_insecure,
            ca_file=str(settings.nhn_ca_file) if settings.nhn_ca_file is not None else None,
            graceful_timeout=settings.drain_seconds,
            **options,
        )
    except (NhnError, NhnSettingsError) as exc:
        _exit(service_name, f"settings: {exc}")


def _exit(service_name: str, reason: str) -> NoReturn:
    print(f"{service_name}: {reason}", file=sys.stderr)
    raise SystemExit(2)
