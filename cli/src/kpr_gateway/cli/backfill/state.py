"""The state file: where the next run goes on, and what the runs so far have counted.

It names the file it belongs to (path, size and a digest of its first 64 KiB), the tenant and
the URL, so a run never resumes another file's or another gateway's backfill. It is replaced
atomically (written beside it, then renamed) after each acknowledged batch.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from pathlib import Path
from typing import Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kpr_gateway.cli.backfill.errors import StateMismatchError

_HEAD_BYTES: Final = 64 * 1024
STATE_VERSION: Final = 1


class FileIdentity(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str
    size: int
    head_sha256: str

    @classmethod
    def of(cls, path: Path) -> FileIdentity:
        with path.open("rb") as handle:
            head = handle.read(_HEAD_BYTES)
        return cls(
            path=str(path.resolve()),
            size=path.stat().st_size,
            head_sha256=hashlib.sha256(head).hexdigest(),
        )


class BackfillState(BaseModel):
    """Progress and counts up to the last batch acknowledged with all batches before it."""

    model_config = ConfigDict(extra="forbid")

    version: int = STATE_VERSION
    file: FileIdentity
    tenant: str
    url: str
    offset: int = 0
    """Byte offset after the last acknowledged batch: the next run starts here."""
    line: int = 0
    """The line number at ``offset`` (lines before it, blank ones included)."""
    done: bool = False
    sent: int = 0
    accepted: int = 0
    repeated: int = 0
    refused: int = 0
    refused_by_field: dict[str, int] = Field(default_factory=dict)
    refused_bytes: int = 0
    """Size of the refused file that goes with this state (a longer one is cut back)."""
    seconds: float = 0.0
    """Time spent sending, summed over the runs."""

    def count_refusals(self, fields: Counter[str]) -> None:
        merged = Counter(self.refused_by_field)
        merged.update(fields)
        self.refused_by_field = dict(merged)

    def check_belongs(self, file: FileIdentity, tenant: str, url: str) -> None:
        for what, mine, theirs in (
            ("file", self.file.path, file.path),
            ("tenant", self.tenant, tenant),
            ("URL", self.url, url),
        ):
            if mine != theirs:
                raise StateMismatchError(
                    f"the state file is for {what} {mine}, not {theirs}: "
                    "pass --restart to start over, or another --state-file"
                )
        if self.file != file:
            raise StateMismatchError(
                "the file changed since the state file was written (size or beginning): "
                "pass --restart to send it again from the start (repeats are harmless)"
            )


def load_state(path: Path) -> BackfillState | None:
    """The state in ``path``, or None when there is none yet."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise StateMismatchError(f"{path}: cannot be read ({type(exc).__name__})") from exc
    try:
        state = BackfillState.model_validate_json(text)
    except ValidationError as exc:
        raise StateMismatchError(
            f"{path}: not a backfill state file ({exc.error_count()} problems); "
            "pass --restart to start over"
        ) from None
    if state.version != STATE_VERSION:
        raise StateMismatchError(f"{path}: state version {state.version}, expected {STATE_VERSION}")
    return state


def save_state(path: Path, state: BackfillState) -> None:
    """Write ``state`` beside ``path`` and rename it over ``path``: never half a file."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(state.model_dump_json(indent=1), encoding="utf-8")
    os.replace(partial, path)
