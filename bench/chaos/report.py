"""The chaos run's tables: the invariants, the faults by kind, and each fault."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.table import Table

STATE_LABELS = {
    "acknowledged": "acknowledged",
    "acknowledged_with_errors": "acknowledged with errors",
    "rejected": "rejected by KPR (AppRec status 2)",
    "transport_error": "transport error",
    "overdue": "overdue (no AppRec: the silent simulator)",
    "refused": "refused (over the size limit)",
    "rejected_invalid": "rejected as invalid",
    "suppressed_test_person": "suppressed (test person)",
    "not_reportable": "not reportable",
}


def fault_kinds(recoveries: list[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per kind of fault: how many, how many recovered, the longest recovery and ready times."""
    kinds: dict[str, dict[str, Any]] = {}
    for item in recoveries:
        kind = kinds.setdefault(
            item["kind"], {"count": 0, "recovered": 0, "max_recovery_seconds": None}
        )
        kind["count"] += 1
        if item["recovered"]:
            kind["recovered"] += 1
            seconds = item["recovery_seconds"]
            previous = kind["max_recovery_seconds"]
            kind["max_recovery_seconds"] = seconds if previous is None else max(previous, seconds)
    return kinds


def print_report(result: Mapping[str, Any], console: Console | None = None) -> None:
    console = console or Console()
    console.print(invariants_table(result))
    recoveries = result["verdict"]["recoveries"]
    console.print(kinds_table(recoveries))
    console.print(faults_table(result["schedule"], recoveries))
    verdict = result["verdict"]
    if verdict["passed"]:
        console.print(
            "[bold green]PASS[/bold green]: 0 lost, 0 unexplained duplicates, "
            "every chain whole, every fault recovered"
        )
        return
    console.print(f"[bold red]FAIL[/bold red]: {'; '.join(verdict['failures'])}")
    examples = verdict["lost_examples"] + verdict["duplicates"]["unexplained_examples"]
    for example in examples:
        console.print(f"  {example}", highlight=False)


def invariants_table(result: Mapping[str, Any]) -> Table:
    verdict, load = result["verdict"], result["load"]
    table = Table(title="KPR Gateway chaos run", caption=f"$ {result['command']}")
    table.add_column("invariant")
    table.add_column("value", justify="right")
    retries = ", ".join(f"{n} after {cause}" for cause, n in sorted(load["retries"].items()))
    table.add_row(
        "accepted events (answered 202)",
        f"{verdict['accepted']:,} ({load['batches_posted']} batches; retried: {retries or 'none'})",
    )
    for state, count in sorted(verdict["final_by_state"].items(), key=lambda s: -s[1]):
        table.add_row(f"  final: {STATE_LABELS.get(state, state)}", f"{count:,}")
    lost = verdict["lost"]
    reasons = "; ".join(f"{n} {why}" for why, n in verdict["lost_by_reason"].items())
    table.add_row(
        "lost (accepted, not final or unknown)", f"{lost}" + (f" ({reasons})" if lost else "")
    )
    duplicates = verdict["duplicates"]
    table.add_row("duplicated, unexplained", str(duplicates["unexplained"]))
    table.add_row(
        "  explained: MsgIds received again within their send attempts",
        str(duplicates["redeliveries_within_send_attempts"]),
    )
    table.add_row(
        "  explained: notifications received again in a recorded resend",
        str(duplicates["notifications_in_a_recorded_resend"]),
    )
    for tenant, chains in verdict["chains"].items():
        for chain in chains:
            text = f"whole, {chain['length']:,} notifications" if chain["ok"] else chain["problem"]
            table.add_row(f"chain {tenant} / {chain['municipality']}", text)
    table.add_row("KPR messages by state", json.dumps(verdict["messages_by_state"]))
    if verdict["apprec_error_codes"]:
        table.add_row("AppRec error codes / conditions", json.dumps(verdict["apprec_error_codes"]))
    received = result.get("simulator_received", {})
    if received:
        table.add_row(
            "simulator: messages received (times)",
            f"{received['messages']:,} ({received['receptions']:,})",
        )
        counters = {k: int(v) for k, v in received.get("counters", {}).items() if v}
        table.add_row("simulator: answers", json.dumps(counters))
    restarted = {n: r for n, r in result.get("restarts", {}).items() if r["count"]}
    for name, restarts in restarted.items():
        codes = ", ".join(str(c) for c in restarts["exit_codes"])
        table.add_row(f"restarts of {name}", f"{restarts['count']} (exit codes {codes})")
    if result.get("parked"):
        table.add_row("parked messages", json.dumps(result["parked"]))
    if not result.get("settled", True):
        table.add_row("settled", f"no: still open after {result['settle_seconds']} s")
    return table


def kinds_table(recoveries: list[Mapping[str, Any]]) -> Table:
    table = Table(
        title="Faults by kind (recovery: from the injection until a message built after the "
        "affected services were ready again was acknowledged)"
    )
    for column in ("fault", "count", "recovered", "max recovery s"):
        table.add_column(column, justify="left" if column == "fault" else "right")
    for kind, figures in fault_kinds(recoveries).items():
        longest = figures["max_recovery_seconds"]
        table.add_row(
            kind,
            str(figures["count"]),
            str(figures["recovered"]),
            "-" if longest is None else f"{longest:.1f}",
        )
    return table


def faults_table(schedule: list[Mapping[str, Any]], recoveries: list[Mapping[str, Any]]) -> Table:
    table = Table(title="Each fault")
    for column in ("at s", "fault", "ready after s", "recovered after s", "note"):
        table.add_column(column, justify="left" if column in {"fault", "note"} else "right")
    for planned, item in zip(schedule, recoveries, strict=True):
        table.add_row(
            f"{planned['at']:.1f}",
            item["fault"],
            "-" if item["ready_seconds"] is None else f"{item['ready_seconds']:.1f}",
            "-" if item["recovery_seconds"] is None else f"{item['recovery_seconds']:.1f}",
            item["problem"] or "",
        )
    return table
