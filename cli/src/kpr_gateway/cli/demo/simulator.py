"""The built-in KPR simulator of the embedded mode, configured from the demo world."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from kpr_gateway.cli.demo.world import DemoWorld
from kpr_gateway.messages.schemas import SchemaSet, load_schema_set
from kpr_gateway.nhn import NhnTransport
from kpr_gateway.simulator import (
    Faults,
    KeyFiles,
    Simulator,
    load_receiver_credentials,
    senders_from_tenants,
)
from kpr_gateway.tenancy import load_tenants


@dataclass(frozen=True)
class SimulatorOptions:
    reject_share: float = 0.0
    transport_error_share: float = 0.0
    no_answer_share: float = 0.0
    seed: int | None = 2026
    standards_dir: Path | None = None
    """Official XSDs for full validation; default ``KPRGW_STANDARDS_DIR`` or ../shared."""


class EmbeddedSimulator:
    def __init__(
        self, transport: NhnTransport, world: DemoWorld, options: SimulatorOptions
    ) -> None:
        credentials = load_receiver_credentials(
            KeyFiles(world.fhi_file("sign.pem"), world.fhi_file("sign.key")),
            [KeyFiles(world.fhi_file("enc.pem"), world.fhi_file("enc.key"))],
        )
        self._simulator = Simulator(
            transport=transport,
            credentials=credentials,
            senders=senders_from_tenants(load_tenants(world.tenants_file)),
            schemas=_schemas(options.standards_dir),
            faults=Faults(
                reject_share=options.reject_share,
                transport_error_share=options.transport_error_share,
                no_answer_share=options.no_answer_share,
                seed=options.seed,
            ),
        )

    async def start(self) -> None:
        self._simulator.register()
        await self._simulator.start()

    async def stop(self) -> None:
        await self._simulator.stop()


def _schemas(configured: Path | None) -> SchemaSet | None:
    """The official XSDs where they are found; without them the simulator checks our own XSD."""
    candidates = [configured, os.environ.get("KPRGW_STANDARDS_DIR")]
    candidates.append(Path.cwd().parent / "shared" / "standards")
    for candidate in candidates:
        if candidate and (Path(candidate) / "xsd" / "MsgHead-v1_2.xsd").is_file():
            return load_schema_set(Path(candidate))
    return None
