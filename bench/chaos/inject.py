"""Injecting the schedule's faults into a running gateway, and watching the affected services
come back.

Each fault is injected at its moment (seconds after the load started) and then watched on its
own. Faults on one service (kills, crash points) and simulator phases take turns: the next
waits until the one before it is over; the others may overlap. ``ready_at`` is when every
affected service answered ``/readyz`` with 200 again (a killed one: from a new process).
Whether the pipeline recovered (a message built after that and acknowledged) is read from the
ledger afterwards (``invariants.py``).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from urllib.parse import urlsplit

import httpx
from redis.asyncio import Redis

from bench.chaos import simulator
from bench.chaos.connections import (
    ConnectionsError,
    close_broker_connections,
    drop_amqp_1_0_links,
    kill_redis_clients,
)
from bench.chaos.schedule import SIMULATOR_MODES, FaultKind, PlannedFault
from kpr_gateway.cli.local_processes import SERVICES, SIMULATOR, LocalRun, is_ready, is_running
from kpr_gateway.ledger import KeySpace, Ledger, LedgerError
from kpr_gateway.runtime.crash_points import CRASH_EXIT_CODE, POINT_VARIABLE

NHN_SERVICES: Final = ("dispatch", "receipts")
"""The gateway's processes on the NHN side (AMQP 1.0); the simulator's own link is FHI's."""
RESEND_POINT: Final = "transform.after_resend_commit"
"""The one point the load never passes: only an operator's resend does."""
PHASE_MESSAGES: Final = 4
"""A simulator phase lasts until this many messages reached the simulator in it ..."""
PHASE_CAP: Final = 5
"""... or this many times its planned seconds."""
_POLL_SECONDS: Final = 0.1


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Injected:
    """What happened to one planned fault."""

    fault: PlannedFault
    injected_at: datetime
    lifted_at: datetime
    """When the fault itself ended (a pause, a phase); the injection for instant ones."""
    affected: list[str]
    ready_at: datetime | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    problem: str | None = None
    """Why the fault could not be injected or did not act as planned."""

    def to_json(self) -> dict[str, Any]:
        return {
            "fault": self.fault.to_json(),
            "description": self.fault.describe(),
            "injected_at": self.injected_at.isoformat(),
            "lifted_at": self.lifted_at.isoformat(),
            "affected": self.affected,
            "ready_at": self.ready_at.isoformat() if self.ready_at else None,
            "detail": self.detail,
            "problem": self.problem,
        }


def _serialised_on(fault: PlannedFault) -> str | None:
    """What the fault must have to itself: its service, or the simulator's fault dice."""
    if fault.kind in {FaultKind.KILL, FaultKind.CRASH_POINT}:
        return fault.target
    return SIMULATOR if fault.kind is FaultKind.SIMULATOR else None


