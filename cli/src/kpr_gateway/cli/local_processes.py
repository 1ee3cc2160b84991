"""Every service and the KPR simulator as its own process on the local RabbitMQ and Redis.

The internal bus is AMQP 0-9-1; the NHN side runs over AMQP 1.0 on the same broker (the
rabbitmq_amqp1_0 plugin), where ``amq.direct`` with one binding per queue stands in for NHN's
exchange. Queue names and Redis keys carry a prefix per run, so runs (and tests) share the
broker and Redis without meeting. The NHN queues are declared up front, as NHN provisions
them for a communication party.

Two ways to launch: ``spawn`` starts a process as a child of the caller (the end-to-end
tests hold it), ``spawn_kept`` starts it detached under ``local_keeper``, so that it outlives
``kprgw local up``, is restarted with backoff when it crashes (as a Deployment would), and a
later ``kprgw local down`` can still learn its exit code.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Literal

import aio_pika
import httpx
import yaml
from aio_pika.exceptions import AMQPError
from redis.exceptions import RedisError

from kpr_gateway.cli.demo.world import DemoWorld, create_world
from kpr_gateway.cli.local_keeper import KeepFiles, write_atomically
from kpr_gateway.ledger import redis_from_url
from kpr_gateway.pipeline.queues import PARKED_SUFFIX, Topology

RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672/"
NHN_URL = "amqp://127.0.0.1:5672/amq.direct"
REDIS_URL = "redis://127.0.0.1:6379/0"
SERVICES = ("intake", "transform", "envelope", "dispatch", "receipts", "webhooks")
SIMULATOR = "simulator"
PROCESSES = (*SERVICES, SIMULATOR)
STATE_FILE = "state.json"
OPS_PORT_OFFSET = 1000
_HIGHEST_PORT = 65535
_READY_POLL_SECONDS = 0.2


class LocalRunError(Exception):
    """A local run could not be started, inspected or stopped as asked."""


@dataclass(frozen=True)
class LocalServers:
    """Where the local RabbitMQ (both protocols) and Redis answer."""

    rabbitmq_url: str = RABBITMQ_URL
    nhn_url: str = NHN_URL
    nhn_username: str = "guest"
    nhn_password: str = "guest"  # noqa: S105 - the local broker's default account
    redis_url: str = REDIS_URL


@dataclass(frozen=True)
class Tuning:
    """How the processes run, beyond what the world and the servers fix."""

    log_level: str = "INFO"
    log_json: bool = True
    tracing: Literal["environment", "console", "off"] = "environment"
    """environment: the caller's ``OTEL_*`` variables decide (no exporter unless set);
    console: spans as JSON on stdout; off: the SDK disabled, spans cost nothing."""
    settings: Mapping[str, str] = field(default_factory=dict)
    """Further ``KPRGW_<SERVICE>_*`` variables (each names its service, so all get all)."""


@dataclass(frozen=True)
class RunPlan:
    """One run: its world, its prefix, the port of each process, and how they are set."""

    world: DemoWorld
    run_dir: Path
    prefix: str
    ports: Mapping[str, int]
    servers: LocalServers = field(default_factory=LocalServers)
    tuning: Tuning = field(default_factory=Tuning)

    @property
    def password_file(self) -> Path:
        return self.run_dir / "nhn-password"

    @property
    def intake_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['intake']}"

    def write_secrets(self) -> None:
        """The NHN password file every NHN-facing process reads (a mounted Secret in k8s)."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.password_file.write_text(self.servers.nhn_password)
        self.password_file.chmod(0o600)

    def command(self, name: str) -> list[str]:
        return [sys.executable, "-m", f"kpr_gateway.{name}"]

    def environment(self, name: str) -> dict[str, str]:
        """The process's whole environment: the caller's, then this run's settings."""
        own = self._simulator() if name == SIMULATOR else self._service(name)
        env = {**os.environ, **own}
        if self.tuning.tracing == "console":
            env["OTEL_TRACES_EXPORTER"] = "console"
        elif self.tuning.tracing == "off":
            env["OTEL_SDK_DISABLED"] = "true"
        return env | dict(self.tuning.settings)

    def receiver_queue(self) -> str:
        """The KPR receiver's queue the simulator listens on (the tenants' override)."""
        tenants = yaml.safe_load(self.world.tenants_file.read_text())["tenants"]
        queues = {t["receiver_override"]["async_queue"] for t in tenants}
        if len(queues) != 1:
            raise LocalRunError("the world's tenants do not share one KPR receiver queue")
        return str(queues.pop())

    def nhn_queues(self) -> list[str]:
        """The NHN queues of this run: the receiver's, and each party's async and error."""
        names = [self.receiver_queue()]
        for municipality in self.world.municipalities:
            names += [
                f"{self.prefix}{municipality.service_her_id}_async",
                f"{self.prefix}{municipality.service_her_id}_error",
            ]
        return names

    def internal_queues(self) -> list[str]:
        return [spec.name for spec in Topology(prefix=self.prefix).specs()]

    def _service(self, name: str) -> dict[str, str]:
        key = f"KPRGW_{name.upper()}_"
        env = {
            "TENANTS_FILE": str(self.world.tenants_file),
            "RABBITMQ_URL": self.servers.rabbitmq_url,
            "REDIS_URL": self.servers.redis_url,
            "QUEUE_PREFIX": self.prefix,
            "KEY_PREFIX": self.prefix,
            "HTTP_HOST": "127.0.0.1",
            "HTTP_PORT": str(self.ports[name]),
            "OPS_HOST": "127.0.0.1",
            "OPS_PORT": str(ops_port(self.ports[name])),
            "LOG_LEVEL": self.tuning.log_level,
            "LOG_JSON": str(self.tuning.log_json).lower(),
            "TRACES_CONSOLE": str(self.tuning.tracing == "console").lower(),
            # The local Redis runs without AOF, and a run's ledger is new (its key prefix):
            # warn about the first, write the generation marker.
            "MODE": "development",
        }
        if name in {"dispatch", "receipts"}:
            env |= {
                "NHN_URL": self.servers.nhn_url,
                "NHN_USERNAME": self.servers.nhn_username,
                "NHN_PASSWORD_FILE": str(self.password_file),
                "NHN_ALLOW_INSECURE": "true",
            }
        return {key + variable: value for variable, value in env.items()}

    def _simulator(self) -> dict[str, str]:
        fhi = self.world.fhi_file
        user = self.servers.nhn_username
        # The simulator takes Helsenorge.Messaging's URL form, with the user in it.
        amqp_url = self.servers.nhn_url.replace("amqp://", f"amqp://{user}@", 1)
        env = {
            "SIGNING_CERTIFICATE": str(fhi("sign.pem")),
            "SIGNING_KEY": str(fhi("sign.key")),
            "ENCRYPTION_CERTIFICATE": str(fhi("enc.pem")),
            "ENCRYPTION_KEY": str(fhi("enc.key")),
            "PARTIES_FILE": str(self.world.simulator_parties_file),
            "RECEIVER_QUEUES": self.receiver_queue(),
            "AMQP_URL": amqp_url,
            "AMQP_PASSWORD_FILE": str(self.password_file),
            "AMQP_ALLOW_INSECURE": "true",
            "HTTP_HOST": "127.0.0.1",
            "HTTP_PORT": str(self.ports[SIMULATOR]),
            "OPS_HOST": "127.0.0.1",
            "OPS_PORT": str(ops_port(self.ports[SIMULATOR])),
            "LOG_LEVEL": self.tuning.log_level,
            "LOG_JSON": str(self.tuning.log_json).lower(),
            "TRACES_CONSOLE": str(self.tuning.tracing == "console").lower(),
        }
        return {f"KPRGW_SIMULATOR_{variable}": value for variable, value in env.items()}


