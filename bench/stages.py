"""CPU per notification of each CPU-heavy step on the event path, in this process.

``uv run --no-sync python -m bench.stages`` (no broker, no Redis). The end-to-end run
(``python -m bench``) shows what the gateway does as a whole but its rates move with whatever
else the machine runs; these figures are process CPU time (``time.process_time``), the best of
a few rounds, so they compare code changes even on a busy machine. The collector is set up as
in the services (start-up objects frozen, ``GC_THRESHOLDS``), and the events of a round stay
alive while it runs, as they do in transform.

Steps, per notification: intake reads a batch body (JSON + the ``Notification`` model),
writes its canonical JSON and content hash, then the chunk from it; transform reads the
chunk, runs the rules, numbers and builds the messages (Melding, XSD check, MsgHead); the
simulator (FHI's side) checks a message as it does (MsgHead + Melding against the official
XSDs) and reads the Melding.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kpr_gateway.cli.demo.samples import event
from kpr_gateway.cli.demo.world import MUNICIPALITIES, create_world
from kpr_gateway.intake.http_body import BatchEntry, parse_batch
from kpr_gateway.intake.submission import canonical_json, content_hash
from kpr_gateway.messages import iplos_kpr
from kpr_gateway.messages.daily import DailyMessage, build_daily_messages
from kpr_gateway.messages.iplos_kpr import ChainHead, MeldingHeader, number
from kpr_gateway.messages.msghead import read_msghead
from kpr_gateway.messages.schemas import load_schema_set
from kpr_gateway.messages.xmlsafe import parse_xml
from kpr_gateway.pipeline.contracts import EncodedEvent, EventChunk, chunk_body
from kpr_gateway.runtime.runner import settle_start_up_objects
from kpr_gateway.tenancy import Tenant, kpr_receiver, load_tenants, read_pseudonym_secret
from kpr_gateway.transform.rules import RuleSet


def _bodies(municipality: str, total: int, batch_size: int) -> list[bytes]:
    rng = random.Random(2026)  # noqa: S311 - test data
    people = [event(rng, municipality) for _ in range(1000)]
    events = [
        {
            **people[i % len(people)],
            "event_id": str(uuid.uuid4()),
            "occurrence_id": str(uuid.uuid4()),
        }
        for i in range(total)
    ]
    return [
        json.dumps(events[start : start + batch_size]).encode()
        for start in range(0, total, batch_size)
    ]


def _standards() -> Path:
    # As the simulator in the bench: KPRGW_STANDARDS_DIR, else ../shared beside the checkout.
    configured = os.environ.get("KPRGW_STANDARDS_DIR")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[2] / "shared" / "standards"


def _best(rounds: int, count: int, step: Callable[[], object]) -> float:
    """Microseconds of process CPU per item: the best of ``rounds``."""
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        kept = step()
        best = min(best, time.process_time() - started)
        del kept
    return best / count * 1e6


def measure(total: int, batch_size: int, rounds: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="kprgw-stages-") as directory:
        world = create_world(Path(directory), municipalities=MUNICIPALITIES[:1])
        tenant: Tenant = load_tenants(world.tenants_file).tenants[0]
        secret = read_pseudonym_secret(tenant)
        bodies = _bodies(tenant.municipality_number, total, batch_size)
        rules = RuleSet(test_persons={}, reported_service_types=None)
        schemas = load_schema_set(_standards())
        settle_start_up_objects()
        figures: dict[str, float] = {}

        def intake_parse() -> list[list[BatchEntry]]:
            return [parse_batch(body, "application/json", batch_size) for body in bodies]

        figures["intake: parse and validate the batch"] = _best(rounds, total, intake_parse)
        events = [e.event for entries in intake_parse() for e in entries if e.event is not None]
        figures["intake: canonical JSON and content hash"] = _best(
            rounds, total, lambda: [content_hash(canonical_json(e)) for e in events]
        )
        now = datetime.now(UTC)
        written = [canonical_json(e) for e in events]

        def chunks() -> list[bytes]:
            return [
                chunk_body(
                    tenant.id,
                    uuid.uuid4(),
                    now,
                    [
                        EncodedEvent(e.event_id, text, None, uuid.uuid4().hex, None)
                        for e, text in zip(
                            events[start : start + batch_size],
                            written[start : start + batch_size],
                            strict=True,
                        )
                    ],
                )
                for start in range(0, total, batch_size)
            ]

        figures["intake: write the chunk"] = _best(rounds, total, chunks)
        bodies_out = chunks()
        figures["transform: read the chunk"] = _best(
            rounds, total, lambda: [EventChunk.from_body(b) for b in bodies_out]
        )
        figures["transform: rules"] = _best(
            rounds, total, lambda: [rules.check(e, tenant) for e in events]
        )
        profile = tenant.melding_profile(None)

        def build() -> list[DailyMessage]:
            numbered, _ = number(ChainHead(), events, secret)
            return build_daily_messages(
                header=MeldingHeader(
                    municipality_number=tenant.municipality_number,
                    system=profile.system,
                    gateway_version="bench",
                    contacts=profile.contacts,
                ),
                numbered=numbered,
                sender=tenant.sender_organisation(),
                receiver=kpr_receiver(tenant.environment),
                now=now,
            )

        figures["transform: number and build (Melding, XSD, MsgHead)"] = _best(rounds, total, build)
        documents = [m.shipment.document for m in build()]

        def simulator() -> object:
            read = []
            for document in documents:
                root = parse_xml(document, max_bytes=len(document) + 1)
                head = read_msghead(root)
                if schemas.issues(root):
                    raise SystemExit("a built message is not valid")
                read.append(iplos_kpr.parse_melding(head.document, schema_checked=True))
            return read

        figures["simulator: MsgHead + Melding check and read"] = _best(rounds, total, simulator)
        return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.stages", description=__doc__)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args(argv)
    figures = measure(options.events, options.batch_size, options.rounds)
    width = max(len(name) for name in figures)
    for name, micros in figures.items():
        print(f"{name:<{width}}  {micros:7.1f} µs")
    print(f"{'sum':<{width}}  {sum(figures.values()):7.1f} µs per notification")
    result: dict[str, Any] = {"events": options.events, "micros_per_event": figures}
    Path("bench/results/stages.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
