"""``kprgw annual``: the annual IPLOS 3.7 submission, checked before anything leaves.

``check`` runs every rule of the annual check over the IPLOS file and its identity file and
prints a report (``--json``: the report's JSON); exit 0 when sendable, 1 when not, 2 on
usage errors (a missing file, a bad tenant file). ``sample`` writes a synthetic pair.
``submit`` uploads the pair to intake (``annual_submit``), which runs the same check.
Output names rules, counts, pePeIDs and lines; never a national id.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from kpr_gateway.annual import RULES_BY_ID, AnnualInputError, SubmissionReport, check_submission
from kpr_gateway.annual.synthetic import write_tenant_extract
from kpr_gateway.cli import annual_submit
from kpr_gateway.cli.backfill.command import API_KEY_ENV, _api_key, _base_url
from kpr_gateway.cli.output import fail
from kpr_gateway.cli.tenant_choice import choose_tenant
from kpr_gateway.reference import load_municipalities

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
    tenant = choose_tenant(tenant_file, tenant_id, exit_code=EXIT_USAGE)
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
    tenant = choose_tenant(tenant_file, tenant_id, exit_code=EXIT_USAGE)
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


@app.command()
def submit(
    *,
    tenant: Annotated[str, typer.Option("--tenant", help="The tenant id the API key belongs to.")],
    iplos: Annotated[Path, typer.Option(help="The IPLOS 3.7 file (iplos_2019.xsd).")],
    ident: Annotated[Path, typer.Option(help="The identity file (XPR(ide) 53.1.3).")],
    url: Annotated[str, typer.Option("--url", help="The gateway's API.")] = "http://127.0.0.1:8080",
    year: Annotated[
        int | None,
        typer.Option(help="The reporting year. Default (the gateway's): the previous year."),
    ] = None,
    environment: Annotated[
        str | None,
        typer.Option(
            help=(
                "validation: a test submission to KPR Validering (171479), which neither blocks"
                " nor counts as the year's submission to KPR. Default: the tenant's own."
            )
        ),
    ] = None,
    replace: Annotated[
        bool, typer.Option(help="Replace the year's acknowledged submission (needs --reason).")
    ] = False,
    reason: Annotated[
        str | None, typer.Option(help="Why it is replaced (talk to FHI first); audited.")
    ] = None,
    api_key_file: Annotated[
        Path | None,
        typer.Option(help=f"File holding an API key with scope annual (else ${API_KEY_ENV})."),
    ] = None,
    wait: Annotated[
        bool, typer.Option(help="Poll until KPR's AppRec on the KPR_IPL is in.")
    ] = False,
    wait_seconds: Annotated[
        float, typer.Option(min=1, help="Give up waiting after this long.")
    ] = 3600.0,
    poll_seconds: Annotated[float, typer.Option(min=0.1, help="Between polls.")] = 5.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the answer as JSON.")] = False,
) -> None:
    """Upload a year's IPLOS 3.7 file and identity file to POST {url}/v1/annual-submissions.

    The gateway checks them as `annual check` does; a sendable pair goes to KPR as KPR_IPL
    and KPR_IDE (to KPR Validering with --environment validation). Exit 0 sent (with --wait:
    acknowledged), 1 refused or rejected, 2 usage (also an environment the tenant may not
    send to), 3 conflict (a submission of the year to the same environment waits for its
    AppRec, or needs --replace).
    """
    for label, path in (("--iplos", iplos), ("--ident", ident)):
        if not path.is_file():
            fail(f"{label}: {path}: no such file", code=EXIT_USAGE)
    if replace and not reason:
        fail("--replace needs --reason", code=EXIT_USAGE)
    base = _base_url(url)
    key = _api_key(api_key_file)
    body = annual_submit.upload_body(
        iplos=iplos,
        ident=ident,
        year=year,
        environment=environment,
        replace=replace,
        reason=reason,
    )
    console = Console(stderr=True)
    bar = Progress(
        TextColumn(f"[bold]upload {tenant}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )
    # The check runs before the answer: a large year takes seconds after the upload.
    timeout = httpx.Timeout(30.0, read=600.0)
    try:
        with httpx.Client(base_url=base, timeout=timeout) as client:
            with bar:
                task = bar.add_task("upload", total=iplos.stat().st_size + ident.stat().st_size)
                answer = annual_submit.send(client, body, key, lambda n: bar.advance(task, n))
            if answer.status_code != 201:
                text, code = annual_submit.refusal(answer)
                fail(text, code=code)
            submitted = answer.json()
            if wait and submitted["status"] not in annual_submit.FINAL_STATUSES:
                console.print(f"submission {submitted['submission_id']}: waiting for KPR")
                submitted = annual_submit.wait_for_outcome(
                    client,
                    answer.headers.get("location") or submitted["links"]["self"],
                    key,
                    interval=poll_seconds,
                    timeout=wait_seconds,
                    on_status=lambda status: None,
                )
    except httpx.HTTPError as exc:
        fail(f"{base}: {type(exc).__name__}: {exc}")
    annual_submit.print_answer(submitted, as_json=as_json)
    raise typer.Exit(annual_submit.exit_code(submitted["status"]))
