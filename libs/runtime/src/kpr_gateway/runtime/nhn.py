"""The connection to NHN's Tjenestebuss, for the services that talk to it (dispatch, receipts).

The settings and the transport they make are the same for both, so they live here once.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from pydantic import Field, field_validator

from kpr_gateway.nhn import NhnError, NhnTransport
from kpr_gateway.nhn.routing import RoutedTransport
from kpr_gateway.runtime.settings import ServiceSettings
from kpr_gateway.tenancy import Tenant, TenantsFile


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


def amqp_transport(
    service_name: str,
    settings: NhnServiceSettings,
    tenants: TenantsFile | None = None,
    **options: Any,
) -> NhnTransport:
    """The AMQP 1.0 transport from the settings (``options``: service-specific ones, such as
    dispatch's exchange and send timeout); bad settings end the process with exit 2.

    Tenants with an NHN account of their own (``nhn.username``/``nhn.password_file``) get a
    connection per account; the others share the release's account. One connection in all
    is the plain transport; more are one ``RoutedTransport``.
    """
    from kpr_gateway.nhn.amqp import AmqpNhnTransport  # noqa: PLC0415 - loads qpid-proton

    def connect(username: str | None, password: str | None) -> NhnTransport:
        return AmqpNhnTransport(
            settings.nhn_url,
            username=username,
            password=password,
            allow_insecure=settings.nhn_allow_insecure,
            ca_file=str(settings.nhn_ca_file) if settings.nhn_ca_file is not None else None,
            graceful_timeout=settings.drain_seconds,
            **options,
        )

    try:
        accounts = tenant_accounts(tenants.tenants if tenants is not None else [])
        shared = tenants is None or len(accounts.tenants) < len(tenants.tenants)
        if not accounts.connections:
            return connect(settings.nhn_username, settings.nhn_password())
        connections = {
            name: connect(account.username, account.password)
            for name, account in accounts.connections.items()
        }
        if shared:
            connections[RELEASE_ACCOUNT] = connect(settings.nhn_username, settings.nhn_password())
        return RoutedTransport(
            connections,
            senders=accounts.senders,
            queues=accounts.queues,
            default=RELEASE_ACCOUNT if shared else None,
        )
    except (NhnError, NhnSettingsError) as exc:
        _exit(service_name, f"settings: {exc}")


RELEASE_ACCOUNT = "release account"
"""The name of the connection with the release's own NHN account (the default)."""


@dataclass(frozen=True, slots=True)
class NhnAccount:
    username: str
    password: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class TenantAccounts:
    """Connections by name ("account <username>"), and who sends and reads over which."""

    connections: dict[str, NhnAccount]
    senders: dict[str, str]
    queues: dict[str, str]
    tenants: list[str]


def tenant_accounts(tenants: Sequence[Tenant]) -> TenantAccounts:
    """The tenants' own NHN accounts: tenants with the same user share its connection.

    A queue or sender HER-id belongs to one account: two accounts (or an account and the
    release's) claiming one (queue names are often inherited from a parent HER-id) is an
    error, never a silent pick of either.
    """
    result = TenantAccounts({}, {}, {}, [])
    claims: dict[tuple[str, str], tuple[str, str]] = {}  # (kind, name) -> (account, tenant)
    for tenant in tenants:
        name = RELEASE_ACCOUNT
        if tenant.nhn.username is not None and tenant.nhn.password_file is not None:
            name = f"account {tenant.nhn.username}"
            account = NhnAccount(tenant.nhn.username, _read_password(tenant))
            known = result.connections.setdefault(name, account)
            if known.password != account.password:
                raise NhnSettingsError(
                    f"tenant {tenant.id}: NHN user {tenant.nhn.username} has another password "
                    "in another tenant"
                )
            result.tenants.append(tenant.id)
        wanted = [("sender HER-id", tenant.communication_party.her_id)]
        wanted += [("queue", tenant.async_queue), ("queue", tenant.error_queue)]
        for kind, value in wanted:
            owner, other = claims.setdefault((kind, value), (name, tenant.id))
            if owner != name:
                raise NhnSettingsError(
                    f"tenant {tenant.id}: {kind} {value} is also tenant {other}'s, over "
                    f"another NHN account ({owner}, not {name})"
                )
            if name != RELEASE_ACCOUNT:
                (result.senders if kind == "sender HER-id" else result.queues)[value] = name
    return result


def _read_password(tenant: Tenant) -> str:
    assert tenant.nhn.password_file is not None  # noqa: S101 - checked by the caller
    try:
        return tenant.nhn.password_file.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise NhnSettingsError(
            f"tenant {tenant.id}: nhn.password_file cannot be read ({exc.strerror})"
        ) from exc


def _exit(service_name: str, reason: str) -> NoReturn:
    print(f"{service_name}: {reason}", file=sys.stderr)
    raise SystemExit(2)
