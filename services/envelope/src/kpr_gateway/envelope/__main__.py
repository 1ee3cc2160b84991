"""Run envelope: ``python -m kpr_gateway.envelope`` (settings from ``KPRGW_ENVELOPE_*``)."""

from kpr_gateway.envelope.app import SERVICE_NAME, build
from kpr_gateway.envelope.settings import EnvelopeSettings
from kpr_gateway.runtime import run_service


def main() -> None:
    run_service(SERVICE_NAME, EnvelopeSettings, build)


if __name__ == "__main__":
    main()
