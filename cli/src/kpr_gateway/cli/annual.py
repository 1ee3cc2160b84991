"""``kprgw annual``: the annual IPLOS 3.7 submission, checked before anything leaves.

``check`` runs every rule of the annual check over the IPLOS file and its identity file and
prints a report (``--json``: the report's JSON); exit 0 when sendable, 1 when not, 2 on
usage errors (a missing file, a bad tenant file). ``sample`` writes a synthetic pair.
Output names rules, counts, pePeIDs and lines; never a national id.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer
import yaml

from kpr_gateway.annual import RULES_BY_ID, AnnualInputError, SubmissionReport, check_submission
from kpr_gateway.annual.synthetic import write_tenant_extract
from kpr_gateway.cli.output import fail
from kpr_gateway.reference import load_municipalities
from kpr_gateway.tenancy import TenancyError, Tenant, load_tenant, load_tenants

EXIT_USAGE = 2

app = typer.Typer(no_args_is_help=True, help="Annual: the yearly IPLOS 3.7 submission.")

_TenantFile = Annotated[
    Path,
    typer.Option("--tenant", help="The tenant: a file with one tenant, or a tenants file (YAML)."),
]
_TenantId = Annotated[
    str | None,
    typer.Option(help="Which tenant of a tenants file (needed if it has more than one)."),
]


def _previous_year() -> int:
    return date.today().year - 1


@app.callback()
def _group() -> None:
    """Annual: the yearly IPLOS 3.7 submission."""


@app.command()
def check(
    *,
    tenant_file: _TenantFile,
    iplos: Annotated[Path, typer.Option(help="The IPLOS 3.7 file (iplos_2019.xsd).")],
    ident: Annotated[Path, typer.Option(help="The identity file (XPR(ide) 53.1.3).")],
    year: Annotated[
        int | None,
        typer.Option(help="The reporting year. Default: the previous calendar year."),
    ] = None,
    previous_persons: Annotated[
        int | None,
        typer.Option(help="Persons in the tenant's previous accepted year, if known."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    tenant_id: _TenantId = None,
) -> None:
    """Check a year's submission as submit would; nothing is sent."""
    tenant = _load_tenant(tenant_file, tenant_id)
    for label, path in (("--iplos", iplos), ("--ident", ident)):
        if not path.is_file():
            fail(f"{label}: {path}: no such file", code=EXIT_USAGE)
    reporting_year = year if year is not None else _previous_year()
    try:
        report = check_submission(
            tenant=tenant,
            year=reporting_year,
            iplos=iplos,
            ident=ident,
            previous_persons=previous_persons,
        )
    except AnnualInputError as exc:
        fail(exc, code=EXIT_USAGE)
    if as_json:
        typer.echo(report.model_dump_json())
    else:
        _print(report, tenant.id, reporting_year)
    if not report.sendable:
        raise typer.Exit(code=1)


def _print(report: SubmissionReport, tenant_id: str, year: int) -> None:
    verdict = "sendable" if report.sendable else "NOT sendable"
    typer.echo(f"tenant {tenant_id}, year {year}: {report.persons} persons, {verdict}")
    for finding in report.findings:
        rule = RULES_BY_ID[finding.rule]
        typer.echo(f"  {finding.severity.value} {finding.rule}: {finding.count} ({rule.summary})")
        if finding.detail:
            typer.echo(f"    {finding.detail}")
        if finding.examples:
            typer.echo(f"    e.g. {', '.join(finding.examples)}")
    if not report.findings:
        typer.echo("  no findings")


@app.command()
def sample(
    *,
    tenant_file: _TenantFile,
    persons: Annotated[int, typer.Option(min=1, help="How many persons.")],
    out: Annotated[Path, typer.Option(help="The folder to write the two files to.")],
    year: Annotated[
        int | None,
        typer.Option(help="The reporting year. Default: the previous calendar year."),
    ] = None,
    seed: Annotated[int, typer.Option(help="The same seed gives the same files.")] = 0,
    tenant_id: _TenantId = None,
) -> None:
    """Write a synthetic, consistent IPLOS 3.7 file and identity file for the tenant."""
    tenant = _load_tenant(tenant_file, tenant_id)
    reporting_year = year if year is not None else _previous_year()
    try:
        files = write_tenant_extract(
            out,
            tenant=tenant,
            year=reporting_year,
            persons=persons,
            seed=seed,
            table=load_municipalities(),
        )
    except AnnualInputError as exc:
        fail(exc, code=EXIT_USAGE)
    except OSError as exc:
        fail(exc, code=EXIT_USAGE)
    typer.echo(f"{files.iplos}")
    typer.echo(f"{files.ident}")
    typer.echo(
        f"{files.persons} persons, municipality {files.municipality_number}, year {reporting_year}"
    )


def _load_tenant(path: Path, tenant_id: str | None) -> Tenant:
    """The tenant of a one-tenant file, or the one chosen from a tenants file; exit 2 when
    neither can be had (as ``events check`` reads it, with the usage exit code)."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        document = None  # the loaders below report the problem in their own words
    try:
        if not (isinstance(document, dict) and "tenants" in document):
            tenant = load_tenant(path)
            if tenant_id is not None and tenant.id != tenant_id:
                fail(f"{path} describes tenant {tenant.id}, not {tenant_id}", code=EXIT_USAGE)
            return tenant
        tenants = load_tenants(path).tenants
    except TenancyError as exc:
        fail(exc, code=EXIT_USAGE)
    if tenant_id is None:
        if len(tenants) > 1:
            fail(f"{path} has {len(tenants)} tenants: choose one with --tenant-id", code=EXIT_USAGE)
        return tenants[0]
    chosen = next((t for t in tenants if t.id == tenant_id), None)
    if chosen is None:
        fail(f"{path} has no tenant {tenant_id}", code=EXIT_USAGE)
    return chosen
