"""A crash at each named crash point, with every service as a process on the local RabbitMQ
and Redis and the simulator over AMQP 1.0: the armed service dies there (exit code 86), is
started again without the point, and then

- every event answered 202 reaches a final state in the ledger (here: acknowledged, the
  simulator rejects nothing), and an event whose request the crash left unanswered is
  accepted when the client sends it again;
- every event is in one message, the simulator received no message the ledger does not
  know, and none twice unless the ledger holds a send attempt for every copy (each copy's
  AMQP message-id is one of the message's recorded attempts); the AppRec of a second copy
  is parked as a replay, and answers one of those attempts;
- every municipality's chain walks from seq 1 without a gap or fork in the ledger, each
  event sits at its seq in the chain's log, and the simulator's own chain check never
  answered a gap or a fork.

One pipeline for the module: each test restarts only the service it arms. The last test
crashes transform inside an operator's resend.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from kpr_gateway.cli.demo.samples import event
from kpr_gateway.cli.demo.world import create_world
from kpr_gateway.cli.local_processes import (
    REDIS_URL,
    declare_nhn_queues,
    delete_keys,
    delete_queues,
)
from kpr_gateway.runtime.crash_points import CrashPointName
from tests.e2e.crash_pipeline import (
    CrashPipeline,
    LedgerView,
    Posted,
    new_prefix,
    post_batches,
    send_attempts,
)
from tests.e2e.processes import RABBIT_AMQP091

EVENTS_PER_TENANT = 60
BATCH = 10
MESSAGE_EVENTS = 10
"""transform's max batch size: six messages per tenant and test, so a crash on a later pass
has other messages before and after it in the chain."""


@dataclass(frozen=True)
class Crash:
    point: CrashPointName
    after: int
    """The pass it crashes on: a later pass crashes with other work in flight."""
    receipts_down: bool = False
    """receipts stopped until the crashed service is back and every message dispatched: no
    AppRec closes the crashed message first, so its redelivery is sent a second time."""

    @property
    def service(self) -> str:
        return self.point.partition(".")[0]

    @property
    def name(self) -> str:
        return self.point + ("/receipts_down" if self.receipts_down else "")


CRASHES = [
    Crash("intake.after_register", 3),
    Crash("intake.after_publish", 3),
    Crash("transform.after_commit", 3),
    Crash("envelope.after_mark", 3),
    Crash("dispatch.after_attempt", 3),
    Crash("dispatch.after_send", 3),
    Crash("dispatch.after_send", 3, receipts_down=True),
    Crash("receipts.after_ledger", 3),
    Crash("receipts.before_settle", 3),
]
_REDELIVERED_RECEIPT = "arrived again; notice repeated"


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CrashPipeline]:
    run_dir = tmp_path_factory.mktemp("crash")
    prefix = new_prefix()
    world = create_world(run_dir / "world", nhn_queue_prefix=prefix)
    processes = CrashPipeline(world, run_dir, prefix=prefix)
    processes.simulator_env["KPRGW_TRANSFORM_MAX_BATCH_EVENTS"] = str(MESSAGE_EVENTS)
    plan = processes.plan()
    asyncio.run(declare_nhn_queues(RABBIT_AMQP091, plan.nhn_queues()))
    try:
        processes.start()
        yield processes
        codes = processes.stop()
        assert all(code == 0 for code in codes.values()), codes
    finally:
        processes.stop()  # after a failure; stopped processes stay as they are
        asyncio.run(delete_queues(RABBIT_AMQP091, plan.internal_queues() + plan.nhn_queues()))
        asyncio.run(delete_keys(REDIS_URL, prefix))


def _batches(pipeline: CrashPipeline, seed: int) -> list[tuple[str, list[dict[str, object]]]]:
    rng = random.Random(seed)
    batches: list[tuple[str, list[dict[str, object]]]] = []
    for municipality in pipeline.world.municipalities:
        events = [event(rng, municipality.municipality_number) for _ in range(EVENTS_PER_TENANT)]
        tenant = municipality.tenant_id
        batches += [(tenant, events[i : i + BATCH]) for i in range(0, len(events), BATCH)]
    rng.shuffle(batches)  # the tenants' requests interleaved
    return batches


@pytest.mark.parametrize("crash", CRASHES, ids=[c.name for c in CRASHES])
def test_a_crash_at_the_point_loses_nothing_sends_nothing_unrecorded_and_keeps_the_chain(
    pipeline: CrashPipeline, crash: Crash
) -> None:
    pipeline.restart_any_dead()
    if crash.receipts_down:
        pipeline.stop_one("receipts")
    pipeline.arm(crash.point, crash.after)
    asyncio.run(_crash_and_recover(pipeline, crash, seed=CRASHES.index(crash)))


async def _crash_and_recover(pipeline: CrashPipeline, crash: Crash, seed: int) -> None:
    keys = pipeline.world.api_keys
    receipts_again = pipeline.log_count("receipts", _REDELIVERED_RECEIPT)
    posted = await post_batches(pipeline.intake_url, keys, _batches(pipeline, seed))
    await pipeline.wait_crash(crash.point)
    await asyncio.to_thread(pipeline.restart, crash.service)
    if crash.service == "intake":
        assert posted.unanswered, "the crash left no request unanswered"
    # A client sends again what was never answered; all of it is accepted then.
    again = await post_batches(
        pipeline.intake_url,
        keys,
        [(tenant, events) for tenant, events in posted.unanswered.items() if events],
    )
    assert not again.unanswered
    accepted = _merged(posted, again)
    assert sum(len(ids) for ids in accepted.values()) == 2 * EVENTS_PER_TENANT

    view = LedgerView(pipeline.prefix)
    try:
        if crash.receipts_down:
            await view.wait_final(accepted, wanted=frozenset({"dispatched"}))
            await asyncio.to_thread(pipeline.restart, "receipts")
        final = await view.wait_final(accepted)
        statuses = {record.status for record in final.values()}
        assert statuses == {"acknowledged"}, statuses
        chain_problems = await view.chain_problems(accepted, final.values())
        seen = pipeline.simulator_received()
        unknown = [m for m in seen if await view.ledger.tenant_of_message(m) is None]
    finally:
        await view.aclose()
    assert chain_problems == []
    assert await pipeline.simulator_chain_rejections() in ({}, {"gap": 0.0, "fork": 0.0})

    assert unknown == [], "the simulator received messages the ledger does not know"
    built_twice = [r.event_id for r in final.values() if len(r.msg_ids) != 1]
    assert built_twice == [], "events in more than one message"

    attempts = send_attempts(final.values())
    # A later copy's AppRec finds its message closed by the first: parked as a replay.
    received, replays = await _copies_and_replays(pipeline, attempts)
    unrecorded = {
        m: sorted(received[m] - attempts[m]) for m in attempts if received[m] - attempts[m]
    }
    assert unrecorded == {}, "copies the simulator received without a send attempt"
    assert all(received[m] for m in attempts), "acknowledged but never received"
    sent_twice = {m for m in attempts if len(received[m]) > 1}
    for headers in replays:
        msg_id = headers["kprgw-msg-id"]
        assert headers["kprgw-reason-class"] == "replay", headers
        assert msg_id in sent_twice, headers
        assert headers["nhn-correlation-id"] in attempts[msg_id], "answers no recorded send"
    assert await pipeline.parked() == {}

    if crash.point == "dispatch.after_attempt":
        # the attempt noted before the crash was never sent: the ledger holds one more
        assert any(attempts[m] - received[m] for m in attempts)
    if crash.receipts_down:
        assert sent_twice, "the redelivered message was not sent again"
    if crash.service == "receipts":
        # the NHN message left unsettled came again and found its outcome recorded
        assert pipeline.log_count("receipts", _REDELIVERED_RECEIPT) > receipts_again


async def _copies_and_replays(
    pipeline: CrashPipeline, attempts: dict[str, set[str]]
) -> tuple[dict[str, set[str]], list[dict[str, str]]]:
    """The copies the simulator received of each message, and the replays parked on receipts,
    once there is one replay per later copy and that has held for a second (a later copy and
    its AppRec may still be on their way when the first has closed every event); a replay
    more or fewer after 20 s fails."""
    replays: list[dict[str, str]] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    agreed_at: float | None = None
    while True:
        replays += await pipeline.take_parked("receipts")
        received = pipeline.simulator_received()
        later_copies = sum(max(len(received[m]) - 1, 0) for m in attempts)
        if len(replays) != later_copies:
            agreed_at = None
        elif agreed_at is None:
            agreed_at = loop.time()
        if (agreed_at is not None and loop.time() - agreed_at > 1.0) or loop.time() > deadline:
            assert len(replays) == later_copies, ("replays parked", replays, later_copies)
            return received, replays
        await asyncio.sleep(0.2)


def _merged(*answers: Posted) -> dict[str, list[str]]:
    merged: dict[str, list[str]] = {}
    for answer in answers:
        for tenant, ids in answer.accepted.items():
            merged.setdefault(tenant, []).extend(ids)
    return merged


def test_a_crash_between_a_resend_and_its_publish_leaves_no_message_behind(
    pipeline: CrashPipeline,
) -> None:
    """The operator's resend (transform's ``POST /v1/resend``) records the new message, then
    publishes it; a crash in between leaves the operator without an answer, so they resend
    again. Every message of the events must then reach its outcome: none stays built."""
    pipeline.restart_any_dead()
    asyncio.run(_resend_crash(pipeline))


async def _resend_crash(pipeline: CrashPipeline) -> None:
    keys = pipeline.world.api_keys
    tenant = pipeline.world.municipalities[0].tenant_id
    number = pipeline.world.municipalities[0].municipality_number
    rng = random.Random(len(CRASHES))
    events = [event(rng, number) for _ in range(BATCH)]
    posted = await post_batches(pipeline.intake_url, keys, [(tenant, events)])
    view = LedgerView(pipeline.prefix)
    try:
        first = await view.wait_final(posted.accepted)
        (msg_id,) = {m for record in first.values() for m in record.msg_ids}
        await asyncio.to_thread(pipeline.arm, "transform.after_resend_commit", 1)
        resend = f"http://127.0.0.1:{pipeline.ports['transform']}/v1/resend"
        params = {"tenant": tenant, "msg_id": msg_id}
        async with httpx.AsyncClient(timeout=30) as client:
            with pytest.raises(httpx.TransportError):
                await client.post(resend, params=params)
            await pipeline.wait_crash("transform.after_resend_commit")
            await asyncio.to_thread(pipeline.restart, "transform")
            again = await client.post(resend, params=params)  # the operator, without an answer
        assert again.status_code == 200, again.text
        resent_as = again.json()["resent_as"]
        async with asyncio.timeout(30):
            while (await _message_state(view, tenant, resent_as)) != "acknowledged":
                await asyncio.sleep(0.3)
        records = [await view.ledger.get_event(tenant, e) for e in posted.accepted[tenant]]
    finally:
        await view.aclose()
    messages = {m.msg_id: m.state.value for r in records if r is not None for m in r.messages}
    # the first and the resend the crash cut off, which the operator's second call published
    # (no third copy: it would leave the cut-off one built for ever)
    assert set(messages) == {msg_id, resent_as}
    stuck = {m: state for m, state in messages.items() if state == "built"}
    assert stuck == {}, f"a resend recorded before the crash was never sent: {messages}"
    assert {r.status for r in records if r is not None} == {"acknowledged"}


async def _message_state(view: LedgerView, tenant: str, msg_id: str) -> str | None:
    record = await view.ledger.get_message(tenant, msg_id)
    return record.state.value if record is not None else None
