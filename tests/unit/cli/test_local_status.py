"""``kprgw local status``'s process table: the current pid (read again, a restart changes it),
whether the process runs or its keeper is waiting to restart it, and the restarts."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from kpr_gateway.cli.local import _process_table
from kpr_gateway.cli.local_keeper import KeepFiles
from kpr_gateway.cli.local_processes import KeptProcess, LocalRun, LocalServers


@pytest.fixture
def sleepers() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Two processes that pass for ours (``kpr_gateway`` in their command line)."""
    started = [
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "kpr_gateway-x"])
        for _ in range(2)
    ]
    yield started
    for process in started:
        process.kill()
        process.wait()


def kept(keep_dir: Path, name: str, *, pid: int | None, keeper_pid: int) -> KeptProcess:
    files = KeepFiles(keep_dir, name)
    if pid is not None:
        files.pid.write_text(str(pid))
    return KeptProcess(name, keeper_pid, 8080, keep_dir / f"{name}.log", keep_dir)


def test_the_table_reads_the_pid_and_the_restarts_now(
    tmp_path: Path, sleepers: list[subprocess.Popen[bytes]]
) -> None:
    service, keeper = sleepers
    gone = 2**22 + 12345  # above pid_max's default: no such process
    restarts = [
        {
            "at": "2026-12-08T01:00:00+00:00",
            "exit_code": 137,
            "ran_seconds": 40,
            "backoff_seconds": 0.5,
        },
        {
            "at": "2026-12-08T01:00:09+00:00",
            "exit_code": 86,
            "ran_seconds": 8,
            "backoff_seconds": 1,
        },
    ]
    running = kept(tmp_path, "transform", pid=service.pid, keeper_pid=keeper.pid)
    running.files.restarts.write_text("".join(json.dumps(r) + "\n" for r in restarts))
    waiting = kept(tmp_path, "dispatch", pid=gone, keeper_pid=keeper.pid)
    stopped = kept(tmp_path, "receipts", pid=None, keeper_pid=gone)
    run = LocalRun(
        run_dir=tmp_path,
        prefix="kprgw-local-test",
        started_at="2026-12-08T00:59:00+00:00",
        servers=LocalServers(),
        processes={p.name: p for p in (running, waiting, stopped)},
        api_keys={},
        nhn_queues=[],
        internal_queues=[],
    )
    assert [r.exit_code for r in running.restarts()] == [137, 86]
    console = Console(record=True, width=200)
    console.print(_process_table(run, {"transform": True}))
    lines = [line for line in console.export_text().splitlines() if line.startswith("│")]
    cells = {c[0]: c[1:] for c in ([p.strip() for p in line.split("│")[1:-1]] for line in lines)}
    pid, port, is_running, ready, restarted = cells["transform"][:5]
    assert (pid, port, is_running, ready) == (str(service.pid), "8080", "yes", "yes")
    assert restarted == "2 (last exit 86)"
    assert cells["dispatch"][:5] == [str(gone), "8080", "restarting", "no", "0"]
    assert cells["receipts"][:5] == ["-", "8080", "no", "no", "0"]
    # a restart rewrites the pid file: the table follows it
    running.files.pid.write_text(str(keeper.pid))
    assert running.current_pid() == keeper.pid