class Chaos:
    def __init__(self, run: LocalRun, redis: Redis, *, ready_timeout: float = 90.0) -> None:
        self._run = run
        self._redis = redis
        self._ready_timeout = ready_timeout
        self._per_service: dict[str, asyncio.Task[Injected]] = {}
        self._ledger = Ledger(redis, keys=KeySpace(run.prefix))

    def _pid(self, name: str) -> int | None:
        return self._run.processes[name].current_pid()

    def _pids(self, names: Sequence[str]) -> dict[str, int]:
        pids = {name: self._pid(name) for name in names}
        return {name: pid for name, pid in pids.items() if pid is not None}

    async def run_schedule(
        self, schedule: Sequence[PlannedFault], *, load_started: float
    ) -> list[Injected]:
        """Inject each fault at its moment (``load_started``: a ``time.monotonic()``); each
        is then watched in a task of its own."""
        watches = []
        for fault in schedule:
            await asyncio.sleep(max(0.0, load_started + fault.at - time.monotonic()))
            one_at_a_time = _serialised_on(fault)
            if one_at_a_time is not None:
                # The next waits until the one before it is over: a kill would otherwise meet a
                # process still starting, a simulator phase end another one's phase.
                before = self._per_service.get(one_at_a_time)
                watch = asyncio.create_task(self._after(before, fault))
                self._per_service[one_at_a_time] = watch
            else:
                watch = asyncio.create_task(self.inject(fault))
            watches.append(watch)
        return list(await asyncio.gather(*watches))

    async def _after(self, before: asyncio.Task[Injected] | None, fault: PlannedFault) -> Injected:
        if before is not None:
            await asyncio.wait([before])
        return await self.inject(fault)

    async def inject(self, fault: PlannedFault) -> Injected:
        try:
            if fault.kind is FaultKind.KILL:
                return await self._kill(fault)
            if fault.kind is FaultKind.CRASH_POINT:
                return await self._crash_point(fault)
            if fault.kind in {FaultKind.BROKER_CONNECTIONS, FaultKind.NHN_LINK}:
                return await self._broker(fault)
            if fault.kind is FaultKind.REDIS:
                return await self._redis_pause(fault)
            return await self._simulator(fault)
        except (ConnectionsError, LedgerError, OSError, httpx.HTTPError) as exc:
            at = _now()
            return Injected(fault, at, at, [], problem=f"not injected: {exc}")

    async def _running_pid(self, name: str) -> int | None:
        """The service's process once it runs (it may be in a restart's backoff): never a
        pid the file still names after its process ended (the number may be reused)."""
        deadline = time.monotonic() + self._ready_timeout
        while True:
            pid = self._pid(name)
            if pid is not None and is_running(pid):
                return pid
            if time.monotonic() > deadline:
                return None
            await asyncio.sleep(_POLL_SECONDS)

    async def _kill(self, fault: PlannedFault) -> Injected:
        service = fault.target
        pid = await self._running_pid(service)
        if pid is None:
            at = _now()
            return Injected(fault, at, at, [service], problem="no process to kill")
        os.kill(pid, signal.SIGKILL)
        injected = Injected(fault, _now(), _now(), [service], detail={"killed_pid": pid})
        injected.ready_at = await self._ready_again([service], replaced={service: pid})
        return injected

    async def _crash_point(self, fault: PlannedFault) -> Injected:
        """Arm the point for the next start, kill -9 the service: its restart crashes at the
        point (exit code ``CRASH_EXIT_CODE``) once it is passed, the next start is clean.
        The load passes every point but the resend's: for that one the run asks transform
        for a resend, and after the crash asks again, as an operator left without an answer
        would."""
        service, point = fault.target, fault.point or ""
        process = self._run.processes[service]
        pid = await self._running_pid(service)
        if pid is None:
            at = _now()
            return Injected(fault, at, at, [service], problem="no process to kill")
        restarts_before = len(process.restarts())
        process.arm_next_start({POINT_VARIABLE: point})
        os.kill(pid, signal.SIGKILL)
        injected = Injected(fault, _now(), _now(), [service], detail={"killed_pid": pid})
        resend = point == RESEND_POINT
        if resend:
            if await self._ready_again([service], replaced={service: pid}) is None:
                injected.problem = f"the armed {service} did not start"
                return injected
            injected.detail["resend"] = await self._resend(injected)
        deadline = time.monotonic() + self._ready_timeout
        while True:
            codes = [r.exit_code for r in process.restarts()[restarts_before:]]
            if CRASH_EXIT_CODE in codes[1:]:
                break
            if time.monotonic() > deadline:
                injected.detail["exit_codes"] = codes
                injected.problem = f"the restarted {service} did not reach {point} in time"
                return injected
            await asyncio.sleep(_POLL_SECONDS)
        crashed = next(
            r for r in process.restarts()[restarts_before + 1 :] if r.exit_code == CRASH_EXIT_CODE
        )
        injected.detail |= {"exit_codes": codes, "crashed_at_point": crashed.at.isoformat()}
        injected.lifted_at = crashed.at
        # The crashed process is gone by the time its keeper wrote the line: a ready answer
        # now is the clean restart's.
        injected.ready_at = await self._ready_again([service])
        if resend and injected.ready_at is not None:
            again = await self._resend(injected, msg_id=injected.detail["resend"]["msg_id"])
            injected.detail["resend_again"] = again
            if again.get("status") != 200:
                injected.problem = f"the resend after the crash was answered {again}"
        return injected

    async def _resend(self, injected: Injected, msg_id: str | None = None) -> dict[str, Any]:
        """``POST /v1/resend`` of an acknowledged message of the run (transform's port)."""
        if msg_id is None:
            found = await self._acknowledged_message()
            if found is None:
                return {"error": "no acknowledged message to resend"}
            tenant, msg_id = found
        else:
            tenant = await self._ledger.tenant_of_message(msg_id) or ""
        url = f"http://127.0.0.1:{self._run.processes['transform'].port}/v1/resend"
        async with httpx.AsyncClient(timeout=30) as client:
            try:
                answer = await client.post(url, params={"tenant": tenant, "msg_id": msg_id})
            except httpx.TransportError as exc:
                return {"msg_id": msg_id, "error": type(exc).__name__}  # the crash, at the point
        return {"msg_id": msg_id, "status": answer.status_code, "answer": answer.json()}

    async def _acknowledged_message(self) -> tuple[str, str] | None:
        url = f"http://127.0.0.1:{self._run.processes[SIMULATOR].port}/received"
        async with httpx.AsyncClient(timeout=30) as client:
            received = (await client.get(url)).json().get("messages", {})
        for msg_id in received:
            tenant = await self._ledger.tenant_of_message(msg_id)
            record = await self._ledger.get_message(tenant, msg_id) if tenant else None
            if record is not None and record.state == "acknowledged" and not record.resend_of:
                return record.tenant_id, msg_id
        return None

    async def _broker(self, fault: PlannedFault) -> Injected:
        port = urlsplit(self._run.servers.rabbitmq_url).port or 5672
        at = _now()
        if fault.kind is FaultKind.NHN_LINK:
            closed = await drop_amqp_1_0_links(self._pids(NHN_SERVICES), broker_port=port)
        else:
            closed = await close_broker_connections(
                self._pids(SERVICES), amqp_1_0=False, broker_port=port
            )
        injected = Injected(fault, at, _now(), sorted(closed), detail={"closed": closed})
        if not closed:
            injected.problem = "no connection of this run found to close"
            return injected
        injected.ready_at = await self._ready_again(sorted(closed))
        return injected

    async def _redis_pause(self, fault: PlannedFault) -> Injected:
        port = urlsplit(self._run.servers.redis_url).port or 6379
        at = _now()
        killed = await kill_redis_clients(self._redis, self._pids(SERVICES), redis_port=port)
        pause_ms = int(fault.seconds * 1000)
        # Every client, the run's reconnecting services included, waits out the pause.
        await self._redis.client_pause(pause_ms, all=True)
        lifted = at + timedelta(milliseconds=pause_ms)
        injected = Injected(fault, at, lifted, sorted(killed), detail={"killed_clients": killed})
        if not killed:
            injected.problem = "no Redis client of this run found to kill"
            return injected
        await asyncio.sleep(fault.seconds)
        injected.ready_at = await self._ready_again(sorted(killed))
        return injected

    async def _simulator(self, fault: PlannedFault) -> Injected:
        """The phase lasts its seconds and until ``PHASE_MESSAGES`` messages reached the
        simulator (a pipeline stalled by another fault would leave it untested), at most
        ``PHASE_CAP`` times its seconds."""
        shares = SIMULATOR_MODES[fault.target]
        url = f"http://127.0.0.1:{self._run.processes[SIMULATOR].port}/faults"
        async with httpx.AsyncClient(timeout=10) as client:
            before = await simulator.counters(client, self._run)
            (await client.put(url, json=shares)).raise_for_status()
            at = _now()
            started = time.monotonic()
            while True:
                await asyncio.sleep(0.5)
                now = await simulator.counters(client, self._run)
                arrived = int(now.get("received", 0) - before.get("received", 0))
                elapsed = time.monotonic() - started
                if elapsed >= fault.seconds and arrived >= PHASE_MESSAGES:
                    break
                if elapsed >= fault.seconds * PHASE_CAP:
                    break
            (await client.put(url, json={})).raise_for_status()
            after = await simulator.counters(client, self._run)
        lifted = _now()
        changed = {k: int(v - before.get(k, 0)) for k, v in after.items() if v != before.get(k, 0)}
        injected = Injected(
            fault,
            at,
            lifted,
            [],
            # The simulator is FHI: nothing of the gateway to wait for but the pipeline itself.
            ready_at=lifted,
            detail={"shares": shares, "seconds": round(elapsed, 1), "simulator": changed},
        )
        if arrived < PHASE_MESSAGES:
            injected.problem = f"only {arrived} messages reached the simulator in the phase"
        return injected

    async def _ready_again(
        self, names: Sequence[str], *, replaced: dict[str, int] | None = None
    ) -> datetime | None:
        """When every one of ``names`` answered ready (a new process, for those in
        ``replaced``); None after the timeout."""
        waiting = set(names)
        deadline = time.monotonic() + self._ready_timeout
        async with httpx.AsyncClient() as client:
            while waiting:
                for name in sorted(waiting):
                    pid = self._pid(name)
                    if replaced and name in replaced and pid in {None, replaced[name]}:
                        continue
                    if await is_ready(client, self._run.processes[name].port):
                        waiting.discard(name)
                if not waiting:
                    break
                if time.monotonic() > deadline:
                    return None
                await asyncio.sleep(_POLL_SECONDS)
        return _now()
