"""``kprgw backfill FILE --tenant ID --url URL``: the command, its progress bar and summary.

Exit codes: 0 every line sent and accepted; 3 every line sent, some refused (see the refused
file); 1 stopped by an answer retrying does not mend (run the same command again to go on
after the last acknowledged batch); 2 usage errors; 130 interrupted (Ctrl-C), also resumable.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Annotated, Final
from urllib.parse import urlsplit

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from kpr_gateway.cli.backfill.errors import BackfillError, BackfillStoppedError
from kpr_gateway.cli.backfill.run import Backfill, BackfillPlan, starting_state
from kpr_gateway.cli.backfill.state import BackfillState
from kpr_gateway.cli.backfill.throttle import (
    DEFAULT_EVENTS_PER_MESSAGE,
    DEFAULT_MESSAGES_PER_MINUTE,
    Throttle,
    events_per_minute,
)
from kpr_gateway.cli.output import fail

EXIT_STOPPED: Final = 1
EXIT_USAGE: Final = 2
EXIT_REFUSED: Final = 3
EXIT_INTERRUPTED: Final = 130
API_KEY_ENV: Final = "KPRGW_API_KEY"
_LOOPBACK: Final = frozenset({"127.0.0.1", "::1", "localhost"})


def backfill(
    file: Annotated[Path, typer.Argument(help="Notifications, one JSON object per line.")],
    *,
    tenant: Annotated[
        str,
        typer.Option(
            "--tenant",
            help="The tenant the API key belongs to (kept in the state file: a resume is "
            "refused for another tenant).",
        ),
    ],
    url: Annotated[
        str, typer.Option("--url", help="The gateway's API, e.g. https://kprgw.example.org.")
    ],
    api_key_file: Annotated[
        Path | None,
        typer.Option(help=f"File holding the EPJ client's API key (else ${API_KEY_ENV})."),
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, max=10_000, help="Events per request.")] = 1000,
    messages_per_minute: Annotated[
        float,
        typer.Option(
            min=0,
            help=(
                "At most this many KPR messages' worth of events per minute (bursts of "
                "--events-per-message); 0: no limit."
            ),
        ),
    ] = DEFAULT_MESSAGES_PER_MINUTE,
    events_per_message: Annotated[
        int,
        typer.Option(
            min=1,
            max=5_000,
            help="Events in one KPR message: about as many notifications as fill 1 MB.",
        ),
    ] = DEFAULT_EVENTS_PER_MESSAGE,
    state_file: Annotated[
        Path | None,
        typer.Option(
            help="Where progress is kept for resuming (default FILE.backfill-state.json)."
        ),
    ] = None,
    in_flight: Annotated[int, typer.Option(min=1, max=32, help="Requests at a time.")] = 4,
    restart: Annotated[
        bool, typer.Option(help="Ignore the state file and send from the first line.")
    ] = False,
    progress: Annotated[bool, typer.Option(help="Show a progress bar on a terminal.")] = True,
) -> None:
    """Send FILE to POST {url}/v1/events/batch: resumable, throttled, with a summary.

    Events are idempotent by event_id, so a batch sent again after an interruption is
    harmless. Refused events go to FILE.refused.ndjson (line, event_id, reasons; no values).
    """
    plan = BackfillPlan(
        file=file,
        tenant=tenant,
        url=_base_url(url),
        api_key=_api_key(api_key_file),
        state_file=state_file or file.with_name(f"{file.name}.backfill-state.json"),
        refused_file=file.with_name(f"{file.name}.refused.ndjson"),
        batch_size=batch_size,
        in_flight=in_flight,
        throttle=(
            Throttle(messages_per_minute, events_per_message) if messages_per_minute > 0 else None
        ),
        restart=restart,
    )
    try:
        state = starting_state(plan)
    except BackfillError as exc:
        fail(str(exc), code=EXIT_USAGE)
    except OSError as exc:
        fail(exc, code=EXIT_USAGE)
    console = Console(stderr=True)
    _announce(console, plan, state, messages_per_minute, events_per_message)
    code = _run(console, plan, state, show_progress=progress)
    raise typer.Exit(code)


def _run(console: Console, plan: BackfillPlan, state: BackfillState, *, show_progress: bool) -> int:
    bar = Progress(
        TextColumn("[bold]backfill"),
        BarColumn(),
        TaskProgressColumn(),
        _EventsColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not (show_progress and console.is_terminal),
    )
    task = bar.add_task(
        "backfill", total=plan.file.stat().st_size, completed=state.offset, events=0
    )
    run = Backfill(
        plan,
        state,
        on_progress=lambda done, events: bar.update(task, completed=done, events=events),
        on_note=lambda note: console.print(f"retry: {note}", markup=False, highlight=False),
    )
    stopped: str | None = None
    try:
        with bar:
            asyncio.run(run.run())
    except BackfillStoppedError as exc:
        stopped = str(exc)
    except KeyboardInterrupt:
        stopped = "interrupted"
    finally:
        run.close()
    _summary(run, stopped)
    if stopped == "interrupted":
        return EXIT_INTERRUPTED
    if stopped is not None:
        return EXIT_STOPPED
    return EXIT_REFUSED if run.journal.state.refused else 0


class _EventsColumn(ProgressColumn):
    """Events acknowledged in this run and their rate."""

    def render(self, task: Task) -> Text:
        events = int(task.fields.get("events", 0))
        elapsed = task.elapsed or 0.0
        rate = events / elapsed if elapsed > 0 else 0.0
        return Text(f"{events:,} events, {rate:,.0f}/s")


def _announce(
    console: Console,
    plan: BackfillPlan,
    state: BackfillState,
    messages_per_minute: float,
    events_per_message: int,
) -> None:
    if state.done:
        console.print(
            f"{plan.state_file} says the file was sent in full (--restart sends it again)"
        )
        return
    where = f"after line {state.line:,}" if state.offset else "from the first line"
    if plan.throttle is None:
        pace = "no throttle"
    else:
        allowed = events_per_minute(messages_per_minute, events_per_message)
        pace = (
            f"at most {messages_per_minute:g} KPR messages per minute "
            f"({events_per_message:,} events each, {allowed:,.0f} events per minute)"
        )
    console.print(f"backfill of {plan.file} for tenant {plan.tenant}: {where}, {pace}")


def _summary(run: Backfill, stopped: str | None) -> None:
    state = run.journal.state
    plan = run.plan
    if state.done:
        typer.echo(f"backfill of {plan.file} for tenant {plan.tenant}: complete")
    else:
        typer.echo(f"backfill of {plan.file} for tenant {plan.tenant}: stopped ({stopped})")
    typer.echo(
        f"  sent {state.sent:,} events: {state.accepted:,} accepted "
        f"({state.repeated:,} repeated), {state.refused:,} refused"
    )
    if state.refused:
        fields = sorted(state.refused_by_field.items(), key=lambda item: (-item[1], item[0]))
        typer.echo("  refused by field: " + ", ".join(f"{f} {n:,}" for f, n in fields))
        typer.echo(f"  refused events (line, event_id, reasons): {plan.refused_file}")
    seconds = run.journal.run_seconds
    rate = run.events_this_run / seconds if seconds > 0 else 0.0
    typer.echo(
        f"  this run: {run.events_this_run:,} events in {seconds:,.1f} s ({rate:,.0f} events/s), "
        f"after line {run.started_at_line:,}; {run.retries} retries"
    )
    if state.seconds > seconds:
        typer.echo(f"  all runs: {state.seconds:,.1f} s sending")
    if not state.done:
        typer.echo(
            f"  acknowledged up to line {state.line:,}: run the same command to go on from there"
        )


def _base_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        fail(
            "--url: an http(s) URL of the gateway, e.g. https://kprgw.example.org", code=EXIT_USAGE
        )
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK:
        typer.echo(
            "warning: plain http to another host: the notifications carry national ids",
            err=True,
        )
    return url.rstrip("/")


def _api_key(path: Path | None) -> str:
    if path is not None:
        try:
            key = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"--api-key-file {path}: cannot be read ({type(exc).__name__})", code=EXIT_USAGE)
    else:
        key = os.environ.get(API_KEY_ENV, "").strip()
    if not key:
        fail(f"no API key: pass --api-key-file or set {API_KEY_ENV}", code=EXIT_USAGE)
    return key
