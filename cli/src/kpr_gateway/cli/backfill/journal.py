"""What has been acknowledged: batches come back in any order (several are in flight), but
the state file only moves past a batch once every batch before it is acknowledged too.

The refused file goes with the state: refusals are written, in file order, as the state moves
past their batch, and the state records the refused file's size, so a resumed run first cuts
off what a batch beyond the state had written (it is sent, and written, again).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from kpr_gateway.cli.backfill.answers import BatchOutcome
from kpr_gateway.cli.backfill.reader import Batch
from kpr_gateway.cli.backfill.state import BackfillState, save_state


class Journal:
    def __init__(
        self,
        state: BackfillState,
        state_path: Path,
        refused_path: Path,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.state = state
        self._state_path = state_path
        self._clock = clock
        self._started = clock()
        self._seconds_before = state.seconds
        self._waiting: dict[int, tuple[Batch, BatchOutcome]] = {}
        self._next = 0
        self._refused = _open_refused(refused_path, state.refused_bytes)

    def acknowledge(self, batch: Batch, outcome: BatchOutcome) -> None:
        """Record ``batch``; move the state past every batch now acknowledged in order."""
        self._waiting[batch.number] = (batch, outcome)
        moved = False
        while self._next in self._waiting:
            self._apply(*self._waiting.pop(self._next))
            self._next += 1
            moved = True
        if moved:
            self._save()

    def finish(self, position: int, line: int) -> None:
        """Every batch is acknowledged and the file is read to ``position`` (its end)."""
        self.state.offset = position
        self.state.line = line
        self.state.done = True
        self._save()

    def close(self) -> None:
        self._refused.close()

    @property
    def run_seconds(self) -> float:
        return self._clock() - self._started

    def _apply(self, batch: Batch, outcome: BatchOutcome) -> None:
        state = self.state
        state.offset = batch.end
        state.line = batch.end_line
        state.sent += outcome.sent
        state.accepted += outcome.accepted
        state.repeated += outcome.repeated
        state.refused += len(outcome.refusals)
        state.count_refusals(outcome.refused_fields())
        for refusal in outcome.refusals:
            self._refused.write(refusal.to_json_line())

    def _save(self) -> None:
        self._refused.flush()
        self.state.refused_bytes = self._refused.tell()
        self.state.seconds = self._seconds_before + self.run_seconds
        save_state(self._state_path, self.state)


def _open_refused(path: Path, keep_bytes: int) -> BinaryIO:
    """The refused file for appending, cut back to ``keep_bytes`` (nothing on a fresh start)."""
    handle = path.open("ab")
    if handle.tell() > keep_bytes:
        handle.truncate(keep_bytes)
        handle.seek(keep_bytes)
    return handle