def new_prefix(kind: str = "local") -> str:
    return f"kprgw-{kind}-{uuid.uuid4().hex[:8]}"


# -- ports ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ops_port(port: int) -> int:
    """A process's ops port (health, readiness, status, metrics) beside its own ``port``
    (intake's API, the simulator's registry): 1000 above it, so intake on 8080 has 9080."""
    return port + OPS_PORT_OFFSET


def _free_port_pair() -> int:
    """A free port whose ops port is free too."""
    while True:
        port = free_port()
        if ops_port(port) <= _HIGHEST_PORT and port_is_free(ops_port(port)):
            return port


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def allocate_ports(base: int) -> dict[str, int]:
    """``base`` for intake and the next ones for the others in order, each with its ops port
    (``ops_port``) 1000 above; 0: any free ports."""
    if base == 0:
        return {name: _free_port_pair() for name in PROCESSES}
    ports = {name: base + offset for offset, name in enumerate(PROCESSES)}
    if ops_port(max(ports.values())) > _HIGHEST_PORT:
        raise LocalRunError(f"--port-base {base} leaves no room for the ops ports above it")
    taken = [f"{name} {port}" for name, port in ports.items() if not port_is_free(port)]
    taken += [
        f"{name} {ops_port(port)} (ops)"
        for name, port in ports.items()
        if not port_is_free(ops_port(port))
    ]
    if taken:
        raise LocalRunError(f"ports in use ({', '.join(taken)}); choose another --port-base")
    return ports


