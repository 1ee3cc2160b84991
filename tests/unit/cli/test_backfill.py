"""``kprgw backfill`` against a stand-in intake on 127.0.0.1: everything sent once, refusals
kept without values, resuming after a stop or Ctrl-C, retries, the throttle."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
import tracemalloc
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from kpr_gateway.cli.backfill.command import backfill
from kpr_gateway.cli.backfill.errors import BackfillStoppedError
from kpr_gateway.cli.backfill.run import Backfill, BackfillPlan, starting_state
from kpr_gateway.cli.backfill.sender import RetryPolicy
from kpr_gateway.cli.backfill.state import load_state
from tests.unit.cli.intake_double import API_KEY, IntakeDouble, serving
from tests.unit.cli.support import notifications, write_ndjson

CLI = typer.Typer()
CLI.command()(backfill)


@pytest.fixture
def double() -> IntakeDouble:
    return IntakeDouble()


@pytest.fixture
def url(double: IntakeDouble) -> Iterator[str]:
    with serving(double) as base:
        yield base


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "api.key"
    path.write_text(API_KEY + "\n")
    return path


def run(file: Path, url: str, key_file: Path, *extra: str) -> tuple[int, str, str]:
    args = [str(file), "--tenant", "bergen", "--url", url, "--api-key-file", str(key_file)]
    result = CliRunner().invoke(CLI, [*args, *extra])
    return result.exit_code, result.stdout, result.stderr


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["event_id"] for item in items]


def test_every_line_is_sent_once_and_refusals_are_kept_without_values(
    tmp_path: Path, double: IntakeDouble, url: str, key_file: Path
) -> None:
    items = notifications(95)
    no_provider = dict(items[40], kind="provider_changed")
    no_provider.pop("provider_org_number", None)
    lines: list[dict[str, Any] | str] = [*items[:40], no_provider, "", *items[40:], "{not json"]
    file = write_ndjson(tmp_path / "events.ndjson", lines)
    code, stdout, stderr = run(
        file, url, key_file, "--batch-size", "10", "--messages-per-minute", "0"
    )
    assert code == 3, stdout + stderr
    assert sorted(double.event_ids) == sorted(ids(items))
    assert all(r.lines <= 10 for r in double.requests)
    assert {r.content_type for r in double.requests} == {"application/x-ndjson"}
    assert "complete" in stdout.splitlines()[0]
    assert "sent 97 events: 95 accepted (0 repeated), 2 refused" in stdout
    assert "refused by field: (event) 1, provider_org_number 1" in stdout
    refused = [
        json.loads(line)
        for line in (tmp_path / "events.ndjson.refused.ndjson").read_text().splitlines()
    ]
    assert [(r["line"], r["event_id"], r["status_code"]) for r in refused] == [
        (41, no_provider["event_id"], 422),
        (98, None, 422),
    ]
    assert refused[0]["reasons"][1] == {
        "field": "provider_org_number",
        "reason": "required for provider_changed",
    }
    everything = stdout + stderr + (tmp_path / "events.ndjson.refused.ndjson").read_text()
    assert not any(item["person"]["national_id"] in everything for item in items)
    state = load_state(tmp_path / "events.ndjson.backfill-state.json")
    assert state is not None
    assert state.done
    assert state.offset == file.stat().st_size
    # Done is done: a second run sends nothing and says so.
    sent_before = len(double.requests)
    code, stdout, stderr = run(file, url, key_file)
    assert code == 3
    assert len(double.requests) == sent_before
    assert "sent in full" in stderr


def test_repeats_are_counted_and_a_clean_file_exits_0(
    tmp_path: Path, double: IntakeDouble, url: str, key_file: Path
) -> None:
    file = write_ndjson(tmp_path / "events.ndjson", notifications(30))
    code, stdout, _ = run(file, url, key_file, "--messages-per-minute", "0")
    assert code == 0, stdout
    assert "sent 30 events: 30 accepted (0 repeated), 0 refused" in stdout
    code, stdout, _ = run(file, url, key_file, "--messages-per-minute", "0", "--restart")
    assert code == 0, stdout
    assert "sent 30 events: 30 accepted (30 repeated), 0 refused" in stdout


def test_a_stopped_run_goes_on_after_the_last_acknowledged_batch(
    tmp_path: Path, double: IntakeDouble, url: str, key_file: Path
) -> None:
    items = notifications(50)
    file = write_ndjson(tmp_path / "events.ndjson", items)
    double.forced[2] = (500, {})
    options = ("--batch-size", "10", "--in-flight", "1", "--messages-per-minute", "0")
    code, stdout, _ = run(file, url, key_file, *options)
    assert code == 1
    assert "stopped (lines 21-30: HTTP 500: forced: as scripted)" in stdout
    assert "acknowledged up to line 20" in stdout
    first_run = len(double.requests)
    assert first_run == 3
    code, stdout, _ = run(file, url, key_file, *options)
    assert code == 0, stdout
    assert "sent 50 events: 50 accepted" in stdout
    assert "after line 20" in stdout
    second_run = [e for r in double.requests[first_run:] for e in r.event_ids]
    assert second_run == ids(items[20:])
    assert Counter(double.event_ids) == Counter(ids(items)) + Counter(ids(items[20:30]))


def test_an_interrupted_run_resumes_without_losing_or_doubling_refusals(
    tmp_path: Path, double: IntakeDouble, url: str, key_file: Path
) -> None:
    items = notifications(60)
    broken = [dict(item, kind="no-such-kind") for item in items[::10]]
    file = write_ndjson(tmp_path / "events.ndjson", [*items, *broken])
    state_file = tmp_path / "events.ndjson.backfill-state.json"
    double.hold_from = 3  # answer three batches, then hang until interrupted
    # The command alone: `kprgw` itself imports every service (the demo), seconds more.
    command = [
        sys.executable,
        "-c",
        "import typer; typer.run(__import__('kpr_gateway.cli.backfill."
        "command', fromlist=['backfill']).backfill)",
        str(file),
        "--tenant",
        "bergen",
        "--url",
        url,
        "--api-key-file",
        str(key_file),
        "--batch-size",
        "10",
        "--in-flight",
        "2",
        "--messages-per-minute",
        "0",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            state = load_state(state_file) if state_file.exists() else None
            if state is not None and state.line >= 30:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the run did not acknowledge three batches")
        process.send_signal(signal.SIGINT)
        stdout, _ = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, stdout
    assert b"stopped (interrupted)" in stdout
    assert b"acknowledged up to line 30" in stdout
    double.hold_from = None
    double.release.set()
    code, stdout_text, _ = run(
        file, url, key_file, "--batch-size", "10", "--messages-per-minute", "0"
    )
    assert code == 3, stdout_text
    assert "sent 66 events: 60 accepted" in stdout_text
    assert set(double.event_ids) == set(ids(items))
    refused = [
        json.loads(line)
        for line in (tmp_path / "events.ndjson.refused.ndjson").read_text().splitlines()
    ]
    assert [r["line"] for r in refused] == list(range(61, 67))


def test_503_and_429_are_retried(
    tmp_path: Path, double: IntakeDouble, url: str, key_file: Path
) -> None:
    items = notifications(20)
    file = write_ndjson(tmp_path / "events.ndjson", items)
    double.forced[0] = (503, {"Retry-After": "0"})
    double.forced[1] = (429, {"Retry-After": "0"})
    code, stdout, stderr = run(
        file, url, key_file, "--batch-size", "10", "--in-flight", "1", "--messages-per-minute", "0"
    )
    assert code == 0, stdout + stderr
    assert "2 retries" in stdout
    assert "retry: lines 1-10: HTTP 503, trying again" in stderr
    assert "retry: lines 1-10: HTTP 429, trying again" in stderr
    assert sorted(set(double.event_ids)) == sorted(ids(items))


def test_retries_run_out(tmp_path: Path, double: IntakeDouble, url: str) -> None:
    file = write_ndjson(tmp_path / "events.ndjson", notifications(5))
    for number in range(3):
        double.forced[number] = (503, {})  # no Retry-After: our own backoff
    plan = BackfillPlan(
        file=file,
        tenant="bergen",
        url=url,
        api_key=API_KEY,
        state_file=tmp_path / "state.json",
        refused_file=tmp_path / "refused.ndjson",
        retry=RetryPolicy(attempts=3, base_seconds=0.01),
    )
    run_ = Backfill(plan, starting_state(plan))
    with pytest.raises(BackfillStoppedError, match=r"lines 1-5: HTTP 503, gave up after 3 tries"):
        asyncio.run(run_.run())
    run_.close()
    assert len(double.requests) == 3
    assert run_.retries == 2
    assert not (tmp_path / "state.json").exists()


def test_a_refused_key_stops_at_once(tmp_path: Path, double: IntakeDouble, url: str) -> None:
    file = write_ndjson(tmp_path / "events.ndjson", notifications(5))
    wrong = tmp_path / "wrong.key"
    wrong.write_text("kprgw_not-the-key")
    code, stdout, _ = run(file, url, wrong)
    assert code == 1
    assert "HTTP 401 (the API key was not accepted)" in stdout
    assert len(double.requests) == 1


def test_bursts_of_one_message_at_m_per_minute(
    tmp_path: Path, double: IntakeDouble, url: str, key_file: Path
) -> None:
    file = write_ndjson(tmp_path / "events.ndjson", notifications(60))
    started = time.monotonic()
    code, stdout, _ = run(
        file,
        url,
        key_file,
        "--batch-size",
        "10",
        "--events-per-message",
        "15",
        "--messages-per-minute",
        "300",
    )
    elapsed = time.monotonic() - started
    assert code == 0, stdout
    # Four bursts of 15 (10 + 5), one every 0.2 s: the last begins 0.6 s after the first.
    assert [r.lines for r in double.requests] == [10, 5] * 4
    assert elapsed >= 0.6


def test_usage_errors_exit_2(tmp_path: Path, url: str, key_file: Path) -> None:
    file = write_ndjson(tmp_path / "events.ndjson", notifications(3))
    result = CliRunner().invoke(CLI, [str(file), "--tenant", "bergen", "--url", url], env={})
    assert result.exit_code == 2
    assert "no API key" in result.stderr
    code, _, stderr = run(file, "ftp://127.0.0.1/", key_file)
    assert code == 2
    assert "--url" in stderr
    code, _, _ = run(file, url, key_file, "--messages-per-minute", "0")
    assert code == 0
    result = CliRunner().invoke(
        CLI, [str(file), "--tenant", "oslo", "--url", url], env={"KPRGW_API_KEY": API_KEY}
    )
    assert result.exit_code == 2
    assert "tenant bergen, not oslo" in result.stderr
    code, _, stderr = run(tmp_path / "absent.ndjson", url, key_file)
    assert code == 2
    assert stderr.startswith("error: ")


def test_memory_stays_flat_whatever_the_file_size(
    tmp_path: Path, double: IntakeDouble, url: str, key_file: Path
) -> None:
    """Peak memory (of this process: the stand-in intake included) for 1,000 and for
    12,000 lines (about 11 MB): a few batches and the client's fixed costs, not the file."""
    double.record = False
    base = notifications(50)
    padding = {"service_id": "T" * 100, "source_ref": "R" * 200}

    def peak_for(lines: int) -> tuple[int, int]:
        file = tmp_path / f"events-{lines}.ndjson"
        with file.open("w") as out:
            for n in range(lines):
                item = base[n % 50] | padding | {"event_id": f"00000000-0000-4000-8000-{n:012d}"}
                out.write(json.dumps(item) + "\n")
        tracemalloc.start()
        try:
            code, stdout, _ = run(
                file, url, key_file, "--batch-size", "100", "--messages-per-minute", "0"
            )
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert code == 0, stdout
        assert f"sent {lines:,} events" in stdout
        return peak, file.stat().st_size

    peak_for(300)  # imports and first-use caches, outside the comparison
    small, small_size = peak_for(1_000)
    large, large_size = peak_for(12_000)
    assert large_size > 10 * small_size
    # Timing decides how many batches are alive at once, so the peak varies a little; it
    # never follows the file.
    assert large < small * 1.5, (small, large)
    assert large < large_size / 4, (large, large_size)
