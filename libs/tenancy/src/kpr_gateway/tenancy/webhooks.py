"""The EPJ clients' webhooks of a tenants file, checked and with their secrets read.

For the webhooks service at start-up: a webhook over plain http is refused unless the service
allows it (local runs and tests), and a secret that cannot be read or is shorter than 32 bytes
stops the start-up. Errors name the tenant, the client and the field, never the secret, and
the URL without its query.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kpr_gateway.tenancy.errors import TenantFileError
from kpr_gateway.tenancy.model import Tenant, TenantsFile, Webhook

MIN_WEBHOOK_SECRET_BYTES = 32


@dataclass(frozen=True, slots=True)
class WebhookTarget:
    """One EPJ client's webhook, ready to sign and send to."""

    tenant_id: str
    client_id: str
    url: str
    shown_url: str
    """``url`` without its query, for logs and error texts."""
    secret: bytes = field(repr=False)


def read_webhook_secret(tenant: Tenant, client_id: str, webhook: Webhook) -> bytes:
    """The signing secret from its mounted file, without surrounding whitespace (a trailing
    newline is not part of the key)."""
    where = f"tenant {tenant.id}: EPJ client {client_id}: webhook.secret_file"
    try:
        secret = webhook.secret_file.read_bytes().strip()
    except OSError as exc:
        raise TenantFileError(f"{where} cannot be read ({exc.strerror})") from exc
    if len(secret) < MIN_WEBHOOK_SECRET_BYTES:
        raise TenantFileError(f"{where} holds fewer than {MIN_WEBHOOK_SECRET_BYTES} bytes")
    return secret


def tenant_webhooks(tenant: Tenant, *, allow_insecure_urls: bool = False) -> list[WebhookTarget]:
    """The tenant's clients that have a webhook (API key and OAuth clients alike)."""
    targets = []
    for client in tenant.clients():
        webhook = client.webhook
        if webhook is None:
            continue
        if not webhook.is_https and not allow_insecure_urls:
            raise TenantFileError(
                f"tenant {tenant.id}: EPJ client {client.id}: webhook.url {webhook.shown_url} "
                "is not https (allowed only with the webhooks setting allow_insecure_urls)"
            )
        targets.append(
            WebhookTarget(
                tenant_id=tenant.id,
                client_id=client.id,
                url=webhook.url,
                shown_url=webhook.shown_url,
                secret=read_webhook_secret(tenant, client.id, webhook),
            )
        )
    return targets


def load_webhooks(
    tenants: TenantsFile, *, allow_insecure_urls: bool = False
) -> dict[str, dict[str, WebhookTarget]]:
    """Per tenant id, per client id, every webhook of the file; the first unfit one stops it."""
    return {
        tenant.id: {
            target.client_id: target
            for target in tenant_webhooks(tenant, allow_insecure_urls=allow_insecure_urls)
        }
        for tenant in tenants.tenants
    }
