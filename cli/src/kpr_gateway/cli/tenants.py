"""``kprgw tenants``: check a tenants file as the services will at start-up, and make API keys."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from kpr_gateway.cli.output import fail
from kpr_gateway.registry import AddressRegistry, AddressRegistryClient, RegistryError
from kpr_gateway.security.certs import certificate_summary, days_to_expiry, fingerprint
from kpr_gateway.tenancy import TenancyError, Tenant, load_tenants, read_pseudonym_secret
from kpr_gateway.tenancy.credentials import (
    TenantCredentials,
    load_receiver_certificates,
    load_tenant_credentials,
)

app = typer.Typer(no_args_is_help=True, help="Tenants: the municipalities this gateway serves.")

EXPIRY_WARNING_DAYS = 30


@app.callback()
def _group() -> None:
    """Tenants: the municipalities this gateway serves."""


@app.command()
def check(
    file: Annotated[Path, typer.Argument(help="The tenants file (YAML).")],
    require_certificates: Annotated[
        bool, typer.Option(help="Fail tenants without certificates (what envelope needs).")
    ] = True,
    registry_url: Annotated[
        str | None,
        typer.Option(help="Address Registry: also check the certificates match what it publishes."),
    ] = None,
    registry_username: Annotated[str | None, typer.Option()] = None,
    registry_password_file: Annotated[Path | None, typer.Option()] = None,
) -> None:
    """Validate the file and every tenant's secrets and certificates; exit 1 on any problem."""
    try:
        tenants = load_tenants(file)
    except TenancyError as exc:
        fail(exc)
    registry = None
    if registry_url is not None:
        password = registry_password_file.read_text().strip() if registry_password_file else None
        registry = AddressRegistryClient(
            registry_url, username=registry_username, password=password
        )
    now = datetime.now(UTC)
    problems = 0
    for tenant in tenants.tenants:
        typer.echo(
            f"{tenant.id}: {tenant.name} ({tenant.municipality_number}), "
            f"HER {tenant.her_id}/{tenant.communication_party.her_id}, "
            f"{tenant.environment.value}"
        )
        try:
            read_pseudonym_secret(tenant)
            if tenant.certificates is None and not require_certificates:
                typer.echo("  certificates: not configured")
                continue
            credentials = load_tenant_credentials(tenant, now=now)
            certificates = [
                ("signing", credentials.signing.certificate),
                *(
                    ("encryption" if i == 0 else "previous encryption", c.certificate)
                    for i, c in enumerate(credentials.decryption)
                ),
            ]
            if tenant.receiver_override is not None:
                receiver = load_receiver_certificates(tenant, now=now)
                certificates += [
                    ("KPR encryption (override)", receiver.encryption),
                    ("KPR signing (override)", receiver.signing),
                ]
        except TenancyError as exc:
            problems += 1
            typer.echo(f"  error: {exc}")
            continue
        if registry is not None:
            lines = asyncio.run(compare_with_registry(tenant, credentials, registry))
            problems += sum(1 for line in lines if line.startswith("error"))
            for line in lines:
                typer.echo(f"  {line}")
        for role, certificate in certificates:
            summary = certificate_summary(certificate)
            days = days_to_expiry(certificate, now)
            warning = "  WARNING: expires soon" if days < EXPIRY_WARNING_DAYS else ""
            typer.echo(
                f"  {role}: {summary.subject_organisation or '?'} "
                f"{summary.organisation_number or ''} serial {summary.serial_number}, "
                f"{days} days to expiry, "
                f"usage {','.join(summary.key_usages)}{warning}"
            )
    if problems:
        fail(f"{problems} tenant(s) with problems")
    typer.echo("ok")


@app.command("new-key")
def new_key() -> None:
    """Make an EPJ client API key: give the key to the client, put the hash in the tenants file."""
    key = f"kprgw_{secrets.token_urlsafe(32)}"
    typer.echo(f"api key (give to the EPJ client): {key}")
    typer.echo(f"api_key_sha256 (tenants file):   {hashlib.sha256(key.encode()).hexdigest()}")


async def compare_with_registry(
    tenant: Tenant, credentials: TenantCredentials, registry: AddressRegistry
) -> list[str]:
    """Whether the tenant's certificates are the ones the Address Registry publishes for its
    communication party (what KPR will encrypt for and verify against)."""
    her_id = tenant.communication_party.her_id
    pairs = (
        (
            "signing",
            credentials.signing.certificate,
            registry.get_certificate_details_for_validating_signature,
        ),
        (
            "encryption",
            credentials.decryption[0].certificate,
            registry.get_certificate_details_for_encryption,
        ),
    )
    lines = []
    for role, local, lookup in pairs:
        try:
            published = await lookup(her_id)
        except RegistryError as exc:
            lines.append(
                f"error: {role}: the Address Registry has no answer for HER-id {her_id}"
                f" ({type(exc).__name__})"
            )
            continue
        if fingerprint(published) == fingerprint(local):
            lines.append(f"{role}: matches the Address Registry (HER-id {her_id})")
        else:
            lines.append(
                f"error: {role}: the Address Registry publishes another certificate for HER-id "
                f"{her_id} (serial {published.serial_number:x}, ours {local.serial_number:x})"
            )
    return lines
