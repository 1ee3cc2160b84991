"""Run the simulator: ``python -m kpr_gateway.simulator`` (settings from ``KPRGW_SIMULATOR_*``)."""

from __future__ import annotations

import asyncio
import importlib
import sys
from typing import NoReturn, cast

from pydantic import ValidationError

from kpr_gateway.nhn import NhnError, NhnTransport
from kpr_gateway.nhn.amqp_endpoint import parse_endpoint
from kpr_gateway.runtime.runner import describe_settings_errors
from kpr_gateway.simulator.app import SERVICE_NAME
from kpr_gateway.simulator.errors import SimulatorConfigError, SimulatorError
from kpr_gateway.simulator.service import serve
from kpr_gateway.simulator.settings import SimulatorSettings


def amqp_transport(settings: SimulatorSettings) -> NhnTransport:
    """The AMQP 1.0 transport to the Tjenestebuss (imported on use)."""
    if settings.amqp_url is None:
        raise SimulatorConfigError("KPRGW_SIMULATOR_AMQP_URL is not set")
    password = None
    if settings.amqp_password_file is not None:
        try:
            password = settings.amqp_password_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SimulatorConfigError(
                f"amqp_password_file cannot be read ({exc.strerror})"
            ) from exc
    try:
        endpoint = parse_endpoint(
            settings.amqp_url, password=password, allow_insecure=settings.amqp_allow_insecure
        )
    except NhnError as exc:
        raise SimulatorConfigError(f"amqp_url: {exc}") from exc
    module = importlib.import_module("kpr_gateway.nhn.amqp")
    return cast(NhnTransport, module.AmqpNhnTransport(endpoint))


def main() -> None:
    try:
        settings = SimulatorSettings()
    except ValidationError as exc:
        _exit(f"settings: {describe_settings_errors(exc)}")
    try:
        asyncio.run(serve(settings, amqp_transport))
    except SimulatorError as exc:
        _exit(str(exc))


def _exit(reason: str) -> NoReturn:
    print(f"{SERVICE_NAME}: {reason}", file=sys.stderr)
    raise SystemExit(2)


if __name__ == "__main__":
    main()