# -- launching -----------------------------------------------------------------------------


def spawn(
    plan: RunPlan, name: str, *, stdout: IO[bytes] | int, stderr: IO[bytes] | int
) -> subprocess.Popen[bytes]:
    """Start one process as the caller's child."""
    return subprocess.Popen(  # noqa: S603 - our own interpreter and module
        plan.command(name), env=plan.environment(name), stdout=stdout, stderr=stderr
    )


@dataclass(frozen=True)
class Restart:
    """One restart of a kept process, as its keeper recorded it."""

    at: datetime
    exit_code: int
    """How the child ended (a signal N as 128 + N; a crash point's own code)."""
    ran_seconds: float
    backoff_seconds: float


@dataclass(frozen=True)
class KeptProcess:
    """A detached process of a run, as ``state.json`` records it.

    Its keeper restarts it when it ends on its own, so the service's pid changes: read it with
    ``current_pid()`` each time (its memory and CPU are measured there), never keep it."""

    name: str
    keeper_pid: int
    port: int
    log_file: Path
    keep_dir: Path

    @property
    def files(self) -> KeepFiles:
        return KeepFiles(self.keep_dir, self.name)

    @property
    def exit_file(self) -> Path:
        return self.files.exit

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "keeper_pid": self.keeper_pid,
            "port": self.port,
            "log_file": str(self.log_file),
            "keep_dir": str(self.keep_dir),
            # For a reader of the file; the current one is in pid_file.
            "pid": self.current_pid(),
            "pid_file": str(self.files.pid),
            "exit_file": str(self.files.exit),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> KeptProcess:
        keep_dir = data.get("keep_dir") or Path(data["exit_file"]).parent  # before restarts
        return cls(
            name=str(data["name"]),
            keeper_pid=int(data["keeper_pid"]),
            port=int(data["port"]),
            log_file=Path(data["log_file"]),
            keep_dir=Path(keep_dir),
        )

    def current_pid(self) -> int | None:
        """The service's process now (the keeper rewrites the file on each restart)."""
        try:
            return int(self.files.pid.read_text())
        except (OSError, ValueError):
            return None

    def service_running(self) -> bool:
        pid = self.current_pid()
        return pid is not None and is_running(pid)

    def keeper_running(self) -> bool:
        return is_running(self.keeper_pid)

    def restarts(self) -> list[Restart]:
        try:
            lines = self.files.restarts.read_text().splitlines()
        except OSError:
            return []
        found = []
        for line in lines:
            try:
                entry = json.loads(line)
                found.append(
                    Restart(
                        at=datetime.fromisoformat(entry["at"]),
                        exit_code=int(entry["exit_code"]),
                        ran_seconds=float(entry["ran_seconds"]),
                        backoff_seconds=float(entry["backoff_seconds"]),
                    )
                )
            except (ValueError, KeyError, TypeError):
                continue  # a line being written
        return found

    def exit_code(self) -> int | None:
        """The keeper's final code (the last child's); None while the keeper runs."""
        try:
            return int(self.files.exit.read_text())
        except (OSError, ValueError):
            return None

    def arm_next_start(self, environment: Mapping[str, str | None]) -> None:
        """Environment changes for the next (re)start only (None unsets a variable)."""
        write_atomically(self.files.env_next, json.dumps(dict(environment)))


