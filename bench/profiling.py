"""Optional sampling profiles of every service during a benchmark part (``--profile``).

Uses py-spy (``uv tool install py-spy``; a separate program that reads the processes from
outside, so the services need no change). It samples without pausing them (--nonblocking);
the figures of a profiled run are a little lower than those of a plain one. Each part leaves
one file of collapsed stacks per service in bench/results/profiles/, and the summary lists
the functions with the most samples of their own and the calls that hold the most samples.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

PROFILES = Path(__file__).parent / "results" / "profiles"


def py_spy() -> str | None:
    found = shutil.which("py-spy") or str(Path.home() / ".local" / "bin" / "py-spy")
    return found if Path(found).is_file() else None


class Profiler:
    def __init__(self, executable: str, pids: Mapping[str, int], *, rate: int = 100) -> None:
        self._executable = executable
        self._pids = dict(pids)
        self._rate = rate
        self._running: list[subprocess.Popen[bytes]] = []
        PROFILES.mkdir(parents=True, exist_ok=True)

    def start(self, part: str) -> None:
        for name, pid in self._pids.items():
            self._running.append(
                subprocess.Popen(  # noqa: S603 - py-spy on our own processes
                    [
                        self._executable,
                        "record",
                        "--pid",
                        str(pid),
                        "--rate",
                        str(self._rate),
                        "--format",
                        "raw",
                        "--nonblocking",
                        "--output",
                        str(PROFILES / f"{part}-{name}.txt"),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )

    def stop(self) -> None:
        for process in self._running:
            process.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        for process in self._running:
            process.wait(timeout=30)
        self._running.clear()


@dataclass(frozen=True)
class Hotspots:
    samples: int
    own: list[tuple[float, str]]
    inclusive: list[tuple[float, str]]
    project: list[tuple[float, str]]
    """Inclusive, the gateway's own functions only: which of its steps cost the most."""


_PROJECT = tuple(
    f"({package}/"
    for package in (
        "intake",
        "transform",
        "envelope",
        "dispatch",
        "receipts",
        "simulator",
        "ledger",
        "pipeline",
        "messages",
        "security",
        "nhn",
        "tenancy",
        "observability",
        "registry",
    )
)
_PLUMBING = ("asyncio/", "runpy", "__main__", "runtime/runner.py", "anyio/", "uvicorn/")


def hotspots(path: Path, *, top: int = 12) -> Hotspots:
    """The functions holding the most samples: of their own, and including their callees
    (the event loop's and the server's own frames left out of the latter)."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    project: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        total += samples
        frames = stack.split(";")
        own[frames[-1]] += samples
        for frame in set(frames):
            if not any(part in frame for part in _PLUMBING):
                inclusive[frame] += samples
            if any(part in frame for part in _PROJECT) and "__main__" not in frame:
                project[frame] += samples

    def shares(counter: Counter[str]) -> list[tuple[float, str]]:
        return (
            [(round(100 * n / total, 1), f) for f, n in counter.most_common(top)] if total else []
        )

    return Hotspots(total, shares(own), shares(inclusive), shares(project))
