"""Reading the NDJSON file batch by batch, from a byte offset, never all of it at once."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Batch:
    """Consecutive non-blank lines of the file, as one request's body."""

    number: int
    """Position among the batches of this run, from 0."""
    end: int
    """Byte offset just past its last line: where the next run starts once it is acknowledged."""
    end_line: int
    """The number of the file's last line up to ``end`` (blank lines included)."""
    lines: tuple[bytes, ...]
    line_numbers: tuple[int, ...]
    """The file's line number (from 1) of each line sent."""

    @property
    def body(self) -> bytes:
        return b"\n".join(self.lines) + b"\n"

    @property
    def where(self) -> str:
        return f"lines {self.line_numbers[0]}-{self.line_numbers[-1]}"


class BatchReader:
    """The batches of a file after ``offset`` (which follows line ``line``); each takes as many
    non-blank lines as the next number of ``sizes`` says (the last may be shorter). Blank
    lines count for line numbers but are not sent. After the last batch, ``position`` and
    ``line`` are the file's end."""

    def __init__(self, path: Path, *, offset: int, line: int, sizes: Iterator[int]) -> None:
        self._path = path
        self._sizes = sizes
        self.position = offset
        self.line = line

    def __iter__(self) -> Iterator[Batch]:
        number = 0
        wanted = next(self._sizes)
        lines: list[bytes] = []
        numbers: list[int] = []
        with self._path.open("rb") as handle:
            if self.position:
                handle.seek(self.position)  # from the start needs no seek (a pipe cannot)
            for raw in handle:
                self.line += 1
                self.position += len(raw)
                text = raw.rstrip(b"\r\n")
                if not text.strip():
                    continue
                lines.append(text)
                numbers.append(self.line)
                if len(lines) == wanted:
                    yield Batch(number, self.position, self.line, tuple(lines), tuple(numbers))
                    number += 1
                    lines, numbers = [], []
                    wanted = next(self._sizes)
        if lines:
            yield Batch(number, self.position, self.line, tuple(lines), tuple(numbers))
