"""Run intake: ``python -m kpr_gateway.intake`` (settings from ``KPRGW_INTAKE_*``)."""

from kpr_gateway.intake.app import SERVICE_NAME, build
from kpr_gateway.intake.settings import IntakeSettings
from kpr_gateway.runtime import run_service


def main() -> None:
    run_service(SERVICE_NAME, IntakeSettings, build)


if __name__ == "__main__":
    main()
