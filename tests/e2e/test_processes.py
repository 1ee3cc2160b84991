"""End to end: every service as its own process on the real RabbitMQ and Redis, the KPR
simulator over AMQP 1.0, two tenants."""

from __future__ import annotations

import asyncio
import random
import re
import uuid
from collections.abc import Iterator
from typing import Any

import aio_pika
import httpx
import pytest
from redis.asyncio import Redis

from kpr_gateway.cli.demo.command import SETTLED
from kpr_gateway.cli.demo.samples import event, sample_set
from kpr_gateway.cli.demo.world import DemoWorld, create_world
from tests.e2e.processes import RABBIT_AMQP091, GatewayProcesses

NATIONAL_ID = re.compile(r"(?<![0-9a-fA-Fx])\d{11}(?![0-9a-fA-F])")


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcesses]:
    run_dir = tmp_path_factory.mktemp("e2e")
    prefix = f"kprgw-e2e-{uuid.uuid4().hex[:8]}"
    world = create_world(run_dir / "world", nhn_queue_prefix=prefix)
    processes = GatewayProcesses(world, run_dir, prefix=prefix)
    # Trondheim's messages are always rejected by the simulator: a rejection to follow.
    processes.simulator_env["KPRGW_SIMULATOR_REJECT_SENDERS"] = world.municipalities[
        1
    ].service_her_id
    asyncio.run(_declare_nhn_queues(processes))
    processes.start()
    try:
        yield processes
    finally:
        codes = processes.stop()
        asyncio.run(_cleanup(processes))
        assert all(code == 0 for code in codes.values()), codes


async def _nhn_queue_names(processes: GatewayProcesses) -> list[str]:
    names = [f"{processes.prefix}171479_async"]
    for municipality in processes.world.municipalities:
        names += [
            f"{processes.prefix}{municipality.service_her_id}_async",
            f"{processes.prefix}{municipality.service_her_id}_error",
        ]
    return names


async def _declare_nhn_queues(processes: GatewayProcesses) -> None:
    connection = await aio_pika.connect(RABBIT_AMQP091)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange("amq.direct")
        for name in await _nhn_queue_names(processes):
            queue = await channel.declare_queue(name, durable=True)
            await queue.bind(exchange, routing_key=name)


async def _cleanup(processes: GatewayProcesses) -> None:
    connection = await aio_pika.connect(RABBIT_AMQP091)
    async with connection:
        channel = await connection.channel()
        for name in await _nhn_queue_names(processes):
            await channel.queue_delete(name)
        for base in ("events", "messages", "outbox", "receipts"):
            for suffix in (
                "",
                ".parked",
                ".retry.1",
                ".retry.2",
                ".retry.3",
                ".retry.4",
                ".retry.5",
            ):
                await channel.queue_delete(f"{processes.prefix}.{base}{suffix}")
    redis = Redis.from_url("redis://127.0.0.1:6379/0")
    keys = [key async for key in redis.scan_iter(match=f"{processes.prefix}:*")]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()


def headers(world: DemoWorld, tenant: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.api_keys[tenant]}"}


async def wait_settled(
    client: httpx.AsyncClient, world: DemoWorld, tenant: str, event_ids: list[str]
) -> dict[str, dict[str, Any]]:
    statuses: dict[str, dict[str, Any]] = {}
    async with asyncio.timeout(90):
        while True:
            for event_id in event_ids:
                answer = await client.get(f"/v1/events/{event_id}", headers=headers(world, tenant))
                assert answer.status_code == 200, answer.text
                statuses[event_id] = answer.json()["event"]
            if all(s["status"] in SETTLED for s in statuses.values()):
                return statuses
            await asyncio.sleep(0.3)


@pytest.fixture(scope="module")
def outcome(gateway: GatewayProcesses) -> dict[str, Any]:
    """Submit for both tenants (a batch each and single events), follow them to the end."""
    return asyncio.run(_submit(gateway))


async def _submit(gateway: GatewayProcesses) -> dict[str, Any]:
    world = gateway.world
    rng = random.Random(11)
    result: dict[str, Any] = {"traces": {}, "statuses": {}, "batch": {}, "national_ids": set()}
    async with httpx.AsyncClient(base_url=gateway.intake_url, timeout=30) as client:
        for municipality in world.municipalities:
            tenant = municipality.tenant_id
            number = municipality.municipality_number
            events = [*sample_set(rng, number, 4), event(rng, number, service_type="12")]
            result["sent"] = len(events) - 3  # not the refused, the test person, the obsolete
            result["national_ids"].update(e["person"]["national_id"] for e in events)
            batch = await client.post(
                "/v1/events/batch", json=events, headers=headers(world, tenant)
            )
            assert batch.status_code == 200, batch.text
            result["batch"][tenant] = batch.json()
            singles = [event(rng, municipality.municipality_number) for _ in range(2)]
            result["national_ids"].update(e["person"]["national_id"] for e in singles)
            for single in singles:
                answer = await client.post(
                    "/v1/events", json=single, headers=headers(world, tenant)
                )
                assert answer.status_code == 202, answer.text
                result["traces"][single["event_id"]] = answer.json()["trace_id"]
            repeat = await client.post(
                "/v1/events", json=singles[0], headers=headers(world, tenant)
            )
            assert (repeat.status_code, repeat.json()["repeat"]) == (202, True)
            accepted = [r["event_id"] for r in batch.json()["results"] if r["status_code"] == 202]
            accepted += [s["event_id"] for s in singles]
            result["statuses"][tenant] = await wait_settled(client, world, tenant, accepted)
    return result


