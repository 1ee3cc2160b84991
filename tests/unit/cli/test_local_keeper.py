"""The keeper under ``kprgw local up``: restarts with backoff, stops at once when asked (also
during a backoff), one-shot environment changes, and a crash point that fires only once."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kpr_gateway.cli.local_keeper import Backoff, KeepFiles
from kpr_gateway.cli.local_processes import KeptProcess, stop_kept

# Each start appends a line (its pid and the variables the tests look at), then behaves as
# argv says. "kpr_gateway" in its command line makes it one of ours for `is_running`.
CHILD = """
import json, os, signal, sys, time
with open(sys.argv[1], "a") as log:
    names = ("KPRGW_CRASH_POINT", "KPRGW_CRASH_POINT_AFTER", "EXTRA", "BASE")
    log.write(json.dumps({"pid": os.getpid(), **{n: os.environ.get(n) for n in names}}) + "\\n")
mode, argument = sys.argv[2], float(sys.argv[3])
if mode == "exit":
    time.sleep(argument)
    sys.exit(3)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
while True:
    time.sleep(0.02)
"""
NAME = "svc"


class Kept:
    """A keeper started as ``kprgw local up`` starts one, around the child above."""

    def __init__(self, tmp_path: Path) -> None:
        self.keep_dir = tmp_path / "keep"
        self.keep_dir.mkdir()
        self.files = KeepFiles(self.keep_dir, NAME)
        self.starts_file = tmp_path / "starts.jsonl"
        self.keeper: subprocess.Popen[bytes] | None = None

    def start(
        self,
        mode: str,
        argument: float = 0.0,
        *,
        backoff: Backoff,
        restart: bool = True,
        env: dict[str, str] | None = None,
    ) -> subprocess.Popen[bytes]:
        command = [
            sys.executable,
            "-m",
            "kpr_gateway.cli.local_keeper",
            *([] if restart else ["--no-restart"]),
            "--backoff-initial",
            str(backoff.initial),
            "--backoff-cap",
            str(backoff.cap),
            "--backoff-reset-after",
            str(backoff.reset_after),
            str(self.keep_dir),
            NAME,
            "--",
            sys.executable,
            "-c",
            CHILD,
            str(self.starts_file),
            mode,
            str(argument),
            "kpr_gateway-test-child",
        ]
        self.keeper = subprocess.Popen(
            command, env={**os.environ, **(env or {})}, start_new_session=True
        )
        return self.keeper

    def starts(self) -> list[dict[str, Any]]:
        try:
            return [json.loads(line) for line in self.starts_file.read_text().splitlines()]
        except FileNotFoundError:
            return []

    def restarts(self) -> list[dict[str, Any]]:
        try:
            return [json.loads(line) for line in self.files.restarts.read_text().splitlines()]
        except FileNotFoundError:
            return []

    def pid(self) -> int:
        return int(self.files.pid.read_text())

    def stop(self, timeout: float = 10.0) -> int:
        assert self.keeper is not None
        self.keeper.send_signal(signal.SIGTERM)
        return self.keeper.wait(timeout=timeout)


def wait_until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


@pytest.fixture
def kept(tmp_path: Path) -> Iterator[Kept]:
    kept = Kept(tmp_path)
    yield kept
    if kept.keeper is not None and kept.keeper.poll() is None:
        kept.keeper.kill()
        kept.keeper.wait()
    for start in kept.starts():  # no child outlives the test
        with contextlib.suppress(ProcessLookupError):
            os.kill(start["pid"], signal.SIGKILL)


FAST = Backoff(initial=0.05, cap=0.2, reset_after=30.0)


def test_backoff_doubles_up_to_its_cap_and_resets_after_a_long_run() -> None:
    backoff = Backoff(initial=0.5, cap=10.0, reset_after=30.0)
    delays: list[float] = []
    previous = None
    for _ in range(8):
        previous = backoff.next(previous, ran_seconds=1.0)
        delays.append(previous)
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]
    assert backoff.next(10.0, ran_seconds=30.0) == 0.5
    assert backoff.next(10.0, ran_seconds=29.9) == 10.0


def test_a_child_that_ends_is_restarted_with_growing_backoff(kept: Kept) -> None:
    kept.start("exit", backoff=FAST)
    wait_until(lambda: len(kept.restarts()) >= 5)
    assert kept.stop() == 3
    restarts = kept.restarts()
    assert [r["backoff_seconds"] for r in restarts[:5]] == [0.05, 0.1, 0.2, 0.2, 0.2]
    assert {r["exit_code"] for r in restarts} == {3}
    starts = kept.starts()
    assert len(starts) in {len(restarts), len(restarts) + 1}  # stopped in a backoff, or not
    assert len({s["pid"] for s in starts}) == len(starts)
    assert kept.pid() == starts[-1]["pid"]  # the pid file names the latest child
    assert kept.files.exit.read_text() == "3"


def test_the_backoff_starts_over_after_a_child_ran_long_enough(kept: Kept) -> None:
    kept.start("exit", 0.25, backoff=Backoff(initial=0.05, cap=1.0, reset_after=0.2))
    wait_until(lambda: len(kept.restarts()) >= 3)
    kept.stop()
    assert {r["backoff_seconds"] for r in kept.restarts()} == {0.05}


def test_kill_9_of_the_child_is_restarted_and_the_pid_file_follows(kept: Kept) -> None:
    kept.start("run", backoff=FAST)
    wait_until(lambda: len(kept.starts()) == 1)
    first = kept.pid()
    os.kill(first, signal.SIGKILL)
    wait_until(lambda: len(kept.starts()) == 2)
    wait_until(lambda: kept.pid() != first)
    assert kept.pid() == kept.starts()[1]["pid"]
    assert [r["exit_code"] for r in kept.restarts()] == [128 + signal.SIGKILL]
    assert kept.stop() == 0  # SIGTERM reached the child, which drained and exited 0
    assert kept.files.exit.read_text() == "0"
    assert len(kept.starts()) == 2


def test_a_stop_during_the_backoff_stops_at_once(kept: Kept) -> None:
    kept.start("exit", backoff=Backoff(initial=30.0, cap=60.0, reset_after=100.0))
    wait_until(lambda: len(kept.restarts()) == 1)
    started = time.monotonic()
    assert kept.stop(timeout=5) == 3
    assert time.monotonic() - started < 2
    assert len(kept.starts()) == 1
    assert kept.files.exit.read_text() == "3"


async def test_local_down_stops_a_keeper_waiting_out_its_backoff(kept: Kept) -> None:
    keeper = kept.start("exit", backoff=Backoff(initial=30.0, cap=60.0, reset_after=100.0))
    wait_until(lambda: len(kept.restarts()) == 1)
    process = KeptProcess(NAME, keeper.pid, 0, kept.keep_dir / "svc.log", kept.keep_dir)
    assert process.keeper_running()
    assert not process.service_running()
    assert [r.exit_code for r in process.restarts()] == [3]
    started = time.monotonic()
    codes = await stop_kept([process], timeout=10)
    assert codes == {NAME: 3}
    assert time.monotonic() - started < 2
    assert not process.keeper_running()


def test_without_restart_the_child_runs_once(kept: Kept) -> None:
    keeper = kept.start("exit", backoff=FAST, restart=False)
    assert keeper.wait(timeout=10) == 3
    assert len(kept.starts()) == 1
    assert not kept.files.restarts.exists()
    assert kept.files.exit.read_text() == "3"


def test_a_stop_is_passed_on_and_nothing_restarts(kept: Kept) -> None:
    kept.start("run", backoff=FAST)
    wait_until(lambda: len(kept.starts()) == 1)
    assert kept.stop() == 0
    time.sleep(0.2)
    assert len(kept.starts()) == 1
    assert not kept.files.restarts.exists()


def test_env_next_applies_to_the_next_start_only(kept: Kept) -> None:
    kept.files.env_next.write_text(json.dumps({"EXTRA": "armed", "BASE": None}))
    kept.start("exit", backoff=FAST, env={"BASE": "kept"})
    wait_until(lambda: len(kept.starts()) >= 3)
    starts = kept.starts()
    assert (starts[0]["EXTRA"], starts[0]["BASE"]) == ("armed", None)
    assert {(s["EXTRA"], s["BASE"]) for s in starts[1:]} == {(None, "kept")}
    assert not kept.files.env_next.exists()
    # written while it runs: the next restart takes it, and only that one
    count = len(kept.starts())
    kept.files.env_next.write_text(json.dumps({"EXTRA": "later"}))
    wait_until(lambda: not kept.files.env_next.exists())
    wait_until(lambda: len(kept.starts()) >= count + 3)
    kept.stop()
    later = [s["EXTRA"] for s in kept.starts()[count:]]
    assert later.count("later") == 1
    assert later[later.index("later") + 1 :] == [None] * (len(later) - later.index("later") - 1)


def test_a_crash_point_of_the_first_start_is_not_carried_into_restarts(kept: Kept) -> None:
    armed = {"KPRGW_CRASH_POINT": "transform.after_commit", "KPRGW_CRASH_POINT_AFTER": "2"}
    kept.start("exit", backoff=FAST, env=armed)
    wait_until(lambda: len(kept.starts()) >= 3)
    kept.stop()
    starts = kept.starts()
    first = (starts[0]["KPRGW_CRASH_POINT"], starts[0]["KPRGW_CRASH_POINT_AFTER"])
    assert first == ("transform.after_commit", "2")
    assert {(s["KPRGW_CRASH_POINT"], s["KPRGW_CRASH_POINT_AFTER"]) for s in starts[1:]} == {
        (None, None)
    }


def test_a_crash_point_armed_for_a_restart_fires_once(kept: Kept) -> None:
    """What the chaos run does: arm the next start, kill the child; the restart carries the
    point, the one after it does not."""
    kept.start("run", backoff=FAST)
    wait_until(lambda: len(kept.starts()) == 1)
    kept.files.env_next.write_text(json.dumps({"KPRGW_CRASH_POINT": "dispatch.after_send"}))
    os.kill(kept.pid(), signal.SIGKILL)
    wait_until(lambda: len(kept.starts()) == 2)
    os.kill(kept.starts()[1]["pid"], signal.SIGKILL)  # as the point would end it
    wait_until(lambda: len(kept.starts()) == 3)
    assert kept.stop() == 0
    assert [s["KPRGW_CRASH_POINT"] for s in kept.starts()] == [None, "dispatch.after_send", None]


def test_an_unreadable_env_next_is_dropped(kept: Kept) -> None:
    kept.files.env_next.write_text("[1, 2]")
    keeper = kept.start("exit", backoff=FAST, restart=False)
    assert keeper.wait(timeout=10) == 3
    assert kept.starts()[0]["EXTRA"] is None
    assert not kept.files.env_next.exists()
