"""The annual figure: one large municipality's year through the gateway, against a bare
streaming schema validation plus zip of the same two files.

1. A synthetic IPLOS 3.7 pair (``kpr_gateway.annual.synthetic``, seed ``SEED``) of N persons
   for the demo tenant Bergen, written to the run's temporary folder (not timed).
2. The reference, in a subprocess of its own (``python -m bench.annual reference``; timed
   inside it, after its imports and the schemas' compilation, which are reported apart):
   lxml's validating ``iterparse`` over each file (elements cleared as they are done), then
   each file deflated into a zip file next to it (``zipfile``, default level).
3. The gateway on fresh processes (started after the daily part has stopped, so every peak
   RSS is the annual round's own; the RSS right after start is reported too): the pair is
   POSTed to ``/v1/annual-submissions`` as ``kprgw annual submit`` does (a streamed
   multipart body), timed from the POST until both messages are acknowledged (the later of
   the two ``acknowledged`` transitions in the ledger, read by polling GET
   ``/v1/annual-submissions/{id}``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import httpx
from lxml import etree
from rich.console import Console
from rich.table import Table

from bench.procstat import CpuMeter, gateway_pids, peak_memory_mib, server_pids
from bench.profiling import PROFILES, Profiler, hotspots, py_spy
from kpr_gateway.annual.synthetic import write_tenant_extract
from kpr_gateway.cli.annual_submit import send, upload_body
from kpr_gateway.cli.local_processes import (
    LocalRun,
    Tuning,
    allocate_ports,
    memory_kib,
    new_prefix,
    start_run,
    stop_run,
)
from kpr_gateway.messages import iplos_annual, xpr_ide
from kpr_gateway.reference import load_municipalities
from kpr_gateway.tenancy import load_tenants

DEFAULT_PERSONS: Final = 50_000
SEED: Final = 2025
YEAR: Final = 2025
TENANT: Final = "bergen"
GOAL_RATIO: Final = 2.0
GOAL_PEAK_MIB: Final = 300
FINAL_STATES: Final = frozenset(
    {"acknowledged", "acknowledged_with_errors", "rejected", "transport_error", "refused"}
)
EXTRACT: Final = "extract"
"""The folder of the run's generated pair (removed after the measurement)."""
PART: Final = "annual"
"""The profile files' prefix (bench/results/profiles/annual-<service>.txt)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--annual-persons",
        type=int,
        default=DEFAULT_PERSONS,
        help="persons in the annual IPLOS 3.7 file (the annual figure)",
    )
    parser.add_argument(
        "--no-annual", action="store_true", help="skip the annual submission figure"
    )


def persons_from(args: argparse.Namespace) -> int:
    """The persons of the annual figure; 0: skipped."""
    return 0 if args.no_annual else int(args.annual_persons)


async def measure(
    run_dir: Path, tuning: Tuning, *, persons: int, profile: bool = False
) -> dict[str, Any]:
    """The annual figure on a gateway of its own in ``run_dir``."""
    gateway = await start_run(
        run_dir,
        ports=allocate_ports(0),
        tuning=tuning,
        prefix=new_prefix("bench-annual"),
        restart=False,  # as in run.py: measure the processes started, or fail
    )
    try:
        return await _measure(gateway, run_dir, persons, profile)
    finally:
        shutil.rmtree(run_dir / EXTRACT, ignore_errors=True)  # ~85 MB for 50,000 persons
        report = await stop_run(gateway)
        if not report.clean:
            print(f"warning: annual gateway exit codes {report.exit_codes}", file=sys.stderr)


async def _measure(gateway: LocalRun, run_dir: Path, persons: int, profile: bool) -> dict[str, Any]:
    tenant = load_tenants(run_dir / "world" / "tenants.yaml").by_id(TENANT)
    written = time.perf_counter()
    files = await asyncio.to_thread(
        write_tenant_extract,
        run_dir / EXTRACT,
        tenant=tenant,
        year=YEAR,
        persons=persons,
        seed=SEED,
        table=load_municipalities(),
    )
    generate_seconds = time.perf_counter() - written
    reference = await _reference(files.iplos, files.ident, run_dir / "reference.json")

    pids = gateway_pids(gateway)
    idle_mib = {
        name: round(memory_kib(pid).get("VmRSS", 0) / 1024, 1) for name, pid in pids.items()
    }
    meter = CpuMeter({**{n: [p] for n, p in pids.items()}, **server_pids()})
    profiler = _profiler(pids) if profile else None
    meter.start()
    if profiler:
        profiler.start(PART)
    submitted = await _submit_and_follow(
        gateway.intake_url, gateway.api_keys[TENANT], files.iplos, files.ident
    )
    cpu = meter.stop()
    if profiler:
        profiler.stop()
    peak = peak_memory_mib(pids)
    ratio = submitted["seconds"] / reference["seconds"]
    # CPU varies less than time with what else runs on the machine.
    gateway_cpu = sum(cpu[name] for name in pids)
    return {
        "persons": persons,
        "seed": SEED,
        "year": YEAR,
        "files_bytes": {"iplos": files.iplos.stat().st_size, "ident": files.ident.stat().st_size},
        "generate_seconds": round(generate_seconds, 2),
        "reference": reference,
        "gateway": submitted,
        "ratio": round(ratio, 2),
        "cpu_seconds_services_and_simulator": round(gateway_cpu, 2),
        "cpu_ratio": round(gateway_cpu / reference["cpu_seconds"], 2),
        "goal_ratio": GOAL_RATIO,
        "peak_memory_mib": peak,
        "rss_after_start_mib": idle_mib,
        "goal_peak_mib": GOAL_PEAK_MIB,
        "cpu_seconds": cpu,
        "processes": "a fresh gateway, started after the daily part stopped",
        "profiles": _profiles(pids) if profiler else {},
    }


async def _reference(iplos: Path, ident: Path, out: Path) -> dict[str, Any]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.annual",
        "reference",
        "--iplos",
        str(iplos),
        "--ident",
        str(ident),
        "--out",
        str(out),
    )
    if await process.wait() != 0:
        raise RuntimeError("the annual reference failed")
    result: dict[str, Any] = json.loads(out.read_text())
    return result


async def _submit_and_follow(
    url: str, api_key: str, iplos: Path, ident: Path, *, timeout: float = 1800
) -> dict[str, Any]:
    body = upload_body(
        iplos=iplos, ident=ident, year=YEAR, environment=None, replace=False, reason=None
    )
    with httpx.Client(base_url=url, timeout=timeout) as client:
        started = datetime.now(UTC)
        answer = await asyncio.to_thread(send, client, body, api_key, lambda _: None)
        answered = datetime.now(UTC)
        if answer.status_code != 201:
            raise RuntimeError(f"the annual POST was answered {answer.status_code}: {answer.text}")
        location = answer.headers["location"]
        headers = {"Authorization": f"Bearer {api_key}"}
        deadline = time.monotonic() + timeout
        while True:
            status: dict[str, Any] = (
                await asyncio.to_thread(client.get, location, headers=headers)
            ).json()
            if status["messages"] and all(m["state"] in FINAL_STATES for m in status["messages"]):
                break
            if status["status"] == "refused" or time.monotonic() > deadline:
                raise RuntimeError(f"the annual submission did not complete: {status['status']}")
            # The end is the ledger's own timestamp: polling more often would only add load
            # (each GET reads both messages' records).
            await asyncio.sleep(0.5)
    steps = {m["msg_type"]: _steps(m["history"], started) for m in status["messages"]}
    done = max(_at(m["history"][-1]) for m in status["messages"])
    return {
        "submission_status": status["status"],
        "messages": {m["msg_type"]: m["state"] for m in status["messages"]},
        "seconds": round((done - started).total_seconds(), 2),
        "post_answered_seconds": round((answered - started).total_seconds(), 2),
        "seconds_since_post_by_state": steps,
    }


def _at(transition: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(transition["at"])


def _steps(history: list[dict[str, Any]], started: datetime) -> dict[str, float]:
    """When each state was reached, in seconds from the POST's start."""
    return {t["state"]: round((_at(t) - started).total_seconds(), 2) for t in history}


