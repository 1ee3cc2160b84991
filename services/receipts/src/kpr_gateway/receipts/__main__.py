"""Run receipts: ``python -m kpr_gateway.receipts`` (settings from ``KPRGW_RECEIPTS_*``)."""

from __future__ import annotations

import sys

from kpr_gateway.nhn import NhnError, NhnTransport
from kpr_gateway.receipts.app import SERVICE_NAME, build
from kpr_gateway.receipts.errors import NhnSettingsError
from kpr_gateway.receipts.settings import ReceiptsSettings
from kpr_gateway.runtime import run_service


def amqp_transport(settings: ReceiptsSettings) -> NhnTransport:
    """The AMQP 1.0 transport to NHN's Tjenestebuss, imported on use (it loads qpid-proton)."""
    from kpr_gateway.nhn.amqp import AmqpNhnTransport  # noqa: PLC0415

    try:
        return AmqpNhnTransport(
            settings.nhn_url,
            username=settings.nhn_username,
            password=settings.nhn_password(),
            allow_insecure=settings.nhn_allow_insecure,
            ca_file=str(settings.nhn_ca_file) if settings.nhn_ca_file else None,
            graceful_timeout=settings.drain_seconds,
        )
    except (NhnSettingsError, NhnError) as exc:
        print(f"{SERVICE_NAME}: settings: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def main() -> None:
    run_service(SERVICE_NAME, ReceiptsSettings, build, nhn=amqp_transport)


if __name__ == "__main__":
    main()
