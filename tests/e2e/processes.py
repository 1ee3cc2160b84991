"""Every service and the simulator as its own process on the local RabbitMQ and Redis.

The NHN side runs over AMQP 1.0 on the same RabbitMQ (the rabbitmq_amqp1_0 plugin), with
queue names prefixed per run; the queues are created up front, as NHN provisions them.
Each process writes its JSON logs to ``<name>.err`` and its spans (console exporter) to
``<name>.out`` in the run directory, for the assertions on traces and personal data.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from kpr_gateway.cli.demo.world import DemoWorld

RABBIT_AMQP091 = "amqp://guest:guest@127.0.0.1:5672/"
# Locally, amq.direct with a binding per queue stands in for NHN's exchange.
NHN_URL = "amqp://127.0.0.1:5672/amq.direct"
REDIS_URL = "redis://127.0.0.1:6379/0"
SERVICES = ("intake", "transform", "envelope", "dispatch", "receipts")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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

    def _common(self, name: str) -> dict[str, str]:
        key = f"KPRGW_{name.upper()}_"
        self.ports[name] = free_port()
        env = {
            key + "TENANTS_FILE": str(self.world.tenants_file),
            key + "RABBITMQ_URL": RABBIT_AMQP091,
            key + "REDIS_URL": REDIS_URL,
            key + "QUEUE_PREFIX": self.prefix,
            key + "KEY_PREFIX": self.prefix,
            key + "HTTP_HOST": "127.0.0.1",
            key + "HTTP_PORT": str(self.ports[name]),
            key + "LOG_JSON": "true",
            key + "TRACES_CONSOLE": "true",
        }
        if name in {"dispatch", "receipts"}:
            env |= {
                key + "NHN_URL": NHN_URL,
                key + "NHN_USERNAME": "guest",
                key + "NHN_PASSWORD_FILE": str(self.run_dir / "nhn-password"),
                key + "NHN_ALLOW_INSECURE": "true",
            }
        if name == "transform":
            env[key + "MAX_BATCH_AGE_SECONDS"] = "0.5"
        return env

    def _simulator(self) -> dict[str, str]:
        self.ports["simulator"] = free_port()
        fhi = self.world.fhi_file
        key = "KPRGW_SIMULATOR_"
        return {
            key + "SIGNING_CERTIFICATE": str(fhi("sign.pem")),
            key + "SIGNING_KEY": str(fhi("sign.key")),
            key + "ENCRYPTION_CERTIFICATE": str(fhi("enc.pem")),
            key + "ENCRYPTION_KEY": str(fhi("enc.key")),
            key + "PARTIES_FILE": str(self.world.simulator_parties_file),
            key + "RECEIVER_QUEUES": f"{self.prefix}171479_async",
            key + "AMQP_URL": "amqp://guest@127.0.0.1:5672/amq.direct",
            key + "AMQP_PASSWORD_FILE": str(self.run_dir / "nhn-password"),
            key + "AMQP_ALLOW_INSECURE": "true",
            key + "HTTP_HOST": "127.0.0.1",
            key + "HTTP_PORT": str(self.ports["simulator"]),
            key + "TRACES_CONSOLE": "true",
            **self.simulator_env,
        }

    def start(self) -> None:
        (self.run_dir / "nhn-password").write_text("guest")
        launches = [(name, self._common(name)) for name in SERVICES]
        launches.append(("simulator", self._simulator()))
        for name, env in launches:
            out_path, err_path = self.run_dir / f"{name}.out", self.run_dir / f"{name}.err"
            with out_path.open("wb") as out, err_path.open("wb") as err:
                self.processes[name] = subprocess.Popen(
                    [sys.executable, "-m", f"kpr_gateway.{name}"],
                    env={**os.environ, "OTEL_TRACES_EXPORTER": "console", **env},
                    stdout=out,
                    stderr=err,
                )
        try:
            self.wait_ready()
        except RuntimeError:
            self.stop()
            raise

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        for name, port in self.ports.items():
            while True:
                process = self.processes[name]
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited: {self.log_tail(name)}")
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name} not ready: {self.log_tail(name)}")
                time.sleep(0.2)

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
        return (self.run_dir / f"{name}.err").read_text(errors="replace")[-3000:]

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
