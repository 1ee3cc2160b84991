"""Municipality numbers by validity period, and which numbers led to which.

The table is ``reference/data/municipalities.csv`` (its header names the source: SSB's
classification 131). It is read once; every question asked per event is a dictionary
look-up and a scan of at most a few periods.
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from importlib import resources
from itertools import pairwise

from kpr_gateway.reference.errors import ReferenceDataError

_NUMBER = re.compile(r"[0-9]{4}")
_COLUMNS = ["number", "name", "valid_from", "valid_to", "successors"]
DATA_FILE = "municipalities.csv"


@dataclass(frozen=True, slots=True)
class MunicipalityPeriod:
    """One number in use by one municipality from ``valid_from`` until ``valid_to`` (exclusive)."""

    number: str
    name: str
    valid_from: date
    valid_to: date | None
    successors: tuple[str, ...] = ()

    def valid_on(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day < self.valid_to)

    @property
    def last_day(self) -> date | None:
        return None if self.valid_to is None else self.valid_to - timedelta(days=1)

    def describe(self) -> str:
        """``"3024 Bærum"``: the number and the name it had in this period."""
        return f"{self.number} {self.name}"


class MunicipalityTable:
    """Which municipality numbers were valid when, and which number took over from which."""

    def __init__(self, periods: Iterable[MunicipalityPeriod]) -> None:
        by_number: dict[str, list[MunicipalityPeriod]] = defaultdict(list)
        for period in periods:
            by_number[period.number].append(period)
        if not by_number:
            raise ReferenceDataError("the municipality table is empty")
        self._periods = {
            number: tuple(sorted(rows, key=lambda p: p.valid_from))
            for number, rows in by_number.items()
        }
        predecessors: dict[str, set[str]] = defaultdict(set)
        for rows in self._periods.values():
            _require_no_overlap(rows)
            for period in rows:
                for successor in period.successors:
                    if successor not in self._periods:
                        raise ReferenceDataError(
                            f"municipality {period.number} names unknown successor {successor}"
                        )
                    predecessors[successor].add(period.number)
        self._predecessors = {number: frozenset(rows) for number, rows in predecessors.items()}
        self.first_day = min(rows[0].valid_from for rows in self._periods.values())
        self._lineages: dict[str, frozenset[str]] = {}

    def __contains__(self, number: object) -> bool:
        return number in self._periods

    def periods(self, number: str) -> tuple[MunicipalityPeriod, ...]:
        return self._periods.get(number, ())

    def on(self, number: str, day: date) -> MunicipalityPeriod | None:
        """The period of ``number`` that covers ``day``, or None if it was not in use then.

        Days before the table's first day are answered as of its first day: the table does
        not go further back.
        """
        day = max(day, self.first_day)
        for period in self._periods.get(number, ()):
            if period.valid_on(day):
                return period
        return None

    def in_use_throughout(self, number: str, first: date, last: date) -> bool:
        """True when ``number`` was in use on every day from ``first`` to ``last`` (inclusive),
        under one period or adjoining ones (a renaming keeps the number)."""
        day = max(first, self.first_day)
        while day <= last:
            period = self.on(number, day)
            if period is None:
                return False
            if period.valid_to is None:
                return True
            day = period.valid_to
        return True

    def valid_on(self, day: date) -> list[MunicipalityPeriod]:
        """Every municipality in use on ``day``, by number."""
        day = max(day, self.first_day)
        return sorted(
            (p for rows in self._periods.values() for p in rows if p.valid_on(day)),
            key=lambda p: p.number,
        )

    def lineage(self, number: str) -> frozenset[str]:
        """``number`` and every number whose successors lead to it: the numbers the same
        municipality, or a municipality it took over, has had since the table begins."""
        known = self._lineages.get(number)
        if known is not None:
            return known
        found = {number}
        todo = [number]
        while todo:
            for predecessor in self._predecessors.get(todo.pop(), ()):
                if predecessor not in found:
                    found.add(predecessor)
                    todo.append(predecessor)
        lineage = frozenset(found)
        self._lineages[number] = lineage
        return lineage

    @classmethod
    def from_csv(cls, text: str, *, source: str) -> MunicipalityTable:
        """Parse the table format (see the data file's header); ``#`` lines are comments."""
        lines = [
            (number, line)
            for number, line in enumerate(text.splitlines(), start=1)
            if line.strip() and not line.startswith("#")
        ]
        if not lines or next(csv.reader([lines[0][1]])) != _COLUMNS:
            raise ReferenceDataError(f"{source}: the first row must be {','.join(_COLUMNS)}")
        periods = []
        for (line_number, _), row in zip(
            lines[1:], csv.reader(line for _, line in lines[1:]), strict=True
        ):
            try:
                periods.append(_period(row))
            except ValueError as exc:
                raise ReferenceDataError(f"{source}: line {line_number}: {exc}") from exc
        return cls(periods)


@cache
def load_municipalities() -> MunicipalityTable:
    """The table shipped with this package, read once per process."""
    data = resources.files("kpr_gateway.reference").joinpath("data", DATA_FILE)
    return MunicipalityTable.from_csv(data.read_text(encoding="utf-8"), source=DATA_FILE)


def _period(row: list[str]) -> MunicipalityPeriod:
    if len(row) != len(_COLUMNS):
        raise ValueError(f"expected {len(_COLUMNS)} columns, found {len(row)}")
    number, name, valid_from, valid_to, successors = (cell.strip() for cell in row)
    if not _NUMBER.fullmatch(number):
        raise ValueError("number must be 4 digits")
    if not name:
        raise ValueError("name is empty")
    start = date.fromisoformat(valid_from)
    end = date.fromisoformat(valid_to) if valid_to else None
    if end is not None and end <= start:
        raise ValueError("valid_to must be after valid_from")
    following = tuple(successors.split())
    if any(not _NUMBER.fullmatch(s) for s in following):
        raise ValueError("successors must be 4-digit numbers")
    if following and end is None:
        raise ValueError("a number still in use has no successors")
    return MunicipalityPeriod(number, name, start, end, following)


def _require_no_overlap(rows: tuple[MunicipalityPeriod, ...]) -> None:
    for earlier, later in pairwise(rows):
        if earlier.valid_to is None or earlier.valid_to > later.valid_from:
            raise ReferenceDataError(f"municipality {later.number} has overlapping periods")
