"""The small chaos schedule (``python -m bench.chaos --schedule small``, as ``make chaos`` runs
the full one): the gateway as processes on the local RabbitMQ and Redis under load, every
service killed once, one named crash point, the broker's connections closed, Redis paused and
its clients killed, the simulator rejecting and answering twice; then the invariants."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kpr_gateway.cli.local_processes import SERVICES, LocalRun, stop_run
from kpr_gateway.runtime.crash_points import CRASH_EXIT_CODE

REPO = Path(__file__).resolve().parents[2]
KILLED = 128 + 9


@pytest.fixture(scope="module")
def chaos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, str, dict[str, Any]]]:
    folder = tmp_path_factory.mktemp("chaos")
    out, run_dir = folder / "chaos.json", folder / "run"
    command = [sys.executable, "-m", "bench.chaos", "--schedule", "small"]
    command += ["--out", str(out), "--dir", str(run_dir), "--settle-seconds", "180"]
    try:
        done = subprocess.run(
            command, cwd=REPO, capture_output=True, text=True, timeout=900, check=False
        )
        result = json.loads(out.read_text()) if out.exists() else {}
        yield done.returncode, done.stdout[-6000:] + done.stderr[-6000:], result
    finally:
        leftover = LocalRun.load(run_dir)  # a run cut short must not leave processes behind
        if leftover is not None:
            asyncio.run(stop_run(leftover, discard_parked=True))


def test_the_small_schedule_keeps_every_invariant(
    chaos: tuple[int, str, dict[str, Any]],
) -> None:
    code, output, result = chaos
    assert result, output
    verdict = result["verdict"]
    assert verdict["failures"] == [], output
    assert code == 0, output
    assert verdict["lost"] == 0
    assert verdict["duplicates"]["unexplained"] == 0
    assert result["settled"]
    assert verdict["accepted"] == sum(verdict["final_by_state"].values())
    assert verdict["accepted"] >= 0.9 * result["options"]["events"]
    chains = [c for reports in verdict["chains"].values() for c in reports]
    assert len(chains) == 2
    assert all(c["ok"] and c["length"] > 0 for c in chains)
    assert sum(c["length"] for c in chains) >= verdict["final_by_state"]["acknowledged"]


def test_every_fault_happened_and_was_recovered_from(
    chaos: tuple[int, str, dict[str, Any]],
) -> None:
    _, output, result = chaos
    recoveries = result["verdict"]["recoveries"]
    assert len(recoveries) == len(result["schedule"]) == len(SERVICES) + 4
    assert [r["problem"] for r in recoveries] == [None] * len(recoveries), output
    assert all(r["recovered"] and r["recovery_seconds"] > 0 for r in recoveries)
    restarts = result["restarts"]
    assert all(KILLED in restarts[name]["exit_codes"] for name in SERVICES)
    assert restarts["simulator"]["count"] == 0  # FHI's side is never restarted
    [point] = [f for f in result["schedule"] if f["kind"] == "crash point"]
    assert CRASH_EXIT_CODE in restarts[point["target"]]["exit_codes"]
    # Closed where they were open (a service restarting meanwhile has none yet).
    [broker] = [i for i in result["injected"] if i["fault"]["kind"] == "broker connections closed"]
    assert broker["detail"]["closed"]
    assert set(broker["detail"]["closed"]) <= set(SERVICES)
    [redis] = [i for i in result["injected"] if i["fault"]["kind"].startswith("Redis")]
    assert redis["detail"]["killed_clients"]
    assert set(redis["detail"]["killed_clients"]) <= set(SERVICES)
    assert result["load"]["retries"].get("connection", 0) > 0  # intake's kill was felt
    assert all(code == 0 for code in result["exit_codes_at_stop"].values())
