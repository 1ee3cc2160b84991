"""Entry point of the ``kprgw`` command; each sub-command group lives in its own module."""

import typer

from kpr_gateway.cli import (
    annual,
    apprec,
    chain,
    cms,
    events,
    kpr,
    ledger,
    local,
    pki,
    tenants,
    xml,
)
from kpr_gateway.cli.backfill.command import backfill
from kpr_gateway.cli.demo.command import demo

app = typer.Typer(no_args_is_help=True, help="KPR Gateway operator and developer tools.")
app.add_typer(pki.app, name="pki")
app.add_typer(cms.app, name="cms")
app.add_typer(xml.app, name="xml")
app.add_typer(apprec.app, name="apprec")
app.add_typer(kpr.app, name="kpr")
app.add_typer(tenants.app, name="tenants")
app.add_typer(events.app, name="events")
app.add_typer(chain.app, name="chain")
app.add_typer(ledger.app, name="ledger")
app.add_typer(local.app, name="local")
app.add_typer(annual.app, name="annual")
app.command("backfill")(backfill)
app.command("demo")(demo)


if __name__ == "__main__":
    app()