def _profiler(pids: dict[str, int]) -> Profiler:
    executable = py_spy()
    if executable is None:
        raise SystemExit("--profile needs py-spy: uv tool install py-spy")
    return Profiler(executable, pids)


def _profiles(pids: dict[str, int]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name in pids:
        path = PROFILES / f"{PART}-{name}.txt"
        if path.is_file():
            spots = hotspots(path)
            found[name] = {
                "file": str(path),
                "samples": spots.samples,
                "own": spots.own,
                "project": spots.project,
            }
    return found


# The reference, run as ``python -m bench.annual reference``.


def validate_streaming(path: Path, schema: etree.XMLSchema, unit: str) -> int:
    """Validate ``path`` while reading it, clearing each ``unit`` element and the ones
    before it; the number of units. Raises ``etree.XMLSyntaxError`` when invalid."""
    count = 0
    for _, element in etree.iterparse(
        str(path), events=("end",), tag=unit, schema=schema, no_network=True, load_dtd=False
    ):
        count += 1
        element.clear(keep_tail=True)
        while element.getprevious() is not None:
            del element.getparent()[0]
    return count


def zip_file(path: Path, target: Path) -> int:
    """Deflate ``path`` into a zip of one entry at ``target``; the zip's size."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.write(path, arcname=path.name)
    return target.stat().st_size


def reference(iplos: Path, ident: Path) -> dict[str, Any]:
    compiling = time.perf_counter()
    schemas = (iplos_annual.xsd.schema(), xpr_ide.xsd.schema())
    compile_seconds = time.perf_counter() - compiling
    started, cpu_started = time.perf_counter(), time.process_time()
    persons = validate_streaming(iplos, schemas[0], iplos_annual.xsd.qname("PERSON"))
    idents = validate_streaming(ident, schemas[1], xpr_ide.xsd.qname("PasientIdent"))
    validated = time.perf_counter()
    zipped = {
        "iplos": zip_file(iplos, iplos.with_suffix(".zip")),
        "ident": zip_file(ident, ident.with_suffix(".zip")),
    }
    done, cpu_done = time.perf_counter(), time.process_time()
    return {
        "seconds": round(done - started, 2),
        "cpu_seconds": round(cpu_done - cpu_started, 2),
        "validate_seconds": round(validated - started, 2),
        "zip_seconds": round(done - validated, 2),
        "schema_compile_seconds": round(compile_seconds, 2),
        "persons": persons,
        "identities": idents,
        "zip_bytes": zipped,
        "peak_rss_mib": round(memory_kib(os.getpid()).get("VmHWM", 0) / 1024, 1),
        "where": "a subprocess of its own, timed inside it after imports and schema compilation",
    }


def print_report(annual: dict[str, Any], console: Console) -> None:
    reference_part, gateway = annual["reference"], annual["gateway"]
    size_mb = annual["files_bytes"]["iplos"] / 1e6
    table = Table(
        title=f"Annual submission: {annual['persons']:,} persons (IPLOS {size_mb:.0f} MB)",
        caption="the gateway on fresh processes, started after the daily part",
    )
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("goal", justify="right")
    table.add_row(
        "reference: streaming XSD validation + zip of both files",
        f"{reference_part['seconds']:.2f} s (validate {reference_part['validate_seconds']:.2f}"
        f" + zip {reference_part['zip_seconds']:.2f}; peak {reference_part['peak_rss_mib']:.0f}"
        " MiB)",
        "",
    )
    table.add_row(
        "gateway: POST until both AppRecs are in",
        f"{gateway['seconds']:.2f} s (POST answered after {gateway['post_answered_seconds']:.2f}"
        f" s; {gateway['submission_status']})",
        "",
    )
    table.add_row("gateway / reference", f"{annual['ratio']:.2f}", f"<= {GOAL_RATIO:.0f}")
    table.add_row(
        "CPU seconds, services + simulator / reference",
        f"{annual['cpu_seconds_services_and_simulator']:.1f} / "
        f"{reference_part['cpu_seconds']:.1f} ({annual['cpu_ratio']:.2f})",
        "",
    )
    for name, mib in annual["peak_memory_mib"].items():
        idle = annual["rss_after_start_mib"].get(name, 0.0)
        table.add_row(
            f"peak RSS {name}", f"{mib:.0f} MiB (at start {idle:.0f})", f"< {GOAL_PEAK_MIB}"
        )
    console.print(table)
    for msg_type, steps in gateway["seconds_since_post_by_state"].items():
        line = ", ".join(f"{state} {seconds:.2f}" for state, seconds in steps.items())
        console.print(f"  {msg_type}, seconds after the POST's start: {line}", highlight=False)
    for name, spots in annual.get("profiles", {}).items():
        own = "; ".join(f"{share}% {frame}" for share, frame in spots["own"][:4])
        steps_text = "; ".join(f"{share}% {frame}" for share, frame in spots["project"][:6])
        console.print(f"  profile {name} ({spots['samples']} samples)", highlight=False)
        console.print(f"    own time: {own}", highlight=False, soft_wrap=True)
        console.print(f"    gateway steps: {steps_text}", highlight=False, soft_wrap=True)


def _main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.annual")
    commands = parser.add_subparsers(dest="command", required=True)
    ref = commands.add_parser("reference", help="time the bare validation + zip of a pair")
    ref.add_argument("--iplos", type=Path, required=True)
    ref.add_argument("--ident", type=Path, required=True)
    ref.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    result = reference(args.iplos, args.ident)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    _main(sys.argv[1:])
