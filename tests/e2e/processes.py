"""Every service and the simulator as its own process on the local RabbitMQ and Redis.

The processes are launched by ``kpr_gateway.cli.local_processes`` (the code behind
``kprgw local up``), here as children of the test. Each process writes its JSON logs to
``<name>.err`` and its spans (console exporter) to ``<name>.out`` in the run directory, for
the assertions on traces and personal data.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kpr_gateway.cli.demo.world import DemoWorld
from kpr_gateway.cli.local_processes import (
    PROCESSES,
    RABBITMQ_URL,
    LocalRunError,
    RunPlan,
    Tuning,
    allocate_ports,
    log_tail,
    spawn,
    wait_ready,
)

RABBIT_AMQP091 = RABBITMQ_URL


@dataclass
class GatewayProcesses:
    world: DemoWorld
    run_dir: Path
    prefix: str
    ports: dict[str, int] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    simulator_env: dict[str, str] = field(default_factory=dict)

    @property
    def intake_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['intake']}"

    def plan(self) -> RunPlan:
        settings = {"KPRGW_TRANSFORM_MAX_BATCH_AGE_SECONDS": "0.5", **self.simulator_env}
        return RunPlan(
            self.world,
            self.run_dir,
            self.prefix,
            self.ports,
            tuning=Tuning(log_json=True, tracing="console", settings=settings),
        )

    def start(self) -> None:
        self.ports.update(allocate_ports(0))  # each with its ops port (ops_port) above it
        plan = self.plan()
        plan.write_secrets()
        for name in PROCESSES:
            out_path, err_path = self.run_dir / f"{name}.out", self.run_dir / f"{name}.err"
            with out_path.open("wb") as out, err_path.open("wb") as err:
                self.processes[name] = spawn(plan, name, stdout=out, stderr=err)
        try:
            self.wait_ready()
        except LocalRunError:
            self.stop()
            raise

    def wait_ready(self, timeout: float = 60.0) -> None:
        asyncio.run(
            wait_ready(
                self.ports,
                exited=lambda name: self.processes[name].poll() is not None,
                describe=self.log_tail,
                timeout=timeout,
            )
        )

    def stop(self) -> dict[str, int | None]:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        codes: dict[str, int | None] = {}
        for name, process in self.processes.items():
            try:
                codes[name] = process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                process.kill()
                codes[name] = None
        return codes

    def log_tail(self, name: str) -> str:
        return log_tail(self.run_dir / f"{name}.err")

    def logs(self) -> Iterator[tuple[str, str]]:
        for name in self.processes:
            for suffix in ("err", "out"):
                yield name, (self.run_dir / f"{name}.{suffix}").read_text(errors="replace")

    def spans(self) -> list[dict[str, Any]]:
        """Every span the console exporters printed (pretty JSON objects one after another)."""
        decoder = json.JSONDecoder()
        found: list[dict[str, Any]] = []
        for name in self.processes:
            text = (self.run_dir / f"{name}.out").read_text(errors="replace")
            position = 0
            while (start := text.find("{", position)) != -1:
                try:
                    span, position = decoder.raw_decode(text, start)
                except json.JSONDecodeError:
                    position = start + 1
                    continue
                if isinstance(span, dict) and "context" in span:
                    span["service"] = name
                    found.append(span)
        return found
