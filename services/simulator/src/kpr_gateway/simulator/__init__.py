"""simulator: plays FHI's KPR receiver and NHN's Address Registry for tests and
development."""

from kpr_gateway.simulator.app import SERVICE_NAME, Simulator, SimulatorMetrics
from kpr_gateway.simulator.config import build_simulator
from kpr_gateway.simulator.credentials import (
    KeyFiles,
    ReceiverCredentials,
    load_receiver_credentials,
)
from kpr_gateway.simulator.errors import SimulatorConfigError, SimulatorError
from kpr_gateway.simulator.faults import Fault, FaultDice, Faults
from kpr_gateway.simulator.parties import (
    KnownSender,
    known_sender,
    load_parties,
    senders_from_tenants,
)
from kpr_gateway.simulator.receivers import DEFAULT_RECEIVER_QUEUES, KPR_HER_IDS
from kpr_gateway.simulator.settings import SimulatorSettings

__all__ = [
    "DEFAULT_RECEIVER_QUEUES",
    "KPR_HER_IDS",
    "SERVICE_NAME",
    "Fault",
    "FaultDice",
    "Faults",
    "KeyFiles",
    "KnownSender",
    "ReceiverCredentials",
    "Simulator",
    "SimulatorConfigError",
    "SimulatorError",
    "SimulatorMetrics",
    "SimulatorSettings",
    "build_simulator",
    "known_sender",
    "load_parties",
    "load_receiver_credentials",
    "senders_from_tenants",
]
