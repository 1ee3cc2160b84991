"""Fault control over HTTP, for tests only (``KPRGW_SIMULATOR_FAULT_CONTROL=true``; off by
default, and then these routes do not exist).

- ``GET /faults``: the faults drawn now.
- ``PUT /faults``: a JSON object of ``reject_share``, ``transport_error_share``,
  ``no_answer_share``, ``duplicate_apprec_share`` and ``delay_seconds``; replaces them all
  (one left out is 0) from the next message on; the seed, the transport error condition and
  the always-rejected senders stay as set at start. 422 for anything else or an impossible
  combination.
- ``GET /received``: what arrived (``received.py``): per MsgId how many times, and each
  notification that arrived in more than one message, with those messages.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from kpr_gateway.simulator.app import Simulator
from kpr_gateway.simulator.errors import SimulatorConfigError
from kpr_gateway.simulator.faults import Faults

CONTROLLED: Final = (
    "reject_share",
    "transport_error_share",
    "no_answer_share",
    "duplicate_apprec_share",
    "delay_seconds",
)


def fault_routes(simulator: Simulator) -> list[BaseRoute]:
    """``/faults`` and ``/received``, to add to the simulator's health app."""

    async def show_faults(_: Request) -> Response:
        return JSONResponse(_shown(simulator.faults))

    async def replace_faults(request: Request) -> Response:
        try:
            wanted = json.loads(await request.body())
        except ValueError:
            return _refused("the body is not JSON")
        if not isinstance(wanted, dict):
            return _refused("the body is not a JSON object")
        unknown = sorted(set(wanted) - set(CONTROLLED))
        if unknown:
            return _refused(f"not a fault that can be set: {', '.join(unknown)}")
        values = {name: wanted.get(name, 0.0) for name in CONTROLLED}
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values.values()):
            return _refused("every value is a number")
        try:
            faults = dataclasses.replace(simulator.faults, **values)
        except SimulatorConfigError as exc:
            return _refused(str(exc))
        simulator.set_faults(faults)
        return JSONResponse(_shown(faults))

    async def received(_: Request) -> Response:
        log = simulator.received
        return JSONResponse(log.summary() if log is not None else {})

    return [
        Route("/faults", show_faults, methods=["GET"]),
        Route("/faults", replace_faults, methods=["PUT"]),
        Route("/received", received, methods=["GET"]),
    ]


def _shown(faults: Faults) -> dict[str, Any]:
    return {name: getattr(faults, name) for name in CONTROLLED}


def _refused(reason: str) -> Response:
    return JSONResponse({"error": "invalid_faults", "message": reason}, status_code=422)
