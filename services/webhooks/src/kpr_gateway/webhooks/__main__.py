"""Run webhooks: ``python -m kpr_gateway.webhooks`` (settings from ``KPRGW_WEBHOOKS_*``)."""

from kpr_gateway.runtime import run_service
from kpr_gateway.webhooks.app import SERVICE_NAME, build
from kpr_gateway.webhooks.settings import WebhooksSettings


def main() -> None:
    run_service(SERVICE_NAME, WebhooksSettings, build)


if __name__ == "__main__":
    main()