def spawn_kept(
    plan: RunPlan, name: str, *, restart: bool = True, timeout: float = 10.0
) -> KeptProcess:
    """Start one process detached (own session, so a terminal's Ctrl-C does not reach it)
    under the keeper, which restarts it with backoff when it ends on its own (``restart``;
    without, it stays down); stdout and stderr go to ``<run_dir>/logs/<name>.log``."""
    logs = plan.run_dir / "logs"
    keep = plan.run_dir / "keep"
    logs.mkdir(parents=True, exist_ok=True)
    keep.mkdir(parents=True, exist_ok=True)
    files = KeepFiles(keep, name)
    log_file = logs / f"{name}.log"
    for stale in (files.pid, files.exit, files.restarts, files.env_next):
        stale.unlink(missing_ok=True)
    keeper_command = [
        sys.executable,
        "-m",
        "kpr_gateway.cli.local_keeper",
        *([] if restart else ["--no-restart"]),
        str(keep),
        name,
        "--",
        *plan.command(name),
    ]
    with log_file.open("ab") as log:
        keeper = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            keeper_command,
            env=plan.environment(name),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout
    while not files.pid.exists():
        if keeper.poll() is not None or time.monotonic() > deadline:
            raise LocalRunError(f"{name} did not start (see {log_file})")
        time.sleep(0.02)
    return KeptProcess(
        name=name, keeper_pid=keeper.pid, port=plan.ports[name], log_file=log_file, keep_dir=keep
    )


# -- watching ------------------------------------------------------------------------------


def is_running(pid: int) -> bool:
    """True while ``pid`` is a live process of this gateway (not a zombie, not a stranger
    that got the number after ours ended)."""
    proc = Path(f"/proc/{pid}")
    try:
        state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        command = (proc / "cmdline").read_bytes()
    except (OSError, IndexError):
        return False
    return state != "Z" and b"kpr_gateway" in command


def memory_kib(pid: int) -> dict[str, int]:
    """Resident memory now (VmRSS) and its high-water mark (VmHWM), in KiB."""
    found: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in {"VmRSS", "VmHWM"}:
                found[key] = int(value.split()[0])
    return found


async def is_ready(client: httpx.AsyncClient, port: int) -> bool:
    try:
        answer = await client.get(f"http://127.0.0.1:{ops_port(port)}/readyz", timeout=1.0)
    except httpx.HTTPError:
        return False
    return answer.status_code == 200


async def wait_ready(
    ports: Mapping[str, int],
    *,
    exited: Callable[[str], bool],
    describe: Callable[[str], str],
    timeout: float = 60.0,
) -> None:
    """Wait until every process answers ``/readyz`` with 200; fail early if one exits."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        for name, port in ports.items():
            while not await is_ready(client, port):
                if exited(name):
                    raise LocalRunError(f"{name} exited while starting: {describe(name)}")
                if time.monotonic() > deadline:
                    raise LocalRunError(f"{name} not ready after {timeout:.0f}s: {describe(name)}")
                await asyncio.sleep(_READY_POLL_SECONDS)


def log_tail(path: Path, characters: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-characters:]
    except OSError:
        return "(no log)"


# -- stopping ------------------------------------------------------------------------------


def _signal(pid: int, signum: int) -> None:
    if is_running(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)


def _reap(pid: int) -> None:
    """Collect a keeper that is our own child (the bench starts and stops in one process)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


