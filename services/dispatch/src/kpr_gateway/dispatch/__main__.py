"""Run dispatch: ``python -m kpr_gateway.dispatch`` (settings from ``KPRGW_DISPATCH_*``)."""

from __future__ import annotations

import sys
from typing import NoReturn

from kpr_gateway.dispatch.app import SERVICE_NAME, build
from kpr_gateway.dispatch.errors import NhnSettingsError
from kpr_gateway.dispatch.settings import DispatchSettings
from kpr_gateway.nhn import NhnError, NhnTransport
from kpr_gateway.nhn.amqp import AmqpNhnTransport
from kpr_gateway.runtime import run_service


def amqp_transport(settings: DispatchSettings) -> NhnTransport:
    """The AMQP 1.0 transport to NHN's Tjenestebuss; the runtime starts and stops it."""
    try:
        return AmqpNhnTransport(
            settings.nhn_url,
            username=settings.nhn_username,
            password=settings.nhn_password(),
            exchange=settings.nhn_exchange,
            allow_insecure=settings.nhn_allow_insecure,
            ca_file=str(settings.nhn_ca_file) if settings.nhn_ca_file is not None else None,
            send_timeout=settings.send_timeout_seconds,
            verify_queues=settings.nhn_verify_queues,
        )
    except (NhnError, NhnSettingsError) as exc:
        _exit(f"settings: {exc}")


def _exit(reason: str) -> NoReturn:
    print(f"{SERVICE_NAME}: {reason}", file=sys.stderr)
    raise SystemExit(2)


def main() -> None:
    run_service(SERVICE_NAME, DispatchSettings, build, nhn=amqp_transport)


if __name__ == "__main__":
    main()