def test_events_of_two_tenants_reach_their_outcome(outcome: dict[str, Any]) -> None:
    bergen = outcome["statuses"]["bergen"]
    counts: dict[str, int] = {}
    for status in bergen.values():
        counts[status["status"]] = counts.get(status["status"], 0) + 1
    assert counts == {
        "acknowledged": outcome["sent"] + 2,  # and the two single events
        "rejected_invalid": 1,
        "suppressed_test_person": 1,
    }
    reasons = next(s["reasons"] for s in bergen.values() if s["status"] == "rejected_invalid")
    assert reasons[0]["rule"] == "service-code-obsolete"
    refused = [r for r in outcome["batch"]["bergen"]["results"] if r["status_code"] == 422]
    assert len(refused) == 1
    assert refused[0]["errors"]


def test_a_simulator_rejection_shows_as_rejected_with_its_codes(outcome: dict[str, Any]) -> None:
    trondheim = outcome["statuses"]["trondheim"]
    rejected = [s for s in trondheim.values() if s["status"] == "rejected"]
    assert len(rejected) == outcome["sent"] + 2
    receipts = [m["receipt"] for m in rejected[0]["messages"]]
    assert all(r["status_code"] == 2 for r in receipts)
    assert all(r["errors"][0]["code"] == "X99" for r in receipts)


def test_one_tenants_key_cannot_read_or_write_the_others(
    gateway: GatewayProcesses, outcome: dict[str, Any]
) -> None:
    world = gateway.world
    bergen_event = next(iter(outcome["statuses"]["bergen"]))
    with httpx.Client(base_url=gateway.intake_url) as client:
        foreign = client.get(f"/v1/events/{bergen_event}", headers=headers(world, "trondheim"))
        assert foreign.status_code == 404
        wrong_municipality = event(random.Random(5), "4601")
        posted = client.post(
            "/v1/events", json=wrong_municipality, headers=headers(world, "trondheim")
        )
        assert posted.status_code == 202
    statuses = asyncio.run(_follow(gateway, "trondheim", wrong_municipality["event_id"]))
    assert statuses["status"] == "rejected_invalid"
    assert statuses["reasons"][0]["rule"] == "municipality-not-tenant"


async def _follow(gateway: GatewayProcesses, tenant: str, event_id: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=gateway.intake_url) as client:
        return (await wait_settled(client, gateway.world, tenant, [event_id]))[event_id]


def test_each_event_has_one_trace_from_the_post_to_dispatch(
    gateway: GatewayProcesses, outcome: dict[str, Any]
) -> None:
    spans = gateway.spans()
    by_trace: dict[str, list[dict[str, Any]]] = {}
    for span in spans:
        by_trace.setdefault(span["context"]["trace_id"].removeprefix("0x"), []).append(span)
    linked_traces = {
        link["context"]["trace_id"].removeprefix("0x"): span
        for span in spans
        if span["name"] == "build batch"
        for link in span.get("links", [])
    }
    for event_id, trace_id in outcome["traces"].items():
        services = {s["service"] for s in by_trace.get(trace_id, [])}
        assert {"intake", "transform"} <= services, (event_id, services)
        if "dispatch" not in services:
            # batched with an earlier event: the batch's trace links to this one
            batch = linked_traces[trace_id]
            batch_trace = batch["context"]["trace_id"].removeprefix("0x")
            services = {s["service"] for s in by_trace[batch_trace]}
        assert {"envelope", "dispatch"} <= services, (event_id, services)


def test_no_national_id_in_any_log_line_or_span(
    gateway: GatewayProcesses, outcome: dict[str, Any]
) -> None:
    national_ids: set[str] = outcome["national_ids"]
    assert len(national_ids) > 10
    seen = 0
    for name, text in gateway.logs():
        seen += len(text)
        leaks = [nid for nid in national_ids if nid in text]
        assert leaks == [], (name, len(leaks))
        # nothing else shaped like one either (hex ids may contain digit runs: skip those)
        shaped = NATIONAL_ID.findall(text)
        assert shaped == [], (name, len(shaped))
    assert seen > 10_000  # the processes did log and trace


def test_processes_drain_and_exit_cleanly(gateway: GatewayProcesses) -> None:
    """Checked when the module's gateway stops (exit code 0 for every process)."""
    assert all(process.poll() is None for process in gateway.processes.values())
