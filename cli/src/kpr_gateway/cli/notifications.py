"""Reading notifications (the JSON event contract) from an NDJSON file for offline commands."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from kpr_gateway.cli.output import fail
from kpr_gateway.messages.iplos_kpr import Notification, describe_errors


def read_notifications(path: Path) -> list[Notification]:
    """Every notification of ``path`` in file order; a bad line fails with its number and its
    field reasons (never a value: a line may hold a national id)."""
    try:
        lines = path.read_bytes().splitlines()
    except OSError as exc:
        fail(f"{path}: cannot be read ({exc.strerror or type(exc).__name__})")
    notifications = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            notifications.append(Notification.model_validate_json(line))
        except ValidationError as exc:
            reasons = "; ".join(f"{e['field']}: {e['reason']}" for e in describe_errors(exc))
            fail(f"{path} line {number}: {reasons}")
    if not notifications:
        fail(f"{path}: no notifications")
    return notifications
