"""CPU time and memory of processes, from /proc (Linux): where a benchmark's time went."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from kpr_gateway.cli.local_processes import LocalRun, memory_kib

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time of a process so far (None once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime (fields 14, 15)


def pids_named(command: str) -> list[int]:
    """Processes whose executable name (``comm``) is ``command``: the local servers."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == command:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def server_pids() -> dict[str, list[int]]:
    return {"rabbitmq": pids_named("beam.smp"), "redis": pids_named("redis-server")}


def machine_busy_seconds() -> float:
    """CPU time the whole machine spent busy so far, over all CPUs (from /proc/stat)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / _TICKS


REST = "rest of the machine"


class CpuMeter:
    """CPU seconds per named group of processes between ``start`` and ``stop``, and what
    the rest of the machine (the benchmark itself, other users) took meanwhile."""

    def __init__(self, groups: Mapping[str, list[int]]) -> None:
        self._groups = {name: list(pids) for name, pids in groups.items()}
        self._before: dict[str, float] = {}

    def _now(self) -> dict[str, float]:
        now = {
            name: sum(cpu_seconds(pid) or 0.0 for pid in pids)
            for name, pids in self._groups.items()
        }
        now[REST] = machine_busy_seconds() - sum(now.values())
        return now

    def start(self) -> None:
        self._before = self._now()

    def stop(self) -> dict[str, float]:
        after = self._now()
        return {name: round(after[name] - self._before.get(name, 0.0), 2) for name in after}


def peak_memory_mib(pids: Mapping[str, int]) -> dict[str, float]:
    """Each process's resident-memory high-water mark (VmHWM) in MiB."""
    return {name: round(memory_kib(pid).get("VmHWM", 0) / 1024, 1) for name, pid in pids.items()}


def gateway_pids(gateway: LocalRun) -> dict[str, int]:
    """Each process's pid now. The bench starts its gateway without restarts, so these stay
    the processes measured from start to end; a process that is gone is an error here."""
    pids = {name: p.current_pid() for name, p in gateway.processes.items()}
    missing = [name for name, pid in pids.items() if pid is None]
    if missing:
        raise RuntimeError(f"no running process for {', '.join(missing)}")
    return {name: pid for name, pid in pids.items() if pid is not None}
