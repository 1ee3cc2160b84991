"""The process pipeline of ``tests.e2e.processes`` with one service restarted at a time, armed
with a crash point or not, and the invariants a crash must keep, read from the ledger, the
simulator's log and metrics, and the parking queues."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import aio_pika
import httpx
from aio_pika.exceptions import AMQPError
from redis.asyncio import Redis

from kpr_gateway.cli.demo.command import SETTLED
from kpr_gateway.cli.local_processes import ops_port, wait_ready
from kpr_gateway.ledger import EventRecord, KeySpace, Ledger
from kpr_gateway.ledger.replies import text
from kpr_gateway.pipeline.queues import PARKED_SUFFIX, Topology
from kpr_gateway.runtime.crash_points import (
    AFTER_VARIABLE,
    CRASH_EXIT_CODE,
    POINT_VARIABLE,
    CrashPointName,
)
from tests.e2e.processes import RABBIT_AMQP091, GatewayProcesses

REDIS_URL = "redis://127.0.0.1:6379/0"
# What the simulator logs once it has answered a message (or held its answer for a gap).
_SIMULATOR_SAW = re.compile(r"^message (\S+) \(MsgId ([0-9a-f-]{36})\) from ")
_CHAIN_REJECTIONS = re.compile(r'^kprgw_simulator_chain_rejections_total\{kind="(\w+)"\} (\S+)$')


@dataclass
class CrashPipeline(GatewayProcesses):
    """Every process as in ``GatewayProcesses``; ``restart`` replaces one service's process
    (its logs appended to the same files), with extra environment variables or none."""

    def restart(self, name: str, extra_env: Mapping[str, str] | None = None) -> None:
        if self.processes[name].poll() is None:
            self.stop_one(name)
        env = self.plan().environment(name) | dict(extra_env or {})
        out, err = self.run_dir / f"{name}.out", self.run_dir / f"{name}.err"
        with out.open("ab") as stdout, err.open("ab") as stderr:
            self.processes[name] = subprocess.Popen(
                self.plan().command(name), env=env, stdout=stdout, stderr=stderr
            )
        asyncio.run(
            wait_ready(
                {name: self.ports[name]},
                exited=lambda n: self.processes[n].poll() is not None,
                describe=self.log_tail,
                timeout=60,
            )
        )

    def arm(self, point: CrashPointName, after: int) -> None:
        """Restart the point's service with the point armed for its ``after``-th pass."""
        self.restart(point.partition(".")[0], {POINT_VARIABLE: point, AFTER_VARIABLE: str(after)})

    def stop_one(self, name: str) -> None:
        """Stop one process with SIGTERM; it drains and exits 0."""
        process = self.processes[name]
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=40)
        assert code == 0, (name, code, self.log_tail(name))

    def log_count(self, name: str, text: str) -> int:
        """How many of the process's log lines (all its lives) contain ``text``."""
        log = (self.run_dir / f"{name}.err").read_text(errors="replace")
        return sum(1 for line in log.splitlines() if text in line)

    def restart_any_dead(self) -> None:
        """Whatever an earlier failed test left stopped runs again, unarmed."""
        for name, process in list(self.processes.items()):
            if process.poll() is not None:
                self.restart(name)

    async def wait_crash(self, point: str, timeout: float = 45.0) -> None:
        """The armed service ended with the crash code at ``point``."""
        name = point.partition(".")[0]
        process = self.processes[name]
        async with asyncio.timeout(timeout):
            while process.poll() is None:
                await asyncio.sleep(0.05)
        assert process.returncode == CRASH_EXIT_CODE, (process.returncode, self.log_tail(name))
        assert f"crash point {point} reached" in self.log_tail(name)

    def simulator_received(self) -> dict[str, set[str]]:
        """MsgId -> the AMQP message-ids of every copy the simulator answered or held."""
        received: dict[str, set[str]] = defaultdict(set)
        for line in (self.run_dir / "simulator.err").read_text(errors="replace").splitlines():
            try:
                text = json.loads(line).get("message", "")
            except ValueError:
                continue
            found = _SIMULATOR_SAW.match(text)
            if found is not None:
                received[found.group(2)].add(found.group(1))
        return received

    async def simulator_chain_rejections(self) -> dict[str, float]:
        """``kprgw_simulator_chain_rejections_total`` by kind (gap, fork); empty: none ever."""
        async with httpx.AsyncClient() as client:
            ops = ops_port(self.ports["simulator"])
            answer = await client.get(f"http://127.0.0.1:{ops}/metrics")
        answer.raise_for_status()
        return {
            found.group(1): float(found.group(2))
            for line in answer.text.splitlines()
            if (found := _CHAIN_REJECTIONS.match(line)) is not None
        }

    async def take_parked(self, queue: str) -> list[dict[str, str]]:
        """Take every message parked on ``<prefix>.<queue>.parked``: their headers."""
        headers: list[dict[str, str]] = []
        connection = await aio_pika.connect(RABBIT_AMQP091)
        async with connection:
            channel = await connection.channel()
            parked = await channel.declare_queue(
                f"{self.prefix}.{queue}{PARKED_SUFFIX}", passive=True
            )
            while (message := await parked.get(fail=False)) is not None:
                headers.append({k: str(v) for k, v in message.headers.items()})
                await message.ack()
        return headers

    async def parked(self) -> dict[str, int]:
        """Messages waiting in each internal parking queue that has any."""
        names = [s.name for s in Topology(prefix=self.prefix).specs()]
        depths: dict[str, int] = {}
        connection = await aio_pika.connect(RABBIT_AMQP091)
        async with connection:
            for name in (n for n in names if n.endswith(PARKED_SUFFIX)):
                channel = await connection.channel()
                try:
                    queue = await channel.declare_queue(name, passive=True)
                except AMQPError:
                    continue  # not declared (yet)
                if queue.declaration_result.message_count:
                    depths[name] = queue.declaration_result.message_count
                await channel.close()
        return depths


