"""The chart's README keeps pace with values.yaml: a row for every top-level key and for every
key of a service's section, and no row for a key that is gone."""

from __future__ import annotations

import re
from typing import Any

import yaml

from tests.unit.chart.rendering import CHART_DIR, SERVICES

README = (CHART_DIR / "README.md").read_text()
VALUES: dict[str, Any] = yaml.safe_load((CHART_DIR / "values.yaml").read_text())


def table_after(heading: str) -> list[str]:
    """The keys (the first column, `key`) of the Markdown table that follows ``heading``."""
    lines = README.split(heading, 1)[1].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    return re.findall(r"^\| `([A-Za-z]+)` \|", "\n".join(lines[start:end]), re.MULTILINE)


def test_every_top_level_value_has_a_row() -> None:
    rows = table_after("Every top-level key of `values.yaml`")
    assert rows == list(VALUES), "the values table lists the keys of values.yaml, in its order"


def test_every_key_of_a_service_has_a_row() -> None:
    rows = table_after("Each service's own keys:")
    keys = {key for service in SERVICES for key in VALUES[service]}
    assert set(rows) == keys
    assert len(rows) == len(set(rows))


def test_the_tables_are_checked_for_real() -> None:
    # A table read wrongly (no rows at all) would pass the comparisons above only by luck.
    assert "intake" in table_after("Every top-level key of `values.yaml`")
    assert "digest" not in table_after("Each service's own keys:")
    assert "pdb" in table_after("Each service's own keys:")
