"""How a service runs: settings, wiring and the graceful drain, shared by all services."""

from kpr_gateway.runtime.component import Component, ServiceContext, WorkSource
from kpr_gateway.runtime.runner import run_service, serve
from kpr_gateway.runtime.settings import ServiceSettings

__all__ = [
    "Component",
    "ServiceContext",
    "ServiceSettings",
    "WorkSource",
    "run_service",
    "serve",
]