@dataclass
class Posted:
    """What the EPJ clients learnt: accepted (answered 202) and never answered, per tenant."""

    accepted: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    unanswered: dict[str, list[dict[str, object]]] = field(
        default_factory=lambda: defaultdict(list)
    )


async def post_batches(
    intake_url: str,
    api_keys: Mapping[str, str],
    batches: Iterable[tuple[str, list[dict[str, object]]]],
) -> Posted:
    """POST every batch at once (so intake commits several groups while its service may
    die); a request without an answer leaves its events unanswered, to be sent again."""
    posted = Posted()

    async def one(client: httpx.AsyncClient, tenant: str, events: list[dict[str, object]]) -> None:
        headers = {"Authorization": f"Bearer {api_keys[tenant]}"}
        try:
            answer = await client.post("/v1/events/batch", json=events, headers=headers)
        except httpx.TransportError:
            posted.unanswered[tenant].extend(events)
            return
        assert answer.status_code == 200, answer.text
        for result in answer.json()["results"]:
            assert result["status_code"] == 202, result
            posted.accepted[tenant].append(result["event_id"])

    async with httpx.AsyncClient(base_url=intake_url, timeout=30) as client:
        await asyncio.gather(*(one(client, tenant, events) for tenant, events in batches))
    return posted


class LedgerView:
    """The run's ledger, read as the test's own client (its key prefix)."""

    def __init__(self, prefix: str) -> None:
        self.redis = Redis.from_url(REDIS_URL)
        self.keys = KeySpace(prefix)
        self.ledger = Ledger(self.redis, keys=self.keys)

    async def aclose(self) -> None:
        await self.redis.aclose()

    async def wait_final(
        self,
        accepted: Mapping[str, Iterable[str]],
        timeout: float = 90.0,
        wanted: frozenset[str] = SETTLED,
    ) -> dict[str, EventRecord]:
        """Every accepted event once its status is final (or in ``wanted``); fails at
        ``timeout`` naming how many are not, and in which status."""
        waiting = {(tenant, e) for tenant, ids in accepted.items() for e in ids}
        final: dict[str, EventRecord] = {}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while waiting:
            statuses: dict[str, int] = defaultdict(int)
            for tenant, event_id in sorted(waiting):
                record = await self.ledger.get_event(tenant, event_id)
                status = record.status if record is not None else "missing from the ledger"
                if record is not None and status in wanted:
                    final[event_id] = record
                    waiting.discard((tenant, event_id))
                else:
                    statuses[status] += 1
            if waiting and loop.time() > deadline:
                raise AssertionError(f"{len(waiting)} accepted events not final: {dict(statuses)}")
            if waiting:
                await asyncio.sleep(0.3)
        return final

    async def chain_problems(
        self, tenants: Iterable[str], records: Iterable[EventRecord]
    ) -> list[str]:
        """Each municipality's chain walked from seq 1 (``kprgw chain verify``'s walk), and each
        event's seq holding that event in the chain's log: a gap or fork shows as a problem."""
        problems: list[str] = []
        for tenant in tenants:
            for municipality in await self.ledger.chain_municipalities(tenant):
                report = await self.ledger.verify_chain(tenant, municipality)
                if not report.ok:
                    problems.append(f"{tenant}/{municipality}: {report.problem}")
        for record in records:
            if record.seq is None or record.municipality is None:
                problems.append(f"event {record.event_id} is final without a seq")
                continue
            log = self.keys.chain_log(record.tenant_id, record.municipality)
            at_seq = await self.redis.lindex(log, record.seq - 1)
            if at_seq is None or text(at_seq) != record.event_id:
                problems.append(f"seq {record.seq} in the log is not event {record.event_id}")
        return problems


def send_attempts(records: Iterable[EventRecord]) -> dict[str, set[str]]:
    """MsgId -> the AMQP message-ids of its send attempts, as the ledger recorded them (every
    message of the events, with none)."""
    attempts: dict[str, set[str]] = {}
    for record in records:
        for message in record.messages:
            attempts.setdefault(message.msg_id, set())
            for entry in message.history:
                if entry.state == "send_attempt" and entry.detail is not None:
                    attempts[message.msg_id].add(str(entry.detail["transport_message_id"]))
    return attempts


def new_prefix() -> str:
    return f"kprgw-crash-{uuid.uuid4().hex[:8]}"
