"""Run transform: ``python -m kpr_gateway.transform`` (settings from ``KPRGW_TRANSFORM_*``)."""

from kpr_gateway.runtime import run_service
from kpr_gateway.transform.app import SERVICE_NAME, build
from kpr_gateway.transform.settings import TransformSettings


def main() -> None:
    run_service(SERVICE_NAME, TransformSettings, build)


if __name__ == "__main__":
    main()