async def stop_kept(
    processes: Sequence[KeptProcess], *, timeout: float = 40.0
) -> dict[str, int | None]:
    """SIGTERM every process (they drain; a keeper waiting out a backoff stops at once and
    restarts nothing), wait for their exit codes; a process still running after ``timeout``
    is killed, its keeper first, and reported as None."""
    for process in processes:
        # The keeper passes the signal on; without its keeper the service gets it directly.
        pid = process.current_pid()
        target = process.keeper_pid if process.keeper_running() or pid is None else pid
        _signal(target, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    codes: dict[str, int | None] = {}
    for process in processes:
        while True:
            _reap(process.keeper_pid)
            code = process.exit_code()
            if code is not None or not (process.service_running() or process.keeper_running()):
                codes[process.name] = code
                break
            if time.monotonic() > deadline:
                _signal(process.keeper_pid, signal.SIGKILL)
                pid = process.current_pid()
                if pid is not None:
                    _signal(pid, signal.SIGKILL)
                codes[process.name] = None
                break
            await asyncio.sleep(0.1)
    for process in processes:
        _reap(process.keeper_pid)
    return codes


# -- the broker and Redis ------------------------------------------------------------------


async def declare_nhn_queues(rabbitmq_url: str, names: Sequence[str]) -> None:
    """Durable queues bound to amq.direct under their own names, as NHN would have them."""
    try:
        connection = await aio_pika.connect(rabbitmq_url)
    except (AMQPError, OSError) as exc:
        raise LocalRunError("RabbitMQ does not answer (make services)") from exc
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange("amq.direct")
        for name in names:
            queue = await channel.declare_queue(name, durable=True)
            await queue.bind(exchange, routing_key=name)


async def delete_queues(rabbitmq_url: str, names: Sequence[str]) -> int:
    """Delete the named queues (missing ones are fine); returns how many existed."""
    deleted = 0
    try:
        connection = await aio_pika.connect(rabbitmq_url)
    except (AMQPError, OSError) as exc:
        raise LocalRunError("RabbitMQ does not answer; queues not deleted") from exc
    async with connection:
        for name in names:
            channel = await connection.channel()
            try:
                await channel.declare_queue(name, passive=True)
            except AMQPError:
                continue  # gone already (the failed passive declare closed that channel)
            await channel.queue_delete(name)
            await channel.close()
            deleted += 1
    return deleted


async def queue_depths(rabbitmq_url: str, names: Sequence[str]) -> dict[str, int | None]:
    """Messages waiting per queue (None for a queue that does not exist)."""
    depths: dict[str, int | None] = {}
    connection = await aio_pika.connect(rabbitmq_url)
    async with connection:
        for name in names:
            channel = await connection.channel()
            try:
                queue = await channel.declare_queue(name, passive=True)
            except AMQPError:
                depths[name] = None
                continue
            depths[name] = queue.declaration_result.message_count
            await channel.close()
    return depths


async def delete_keys(redis_url: str, prefix: str) -> int:
    """Delete every Redis key of the run (the ledger, rate limits: all start with the prefix)."""
    redis = redis_from_url(redis_url)
    deleted = 0
    try:
        batch: list[bytes] = []
        async for key in redis.scan_iter(match=f"{prefix}:*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                deleted += int(await redis.delete(*batch))
                batch.clear()
        if batch:
            deleted += int(await redis.delete(*batch))
    except RedisError as exc:
        raise LocalRunError("Redis does not answer; keys not deleted") from exc
    finally:
        await redis.aclose()
    return deleted


# -- a whole detached run ------------------------------------------------------------------


@dataclass(frozen=True)
class LocalRun:
    """A detached run as ``<dir>/state.json`` records it."""

    run_dir: Path
    prefix: str
    started_at: str
    servers: LocalServers
    processes: dict[str, KeptProcess]
    api_keys: dict[str, str]
    nhn_queues: list[str]
    internal_queues: list[str]

    @property
    def intake_url(self) -> str:
        return f"http://127.0.0.1:{self.processes['intake'].port}"

    @property
    def state_file(self) -> Path:
        return self.run_dir / STATE_FILE

    def save(self) -> None:
        data = {
            "prefix": self.prefix,
            "started_at": self.started_at,
            "intake_url": self.intake_url,
            "servers": asdict(self.servers),
            "processes": {name: p.to_json() for name, p in self.processes.items()},
            "ports": {name: p.port for name, p in self.processes.items()},
            "api_keys": self.api_keys,
            "nhn_queues": self.nhn_queues,
            "internal_queues": self.internal_queues,
        }
        partial = self.state_file.with_suffix(".partial")
        partial.write_text(json.dumps(data, indent=2) + "\n")
        partial.chmod(0o600)  # API keys (of a development world, but keys all the same)
        os.replace(partial, self.state_file)

    @classmethod
    def load(cls, run_dir: Path) -> LocalRun | None:
        path = run_dir / STATE_FILE
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise LocalRunError(f"{path} cannot be read ({exc})") from exc
        return cls(
            run_dir=run_dir,
            prefix=data["prefix"],
            started_at=data["started_at"],
            servers=LocalServers(**data["servers"]),
            processes={name: KeptProcess.from_json(p) for name, p in data["processes"].items()},
            api_keys=dict(data["api_keys"]),
            nhn_queues=list(data["nhn_queues"]),
            internal_queues=list(data["internal_queues"]),
        )

    def running(self) -> list[str]:
        return [
            name for name, p in self.processes.items() if p.keeper_running() or p.service_running()
        ]


async def start_run(
    run_dir: Path,
    *,
    ports: Mapping[str, int],
    tuning: Tuning | None = None,
    servers: LocalServers | None = None,
    prefix: str | None = None,
    ready_timeout: float = 90.0,
    restart: bool = True,
) -> LocalRun:
    """Write a world, declare its NHN queues, start every process detached, wait until all
    are ready. The state file is written before the wait, so ``stop_run`` can always clean up.

    ``restart``: each keeper restarts its process with backoff when it ends on its own (as a
    Deployment would); without, a process that ends stays down (a benchmark must see it)."""
    existing = LocalRun.load(run_dir)
    if existing is not None:
        if existing.running():
            raise LocalRunError(
                f"a run is already up in {run_dir}; stop it first (kprgw local down)"
            )
        await stop_run(existing)  # a run that ended without `down`: its queues and keys go
    run_dir.mkdir(parents=True, exist_ok=True)
    prefix = prefix or new_prefix()
    world = create_world(run_dir / "world", nhn_queue_prefix=prefix)
    plan = RunPlan(
        world,
        run_dir,
        prefix,
        dict(ports),
        servers=servers or LocalServers(),
        tuning=tuning or Tuning(log_json=False),
    )
    plan.write_secrets()
    await declare_nhn_queues(plan.servers.rabbitmq_url, plan.nhn_queues())
    processes: dict[str, KeptProcess] = {}
    run = LocalRun(
        run_dir=run_dir,
        prefix=prefix,
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        servers=plan.servers,
        processes=processes,
        api_keys=dict(world.api_keys),
        nhn_queues=plan.nhn_queues(),
        internal_queues=plan.internal_queues(),
    )
    try:
        for name in PROCESSES:
            processes[name] = spawn_kept(plan, name, restart=restart)
        run.save()
        await wait_ready(
            plan.ports,
            # A restart while starting is a start that failed: say so now, not after the
            # timeout of a crash loop.
            exited=lambda name: (
                not processes[name].keeper_running() or bool(processes[name].restarts())
            ),
            describe=lambda name: log_tail(processes[name].log_file),
            timeout=ready_timeout,
        )
    except BaseException:
        await stop_run(run)
        raise
    return run


@dataclass(frozen=True)
class StopReport:
    exit_codes: dict[str, int | None]
    queues_deleted: int
    keys_deleted: int
    parked_discarded: int = 0

    @property
    def clean(self) -> bool:
        return all(code == 0 for code in self.exit_codes.values())


class ParkedMessagesError(LocalRunError):
    """Parked messages would go with the run's queues: kept until the operator says so."""


async def stop_run(
    run: LocalRun, *, timeout: float = 40.0, discard_parked: bool = False
) -> StopReport:
    """Stop every process (SIGTERM, drain, exit codes), then delete the run's queues and keys.

    Parked messages are what an operator must read: while any wait, the queues and keys stay
    and ``ParkedMessagesError`` says how many and where, unless ``discard_parked``."""
    codes = await stop_kept(list(run.processes.values()), timeout=timeout)
    parked_queues = [name for name in run.internal_queues if name.endswith(PARKED_SUFFIX)]
    depths = await queue_depths(run.servers.rabbitmq_url, parked_queues)
    parked = {name: depth for name, depth in depths.items() if depth}
    if parked and not discard_parked:
        listed = ", ".join(f"{name} ({depth})" for name, depth in sorted(parked.items()))
        raise ParkedMessagesError(
            f"{sum(parked.values())} parked messages would be deleted with the run's queues: "
            f"{listed}. Read them first (rabbitmqctl, or the console), then "
            "`kprgw local down --discard-parked`"
        )
    queues = await delete_queues(run.servers.rabbitmq_url, run.internal_queues + run.nhn_queues)
    keys = await delete_keys(run.servers.redis_url, run.prefix)
    run.state_file.unlink(missing_ok=True)
    return StopReport(codes, queues, keys, parked_discarded=sum(parked.values()))
