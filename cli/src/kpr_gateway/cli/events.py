"""``kprgw events check``: run the data-quality rules over an NDJSON file, sending nothing.

Each line is one notification as an EPJ would POST it. The output names lines, event ids, rule
ids, fields and reasons; never a national id. Exit 1 if any notification would be rejected.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from kpr_gateway.cli.output import fail
from kpr_gateway.cli.tenant_choice import choose_tenant
from kpr_gateway.ledger import EventState
from kpr_gateway.messages.iplos_kpr import SERVICE_TYPES, Notification, describe_errors
from kpr_gateway.tenancy import Tenant
from kpr_gateway.transform.rules import (
    Finding,
    KnownTestPersons,
    RulesConfigError,
    RuleSet,
    load_municipalities,
)

app = typer.Typer(no_args_is_help=True, help="Events: check EPJ events before they are sent.")

FORMAT_RULE = "event-format"
"""The rule id given to the notification contract's own validation errors."""
EXIT_USAGE = 2


class Language(StrEnum):
    BOTH = "both"
    EN = "en"
    NB = "nb"


@dataclass
class Tally:
    events: int = 0
    sent: int = 0
    warned: int = 0
    rejected: int = 0
    suppressed: int = 0
    not_reportable: int = 0
    by_rule: Counter[str] = field(default_factory=Counter)


@app.callback()
def _group() -> None:
    """Events: check EPJ events before they are sent."""


@app.command()
def check(
    file: Annotated[Path, typer.Argument(help="Notifications, one JSON object per line (NDJSON).")],
    *,
    tenant_file: Annotated[
        Path,
        typer.Option(
            "--tenant", help="The tenant: a file with one tenant, or a tenants file (YAML)."
        ),
    ],
    tenant_id: Annotated[
        str | None,
        typer.Option(help="Which tenant of a tenants file (needed if it has more than one)."),
    ] = None,
    test_persons: Annotated[
        Path | None,
        typer.Option(help="The tenant's test persons: one national id per line."),
    ] = None,
    language: Annotated[Language, typer.Option(help="Language of the reasons.")] = Language.BOTH,
    reported_service_types: Annotated[
        str | None,
        typer.Option(
            help=(
                "The service types (kodeverk 9151) this release reports, comma-separated, "
                "e.g. 18,19,20,21,29 (the specification's first phase). Default: every code "
                "valid on the event's date. Others are kept as not_reportable."
            ),
        ),
    ] = None,
) -> None:
    """Print every notification that would not be sent as it is, then a summary per rule."""
    reported = _service_types(reported_service_types)
    tenant = choose_tenant(tenant_file, tenant_id)
    try:
        listed = {tenant.id: KnownTestPersons.from_file(test_persons)} if test_persons else {}
        rules = RuleSet(test_persons=listed, reported_service_types=reported)
    except RulesConfigError as exc:
        fail(exc)
    _warn_if_not_current(tenant)
    checker = _Checker(tenant, rules, language)
    try:
        with file.open("rb") as lines:
            for number, raw in enumerate(lines, start=1):
                if raw.strip():
                    checker.line(number, raw)
    except OSError as exc:
        fail(exc)
    _summary(checker.tally)
    if checker.tally.rejected:
        raise typer.Exit(code=1)


@dataclass
class _Checker:
    tenant: Tenant
    rules: RuleSet
    language: Language
    tally: Tally = field(default_factory=Tally)

    def line(self, number: int, raw: bytes) -> None:
        self.tally.events += 1
        where = f"line {number}"
        try:
            document: Any = json.loads(raw)
        except UnicodeDecodeError:
            self._format_error(where, "(line)", "not valid UTF-8")
            return
        except json.JSONDecodeError as exc:
            self._format_error(where, "(line)", f"not valid JSON (column {exc.colno})")
            return
        if not isinstance(document, dict):
            self._format_error(where, "(line)", "not a JSON object")
            return
        where += _event_id(document)
        try:
            event = Notification.model_validate(document)
        except ValidationError as exc:
            for error in describe_errors(exc):
                self._format_error(where, error["field"], error["reason"], count=False)
            self._count_format_error()
            return
        verdict = self.rules.check(event, self.tenant)
        for finding in verdict.findings:
            self.tally.by_rule[finding.rule] += 1
            typer.echo(
                f"{where}: {finding.severity.value} {finding.rule} {finding.field}: "
                f"{_reason(finding, self.language)}"
            )
        if verdict.state is None:
            self.tally.sent += 1
            self.tally.warned += bool(verdict.findings)
        elif verdict.state is EventState.SUPPRESSED_TEST_PERSON:
            self.tally.suppressed += 1
        elif verdict.state is EventState.NOT_REPORTABLE:
            self.tally.not_reportable += 1
        else:
            self.tally.rejected += 1

    def _format_error(
        self, where: str, field_name: str, reason: str, *, count: bool = True
    ) -> None:
        typer.echo(f"{where}: reject {FORMAT_RULE} {field_name}: {reason}")
        if count:
            self._count_format_error()

    def _count_format_error(self) -> None:
        self.tally.rejected += 1
        self.tally.by_rule[FORMAT_RULE] += 1


def _event_id(document: dict[str, Any]) -> str:
    """`` (event <uuid>)`` when the line has a well-formed event id; nothing else is echoed."""
    value = document.get("event_id")
    if not isinstance(value, str):
        return ""
    try:
        return f" (event {uuid.UUID(value)})"
    except ValueError:
        return ""


def _reason(finding: Finding, language: Language) -> str:
    if language is Language.EN:
        return finding.reason_en
    if language is Language.NB:
        return finding.reason_nb
    return f"{finding.reason_en} / {finding.reason_nb}"


def _summary(tally: Tally) -> None:
    typer.echo(
        f"{tally.events} events: {tally.sent} would be sent ({tally.warned} with warnings), "
        f"{tally.rejected} rejected, {tally.suppressed} suppressed as test persons, "
        f"{tally.not_reportable} not reportable"
    )
    for rule, count in sorted(tally.by_rule.items()):
        typer.echo(f"  {rule}: {count}")


def _service_types(listed: str | None) -> frozenset[str] | None:
    """The codes of ``--reported-service-types``; each must be a code of kodeverk 9151."""
    if listed is None:
        return None
    codes = frozenset(code.strip() for code in listed.split(",") if code.strip())
    unknown = sorted(codes - SERVICE_TYPES.keys(), key=lambda c: (len(c), c))
    if not codes or unknown:
        fail(
            "--reported-service-types: a comma-separated list of kodeverk 9151 codes"
            + (f"; not codes: {', '.join(unknown)}" if unknown else ""),
            code=EXIT_USAGE,
        )
    return codes


def _warn_if_not_current(tenant: Tenant) -> None:
    periods = load_municipalities().periods(tenant.municipality_number)
    if not periods or periods[-1].valid_to is not None:
        typer.echo(
            f"warning: tenant {tenant.id}'s municipality number {tenant.municipality_number} "
            "is not a current one in the municipality table",
            err=True,
        )
