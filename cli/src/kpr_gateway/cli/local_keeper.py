"""Keeper of one detached service process: runs it as its child and keeps its exit code.

``kprgw local up`` ends while its services go on running, so the ``kprgw local down`` that
stops them later is not their parent and could not learn how they ended. Each service
therefore runs under this small keeper (standard library only, a few MB): it passes
SIGTERM and SIGINT on to the service, waits for it, and writes its exit code to a file.

    python -m kpr_gateway.cli.local_keeper PID_FILE EXIT_FILE -- COMMAND...
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType


def _write_atomically(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    os.replace(partial, path)  # a reader sees the whole value or none


def keep(pid_file: Path, exit_file: Path, command: list[str]) -> int:
    """Run ``command``, pass termination signals on, record and return its exit code."""
    child = subprocess.Popen(command)  # noqa: S603 - the caller's own service command
    _write_atomically(pid_file, str(child.pid))

    def pass_on(signum: int, _: FrameType | None) -> None:
        if child.poll() is None:
            child.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, pass_on)
    code = child.wait()
    _write_atomically(exit_file, str(code))
    return code


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[2] != "--":
        print("usage: local_keeper PID_FILE EXIT_FILE -- COMMAND...", file=sys.stderr)
        return 2
    code = keep(Path(argv[0]), Path(argv[1]), argv[3:])
    return code if code >= 0 else 128 - code  # killed by a signal: the shell's convention


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
