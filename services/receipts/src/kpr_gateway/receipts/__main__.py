"""Run receipts: ``python -m kpr_gateway.receipts`` (settings from ``KPRGW_RECEIPTS_*``)."""

from __future__ import annotations

from kpr_gateway.nhn import NhnTransport
from kpr_gateway.receipts.app import SERVICE_NAME, build
from kpr_gateway.receipts.settings import ReceiptsSettings
from kpr_gateway.runtime import run_service
from kpr_gateway.runtime.nhn import amqp_transport as nhn_amqp_transport
from kpr_gateway.tenancy import TenantsFile


def amqp_transport(settings: ReceiptsSettings, tenants: TenantsFile | None = None) -> NhnTransport:
    """The AMQP 1.0 transport(s) to NHN's Tjenestebuss (it only receives here; one connection
    per NHN account in use by ``tenants``)."""
    return nhn_amqp_transport(SERVICE_NAME, settings, tenants)


def main() -> None:
    run_service(SERVICE_NAME, ReceiptsSettings, build, nhn=amqp_transport)


if __name__ == "__main__":
    main()
