"""How a service runs: settings, wiring and the graceful drain, shared by all services."""

from kpr_gateway.registry import ReceiverDirectory
from kpr_gateway.runtime.component import Component, ServiceContext, StartupError, WorkSource
from kpr_gateway.runtime.message_step import LedgerErrors, MessageStep
from kpr_gateway.runtime.runner import run_service, serve
from kpr_gateway.runtime.settings import ServiceSettings
from kpr_gateway.runtime.startup import NotStartedError, StartGate

__all__ = [
    "Component",
    "LedgerErrors",
    "MessageStep",
    "NotStartedError",
    "ReceiverDirectory",
    "ServiceContext",
    "ServiceSettings",
    "StartGate",
    "StartupError",
    "WorkSource",
    "run_service",
    "serve",
]
