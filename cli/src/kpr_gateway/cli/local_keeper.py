"""Keeper of one detached service process: runs it as its child, restarts it when it ends on
its own (as a Deployment would), and keeps its final exit code.

``kprgw local up`` ends while its services go on running, so the ``kprgw local down`` that
stops them later is not their parent and could not learn how they ended. Each service
therefore runs under this small keeper (standard library only, a few MB):

- it passes SIGTERM and SIGINT on to the service; once asked to stop it never restarts it,
  and a keeper waiting out a backoff stops at once;
- a service that ends without the keeper having been asked to stop is started again after
  a backoff: ``BACKOFF`` (0.5 s, doubling up to 10 s; back to 0.5 s once a child ran 30 s).
  Kubernetes' CrashLoopBackOff goes from 10 s to 5 min; locally a crashed service should be
  back within seconds, the chaos run measures exactly that. ``--no-restart`` runs it once;
- each restart is appended to ``NAME.restarts`` (a JSON line: when, the exit code, how long
  the child ran, the backoff) and ``NAME.pid`` names the current child;
- before each start, one-shot environment changes are read from ``NAME.env-next`` (a JSON
  object, a null value unsets the variable) and the file is deleted: a test arms something
  for exactly the next start;
- a crash point armed in the keeper's own environment (``KPRGW_CRASH_POINT``) is for the
  first start only: it fires once, and the restarted service runs disarmed (or as
  ``NAME.env-next`` says), so a named-point crash does not loop;
- when it ends, the last child's exit code goes to ``NAME.exit`` (a signal N as 128 + N).

    python -m kpr_gateway.cli.local_keeper [--no-restart] KEEP_DIR NAME -- COMMAND...
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Final

CRASH_POINT_VARIABLES: Final = ("KPRGW_CRASH_POINT", "KPRGW_CRASH_POINT_AFTER")
"""Kept in step with ``kpr_gateway.runtime.crash_points`` (not imported: the keeper stays
small and loads no gateway library)."""
STOP_SIGNALS: Final = (signal.SIGTERM, signal.SIGINT)


@dataclass(frozen=True)
class Backoff:
    """How long to wait before a restart: ``initial`` doubling up to ``cap``; back to
    ``initial`` when the child that ended had run at least ``reset_after`` seconds."""

    initial: float = 0.5
    cap: float = 10.0
    reset_after: float = 30.0

    def next(self, previous: float | None, ran_seconds: float) -> float:
        if previous is None or ran_seconds >= self.reset_after:
            return self.initial
        return min(self.cap, previous * 2)


BACKOFF: Final = Backoff()


@dataclass(frozen=True)
class KeepFiles:
    """The files of one kept process, all in ``KEEP_DIR`` and named after it."""

    directory: Path
    name: str

    def _file(self, suffix: str) -> Path:
        return self.directory / f"{self.name}.{suffix}"

    @property
    def pid(self) -> Path:
        return self._file("pid")

    @property
    def exit(self) -> Path:
        return self._file("exit")

    @property
    def restarts(self) -> Path:
        return self._file("restarts")

    @property
    def env_next(self) -> Path:
        return self._file("env-next")


def write_atomically(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    os.replace(partial, path)  # a reader sees the whole value or none


def shell_code(returncode: int) -> int:
    """A child's return code as a shell shows it: killed by signal N is 128 + N."""
    return returncode if returncode >= 0 else 128 - returncode


class Keeper:
    def __init__(
        self,
        files: KeepFiles,
        command: list[str],
        *,
        restart: bool = True,
        backoff: Backoff = BACKOFF,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._files = files
        self._command = command
        self._restart = restart
        self._backoff = backoff
        self._environ = dict(os.environ if environ is None else environ)
        self._child: subprocess.Popen[bytes] | None = None
        self._stop_signal: int | None = None
        # A signal handler only writes a byte here: a backoff wait selects on it, so a stop
        # during the backoff ends the wait at once (no sleep to sit out).
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_write, False)

    def install(self) -> None:
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._on_stop)

    def _on_stop(self, signum: int, _: FrameType | None) -> None:
        self._stop_signal = signum
        with contextlib.suppress(BlockingIOError):
            os.write(self._wake_write, b"x")
        child = self._child
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    def run(self) -> int:
        """Start, restart while not asked to stop; the last child's exit code (shell form)."""
        code = 0
        delay: float | None = None
        first = True
        while self._stop_signal is None:
            started = time.monotonic()
            child = subprocess.Popen(  # noqa: S603 - the caller's own service command
                self._command, env=self._environment(first=first)
            )
            self._child = child
            write_atomically(self._files.pid, str(child.pid))
            if self._stop_signal is not None and child.poll() is None:
                child.send_signal(self._stop_signal)  # asked to stop while it was starting
            code = shell_code(child.wait())
            first = False
            if self._stop_signal is not None or not self._restart:
                break
            ran = time.monotonic() - started
            delay = self._backoff.next(delay, ran)
            self._note_restart(code, ran, delay)
            if self._interrupted_within(delay):
                break
        write_atomically(self._files.exit, str(code))
        return code

    def _environment(self, *, first: bool) -> dict[str, str]:
        env = dict(self._environ)
        if not first:
            for name in CRASH_POINT_VARIABLES:
                env.pop(name, None)
        for name, value in self._env_next().items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
        return env

    def _env_next(self) -> dict[str, str | None]:
        path = self._files.env_next
        try:
            text = path.read_text()
        except FileNotFoundError:
            return {}
        path.unlink(missing_ok=True)  # one-shot, whatever it holds
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if not isinstance(data, dict) or not all(
            isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in data.items()
        ):
            print(f"keeper: {path} is not a JSON object of strings; ignored", file=sys.stderr)
            return {}
        return data

    def _note_restart(self, code: int, ran: float, delay: float) -> None:
        entry = {
            "at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "exit_code": code,
            "ran_seconds": round(ran, 3),
            "backoff_seconds": delay,
        }
        with self._files.restarts.open("a") as restarts:
            restarts.write(json.dumps(entry) + "\n")

    def _interrupted_within(self, seconds: float) -> bool:
        """Wait ``seconds``; True when asked to stop meanwhile (at once, not at the end)."""
        deadline = time.monotonic() + seconds
        while self._stop_signal is None:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            select.select([self._wake_read], [], [], left)
        return True


def keep(
    keep_dir: Path,
    name: str,
    command: list[str],
    *,
    restart: bool = True,
    backoff: Backoff = BACKOFF,
) -> int:
    """Run ``command`` under a keeper in this process (signals installed); its exit code."""
    keeper = Keeper(KeepFiles(keep_dir, name), command, restart=restart, backoff=backoff)
    keeper.install()
    return keeper.run()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m kpr_gateway.cli.local_keeper",
        description="Run a service, restart it with backoff when it ends on its own.",
    )
    parser.add_argument("--no-restart", action="store_true", help="run the command once")
    parser.add_argument("--backoff-initial", type=float, default=BACKOFF.initial)
    parser.add_argument("--backoff-cap", type=float, default=BACKOFF.cap)
    parser.add_argument("--backoff-reset-after", type=float, default=BACKOFF.reset_after)
    parser.add_argument("keep_dir", type=Path)
    parser.add_argument("name")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    return parser


def main(argv: list[str]) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    command = list(args.command)
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        parser.print_usage(sys.stderr)
        return 2
    backoff = Backoff(args.backoff_initial, args.backoff_cap, args.backoff_reset_after)
    return keep(args.keep_dir, args.name, command, restart=not args.no_restart, backoff=backoff)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
