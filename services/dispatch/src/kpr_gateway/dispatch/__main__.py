"""Run dispatch: ``python -m kpr_gateway.dispatch`` (settings from ``KPRGW_DISPATCH_*``)."""

from __future__ import annotations

from kpr_gateway.dispatch.app import SERVICE_NAME, build
from kpr_gateway.dispatch.settings import DispatchSettings
from kpr_gateway.nhn import NhnTransport
from kpr_gateway.runtime import run_service
from kpr_gateway.runtime.nhn import amqp_transport as nhn_amqp_transport
from kpr_gateway.tenancy import TenantsFile


def amqp_transport(settings: DispatchSettings, tenants: TenantsFile | None = None) -> NhnTransport:
    """The AMQP 1.0 transport(s) to NHN's Tjenestebuss (one connection per NHN account in use
    by ``tenants``); the runtime starts and stops it."""
    return nhn_amqp_transport(
        SERVICE_NAME,
        settings,
        tenants,
        exchange=settings.nhn_exchange,
        send_timeout=settings.send_timeout_seconds,
        verify_queues=settings.nhn_verify_queues,
    )


def main() -> None:
    run_service(SERVICE_NAME, DispatchSettings, build, nhn=amqp_transport)


if __name__ == "__main__":
    main()
